"""The periodic reindex job: run the incremental build on a schedule.

``watch()`` runs ``build_index`` (or, with a cluster's URL, the run into
that cluster, search.indexing.cluster) every `every` seconds until `stop` is set,
logging one line per run.  A failed run (a busy index, a full disk, an
unreadable folder) is logged and the loop goes on; the next run redoes what
the failed one did not commit.  Only what no later run could do better
ends it, raising: a `wait` that is not a number of seconds, and a first run
told that `index_dir` is not an index (NotAnIndexError).  Stopping is cooperative: the caller sets the
event (the CLI does so on SIGINT/SIGTERM), the run under way finishes or is
cancelled by Whoosh's writer, and the index is never left half-written,
because every commit is atomic.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence

from search.bounds import check_seconds
from search.errors import NotAnIndexError, SearchError, UsageError
from search.indexing.indexer import build_index
from search.records import Limits
from search.results import IndexReport
from search.settings import parse_duration

log = logging.getLogger(__name__)


#: The longest interval between runs: a year.  threading.Event.wait() takes at most
#: threading.TIMEOUT_MAX (292 years on Linux); `--every 99999999999d` passed the parser
#: and then crashed the loop with OverflowError.
MAX_INTERVAL = 365 * 86400.0


def parse_interval(text: str) -> float:
    """'90', '30s', '10m', '1h', '1d' -> seconds (> 0, at most MAX_INTERVAL)."""
    seconds = parse_duration(text, option="every")
    if not seconds <= MAX_INTERVAL:
        raise UsageError(
            f"invalid interval for `every`: {text!r} is longer than a year (365d); use e.g. 10m, 1h, 7d",
            option="every",
        )
    return seconds


def watch(
    paths: Sequence[str | os.PathLike[str]],
    index_dir: str | os.PathLike[str],
    *,
    every: float,
    stop: threading.Event,
    wait: float = 0.0,
    limits: Limits | None = None,
    follow_symlinks: bool = False,
    max_runs: int | None = None,
    on_report: Callable[[IndexReport | SearchError], None] | None = None,
    allow_empty: bool = False,
    backend: str | None = None,
) -> int:
    """Reindex every `every` seconds until `stop` is set; returns the number of runs.

    With `backend` (a cluster's URL) each run is reindex_cluster's, its alerts
    kept in `index_dir` (search.indexing.cluster)."""
    check_seconds(wait, "wait")  # before the loop: each run would refuse it again
    runs = 0
    while not stop.is_set() and (max_runs is None or runs < max_runs):
        started = time.monotonic()
        outcome: IndexReport | SearchError
        try:
            if backend:
                from search.indexing.cluster import reindex_cluster

                outcome = reindex_cluster(
                    paths, backend, index_dir, wait=wait, limits=limits, follow_symlinks=follow_symlinks,
                    allow_empty=allow_empty,
                )
            else:
                outcome = build_index(
                    paths, index_dir, wait=wait, limits=limits, follow_symlinks=follow_symlinks, allow_empty=allow_empty
                )
            log.info("reindex: %s", outcome.summary())
            for place in outcome.kept:
                log.warning("reindex kept the records under %s: %s", place.path, place.error)
        except SearchError as exc:
            if runs == 0 and isinstance(exc, NotAnIndexError):
                # --index names a file or a folder of other files: every later run would
                # fail alike, for ever (a missing root, by contrast, may be mounted later).
                raise
            outcome = exc
            log.error("reindex failed: %s", exc)
        except OSError as exc:  # a full disk or a vanished folder must not end the job
            outcome = SearchError(f"{type(exc).__name__}: {exc}")
            log.error("reindex failed: %s", outcome)
        runs += 1
        if on_report:
            on_report(outcome)
        if max_runs is not None and runs >= max_runs:
            break
        stop.wait(max(0.0, every - (time.monotonic() - started)))
    return runs
