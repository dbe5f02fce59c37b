"""Side-car arrays: each Whoosh segment's full-text postings as flat arrays.

Whoosh keeps postings in blocks of up to 128, each block two pickles and a
zlib stream; decoding them in Python was the floor of a query's cost (41% of
a Reuters query's time, sampled).  Beside every segment the writer puts one
file holding what BM25 needs of the full-text field, which a query reads as
numpy arrays over a read-only memory map: a query touches only the pages of
the terms it asks for.  Positions are there too, as the phrase check and the
proximity bonus need them for a few candidate documents per query, and
reading them from Whoosh's blocks (a zlib stream and two pickles per 128
postings, for one document) was 37% of a Reuters query's time.  The file is
kept small (some 8.3 bytes a posting with its positions on Reuters, against
Whoosh's 21 for the same postings): document numbers as byte-sized gaps (87%
of Reuters' gaps are under 255; a larger one is an escape into a u16 array,
u32 where one does not fit), offsets as u32 (u64 past 4 GiB).

File ``<segment id>.arrays`` (``MAIN_<segid>.arrays``), little-endian::

    offset size  field
    0      8     magic b"NSARRAY\\0"
    8      4     u32 format version (FORMAT_VERSION)
    12     4     u32 header size (HEADER_SIZE, 128)
    16     32    the Whoosh segment id, ASCII, NUL-padded ("MAIN_x7c...")
    48     8     u64 documents in the segment (deleted ones included)
    56     8     u64 terms T
    64     8     u64 postings P
    72     8     u64 bytes of term text B
    80     1     u8 weight width: 1 (u8), 2 (u16) or 4 (f32)
    81     1     u8 position-count width: 1 (u8), 2 (u16) or 4 (u32)
    82     1     u8 position width: 2 (u16) or 4 (u32)
    83     1     u8 offset width: 4 (u32) or 8 (u64), of the four *_starts tables
    84     1     u8 escape width: 2 (u16) or 4 (u32)
    85     3     zero
    88     8     u64 total file size (checked against the file before mapping)
    96     8     u64 positions N
    104    8     u64 escaped gaps E
    112    16    zero
    then, each section starting on an 8-byte boundary, in this order:
    term_starts  off[T+1]  offsets of each term's text in `terms`
    post_starts  off[T+1]  offsets of each term's postings in `gaps`/`weights`
    lengths      u8[docs]  Whoosh's byte-quantised field length of each document
    terms        B bytes   the field's terms, UTF-8, in Whoosh's (byte) order
    gaps         u8[P]     segment-local document numbers, ascending per term,
                           as gaps: the first from 0, each next from the one
                           before; 255 means the gap is the next of `escapes`
    esc_starts   off[T+1]  offsets of each term's escaped gaps in `escapes`
    escapes      [E]       the gaps of 255 or more, in posting order (u16
                           when the segment's largest fits, else u32)
    weights      [P]       the weighted term frequency (Whoosh's posting
                           weight); stored as u8/u16 when every weight of the
                           segment is a whole number that fits, which is exact
                           (Whoosh keeps them as float32)
    pos_starts   off[T+1]  offsets of each term's positions in `positions`
    counts       [P]       positions of each posting (u8/u16/u32)
    positions    [N]       each posting's word positions, ascending, absolute
                           (u16 when the segment's largest fits, else u32)

Consistency with the segment: a segment's postings never change once it is
written (deletions are kept by Whoosh in its table of contents, and applied by
the reader), so neither does its side-car.  The writer creates it in the same
commit, before the table of contents that names the segment is written
(``SideCarCommit``), under a temporary name, fsynced and renamed into place;
Whoosh's own clean-up deletes it with its segment (the name matches Whoosh's
segment-file pattern).  A reader checks the magic, version, segment id,
document count and the file's size against the header before mapping it, so a
truncated file is refused rather than mapped (a read past the end of a mapped
file is SIGBUS, which kills the process).  A missing or refused file is
rebuilt in memory from Whoosh's own postings, with a warning in the log: slow
for that searcher, never a wrong answer.  ``search check`` reports it, and the
next writer's commit writes it again.
"""

from __future__ import annotations

import logging
import mmap
import os
import struct
import sys
from collections.abc import Iterable, Iterator
from itertools import chain
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search import atomic
from search.storage.segments import segment_readers

log = logging.getLogger(__name__)

MAGIC = b"NSARRAY\0"
FORMAT_VERSION = 4
HEADER_SIZE = 128
SUFFIX = ".arrays"
_HEADER = struct.Struct("<8sII32sQQQQBBBBB3xQQQ16x")
#: A document-number gap of this or more is stored in `escapes`.
ESCAPE = 255
assert _HEADER.size == HEADER_SIZE
# numpy is imported where arrays are made, not with this module: a reindex
# run that writes nothing (the writer imports this module) never loads it.
_WIDTHS: dict[int, str] = {1: "<u1", 2: "<u2", 4: "<f4"}
_UINTS: dict[int, str] = {1: "<u1", 2: "<u2", 4: "<u4"}


class StaleArrays(Exception):
    """A side-car file is missing, damaged or belongs to another segment."""


def file_name(segment: Any) -> str:
    return f"{segment.segment_id()}{SUFFIX}"


def _align(n: int) -> int:
    return (n + 7) & ~7


@dataclass(frozen=True)
class _Layout:
    terms: int
    postings: int
    term_bytes: int
    docs: int
    width: int
    positions: int = 0
    count_width: int = 1
    pos_width: int = 2
    offset_width: int = 4
    escapes: int = 0
    escape_width: int = 4

    def sections(self) -> dict[str, tuple[int, int]]:
        """Section name -> (offset, size in bytes)."""
        out: dict[str, tuple[int, int]] = {}
        at = HEADER_SIZE
        table = self.offset_width * (self.terms + 1)
        for name, size in (
            ("term_starts", table),
            ("post_starts", table),
            ("lengths", self.docs),
            ("terms", self.term_bytes),
            ("gaps", self.postings),
            ("esc_starts", table),
            ("escapes", self.escape_width * self.escapes),
            ("weights", self.width * self.postings),
            ("pos_starts", table),
            ("counts", self.count_width * self.postings),
            ("positions", self.pos_width * self.positions),
        ):
            out[name] = (at, size)
            at = _align(at + size)
        out["end"] = (at, 0)
        return out

    @property
    def size(self) -> int:
        return self.sections()["end"][0]


class SegmentArrays:
    """One segment's side-car, over a buffer (a memory map, or bytes built in memory)."""

    def __init__(self, buffer: Any, segment_id: str, doc_count: int) -> None:
        import numpy as np

        if len(buffer) < HEADER_SIZE:
            raise StaleArrays(f"{len(buffer)} bytes, shorter than its header")
        (
            magic, version, header_size, seg, docs, terms, postings, term_bytes,
            width, count_width, pos_width, offset_width, escape_width, size, npos, nesc,
        ) = _HEADER.unpack_from(buffer, 0)  # fmt: skip
        if magic != MAGIC or header_size != HEADER_SIZE:
            raise StaleArrays("not a side-car file")
        if version != FORMAT_VERSION:
            raise StaleArrays(f"format version {version}, this code reads {FORMAT_VERSION}")
        written_for = seg.rstrip(b"\0").decode("ascii", "replace")
        if written_for != segment_id:
            raise StaleArrays(f"written for segment {written_for}, not {segment_id}")
        if docs != doc_count:
            raise StaleArrays(f"{docs} documents, the segment has {doc_count}")
        if width not in _WIDTHS or count_width not in _UINTS or pos_width not in (2, 4) or offset_width not in (4, 8):
            raise StaleArrays(f"unknown widths {width}/{count_width}/{pos_width}/{offset_width}")
        if escape_width not in (2, 4):
            raise StaleArrays(f"unknown escape width {escape_width}")
        layout = _Layout(
            terms, postings, term_bytes, docs, width, npos, count_width, pos_width, offset_width, nesc, escape_width
        )
        if size != layout.size or len(buffer) != size:
            raise StaleArrays(f"{len(buffer)} bytes, its header says {size} (expected {layout.size})")
        self.buffer = buffer
        self.segment_id = segment_id
        self.doc_count = doc_count
        sec = layout.sections()

        def view(name: str, dtype: Any, count: int) -> Any:
            return np.frombuffer(buffer, dtype=dtype, count=count, offset=sec[name][0])

        offsets = _UINTS[offset_width]
        self.term_starts = view("term_starts", offsets, terms + 1)
        self.post_starts = view("post_starts", offsets, terms + 1)
        self.lengths = view("lengths", "<u1", docs)
        self.terms = memoryview(buffer)[sec["terms"][0] : sec["terms"][0] + term_bytes]
        self.gaps = view("gaps", "<u1", postings)
        self.esc_starts = view("esc_starts", offsets, terms + 1)
        self.escapes = view("escapes", _UINTS[escape_width], nesc)
        self.weights = view("weights", _WIDTHS[width], postings)
        self.pos_starts = view("pos_starts", offsets, terms + 1)
        self.counts = view("counts", _UINTS[count_width], postings)
        self.positions = view("positions", _UINTS[pos_width], npos)
        self.term_count = int(terms)
        if (
            int(self.term_starts[-1]) != term_bytes
            or int(self.post_starts[-1]) != postings
            or int(self.pos_starts[-1]) != npos
            or int(self.esc_starts[-1]) != nesc
        ):
            raise StaleArrays("its offset tables do not end where its sections do")
        for name in ("term_starts", "post_starts", "esc_starts", "pos_starts"):
            # Each term's range in a section starts where the one before ends: a
            # table of the right size with a damaged entry would otherwise read
            # another term's postings, or none, without an error (0.4 ms of CPU
            # for the twelve segments of 200,000 records).
            table = getattr(self, name)
            if int(table[0]) != 0 or not bool((table[1:] >= table[:-1]).all()):
                raise StaleArrays(f"its {name} table is out of order")
        # The binary search reads Python ints from the table and bytes from the
        # buffer: a numpy scalar and a memoryview's bytes() per step cost more
        # than the compare (a term's lookup 9.3 -> 4 us at Reuters' 31,000
        # terms a segment; a query makes one a word and segment).  The table
        # is read in place, as a memoryview of native ints where those are
        # its little-endian ones, or as a list when that is small.
        self._starts: Any = None
        if sys.byteorder == "little" and (offset_width, struct.calcsize("I"), struct.calcsize("Q")) in ((4, 4, 8), (8, 4, 8)):
            at = sec["term_starts"][0]
            table = memoryview(buffer)[at : at + offset_width * (terms + 1)]
            self._starts = table.cast("I") if offset_width == 4 else table.cast("Q")
        elif terms < 4096:
            self._starts = self.term_starts.tolist()
        self._term_bytes = buffer if isinstance(buffer, (bytes, mmap.mmap)) else None
        self._terms_at = sec["terms"][0]

    def find(self, term: bytes) -> int:
        """The term's index, or -1."""
        starts = self._starts if self._starts is not None else self.term_starts
        source, base = self._term_bytes, self._terms_at
        terms = self.terms
        lo, hi = 0, self.term_count
        while lo < hi:
            mid = (lo + hi) // 2
            if source is not None:
                found = source[base + starts[mid] : base + starts[mid + 1]]
            else:
                found = bytes(terms[int(starts[mid]) : int(starts[mid + 1])])
            if found < term:
                lo = mid + 1
            elif found > term:
                hi = mid
            else:
                return mid
        return -1

    def docs_of(self, i: int) -> Any:
        """The local docnums (int64, ascending) of the term at index `i`."""
        import numpy as np

        start, end = int(self.post_starts[i]), int(self.post_starts[i + 1])
        raw = self.gaps[start:end]
        gaps = raw.astype(np.int64)
        first, last = int(self.esc_starts[i]), int(self.esc_starts[i + 1])
        if last > first:
            gaps[raw == ESCAPE] = self.escapes[first:last]
        docs = gaps.cumsum(out=gaps)
        # Gaps are unsigned, so the last docnum bounds them all: garbled gaps
        # are damage here, not an index error in whatever reads the docnums.
        if len(docs) and docs[-1] >= self.doc_count:
            raise StaleArrays(f"term {i}'s postings reach document {int(docs[-1])}; the segment has {self.doc_count}")
        return docs

    def position_offsets(self, i: int) -> Any:
        """int64[postings + 1]: where each posting's positions begin among
        the term's positions (the running sum of its counts, from 0); their
        total must be the term's positions, or the counts are damaged."""
        import numpy as np

        begin, end = int(self.post_starts[i]), int(self.post_starts[i + 1])
        offsets = np.zeros(end - begin + 1, dtype=np.int64)
        self.counts[begin:end].cumsum(out=offsets[1:])
        held = int(self.pos_starts[i + 1]) - int(self.pos_starts[i])
        if int(offsets[-1]) != held:
            raise StaleArrays(f"term {i}'s position counts add up to {int(offsets[-1])}, its positions are {held}")
        return offsets

    def postings(self, term: bytes) -> tuple[Any, Any] | None:
        """(local docnums, weights) of `term`, or None when the segment lacks it."""
        i = self.find(term)
        if i < 0:
            return None
        start, end = int(self.post_starts[i]), int(self.post_starts[i + 1])
        return self.docs_of(i), self.weights[start:end]

    def term_positions(self, term: bytes) -> tuple[Any, Any, Any] | None:
        """(local docnums, offsets of each posting's positions: one more than
        the postings, positions) of `term`, or None when the segment lacks it."""
        i = self.find(term)
        if i < 0:
            return None
        offsets = self.position_offsets(i)
        first = int(self.pos_starts[i])
        return self.docs_of(i), offsets, self.positions[first : first + int(offsets[-1])]

    def doc_frequency(self, term: bytes) -> int:
        i = self.find(term)
        return 0 if i < 0 else int(self.post_starts[i + 1] - self.post_starts[i])

    def iter_terms(self) -> Iterable[bytes]:
        starts = self.term_starts.tolist()
        for i in range(self.term_count):
            yield bytes(self.terms[starts[i] : starts[i + 1]])


# -- building from Whoosh's postings -----------------------------------------------------


def _term_blocks(reader: Any, field: str, term: bytes, decode: Any) -> Iterator[tuple[Any, Any, list[list[int]]]]:
    """A term's postings as (ids, weights, positions of each) a block at a time,
    deleted documents' too; a posting list Whoosh kept inline in its term
    table (a short list, see search.storage.writers.INLINE_LIMIT) comes as one
    block."""
    m = raw_matcher(reader, field, term)
    if not hasattr(m, "_read_ids"):  # an inlined list: Whoosh's ListMatcher
        ids, weights, values = [], [], []
        while m.is_active():
            ids.append(m.id())
            weights.append(m.weight())
            values.append(decode(m.value()))
            m.next()
        yield ids, weights, values
        return
    while m.is_active():
        m._read_ids()
        m._read_weights()
        m._read_values()
        yield m._ids, m._weights, [decode(value) for value in m._values]
        m._next_block()


class _Growing:
    """A numpy array appended to in place, doubling when full: what `encode`
    gathers a whole segment's postings into, in the file's own narrow types,
    rather than as a list of small int64 arrays concatenated at the end (some
    six times the file's size at the peak: 1.33 GB for a segment of 100,000
    generated records, whose side-car is 71 MB)."""

    def __init__(self, dtype: str, capacity: int = 1 << 16) -> None:
        import numpy as np

        self.data = np.empty(capacity, dtype)
        self.size = 0

    def extend(self, values: Any) -> None:
        import numpy as np

        end = self.size + len(values)
        if end > self.data.size:
            grown = np.empty(max(end, 2 * self.data.size), self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = values
        self.size = end

    def array(self) -> Any:
        return self.data[: self.size]


def encode(reader: Any, segment_id: str, field: str) -> bytes:
    """A side-car file's bytes, from one segment reader's postings of `field`."""
    import numpy as np

    count = reader.doc_count_all()
    terms: list[bytes] = []
    docs, weights, counts = _Growing("<i4"), _Growing("<f4"), _Growing("<u4")
    positions = _Growing("<u4")
    post_starts = [0]
    if field in reader.schema.names() and count:
        decode = reader.schema[field].format.decoder("positions")
        for term in reader.lexicon(field):
            for ids, block_weights, decoded in _term_blocks(reader, field, term, decode):
                docs.extend(ids)
                weights.extend(block_weights)
                block_counts = [len(p) for p in decoded]
                counts.extend(block_counts)
                positions.extend(np.fromiter(chain.from_iterable(decoded), dtype="<u4", count=sum(block_counts)))
            terms.append(term)
            post_starts.append(docs.size)
    return pack(
        segment_id,
        count,
        terms,
        docs.array(),
        post_starts,
        weights.array(),
        counts.array(),
        positions.array(),
        _lengths(reader, field, count),
    )


def pack(
    segment_id: str,
    count: int,
    terms: list[bytes],
    docs: Any,
    post_starts: Any,
    weights: Any,
    counts: Any,
    positions: Any,
    lengths: bytes,
) -> bytes:
    """A side-car file's bytes from a segment's postings of the field: its
    `terms` in byte order; for each term's postings (from ``post_starts[i]``
    to ``post_starts[i + 1]``) their document numbers, ascending, weights and
    counts of positions; all positions in posting order; each document's
    length byte.  ``encode`` gathers these from a segment reader, the bulk
    posting writer (search.storage.postings) from the arrays it wrote the
    segment from; either way the same postings make the same bytes."""
    import numpy as np

    # Integer arrays keep their own (narrow) types: a segment's postings are
    # the large part of a build's or a merge's memory, so no int64 copies.
    docs, counts, positions = _integers(docs), _integers(counts), _integers(positions)
    starts = np.asarray(post_starts, dtype=np.int64)
    total = int(starts[-1])
    npos = int(positions.size)
    cumulative = np.zeros(counts.size + 1, np.int64)
    np.cumsum(counts, out=cumulative[1:])
    pos_starts = cumulative[starts]
    del cumulative
    # Gaps: each posting's docnum less the one before it in its term, the first from 0.
    gaps = np.empty_like(docs)
    gaps[:1] = docs[:1]
    np.subtract(docs[1:], docs[:-1], out=gaps[1:])
    firsts = starts[:-1][starts[:-1] < starts[1:]]
    gaps[firsts] = docs[firsts]
    escaped = gaps >= ESCAPE
    escapes = gaps[escaped]
    esc_starts = np.concatenate(([0], np.cumsum(escaped, dtype=np.int64)))[starts]
    del escaped
    if escapes.size and int(escapes.max()) >= 1 << 32:
        raise ValueError("a document-number gap does not fit in 32 bits")
    stored_gaps = np.minimum(gaps, ESCAPE).astype("<u1")  # 255 where the gap is escaped
    del gaps
    weights = np.asarray(weights).astype("<f4", copy=False)
    width = 4
    if weights.size == 0 or np.array_equal(weights, np.floor(weights)):
        top = float(weights.max()) if weights.size else 0.0
        if 0 <= float(weights.min() if weights.size else 0.0) and top <= 255:
            width = 1
        elif 0 <= float(weights.min()) and top <= 65535:
            width = 2
    stored = weights.astype(_WIDTHS[width])
    count_width = _uint_width(int(counts.max()) if counts.size else 0, (1, 2, 4))
    pos_width = _uint_width(int(positions.max()) if positions.size else 0, (2, 4))
    term_blob = b"".join(terms)
    term_starts = np.zeros(len(terms) + 1, np.int64)
    if terms:
        np.cumsum([len(t) for t in terms], out=term_starts[1:])
    offset_width = _uint_width(max(len(term_blob), total, npos, int(escapes.size)), (4, 8))
    escape_width = _uint_width(int(escapes.max()) if escapes.size else 0, (2, 4))
    layout = _Layout(
        len(terms), total, len(term_blob), count, width, npos, count_width, pos_width, offset_width,
        int(escapes.size), escape_width,
    )  # fmt: skip
    out = bytearray(layout.size)
    _HEADER.pack_into(
        out,
        0,
        MAGIC,
        FORMAT_VERSION,
        HEADER_SIZE,
        segment_id.encode("ascii"),
        count,
        len(terms),
        total,
        len(term_blob),
        width,
        count_width,
        pos_width,
        offset_width,
        escape_width,
        layout.size,
        npos,
        int(escapes.size),
    )
    sec = layout.sections()
    for name, data in (("lengths", lengths), ("terms", term_blob)):
        at, size = sec[name]
        assert len(data) == size, name
        out[at : at + size] = data
    offsets = _UINTS[offset_width]
    for name, values, dtype in (
        ("term_starts", term_starts, offsets),
        ("post_starts", starts, offsets),
        ("gaps", stored_gaps, "<u1"),
        ("esc_starts", esc_starts, offsets),
        ("escapes", escapes, _UINTS[escape_width]),
        ("weights", stored, _WIDTHS[width]),
        ("pos_starts", pos_starts, offsets),
        ("counts", counts, _UINTS[count_width]),
        ("positions", positions, _UINTS[pos_width]),
    ):
        at, size = sec[name]
        assert len(values) * np.dtype(dtype).itemsize == size, name
        if size:
            np.frombuffer(out, dtype=dtype, count=len(values), offset=at)[:] = values  # in place, no copy
    return bytes(out)


def _integers(values: Any) -> Any:
    """`values` as a numpy integer array, in its own type if it is one already."""
    import numpy as np

    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values
    return np.asarray(values, dtype=np.int64)


def _uint_width(largest: int, widths: tuple[int, ...]) -> int:
    for width in widths:
        if largest < 1 << (8 * width):
            return width
    raise ValueError(f"{largest} does not fit in 32 bits")


def raw_matcher(reader: Any, field: str, term: bytes) -> Any:
    """A segment's matcher over every posting of a term, deleted documents'
    too (SegmentReader.postings wraps it in a filter that has already skipped
    past leading deleted ones, whole blocks of them at times)."""
    return reader._terms.matcher(field, term, reader.schema[field].format)


def field_lengths(reader: Any, field: str, count: int) -> bytes:
    """Whoosh's length byte of every document of a segment in `field` (0 where it has none)."""
    return _lengths(reader, field, count)


def _lengths(reader: Any, field: str, count: int) -> bytes:
    """Whoosh's length byte of every document (0 where it has none)."""
    perdoc = getattr(reader, "_perdoc", None)
    raw = b""
    if perdoc is not None and count:
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN

        column = perdoc._cached_reader(f"_{field}_len", LENGTHS_COLUMN)
        if column is not None:
            raw = column._dbfile.get(column._basepos, column._count)
    return raw[:count].ljust(count, b"\0")


def write_bytes(storage: Any, segment: Any, data: bytes) -> Path | None:
    """Write a side-car made elsewhere (the bulk posting writer) beside
    `segment` in `storage`'s folder, atomically; None if it has no folder."""
    folder = getattr(storage, "folder", None)
    if folder is None:
        return None
    final = Path(folder) / file_name(segment)
    atomic.replace_file(final, data, sync_dir=False)
    return final


def write(folder: str | os.PathLike[str], reader: Any, segment: Any, field: str) -> Path:
    """Write the side-car of `segment` (read through `reader`) into `folder`, atomically."""
    data = encode(reader, segment.segment_id(), field)
    final = Path(folder) / file_name(segment)
    # The commit makes the folder durable; a stray NAME.PID.tmp is swept by Store.leftovers.
    atomic.replace_file(final, data, sync_dir=False)
    return final


def open_mapped(path: Path, segment_id: str, doc_count: int) -> SegmentArrays:
    """Map and validate a side-car file; StaleArrays when it cannot be used."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError as exc:
        raise StaleArrays("missing") from exc
    except OSError as exc:
        raise StaleArrays(f"unreadable: {exc}") from exc
    try:
        size = os.fstat(fd).st_size
        if size < HEADER_SIZE:
            raise StaleArrays(f"{size} bytes, shorter than its header")
        header = os.pread(fd, HEADER_SIZE, 0)
        declared = _HEADER.unpack_from(header, 0)[13]
        if declared != size:
            raise StaleArrays(f"{size} bytes, its header says {declared}")
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    return SegmentArrays(mapped, segment_id, doc_count)


def folder_of(reader: Any) -> Path | None:
    """The folder a Whoosh segment reader's files are in (None if not on disk)."""
    storage = reader.storage() if callable(getattr(reader, "storage", None)) else None
    storage = getattr(storage, "b", storage)  # a compound segment reads through an overlay
    folder = getattr(storage, "folder", None)
    return Path(folder) if folder else None


def load(reader: Any, field: str) -> SegmentArrays:
    """The side-car of one segment reader: mapped from disk when it is there
    and matches the segment; otherwise rebuilt in memory from the postings."""
    segment = reader.segment()
    segment_id, count = segment.segment_id(), reader.doc_count_all()
    folder = folder_of(reader)
    reason = "the segment is not on disk"
    if folder is not None:
        try:
            return open_mapped(folder / file_name(segment), segment_id, count)
        except StaleArrays as exc:
            reason = str(exc)
    log.warning("side-car arrays of segment %s unusable (%s): rebuilt from its postings", segment_id, reason)
    return SegmentArrays(encode(reader, segment_id, field), segment_id, count)


def problems(folder: Path, reader: Any, field: str) -> list[str]:
    """What is wrong with the side-cars of a (multi-)reader's segments: each
    one must exist, match its segment and hold the segment's own postings."""
    found: list[str] = []
    for leaf, _offset in segment_readers(reader):
        segment = leaf.segment() if callable(getattr(leaf, "segment", None)) else None
        if segment is None:
            continue  # an empty index has no segment (Whoosh's EmptyReader)
        path = folder / file_name(segment)
        try:
            arrays = open_mapped(path, segment.segment_id(), leaf.doc_count_all())
        except StaleArrays as exc:
            found.append(f"side-car {path.name}: {exc}")
            continue
        if memoryview(arrays.buffer) != memoryview(encode(leaf, segment.segment_id(), field)):
            found.append(f"side-car {path.name} does not hold its segment's postings")
    return found


# -- the writer's hook ------------------------------------------------------------------------


def write_missing(storage: Any, schema: Any, segments: Iterable[Any], field: str) -> int:
    """Before a commit's table of contents is written: give every segment it
    names a valid side-car (new segments, merged ones, and any whose file is
    missing or refused).  Returns how many were written."""
    from whoosh.reading import SegmentReader

    folder = getattr(storage, "folder", None)
    if folder is None:
        return 0
    written = 0
    for segment in segments:
        path = Path(folder) / file_name(segment)
        try:
            open_mapped(path, segment.segment_id(), segment.doc_count_all())
            continue
        except StaleArrays as exc:
            if path.exists():
                log.warning("rewriting side-car %s: %s", path.name, exc)
        reader = SegmentReader(storage, schema, segment)
        try:
            write(folder, reader, segment, field)
        finally:
            reader.close()
        written += 1
    return written


class SideCarCommit:
    """Mixed into a Whoosh writer: side-cars are written at its commit, after
    the segments and before the table of contents that publishes them."""

    storage: Any
    schema: Any

    def _commit_toc(self, segments: list[Any]) -> None:
        from search.storage.schema import TEXT_FIELD

        write_missing(self.storage, self.schema, segments, TEXT_FIELD)
        super()._commit_toc(segments)  # type: ignore[misc]
