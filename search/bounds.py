"""The sizes a request may ask for, declared once for the library and the
command line (whose options take their bounds from here), and the one check
of a number of seconds (a query's time limit, a writer's wait).

A library call out of bounds is a UsageError naming the library's
parameter (``limit``); the command line names its own flag instead."""

from __future__ import annotations

from search.errors import UsageError

__all__ = ["MAX_LIMIT", "MAX_SUGGESTIONS", "check_seconds"]

#: Hits on one page (search, similar): enough for any screen or export, bounded for memory.
MAX_LIMIT = 1_000
#: Completions one `suggest` returns: a list a person picks from.
MAX_SUGGESTIONS = 50


def check_seconds(value: object, parameter: str) -> None:
    """A UsageError naming `parameter` unless `value` is a number of seconds, 0
    or more.  NaN is not (every comparison with it is false: no deadline is
    ever reached, a busy index would block for ever, and a server given it
    refused every request); nor is a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise UsageError(f"`{parameter}` must be 0 or more seconds, not {value}", option=parameter)
