"""The sizes a request may ask for, declared once for the library and the
command line (whose options take their bounds from here).

A library call out of bounds is a UsageError naming the library's
parameter (``limit``); the command line names its own flag instead."""

from __future__ import annotations

__all__ = ["MAX_LIMIT", "MAX_SUGGESTIONS"]

#: Hits on one page (search, similar): enough for any screen or export, bounded for memory.
MAX_LIMIT = 1_000
#: Completions one `suggest` returns: a list a person picks from.
MAX_SUGGESTIONS = 50
