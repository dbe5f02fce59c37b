"""The compact positions format of the full-text fields (search.storage.positions)."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from whoosh import formats

from search.storage.positions import (
    CompactPositions,
    PackedPositions,
    decode_positions,
    encode_positions,
    position_count,
)
from search.storage.schema import TEXT_FIELD, build_schema

POSITIONS = st.lists(st.integers(min_value=0, max_value=2**31 - 1), min_size=1, max_size=40).map(sorted)


@given(POSITIONS)
def test_positions_come_back_as_they_went_in_also_through_a_pickle(positions: list[int]) -> None:
    value = encode_positions(positions)
    assert isinstance(value, bytes)  # Whoosh's posting writer asserts it
    again = pickle.loads(pickle.dumps(value, 2))
    assert type(again) is PackedPositions and again == value
    assert decode_positions(value) == decode_positions(again) == positions
    assert position_count(value) == len(positions)


def test_the_bytes_are_varint_deltas_plus_one() -> None:
    assert encode_positions([0]) == b"\x01"
    assert encode_positions([3, 4, 9]) == b"\x04\x02\x06"
    assert encode_positions([5, 5]) == b"\x06\x01"  # a word and its part at one position
    assert encode_positions([127, 20_000]) == b"\x80\x01" + bytes([0xA2, 0x9B, 0x01])
    assert decode_positions(b"\x80\x01\xa2\x9b\x01") == [127, 20_000]


def test_positions_that_do_not_ascend_are_refused() -> None:
    try:
        encode_positions([4, 3])
    except ValueError as exc:
        assert "ascend" in str(exc)
    else:
        raise AssertionError("descending positions were encoded")


def test_the_full_text_fields_use_it_and_whoosh_reads_frequency_and_weight_from_it() -> None:
    schema = build_schema()
    for name in (TEXT_FIELD, "title"):
        fmt = schema[name].format
        assert isinstance(fmt, CompactPositions) and fmt.supports("positions")
        value = fmt.encode([2, 7, 40])
        assert fmt.decode_as("positions", value) == [2, 7, 40]
        assert fmt.decode_as("frequency", value) == 3 and fmt.decode_as("weight", value) == 3.0
        assert fmt.decode_as("position_boosts", value) == [(2, 1), (7, 1), (40, 1)]


def test_a_block_of_positions_takes_two_thirds_of_whooshs_own_format() -> None:
    """One block's values as Whoosh's posting writer stores them (a pickled,
    compressed tuple), news-like: most postings at one position (Reuters'
    text postings, ids and weights included: 13.2 -> 9.5 MB a segment)."""
    lists = [[(k * 37) % 300] if k % 3 else [(k * 37) % 300, (k * 37) % 300 + 5 + k % 9] for k in range(128)]

    def block(fmt: formats.Format) -> int:
        return len(zlib.compress(pickle.dumps(tuple(fmt.encode(p) for p in lists), 2), 3))

    assert block(CompactPositions()) < 0.7 * block(formats.Positions())  # 969 against 1,481 bytes


def test_raw_phrase_queries_run_on_whooshs_postings(tmp_path: Path) -> None:
    from search import build_index, open_index

    folder = tmp_path / "records"
    folder.mkdir()
    words = " ".join(f"w{n}" for n in range(300))  # positions past 127: two-byte varints
    for name, body in (("a.md", f"{words} cocoa exports rose"), ("b.md", f"{words} exports cocoa rose")):
        (folder / name).write_text(f"---\ntitle: {name}\n---\n\n{body}\n", "utf-8")
    build_index([folder], tmp_path / "index", procs=1)
    with open_index(tmp_path / "index") as ix:
        page = ix.search('"cocoa exports"', raw=True)
        assert [hit.title for hit in page.hits] == ["a.md"]
        assert [hit.title for hit in ix.search('text:"w250 w251 w252"', raw=True).hits] in (["a.md", "b.md"], ["b.md", "a.md"])


def test_a_pickle_names_the_loader_by_its_extension_code() -> None:
    """Two bytes (EXT1 and the code) in each block and inlined posting list,
    not the loader's module and name (45 bytes)."""
    from search.storage.positions import EXTENSION_CODE

    raw = pickle.dumps((encode_positions([5]),), 2)
    assert bytes([pickle.EXT1[0], EXTENSION_CODE]) in raw and b"positions" not in raw
    assert len(raw) <= 16  # naming the loader: some 60
