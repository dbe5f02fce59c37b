"""Scoring the queries the safe syntax builds straight from the postings.

Whoosh's searcher walks a tree of matcher objects one posting at a time,
several Python calls per posting per query node; on Reuters that was about
three quarters of a keyword query's time.  The queries this product builds
in safe mode are a small algebra (terms and phrases on the full-text field,
all or any of them, a proximity bonus, weighted feedback terms), so this
module evaluates them term-at-a-time instead: each term's postings are read
a block at a time (ids and weighted frequencies as arrays), combined as
dictionaries, and scored with the same BM25 as search.ranking (Robertson
idf, Whoosh's byte-quantised field lengths, the term's boost), so results and
scores are those of the Whoosh search (a test holds the two together).

Positions are read only where needed: to verify a quoted phrase, and for the
proximity bonus of a short query.  The bonus (Whoosh's sloppy Phrase scores
the sum of its words' scores where they occur in order within the slop) at
most doubles a score, so it is computed for the best-scored documents first
and the window widened until no document outside it could still reach the
page: the ranking is exact without checking positions in every match.

Anything else (raw queries, sorted orders) stays with Whoosh's searcher.

Every query runs under a search.deadline.Deadline, given to start(): it is
asked before each term's postings and before each block of them, so a query
that runs out of time stops within one block (128 postings) and scores what
was read; a subset of the full answer, which the search marks timed out.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

from whoosh import query
from whoosh.util.numeric import byte_to_length

from search import ranking
from search.deadline import Deadline

#: Whoosh's length byte -> the field length BM25 sees.
_LENGTHS = [float(byte_to_length(b)) for b in range(256)]
#: Documents whose proximity bonus is checked first; widened as needed.
BONUS_WINDOW = 64
#: A term's postings are read only where some documents are when those are
#: fewer than its document frequency over this (otherwise all are read).
RESTRICT_RATIO = 8

Scores = dict[int, float]


class Unsupported(Exception):
    """The query has a node this evaluator does not handle (Whoosh will)."""


class _Segment:
    def __init__(self, reader: Any, offset: int, field: str) -> None:
        self.reader = reader
        self.offset = offset
        self.deleted: frozenset[int] = frozenset()
        if reader.has_deletions():
            self.deleted = frozenset(set(range(reader.doc_count_all())) - set(reader.all_doc_ids()))
        perdoc = getattr(reader, "_perdoc", None)  # an empty index has an EmptyReader, without one
        column = perdoc._cached_reader(f"_{field}_len", _lengths_column()) if perdoc is not None else None
        self.lengths: bytes = b""
        if column is not None:
            self.lengths = column._dbfile.get(column._basepos, column._count)

    def matcher(self, field: str, term: bytes) -> Any:
        if (field, term) not in self.reader:
            return None
        m = self.reader.postings(field, term)
        return getattr(m, "child", m)  # deletions are filtered here, not by a wrapper


def _lengths_column() -> Any:
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN

    return LENGTHS_COLUMN


class _Postings:
    """One term's postings in one query: BM25 scores (unboosted) per docnum,
    and the blocks they came from, kept to look positions up later; all of
    them, or those of the documents in `covers` (and others in the same blocks)."""

    def __init__(self, covers: set[int] | None) -> None:
        self.covers = covers
        self.scores: Scores = {}
        # Per block: (global docnum of its first posting's segment offset, ids, last id, values).
        self.blocks: list[tuple[int, Any, int, Any]] = []
        self.last_ids: list[int] = []  # global docnum of each block's last posting


class Engine:
    """Evaluates safe-mode queries over one searcher's segments.

    Call start() before each query, with the query's deadline: term postings
    read during a query are kept until the next one (a phrase and the
    proximity bonus reuse them), never across queries, so a benchmark's
    repeated query is not a cache hit."""

    def __init__(self, searcher: Any, field: str) -> None:
        self.searcher = searcher
        self.field = field
        reader = searcher.reader()
        leaves = [(reader, 0)] if reader.is_atomic() else reader.leaf_readers()
        self.segments = [_Segment(leaf, offset, field) for leaf, offset in leaves]
        self.n = reader.doc_count_all()
        self.avgfl = searcher.avg_field_length(field) or 1
        self.k1, self.b = ranking.K1, ranking.B
        self.decode = searcher.schema[field].format.decoder("positions")
        self.memo: dict[bytes, _Postings] = {}
        self.dfs: dict[bytes, int] = {}
        self.deadline = Deadline(None)

    def start(self, deadline: Deadline | None = None) -> None:
        """Begin a query that must stop by `deadline` (None: no limit)."""
        self.memo = {}
        self.deadline = deadline if deadline is not None else Deadline(None)

    # -- terms ---------------------------------------------------------------------------------

    def df(self, text: str | bytes) -> int:
        """Documents holding the term, deleted ones included (as Whoosh's idf counts),
        cached for the searcher's life: the index under it does not change."""
        term = _bytes(text)
        found = self.dfs.get(term)
        if found is None:
            if len(self.dfs) > 200_000:
                self.dfs.clear()
            found = self.dfs[term] = int(sum(s.reader.doc_frequency(self.field, term) for s in self.segments))
        return found

    def _postings(self, term: bytes, among: set[int] | None = None) -> _Postings:
        """A term's postings: all of them, or (among) those of some documents,
        reading only the blocks that can hold one of them."""
        found = self.memo.get(term)
        if found is not None and (found.covers is None or (among is not None and among <= found.covers)):
            return found
        df = self.df(term)
        if among is not None and len(among) * RESTRICT_RATIO > df:
            among = None  # most blocks would be read anyway: read them all, once
        found = self.memo[term] = _Postings(covers=None if among is None else set(among))
        deadline = self.deadline
        if not df or deadline.expired():
            return found
        idf = ranking.robertson_idf(self.n, df)
        k1, b, avgfl = self.k1, self.b, self.avgfl
        lengths = _LENGTHS
        scores = found.scores
        top = idf * (k1 + 1)
        norm_base, norm_len = k1 * (1 - b), k1 * b / avgfl
        for segment in self.segments:
            offset, count = segment.offset, segment.reader.doc_count_all()
            wanted = None
            if among is not None:
                wanted = sorted(d - offset for d in among if offset <= d < offset + count)
                if not wanted:
                    continue
            m = segment.matcher(self.field, term)
            if m is None:
                continue
            raw, deleted = segment.lengths, segment.deleted
            for ids, weights, values in _blocks(m, wanted):
                if deadline.expired():
                    return found
                found.blocks.append((offset, ids, ids[-1], values))
                found.last_ids.append(offset + ids[-1])
                for docnum, tf in zip(ids, weights, strict=True):
                    if docnum in deleted:
                        continue
                    fl = lengths[raw[docnum]] if docnum < len(raw) else 0.0
                    scores[offset + docnum] = top * tf / (tf + norm_base + norm_len * fl)
        return found

    def term(self, text: str | bytes, boost: float = 1.0, among: set[int] | None = None) -> Scores:
        """docnum -> BM25 score of one term (times its boost), for every
        document that has it, or only for those among `among`."""
        scores = self._postings(_bytes(text), among).scores
        if among is not None:
            if len(scores) < len(among):
                return {d: s * boost for d, s in scores.items() if d in among}
            return {d: scores[d] * boost for d in among if d in scores}
        return dict(scores) if boost == 1 else {d: s * boost for d, s in scores.items()}

    def positions(self, text: str | bytes, docnums: Iterable[int]) -> dict[int, list[int]]:
        """docnum -> positions of a term, for those of `docnums` that have it."""
        docnums = set(docnums)
        postings = self._postings(_bytes(text), docnums)
        out: dict[int, list[int]] = {}
        for docnum in docnums:
            if docnum not in postings.scores:
                continue
            offset, ids, _last, values = postings.blocks[bisect_left(postings.last_ids, docnum)]
            out[docnum] = self.decode(values[bisect_left(ids, docnum - offset)])
        return out

    # -- the query algebra -------------------------------------------------------------------------

    def evaluate(self, q: query.Query) -> Scores:
        """docnum -> score for every live document `q` matches (Unsupported otherwise)."""
        if isinstance(q, query.Term) and q.fieldname == self.field:
            return self.term(q.text, q.boost)
        if isinstance(q, query.Phrase) and q.fieldname == self.field:
            return self.phrase(q, None)
        if isinstance(q, query.And):
            # The rarest term first; the others are read only in the blocks
            # that hold its documents (a rare word and a common one read a
            # few blocks of the common one's postings, not all of them).
            subs = sorted(q.subqueries, key=self._cost)
            if not subs:
                return {}
            scores = dict(self.evaluate(subs[0]))
            for sub in subs[1:]:
                if not scores:
                    return {}
                part = self.restricted(sub, set(scores))
                scores = {d: s + part[d] for d, s in scores.items() if d in part}
            return _boosted(scores, q.boost)
        if isinstance(q, query.Or):
            scores = {}
            for sub in q.subqueries:
                for d, s in self.evaluate(sub).items():
                    scores[d] = scores.get(d, 0.0) + s
            return _boosted(scores, q.boost)
        if isinstance(q, query.AndMaybe):
            # The required part's documents; the optional part only adds to them.
            scores = dict(self.evaluate(q.a))
            if scores:
                for d, s in self.restricted(q.b, set(scores)).items():
                    scores[d] += s
            return _boosted(scores, q.boost)
        raise Unsupported(type(q).__name__)

    def _cost(self, q: query.Query) -> int:
        """Documents a node matches at most, to evaluate the cheapest first."""
        if isinstance(q, query.Term) and q.fieldname == self.field:
            return int(self.df(q.text))
        if isinstance(q, query.Phrase) and q.fieldname == self.field:
            return int(min((self.df(w) for w in q.words), default=0))
        return int(self.n)

    def restricted(self, q: query.Query, among: set[int]) -> Scores:
        """evaluate(q) for the documents in `among` only."""
        if isinstance(q, query.Term) and q.fieldname == self.field:
            return self.term(q.text, q.boost, among)
        if isinstance(q, query.Phrase) and q.fieldname == self.field:
            return self.phrase(q, among)
        if isinstance(q, query.Or):
            scores: Scores = {}
            for sub in q.subqueries:
                for d, s in self.restricted(sub, among).items():
                    scores[d] = scores.get(d, 0.0) + s
            return _boosted(scores, q.boost)
        found = self.evaluate(q)
        return {d: found[d] for d in among if d in found}

    def phrase(self, q: query.Phrase, among: Iterable[int] | None) -> Scores:
        """Whoosh's Phrase (an ordered SpanNear2 within q.slop): the sum of
        its words' scores where they occur so, times its boost."""
        wanted = None if among is None else set(among)
        parts: list[Scores] = [self._postings(_bytes(word), wanted).scores for word in q.words]
        if not parts or not all(parts):
            return {}
        common = set(sorted(parts, key=len)[0])
        for part in parts:
            common.intersection_update(part)
        if wanted is not None:
            common.intersection_update(wanted)
        if not common:
            return {}
        found = [self.positions(word, common) for word in q.words]
        scores: Scores = {}
        for docnum in common:
            if _near([found_word.get(docnum, []) for found_word in found], q.slop):
                scores[docnum] = q.boost * sum(part[docnum] for part in parts)
        return scores


def _boosted(scores: Scores, boost: float) -> Scores:
    return scores if boost == 1 else {d: s * boost for d, s in scores.items()}


def _blocks(m: Any, wanted: list[int] | None = None) -> Iterable[tuple[Any, Any, Any]]:
    """A W3 leaf matcher's postings a block at a time: (ids, weights, encoded
    values), every block or (wanted: sorted local docnums) only those that
    can hold one of them, judged by each block's header (its last id) before
    its data is read.  Whoosh keeps all three in one pickle per block, so
    reading the values costs nothing more; they are decoded only when asked for."""
    i = 0
    while m.is_active():
        if wanted is not None:
            last = m._maxid
            if wanted[i] > last:
                m._next_block()
                continue
            while i < len(wanted) and wanted[i] <= last:
                i += 1
        m._read_ids()
        m._read_weights()
        m._read_values()
        yield m._ids, m._weights, m._values
        if wanted is not None and i >= len(wanted):
            return
        m._next_block()


def _near(positions: list[list[int]], slop: int) -> bool:
    """Whoosh's SpanNear2(ordered=True, mindist=1): each word after the last
    span's end, at a distance of 1 to `slop`; spans grow as words join."""
    spans = {(p, p) for p in positions[0]}
    for later in positions[1:]:
        grown = set()
        for start, end in spans:
            for p in later:
                if p < start:
                    continue
                if p > end + slop:
                    break
                dist = p - end if p > end else 0
                if 1 <= dist <= slop:
                    grown.add((start, max(end, p)))
        spans = grown
        if not spans:
            return False
    return bool(spans)


def best_of(scores: Scores, count: int) -> list[tuple[int, float]]:
    """The `count` best (docnum, score), best first, ties by docnum.

    The threshold comes from heapq over the bare floats (C speed); only the
    documents at or above it are sorted with the tie-break, which on 10,000
    matches is several times faster than a heap keyed on (-score, docnum)."""
    if count <= 0 or not scores:
        return []
    if count >= len(scores):
        chosen = list(scores.items())
    else:
        threshold = heapq.nlargest(count, scores.values())[-1]
        chosen = [(d, s) for d, s in scores.items() if s >= threshold]
    chosen.sort(key=lambda item: (-item[1], item[0]))
    return chosen[:count]


def rank(
    scores: Scores,
    wanted: int,
    bonus: Callable[[list[int]], Scores] | None = None,
    factor: Callable[[int], float] | None = None,
    candidates: set[int] | None = None,
) -> list[tuple[int, float]]:
    """The best `wanted` of `scores` as (docnum, final score), best first, ties by docnum.

    final = (score + bonus) x factor, where bonus(docs) gives each document's
    bonus, at most its score (so at most doubling it), and only documents in
    `candidates` (default: all) can have one.  The others' finals are exact;
    the candidates' bonus is asked of a window of the best of them, widened
    until no candidate outside it could still reach the page."""
    finals = {d: s * factor(d) for d, s in scores.items()} if factor else scores
    if bonus is None:
        return best_of(finals, wanted)
    hopeful = finals.keys() if candidates is None else finals.keys() & candidates
    if not hopeful:
        return best_of(finals, wanted)
    # The best of the others are final: only they, and candidates, can be on the page.
    settled = dict(best_of({d: f for d, f in finals.items() if d not in hopeful}, wanted))
    pending = {d: finals[d] for d in hopeful}
    window = max(BONUS_WINDOW, wanted)
    while True:
        ordered = best_of(pending, window + 1)
        inside, outside = ordered[:window], ordered[window:]
        extra = bonus([d for d, _ in inside])
        rescored = {d: (scores[d] + extra.get(d, 0.0)) * (factor(d) if factor else 1.0) for d, _ in inside}
        best = best_of({**settled, **rescored}, wanted)
        # A candidate outside the window scores at most twice its present score.
        if not outside or (len(best) >= wanted and best[-1][1] > 2 * outside[0][1]):
            return best
        window *= 4


def _bytes(text: str | bytes) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else text
