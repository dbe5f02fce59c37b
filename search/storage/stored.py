"""A document's stored fields, pickled as their values alone.

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
"""

from __future__ import annotations

import copyreg
import hashlib
from typing import Any

#: The stored fields, in the order documents store them (Whoosh's writer adds fields sorted by name).
FIELDS = ("excerpt", "id", "kind", "meta", "parent", "path", "record", "title", "url")
KINDS = ("article", "related")
META = ("provider", "topics", "published", "quality", "heat", "is_published")
PROVIDER = ("name", "domain")

#: The pickle extension code of _stored_fields (copyreg: 240-255 are for private use).
EXTENSION_CODE = 244

_ID, _KIND, _META, _PARENT, _PATH = (FIELDS.index(name) for name in ("id", "kind", "meta", "parent", "path"))


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


def _stored_fields(mask: int, *values: Any) -> StoredFields:
    """The StoredFields that StoredFields.__reduce__ packed."""
    fields = StoredFields()
    given = iter(values)
    for bit, name in enumerate(FIELDS):
        if mask & (1 << bit):
            fields[name] = next(given)
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
