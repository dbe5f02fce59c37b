"""Open indexes for concurrent requests: each one is used by one request at a time.

An `Index` keeps one Whoosh searcher and is meant for one thread at a time
(search.api), while the server runs requests on a pool of threads.  So the
pool holds up to `size` open Index objects, opened on demand (each costs a
searcher: about 40 ms and a few MB on Reuters) and handed out one per
request, most recently used first so that the warm ones stay warm.  Each
Index moves itself to a new generation or commit before every call, so a
reindex or a full rebuild swapping generations needs no restart.

A request that finds every Index busy waits up to `wait` seconds, then gets
ServerBusyError (503 with Retry-After): past that the queue is overload.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from search.api import Index, open_index
from search.errors import DocumentNotFoundError, SearchError, UsageError

if TYPE_CHECKING:
    from search.backends.cluster.backend import ClusterIndex

__all__ = ["IndexPool", "ServerBusyError"]

#: What the pool hands out: the embedded Index, or one over a cluster (--backend).
Searchable: TypeAlias = "Index | ClusterIndex"

log = logging.getLogger(__name__)


class ServerBusyError(SearchError):
    """Every searcher stayed busy for the whole wait; the client should retry."""

    def __init__(self, size: int, waited: float) -> None:
        self.waited = waited
        super().__init__(
            f"all {size} searchers stayed busy for {waited:g}s",
            hint="Retry in a moment; the server's operator can raise --searchers.",
        )


class IndexPool:
    """Up to `size` open Index objects over `index_dir` (or the cluster at `backend`);
    see the module docstring."""

    def __init__(self, index_dir: Path, size: int, wait: float, backend: str | None = None) -> None:
        if size < 1:
            raise UsageError(f"--searchers must be 1 or more, not {size}", option="--searchers")
        self.index_dir = index_dir
        self.backend = backend
        self.size = size
        self.wait = wait
        self._free: queue.LifoQueue[Searchable] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._opened = 0
        self._closed = False
        # Opened now, so that a missing or damaged index (or a cluster that does
        # not answer) stops `serve` at once with the library's message instead
        # of failing the first request.
        first = self._open()
        try:
            first.refresh()
        except BaseException:
            first.close()
            raise
        self._free.put(first)

    def _open(self) -> Searchable:
        with self._lock:
            self._opened += 1
        try:
            return open_index(self.index_dir, backend=self.backend)
        except BaseException:
            with self._lock:
                self._opened -= 1
            raise

    def _take(self) -> Searchable:
        with contextlib.suppress(queue.Empty):
            return self._free.get_nowait()
        with self._lock:
            room = self._opened < self.size
        if room:
            return self._open()
        try:
            return self._free.get(timeout=self.wait)
        except queue.Empty:
            raise ServerBusyError(self.size, self.wait) from None

    @contextlib.contextmanager
    def index(self) -> Iterator[Searchable]:
        """An Index for this request alone, back in the pool afterwards."""
        ix = self._take()
        healthy = False
        try:
            yield ix
            healthy = True
        except SearchError as exc:
            # A user's mistake leaves the Index as it was; damage does not.
            healthy = isinstance(exc, (UsageError, DocumentNotFoundError))
            raise
        finally:
            if healthy and not self._closed:
                self._free.put(ix)
            else:
                ix.close()
                with self._lock:
                    self._opened -= 1

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return
