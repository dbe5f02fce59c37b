"""Duplicate collapsing: copies of one story shown once, with a count.

News is syndicated: one story turns up under one webUrl in several feeds,
or under several URLs with the same title from the same provider.  Like
Elasticsearch's field collapsing (or Meilisearch's distinct attribute), a
search shows each story once, its best-ranked copy carrying the number of
other matching copies; ``total`` and the facets count stories, not files.

Two documents are copies when they share a key of the ``dup`` field
(schema.duplicate_keys: the webUrl, and the normalised title with its
provider); copies of copies are copies (the groups are the connected
components).  The groups are read once per searcher.  Only keys held by two
or more documents matter, and those are found from each segment's term
statistics, so the postings of the (many) unique keys are never read: about
25 ms for Reuters' 20,841 records, once, when the first search needs it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

DUP_FIELD = "dup"


class DuplicateGroups:
    """docnum -> group, for the live documents that have a copy."""

    def __init__(self, reader: Any) -> None:
        self.group_of: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        if DUP_FIELD not in reader.schema.names():
            return
        leaves = reader.leaf_readers() if not reader.is_atomic() else [(reader, 0)]
        counts: Counter[bytes] = Counter()
        for leaf, _offset in leaves:
            if DUP_FIELD in leaf.indexed_field_names():
                for term, info in leaf.iter_field(DUP_FIELD):
                    counts[term] += info.doc_frequency()
        parent: dict[int, int] = {}

        def root(doc: int) -> int:
            while parent[doc] != doc:
                parent[doc] = parent[parent[doc]]
                doc = parent[doc]
            return doc

        for term, count in counts.items():
            if count < 2:
                continue
            docs = [
                offset + d
                for leaf, offset in leaves
                if (DUP_FIELD, term) in leaf
                for d in leaf.postings(DUP_FIELD, term).all_ids()
                if not leaf.is_deleted(d)
            ]
            if len(docs) < 2:
                continue
            for doc in docs:
                parent.setdefault(doc, doc)
            first = root(docs[0])
            for doc in docs[1:]:
                other = root(doc)
                if other != first:
                    parent[other] = first
        for doc in parent:
            group = root(doc)
            self.group_of[doc] = group
            self.members.setdefault(group, []).append(doc)

    def __bool__(self) -> bool:
        return bool(self.group_of)

    def in_groups(self, matched: set[int]) -> set[int]:
        """The matching documents that have a copy somewhere in the index."""
        return matched.intersection(self.group_of) if self.group_of else set()

    def extra_copies(self, matched: set[int]) -> set[int]:
        """All but one (the lowest docnum) of each group's matching members:
        what `matched` holds beyond one document per story."""
        seen: set[int] = set()
        extra: set[int] = set()
        for doc in sorted(self.in_groups(matched)):
            group = self.group_of[doc]
            if group in seen:
                extra.add(doc)
            else:
                seen.add(group)
        return extra

    def copies(self, doc: int, matched: set[int]) -> list[int]:
        """The other matching members of `doc`'s group."""
        group = self.group_of.get(doc)
        if group is None:
            return []
        return [d for d in self.members[group] if d != doc and d in matched]

    def same_story(self, doc: int) -> list[int]:
        """Every other live copy of `doc`."""
        group = self.group_of.get(doc)
        return [] if group is None else [d for d in self.members[group] if d != doc]

    def pick(self, ranked: list[int], matched: set[int], wanted: int) -> list[tuple[int, int]]:
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
                picked.append((doc, len(self.copies(doc, matched))))
            if len(picked) >= wanted:
                break
        return picked
