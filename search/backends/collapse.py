"""Duplicate collapsing: copies of one story shown once, with a count.

News is syndicated: one story turns up under one webUrl in several feeds,
or under several URLs with the same title from the same provider.  Like
Elasticsearch's field collapsing (or Meilisearch's distinct attribute), a
search shows each story once, its best-ranked copy carrying the number of
other matching copies; ``total`` and the facets count stories, not files.

Two matching documents are copies when they share the webUrl key of the
``dupkeys`` column (schema.duplicate_keys), or share its title key (the
normalised title with its provider) and were published within COPY_WINDOW
of each other (or are both undated); copies of copies among the matches are
copies too (the groups are connected components).  The window replaces the
earlier same-UTC-day rule, which missed resends across midnight.  Measured on
Reuters-21578 (20,841 records; pairs of records with one title and provider):
same UTC day 497 pairs (231 with identical bodies); within 12 hours 565
(278), every same-day pair among them plus 68 across midnight (47
identical); within 24 hours 31 more, only 6 identical: mostly recurring
daily reports ("PROPOSED OFFERINGS RECENTLY FILED WITH THE SEC", "FED ADDS
RESERVES VIA CUSTOMER REPURCHASES") that are not copies.  An index built
before keys without the day keeps its day-keyed title keys (so the same-day
rule, within the window) until it is rebuilt with ``search index --full``.

Each searcher reads the column once, in bulk (16 bytes a document: 0.3 MB
for Reuters, 16 MB for a million records), and each search groups its own
matches, one dictionary step per match (about 10 ms for 20,000 matches,
nothing for a page of a few hundred).  The publication dates that order a
title key's copies are read the same way, the whole ``newest`` column in one
read per segment (8 bytes a document) the first time a search needs one:
read a document at a time through Whoosh's column reader they were 87% of
a default query's time at 200,000 generated records.
"""

from __future__ import annotations

from typing import Any

from search.backends import costs
from search.storage.schema import DUP_KEY_BYTES, MISSING_LOW
from search.storage.segments import segment_readers

DUP_COLUMN = "dupkeys"
_NONE = bytes(DUP_KEY_BYTES // 2)
#: Seconds between two publications of one title and provider that still make
#: them copies (see the module docstring for why 12 hours, not 24).
COPY_WINDOW = 12 * 3600


class DuplicateKeys:
    """Every document's two keys, for one searcher."""

    #: The keys as arrays, for search.backends.columns (made there when first needed).
    arrays: Any = None

    def __init__(self, reader: Any) -> None:
        chunks: list[bytes] = []
        for leaf, _offset in segment_readers(reader):
            count = leaf.doc_count_all()
            raw = b""
            if count and leaf.has_column(DUP_COLUMN):
                column = leaf.column_reader(DUP_COLUMN, translate=False)
                # One read of the fixed-width column instead of a call per document.
                raw = column._dbfile.get(column._basepos, column._count * DUP_KEY_BYTES)
            chunks.append(raw.ljust(count * DUP_KEY_BYTES, b"\0"))
        self.keys = b"".join(chunks)
        self._reader = reader
        self._dates: Any = None
        self._column: Any = None

    def published(self, doc: int) -> int | None:
        """A document's publication time (epoch seconds), None if undated:
        from the whole column once a search has read it (dates()), or, in a
        process that has not imported numpy (a first query on Whoosh's
        searcher, search.backends.costs), through Whoosh's column reader."""
        if self._dates is None and not costs.arrays_paid():
            if self._column is None:
                self._column = self._reader.column_reader("newest") if self._reader.has_column("newest") else False
            when = int(self._column[doc]) if self._column is not False else None
        else:
            dates = self.dates()
            when = int(dates[doc]) if dates is not None else None
        return None if when is None or when <= MISSING_LOW else when

    def dates(self) -> Any:
        """Every document's ``newest`` column value (MISSING_LOW when undated)
        as an int64 array, read once per searcher in one read per segment;
        None when the index has no dates.  Reading it through Whoosh's column
        reader, a call chain of about 12 us a document, was 87% of a default
        query's time at 200,000 generated records (40,000 title-key matches a
        query, cProfile)."""
        if self._dates is None:
            self._dates = _read_dates(self._reader) if self._reader.has_column("newest") else False
        return None if self._dates is False else self._dates

    def among(self, matched: set[int]) -> Groups:
        return Groups(self, matched)


def _read_dates(reader: Any) -> Any:
    """The ``newest`` column of every segment of `reader`, as one int64 array."""
    import numpy as np

    parts = []
    for leaf, _offset in segment_readers(reader):
        count = leaf.doc_count_all()
        part = np.full(count, MISSING_LOW, dtype=np.int64)
        column: Any = leaf.column_reader("newest", translate=False) if count and leaf.has_column("newest") else None
        typecode = getattr(column, "_typecode", None)
        if typecode is not None and hasattr(column, "_dbfile"):
            # Whoosh's NumericColumn: fixed-width big-endian values for the
            # first _count documents, the default for the rest.
            stored = min(column._count, count)
            raw = column._dbfile.get(column._basepos, stored * column._fixedlen)
            part[:stored] = np.frombuffer(raw, dtype=np.dtype(typecode).newbyteorder(">"))
        elif column is not None:
            part[:] = np.fromiter(column, dtype=np.int64, count=count)
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


class Groups:
    """The stories among one search's matching documents."""

    def __init__(self, keys: DuplicateKeys, matched: set[int]) -> None:
        self.matched = matched
        parent: dict[int, int] = {}
        first_url: dict[bytes, int] = {}
        by_title: dict[bytes, list[int]] = {}
        raw, width, half = keys.keys, DUP_KEY_BYTES, DUP_KEY_BYTES // 2

        def root(doc: int) -> int:
            while parent[doc] != doc:
                parent[doc] = parent[parent[doc]]
                doc = parent[doc]
            return doc

        def join(doc: int, other: int) -> None:
            parent.setdefault(doc, doc)
            parent.setdefault(other, other)
            a, b = root(doc), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)

        for doc in matched:
            start = doc * width
            url_key, title_key = raw[start : start + half], raw[start + half : start + width]
            if url_key != _NONE:
                other = first_url.setdefault(url_key, doc)
                if other != doc:
                    join(doc, other)
            if title_key != _NONE:
                by_title.setdefault(title_key, []).append(doc)
        for docs in by_title.values():
            if len(docs) < 2:
                continue
            # In time order, each joins the one before it when near enough:
            # undated with undated, dated within COPY_WINDOW.
            when = {d: keys.published(d) for d in docs}
            timed = sorted(docs, key=lambda d: (when[d] is not None, when[d] or 0, d))
            for before, doc in zip(timed, timed[1:], strict=False):
                then, now = when[before], when[doc]
                if (then is None and now is None) or (
                    then is not None and now is not None and now - then <= COPY_WINDOW
                ):
                    join(doc, before)
        self.group_of: dict[int, int] = {doc: root(doc) for doc in parent}
        self.members: dict[int, list[int]] = {}
        for doc, group in self.group_of.items():
            self.members.setdefault(group, []).append(doc)

    def __bool__(self) -> bool:
        return bool(self.group_of)

    @property
    def in_groups(self) -> int:
        """How many matching documents have a matching copy."""
        return len(self.group_of)

    def extra_copies(self) -> set[int]:
        """All but one (the lowest docnum) of each story's matching documents."""
        return {doc for doc, group in self.group_of.items() if doc != group}

    def copies(self, doc: int) -> list[int]:
        """The other matching copies of `doc`."""
        group = self.group_of.get(doc)
        return [] if group is None else [d for d in self.members[group] if d != doc]

    def pick(self, ranked: list[int], wanted: int) -> list[tuple[int, int]]:
        """The first `wanted` of `ranked` with each story once, as
        (docnum, number of other matching copies)."""
        seen: set[int] = set()
        picked: list[tuple[int, int]] = []
        for doc in ranked:
            group = self.group_of.get(doc)
            if group is None:
                picked.append((doc, 0))
            elif group not in seen:
                seen.add(group)
                picked.append((doc, len(self.members[group]) - 1))
            if len(picked) >= wanted:
                break
        return picked
