"""Scoring the queries the safe syntax builds, from the side-car arrays.

Whoosh's searcher walks a tree of matcher objects one posting at a time,
several Python calls per posting per query node, and decodes each block of
128 postings from two pickles and a zlib stream.  The queries this product
builds in safe mode are a small algebra (terms and phrases on the full-text
field, all or any of them, a proximity bonus, weighted feedback terms), so
this module evaluates them with numpy over each segment's side-car arrays
(search.storage.sidecar: document numbers and weighted frequencies, memory-mapped):
a term's BM25 scores are one vectorised expression over its postings, a
node's result is a dense score array over the index's document numbers with
a mask of the matching ones, and the top of a result comes from a partial
selection (numpy.partition) instead of a Python sort.

The scores are those of the Whoosh search to the last bit where the order of
summation is the same (a test holds the two together on a multi-segment
index with deletions): the same BM25F as search.planning.ranking (field_tf and
saturate over arrays: Robertson idf, the title's and the rest's
byte-quantised lengths, the term's boost), computed in float64 with the
same operations in the same order, summed over a query's
parts in Whoosh's order (x + 0.0 == x, so a dense sum over documents lacking
a part adds nothing).

Positions are read for the few documents that need them, to verify a
quoted phrase and for the proximity bonus of a short query.  The bonus (Whoosh's sloppy Phrase
scores the sum of its words' scores where they occur in order within the
slop) at most doubles a score, so it is computed for the best-scored
documents first and the window widened until no document outside it could
still reach the page: the ranking is exact without checking positions in
every match.

Anything else (raw queries, sorted orders) stays with Whoosh's searcher.

Every query runs under a search.deadline.Deadline, given to start(): it is
asked before each term's postings and before each batch of them (batches
double from FIRST_BATCH postings, so a term costs a few looks at the clock),
so a query that runs out of time stops there and scores what was read: a
subset of the full answer, which the search marks timed out.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from whoosh import query
from whoosh.util.numeric import byte_to_length

from search.planning import ranking
from search.storage import sidecar
from search.storage.segments import segment_readers
from search.deadline import Deadline

#: Whoosh's length byte -> the field length BM25 sees (and doc_field_length()
#: reports); byte_to_length(0) is 0: a document without the field, or a
#: segment without arrays, has length 0.
LENGTHS = np.array([float(byte_to_length(b)) for b in range(256)], dtype=np.float64)
#: Documents whose proximity bonus is checked first; widened as needed.
BONUS_WINDOW = 64
#: A term's postings are read in batches of this many, then twice as many, and
#: so on, the deadline asked before each: a few looks at the clock for any
#: term (17 for a million postings), and a cut term keeps a prefix of them.
FIRST_BATCH = 128

Scores = dict[int, float]
#: A node's result: which documents match (bool[n]) and their scores (float64[n], 0.0 elsewhere).
Matches = tuple[Any, Any]


class Unsupported(Exception):
    """The query has a node this evaluator does not handle (Whoosh will)."""


class _Segment:
    def __init__(self, reader: Any, offset: int, field: str) -> None:
        self.reader = reader
        self.offset = offset
        self.count = reader.doc_count_all()
        self.live: Any = None  # bool[count] when the segment has deletions
        if reader.has_deletions():
            self.live = np.zeros(self.count, dtype=bool)
            self.live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
        self.arrays = sidecar.load(reader, field) if self.count else None


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
        self.segments = [_Segment(leaf, offset, field) for leaf, offset in segment_readers(reader)]
        self.n = int(reader.doc_count_all())
        self.k1 = ranking.K1
        self.averages = ranking.FieldLengths.of(searcher, field)
        # Whoosh's length byte of each document in the field and in the title
        # (BM25F, ranking.field_tf), made lengths through LENGTHS for a term's
        # postings only: a byte a document where the lengths themselves took
        # 8 (16 MB of a query process's own memory at a million records).
        self.length_bytes = np.zeros(self.n, dtype=np.uint8)
        self.title_length_bytes = np.zeros(self.n, dtype=np.uint8)
        self.live = np.ones(self.n, dtype=bool)
        for segment in self.segments:
            placed = slice(segment.offset, segment.offset + segment.count)
            if segment.arrays is not None:
                self.length_bytes[placed] = segment.arrays.lengths
            title = sidecar.field_lengths(segment.reader, ranking.TITLE_FIELD, segment.count)
            self.title_length_bytes[placed] = np.frombuffer(title, dtype=np.uint8)
            if segment.live is not None:
                self.live[placed] = segment.live
        #: Each segment's first docnum and the one past its last, in turn (int64[2 x segments]).
        self.edges = np.array(
            [edge for segment in self.segments for edge in (segment.offset, segment.offset + segment.count)],
            dtype=np.int64,
        )
        self.memo: dict[bytes, tuple[Any, Any]] = {}
        self.found: dict[tuple[int, bytes], tuple[int, Any] | None] = {}
        self.offsets: dict[tuple[int, bytes], Any] = {}
        self.dfs: dict[bytes, int] = {}
        self._masks: dict[int, Any] = {}
        self.deadline = Deadline(None)

    def start(self, deadline: Deadline | None = None) -> None:
        """Begin a query that must stop by `deadline` (None: no limit)."""
        self.memo = {}
        self.found = {}
        self.offsets = {}
        self.deadline = deadline if deadline is not None else Deadline(None)

    def segment_term(self, number: int, term: bytes) -> tuple[int, Any] | None:
        """The term in segment `number`'s side-car: its index there and its
        local docnums (int64, ascending, deleted ones included), or None
        when the segment lacks it; looked up once a query, as the
        postings, the positions and the title postings all start there
        (a binary search of the term table and a decoding each)."""
        key = (number, term)
        if key in self.found:
            return self.found[key]
        arrays = self.segments[number].arrays
        found = None
        if arrays is not None:
            i = arrays.find(term)
            if i >= 0:
                found = (i, arrays.docs_of(i))
        self.found[key] = found
        return found

    def empty(self) -> Matches:
        return np.zeros(self.n, dtype=bool), np.zeros(self.n, dtype=np.float64)

    def mask_of(self, docs: Iterable[int], key: object = None) -> Any:
        """A bool[n] of `docs`, cached per searcher under `key` when given
        (the hidden stubs are the same for every search)."""
        if key is not None and id(key) in self._masks:
            return self._masks[id(key)]
        mask = np.zeros(self.n, dtype=bool)
        found = np.fromiter(docs, dtype=np.int64)
        mask[found[(found >= 0) & (found < self.n)]] = True
        if key is not None:
            self._masks[id(key)] = mask
        return mask

    # -- terms ---------------------------------------------------------------------------------

    def df(self, text: str | bytes) -> int:
        """Documents holding the term, deleted ones included (as Whoosh's idf counts),
        cached for the searcher's life: the index under it does not change."""
        term = _bytes(text)
        found = self.dfs.get(term)
        if found is None:
            if len(self.dfs) > 200_000:
                self.dfs.clear()
            found = self.dfs[term] = sum(s.arrays.doc_frequency(term) for s in self.segments if s.arrays is not None)
        return found

    def postings(self, text: str | bytes) -> tuple[Any, Any]:
        """A term's live documents (global docnums, ascending, int64) and their
        BM25 scores (float64, unboosted), read once per query."""
        term = _bytes(text)
        found = self.memo.get(term)
        if found is not None:
            return found
        df = self.df(term)
        docs_parts: list[Any] = []
        tf_parts: list[Any] = []
        freq_parts: list[Any] = []
        deadline = self.deadline
        # Read in batches that double from FIRST_BATCH postings across the
        # segments, with a look at the clock before each: a cut term keeps a
        # prefix of its postings.  (Doubling afresh in each segment made some
        # 60 batches of a few numpy calls each for a common word at 200,000
        # records in 12 segments.)
        size = FIRST_BATCH
        if df and not deadline.expired():
            for number, segment in enumerate(self.segments):
                if deadline.expired():
                    break  # a cut query scores the postings read so far: a subset
                at = self.segment_term(number, term)
                if at is None or not len(at[1]):
                    continue
                i, local = at
                arrays = segment.arrays
                assert arrays is not None  # segment_term found the term there
                begin = int(arrays.post_starts[i])
                # The batches read are a prefix of the segment's postings: the
                # clock is asked before each, and the prefix taken in one slice
                # after (a batch's own slices and masks were some eight numpy
                # calls each, five batches for a word in a tenth of Reuters).
                start = 0
                while start < len(local):
                    if start and deadline.expired():
                        break
                    start, size = start + size, size * 2
                reached = min(start, len(local))
                part = local[:reached]
                part_weights = arrays.weights[begin : begin + reached]
                part_freqs = arrays.counts[begin : begin + reached]
                if segment.live is not None:
                    keep = segment.live[part]
                    part, part_weights, part_freqs = part[keep], part_weights[keep], part_freqs[keep]
                docs_parts.append(part + segment.offset)  # int64, as docs_of decodes them
                tf_parts.append(part_weights)
                freq_parts.append(part_freqs)
        if not docs_parts:
            found = self.memo[term] = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
            return found
        docs = docs_parts[0] if len(docs_parts) == 1 else np.concatenate(docs_parts)
        # The side-car's narrow whole numbers, made float64 in one step (exactly).
        weight = np.concatenate(tf_parts, dtype=np.float64)
        freq = np.concatenate(freq_parts, dtype=np.float64)
        idf = ranking.robertson_idf(self.n, df)
        # The same function as the Whoosh scorer's, over arrays: the same operations in the same order.
        lengths, title_lengths = LENGTHS[self.length_bytes[docs]], LENGTHS[self.title_length_bytes[docs]]
        tf = ranking.field_tf(weight, freq, lengths, title_lengths, self.averages, np.maximum)
        scores = ranking.saturate(idf, tf, self.k1)
        found = self.memo[term] = (docs, scores)
        return found

    def term_matches(self, text: str | bytes, boost: float = 1.0) -> Matches:
        docs, scores = self.postings(text)
        mask, dense = self.empty()
        mask[docs] = True
        dense[docs] = scores if boost == 1 else scores * boost
        return mask, dense

    def term_mask(self, text: str | bytes) -> Any:
        """bool[n]: the live documents holding the term (term_matches' mask, without its scores)."""
        mask = np.zeros(self.n, dtype=bool)
        mask[self.postings(text)[0]] = True
        return mask

    def every_mask(self, subqueries: list[query.Query], among: Any) -> Any:
        """matches(And(subqueries), among)'s mask: for words, their masks
        intersected, without scoring them."""
        if not subqueries or not all(isinstance(q, query.Term) and q.fieldname == self.field for q in subqueries):
            return self.matches(query.And(subqueries), among)[0]
        mask = among.copy()
        for q in subqueries:
            mask &= self.term_mask(q.text)
        return mask

    # -- the query algebra -------------------------------------------------------------------------

    def matches(self, q: query.Query, among: Any = None) -> Matches:
        """(mask, scores) of the live documents `q` matches (Unsupported otherwise);
        with `among` (a mask), those documents only."""
        if isinstance(q, query.Term) and q.fieldname == self.field:
            found = self.term_matches(q.text, q.boost)
        elif isinstance(q, query.Phrase) and q.fieldname == self.field:
            found = self.phrase_matches(q, among)
        elif isinstance(q, query.And):
            subs = sorted(q.subqueries, key=self._cost)
            if not subs:
                return self.empty()
            mask, scores = self.matches(subs[0], among)
            mask = mask.copy()
            for sub in subs[1:]:
                if not mask.any():
                    return self.empty()
                part_mask, part = self.matches(sub, mask)
                mask &= part_mask
                scores = scores + part
            scores[~mask] = 0.0
            found = mask, _boost(scores, q.boost)
        elif isinstance(q, query.Or):
            mask, scores = self.empty()
            for sub in q.subqueries:
                if isinstance(sub, query.Term) and sub.fieldname == self.field:
                    # A word's postings added where it occurs: the same sums as
                    # adding its dense scores (x + 0.0 == x), without them.
                    docs, part = self.postings(sub.text)
                    if among is not None:
                        inside = among[docs]
                        docs, part = docs[inside], part[inside]
                    mask[docs] = True
                    scores[docs] += part if sub.boost == 1 else part * sub.boost
                    continue
                part_mask, part = self.matches(sub, among)
                mask |= part_mask
                scores += part
            found = mask, _boost(scores, q.boost)
        elif isinstance(q, query.AndMaybe):
            # The required part's documents; the optional part only adds to them.
            mask, scores = self.matches(q.a, among)
            if mask.any():
                _, extra = self.matches(q.b, mask)
                scores = np.where(mask, scores + extra, 0.0)
            found = mask, _boost(scores, q.boost)
        else:
            raise Unsupported(type(q).__name__)
        if among is not None:
            mask, scores = found
            return mask & among, np.where(among, scores, 0.0)
        return found

    def _cost(self, q: query.Query) -> int:
        """Documents a node matches at most, to evaluate the cheapest first."""
        if isinstance(q, query.Term) and q.fieldname == self.field:
            return int(self.df(q.text))
        if isinstance(q, query.Phrase) and q.fieldname == self.field:
            return int(min((self.df(w) for w in q.words), default=0))
        return int(self.n)

    def phrase_matches(self, q: query.Phrase, among: Any = None) -> Matches:
        """Whoosh's Phrase (an ordered SpanNear2 within q.slop): the sum of
        its words' scores where they occur so, times its boost."""
        parts = [self.postings(word) for word in q.words]
        if not parts or not all(len(docs) for docs, _ in parts):
            return self.empty()
        if among is not None:
            # A few documents asked about (the proximity bonus's window): each
            # word's postings searched for them, not intersected whole.
            common = among.nonzero()[0]
            for docs, _ in parts:
                common = common[_holds(docs, common)]
        else:
            common = parts[0][0]
            for docs, _ in parts[1:]:
                common = np.intersect1d(common, docs, assume_unique=True)
        mask, scores = self.empty()
        chosen, total = self._phrase_scores(q, parts, common)
        mask[chosen] = True
        scores[chosen] = q.boost * total
        return mask, scores

    def phrase_bonus(self, q: query.Phrase, docs: Any) -> Any:
        """float64[len(docs)]: phrase_matches(q)'s score of each of `docs`
        (int64 docnums, any order, distinct), 0.0 where the phrase is not
        there; the proximity bonus's window asks this of its documents."""
        out = np.zeros(len(docs), dtype=np.float64)
        parts = [self.postings(word) for word in q.words]
        if not parts or not all(len(found) for found, _ in parts) or not len(docs):
            return out
        common = np.unique(docs)
        for found, _ in parts:
            common = common[_holds(found, common)]
        chosen, total = self._phrase_scores(q, parts, common)
        if len(chosen):
            at = np.minimum(chosen.searchsorted(docs), len(chosen) - 1)
            hit = chosen[at] == docs
            out[hit] = q.boost * total[at[hit]]
        return out

    def _phrase_scores(self, q: query.Phrase, parts: list[tuple[Any, Any]], common: Any) -> tuple[Any, Any]:
        """The documents of `common` (ascending, each holding every word)
        where q's words occur in order within its slop, and the sum of the
        words' scores there (from 0.0, in the words' order)."""
        if not len(common):
            return common, np.zeros(0, dtype=np.float64)
        ends: Any = None
        for word in q.words:
            keys = self.position_keys(word, common)
            ends = keys if ends is None else _follow(ends, keys, q.slop)
            if not len(ends):
                break
        chosen = np.unique(ends >> _POSITION_BITS)
        total = np.zeros(len(chosen), dtype=np.float64)
        if len(chosen):
            for docs, part in parts:
                total += part[docs.searchsorted(chosen)]
        return chosen, total

    def position_keys(self, text: str | bytes, docnums: Any) -> Any:
        """The positions of a term in `docnums` (int64, ascending, each a live
        document that has the term, as _phrase_scores asks), as sorted int64
        keys docnum << _POSITION_BITS | position.

        Each document holds the term, so its posting is found by a binary
        search alone, with no check that it is there (four numpy calls a
        segment and word less, out of some twenty)."""
        term = _bytes(text)
        found: list[Any] = []
        cuts = docnums.searchsorted(self.edges).tolist()
        for number, segment in enumerate(self.segments):
            lo, hi = cuts[2 * number], cuts[2 * number + 1]
            if lo == hi or segment.arrays is None:
                continue
            if self.deadline.expired():
                break
            at_term = self.segment_term(number, term)
            if at_term is None:
                continue
            i, local = at_term
            arrays = segment.arrays
            offsets = self.position_offsets(number, term, i)
            inside = docnums[lo:hi]
            at = local.searchsorted(inside - segment.offset)
            starts = offsets[at]
            counts = offsets[at + 1] - starts
            # Each posting's run of positions, gathered in one index array.
            before = counts.cumsum() - counts
            shift = starts - before + int(arrays.pos_starts[i])
            gather = np.arange(int(counts.sum()), dtype=np.int64) + shift.repeat(counts)
            # int64 | an unsigned position (u16 or u32) is int64.
            found.append((inside.repeat(counts) << _POSITION_BITS) | arrays.positions[gather])
        if not found:
            return np.zeros(0, dtype=np.int64)
        return found[0] if len(found) == 1 else np.concatenate(found)

    def position_offsets(self, number: int, term: bytes, i: int) -> Any:
        """int64[postings + 1]: where each posting's positions begin among
        the positions of term `i` of segment `number` (the running sum of its
        counts, sidecar.SegmentArrays.position_offsets, which checks them),
        kept for the query: a widened proximity window asks again, and the
        sum runs over all the term's postings there (100,000 for a common
        word at 200,000 records)."""
        key = (number, term)
        offsets = self.offsets.get(key)
        if offsets is None:
            arrays = self.segments[number].arrays
            assert arrays is not None  # the term was found in it
            offsets = self.offsets[key] = arrays.position_offsets(i)
        return offsets

    # -- the dictionary interface (explain, similar) ----------------------------------------------

    def evaluate(self, q: query.Query) -> Scores:
        """docnum -> score for every live document `q` matches (Unsupported otherwise)."""
        return as_dict(self.matches(q))

    def restricted(self, q: query.Query, among: set[int]) -> Scores:
        """evaluate(q) for the documents in `among` only."""
        return as_dict(self.matches(q, self.mask_of(among)))


def as_dict(found: Matches) -> Scores:
    mask, scores = found
    docs = mask.nonzero()[0]
    return dict(zip(docs.tolist(), scores[docs].tolist(), strict=True))


def _holds(docs: Any, wanted: Any) -> Any:
    """bool[len(wanted)]: which of `wanted` are in `docs` (both ascending)."""
    if not len(docs):
        return np.zeros(len(wanted), dtype=bool)
    at = np.minimum(docs.searchsorted(wanted), len(docs) - 1)
    return docs[at] == wanted


def _boost(scores: Any, boost: float) -> Any:
    return scores if boost == 1 else scores * boost


def top_of(values: Any, mask: Any, count: int) -> list[tuple[int, float]]:
    """The `count` best (docnum, value) of the documents in `mask`, best
    first, ties by docnum: a partial selection finds the threshold, and
    only the documents at or above it are sorted."""
    docs = mask.nonzero()[0]
    return _best(docs, values[docs], count)


def _best(docs: Any, vals: Any, count: int) -> list[tuple[int, float]]:
    """top_of over the documents `docs` (ascending) with values `vals`."""
    if count <= 0 or not len(docs):
        return []
    if count < len(docs):
        threshold = np.partition(vals, len(docs) - count)[len(docs) - count]
        keep = vals >= threshold
        docs, vals = docs[keep], vals[keep]
    order = np.lexsort((docs, -vals))[:count]
    return list(zip(docs[order].tolist(), vals[order].tolist(), strict=True))


def rank_matches(
    found: Matches,
    wanted: int,
    bonus: Callable[[Any], Any] | None = None,
    factor: Callable[[int], float] | None = None,
    candidates: Any = None,
    docs: Any = None,
) -> list[tuple[int, float]]:
    """rank() over (mask, scores) arrays: the best `wanted` as (docnum, final
    score), best first, ties by docnum; final = (score + bonus) x factor, the
    bonus only for documents in `candidates` (a mask; default all).
    bonus(docs) gives the bonus of each of an array of docnums (0.0: none),
    as an array.  `docs`: the mask's documents (ascending), when the caller
    has them.

    The ranking works on the matches' own values, gathered once, not on
    arrays of a value per indexed document: on Reuters a default query's
    matches are a tenth of the index, and each pass over a per-document
    array (a copy for the title factor, a mask for each selection) cost
    more than the selection itself."""
    mask, scores = found
    if docs is None:
        docs = mask.nonzero()[0]
    vals = scores[docs]
    finals = vals
    title = title_factors(factor) if factor else None
    if title is not None:
        # x * 1.0 == x: only the lifted matches' finals differ from their scores.
        keys, lifted = title
        if len(keys) and len(docs):
            at = np.minimum(docs.searchsorted(keys), len(docs) - 1)
            hit = docs[at] == keys
            at = at[hit]
            finals = vals.copy()
            finals[at] = vals[at] * lifted[hit]
    elif factor:
        finals = vals * factor_values(factor, docs)
    if bonus is None:
        return _best(docs, finals, wanted)
    hope = np.ones(len(docs), dtype=bool) if candidates is None else candidates[docs]
    if not hope.any():
        return _best(docs, finals, wanted)
    # The best of the others are final: only they, and candidates, can be on the page.
    settled = _best(docs[~hope], finals[~hope], wanted)
    settled_docs = np.array([d for d, _ in settled], dtype=np.int64)
    settled_finals = np.array([f for _, f in settled], dtype=np.float64)
    hopeful_docs, hopeful_finals = docs[hope], finals[hope]
    window = max(BONUS_WINDOW, wanted)
    # The bonus of the window's documents so far: a wider window starts with
    # the same documents (its order is total), so only the new ones are asked.
    known = np.zeros(0, dtype=np.float64)
    while True:
        ordered = _best(hopeful_docs, hopeful_finals, window + 1)
        inside = np.array([d for d, _ in ordered[:window]], dtype=np.int64)
        outside = ordered[window:]
        if len(known) < len(inside):
            known = np.concatenate((known, bonus(inside[len(known) :])))
        # (score + bonus) x factor, as rank() computes it per document (x + 0.0 == x, x * 1.0 == x).
        rescored = scores[inside] + known[: len(inside)]
        if factor:
            rescored = rescored * factor_values(factor, inside)
        docs_now = np.concatenate((settled_docs, inside))
        values = np.concatenate((settled_finals, rescored))
        order = np.lexsort((docs_now, -values))[:wanted]
        best = list(zip(docs_now[order].tolist(), values[order].tolist(), strict=True))
        # A candidate outside the window scores at most twice its present score.
        if not outside or (len(best) >= wanted and best[-1][1] > 2 * outside[0][1]):
            return best
        window *= 4


def title_factors(factor: Callable[[int], float]) -> tuple[Any, Any] | None:
    """When `factor` is the default ranking's exact-title factor alone: the
    documents it lifts (ascending) and their factors, every other document's
    being 1.0; else None.  The ranking copies the scores and multiplies
    those few, where it looked every match up among them (a binary search a
    match: about 0.4 ms of a query with 20,000 matches at 200,000 records)."""
    if not isinstance(factor, ranking.Factors) or factor.parts:
        return None
    return _title_factors(factor)


def _title_factors(factor: ranking.Factors) -> tuple[Any, Any]:
    """The exact-title factor's lifted documents (ascending) and their factors."""
    found = factor.title.found if factor.title is not None else {}
    if not found:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    arrays = getattr(factor.title, "arrays", None)
    if arrays is not None:  # titles.ArrayTitleMatch: made sorted
        return arrays[0], arrays[1]
    keys = np.fromiter(found.keys(), dtype=np.int64, count=len(found))
    lifted = np.fromiter(found.values(), dtype=np.float64, count=len(found))
    order = np.argsort(keys, kind="stable")
    return keys[order], lifted[order]


def factor_values(factor: Callable[[int], float], docs: Any) -> Any:
    """factor(d) for each of `docs` (docnums in any order), as float64.

    The default ranking's only factor is the exact-title one (a dictionary
    of the documents it lifts, 1.0 for the rest): that is looked up with
    numpy, the same values without a Python call per match (about a fifth
    of a Reuters query's p95 went to those calls).  The --boost factors
    read a column per document and stay a call each."""
    if isinstance(factor, ranking.Factors) and not factor.parts:
        values = np.ones(len(docs), dtype=np.float64)
        keys, lifted = _title_factors(factor)
        if len(keys) and len(docs):
            at = np.minimum(keys.searchsorted(docs), len(keys) - 1)
            hit = keys[at] == docs
            values[hit] = lifted[at[hit]]
        return values
    return np.fromiter((factor(d) for d in docs.tolist()), dtype=np.float64, count=len(docs))


#: A position key's document number is shifted past this many bits: more than
#: any position (u32 in the side-car) plus a slop, so that a key minus the slop
#: never reaches the keys of the document before.
_POSITION_BITS = 33


def _follow(ends: Any, keys: Any, slop: int) -> Any:
    """The keys of `keys` (sorted) that come 1 to `slop` positions after one
    of `ends` (sorted) in the same document: near_in_order's spans
    (search.planning.proximity) grown by one word,
    for every document at once (a span's start never matters, only whether
    some span reaches the last word, so the spans' ends are enough)."""
    at = ends.searchsorted(keys - slop)
    ok = at < len(ends)
    ok[ok] = ends[at[ok]] <= keys[ok] - 1
    return keys[ok]


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
