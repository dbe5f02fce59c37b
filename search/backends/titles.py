"""The exact-title factor (search.planning.ranking.TitleMatch) computed over arrays.

TitleMatch walks every document with a query word in its title through
Whoosh's searcher, a few Python calls per posting, and adds its word's
weight in a dictionary.  At 200,000 generated records a title word such as
"year" is in tens of thousands of titles, and that walk was the largest part
of a default query's time once collapsing read its dates in bulk (36% of
the profiled time, 52 ms a query under cProfile).  Here each word's title
postings are read a Whoosh block at a time (the block's decoded document
numbers, not a call per posting), deleted documents masked out with the
engine's per-segment masks, and the weights summed with numpy.

Where the full-text field's side-car holds the title (it does for every
index this schema writes: the title is the combined field's first part, at
twice every other part's weight), a word's title postings are the side-car
postings whose weight exceeds their frequency, as BM25F reads a title
occurrence (search.planning.ranking.field_tf): SideCarTitles finds them with
one comparison over postings the query reads anyway, where decoding Whoosh's
title blocks (pickles and zlib) was a seventh of a Reuters query's time.

The factors are TitleMatch's to the last bit: the same idf weights added in
the same order from 0.0, the same divisions and the same comparison with
TITLE_MIN_COVERAGE, the title length from the same length byte (or the
count of the query's words in the title when it has none).  A test holds
the two together on an index of several segments with deletions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from whoosh.reading import TermNotFound

from search.backends.engine import LENGTHS
from search.deadline import Deadline
from search.planning import ranking
from search.storage import sidecar
from search.storage.schema import PART_WEIGHTS



class FieldPostings:
    """A searcher's live documents per term of a field, as arrays, read from
    Whoosh's posting blocks (for fields the side-car does not hold)."""

    def __init__(self, leaves: Sequence[tuple[Any, int, Any]], size: int) -> None:
        """`leaves`: (segment reader, its first docnum, bool[count] of its live
        documents or None when it has no deletions); `size` all documents."""
        self.leaves = leaves
        self.size = size
        self._lengths: dict[str, Any] = {}

    def lookup(self, field: str, text: str) -> tuple[int, list[tuple[int, Any]]]:
        """A term's document frequency, deleted documents included (as
        Searcher.doc_frequency counts), and (leaf number, Whoosh TermInfo) of
        each segment that has it: one lookup a segment in Whoosh's terms table
        for both, where the frequency, a membership test and the matcher asked
        three times."""
        term = text.encode("utf-8")
        found: list[tuple[int, Any]] = []
        frequency = 0
        for number, (reader, _offset, _live) in enumerate(self.leaves):
            if field not in reader.schema:
                continue
            try:
                info = reader._terms.term_info(field, term)
            except TermNotFound:
                continue
            frequency += info.doc_frequency()
            found.append((number, info))
        return frequency, found

    def docs(self, field: str, text: str, deadline: Deadline) -> Any:
        """The live documents with `text` in `field` (global docnums, ascending,
        int64): those read by `deadline` when it runs out (a prefix)."""
        return self.docs_of(field, text, self.lookup(field, text)[1], deadline)

    def docs_of(self, field: str, text: str, infos: list[tuple[int, Any]], deadline: Deadline) -> Any:
        """docs() from the segments' term infos that lookup() found."""
        term = text.encode("utf-8")
        parts: list[Any] = []
        for number, info in infos:
            if deadline.expired():
                break
            reader, offset, live = self.leaves[number]
            terms = reader._terms
            fmt = reader.schema[field].format
            matcher = terms._codec.postings_reader(terms._postfile, info, fmt, term=(field, term))
            # Fewer than writers.INLINE_LIMIT postings: kept in Whoosh's term table.
            if not hasattr(matcher, "_read_ids"):
                ids = []
                while matcher.is_active():
                    ids.append(matcher.id())
                    matcher.next()
                blocks = [ids]
            else:
                blocks = _blocks(matcher, deadline)
            parts.extend(_global(np.asarray(ids, dtype=np.int64), offset, live) for ids in blocks)
        return _joined(parts)

    def length_bytes(self, field: str) -> Any:
        """uint8[size]: Whoosh's length byte of every document in `field` (0
        where none is stored); LENGTHS gives the lengths.  A byte a
        document, where the lengths as floats took 8."""
        found = self._lengths.get(field)
        if found is None:
            chunks = [
                np.frombuffer(sidecar.field_lengths(reader, field, reader.doc_count_all()), dtype=np.uint8)
                for reader, _offset, _live in self.leaves
            ]
            found = self._lengths[field] = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8)
        return found


class SideCarTitles(FieldPostings):
    """FieldPostings of the title read from the full-text field's side-car
    arrays: a posting whose weight is above its frequency has the word in
    its title (the title's occurrences weigh INDEX_TITLE_WEIGHT, every other
    part's 1; a title has the same terms in both fields, from the same
    analysis).  Other fields, and indexes with a segment without arrays,
    read Whoosh's blocks as FieldPostings does."""

    def __init__(self, leaves: Sequence[tuple[Any, int, Any]], size: int, engine: Any) -> None:
        """`engine`: the search.backends.engine.Engine of the same segments,
        whose per-query term lookups (Engine.segment_term) this shares."""
        super().__init__(leaves, size)
        self.engine = engine
        # The same segments' title length bytes, which the engine holds already.
        self._lengths[ranking.TITLE_FIELD] = engine.title_length_bytes
        self.usable = (
            ranking.INDEX_TITLE_WEIGHT > 1
            and all(weight == 1 for part, weight in PART_WEIGHTS.items() if part != ranking.TITLE_FIELD)
            and all(s.arrays is not None for s in engine.segments if s.count)
        )

    def lookup(self, field: str, text: str) -> tuple[int, list[tuple[int, Any]]]:
        """FieldPostings.lookup: the frequency counts deleted documents too
        (the side-car keeps their postings, as Whoosh's terms table counts
        them); each segment's info is the term's title docnums there."""
        if field != ranking.TITLE_FIELD or not self.usable:
            return super().lookup(field, text)
        term = text.encode("utf-8")
        found: list[tuple[int, Any]] = []
        frequency = 0
        for number, segment in enumerate(self.engine.segments):
            at = self.engine.segment_term(number, term)
            if at is None:
                continue
            i, local = at
            arrays = segment.arrays
            start, end = int(arrays.post_starts[i]), int(arrays.post_starts[i + 1])
            titled = local[arrays.weights[start:end] > arrays.counts[start:end]]
            if len(titled):
                frequency += len(titled)
                found.append((number, titled))
        return frequency, found

    def docs_of(self, field: str, text: str, infos: list[tuple[int, Any]], deadline: Deadline) -> Any:
        if field != ranking.TITLE_FIELD or not self.usable:
            return super().docs_of(field, text, infos, deadline)
        parts: list[Any] = []
        for number, local in infos:
            if deadline.expired():
                break
            _reader, offset, live = self.leaves[number]
            parts.append(_global(local, offset, live))
        return _joined(parts)


def _global(local: Any, offset: int, live: Any) -> Any:
    """A segment's document numbers (int64) as global ones, deleted documents left out."""
    return (local if live is None else local[live[local]]) + offset


def _joined(parts: list[Any]) -> Any:
    """The segments' global document numbers, in segment order, as one int64 array."""
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _blocks(matcher: Any, deadline: Deadline) -> list[Any]:
    """A Whoosh leaf matcher's document numbers, a decoded block at a time,
    deleted documents' too; stops at `deadline` between blocks."""
    found: list[Any] = []
    while matcher.is_active():
        if found and deadline.expired():
            break
        matcher._read_ids()
        found.append(matcher._ids)
        matcher._next_block()
    return found


class ArrayTitleMatch(ranking.TitleMatch):
    """ranking.TitleMatch with its postings and sums on arrays (see the module docstring)."""

    def __init__(
        self, searcher: Any, postings: FieldPostings, terms: Sequence[str], deadline: Deadline | None = None
    ) -> None:
        self.found = {}
        self.whole = False
        self.arrays: tuple[Any, Any] | None = None
        deadline = deadline if deadline is not None else Deadline(None)
        distinct = list(dict.fromkeys(terms))
        if not ranking.TITLE_BOOST or len(distinct) < 2:
            return
        field = ranking.TITLE_FIELD
        n = searcher.doc_count_all()
        looked = {t: postings.lookup(field, t) for t in distinct}
        weights = {t: ranking.robertson_idf(n, looked[t][0]) for t in distinct}
        total = sum(weights.values())
        # The words' title documents, word after word, and each one's weight: a
        # document's coverage is the sum of its words' weights in the words'
        # order (bincount adds in the order given, as covered[docs] += weight
        # did over an array of a float per indexed document, which with its
        # count and their scan was most of this factor's cost: most words are
        # in a few titles).
        found_docs: list[Any] = []
        found_weights: list[Any] = []
        for term, weight in weights.items():
            if deadline.expired():
                break
            docs = postings.docs_of(field, term, looked[term][1], deadline)
            found_docs.append(docs)
            found_weights.append(np.full(len(docs), weight, dtype=np.float64))
        every = np.concatenate(found_docs) if found_docs else np.zeros(0, dtype=np.int64)
        if not len(every):
            return
        docs, inverse = np.unique(every, return_inverse=True)
        count = np.bincount(inverse, minlength=len(docs))
        covered = np.bincount(inverse, weights=np.concatenate(found_weights), minlength=len(docs))
        self.whole = bool(count.max() == len(distinct))
        coverage = covered / total
        keep = ~(coverage < ranking.TITLE_MIN_COVERAGE)
        docs, coverage = docs[keep], coverage[keep]
        counted = count[keep].astype(np.float64)
        length = LENGTHS[postings.length_bytes(field)[docs]]
        length = np.where(length != 0, length, counted)
        factor = 1.0 + ranking.TITLE_BOOST * coverage * np.minimum(1.0, counted / length)
        self.found = dict(zip(docs.tolist(), factor.tolist(), strict=True))
        #: The same as arrays (docnums ascending), for engine.factor_values.
        self.arrays = docs, factor
