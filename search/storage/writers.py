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
  and check the total after the commit (``check_count``);
* a sub-writer whose write fails (a full disk) prints a raw traceback and
  dies, and a parent feeding the job queue of dead sub-writers blocks for
  ever: each sub-writer hands its error to the parent through a queue
  instead, and the parent raises it (the same OSError) at its next job or at
  the commit.

A write that fails can also fail Whoosh's own ``cancel()`` (it flushes files
to the same full disk), leaving its temp folder (``MAIN.tmp``, 2.4 MB of
posting runs after ENOSPC on a 3 MB disk) and its write lock behind:
``discard()`` cancels and then removes both whatever cancel did.

The sub-writers are started by Whoosh with the platform's default start
method; they are only used where that is fork (Linux before Python 3.14),
since a spawned sub-writer would need the whole writer pickled.

Three more changes to MpWriter (the last one to every writer here):

* **Deterministic.**  Whoosh hands each batch of documents to whichever
  sub-writer takes it first and publishes the segments in the order they
  finish, so two builds of the same files differed in document numbers, and
  with them in tie order and in which copy of a story a search shows.  Here
  sub-writer i has its own queue and gets batches i, i+N, i+2N...; its
  segments are published in place i, in the order it wrote them.
* **Side-cars written in the sub-writers.**  Each sub-writer writes its
  segment's side-car (search.storage.sidecar) before reporting the segment, so the
  side-cars of a full build are written on all cores at once instead of one
  after another by the parent at the commit (which still checks each one,
  and writes any that is missing).
* **Bulk postings.**  Every writer here hands its postings to
  search.storage.postings' TermPool (flat arrays) instead of Whoosh's
  PostingPool, and writes them 128 at a time through Whoosh's own block
  writer; the segment files are byte for byte Whoosh's.  The new segment's
  side-car is made from the same arrays, not read back from the segment.

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
import logging
import multiprocessing
import os
import pickle
import queue
import shutil
import threading
import time
from array import array
from collections.abc import Iterator
from typing import Any

from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter, W3PerDocWriter, W3PostingsWriter, W3Segment
from whoosh.multiproc import MpWriter, SubWriterTask
from whoosh.util import random_name
from whoosh.writing import SegmentWriter

from search.errors import SearchError
from search.storage.blocks import PackedBlocks, pack_inlined
from search.storage.postings import BulkWriting
from search.storage import stems
from search.storage.schema import known_stems, record_terms
from search.storage.segments import segment_readers
from search.storage.sidecar import SideCarCommit, write_missing
from search.storage.stored import StoredFields

log = logging.getLogger(__name__)

#: Posting lists shorter than this are kept in the terms table (PackedCodec).
INLINE_LIMIT = 8


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


class _InliningPostingsWriter(PackedBlocks, W3PostingsWriter):  # type: ignore[misc]
    """Whoosh's postings writer, with its inlining of short posting lists working.

    A posting list shorter than the codec's ``inlinelimit`` is meant to be
    kept in its term's entry of the terms table rather than as a block of
    the postings file: a block costs some 60 bytes of framing, two pickles
    and a zlib stream for one posting.  Whoosh 2.7.4 calls a method that does
    not exist there (``set_inline``; the term info has ``set_inlined``), so
    its default limit of 1 never inlines anything and any other fails.
    Readers have always read inlined lists (``W3Codec.postings_reader``)."""

    _terminfo: Any
    #: search.storage.postings writes a field's terms in bulk for this writer, inlining as it does.
    inlines_short_lists = True

    def finish_postings(self) -> Any:
        terminfo = self._terminfo
        if not self.written() and len(self) < self._inlinelimit:
            terminfo.add_block(self)
            terminfo._inlined = pack_inlined(self._format, self._ids, self._weights, self._values)  # set_inlined, packed
            self._terminfo = None
            return terminfo
        return super().finish_postings()


class _TableLengths:
    """A segment's per-document reader as Whoosh's posting writer asks it,
    ``doc_field_length(docnum, field)`` once per posting, answered from a
    table of each field's lengths made on its first question.  Whoosh's own
    lookup goes through its column cache and a file-name check each time
    (some 18 us); it was a quarter of the time spent writing postings in a
    Reuters build (profiled, one process).  The table holds Whoosh's own
    answers, one per document instead of one per posting, so the segment
    written is the same."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.tables: dict[str, list[Any]] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> Any:
        if default != 0:
            return self.reader.doc_field_length(docnum, fieldname, default)
        table = self.tables.get(fieldname)
        if table is None:
            ask = self.reader.doc_field_length
            table = self.tables[fieldname] = [ask(d, fieldname, 0) for d in range(self.reader.doc_count_all())]
        return table[docnum]


class _FieldWriter(W3FieldWriter):  # type: ignore[misc]
    def add_postings(self, schema: Any, lengths: Any, items: Any) -> Any:
        return super().add_postings(schema, _TableLengths(lengths) if lengths else lengths, items)


class _PerDocWriter(W3PerDocWriter):  # type: ignore[misc]
    """Whoosh's per-document writer, storing each document's stored fields
    as a StoredFields (search.storage.stored: pickled as their values alone)."""

    _storedfields: dict[str, Any] | None  # Whoosh's, untyped: set by start_doc

    def finish_doc(self) -> None:
        if self._storedfields:
            self._storedfields = StoredFields(self._storedfields)
        super().finish_doc()


class PackedCodec(W3Codec):  # type: ignore[misc]
    """Whoosh's default codec, writing its terms index with packed buckets,
    a term's posting list inline in the terms table when it has fewer than
    INLINE_LIMIT postings, and each document's stored fields as their values
    alone (search.storage.stored).  Most of a news index's terms (the id,
    the finest date steps of each record, and half the words) have one
    posting: inlined, they took 4.4 MB less of Reuters' 97.5 MB; lists of
    2-7 postings (a fifth of the terms) 0.7 MB less of 64 MB, where a block
    of its own costs some 60 bytes of framing and a zlib stream."""

    def __init__(self) -> None:
        super().__init__(inlinelimit=INLINE_LIMIT)

    def field_writer(self, storage: Any, segment: Any) -> Any:
        writer = _FieldWriter(self, storage, segment)
        writer._tindex.buckets = [_PackedBucket() for _ in writer._tindex.buckets]
        return writer

    def per_document_writer(self, storage: Any, segment: Any) -> Any:
        return _PerDocWriter(self, storage, segment)

    def postings_writer(self, dbfile: Any, byteids: bool = False) -> Any:
        return _InliningPostingsWriter(
            dbfile, blocklimit=self._blocklimit, byteids=byteids, compression=self._compression,
            inlinelimit=self._inlinelimit,
        )  # fmt: skip

    def new_segment(self, storage: Any, indexname: str) -> Any:
        # A segment is pickled into the index's table of contents with its
        # codec: name the stock one, so that no index depends on this class.
        return W3Segment(W3Codec(), indexname)


class _Results:
    """A sub-writer's end of the result queue: before its segments are reported,
    each one's side-car is checked (and written if missing) and the segment
    tagged with the sub-writer's place and its own number there, so the
    parent publishes the segments in that order."""

    def __init__(self, task: _SubWriter) -> None:
        self.task = task
        self.queue = task.resultqueue

    def put(self, item: Any, *args: Any, **kwargs: Any) -> None:
        runname, fieldnames, segments = item  # our sub-writers report a list of segments
        from search.storage.schema import TEXT_FIELD

        write_missing(self.task.storage, self.task.writer.schema, segments, TEXT_FIELD)
        for number, segment in enumerate(segments):
            segment.subwriter_place = (self.task.place, number)
        self.queue.put((runname, fieldnames, segments), *args, **kwargs)


class _SubWriter(SubWriterTask):  # type: ignore[misc]
    def __init__(
        self, *args: Any, inherited: tuple[int, ...] = (), errors: Any = None, place: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.parent_pid = os.getpid()
        self.inherited = inherited
        self.errors = errors
        self.place = place

    def run(self) -> None:
        close_inherited(self.inherited)
        exit_with(self.parent_pid)
        self.resultqueue = _Results(self)
        try:
            self._write()
        except BaseException as exc:  # reported by the parent, not printed here as a traceback
            if self.errors is None:
                raise
            self.errors.put(_describe(exc))
            self.errors.close()
            self.errors.join_thread()

    def _process_file(self, filename: str, doc_count: int) -> None:
        # A job file is one pickled batch (ParallelWriter._enqueue), not Whoosh's one pickle a document.
        writer = self.writer
        tempstorage = writer.temp_storage()
        with tempstorage.open_file(filename).raw_file() as jobs:
            batch = pickle.load(jobs)
        assert len(batch) == doc_count
        for code, fields in batch:
            assert code == 0
            writer.add_document(**fields)
        tempstorage.delete_file(filename)

    def _write(self) -> None:
        # Whoosh's SubWriterTask.run (multisegment), with the bulk posting writer,
        # ending a segment and starting the next whenever the pool is full
        # (some 28,000 Reuters-like records at limitmb 96), so that a
        # sub-writer's memory does not grow with the size of the build.
        ix = self.storage.open_index(self.indexname)
        self.writer = _BulkWriter(ix, _lk=False, **self.kwargs)
        segments: list[Any] = []
        fieldnames: set[str] = set()
        while self.running:
            jobinfo = self.jobqueue.get()
            if jobinfo is None:
                break
            self._process_file(*jobinfo)
            if self.writer.pool_full():
                fieldnames |= self.writer.pool.fieldnames
                segments.append(self.writer._finalize_segment())
                self.writer = _BulkWriter(ix, _lk=False, **self.kwargs)
        if not self.running:
            self.writer.cancel()
            return
        if self.writer._added or not segments:
            fieldnames |= self.writer.pool.fieldnames
            segments.append(self.writer._finalize_segment())
        # The words this sub-writer stemmed, for the incremental runs after the build.
        stems.save(self.storage.folder, known_stems(), str(self.place))
        self.resultqueue.put((None, fieldnames, segments), timeout=5)


def _describe(exc: BaseException) -> tuple[int | None, str, str | None]:
    """A sub-writer's failure as plain data a queue can carry: (errno, message, filename)."""
    if isinstance(exc, OSError):
        return exc.errno, exc.strerror or str(exc), None if exc.filename is None else str(exc.filename)
    return None, f"{type(exc).__name__}: {exc}", None


def _raise_described(failure: tuple[int | None, str, str | None]) -> None:
    code, message, filename = failure
    if code is not None:
        raise OSError(code, message, filename) if filename else OSError(code, message)
    raise SearchError(
        f"a parallel sub-writer failed: {message}; the build was not published",
        hint="Run the build again; if it recurs, run it with --procs 1 and report it.",
    )


class _JobQueue:
    """The parent's end of the job queues: batch k goes to sub-writer k mod N
    (each has its own queue), the end-of-jobs marker once to each; a put
    never blocks for ever on sub-writers that died, but raises the error
    they reported."""

    def __init__(self, writer: ParallelWriter) -> None:
        self.writer = writer
        self.queues: list[Any] = []
        self.jobs = 0
        self.ends = 0

    def put(self, item: Any) -> None:
        if item is None:
            place, self.ends = self.ends, self.ends + 1
        else:
            place, self.jobs = self.jobs % len(self.queues), self.jobs + 1
        while True:
            self.writer.raise_failure()
            try:
                self.queues[place].put(item, timeout=0.5)
                return
            except queue.Full:
                if not self.writer.tasks[place].is_alive():
                    self.writer.raise_failure()
                    raise SearchError("a parallel sub-writer stopped; the build was not published") from None


class ParallelWriter(SideCarCommit, MpWriter):  # type: ignore[misc]
    """MpWriter with sub-writers that can be cancelled and die with us.

    The sub-writers are forked with the garbage collector's objects frozen
    (gc.freeze) and thawed after the commit.  A forked child shares its
    parent's heap until either writes to a page, and a full collection
    writes into the header of every object it visits: without the freeze, the
    first one in each process copied the pages of the build's list of files
    (some 250 MB at 1,000,000 files) into each sub-writer."""

    docbuffer: list[Any]  # Whoosh's batch of (code, fields) waiting for a sub-writer

    def __init__(self, ix: Any, *, inherited: tuple[int, ...] = (), **kwargs: Any) -> None:
        super().__init__(ix, **kwargs)
        self.inherited = inherited
        self.froze = False
        self.errors: Any = multiprocessing.Queue()
        # Each sub-writer gets a queue of its own, as big as Whoosh's shared one; our end times out.
        self.queue_size = 4 * self.procs
        self.jobqueue: Any = _JobQueue(self)

    def _new_task(self) -> Any:
        if not self.tasks:
            # The commit maps every side-car, so this process imports numpy anyway; imported
            # before the sub-writers fork, they share it instead of importing it each (about
            # 0.13 s of CPU apiece, for their side-cars).
            import numpy  # noqa: F401
        if not self.tasks and gc.get_freeze_count() == 0:  # a caller's own freeze is left alone
            gc.freeze()
            self.froze = True
        inherited = self.inherited + lock_fds(self)
        jobs: Any = multiprocessing.Queue(self.queue_size)
        self.jobqueue.queues.append(jobs)
        task = _SubWriter(
            self.storage, self.indexname, jobs, self.resultqueue, self.subargs, True,
            inherited=inherited, errors=self.errors, place=len(self.tasks),
        )  # fmt: skip
        self.tasks.append(task)
        task.start()
        return task

    def _commit_toc(self, segments: list[Any]) -> None:
        # The sub-writers' segments in their places, whatever order they finished in
        # (each sub-writer reports a list of them, which Whoosh's commit passes on as one).
        segments = [s for item in segments for s in (item if isinstance(item, list) else [item])]
        placed = sorted((s for s in segments if hasattr(s, "subwriter_place")), key=lambda s: s.subwriter_place)
        for segment in placed:
            del segment.subwriter_place  # not pickled into the table of contents
        ids = {id(s) for s in placed}
        super()._commit_toc([s for s in segments if id(s) not in ids] + placed)

    def _enqueue(self) -> None:
        # Whoosh's MpWriter._enqueue, pickling the batch in one call at the newest protocol
        # instead of a call a document at protocol 2, which has no type for bytes (each
        # document's record, source and duplicate keys were pickled as calls to
        # codecs.encode): Reuters' batches 0.18 + 0.30 s to pickle and load, now 0.14 + 0.09 s.
        docbuffer = self.docbuffer
        filename = f"{random_name()}.doclist"
        with self.temp_storage().create_file(filename).raw_file() as jobs:
            pickle.dump(docbuffer, jobs, pickle.HIGHEST_PROTOCOL)
        if len(self.tasks) < self.procs:
            self._new_task()
        self.jobqueue.put((filename, len(docbuffer)))
        self.docbuffer = []

    def end_group(self) -> None:
        # Whoosh sends a full batch only from add_document outside a group, so a
        # writer that adds every document in a group would send one batch at the end.
        super().end_group()
        if not self._grouping and len(self.docbuffer) >= self.batchsize:
            self._enqueue()

    def raise_failure(self) -> None:
        """Raise the error a sub-writer reported, if one did."""
        try:
            failure = self.errors.get_nowait()
        except queue.Empty:
            return
        _raise_described(failure)

    def commit(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().commit(*args, **kwargs)
            for task in self.tasks:
                task.join()
            # A sub-writer that failed has lost its segment: the commit above wrote a table
            # of contents without it, into a generation the caller will not publish.
            with contextlib.suppress(queue.Empty):
                _raise_described(self.errors.get(timeout=0.2))
        finally:
            self._thaw()
            self.errors.close()

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
                self.errors.close()

    def _thaw(self) -> None:
        if self.froze:
            gc.unfreeze()
            self.froze = False


def discard(writer: Any) -> None:
    """Cancel `writer` after a failure, then remove what a failing cancel leaves:
    its temp folder of posting runs and job files, and Whoosh's write lock."""
    if getattr(writer, "is_closed", False):
        return  # committed already (what failed came after): its segment is in the table of contents
    try:
        writer.cancel()
    except Exception as exc:  # noqa: BLE001 - the first failure is the one to report
        log.debug("cancelling the writer failed too: %s", exc)
    finally:
        folder = getattr(getattr(writer, "_tempstorage", None), "folder", None)
        if isinstance(folder, str):
            shutil.rmtree(folder, ignore_errors=True)
        segment, storage = getattr(writer, "newsegment", None), getattr(writer, "storage", None)
        if segment is not None and storage is not None:  # never in a table of contents: no reader has it
            with contextlib.suppress(Exception):
                for name in segment.list_files(storage):
                    storage.delete_file(name)
        lock = getattr(writer, "writelock", None)
        if lock is not None and getattr(lock, "locked", False):
            with contextlib.suppress(Exception):
                lock.release()


class _BulkWriter(BulkWriting, SegmentWriter):  # type: ignore[misc]
    """Whoosh's writer with the bulk posting writer (search.storage.postings),
    making its new segment's side-car from the arrays it writes the postings from."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from search.storage.schema import TEXT_FIELD

        super().__init__(*args, **kwargs)
        self.sidecar_field = TEXT_FIELD


class Writer(SideCarCommit, _BulkWriter):
    """The writer of incremental runs: its new segment's side-car is made
    with its postings; the commit writes those of merged segments (search.storage.sidecar)."""


#: The most documents an incremental commit merges small segments into.  Whoosh's
#: MERGE_SMALL waits until some 22 segments have piled up and then merges all of
#: them but the largest into one: an incremental run adding 200,000 files, 5,000 a
#: commit, to a 100,000-record index would merge 180,000 documents at its 16th
#: commit, every posting of them held in the writer's pool (never spilled) and
#: then in the sorted arrays and the side-car's.  About the size of a full build's
#: segment (a posting pool of WRITER_LIMIT_MB holds some 28,000 Reuters records).
MERGE_LIMIT = 20_000


def merge_bounded(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh's MERGE_SMALL, with no merged segment above MERGE_LIMIT documents.

    When MERGE_SMALL finds its merge point (it merges the smallest segments
    up to it), the smallest segments are merged into the writer's new one as
    long as it then holds at most MERGE_LIMIT documents; those past it are
    kept as they are.  Segments are sized by their LIVE documents, which is
    what a merge writes (Whoosh's MERGE_SMALL counts the deleted ones too):
    a segment of 20,000 with 15,000 deleted is one of 5,000, merged like one
    and its dead documents dropped, not too large to merge and kept with its
    dead postings, stored fields and their weight in idf until ``--full``.
    Below the limit and without deletions this is MERGE_SMALL itself."""
    from whoosh.reading import SegmentReader
    from whoosh.util import fib

    ordered = sorted(segments, key=lambda s: s.doc_count())
    total = 0
    point = -1
    for i, segment in enumerate(ordered):
        total += max(segment.doc_count(), 0)
        if i > 3 and total < fib(i + 5):  # MERGE_SMALL's merge point
            point = i
            break
    if point < 1:
        return segments
    taken: list[Any] = []
    total = int(getattr(writer, "docnum", 0))  # the merged segments join the writer's own documents
    for segment in ordered[: point + 1]:
        if total + segment.doc_count() > MERGE_LIMIT:
            break
        taken.append(segment)
        total += segment.doc_count()
    if len(taken) < 2:
        return segments
    for segment in taken:
        reader = SegmentReader(writer.storage, writer.schema, segment)
        writer.add_reader(reader)
        reader.close()
    return ordered[len(taken) :]


def parallel_available(procs: int) -> bool:
    return procs > 1 and multiprocessing.get_start_method(allow_none=False) == "fork"


def open_writer(
    ix: Any, *, parallel: bool, procs: int, limitmb: int, inherited: tuple[int, ...] = (), merge: bool = True
) -> Any:
    """A writer for `ix`: parallel (for a full build into a new generation) or not.

    ``merge=False``: its commit merges no segments (a full build's commits, whose
    segments are as large as a posting pool holds: merging them would write them
    again and change the order of the documents against a build in one segment)."""
    codec = PackedCodec()
    if parallel and parallel_available(procs):
        writer: Any = ParallelWriter(
            ix, procs=procs, batchsize=100, multisegment=True, limitmb=limitmb, codec=codec, inherited=inherited
        )
    else:
        writer = Writer(ix, limitmb=limitmb, codec=codec)
    writer.merge = merge
    if merge:
        writer.mergetype = merge_bounded
    return writer


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
    through one reader: Whoosh's delete_by_term opens a reader per call,
    about 1.4 ms each, which made a 1% incremental run of Reuters 45% slower.
    Each term is looked up in each segment directly: one query over all of
    them (an Or of 624 terms for a 1% run of Reuters) took 43 ms in Whoosh's
    query machinery (sizing, sorting and merging its 624 matchers), the
    lookups themselves 16 ms.  Whoosh's postings() makes a set of its
    segment's deleted documents at every call, which the deletions of earlier
    runs make long (312 paths over 30,000 records: 29-48 ms of CPU with none
    deleted, 70-77 ms with 10,000 deleted in each segment, 23-26 ms with the
    set made once; the review's measure): the few documents found are asked
    instead (_live_postings)."""
    if paths:
        terms = [(field, text) for path in paths for field, text in record_terms(path)]
        with writer.searcher() as searcher:
            reader = searcher.reader()
            doomed: set[int] = set()
            for leaf, offset in segment_readers(reader):
                for docnum in _live_postings(leaf, terms):
                    doomed.add(offset + docnum)
            for docnum in sorted(doomed):
                writer.delete_document(docnum)
        paths.clear()


def _live_postings(leaf: Any, terms: list[tuple[str, str]]) -> Iterator[int]:
    """The live documents of `leaf` holding any of `terms` (a document once a term)."""
    matcher = getattr(getattr(leaf, "_terms", None), "matcher", None)
    if matcher is None or not hasattr(leaf, "_text_to_bytes"):  # not Whoosh's SegmentReader: its own postings
        for term in terms:
            if term in leaf:
                yield from leaf.postings(*term).all_ids()  # the postings leave out documents already deleted
        return
    # The segment's raw postings, each document asked whether it is deleted (a set lookup).
    deleted, schema = leaf.is_deleted, leaf.schema
    for field, text in terms:
        if (field, text) in leaf:
            ids = matcher(field, leaf._text_to_bytes(field, text), schema[field].format).all_ids()
            yield from (docnum for docnum in ids if not deleted(docnum))
