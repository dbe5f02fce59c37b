"""search.backends.columns against the dictionary code it replaces on the engine's
path: the same duplicate groups (search.backends.collapse.Groups) and the same facet
counts (search.backends.facets.FacetTable)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from search import build_index
from search.backends.collapse import COPY_WINDOW, DuplicateKeys, Groups
from search.backends import columns
from search.backends.columns import ArrayGroups, FacetArrays
from search.backends.facets import FacetTable
from search.storage.schema import MISSING_LOW
from search.storage.store import Store

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def keys_of(pairs: list[tuple[int, int]]) -> DuplicateKeys:
    keys = DuplicateKeys.__new__(DuplicateKeys)
    keys._dates = False  # undated: title copies join in any order
    keys.keys = b"".join(u.to_bytes(8, "little") + t.to_bytes(8, "little") for u, t in pairs)
    return keys


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=60),
    seed=st.integers(0, 1000),
)
def test_array_groups_are_the_union_find_groups(pairs: list[tuple[int, int]], seed: int) -> None:
    keys = keys_of(pairs)  # small key values: many copies, chains of copies across both keys, 0 = no key
    rng = random.Random(seed)
    matched = sorted(rng.sample(range(len(pairs)), rng.randint(0, len(pairs))))
    slow = Groups(keys, set(matched))
    ranked = matched[:]
    rng.shuffle(ranked)
    fast = ArrayGroups(keys, np.asarray(matched, dtype=np.int64))
    # Picked first, so the page's picking is held to the union-find before the dictionaries exist.
    assert fast.pick(ranked, 5) == slow.pick(ranked, 5)
    assert fast.pick(ranked, len(ranked) + 1) == slow.pick(ranked, len(ranked) + 1)
    assert fast.group_of == slow.group_of
    assert fast.extra_copies() == slow.extra_copies()
    assert fast.in_groups == slow.in_groups and bool(fast) == bool(slow)
    assert {g: sorted(m) for g, m in fast.members.items()} == {g: sorted(m) for g, m in slow.members.items()}


def test_facet_arrays_count_as_the_facet_table(tmp_path: Path) -> None:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    build_index([records], tmp_path / "index")
    _, ix = Store(tmp_path / "index").open()
    with ix.reader() as reader:
        table, arrays = FacetTable(reader), FacetArrays(reader)
        everything = list(reader.all_doc_ids())
        rng = random.Random(7)
        for docs in (everything, everything[::3], rng.sample(everything, 10), []):
            assert arrays.counts(np.asarray(sorted(docs), dtype=np.int64)) == table.counts(docs)
    ix.close()


class _FacetReader:
    """The two calls FacetTable and FacetArrays make of a Whoosh reader, over given postings."""

    def __init__(self, size: int, postings: dict[str, dict[str, list[int]]]) -> None:
        self.size, self.by_field = size, postings

    def doc_count_all(self) -> int:
        return self.size

    def lexicon(self, field: str) -> list[bytes]:
        return sorted(v.encode("utf-8") for v in self.by_field.get(field, {}))

    def postings(self, field: str, term: bytes) -> Any:
        docs = self.by_field[field][term.decode("utf-8")]
        return type("Postings", (), {"all_ids": lambda self: iter(docs)})()


@settings(max_examples=100, deadline=None)
@given(
    assigned=st.lists(
        st.lists(st.sampled_from(["oil", "Oil", "OIL", "banks", "Banks", "zinc", "Ölpreis", "ölpreis", *"abcdefghijklmnopqrstuvw"]), max_size=4, unique=True),
        min_size=1,
        max_size=40,
    ),
    seed=st.integers(0, 1000),
)
def test_facet_arrays_list_values_in_the_facet_tables_order(assigned: list[list[str]], seed: int) -> None:
    """Counts down, equal counts by name ignoring case (names equal so, by
    their order in the index), at most FACET_SIZE: the same values in the
    same order as FacetTable, which the page shows."""
    topics: dict[str, list[int]] = {}
    for doc, values in enumerate(assigned):
        for value in values:
            topics.setdefault(value, []).append(doc)
    reader = _FacetReader(len(assigned), {"topic": topics, "provider": topics, "year": {"2020": [0], "2019": [0]}})
    table, arrays = FacetTable(reader), FacetArrays(reader)
    rng = random.Random(seed)
    docs = sorted(rng.sample(range(len(assigned)), rng.randint(0, len(assigned))))
    fast, slow = arrays.counts(np.asarray(docs, dtype=np.int64)), table.counts(docs)
    for name in ("topics", "providers", "years"):
        assert list(getattr(fast, name).items()) == list(getattr(slow, name).items())


def test_the_total_is_exact_and_says_so(tmp_path: Path) -> None:
    from search import open_index

    build_index([SEEDS], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        page = ix.search("rates OR bank OR police", collapse=False, limit=1000)
    assert page.total_exact is True and page.to_dict()["total_exact"] is True
    assert page.total == len(page.hits)


def test_a_cut_short_total_is_not_exact(tmp_path: Path) -> None:
    from search import open_index

    build_index([SEEDS], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        page = ix.search("rates OR bank OR police", time_limit=1e-9)
    assert page.timed_out and page.total_exact is False and page.to_dict()["total_exact"] is False


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.one_of(st.none(), st.integers(0, 5 * COPY_WINDOW))),
        min_size=1,
        max_size=60,
    ),
    seed=st.integers(0, 1000),
    by_marks=st.booleans(),
)
def test_dated_title_copies_group_as_the_union_find(
    rows: list[tuple[int, int, int | None]], seed: int, by_marks: bool
) -> None:
    # Both ways of putting the matches in time order: marking their places, and sorting them.
    kept = columns.ORDER_BY_MARKS
    columns.ORDER_BY_MARKS = 10**9 if by_marks else 0
    try:
        check_dated_title_copies(rows, seed)
    finally:
        columns.ORDER_BY_MARKS = kept


def check_dated_title_copies(rows: list[tuple[int, int, int | None]], seed: int) -> None:
    keys = keys_of([(u, t) for u, t, _ in rows])
    keys._dates = np.array([MISSING_LOW if when is None else when for _, _, when in rows], dtype=np.int64)
    rng = random.Random(seed)
    matched = sorted(rng.sample(range(len(rows)), rng.randint(0, len(rows))))
    slow = Groups(keys, set(matched))
    ranked = matched[:]
    rng.shuffle(ranked)
    fast = ArrayGroups(keys, np.asarray(matched, dtype=np.int64))
    assert fast.pick(ranked, 3) == slow.pick(ranked, 3)
    assert fast.group_of == slow.group_of
    assert fast.extra_copies() == slow.extra_copies()
