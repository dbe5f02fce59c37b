"""The bulk posting writer (search.storage.postings): the same documents
through it and through Whoosh 2.7.4's own SegmentWriter give byte-identical
segment files, in a first commit and in one that merges a segment with
deleted documents; the side-car it makes from its arrays is the one read
back from the segment."""

from __future__ import annotations

import gc
import itertools
from pathlib import Path
from typing import Any

import pytest
from whoosh.codec.whoosh3 import W3Segment
from whoosh.filedb.compound import CompoundStorage
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader
from whoosh.writing import PostingPool, SegmentWriter

from search.records import Limits, parse_record
from search.storage import postings, sidecar
from search.storage.postings import BLOCK, TermPool, _Sorted, decode_positions
from search.storage.schema import TEXT_FIELD, article_documents, build_schema
from search.storage.writers import PackedCodec, Writer, _BulkWriter

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def documents() -> list[dict[str, Any]]:
    """The seeds' documents, and made-up ones so that some terms have
    postings of several blocks (one of exactly two blocks), others one."""
    out: list[dict[str, Any]] = []
    for path in sorted(SEEDS.iterdir()):
        data = path.read_bytes()
        out.extend(article_documents(parse_record(data, path, Limits()), len(data), 0, "0" * 32))
    for n in range(3 * BLOCK + 5):
        words = ["harvest"] * (1 + n % 4) + [f"word{n}"] + (["sheaf"] if n < 2 * BLOCK else [])
        title = f"Harvest report {n}" if n % 3 else f"Crop {n}"
        out.append(dict(id=f"made-{n}", kind="article", path=f"/made/{n}.md", title=title, text=" ".join(words)))
    # A posting of 300 positions (300 bytes): too long to pack, so its block keeps Whoosh's tuple of values.
    out.append(dict(id="made-long", kind="article", path="/made/long.md", title="Long", text="harvest " * 300))
    return out


def build(folder: Path, writer_class: Any, monkeypatch: pytest.MonkeyPatch) -> FileStorage:
    """Two commits: all documents, then a third of them deleted and a few
    added, with the first segment merged into the second (add_reader).
    Segment ids are 1, 2, 3... in each build, so both builds' files have the same names."""
    monkeypatch.setattr(W3Segment, "_random_id", _counter())
    folder.mkdir()
    storage = FileStorage(str(folder), supports_mmap=False)
    ix = storage.create_index(build_schema())
    docs = documents()
    writer = writer_class(ix, codec=PackedCodec())
    for doc in docs:
        writer.add_document(**doc)
    writer.commit()
    writer = writer_class(ix, codec=PackedCodec())
    for docnum in range(0, len(docs), 3):
        writer.delete_document(docnum)
    for doc in docs[:7]:
        writer.add_document(**{**doc, "id": doc["id"] + "-again"})
    writer.commit(optimize=True)
    ix.close()
    return storage


class _Pool(PostingPool):  # type: ignore[misc]
    """Whoosh's pool, taking the str '' that Whoosh's reader gives as the value
    of an inlined posting without one (its own pool asserts bytes and fails
    on it: see test_incremental_runs_merge_segments_with_inlined_postings)."""

    def add(self, item: Any) -> None:
        super().add(item if item[4] != "" else (*item[:4], None))


class WhooshWriter(SegmentWriter):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = _Pool(self._tempstorage, self.newsegment)


def _counter() -> Any:
    counter = itertools.count(1)
    return classmethod(lambda cls, size=16: f"{next(counter):016d}")


def members(storage: FileStorage) -> dict[str, bytes]:
    """Every file of every segment (inside its compound file), and the tables of contents."""
    found: dict[str, bytes] = {}
    for name in sorted(storage.list()):
        if name.endswith(".seg"):
            compound = CompoundStorage(storage.open_file(name), use_mmap=False)
            for member in sorted(compound.list()):
                with compound.open_file(member) as handle:
                    found[member] = handle.read()
            compound.close()
        elif name.endswith(".toc"):
            found[name] = (Path(storage.folder) / name).read_bytes()
    return found


def test_the_bulk_writer_writes_the_segment_files_whoosh_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (A compound .seg file itself differs between any two Whoosh builds: its
    # directory records each member's modification time.  Its members do not.)
    whoosh = members(build(tmp_path / "whoosh", WhooshWriter, monkeypatch))
    bulk = members(build(tmp_path / "bulk", _BulkWriter, monkeypatch))
    assert sorted(bulk) == sorted(whoosh)
    assert any(name.endswith(".pst") for name in whoosh) and any(name.endswith(".trm") for name in whoosh)
    for name in whoosh:
        assert bulk[name] == whoosh[name], name


def test_terms_are_written_in_bulk_for_every_field_as_whoosh_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bulk term writer stands in for Whoosh's W3PostingsWriter, W3TermInfo
    # and OrderedHashWriter: it must be the path taken, for every field.
    bulk_fields: list[str] = []
    real = postings._write_terms

    def counted(fieldwriter: Any, *args: Any) -> None:
        bulk_fields.append(fieldwriter._fieldname)
        real(fieldwriter, *args)

    with monkeypatch.context() as patch:
        patch.setattr(postings, "_write_terms", counted)
        bulk = members(build(tmp_path / "bulk", _BulkWriter, patch))
    assert {"text", "title", "id", "parent", "date"} <= set(bulk_fields)
    with monkeypatch.context() as patch:
        patch.setattr(postings, "_bulk_terms_writable", lambda *_: False)
        through_whoosh = members(build(tmp_path / "whoosh-terms", _BulkWriter, patch))
    assert sorted(bulk) == sorted(through_whoosh)
    for name in bulk:
        assert bulk[name] == through_whoosh[name], name


def test_its_side_car_is_the_one_read_back_from_the_segment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = build(tmp_path / "index", Writer, monkeypatch)
    ix = storage.open_index()
    (segment,) = ix._segments()  # the merged one, with every posting of the first commit's live documents
    reader = SegmentReader(storage, ix.schema, segment)
    written = (tmp_path / "index" / sidecar.file_name(segment)).read_bytes()
    assert written == sidecar.encode(reader, segment.segment_id(), TEXT_FIELD)
    arrays = sidecar.SegmentArrays(written, segment.segment_id(), segment.doc_count_all())
    assert arrays.doc_frequency(b"harvest") == reader.doc_frequency(TEXT_FIELD, "harvest") > 2 * BLOCK
    reader.close()
    ix.close()


def test_a_new_segment_s_side_car_is_made_from_the_positions_analysis_gave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One commit, no merge: the pool keeps the positions and the side-car is
    # made from them, without decoding Whoosh's values; it is the one read back.
    decoded: list[int] = []
    real = postings.decode_positions

    def counted(values: Any) -> Any:
        decoded.append(len(values))
        return real(values)

    monkeypatch.setattr(postings, "decode_positions", counted)
    monkeypatch.setattr(W3Segment, "_random_id", _counter())
    (tmp_path / "index").mkdir()
    storage = FileStorage(str(tmp_path / "index"), supports_mmap=False)
    ix = storage.create_index(build_schema())
    writer = Writer(ix, codec=PackedCodec())
    for doc in documents():
        writer.add_document(**doc)
    writer.commit()
    assert decoded == []
    (segment,) = ix._segments()
    reader = SegmentReader(storage, ix.schema, segment)
    written = (tmp_path / "index" / sidecar.file_name(segment)).read_bytes()
    assert written == sidecar.encode(reader, segment.segment_id(), TEXT_FIELD)
    arrays = sidecar.SegmentArrays(written, segment.segment_id(), segment.doc_count_all())
    docs, offsets, positions = arrays.term_positions(b"harvest")
    assert offsets[-1] == positions.size > 2 * BLOCK
    reader.close()
    ix.close()


def test_the_pool_holds_no_object_the_garbage_collector_tracks(tmp_path: Path) -> None:
    # One a posting would set off full collections of the writing process's heap
    # (PackedPositions, a class of ours, is tracked; plain bytes are not).
    storage = FileStorage(str(tmp_path), supports_mmap=False)
    ix = storage.create_index(build_schema())
    writer = _BulkWriter(ix, codec=PackedCodec())
    try:
        for doc in documents():
            writer.add_document(**doc)
        values = [v for v in writer.pool.values if v is not None]
    finally:
        writer.cancel()
        ix.close()
    assert len(values) > 1000
    assert not any(gc.is_tracked(v) for v in values)


def test_the_pool_keeps_whoosh_s_order_of_postings() -> None:
    pool = TermPool()
    for item in [("title", b"b", 0, 1.0, None), ("text", b"b", 0, 2.0, b"x"), ("text", b"a", 1, 1.5, None)]:
        pool.add(item)
    pool.add(("text", b"b", 2, 1.0, b"y"))
    data = _Sorted(pool)
    assert data.fields == [("text", [b"a", b"b"]), ("title", [b"b"])]
    assert data.docs.tolist() == [1, 0, 2, 0] and data.weights.tolist() == [1.5, 2.0, 1.0, 1.0]
    assert data.values == [None, b"x", b"y", None] and data.starts == [0, 1, 3, 4]


def test_positions_decode_as_whoosh_decodes_them() -> None:
    from search.storage.schema import _encode_positions

    fmt = build_schema()[TEXT_FIELD].format

    lists = [[0], [4, 9, 30], [7], [0]]
    raw: list[bytes | None] = [_encode_positions(p) for p in lists] + [None]
    counts, positions = decode_positions(raw)
    decode = fmt.decoder("positions")
    assert counts == [len(p) for p in lists] + [0]
    assert positions == [q for value in raw if value for q in decode(value)] == [0, 4, 9, 30, 7, 0]


def test_incremental_runs_merge_segments_with_inlined_postings(tmp_path: Path) -> None:
    """Small segments are merged by the next commit (Whoosh's MERGE_SMALL),
    reading their postings back, where a posting list of one kept in the
    terms table has the str '' as its value: Whoosh's own pool failed on
    it with an AssertionError, so the third small incremental run of an
    index failed, and every run after it."""
    from search import build_index, open_index

    records = tmp_path / "records"
    records.mkdir()
    seeds = sorted(SEEDS.iterdir())
    for path in seeds[:3]:
        (records / path.name).write_bytes(path.read_bytes())
    build_index([records], tmp_path / "index")
    for path in seeds[3:9]:
        (records / path.name).write_bytes(path.read_bytes())
        report = build_index([records], tmp_path / "index")
        assert report.added == 1
    with open_index(tmp_path / "index") as ix:
        assert ix.stats().documents == report.documents
        for path in seeds[:9]:  # every record, the merged ones too, is found by its title
            title = parse_record(path.read_bytes(), path, Limits()).title
            assert str(records / path.name) in {hit.path for hit in ix.search(title, limit=10).hits}, title
