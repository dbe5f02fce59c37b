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

from search.api import Index
from search.errors import DocumentNotFoundError, SearchError, UsageError

__all__ = ["IndexPool", "ServerBusyError"]

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
    """Up to `size` open Index objects over `index_dir`; see the module docstring."""

    def __init__(self, index_dir: Path, size: int, wait: float) -> None:
        if size < 1:
            raise UsageError(f"--searchers must be 1 or more, not {size}", option="--searchers")
        self.index_dir = index_dir
        self.size = size
        self.wait = wait
        self._free: queue.LifoQueue[Index] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._opened = 0
        self._closed = False
        # Opened now, so that a missing or damaged index stops `serve` at once
        # with the library's message instead of failing the first request.
        self._free.put(self._open())

    def _open(self) -> Index:
        with self._lock:
            self._opened += 1
        try:
            return Index(self.index_dir)
        except BaseException:
            with self._lock:
                self._opened -= 1
            raise

    def _take(self) -> Index:
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
    def index(self) -> Iterator[Index]:
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
