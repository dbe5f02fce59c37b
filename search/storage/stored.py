"""A document's stored fields, pickled as their values alone, and its
record, in a column of its own.

Whoosh's stored-fields column pickles each document's dict of stored fields
(protocol 2) and compresses it on its own, so every document pays in full
for the names of its fields and of its ``meta`` keys (``excerpt``,
``record``, ``provider``, ``is_published``...: some 150 bytes before
compression) and for its id, 16 hex digits of a hash of its path.  On
Reuters that was 2.8 MB of the 17.9 MB of stored fields.

The index's writer (search.storage.writers' codec) stores a
``StoredFields`` instead: a dict, pickled as a call of ``_stored_fields``
(named by a copyreg extension code, 2 bytes) on the values in the fixed
order of FIELDS, a mask saying which are there, with three values packed:

* ``id`` is left out when it is ``doc_id(path)`` (every article) and kept
  as its number when it is ``<parent>-r<number>`` (every related stub);
* ``kind`` is 0 for ``article`` and 1 for ``related``;
* ``meta`` is a tuple of its values when it has its usual keys in their
  usual order (search.storage.schema writes no other).

Loading gives back a StoredFields with the same keys, in the same order,
and the same values, so its readers see the dict they always saw; a dict
of any other shape is pickled as a plain dict.  Whoosh unpickles stored
fields only after the index's schema, which imports this module and so
registers the code.  The extension code and the layout of the values are
part of the index layout: change them only with a new SCHEMA_VERSION.

The record (the file's fields as JSON, the body among them: 3.4 KB on
Reuters) is not a stored field but the ``record`` column (a Whoosh
VarBytesColumn beside the others, RECORD_COLUMN), because a page reads a
hit's stored fields and needs the record only for the few hits whose
excerpt lacks the query's words (one in eight on Reuters), while the
stored-fields column decompresses the whole of a document's fields at
each read.  Its value, ``pack_record``: one zlib stream (level 6) with
the document's stored title and excerpt as the preset dictionary, so that
the record can repeat them at the price of a reference, as it could when
it was compressed with them, of

* a flag byte: 1, the record's first key was ``title`` with the stored
  title; 2, its next key was ``excerpt`` with the stored excerpt (each
  then left out); 4, its ``body`` started with the stored excerpt, which
  is left out of it (a Reuters body opens with its excerpt);
* the rest of the record as JSON text, UTF-8 (lone surrogates passed).

``unpack_record`` gives back the same dict, keys in the same order.
Stored apart, with the preset dictionary and the flags, Reuters' stored
fields and records take about what the stored fields took with the
record inside (without the dictionary, 13% more: the excerpt twice and
a code table per stream).  A hit's stored fields now cost a page some
10 us instead of 25-30.
"""

from __future__ import annotations

import copyreg
from bisect import bisect_right
import hashlib
import json
import os
import pickle
import zlib
from typing import Any

from search.storage.segments import segment_readers

#: The stored fields, in the order documents store them (Whoosh's writer adds fields sorted by name).
FIELDS = ("excerpt", "id", "kind", "meta", "parent", "path", "title", "url")
KINDS = ("article", "related")
META = ("provider", "topics", "published", "quality", "heat", "is_published")
PROVIDER = ("name", "domain")

#: The pickle extension code of _stored_fields (copyreg: 240-255 are for private use).
EXTENSION_CODE = 244

_ID, _KIND, _META, _PARENT, _PATH = (FIELDS.index(name) for name in ("id", "kind", "meta", "parent", "path"))

#: The column holding each document's record (see the module docstring), and its zlib level.
RECORD_COLUMN = "record"
RECORD_LEVEL = 6
_TITLE_KEPT, _EXCERPT_KEPT, _BODY_OPENS = 1, 2, 4


def doc_id(path: str) -> str:
    """A short stable id for the record at `path` (64 bits of SHA-1)."""
    return hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class StoredFields(dict[str, Any]):
    """A document's stored fields, pickled as _stored_fields(mask, *values)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        packed = _pack(self)
        if packed is None:
            return dict, (dict(self),)
        return _stored_fields, packed


def _pack(fields: dict[str, Any]) -> tuple[Any, ...] | None:
    """(mask, *values) of `fields`, or None when its keys are not FIELDS' in order."""
    names = list(fields)
    if [name for name in FIELDS if name in fields] != names:
        return None
    mask = 0
    values: list[Any] = []
    for bit, name in enumerate(FIELDS):
        if name not in fields:
            continue
        mask |= 1 << bit
        value = fields[name]
        if bit == _ID:
            if not isinstance(value, str):
                return None
            value = _pack_id(value, fields.get("path"), fields.get("parent"))
        elif bit == _KIND:
            if not isinstance(value, str):
                return None
            value = KINDS.index(value) if value in KINDS else value
        elif bit == _META:
            value = _pack_meta(value)
            if value is None:
                return None
        values.append(value)
    return (mask, *values)


def _pack_id(ident: str, path: Any, parent: Any) -> str | int | None:
    """None for doc_id(path), the number of ``<parent>-r<number>``, else the id."""
    if isinstance(path, str) and ident == doc_id(path):
        return None
    if isinstance(parent, str) and ident.startswith(parent + "-r"):
        number = ident[len(parent) + 2 :]
        if number.isascii() and number.isdigit() and str(int(number)) == number:
            return int(number)
    return ident


def _pack_meta(meta: Any) -> tuple[Any, ...] | None:
    """meta's values, or None when it is not the dict search.storage.schema writes."""
    if not isinstance(meta, dict) or tuple(meta) != META:
        return None
    provider = meta["provider"]
    if provider is not None:
        if not isinstance(provider, dict) or tuple(provider) != PROVIDER:
            return None
        provider = (provider["name"], provider["domain"])
    topics = meta["topics"]
    if not isinstance(topics, list):
        return None
    return (provider, tuple(topics), meta["published"], meta["quality"], meta["heat"], meta["is_published"])


#: The names of the fields each mask of FIELDS' bits says are there, in FIELDS' order.
_MASK_NAMES = tuple(tuple(name for bit, name in enumerate(FIELDS) if mask & (1 << bit)) for mask in range(1 << len(FIELDS)))


def _stored_fields(mask: int, *values: Any) -> StoredFields:
    """The StoredFields that StoredFields.__reduce__ packed."""
    names = _MASK_NAMES[mask]
    if len(values) < len(names):
        raise ValueError(f"stored fields hold {len(values)} values where their mask names {len(names)}")
    # Made from the mask's names in one call, where a loop over FIELDS' bits
    # set each (some 2 of a hit's 9 us of stored fields).
    fields = StoredFields(zip(names, values))
    if "id" in fields:
        ident = fields["id"]
        if ident is None:
            fields["id"] = doc_id(fields["path"])
        elif isinstance(ident, int):
            fields["id"] = f"{fields['parent']}-r{ident}"
    kind = fields.get("kind")
    if isinstance(kind, int):
        fields["kind"] = KINDS[kind]
    meta = fields.get("meta")
    if meta is not None:
        provider, topics, published, quality, heat, is_published = meta
        fields["meta"] = {
            "provider": None if provider is None else {"name": provider[0], "domain": provider[1]},
            "topics": list(topics),
            "published": published,
            "quality": quality,
            "heat": heat,
            "is_published": is_published,
        }
    return fields


copyreg.add_extension(__name__, "_stored_fields", EXTENSION_CODE)


# -- the record column ------------------------------------------------------------------------------


def _dictionary(title: str | None, excerpt: str | None) -> bytes:
    """The preset dictionary of a record's stream: the stored title and excerpt."""
    return f"{title or ''}\n{excerpt or ''}".encode("utf-8", "surrogatepass")


def pack_record(record: dict[str, Any], title: str | None, excerpt: str | None) -> bytes:
    """The record column's value for `record`, stored beside `title` and
    `excerpt` (the document's stored fields: what unpack_record is given)."""
    rest = dict(record)
    keys = list(rest)
    flags = 0
    if keys[:1] == ["title"] and title is not None and rest["title"] == title:
        del rest["title"], keys[0]
        flags |= _TITLE_KEPT
    if keys[:1] == ["excerpt"] and excerpt is not None and rest["excerpt"] == excerpt:
        del rest["excerpt"]
        flags |= _EXCERPT_KEPT
    body = rest.get("body")
    if excerpt and isinstance(body, str) and body.startswith(excerpt):
        rest["body"] = body[len(excerpt) :]
        flags |= _BODY_OPENS
    text = bytes((flags,)) + json.dumps(rest, ensure_ascii=False).encode("utf-8", "surrogatepass")
    packer = zlib.compressobj(RECORD_LEVEL, zdict=_dictionary(title, excerpt))
    return packer.compress(text) + packer.flush()


def unpack_record(data: bytes, title: str | None, excerpt: str | None) -> dict[str, Any]:
    """The record pack_record(record, title, excerpt) packed."""
    unpacker = zlib.decompressobj(zdict=_dictionary(title, excerpt))
    text = unpacker.decompress(data) + unpacker.flush()
    if not unpacker.eof:
        raise ValueError("a stored record ends before its compressed stream does")
    flags = text[0]
    rest: dict[str, Any] = json.loads(text[1:].decode("utf-8", "surrogatepass"))
    if flags & _BODY_OPENS:
        rest["body"] = (excerpt or "") + rest["body"]
    if not flags & (_TITLE_KEPT | _EXCERPT_KEPT):
        return rest
    record: dict[str, Any] = {}
    if flags & _TITLE_KEPT:
        record["title"] = title
    if flags & _EXCERPT_KEPT:
        record["excerpt"] = excerpt
    record.update(rest)
    return record


class Records:
    """The records of a Whoosh reader's documents (its ``record`` column),
    each segment's column reader opened once: opening one reads the
    segment's table of value lengths, some 4 bytes a document."""

    def __init__(self, reader: Any) -> None:
        leaves = segment_readers(reader)
        self._offsets = [offset for _, offset in leaves]
        self._leaves = [leaf for leaf, _ in leaves]
        self._columns: list[Any] = [None] * len(leaves)

    def get(self, docnum: int, fields: dict[str, Any]) -> dict[str, Any]:
        """The record of document `docnum`, whose stored fields are `fields`:
        that document's own, as read (its stored title and excerpt are the
        record's preset dictionary, pack_record's, so any other title or
        excerpt fails to decompress, which the corruption guard takes for
        damage)."""
        segment = max(0, bisect_right(self._offsets, docnum) - 1)
        column = self._columns[segment]
        if column is None:
            column = self._columns[segment] = self._leaves[segment].column_reader(RECORD_COLUMN, translate=False)
        return unpack_record(column[docnum - self._offsets[segment]], fields.get("title"), fields.get("excerpt"))


class ReadColumn:
    """A segment's stored-fields column, each document's fields read with one
    os.pread of its bytes from the segment's file, then zlib and pickle, as
    Whoosh's column readers do it through five calls (PickleColumn,
    CompressedBytesColumn, VarBytesColumn, StructFile, SubFile: a seek and a
    read of a buffered file): a hit's fields 11 -> 9 us on Reuters.  Here,
    among the modules that read index files, so that what garbled bytes
    raise is taken for damage (search.storage.store.is_damage)."""

    __slots__ = ("fd", "base", "offsets", "lengths")

    def __init__(self, fd: int, base: int, offsets: Any, lengths: Any) -> None:
        self.fd, self.base, self.offsets, self.lengths = fd, base, offsets, lengths

    @classmethod
    def of(cls, column: Any) -> ReadColumn | None:
        """The column read this way, or None when it is not laid out as
        Whoosh 2.7.4 lays it out in a compound segment file read without mmap."""
        import io

        from whoosh.columns import CompressedBytesColumn, PickleColumn
        from whoosh.filedb.compound import SubFile
        from whoosh.filedb.structfile import StructFile

        if not hasattr(os, "pread") or type(column) is not PickleColumn.Reader:
            return None
        child = column._child
        if type(child) is not CompressedBytesColumn.Reader or child._decompress is not zlib.decompress:
            return None
        dbfile = child._dbfile
        if type(dbfile) is not StructFile or type(dbfile.file) is not SubFile:
            return None
        parent = dbfile.file._file
        if type(parent) not in (io.BufferedReader, io.FileIO):
            return None
        return cls(parent.fileno(), dbfile.file._offset + child._basepos, child._offsets, child._lengths)

    def __getitem__(self, docnum: int) -> Any:
        length = self.lengths[docnum]
        if not length:
            return None  # PickleColumn's None for an empty value
        return pickle.loads(zlib.decompress(os.pread(self.fd, length, self.base + self.offsets[docnum])))
