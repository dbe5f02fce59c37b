"""A Whoosh reader as its segments: the one place that turns a reader, of
one segment or of several, into the segment readers that hold the columns,
postings and side-cars, each with its first document's number.

Whoosh gives a multi-segment reader's parts as ``leaf_readers()``, (reader,
offset) pairs, and an atomic reader none, although it is its own one
segment at offset 0; everything that reads per segment wants the pairs.
"""

from __future__ import annotations

from typing import Any


def segment_readers(reader: Any) -> list[tuple[Any, int]]:
    """`reader`'s segment readers, each with the number its first document
    has in `reader` (add it to a segment's document number to get the
    reader's)."""
    return [(reader, 0)] if reader.is_atomic() else list(reader.leaf_readers())
