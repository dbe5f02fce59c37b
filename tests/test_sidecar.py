"""Side-car arrays (search.storage.sidecar): one per Whoosh segment, written at the
commit that publishes it, removed with it, holding exactly the segment's own
postings; a missing, truncated or foreign file is refused before it is
mapped and rebuilt from Whoosh's postings, with the same answers."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from search import build_index, open_index
from search.storage import sidecar
from search.indexing.check import check_index
from search.storage.schema import TEXT_FIELD
from search.storage.store import Store

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
QUERIES = ["facial recognition", "central bank rates", '"electric bus" manchester', "solar -storm", "rates"]


def leaves(reader: Any) -> list[Any]:
    return [reader] if reader.is_atomic() else [leaf for leaf, _ in reader.leaf_readers()]


def answers(index: Path) -> list[tuple[int, list[tuple[str, float]]]]:
    with open_index(index) as ix:
        return [(p.total, [(h.id, h.score) for h in p.hits]) for p in (ix.search(q, limit=20) for q in QUERIES)]


def test_each_segment_has_its_own_postings_as_arrays(churned_index: Path) -> None:
    gen, ix = Store(churned_index).open()
    with ix.reader() as reader:
        segments = leaves(reader)
        assert len(segments) > 1 and reader.has_deletions()  # premise: several segments, deletions
        # Exactly one side-car per live segment: merged-away segments took theirs with them.
        assert {p.name for p in gen.glob("*.arrays")} == {sidecar.file_name(s.segment()) for s in segments}
        for leaf in segments:
            arrays = sidecar.load(leaf, TEXT_FIELD)
            assert list(arrays.iter_terms()) == list(leaf.lexicon(TEXT_FIELD))
            for term in leaf.lexicon(TEXT_FIELD):
                m = leaf._terms.matcher(TEXT_FIELD, term, leaf.schema[TEXT_FIELD].format)  # deleted ones too
                whoosh = []
                while m.is_active():
                    whoosh.append((m.id(), m.weight(), m.value_as("positions")))
                    m.next()
                docs, weights = arrays.postings(term) or ([], [])
                _, offsets, positions = arrays.term_positions(term) or ([], [0], [])
                mine = [
                    (d, w, positions[offsets[i] : offsets[i + 1]].tolist())
                    for i, (d, w) in enumerate(zip(docs.tolist(), weights.tolist(), strict=True))
                ]
                assert mine == whoosh, term
            assert arrays.lengths.tobytes() == sidecar._lengths(leaf, TEXT_FIELD, leaf.doc_count_all())
        assert sidecar.problems(gen, reader, TEXT_FIELD) == []
    ix.close()
    assert check_index(churned_index).ok


def test_a_full_build_writes_them_in_its_new_generation(churned_index: Path) -> None:
    build_index([churned_index.parent / "records"], churned_index, full=True)
    gen, ix = Store(churned_index).open()
    with ix.reader() as reader:
        assert {p.name for p in gen.glob("*.arrays")} == {sidecar.file_name(s.segment()) for s in leaves(reader)}
        assert sidecar.problems(gen, reader, TEXT_FIELD) == []
    ix.close()


def _first_sidecar(index: Path) -> Path:
    gen = Store(index).current_dir()
    return sorted(gen.glob("*.arrays"))[0]


@pytest.mark.parametrize("damage", ["missing", "truncated", "foreign", "version", "disordered"])
def test_an_unusable_file_is_refused_and_rebuilt_with_the_same_answers(
    churned_index: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = answers(churned_index)
    target = _first_sidecar(churned_index)
    others = sorted(target.parent.glob("*.arrays"))
    if damage == "missing":
        target.unlink()
    elif damage == "truncated":
        data = target.read_bytes()
        target.write_bytes(data[: len(data) - 16])
    elif damage == "foreign":
        target.write_bytes(others[1].read_bytes())
    elif damage == "version":
        data = bytearray(target.read_bytes())
        data[8] = sidecar.FORMAT_VERSION + 1
        target.write_bytes(bytes(data))
    else:
        # The right size, but one term's postings said to start past the next term's.
        data = bytearray(target.read_bytes())
        terms, width = int.from_bytes(data[56:64], "little"), data[83]
        post_starts = sidecar.HEADER_SIZE + sidecar._align(width * (terms + 1))  # after term_starts
        at = post_starts + width * (terms // 2)
        later = int.from_bytes(data[at + width : at + 2 * width], "little")
        data[at : at + width] = (later + 1).to_bytes(width, "little")
        target.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="search.storage.sidecar"):
        assert answers(churned_index) == before
    assert "rebuilt from its postings" in caplog.text
    report = check_index(churned_index)
    assert not report.ok
    assert any(target.name in p.detail for p in report.problems)
    # The next commit writes it again.
    records = churned_index.parent / "records"
    (records / "new-record.md").write_text("---\ntitle: Fresh rates news\n---\nRates rose.\n", "utf-8")
    build_index([records], churned_index)
    assert check_index(churned_index).ok


def test_a_short_file_is_refused_before_it_is_mapped(tmp_path: Path) -> None:
    path = tmp_path / "MAIN_x.arrays"
    path.write_bytes(b"NSARRAY\0" + bytes(20))
    with pytest.raises(sidecar.StaleArrays, match="shorter than its header"):
        sidecar.open_mapped(path, "MAIN_x", 1)
    header = bytearray(sidecar.HEADER_SIZE)
    sidecar._HEADER.pack_into(
        header, 0, sidecar.MAGIC, sidecar.FORMAT_VERSION, sidecar.HEADER_SIZE, b"MAIN_x", 1, 0, 0, 0, 1, 1, 2, 4, 4, 4096, 0, 0
    )
    path.write_bytes(bytes(header))
    with pytest.raises(sidecar.StaleArrays, match="its header says 4096"):
        sidecar.open_mapped(path, "MAIN_x", 1)


def test_document_gaps_of_255_and_more_are_escaped_exactly(tmp_path: Path) -> None:
    """Document numbers are stored as byte gaps; a gap of 255 or more (a rare
    word in a large segment) goes to the escape array, and reads back exact."""
    from whoosh import fields, index

    schema = fields.Schema(text=fields.TEXT(phrase=True))
    ix = index.create_in(str(tmp_path), schema)
    writer = ix.writer()
    rare = {0, 254, 255, 509, 1300, 1301, 70_000}
    for n in range(70_001):
        words = ["common"] + (["rare", "rare"] if n in rare else []) + ([f"w{n % 600}"] if n % 7 == 0 else [])
        writer.add_document(text=" ".join(words))
    writer.commit()
    with ix.reader() as reader:
        arrays = sidecar.SegmentArrays(sidecar.encode(reader, "MAIN_x", TEXT_FIELD), "MAIN_x", reader.doc_count_all())
        assert arrays.escapes.size > 0  # premise: escapes were needed
        for term in reader.lexicon(TEXT_FIELD):
            docs, weights = arrays.postings(term) or ([], [])
            _, offsets, positions = arrays.term_positions(term) or ([], [0], [])
            m = sidecar.raw_matcher(reader, TEXT_FIELD, term)
            whoosh = []
            while m.is_active():
                whoosh.append((m.id(), m.weight(), m.value_as("positions")))
                m.next()
            mine = [
                (d, w, positions[offsets[i] : offsets[i + 1]].tolist())
                for i, (d, w) in enumerate(zip(docs.tolist(), weights.tolist(), strict=True))
            ]
            assert mine == whoosh, term
        assert arrays.postings(b"rare")[0].tolist() == sorted(rare)  # type: ignore[index]


def test_a_reindex_run_that_writes_nothing_does_not_load_numpy(tmp_path: Path) -> None:
    """numpy (about 0.1 s to import) is loaded where arrays are made: a
    periodic run with nothing changed writes no side-car and never needs it."""
    import subprocess
    import sys

    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    build_index([records], tmp_path / "index")
    code = (
        "import sys\n"
        "from search.indexing.indexer import build_index\n"
        "report = build_index([sys.argv[1]], sys.argv[2])\n"
        "assert report.added == report.updated == 0, report\n"
        "print('numpy' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(records), str(tmp_path / "index")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(("count", "width"), [(600, 2), (70_001, 4)])
def test_large_gaps_are_escaped_in_the_narrowest_width_that_holds_them(count: int, width: int) -> None:
    docs = [0, 300, 301, count - 1]
    data = sidecar.pack(
        "MAIN_x", count, [b"a", b"b"], docs + [5], [0, 4, 5], [1.0] * 5, [1] * 5, [0, 1, 2, 3, 4], bytes(count)
    )
    arrays = sidecar.SegmentArrays(data, "MAIN_x", count)
    assert arrays.escapes.dtype.itemsize == width and arrays.escapes.tolist() == [300, count - 302]
    assert arrays.docs_of(0).tolist() == docs and arrays.docs_of(1).tolist() == [5]


# -- a garbled side-car is damage (review s11, R2) ------------------------------------------------


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index_dir = tmp_path_factory.mktemp("garbled") / "index"
    build_index([SEEDS], index_dir)
    return index_dir


def _garbled(clean: Path, tmp_path: Path, section: str) -> Path:
    """A copy of the index whose side-car has every byte of `section` set to 254,
    its header and offset tables intact (so the file is mapped and used)."""
    index_dir = tmp_path / "index"
    shutil.copytree(clean, index_dir)
    (path,) = index_dir.glob("gen-*/*.arrays")
    data = bytearray(path.read_bytes())
    header = sidecar._HEADER.unpack_from(data, 0)
    (_, _, _, _, docs, terms, postings, term_bytes, width, count_width, pos_width, offset_width, esc_width, _, npos, nesc) = header
    layout = sidecar._Layout(terms, postings, term_bytes, docs, width, npos, count_width, pos_width, offset_width, nesc, esc_width)
    offset, size = layout.sections()[section]
    data[offset : offset + size] = bytes([254]) * size
    path.write_bytes(bytes(data))
    return index_dir


@pytest.mark.parametrize("section", ["gaps", "counts"])
def test_a_garbled_side_car_is_damage_not_a_bug(seeds_index: Path, tmp_path: Path, section: str) -> None:
    """Garbled gaps (docnums past the segment) and position counts (more
    positions than the term has) are refused where the side-car is read,
    so the search says the index is damaged and to rebuild it, as check
    does, where numpy's IndexError in the engine was called a bug (exit 70)."""
    from typer.testing import CliRunner

    from search.cli.main import EXIT_BUG, app
    from search.errors import IndexCorruptError

    index_dir = _garbled(seeds_index, tmp_path, section)
    assert any(p.kind == "damaged" for p in check_index(index_dir).problems)
    with open_index(index_dir) as ix:
        with pytest.raises(IndexCorruptError):
            ix.search("market oil")
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, ["query", "market oil", "--index", str(index_dir)])
    assert result.exit_code == 1 and result.exit_code != EXIT_BUG, result.stderr
    assert "internal error" not in result.stderr
    assert "--full" in result.stderr
