"""Whoosh's posting lists written from flat arrays, 128 postings at a time.

Whoosh's own writer sends every posting through its ``PostingPool``: one
tuple per posting (some 150 bytes), spilled to sorted runs on disk whenever
the pool reaches ``limitmb``, merged back at the flush and handed to the
postings writer one ``add_posting`` call at a time, with a field-length
lookup per posting.  Profiled on 4,000 Reuters records in one process that
was about a third of a build's time (the pool's ``add`` 1.35 s, the flush's
per-posting loop and calls 6 s, of 35 s), and the side-car arrays then read
the new segment's postings back (4.1 s more).

``TermPool`` takes the pool's place.  A posting is four appends to flat
arrays (term id ``u32``, document number ``u32``, weight ``f64``, a
reference to its encoded value), 24 bytes instead of a tuple, so nothing is
spilled.  At the flush the postings are put in Whoosh's order (field, term
bytes, document number) by one stable numpy sort, and each term's postings
go to Whoosh's own block writer a block (128) at a time, with each block's
statistics (largest weight, shortest and longest field length) computed for
all blocks at once.  The segment files written are byte for byte the ones
Whoosh's writer writes for the same documents (a test builds both), and the
full-text field's side-car is made from the same arrays instead of being
read back from the segment (``search.storage.sidecar.pack``).

Whoosh 2.7.4's block writer is used through its private attributes
(``_ids``, ``_weights``, ``_values``, ``_minlength``, ``_maxlength``,
``_maxweight``, ``_write_block``): the version is pinned in pyproject.toml
for that reason, and the byte-identity test is what catches a change.
"""

from __future__ import annotations

import pickle
from array import array
from typing import Any

from whoosh.writing import SegmentWriter

#: Whoosh's postings per block (W3Codec's blocklimit).
BLOCK = 128

assert array("I").itemsize == 4, "document numbers and term ids are stored as 32-bit"


class TermPool:
    """The postings of the segment being written, as flat arrays.

    Also answers what Whoosh asks of its PostingPool (``add``,
    ``fieldnames``, ``cleanup``), for the postings of merged segments
    (``add_reader``) and for Whoosh's sub-writer task."""

    terms: dict[str, dict[bytes, int]]  # field -> term bytes -> term id
    tids: array[int]
    docs: array[int]
    weights: array[float]
    values: list[bytes | None]
    fieldnames: set[str]
    term_count: int

    def __init__(self) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Empty the pool (Whoosh calls it when the segment is closed)."""
        self.terms = {}
        self.tids = array("I")
        self.docs = array("I")
        self.weights = array("d")
        self.values = []
        self.fieldnames = set()
        self.term_count = 0

    def field_terms(self, fieldname: str) -> dict[bytes, int]:
        found = self.terms.get(fieldname)
        if found is None:
            found = self.terms[fieldname] = {}
            self.fieldnames.add(fieldname)
        return found

    def add(self, item: tuple[str, bytes, int, float, bytes | None]) -> None:
        """One posting, as Whoosh's add_document and add_reader give it:
        (field, term, docnum, weight, value)."""
        fieldname, tbytes, docnum, weight, vbytes = item
        terms = self.terms.get(fieldname)
        if terms is None:
            terms = self.field_terms(fieldname)
        tid = terms.get(tbytes)
        if tid is None:
            tid = terms[tbytes] = self.term_count
            self.term_count += 1
        self.tids.append(tid)
        self.docs.append(docnum)
        self.weights.append(weight)
        self.values.append(vbytes)

    def __len__(self) -> int:
        return len(self.docs)

    def nbytes(self) -> int:
        """About what the pool holds: 24 bytes a posting, some 120 a term."""
        return 24 * len(self.docs) + 120 * self.term_count


class _Sorted:
    """A pool's postings in Whoosh's order, as arrays, and where each term starts."""

    def __init__(self, pool: TermPool) -> None:
        import numpy as np

        # Term ids renumbered in (field, term bytes) order: then one sort by
        # that rank, stable so each term's document numbers keep the order
        # they were added in (ascending), puts every posting in its place.
        self.fields: list[tuple[str, list[bytes]]] = []
        rank = np.zeros(pool.term_count, dtype=np.uint32)
        at = 0
        for fieldname in sorted(pool.terms):
            terms = pool.terms[fieldname]
            ordered = sorted(terms)
            rank[np.fromiter((terms[t] for t in ordered), dtype=np.int64, count=len(ordered))] = np.arange(
                at, at + len(ordered), dtype=np.uint32
            )
            self.fields.append((fieldname, ordered))
            at += len(ordered)
        keys = rank[np.frombuffer(pool.tids, dtype=np.uint32)] if len(pool) else np.zeros(0, np.uint32)
        docs = np.frombuffer(pool.docs, dtype=np.uint32) if len(pool) else np.zeros(0, np.uint32)
        order = np.argsort(keys, kind="stable")
        keys, docs = keys[order], docs[order]
        if docs.size > 1:
            same_term = keys[1:] == keys[:-1]
            if not bool(np.all(docs[1:][same_term] > docs[:-1][same_term])):
                # Not added in document order (a spelling posting, say): Whoosh's own order.
                added = np.frombuffer(pool.docs, dtype=np.uint32)
                order = np.lexsort((added, rank[np.frombuffer(pool.tids, dtype=np.uint32)]))
                keys, docs = keys[order], docs[order]
        self.docs = docs
        self.weights = (np.frombuffer(pool.weights, dtype=np.float64) if len(pool) else np.zeros(0))[order]
        values = pool.values
        self.values = [values[i] for i in order.tolist()]
        self.starts = np.searchsorted(keys, np.arange(at + 1, dtype=np.uint32)).tolist()


def _length_table() -> Any:
    """Whoosh's field length of each length byte, 0 for 0 (doc_field_length's default)."""
    import numpy as np
    from whoosh.util.numeric import byte_to_length

    table = np.array([byte_to_length(b) for b in range(256)], dtype=np.int64)
    table[0] = 0
    return table


def length_bytes(perdoc: Any, fieldname: str, count: int) -> bytes:
    """The length byte of each of `count` documents (0 where a field has none)."""
    raw = b""
    if perdoc is not None and count:
        from whoosh.codec.whoosh3 import LENGTHS_COLUMN

        column = perdoc._cached_reader(f"_{fieldname}_len", LENGTHS_COLUMN)
        if column is not None:
            raw = column._dbfile.get(column._basepos, column._count)
    return raw[:count].ljust(count, b"\0")


def write_postings(fieldwriter: Any, schema: Any, perdoc: Any, count: int, pool: TermPool) -> _Sorted:
    """Write `pool`'s postings through `fieldwriter` (a W3FieldWriter) as
    Whoosh's add_postings would, block by block.  `perdoc` reads the
    segment's field lengths (None when the codec keeps none)."""
    import numpy as np

    data = _Sorted(pool)
    table = _length_table()
    docs_all = array("I", data.docs.astype(np.uint32).tobytes())
    weights32 = array("f", data.weights.astype(np.float32).tobytes())
    values_all = data.values
    term_index = 0
    for fieldname, terms in data.fields:
        fieldobj = schema[fieldname]
        fieldwriter.start_field(fieldname, fieldobj)
        postwriter = fieldwriter._postwriter
        first, last = data.starts[term_index], data.starts[term_index + len(terms)]
        lengths = table[np.frombuffer(length_bytes(perdoc, fieldname, count), dtype=np.uint8)] if count else table[:0]
        # Each block's statistics, for every block of the field at once.
        starts = np.asarray(data.starts[term_index : term_index + len(terms) + 1], dtype=np.int64)
        sizes = np.diff(starts)
        nblocks = (sizes + BLOCK - 1) // BLOCK
        within = np.arange(int(nblocks.sum()), dtype=np.int64) - np.repeat(np.cumsum(nblocks) - nblocks, nblocks)
        block_starts = np.repeat(starts[:-1], nblocks) + within * BLOCK
        block_ends = np.minimum(block_starts + BLOCK, np.repeat(starts[1:], nblocks))
        if block_starts.size:
            post_lengths = lengths[data.docs[first:last].astype(np.int64)]
            rel = block_starts - first
            max_weight = np.maximum.reduceat(data.weights[first:last], rel).tolist()
            max_length = np.maximum.reduceat(post_lengths, rel).tolist()
            nonzero = np.where(post_lengths > 0, post_lengths, np.iinfo(np.int64).max)
            min_length = np.minimum.reduceat(nonzero, rel).tolist()
        bounds = zip(block_starts.tolist(), block_ends.tolist(), strict=True)
        block = 0
        for tbytes, n in zip(terms, nblocks.tolist(), strict=True):
            fieldwriter.start_term(tbytes)
            for k in range(n):
                s, e = next(bounds)
                postwriter._ids = docs_all[s:e]
                postwriter._weights = weights32[s:e]
                postwriter._values = [v for v in values_all[s:e] if v]
                weight = max_weight[block]
                postwriter._maxweight = weight if weight > 0 else 0
                postwriter._maxlength = max_length[block]
                shortest = min_length[block]
                postwriter._minlength = None if shortest == np.iinfo(np.int64).max else shortest
                block += 1
                if k < n - 1:
                    postwriter._write_block()
            fieldwriter.finish_term()
        fieldwriter.finish_field()
        term_index += len(terms)
    return data


def decode_positions(values: list[bytes | None]) -> tuple[list[int], list[int]]:
    """Each posting's count of positions and all positions, from Whoosh's
    ``Positions`` values (a count, then pickled deltas).  Most values are one
    position, shared, so decoding is remembered by value."""
    seen: dict[bytes, list[int]] = {}
    counts: list[int] = []
    positions: list[int] = []
    loads = pickle.loads
    for value in values:
        if not value:
            counts.append(0)
            continue
        found = seen.get(value)
        if found is None:
            raw = value if value.endswith(b".") else value + b"."
            at = 0
            found = []
            for delta in loads(raw[4:]):
                at += delta
                found.append(at)
            seen[value] = found
        counts.append(len(found))
        positions.extend(found)
    return counts, positions


class BulkWriting:
    """Mixed into a Whoosh SegmentWriter: Whoosh's add_document and
    add_reader hand their postings to a TermPool, which is written from its
    arrays at the flush; with `sidecar_field` set, that field's side-car is
    made from the same arrays and written once the segment is assembled."""

    pool: Any
    perdocwriter: Any
    fieldwriter: Any
    schema: Any
    codec: Any
    storage: Any
    docnum: int

    sidecar_field: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = TermPool()
        self._sidecar: bytes | None = None
        self._whoosh_add = any(f.separate_spelling() or f.vector for _, f in self.schema.items())
        # Whoosh's limitmb bounded its pool by spilling runs to disk; this pool is
        # never spilled, so the writer's caller ends the segment there (pool_full).
        self.pool_limit = int(kwargs.get("limitmb", 128)) * 1024 * 1024

    def add_document(self, **fields: Any) -> None:
        """Whoosh 2.7.4's SegmentWriter.add_document, with each posting added
        to the pool's arrays here rather than as a tuple through a method
        call (TermPool.add): the same postings in the same order, and a
        sixth less of add_document's time outside analysis.  A schema with
        separate spelling fields or term vectors (not this project's) takes
        Whoosh's own method."""
        if self._whoosh_add:
            return super().add_document(**fields)  # type: ignore[misc,no-any-return]
        self._check_state()  # type: ignore[attr-defined]
        perdocwriter = self.perdocwriter
        schema = self.schema
        docnum = self.docnum
        pool = self.pool
        add_tid, add_doc, add_weight, add_value = pool.tids.append, pool.docs.append, pool.weights.append, pool.values.append
        docboost = self._doc_boost(fields)  # type: ignore[attr-defined]
        fieldnames = sorted([name for name in fields if not name.startswith("_")])
        self._check_fields(schema, fieldnames)  # type: ignore[attr-defined]
        perdocwriter.start_doc(docnum)
        for fieldname in fieldnames:
            value = fields.get(fieldname)
            if value is None:
                continue
            field = schema[fieldname]
            length = 0
            if field.indexed:
                fieldboost = self._field_boost(fields, fieldname, docboost)  # type: ignore[attr-defined]
                scorable = field.scorable
                terms = pool.terms.get(fieldname)
                for tbytes, freq, weight, vbytes in field.index(value):
                    if scorable:
                        length += freq
                    if terms is None:
                        terms = pool.field_terms(fieldname)
                    tid = terms.get(tbytes)
                    if tid is None:
                        tid = terms[tbytes] = pool.term_count
                        pool.term_count += 1
                    add_tid(tid)
                    add_doc(docnum)
                    add_weight(weight * fieldboost)
                    add_value(vbytes)
            customval = fields.get(f"_stored_{fieldname}", value)
            perdocwriter.add_field(fieldname, field, customval if field.stored else None, length)
            column = field.column_type
            if column and customval is not None:
                perdocwriter.add_column_value(fieldname, column, field.to_column_value(customval))
        perdocwriter.finish_doc()
        self._added = True
        self.docnum += 1

    def pool_full(self) -> bool:
        """Whether the postings held reach ``limitmb``: time to end the segment."""
        return bool(self.pool.nbytes() >= self.pool_limit)

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        pdr = self.per_document_reader() if self.codec.length_stats else None  # type: ignore[attr-defined]
        try:
            data = write_postings(self.fieldwriter, self.schema, pdr, self.docnum, self.pool)
            self.fieldwriter.close()
            if self.sidecar_field is not None:
                self._sidecar = self._make_sidecar(data, pdr)
        finally:
            if pdr:
                pdr.close()

    def _make_sidecar(self, data: _Sorted, pdr: Any) -> bytes:
        from search.storage import sidecar

        field = self.sidecar_field
        segment = self.get_segment()  # type: ignore[attr-defined]
        at = 0
        for fieldname, terms in data.fields:
            if fieldname == field:
                first, last = data.starts[at], data.starts[at + len(terms)]
                counts, positions = decode_positions(data.values[first:last])
                return sidecar.pack(
                    segment.segment_id(),
                    self.docnum,
                    terms,
                    data.docs[first:last],
                    [s - first for s in data.starts[at : at + len(terms) + 1]],
                    data.weights[first:last],
                    counts,
                    positions,
                    length_bytes(pdr, fieldname, self.docnum),
                )
            at += len(terms)
        return sidecar.pack(segment.segment_id(), self.docnum, [], [], [0], [], [], [], b"\0" * self.docnum)

    def _finalize_segment(self) -> Any:
        segment = super()._finalize_segment()  # type: ignore[misc]
        # After the compound file is assembled: it takes every file named for the segment.
        if self._sidecar is not None:
            from search.storage import sidecar

            sidecar.write_bytes(self.storage, segment, self._sidecar)
            self._sidecar = None
        return segment


class BulkSegmentWriter(BulkWriting, SegmentWriter):  # type: ignore[misc]
    """Whoosh's SegmentWriter with the bulk posting writer (for sub-writers and tests)."""
