"""Collapsing and facet counting over a match set held as an array.

The engine (search.backends.engine) hands back its matching documents as a sorted
array of document numbers; grouping them into stories and counting their
facets one dictionary step per match (search.backends.collapse, search.backends.facets) cost
about 10 ms for 20,000 matches, as much as scoring them.  Here both are
numpy over per-searcher columns, with the same results (tests hold them
together):

* duplicate groups are connected components of "shares a key" among the
  matches, each labelled by its lowest document number (the root the
  union-find in search.backends.collapse picks): each key's members take the lowest
  label among them, over both keys, until no label changes (one round per
  hop of a chain of copies: two or three in practice);
* facet counts are one bincount per facet over (document, value) pairs read
  once per searcher from the facet fields' postings.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, NamedTuple

import numpy as np

from search.backends.collapse import COPY_WINDOW, DuplicateKeys, Groups
from search.backends.facets import FACET_FIELDS, FACET_SIZE, _top
from search.results import Facets
from search.storage.schema import DUP_KEY_BYTES, MISSING_LOW


assert DUP_KEY_BYTES == 16


class ArrayGroups(Groups):
    """search.backends.collapse.Groups computed with numpy from a sorted array of matches.

    The groups are held as two arrays (the grouped documents, ascending, and
    each one's label); the dictionaries of Groups are made only when asked
    for: a page picks its hits with a binary search, instead of a dictionary
    entry for each of the thousands of grouped matches of a common word."""

    def __init__(self, keys: DuplicateKeys, matched: Any) -> None:
        docs = np.asarray(matched, dtype=np.int64)
        self.docs = docs
        shared = _shared_keys(keys) if len(docs) else None
        # Only the matches with a key some other document has can be grouped
        # (on Reuters some 8%): one gather over all the matches finds them,
        # and each key column is read for those alone.
        keyed = shared.keyed[docs].nonzero()[0] if shared is not None else docs[:0]
        columns = []
        for column in shared.halves if shared is not None and len(keyed) else ():
            assert shared is not None  # (for mypy: the loop runs only then)
            values = (shared.url, shared.title)[column][docs[keyed]]
            has = values >= 0
            valid = keyed[has]
            if not len(valid):
                continue
            if column == 1:
                # Title keys: as in search.backends.collapse, copies are chained in time order within
                # COPY_WINDOW (undated with undated), so a key splits into runs of near ones.
                valid, inverse = self._title_runs(docs, valid, shared.titles)
                counts = np.bincount(inverse)
            else:
                _, inverse, counts = np.unique(values[has], return_inverse=True, return_counts=True)
            shared_here = counts[inverse] > 1
            valid, inverse = valid[shared_here], inverse[shared_here]
            if len(valid):
                columns.append((valid, inverse, int(inverse.max()) + 1))
        label = docs.copy()
        changed = bool(columns)
        while changed:
            changed = False
            for valid, inverse, groups in columns:
                lowest = np.full(groups, np.iinfo(np.int64).max, dtype=np.int64)
                np.minimum.at(lowest, inverse, label[valid])
                new = lowest[inverse]
                if (new < label[valid]).any():
                    label[valid] = np.minimum(label[valid], new)
                    # One column's groups are its components already: no second round.
                    changed = len(columns) > 1
        if len(columns) == 1:
            grouped = np.sort(columns[0][0])
        elif columns:
            in_group = np.zeros(len(docs), dtype=bool)
            for valid, _inverse, _groups in columns:
                in_group[valid] = True
            grouped = in_group.nonzero()[0]
        else:
            grouped = docs[:0]
        self.grouped = docs[grouped]
        self.labels = label[grouped]
        self.extra = self.grouped[self.grouped != self.labels]
        self.sizes = np.unique(self.labels, return_counts=True)
        self._group_of: dict[int, int] | None = None
        self._members: dict[int, list[int]] | None = None

    @staticmethod
    def _title_runs(docs: Any, valid: Any, titles: TitleOrder) -> tuple[Any, Any]:
        """The matches with a title key, and for each the run of near copies
        it belongs to, from the index's order of the title-keyed documents
        by (title key, dated, date, docnum) (_shared_keys)."""
        # That order restricted to the matches is their own order by those
        # keys (a total order: docnums differ).  Many matches are put in it
        # by marking their places in it (linear in the titled documents):
        # at 200,000 generated records, where nearly every document shares
        # a title and a query has some 24,000 matches, sorting them took 2
        # of a default query's 15 ms of CPU; a few are sorted.
        ranks = titles.rank[docs[valid]]
        if len(ranks) * ORDER_BY_MARKS < len(titles.kind):
            order = ranks.argsort()
            valid, ranks = valid[order], ranks[order]
        else:
            marked = np.zeros(len(titles.kind), dtype=bool)
            marked[ranks] = True
            at = np.empty(len(titles.kind), dtype=np.int64)
            at[ranks] = valid
            ranks = marked.nonzero()[0]
            valid = at[ranks]
        # Near: the same key and datedness, at most COPY_WINDOW apart (two
        # undated ones are 0 apart: their seconds are 0).
        kind, seconds = titles.kind[ranks], titles.seconds[ranks]
        near = (kind[1:] == kind[:-1]) & (seconds[1:] - seconds[:-1] <= COPY_WINDOW)
        inverse = np.zeros(len(valid), dtype=np.int64)
        (~near).cumsum(out=inverse[1:])
        return valid, inverse

    @property
    def group_of(self) -> dict[int, int]:  # type: ignore[override]  # a dictionary made when asked for
        if self._group_of is None:
            self._group_of = dict(zip(self.grouped.tolist(), self.labels.tolist(), strict=True))
        return self._group_of

    @property
    def members(self) -> dict[int, list[int]]:  # type: ignore[override]
        if self._members is None:
            self._members = {}
            for doc, group in self.group_of.items():
                self._members.setdefault(group, []).append(doc)
        return self._members

    def __bool__(self) -> bool:
        return bool(len(self.grouped))

    @property
    def in_groups(self) -> int:
        return len(self.grouped)

    def extra_copies(self) -> set[int]:
        return set(self.extra.tolist())

    def pick(self, ranked: list[int], wanted: int) -> list[tuple[int, int]]:
        if not len(self.grouped) or not ranked:
            return super().pick(ranked, wanted) if ranked else []
        asked = np.asarray(ranked, dtype=np.int64)
        at = np.minimum(self.grouped.searchsorted(asked), len(self.grouped) - 1)
        groups = np.where(self.grouped[at] == asked, self.labels[at], -1)
        names, counts = self.sizes
        others = np.where(groups >= 0, counts[names.searchsorted(groups).clip(0, len(names) - 1)] - 1, 0)
        seen: set[int] = set()
        picked: list[tuple[int, int]] = []
        for doc, group, copies in zip(ranked, groups.tolist(), others.tolist(), strict=True):
            if group < 0:
                picked.append((doc, 0))
            elif group not in seen:
                seen.add(group)
                picked.append((doc, copies))
            if len(picked) >= wanted:
                break
        return picked


class TitleOrder(NamedTuple):
    """The documents with a shared title key in the order that chains their
    copies in time, (title key, dated, date, docnum), made once per searcher."""

    #: int32/int64 per document: its place in that order, -1 without a shared title key.
    rank: Any
    #: Per place in that order: the title key's number times 2, plus 1 when dated (one
    #: comparison for "same key, same datedness"), and the date (epoch seconds, 0 undated).
    kind: Any
    seconds: Any


class SharedKeys(NamedTuple):
    """_shared_keys: the index's duplicate keys that some other document has too."""

    #: Per document, a number for its webUrl key when shared, else -1.
    url: Any
    #: The same for its title-and-provider key.
    title: Any
    titles: TitleOrder
    #: bool per document: it has some shared key (a match without one is in no group).
    keyed: Any
    #: The halves (0: webUrl, 1: title) some documents share a key of.
    halves: tuple[int, ...]


#: A title key's matches are put in time order by marking their places in
#: TitleOrder when they are at least a 32nd of the titled documents, by a sort
#: when fewer (a sort is m log m, marking linear in the titled documents).
ORDER_BY_MARKS = 32


def _shared_keys(keys: DuplicateKeys) -> SharedKeys | None:
    """For each half of the duplicate keys (webUrl; title and provider), an
    int per document: a number for its key when some other document of the
    index has that key too, -1 when it is alone with it or has none; then
    the documents with a shared title key in the order that chains copies
    in time (TitleOrder).  Made once per searcher (None: the index has no keys).  A match
    whose key no other document has is in no group, so a search groups only
    the others (on Reuters some 8% of a query's matches)."""
    if keys.arrays is None:
        if not keys.keys:
            keys.arrays = False
        else:
            raw = np.frombuffer(keys.keys, dtype="<u8").reshape(-1, 2)
            # Numbers and places below the document count: int32, half an int64's
            # bytes for each of these arrays of a value per document.
            small = _index_type(len(raw))
            numbered = []
            for column in (0, 1):
                values = raw[:, column]
                ids = np.full(len(values), -1, dtype=small)
                keyed = np.flatnonzero(values != 0)
                _, inverse, counts = np.unique(values[keyed], return_inverse=True, return_counts=True)
                shared = counts[inverse] > 1
                ids[keyed[shared]] = inverse[shared]
                numbered.append(ids)
            titled = np.flatnonzero(numbered[1] >= 0)
            dates = keys.dates()
            when = dates[titled] if dates is not None else np.full(len(titled), MISSING_LOW, dtype=np.int64)
            dated = when > MISSING_LOW
            seconds = np.where(dated, when, 0)
            order = np.lexsort((titled, seconds, dated, numbered[1][titled]))
            rank = np.full(len(raw), -1, dtype=small)
            rank[titled[order]] = np.arange(len(titled), dtype=small)
            kind = numbered[1][titled[order]].astype(_index_type(2 * len(raw) + 2)) * 2 + dated[order]
            titles = TitleOrder(rank, kind, seconds[order])
            halves = tuple(column for column, ids in enumerate(numbered) if (ids >= 0).any())
            with_key = (numbered[0] >= 0) | (numbered[1] >= 0)
            keys.arrays = SharedKeys(numbered[0], numbered[1], titles, with_key, halves)
    return None if keys.arrays is False else keys.arrays


def _index_type(count: int) -> Any:
    """The integer type for numbers below `count` (and -1): int32 where they fit."""
    return np.int32 if count < 2**31 - 1 else np.int64


class FacetArrays:
    """Every (document, value) pair of the facet fields, for one searcher,
    held by document (each document's values of every facet together, value
    ids numbered across the facets): a search gathers its matches' values and
    counts them with one bincount, reading the pairs of its matches only
    rather than testing every pair of the index."""

    def __init__(self, reader: Any) -> None:
        self.size = int(reader.doc_count_all())
        self.names: dict[str, list[str]] = {}
        #: facet -> its value ids' range [start, end) in the numbering across facets.
        self.ranges: dict[str, tuple[int, int]] = {}
        docs: list[Any] = []
        values: list[Any] = []
        first = 0
        # Document numbers and value ids as int32 where they fit: the pairs are
        # some three a document, so each int64 array was 24 bytes a document.
        small = _index_type(self.size)
        for facet, field in FACET_FIELDS:
            names: list[str] = []
            for term in reader.lexicon(field):
                found = np.fromiter(reader.postings(field, term).all_ids(), dtype=small)
                docs.append(found)
                values.append(np.full(len(found), first + len(names), dtype=small))
                names.append(term.decode("utf-8"))
            self.names[facet] = names
            self.ranges[facet] = (first, first + len(names))
            first += len(names)
        self.value_count = first
        assert first < 2**31 - 1 or small is np.int64  # value ids are fewer than the pairs
        #: Each value id's place among its facet's values by name ignoring case,
        #: then by name: the order facets._top breaks equal counts in.
        self.fold_rank = np.zeros(first, dtype=np.int64)
        for facet, _field in FACET_FIELDS:
            start, end = self.ranges[facet]
            folded = sorted((name.casefold(), name, i) for i, name in enumerate(self.names[facet]))
            ids = np.asarray([i for _, _, i in folded], dtype=np.int64)
            self.fold_rank[start + ids] = np.arange(end - start, dtype=np.int64)
        all_docs = np.concatenate(docs) if docs else np.zeros(0, small)
        all_values = np.concatenate(values) if values else np.zeros(0, small)
        del docs[:], values[:]
        self.values = all_values[np.argsort(all_docs, kind="stable")]
        #: The pairs of document d are values[starts[d]:starts[d + 1]].
        self.starts = np.zeros(self.size + 1, dtype=_index_type(len(all_docs) + 1))
        np.cumsum(np.bincount(all_docs, minlength=self.size)[: self.size], out=self.starts[1:])

    def counts(self, matched: Any) -> Facets:
        docs = np.asarray(matched, dtype=np.int64)
        begins = self.starts[docs]
        lengths = self.starts[docs + 1] - begins
        # Each match's run of values, gathered in one index array.
        before = lengths.cumsum() - lengths
        gather = np.arange(int(lengths.sum()), dtype=np.int64) + (begins - before).repeat(lengths)
        counted = np.bincount(self.values[gather], minlength=self.value_count)
        out: dict[str, dict[str, int]] = {}
        for facet, _field in FACET_FIELDS:
            start, end = self.ranges[facet]
            names = self.names[facet]
            chosen = counted[start:end].nonzero()[0]
            if facet == "years":
                named = Counter({names[i]: int(n) for i, n in zip(chosen.tolist(), counted[start + chosen].tolist(), strict=True)})
                out[facet] = _top(named, by_key=True)
                continue
            # facets._top's order (count down, then name by casefold) with numpy, the first FACET_SIZE.
            found = counted[start + chosen]
            order = np.lexsort((self.fold_rank[start + chosen], -found))[:FACET_SIZE]
            out[facet] = dict(zip([names[i] for i in chosen[order].tolist()], found[order].tolist(), strict=True))
        return Facets(topics=out["topics"], providers=out["providers"], years=out["years"])
