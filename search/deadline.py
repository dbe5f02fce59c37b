"""Deadlines: how long one query may work, checked where the work is done.

A query's time limit (``time_limit=`` in the library, ``--time-limit`` or
``SEARCH_TIME_LIMIT`` on the command line, 5 seconds by default; see
search.settings) becomes one Deadline when the search starts.  It is passed
explicitly to every loop that can run long, never kept in a global:

* search.backends.engine reads postings a block at a time (128 postings) and asks
  ``deadline.expired()`` before each block and before each term;
* on Whoosh's searcher (raw queries, sorted orders) search.backends.query walks the
  matchers itself and asks every DOCS_PER_CHECK documents, during matching
  and during collection;
* search.planning.syntax asks before each term a raw wildcard or range expands to.

The interface, for any loop that joins them (a scorer over arrays, a
cluster backend): call ``expired()`` at block or batch boundaries, never per
posting (it reads the monotonic clock, about 60 ns); when it says True, stop
and return what was found so far, which must be a subset of the full answer
(never a document the full query would not match).  ``expired()`` stays True
once it has said so, and ``fired`` records that it did: the search marks its
page ``timed_out``, so a cut-short page is never mistaken for a whole one.
A deadline that no loop noticed did not cut anything and is not reported.

``Deadline(None)`` never expires (a time limit of 0 or None means no limit);
``Deadline(0)`` has already expired (tests use it to force every path).
"""

from __future__ import annotations

import time

__all__ = ["DEFAULT_TIME_LIMIT", "DOCS_PER_CHECK", "Deadline"]

#: Seconds a query may work by default.  A keyword query on Reuters takes
#: milliseconds; the worst hostile queries ran 18-44 s before deadlines.
DEFAULT_TIME_LIMIT = 5.0
#: Documents a Whoosh matcher steps through between two looks at the clock:
#: a few hundred microseconds of work, a few nanoseconds each for the check.
DOCS_PER_CHECK = 256


class Deadline:
    """The moment a query must stop by (see the module docstring)."""

    __slots__ = ("_end", "_shares", "fired", "limit", "started")

    def __init__(self, limit: float | None) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"a time limit cannot be negative: {limit}")
        self.limit = limit
        self.started = time.monotonic()
        self._end = None if limit is None else self.started + limit
        self.fired = False
        self._shares: list[Deadline] = []

    def expired(self) -> bool:
        """True once the time is up (and from then on); sets `fired`."""
        if not self.fired and self._end is not None and time.monotonic() >= self._end:
            self.fired = True
        return self.fired

    def share(self, fraction: float) -> Deadline:
        """A deadline `fraction` of the way from now to this one, for a first
        stage that must leave time to the next.  Its firing does not expire
        this one, but counts in this one's `timed_out`."""
        part = Deadline(None)
        if self._end is not None:
            part.limit = max(0.0, self._end - time.monotonic()) * fraction
            part._end = part.started + part.limit
        part.fired = self.fired
        self._shares.append(part)
        return part

    @property
    def timed_out(self) -> bool:
        """Whether this deadline, or a share of it, cut some work short."""
        return self.fired or any(part.timed_out for part in self._shares)

    def remaining(self) -> float | None:
        """Seconds left (at least 0), or None for no limit."""
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __repr__(self) -> str:
        return f"Deadline(limit={self.limit!r}, fired={self.fired})"
