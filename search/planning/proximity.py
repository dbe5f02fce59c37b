"""The proximity bonus's part of the plan: which queries have it, and when
a document's words are near enough.

A query of two to PROXIMITY_MAX_WORDS words scores its words once more in a
document that holds them in order, each at most PHRASE_SLOP positions after
the one before (Whoosh's sloppy phrase, ``Phrase(..., slop=PHRASE_SLOP)``).
The embedded engine tests it over arrays of every matching document at once
(search.backends.engine); near_in_order is the same test for one document,
which the cluster's re-ranking (search.backends.cluster.rerank) applies to
each candidate.  Pure Python: it loads neither Whoosh's searcher nor numpy.
"""

from __future__ import annotations

__all__ = ["PHRASE_SLOP", "PROXIMITY_MAX_WORDS", "near_in_order"]

#: Queries of two to this many words score their words' proximity.
PROXIMITY_MAX_WORDS = 4
#: Query words within this many positions of each other score a bonus.
PHRASE_SLOP = 3


def near_in_order(positions: list[list[int]], slop: int) -> bool:
    """Whoosh's SpanNear2(ordered=True, mindist=1) over one document: each
    word's positions (sorted), each word after the last span's end, at a
    distance of 1 to `slop`; spans grow as words join."""
    spans = {(p, p) for p in positions[0]}
    for later in positions[1:]:
        grown = set()
        for start, end in spans:
            for p in later:
                if p < start:
                    continue
                if p > end + slop:
                    break
                dist = p - end if p > end else 0
                if 1 <= dist <= slop:
                    grown.add((start, max(end, p)))
        spans = grown
        if not spans:
            return False
    return bool(spans)
