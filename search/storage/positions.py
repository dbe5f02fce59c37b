"""The full-text fields' positions in Whoosh's postings, in a compact format.

Whoosh's ``Positions`` format makes each posting's value a 4-byte count and
a pickled list of position deltas, and its posting writer pickles each
block's values (protocol 2, which writes bytes as a call of
``_codecs.encode`` on latin-1 text) and compresses the block.  On Reuters
that was 19 bytes a posting of the ``text`` field, two thirds of its 27 MB
of postings.

``CompactPositions`` is that format with another value, ``PackedPositions``:

* **Its bytes** are the deltas as varints (7 bits a byte, the high bit set
  on every byte but a number's last), each delta plus one, the first from
  position 0: ``[0]`` is ``01``, ``[3, 4, 9]`` is ``04 02 06``.  Every
  number is at least 1, so the last byte is never 0.
* **Pickled**, the value is those bytes read as one little-endian integer,
  rebuilt by ``_packed_positions``: a posting at position 0-126 costs the
  pickle two bytes (``K n``) where it cost some twenty.  The loader is
  named by a copyreg extension code (EXTENSION_CODE, two bytes) rather
  than by its module and name (45), once in every block and in every
  posting list of one that the terms table holds inline.

Whoosh writes and reads it through the format object, as it did the old
one: its posting writer still checks that a value is bytes (it is a bytes
subclass), raw phrase queries decode positions with ``decode_positions``,
Whoosh's searcher counts the frequency with ``decode_frequency``, and a
merge reads the values back and writes them again unchanged.  The loader's
extension code is part of the index layout: change it (or the loader's
name) only with a new SCHEMA_VERSION.  Whoosh unpickles postings only after
the index's schema, which imports this module and so registers the code.
"""

from __future__ import annotations

import copyreg
from itertools import accumulate
from typing import Any

from whoosh import formats

#: Numbers below this have their varint in a table (made on first use: only writers need it).
_TABLE_SIZE = 1 << 14
_varints: list[bytes] = []


class PackedPositions(bytes):
    """One posting's positions: varint bytes, pickled as one integer."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return _packed_positions, (int.from_bytes(self, "little"),)


def _packed_positions(number: int) -> PackedPositions:
    """The value PackedPositions.__reduce__ pickled as `number`."""
    return PackedPositions(number.to_bytes((number.bit_length() + 7) // 8, "little"))


#: The pickle extension code of _packed_positions (copyreg: 240-255 are for private use).
EXTENSION_CODE = 243
copyreg.add_extension(__name__, "_packed_positions", EXTENSION_CODE)


def _varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def encode_positions(plist: list[int]) -> PackedPositions:
    """A posting's ascending positions (repeats allowed) as its value."""
    return PackedPositions(encode_positions_bytes(plist))


def encode_positions_bytes(plist: list[int]) -> bytes:
    """encode_positions' bytes as plain bytes, for a writer that packs its
    blocks' values itself (search.storage.blocks) and so never pickles one
    alone.  Plain bytes are not tracked by Python's garbage collector, a
    PackedPositions is (every instance of a class defined in Python is): a
    writer's pool holds one a posting until its segment is written, and
    those objects set off full collections of the process's heap (12,087
    of them in a 1% incremental run of Reuters, some 700,000 in each
    sub-writer of a full build)."""
    if not _varints:
        _varints.extend(_varint(n + 1) for n in range(_TABLE_SIZE))
    deltas = [plist[0], *map(int.__sub__, plist[1:], plist)]
    if min(deltas) < 0:  # a table lookup would take it from the end
        raise ValueError(f"positions must ascend from 0: {plist[:8]}")
    try:
        # A table lookup per delta, joined in C: encoding is part of every build.
        return b"".join(map(_varints.__getitem__, deltas))
    except IndexError:  # a position past the table: the same bytes, a number at a time
        return b"".join(_varint(d + 1) for d in deltas)


def decode_positions(value: bytes) -> list[int]:
    """The positions encode_positions packed into `value`."""
    if value.isascii():  # every delta under 127: one byte each
        return [total - count for count, total in enumerate(accumulate(value), 1)]
    positions: list[int] = []
    at = number = shift = 0
    for byte in value:
        number |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
        else:
            at += number - 1
            positions.append(at)
            number = shift = 0
    return positions


#: The varint bytes that continue a number (a value's frequency is its count of other bytes).
_CONTINUED = bytes(range(0x80, 0x100))


def position_count(value: bytes) -> int:
    """How many positions `value` holds (the posting's frequency)."""
    return len(value.translate(None, _CONTINUED))


class CompactPositions(formats.Positions):  # type: ignore[misc]
    """Whoosh's Positions format with PackedPositions values."""

    def encode(self, poslist: list[int]) -> PackedPositions:
        return encode_positions(poslist)

    def decode_positions(self, valuestring: bytes) -> list[int]:
        return decode_positions(valuestring)

    def decode_frequency(self, valuestring: bytes) -> int:
        return position_count(valuestring)

    def decode_weight(self, valuestring: bytes) -> float:
        return float(position_count(valuestring) * self.field_boost)
