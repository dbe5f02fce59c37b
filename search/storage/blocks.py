"""Whoosh's postings in a compact form: a block's ids, weights and positions each pickled as one number.

Whoosh's W3 postings writer pickles each block of up to 128 postings as a
tuple (document numbers as deltas, weights, values) and compresses it.  In
that pickle each document number costs an opcode and the number (2-5
bytes), each weight that is not 1.0 a float opcode and 8 bytes, and each
value of a full-text field (its positions, search.storage.positions) a call
of the positions' loader with two memo opcodes (10-19 bytes): per posting,
mostly the pickle's framing, and a call of ``__reduce__`` in Python for
every value at every build.

The writers (search.storage.postings' bulk writer and the codec's postings
writer, through ``PackedBlocks``) give Whoosh instead, for each part of a
block, an object whose pickle is one call on one integer, the loader named
by a copyreg extension code (2 bytes):

* the **document-number deltas** as bytes of 1, 2 or 4 bytes each, the
  narrowest that holds the block's largest (``_ids``);
* **weights** that are all whole numbers from 0 to 255 (a full-text field's
  weight is its weighted frequency) as a byte each (``_weights``); other
  weights stay as Whoosh writes them (None for all 1.0, one float for all
  equal, else a tuple of floats);
* the **positions** of a field in the compact format: every posting's
  varint bytes end to end, then each posting's byte count as a byte
  (``_positions``); a posting of 256 bytes or more keeps the block as
  Whoosh writes it.

A posting list short enough to be kept in the terms table
(search.storage.writers.INLINE_LIMIT: most of the index's terms) is
pickled by W3TermInfo as ``(ids, weights, values)`` without compression;
``pack_inlined`` makes it one call of ``_inlined`` on the same parts (the
weights left out when all are 1.0): an id's one posting takes 16 bytes
there instead of 25, a word's with two positions 28 instead of 38.

The integer is the bytes read little-endian with a final byte 1 after them,
so that trailing zero bytes survive.  Unpickling gives back the tuples
Whoosh's own writer would have pickled (the same ids, the same floats,
values equal to the same bytes, as PackedPositions), so its reader, merges
and the side-car's rebuild read them as they always did.  The loaders'
extension codes and these layouts are part of the index layout: change them
only with a new SCHEMA_VERSION.  Whoosh unpickles postings only after the
index's schema, which imports this module and so registers the codes.
"""

from __future__ import annotations

import copyreg
import sys
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

from search.storage.positions import CompactPositions, PackedPositions

#: copyreg extension codes of the loaders (240-255 are for private use; 243 and 244 are taken).
IDS_CODE, WEIGHTS_CODE, POSITIONS_CODE, INLINED_CODE = 245, 246, 247, 248

_TYPECODES = {2: "H", 4: "I"}
assert array("H").itemsize == 2 and array("I").itemsize == 4
_SWAP = sys.byteorder != "little"


class _Call:
    """An object pickled as ``function(*args)``: what a block part is written as."""

    __slots__ = ("function", "args")

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self.function = function
        self.args = args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.function, self.args


def _number(data: bytes) -> int:
    return int.from_bytes(data + b"\x01", "little")


def _bytes(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "little")[:-1]


def pack_ids(deltas: Sequence[int]) -> Any:
    """A block's document numbers as Whoosh's writer gives them to pickle (deltas, the first as it is)."""
    top = max(deltas) if deltas else 0
    if top < 256:
        return _Call(_ids, 1, _number(bytes(deltas)))
    for width, code in _TYPECODES.items():
        if top < 1 << (8 * width):
            packed = array(code, deltas)
            if _SWAP:
                packed.byteswap()
            return _Call(_ids, width, _number(packed.tobytes()))
    return tuple(deltas)


def _ids(width: int, number: int) -> tuple[int, ...]:
    data = _bytes(number)
    if width == 1:
        return tuple(data)
    packed = array(_TYPECODES[width], data)
    if _SWAP:
        packed.byteswap()
    return tuple(packed)


def pack_weights(weights: Sequence[float]) -> Any:
    """A block's weights as Whoosh's writer minifies them (W3PostingsWriter._mini_weights), whole ones as bytes."""
    if all(w == 1.0 for w in weights):
        return None
    first = weights[0]
    if all(w == first for w in weights):
        return first
    as_floats = tuple(weights)
    data = _whole_bytes(as_floats)
    return as_floats if data is None else _Call(_weights, _number(data))


def _whole_bytes(weights: tuple[float, ...]) -> bytes | None:
    """The weights as a byte each, or None when one is not a whole number from 0 to 255."""
    try:
        data = bytes(map(int, weights))
    except (ValueError, OverflowError):  # below 0, above 255, or not finite
        return None
    return data if tuple(map(float, data)) == weights else None  # else a fraction


def _weights(number: int) -> tuple[float, ...]:
    return tuple(map(float, _bytes(number)))


def pack_values(format_: Any, values: Sequence[Any]) -> Any:
    """A block's values as Whoosh's writer gives them to pickle (a tuple), in
    one number when they are a compact-positions field's, each under 256 bytes.
    A compact-positions field's values may come as plain bytes (the bulk
    writer's pool keeps them so: search.storage.positions.encode_positions_bytes);
    a tuple of them is pickled as PackedPositions, as Whoosh's writer would."""
    if not values or not isinstance(format_, CompactPositions):
        return tuple(values)
    try:
        lengths = bytes(map(len, values))
    except ValueError:  # a posting of 256 bytes or more
        return _packed_tuple(values)
    return _Call(_positions, _number(b"".join(values)), _number(lengths))


def _packed_tuple(values: Sequence[Any]) -> tuple[PackedPositions, ...]:
    return tuple(value if type(value) is PackedPositions else PackedPositions(value) for value in values)


def _positions(number: int, lengths_number: int) -> tuple[PackedPositions, ...]:
    blob = _bytes(number)
    ends = list(accumulate(_bytes(lengths_number)))
    return tuple(map(PackedPositions, map(blob.__getitem__, map(slice, [0, *ends], ends))))


def pack_inlined(format_: Any, ids: Sequence[int], weights: Sequence[float], values: Sequence[Any]) -> Any:
    """A posting list kept in the terms table, as W3TermInfo pickles it
    (``(ids, weights, values)``), in one call: the document numbers as
    deltas (the first as it is) behind a byte of their width, weights of
    1.0 left out and whole ones as bytes, positions as in pack_values.
    Anything else (a number past 32 bits, another format's values) stays
    Whoosh's tuple."""
    floats = tuple(weights)
    if not ids:
        return _plain(format_, ids, floats, values)
    deltas = [ids[0], *map(int.__sub__, ids[1:], ids)]
    top = max(deltas)
    if top < 256:
        ids_number = _number(b"\x01" + bytes(deltas))
    elif top < 1 << 32:
        width = 2 if top < 1 << 16 else 4
        packed = array(_TYPECODES[width], deltas)
        if _SWAP:
            packed.byteswap()
        ids_number = _number(bytes([width]) + packed.tobytes())
    else:
        return _plain(format_, ids, floats, values)
    args: list[Any] = [ids_number, None]
    if not all(w == 1.0 for w in floats):
        whole = _whole_bytes(floats)
        args[1] = floats if whole is None else _number(whole)
    if values:
        positions = pack_values(format_, values)
        if not isinstance(positions, _Call) or len(values) != len(ids):
            return _plain(format_, ids, floats, values)
        args += positions.args
    while args[-1] is None:
        args.pop()
    return _Call(_inlined, *args)


def dumps_inlined_one(format_: Any, docnum: int, weight: float, value: bytes | None) -> bytes | None:
    """``pickle.dumps(pack_inlined(format_, [docnum], [weight], [value] if value else []), 2)``
    for the usual one-posting list (most of an index's terms: ids, dates,
    rare words), written here as the pickler writes it; None for a case it
    leaves to pack_inlined (a weight that is not a whole number from 0 to
    255, a value that is not a compact-positions field's or is 256 bytes or
    more, a number past 32 bits).  Pickling the call took 8-10 us a term,
    this 1.3-2.9 us: 4,380 of the 6,859 terms a 1% incremental run of
    Reuters writes into its one small segment have one posting.  A test
    holds the two to the same bytes."""
    if docnum < 0x100:
        ids = 0x10001 | docnum << 8  # _number(b"\x01" + bytes([docnum]))
    elif docnum < 0x10000:
        ids = 2 | docnum << 8 | 1 << 24
    elif docnum < 1 << 32:
        ids = 4 | docnum << 8 | 1 << 40
    else:
        return None
    weights: int | None
    if weight == 1.0:
        weights = None
    elif 0 <= weight <= 255 and weight == int(weight):
        weights = int(weight) | 0x100  # _number(bytes([weight]))
    else:
        return None
    parts = [_INLINED_CALL]
    if value:
        if len(value) > 255 or not isinstance(format_, CompactPositions):
            return None
        parts += (b"(", _pickled_int(ids), b"N" if weights is None else _pickled_int(weights))
        parts += (_pickled_int(_number(value)), _pickled_int(len(value) | 0x100), b"t")
    elif weights is None:
        parts += (_pickled_int(ids), b"\x85")
    else:
        parts += (_pickled_int(ids), _pickled_int(weights), b"\x86")
    parts.append(b"q\x00Rq\x01.")  # the arguments' and the call's memo entries, REDUCE, STOP
    return b"".join(parts)


#: Protocol 2, then _inlined by its extension code (EXT1).
_INLINED_CALL = b"\x80\x02\x82" + bytes([INLINED_CODE])


def _pickled_int(number: int) -> bytes:
    """A non-negative int as the pickler writes it at protocol 2 (BININT1, BININT2, BININT, LONG1, LONG4)."""
    if number <= 0xFF:
        return b"K" + number.to_bytes(1, "little")
    if number <= 0xFFFF:
        return b"M" + number.to_bytes(2, "little")
    if number <= 0x7FFFFFFF:
        return b"J" + number.to_bytes(4, "little")
    data = number.to_bytes((number.bit_length() >> 3) + 1, "little", signed=True)
    if len(data) < 256:
        return b"\x8a" + len(data).to_bytes(1, "little") + data
    return b"\x8b" + len(data).to_bytes(4, "little") + data


def _plain(format_: Any, ids: Sequence[int], floats: tuple[float, ...], values: Sequence[Any]) -> Any:
    """W3TermInfo's own ``(ids, weights, values)``, a compact-positions field's values as PackedPositions."""
    return tuple(ids), floats, _packed_tuple(values) if isinstance(format_, CompactPositions) else tuple(values)


def _inlined(
    ids: int, weights: int | tuple[float, ...] | None = None, values: int | None = None, lengths: int = 0
) -> tuple[tuple[int, ...], tuple[float, ...], tuple[Any, ...]]:
    data = _bytes(ids)
    width = data[0]
    if width == 1:
        deltas: Any = data[1:]
    else:
        deltas = array(_TYPECODES[width], data[1:])
        if _SWAP:
            deltas.byteswap()
    docs = tuple(accumulate(deltas))
    if weights is None:
        floats = (1.0,) * len(docs)
    elif isinstance(weights, int):
        floats = _weights(weights)
    else:
        floats = tuple(weights)
    return docs, floats, () if values is None else _positions(values, lengths)


class PackedBlocks:
    """Mixed into a W3PostingsWriter: its blocks' parts packed as above."""

    _ids: Any
    _weights: Any
    _values: Any
    _format: Any
    _byteids: bool

    def _mini_ids(self) -> Any:
        if self._byteids:
            return tuple(self._ids)
        ids = self._ids
        return pack_ids([ids[0], *map(int.__sub__, ids[1:], ids)])

    def _mini_weights(self) -> Any:
        return pack_weights(self._weights)

    def _mini_values(self) -> Any:
        fixed = self._format.fixed_value_size()
        if fixed is None or fixed < 0:
            return pack_values(self._format, self._values)
        if fixed == 0:
            return None
        return b"".join(self._values)


copyreg.add_extension(__name__, "_ids", IDS_CODE)
copyreg.add_extension(__name__, "_weights", WEIGHTS_CODE)
copyreg.add_extension(__name__, "_positions", POSITIONS_CODE)
copyreg.add_extension(__name__, "_inlined", INLINED_CODE)
