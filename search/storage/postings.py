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

from array import array
from typing import Any

from whoosh.writing import SegmentWriter

from search.storage.blocks import dumps_inlined_one, pack_ids, pack_inlined, pack_values, pack_weights
from search.storage.positions import decode_positions as decode

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
        # The side-car field's positions as analysis gave them (BulkWriting.add_document):
        # each posting's count (0 for other fields' postings) and all positions, in
        # posting order, so that the side-car need not decode them from `values`.
        # A posting added any other way (add, from a merged segment) voids them.
        self.counts = array("I")
        self.positions = array("I")
        self.positions_kept = True

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
        self.positions_kept = False
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
        """About what the pool holds: 28 bytes a posting, 4 a kept position, some 120 a term."""
        return 28 * len(self.docs) + 4 * len(self.positions) + 120 * self.term_count


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
        self.order = order
        self.weights = (np.frombuffer(pool.weights, dtype=np.float64) if len(pool) else np.zeros(0))[order]
        values = pool.values
        self.values = list(map(values.__getitem__, order.tolist()))
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
        stats = _BlockStats()
        if block_starts.size:
            post_lengths = lengths[data.docs[first:last].astype(np.int64)]
            rel = block_starts - first
            stats.max_weight = np.maximum.reduceat(data.weights[first:last], rel).tolist()
            stats.max_length = np.maximum.reduceat(post_lengths, rel).tolist()
            nonzero = np.where(post_lengths > 0, post_lengths, _NO_LENGTH)
            stats.min_length = [None if n == _NO_LENGTH else n for n in np.minimum.reduceat(nonzero, rel).tolist()]
        stats.starts, stats.ends = block_starts.tolist(), block_ends.tolist()
        if _bulk_terms_writable(fieldwriter, postwriter):
            _write_terms(fieldwriter, postwriter, terms, nblocks.tolist(), stats, data.docs[first:last], first, docs_all, weights32, values_all)
        else:
            _write_terms_through_whoosh(fieldwriter, postwriter, terms, nblocks.tolist(), stats, docs_all, weights32, values_all)
        fieldwriter.finish_field()
        term_index += len(terms)
    return data


#: The min_length of a block without a field length (Whoosh's None), while reduced with numpy.
_NO_LENGTH = 2**63 - 1


class _BlockStats:
    """Each block of a field's postings: its bounds and Whoosh's statistics of it."""

    starts: list[int]
    ends: list[int]
    max_weight: list[float]
    max_length: list[int]
    min_length: list[int | None]

    def __init__(self) -> None:
        self.starts, self.ends, self.max_length = [], [], []
        self.max_weight, self.min_length = [], []


def _write_terms_through_whoosh(
    fieldwriter: Any, postwriter: Any, terms: list[bytes], nblocks: list[int], stats: _BlockStats,
    docs_all: Any, weights32: Any, values_all: list[bytes | None],
) -> None:  # fmt: skip
    """Each term's blocks handed to Whoosh's postings writer and its term to the field writer."""
    block = 0
    for tbytes, n in zip(terms, nblocks, strict=True):
        fieldwriter.start_term(tbytes)
        for k in range(n):
            s, e = stats.starts[block], stats.ends[block]
            postwriter._ids = docs_all[s:e]
            postwriter._weights = weights32[s:e]
            postwriter._values = [v for v in values_all[s:e] if v]
            weight = stats.max_weight[block]
            postwriter._maxweight = weight if weight > 0 else 0
            postwriter._maxlength = stats.max_length[block]
            postwriter._minlength = stats.min_length[block]
            block += 1
            if k < n - 1:
                postwriter._write_block()
        fieldwriter.finish_term()


def _bulk_terms_writable(fieldwriter: Any, postwriter: Any) -> bool:
    """Whether _write_terms knows this writer's format: Whoosh 2.7.4's W3
    field writer and postings writer (integer ids), inlining lists shorter
    than its limit when it says so (search.storage.writers' codec)."""
    from whoosh.codec.whoosh3 import W3FieldWriter, W3PostingsWriter

    inlines = getattr(postwriter, "inlines_short_lists", False) or postwriter._inlinelimit <= 1
    return (
        isinstance(fieldwriter, W3FieldWriter)
        and isinstance(postwriter, W3PostingsWriter)
        and not postwriter._byteids
        and inlines
        and fieldwriter._tindex.hashtype == 0  # md5, done here as filetables.md5_hash does
    )


def _write_terms(
    fieldwriter: Any, postwriter: Any, terms: list[bytes], nblocks: list[int], stats: _BlockStats,
    docs: Any, first: int, docs_all: Any, weights32: Any, values_all: list[bytes | None],
) -> None:  # fmt: skip
    """A field's terms, their postings blocks and their entries in the terms
    table, written as Whoosh's W3PostingsWriter, W3TermInfo and
    OrderedHashWriter write them (the same bytes: the byte-identity test),
    without their objects and calls per term and per block: those were 36 us
    a term, 1.6 s of the 5.5 s it took one process to write 5,000 Reuters
    records.  Whoosh's per-block steps are noted where they are done."""
    import zlib
    from hashlib import md5
    from pickle import dumps

    import numpy as np
    from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3TermInfo
    from whoosh.filedb.filetables import _lengths
    from whoosh.system import pack_int, pack_long, pack_ushort
    from whoosh.util.numeric import length_to_byte

    # Delta-coded ids (W3PostingsWriter._mini_ids): each block's first id as it is.
    deltas_np = np.diff(docs.astype(np.int64), prepend=0)
    if len(stats.starts):
        block_firsts = np.asarray(stats.starts, dtype=np.int64) - first
        deltas_np[block_firsts] = docs[block_firsts]
    deltas = deltas_np.tolist()
    value_format = fieldwriter._format
    fixed = value_format.fixed_value_size()
    comp = postwriter._compression
    inline_below = postwriter._inlinelimit
    pack_info = W3TermInfo._struct.pack
    postfile = postwriter._postfile
    tindex = fieldwriter._tindex
    tfile = tindex.dbfile
    index_append = tindex.index.append
    buckets = tindex.buckets
    prefix = pack_ushort(fieldwriter._fieldid)
    lastkey = tindex.lastkey
    offset = postfile.tell()
    toffset = tfile.tell()
    starts, ends = stats.starts, stats.ends
    max_weights, max_lengths, min_lengths = stats.max_weight, stats.max_length, stats.min_length
    block = 0
    for tbytes, n in zip(terms, nblocks, strict=True):
        total: float = 0
        df = 0
        minlength: int | None = None
        maxlength = 0
        maxweight: float = 0
        s = starts[block]
        minid = docs_all[s]
        if n == 1 and ends[block] - s < inline_below:
            # Inlined in its terms-table entry (W3TermInfo.set_inlined, packed: search.storage.blocks).
            e = ends[block]
            ids, weights = docs_all[s:e], weights32[s:e]
            values = [v for v in values_all[s:e] if v]
            total += sum(weights)
            weight = max_weights[block]
            maxweight = max(maxweight, weight if weight > 0 else 0)
            minlength, maxlength = min_lengths[block], max(maxlength, max_lengths[block])
            block += 1
            inlined = dumps_inlined_one(value_format, minid, weights[0], values_all[s]) if e - s == 1 else None
            if inlined is None:
                inlined = dumps(pack_inlined(value_format, ids, weights, values), 2)
            info = pack_info(
                True, total, e - s, 0 if minlength is None else length_to_byte(minlength),
                length_to_byte(maxlength), maxweight, minid, ids[-1],
            ) + inlined  # fmt: skip
        else:
            start = offset
            parts = [WHOOSH3_HEADER_MAGIC]
            for k in range(n):
                s, e = starts[block], ends[block]
                ids, weights = docs_all[s:e], weights32[s:e]
                values = [v for v in values_all[s:e] if v]
                weight = max_weights[block]
                block_weight = weight if weight > 0 else 0
                block_min, block_max = min_lengths[block], max_lengths[block]
                block += 1
                # W3TermInfo.add_block
                total += sum(weights)
                df += e - s
                minlength = block_min if minlength is None else min(minlength, block_min)  # type: ignore[type-var]
                maxlength = max(maxlength, block_max)
                maxweight = max(maxweight, block_weight)
                # W3PostingsWriter._write_block: minified ids, weights, values
                # (search.storage.blocks.PackedBlocks); pickled, compressed
                if fixed is None or fixed < 0:
                    mini_values: Any = pack_values(value_format, values)
                elif fixed == 0:
                    mini_values = None
                else:
                    mini_values = b"".join(values)
                body = dumps((pack_ids(deltas[s - first : e - first]), pack_weights(weights), mini_values), 2)
                if comp:
                    body = zlib.compress(body, comp)
                head = dumps(
                    (e - s, ids[-1], block_weight, comp, length_to_byte(block_min), length_to_byte(block_max)), 2
                )
                size = len(head) + len(body)
                parts += (pack_int(-size if k == n - 1 else size), head, body)
            blob = b"".join(parts)
            postfile.write(blob)
            offset += len(blob)
            info = pack_info(
                False, total, df, 0 if minlength is None else length_to_byte(minlength),
                length_to_byte(maxlength), maxweight, minid, ids[-1],
            ) + pack_long(start) + pack_int(offset - start)  # fmt: skip
        # W3FieldWriter.finish_term, OrderedHashWriter.add
        key = prefix + tbytes
        if key <= lastkey:
            raise ValueError(f"Keys must increase: {lastkey!r}..{key!r}")
        index_append(toffset)
        entry = _lengths.pack(len(key), len(info)) + key + info
        tfile.write(entry)
        h = int.from_bytes(md5(key).digest()[-4:], "big")  # filetables.md5_hash
        buckets[h & 255].append((h, toffset))
        toffset += len(entry)
        lastkey = key
    tindex.lastkey = lastkey


def decode_positions(values: list[bytes | None]) -> tuple[list[int], list[int]]:
    """Each posting's count of positions and all positions, from the
    full-text field's values (search.storage.positions).  Most values are one
    position, shared, so decoding is remembered by value."""
    seen: dict[bytes, list[int]] = {}
    counts: list[int] = []
    positions: list[int] = []
    for value in values:
        if not value:
            counts.append(0)
            continue
        found = seen.get(value)
        if found is None:
            found = seen[value] = decode(value)
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
        add_count, add_positions = pool.counts.append, pool.positions.extend
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
                positioned = getattr(field, "index_positions", None) if fieldname == self.sidecar_field else None
                if positioned is not None:
                    # The side-car's field: the same loop, keeping each posting's positions.
                    for tbytes, freq, weight, vbytes, plist in positioned(value):
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
                        add_count(len(plist))
                        add_positions(plist)
                else:
                    if fieldname == self.sidecar_field:
                        pool.positions_kept = False
                    for tbytes, freq, weight, vbytes in getattr(field, "index_bytes", field.index)(value):
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
                        add_count(0)
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
                counts, positions = self._sidecar_positions(data, first, last)
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

    def _sidecar_positions(self, data: _Sorted, first: int, last: int) -> tuple[Any, Any]:
        """Each of the sorted postings first..last's count of positions, and
        their positions: as analysis gave them when the pool kept them (0.9 s
        of each sub-writer's 10 s went to decoding them back from Whoosh's
        pickled values in a Reuters build), else decoded from the values."""
        import numpy as np

        pool = self.pool
        if not (pool.positions_kept and len(pool.counts) == len(pool) and len(pool)):
            return decode_positions(data.values[first:last])
        counts_added = np.frombuffer(pool.counts, dtype=np.uint32).astype(np.int64)
        begins = np.zeros(counts_added.size + 1, dtype=np.int64)
        np.cumsum(counts_added, out=begins[1:])
        chosen = data.order[first:last]
        counts = counts_added[chosen]
        before = np.cumsum(counts) - counts  # where each posting's positions go
        source = np.repeat(begins[chosen] - before, counts) + np.arange(int(counts.sum()), dtype=np.int64)
        positions = np.frombuffer(pool.positions, dtype=np.uint32)[source] if source.size else np.zeros(0, np.uint32)
        return counts, positions

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
