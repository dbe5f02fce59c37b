"""Whoosh writers: one for incremental runs, a parallel one for full builds.

A full build spends most of its time in Whoosh's per-posting Python code
(analysis, then sorting and writing postings), which one writer runs on one
core.  Whoosh's MpWriter farms documents out to sub-writer processes that
each write their own segment; with ``multisegment=True`` the segments are
kept as they are.  On Reuters (20,841 records, 2 cores) that took a full
build from 28.3 s to 15.5 s.  Three defects of MpWriter 2.7.4 are designed
around here:

* its ``cancel()`` flips a flag on the parent's copy of each sub-process,
  so the sub-processes never learn of it and wait on their queue for ever
  (and the parent then hangs joining them at exit): we terminate them;
* a sub-writer killed with its parent (SIGKILL) also waits for ever: each
  one watches its parent and exits with it;
* a sub-writer that dies loses its segment silently (the parent's commit
  skips a missing result after 1 s): callers count the documents they added
  and check the total after the commit (``check_count``).

The sub-writers are started by Whoosh with the platform's default start
method; they are only used where that is fork (Linux before Python 3.14),
since a spawned sub-writer would need the whole writer pickled.

Every writer here also writes its terms index with packed hash entries
(``PackedCodec``): Whoosh keeps a (hash, offset) tuple for each term of a
segment until the segment closes, about 140 bytes a term, and each record
brings several terms no other record has (id, path, URLs, dates), some 4
million in each sub-writer of a 1,000,000-record build.  Closing its
segment took each sub-writer 320-340 MB more there; packed, 64 MB.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import threading
import time
from array import array
from collections.abc import Iterator
from typing import Any

from whoosh import query
from whoosh.codec.whoosh3 import W3Codec, W3Segment
from whoosh.multiproc import MpWriter, SubWriterTask

from search.errors import SearchError


def exit_with(parent: int) -> None:
    """In a helper process: exit when `parent` dies (polled once a second)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def lock_fds(writer: Any) -> tuple[int, ...]:
    """The descriptor of the Whoosh write lock `writer` holds, if any."""
    fd = getattr(getattr(writer, "writelock", None), "fd", None)
    return (fd,) if isinstance(fd, int) else ()


def close_inherited(fds: tuple[int, ...]) -> None:
    """In a forked helper: close the parent's lock files (ours and Whoosh's).
    flock() belongs to the open file, which a fork shares, so a helper still
    holding it would keep the index locked after its writer was killed."""
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class _PackedBucket:
    """One of the 256 buckets of Whoosh's on-disk hash table while it is
    written: its (hash, offset) entries in two arrays, 12 bytes each instead
    of a list of tuples.  The file written is byte for byte the same."""

    __slots__ = ("hashes", "offsets")

    def __init__(self) -> None:
        self.hashes = array("I")  # Whoosh's hashes are 32-bit
        self.offsets = array("Q")

    def append(self, entry: tuple[int, int]) -> None:
        self.hashes.append(entry[0])
        self.offsets.append(entry[1])

    def __len__(self) -> int:
        return len(self.hashes)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.hashes, self.offsets, strict=True)


class PackedCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's default codec, writing its terms index with packed buckets."""

    def field_writer(self, storage: Any, segment: Any) -> Any:
        writer = super().field_writer(storage, segment)
        writer._tindex.buckets = [_PackedBucket() for _ in writer._tindex.buckets]
        return writer

    def new_segment(self, storage: Any, indexname: str) -> Any:
        # A segment is pickled into the index's table of contents with its
        # codec: name the stock one, so that no index depends on this class.
        return W3Segment(W3Codec(), indexname)


class _SubWriter(SubWriterTask):  # type: ignore[misc]
    def __init__(self, *args: Any, inherited: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.parent_pid = os.getpid()
        self.inherited = inherited

    def run(self) -> None:
        close_inherited(self.inherited)
        exit_with(self.parent_pid)
        super().run()


class ParallelWriter(MpWriter):  # type: ignore[misc]
    """MpWriter with sub-writers that can be cancelled and die with us.

    The sub-writers are forked with the garbage collector's objects frozen
    (gc.freeze) and thawed after the commit.  A forked child shares its
    parent's heap until either writes to a page, and a full collection
    writes into the header of every object it visits: without the freeze, the
    first one in each process copied the pages of the build's list of files
    (some 250 MB at 1,000,000 files) into each sub-writer."""

    def __init__(self, ix: Any, *, inherited: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self.inherited = inherited
        self.froze = False

    def _new_task(self) -> Any:
        if not self.tasks and gc.get_freeze_count() == 0:  # a caller's own freeze is left alone
            gc.freeze()
            self.froze = True
        inherited = self.inherited + lock_fds(self)
        task = _SubWriter(
            self.storage, self.indexname, self.jobqueue, self.resultqueue, self.subargs, True, inherited=inherited
        )
        self.tasks.append(task)
        task.start()
        return task

    def commit(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().commit(*args, **kwargs)
        finally:
            self._thaw()

    def cancel(self) -> None:
        try:
            for task in self.tasks:
                task.terminate()
            for task in self.tasks:
                task.join(timeout=10)
        finally:
            try:
                MpWriter.cancel(self)
            finally:
                self._thaw()

    def _thaw(self) -> None:
        if self.froze:
            gc.unfreeze()
            self.froze = False


def parallel_available(procs: int) -> bool:
    return procs > 1 and multiprocessing.get_start_method(allow_none=False) == "fork"


def open_writer(ix: Any, *, parallel: bool, procs: int, limitmb: int, inherited: tuple[int, ...] = ()) -> Any:
    """A writer for `ix`: parallel (for a full build into a new generation) or not."""
    codec = PackedCodec()
    if parallel and parallel_available(procs):
        return ParallelWriter(
            ix, procs=procs, batchsize=100, multisegment=True, limitmb=limitmb, codec=codec, inherited=inherited
        )
    return ix.writer(limitmb=limitmb, codec=codec)


def check_count(ix: Any, expected: int) -> None:
    """Raise if the committed index does not hold the `expected` documents."""
    found = ix.doc_count()
    if found != expected:
        raise SearchError(
            f"the index holds {found} documents after the build, {expected} were written; it was not published",
            hint="Run the build again; if it recurs, run it with --procs 1 and report it.",
        )


def delete_paths(writer: Any, paths: list[str]) -> None:
    """Delete the committed documents of `paths` (records and their stubs),
    through one searcher: Whoosh's delete_by_term opens a reader per call,
    about 1.4 ms each, which made a 1% incremental run of Reuters 45% slower."""
    if paths:
        with writer.searcher() as searcher:
            for docnum in searcher.docs_for_query(query.Or([query.Term("path", p) for p in paths]), for_deletion=True):
                writer.delete_document(docnum)
        paths.clear()
