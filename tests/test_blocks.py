"""Posting blocks' parts pickled as one number each (search.storage.blocks)."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from whoosh.formats import Existence, Frequency, Positions

from search.storage.blocks import dumps_inlined_one, pack_ids, pack_inlined, pack_values, pack_weights
from search.storage.positions import CompactPositions, PackedPositions, encode_positions


def _again(packed: Any) -> Any:
    return pickle.loads(pickle.dumps(packed, 2))


@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=128))
def test_document_numbers_come_back_as_they_went_in(deltas: list[int]) -> None:
    again = _again(pack_ids(deltas))
    assert type(again) is tuple and again == tuple(deltas)


def test_document_numbers_take_the_narrowest_width() -> None:
    sizes = [len(pickle.dumps(pack_ids([0] + [top] * 127), 2)) for top in (1, 255, 256, 65_535, 65_536, 2**33)]
    assert sizes[0] == sizes[1] < sizes[2] == sizes[3] < sizes[4]
    assert _again(pack_ids([2**33, 1])) == (2**33, 1)  # past 32 bits: Whoosh's own tuple


@given(
    st.lists(st.integers(0, 255).map(float), min_size=1, max_size=128)
    | st.lists(st.floats(allow_nan=False), min_size=1, max_size=128)
    | st.lists(st.sampled_from([1.0, 2.0, 0.5, 300.0, -1.0, float("inf")]), min_size=1, max_size=128)
)
def test_weights_come_back_as_the_same_floats(weights: list[float]) -> None:
    again = _again(pack_weights(weights))
    if all(w == 1.0 for w in weights):
        assert again is None  # as Whoosh minifies them
    elif all(w == weights[0] for w in weights):
        assert again == weights[0] and type(again) is float
    else:
        assert type(again) is tuple and again == tuple(weights)
        assert all(type(w) is float for w in again)


POSITIONS = st.lists(st.integers(0, 2**20), min_size=1, max_size=12).map(sorted)


@given(st.lists(POSITIONS, min_size=1, max_size=128))
def test_positions_come_back_as_the_same_values(lists: list[list[int]]) -> None:
    values = [encode_positions(p) for p in lists]
    again = _again(pack_values(CompactPositions(), values))
    assert type(again) is tuple and again == tuple(values)
    assert all(type(v) is PackedPositions for v in again)
    # A value read back is pickled again as it was (merges write what they read).
    assert pickle.dumps(again, 2) == pickle.dumps(tuple(values), 2)
    # The bulk writer's pool holds them as plain bytes: the same pickle.
    plain = [bytes(v) for v in values]
    fmt = CompactPositions()
    assert pickle.dumps(pack_values(fmt, plain), 2) == pickle.dumps(pack_values(fmt, values), 2)


def test_positions_as_plain_bytes_are_pickled_as_packed_positions_where_they_cannot_be_packed() -> None:
    # A posting of 256 bytes or more keeps Whoosh's tuple of values: its values
    # are PackedPositions there too, as they were before the pool held bytes.
    long = encode_positions(list(range(0, 300 * 200, 200)))
    values = [encode_positions([1]), long]
    plain = [bytes(v) for v in values]
    assert all(type(v) is bytes for v in plain)
    packed = pack_values(CompactPositions(), plain)
    assert [type(v) for v in packed] == [PackedPositions, PackedPositions]
    assert pickle.dumps(packed, 2) == pickle.dumps(tuple(values), 2)
    inlined = pack_inlined(CompactPositions(), [3, 9], [1.0, 2.0], plain)
    assert pickle.dumps(inlined, 2) == pickle.dumps(pack_inlined(CompactPositions(), [3, 9], [1.0, 2.0], values), 2)
    assert all(type(v) is PackedPositions for v in _again(inlined)[2])


def test_only_compact_positions_are_packed() -> None:
    long = encode_positions(list(range(0, 300 * 200, 200)))  # 600 bytes: more than a length byte holds
    assert len(long) >= 256
    values = [encode_positions([1]), long]
    assert pack_values(CompactPositions(), values) == tuple(values)
    plain = [b"\x00\x00\x00\x01abc", b"xyz\x00"]  # another format's values, trailing zero bytes and all
    assert pack_values(Positions(), plain) == tuple(plain)
    assert pack_values(Existence(), []) == ()


def test_a_block_of_a_full_text_field_is_smaller(tmp_path: Path) -> None:
    """One block of 128 postings, as the writer pickles and compresses it (Whoosh's form against this one)."""
    deltas = [3, *([7, 1, 12, 2, 30, 5, 1, 9] * 16)][:128]
    weights = [float(1 + (i % 3 == 0)) for i in range(128)]
    values = [encode_positions(sorted({(i * 7) % 90, (i * 13) % 90})) for i in range(128)]
    whooshs = zlib.compress(pickle.dumps((tuple(deltas), tuple(weights), tuple(values)), 2), 3)
    packed = (pack_ids(deltas), pack_weights(weights), pack_values(CompactPositions(), values))
    ours = zlib.compress(pickle.dumps(packed, 2), 3)
    assert len(ours) < 0.6 * len(whooshs)
    assert pickle.loads(zlib.decompress(ours)) == pickle.loads(zlib.decompress(whooshs))


@given(
    st.lists(st.integers(0, 2**33), min_size=1, max_size=7, unique=True).map(sorted),
    st.sampled_from(["ones", "whole", "fractions"]),
    st.booleans(),
)
def test_an_inlined_posting_list_comes_back_as_whoosh_pickles_it(ids: list[int], weights: str, positioned: bool) -> None:
    floats = [1.0 if weights == "ones" else float(i % 5) + (0.5 if weights == "fractions" else 0) for i in range(len(ids))]
    values = [encode_positions([i, i + 3]) for i in range(len(ids))] if positioned else []
    format_ = CompactPositions() if positioned else Existence()
    again = _again(pack_inlined(format_, ids, floats, values))
    assert again == (tuple(ids), tuple(floats), tuple(values))
    assert [type(v) for v in again[0] + again[1]] == [int] * len(ids) + [float] * len(ids)
    assert all(type(v) is PackedPositions for v in again[2])
    plain = [bytes(v) for v in values]
    as_bytes, as_packed = pack_inlined(format_, ids, floats, plain), pack_inlined(format_, ids, floats, values)
    assert pickle.dumps(as_bytes, 2) == pickle.dumps(as_packed, 2)


@given(
    st.one_of(st.integers(0, 300), st.integers(0, 2**17), st.integers(0, 2**33)),
    st.one_of(st.sampled_from([1.0, 0.0, -0.0, 2.0, 255.0, 256.0, -1.0, 0.5, float("nan"), float("inf")]), st.floats()),
    st.sampled_from(["positions", "long positions", "none", "empty", "frequency"]),
)
def test_one_inlined_posting_is_pickled_as_the_pickler_pickles_it(docnum: int, weight: float, kind: str) -> None:
    """dumps_inlined_one writes the bytes pickle.dumps(pack_inlined(...), 2) writes, or leaves the case to it."""
    format_: Any = CompactPositions()
    value: bytes | None = None
    if kind == "positions":
        value = bytes(encode_positions([docnum % 1000, docnum % 1000 + 7]))
    elif kind == "long positions":
        value = bytes(encode_positions(list(range(0, 300 * 200, 200))))  # 300 positions: past 255 bytes
    elif kind == "empty":
        value, format_ = b"", Existence()
    elif kind == "frequency":
        value, format_ = b"\x00\x00\x00\x03", Frequency()  # a frequency field's value (its count)
    else:
        format_ = Existence()
    fast = dumps_inlined_one(format_, docnum, weight, value)
    whoosh_way = pickle.dumps(pack_inlined(format_, [docnum], [weight], [value] if value else []), 2)
    assert fast is None or fast == whoosh_way
    if docnum < 2**32 and (weight == 1.0 or weight in (0.0, 2.0, 255.0)) and kind in ("positions", "none", "empty"):
        assert fast == whoosh_way  # the usual cases are written here, not left to the pickler


def test_an_inlined_posting_is_smaller() -> None:
    """An id's one posting (weight 1.0, no positions) and a word's (weight 2.0, two positions)."""
    plain = pickle.dumps(((8390,), (1.0,), ()), 2)
    assert len(pickle.dumps(pack_inlined(Existence(), [8390], [1.0], []), 2)) == len(plain) - 9  # 16 bytes, not 25
    value = encode_positions([3, 40])
    plain = pickle.dumps(((1771,), (2.0,), (value,)), 2)
    assert len(pickle.dumps(pack_inlined(CompactPositions(), [1771], [2.0], [value]), 2)) <= len(plain) - 10  # 28 bytes, not 38
