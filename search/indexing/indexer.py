"""Keep an index in step with record files: full builds and incremental runs.

An incremental run is a set difference between the files under the given
roots and the files the index says it holds (MoinMoin's approach):

* the index keeps, per record, its path, size, mtime and content hash in the
  ``source`` column, so the bookkeeping lives and commits with the index;
* a file whose size and mtime are unchanged is not read at all; one whose
  stat changed is read and hashed, and re-parsed only if its bytes differ
  ("changed" means the content differs, not a newer mtime);
* except a "racy" file (git's word): one read within its mtime's timestamp
  tick, which a later edit in the same tick could change keeping its size
  and mtime.  Its bookkeeping says so (a flag bit), and the next run reads
  and hashes it again whatever its stat; read once its tick is over, it is
  written with the flag clear and left alone after (see `_racy`);
* files gone from the roots leave the index, with their related stubs;
* a file that now fails to parse loses its old version and is reported.

Changes are committed in batches (COMMIT_EVERY files), each atomic in
Whoosh, so a killed run loses at most its last batch and the next run picks
up the rest.  A full build (``full=True``, the first build, or a schema
change) writes a new generation and publishes it whole (see ``store``).

Reading and parsing run in a process pool when there are enough files to
repay its start-up, feeding the one Whoosh writer in this process; a full
build of many files instead parses here and writes in parallel
sub-processes (see ``writers``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from search.alerts.run import AlertRun
from search.errors import EmptySourceError, FolderError, IndexCorruptError, RecordError, SearchError
from search.records import Article, Limits, article_from_record, parse_record, read_source, normalise_roots, walk
from search.records import racy as _racy  # shared with the cluster's sync
from search.results import KEPT_VERSION, IndexReport, Skipped
from search.storage import stems
from search.storage.schema import (
    CACHE_LIMIT,
    SAME,
    SAME_RACY,
    SCHEMA_VERSION,
    article_documents,
    bookkeeping,
    compare_stat,
    content_digest,
    decode_source,
    doc_id,
    indexed_sources,
    known_stems,
    stat_key,
)
from search.storage.stored import Records
from search.storage.store import CorruptionGuard, Store
from search.storage.writers import (
    check_count,
    close_inherited,
    delete_paths,
    discard,
    exit_with,
    lock_fds,
    open_writer,
    parallel_available,
)

log = logging.getLogger(__name__)

#: Files per commit in an incremental run: bounds what a crash can lose.
COMMIT_EVERY = 5_000
#: Below this many files to parse, a process pool costs more than it saves
#: (spawning a worker and importing yaml takes about 0.15 s).
POOL_THRESHOLD = 2_000
#: Files a pool worker parses per task, and tasks in flight per worker.
BATCH = 200
IN_FLIGHT = 4
#: Whoosh writer memory for posting pools; its default is 128 MB.
WRITER_LIMIT_MB = 96

#: progress(done, total): record files read so far, of the total to read.
Progress = Callable[[int, int], None]
#: stage(name): what the run does after the reading, which has no count to show:
#: "writing the index" (Whoosh's commit: on a first build of Reuters, 40 s of 101 s
#: after the last file was read, while the bar stood at 20841/20841), then "sealing".
Stage = Callable[[str], None]


class _Task(NamedTuple):
    # A tuple, not a dataclass: a full build lists one per file (6 MB less at 200,000).
    path: str
    known_digest: str | None  # the indexed version's hash, for a changed stat (or a racy entry)


@dataclass(frozen=True)
class _Loaded:
    path: str
    size: int = 0
    mtime_ns: int = 0
    digest: str = ""
    article: Article | None = None
    error: str | None = None
    same: bool = False  # the stat changed (or the entry was racy) but the bytes did not
    racy: bool = False  # read within its mtime's tick: to be read again by the next run


def _load(task: _Task, limits: Limits) -> _Loaded:
    """Read, hash and parse one file (runs in a pool worker or inline)."""
    path = Path(task.path)
    try:
        started = _clock()  # before the fstat: an edit after it may be missing from what is read
        data, size, mtime_ns = read_source(path, limits)
        racy = _racy(mtime_ns, started)
        digest = content_digest(data)
        if digest == task.known_digest:
            return _Loaded(task.path, size, mtime_ns, digest, same=True, racy=racy)
        article = parse_record(data, path, limits)
    except RecordError as exc:
        return _Loaded(task.path, error=_with_hint(exc))
    return _Loaded(task.path, size, mtime_ns, digest, article=article, racy=racy)


#: The wall clock a read is dated by (file mtimes are wall-clock times); tests replace it.
_clock = time.time_ns


def _load_batch(tasks: list[_Task], limits: Limits) -> list[_Loaded]:
    return [_load(task, limits) for task in tasks]


def _worker_start(parent: int, inherited: tuple[int, ...]) -> None:
    """Pool worker start-up: let go of the index lock a forked worker shares,
    and exit when the indexing process dies (even by SIGKILL, which leaves
    idle workers waiting on their queue for ever)."""
    close_inherited(inherited)
    exit_with(parent)


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork where it is safe, spawn where it is not.

    Forking a process that runs other threads (the CLI's progress bar) can
    deadlock and is deprecated from Python 3.12, so that gets spawn.  But
    spawn re-runs the caller's main module in each worker, which breaks a
    library user's script without an `if __name__ == "__main__":` guard;
    a single-threaded caller therefore gets fork (where the OS has it)."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _load_all(tasks: list[_Task], limits: Limits, procs: int, inherited: tuple[int, ...]) -> Iterator[_Loaded]:
    """Results in task order; parallel when it pays."""
    if procs <= 1 or len(tasks) < POOL_THRESHOLD:
        for task in tasks:
            yield _load(task, limits)
        return
    batches = (tasks[i : i + BATCH] for i in range(0, len(tasks), BATCH))
    with ProcessPoolExecutor(
        max_workers=procs, mp_context=_pool_context(), initializer=_worker_start, initargs=(os.getpid(), inherited)
    ) as pool:
        # A bounded window of batches in flight: Executor.map would submit
        # them all at once, and parsed articles piling up faster than the one
        # writer takes them held 2 GiB at 200,000 records.
        window: deque[Future[list[_Loaded]]] = deque()
        for batch in batches:
            window.append(pool.submit(_load_batch, batch, limits))
            if len(window) >= procs * IN_FLIGHT:
                yield from window.popleft().result()
        while window:
            yield from window.popleft().result()


def _within(roots: Sequence[str]) -> Callable[[str], bool]:
    """Whether a path is one of `roots` or lies under one, in one
    ``str.startswith`` over all of them: asked of every indexed record at each
    run, a generator over the roots a path took 16 ms of a Reuters reindex
    (20,841 records; 2 ms this way)."""
    exact = frozenset(roots)
    prefixes = tuple(root.rstrip(os.sep) + os.sep for root in roots)
    return lambda path: path in exact or path.startswith(prefixes)


def _under(path: str, roots: Sequence[str]) -> bool:
    return _within(roots)(path)


def _default_procs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def build_index(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] = ("seeds",),
    index_dir: str | os.PathLike[str] = "index",
    *,
    full: bool = False,
    wait: float = 0.0,
    limits: Limits | None = None,
    follow_symlinks: bool = False,
    procs: int | None = None,
    progress: Progress | None = None,
    allow_empty: bool = False,
    stage: Stage | None = None,
) -> IndexReport:
    """Bring the index at `index_dir` in step with the record files under `paths`.

    Incremental by default; ``full=True`` rebuilds from scratch into a new
    generation that replaces the old one whole.  Raises IndexBusyError when
    another writer holds the index for longer than `wait` seconds.  Bad
    records never raise: they are listed in the report's ``skipped``.

    `paths` are the record folders or files: several, or one alone (a str or
    path is one root, never its letters); an empty one is a UsageError.

    Deletion safety: a root folder that yields no files (an unmounted disk
    leaves its mount point empty) or a folder that cannot be listed is not
    taken to mean its records were deleted.  An incremental run keeps those
    records and lists the places in the report's ``kept``; a full rebuild
    raises EmptySourceError and changes nothing.  ``allow_empty=True`` says
    the emptiness is meant: their records are deleted like any others.
    """
    started = time.perf_counter()
    limits = limits or Limits()
    roots = normalise_roots(paths)
    store = Store(index_dir)
    with store.writer_lock(wait) as lock_fd:
        if full:
            # --full is the repair for a damaged pointer too: do not read it first.
            with contextlib.suppress(IndexCorruptError):
                store.prune()
        else:
            store.prune()
        outdated = None if full else store.outdated()
        if outdated is not None:  # written by an older news-search: the job rebuilds it, as --full would
            log.info("%s has schema version %d, this news-search %d: rebuilding it", store.root, outdated, SCHEMA_VERSION)
        fresh = full or outdated is not None or store.current_name() is None
        found, skipped, unlisted = _scan(roots, fresh, follow_symlinks)
        empty = {} if allow_empty else {**unlisted, **_empty_roots(roots, found)}
        if fresh:
            _refuse_full_rebuild_over(store, empty)
        gen, ix = store.create_generation() if fresh else store.open_for_writing()
        try:
            alerts = AlertRun.begin(store.root, ix, fresh=fresh)  # matches each commit's articles (search.alerts)
            # Damage met while reading or merging the live generation is an
            # IndexCorruptError naming the index folder (a full disk stays an OSError).
            with contextlib.nullcontext() if fresh else CorruptionGuard(store.root, reading=False):
                with CorruptionGuard(store.root):
                    within = _within(roots)
                    # Each record's bookkeeping value as it is: decoded only for the files to read.
                    indexed = {} if fresh else {p: v for p, v in bookkeeping(ix).items() if within(p)}
                kept = _keep_records_under(empty, indexed)
                tasks: list[_Task] = []
                unchanged = 0
                # Racy entries whose stat is as indexed: read again, and rewritten
                # only if their bytes or their stat differ, or they are racy no longer.
                recheck: dict[str, bytes] = {}
                for key, stat in found.items():
                    value = indexed.pop(key, None)
                    if value is None:
                        tasks.append(_Task(key, None))
                        continue
                    state = compare_stat(value, stat) if stat is not None else None
                    if state == SAME:
                        unchanged += 1
                        continue
                    if state == SAME_RACY and stat is not None:
                        recheck[key] = stat
                    tasks.append(_Task(key, _digest(value)))
                was_indexed = {t.path for t in tasks if t.known_digest is not None}
                counts = _apply(
                    ix,
                    tasks,
                    removed=sorted(indexed),
                    was_indexed=was_indexed,
                    recheck=recheck,
                    limits=limits,
                    procs=_default_procs() if procs is None else procs,
                    fresh=fresh,
                    skipped=skipped,
                    progress=progress,
                    inherited=(lock_fd,),
                    alerts=alerts,
                    stage=stage,
                )
            if stage:
                stage("sealing")
            store.seal(gen)
            if fresh:
                store.publish(gen)
        except BaseException:
            # Leave nothing that fills the disk or confuses the next run: an unpublished
            # generation is of no use to anyone, and in the live one, under our lock, every
            # temp file and every segment file its TOC does not name is the failed write's.
            if fresh:
                ix.close()
                store.discard(gen)
            else:
                store.remove_leftovers(gen)
            raise
        documents = ix.doc_count()
    report = IndexReport(
        added=counts["added"],
        updated=counts["updated"],
        deleted=len(indexed),
        unchanged=unchanged + counts["same"],
        skipped=tuple(skipped),
        seconds=time.perf_counter() - started,
        warnings=tuple(counts["warnings"]),
        full=fresh,
        documents=documents,
        alerts=alerts.finish(),
        kept=kept,
    )
    for place in kept:
        log.info("kept the records under %s: %s", place.path, place.error)
    log.debug("indexed %s into %s: %s", ", ".join(roots), index_dir, report.summary())
    return report


def _digest(value: bytes) -> str | None:
    decoded = decode_source(value)
    return None if decoded is None else decoded[3]


def _scan(
    roots: list[str], fresh: bool, follow_symlinks: bool
) -> tuple[dict[str, bytes | None], list[Skipped], dict[str, str]]:
    """The record files under `roots` (path -> its size and mtime as a
    stat_key, None for a fresh build), what was skipped, and the folders that
    could not be listed (path -> why)."""
    # A fresh build needs only the paths: keeping every file's stat too
    # took 83 MB of this process at 200,000 files (40 MB without; 470 MB
    # at 1,000,000), a heap the forked sub-writers then inherit.
    # The stat is kept as 16 bytes, not the SourceFile: 20,841 SourceFile
    # objects lived on into the oldest generation and set off a full
    # collection of the caller's whole heap in the middle of the run (bytes
    # are not tracked at all; a tuple of two numbers was, until a first pass).
    found: dict[str, bytes | None] = {}
    skipped: list[Skipped] = []
    unlisted: dict[str, str] = {}
    for item in walk(roots, follow_symlinks=follow_symlinks):
        if isinstance(item, RecordError):
            skipped.append(Skipped(item.path, _with_hint(item)))
            if isinstance(item, FolderError):
                unlisted[item.path] = item.problem
        else:
            found.setdefault(item.path, None if fresh else stat_key(item.size, item.mtime_ns))
    return found, skipped, unlisted


def _empty_roots(roots: list[str], found: dict[str, bytes | None]) -> dict[str, str]:
    """Root folders under which no record file was found."""
    empty: dict[str, str] = {}
    for root in roots:
        if os.path.isdir(root) and not any(_under(path, [root]) for path in found):
            empty[root] = "the folder yields no record files (an unmounted disk?)"
    return empty


def _held(places: dict[str, str], indexed: dict[str, Any]) -> dict[str, int]:
    """How many of the `indexed` records lie under each of `places`."""
    held = dict.fromkeys(places, 0)
    for path in indexed:
        for place in places:
            if _under(path, [place]):
                held[place] += 1
                break
    return {place: n for place, n in held.items() if n}


def _keep_records_under(places: dict[str, str], indexed: dict[str, Any]) -> tuple[Skipped, ...]:
    """Take the records under `places` out of `indexed` (so they are not deleted); say so."""
    if not places:
        return ()
    held = _held(places, indexed)
    for path in [p for p in indexed if any(_under(p, [place]) for place in held)]:
        del indexed[path]
    return tuple(
        Skipped(place, f"{n:,} indexed records kept: {places[place]}; pass `allow_empty` to delete them")
        for place, n in held.items()
    )


def _refuse_full_rebuild_over(store: Store, places: dict[str, str]) -> None:
    """A full rebuild replaces the index whole, so it cannot keep records:
    refuse it when the live index holds records under `places`."""
    if not places:
        return
    try:
        _gen, ix = store.open()
    except SearchError:
        return  # no index, or one too damaged to read: nothing to protect
    try:
        with CorruptionGuard(store.root):
            held = _held(places, indexed_sources(ix))
    except IndexCorruptError:
        return
    finally:
        ix.close()
    if held:
        raise EmptySourceError({place: places[place] for place in held}, sum(held.values()))


class _StoredRecords:
    """Articles rebuilt from the index's stored records, through one searcher
    on the state before this run (opening one per file would cost ~5 ms each)."""

    def __init__(self, ix: Any, limits: Limits) -> None:
        self.ix = ix
        self.limits = limits
        self.searcher: Any = None
        self.records: Records | None = None

    def get(self, loaded: _Loaded) -> _Loaded:
        if self.searcher is None or self.records is None:
            self.searcher = self.ix.searcher()
            self.records = Records(self.searcher.reader())
        docnum = self.searcher.document_number(id=doc_id(loaded.path))  # the path is stored, not indexed
        if docnum is None:  # not expected: fall back to reading the file
            return _load(_Task(loaded.path, None), self.limits)
        record = self.records.get(docnum, self.searcher.stored_fields(docnum))
        article = article_from_record(record, Path(loaded.path), self.limits)
        return replace(loaded, article=article)

    def close(self) -> None:
        if self.searcher is not None:
            self.searcher.close()


def _with_hint(exc: RecordError) -> str:
    """A skipped record's line: what is wrong, then how to fix it (the report keeps no exceptions)."""
    return f"{exc}; {exc.hint}" if exc.hint else str(exc)


def _write(
    loaded: _Loaded,
    writer: Any,
    stored: _StoredRecords,
    was_indexed: set[str],
    doomed: list[str],
    skipped: list[Skipped],
    alerts: AlertRun,
    counts: dict[str, Any],
) -> int:
    """Add one loaded file's documents (its old ones go to `doomed`), or report
    it skipped; return how many documents were added."""
    if loaded.same:
        # Same bytes under a new stat (touched, copied) or a racy entry's: rebuild
        # the documents from the stored record with the new stat, so the file
        # is neither parsed now nor read again by later runs.
        loaded = stored.get(loaded)
    known = loaded.path in was_indexed
    if loaded.article is None:
        # Nothing indexed is lost to a broken or unreadable file: its last good
        # version stays, under its old stat, so the next run tries it again.
        error = loaded.error or "unreadable"
        skipped.append(Skipped(loaded.path, f"{error}; {KEPT_VERSION}" if known else error))
        return 0
    if known:
        doomed.append(loaded.path)
    written = 0
    # One record's documents (the article, then its stubs) stay together: in one
    # batch of the parallel writer, so in one segment, whose columns (the
    # article's `source`) are then never missing from a segment of stubs alone.
    with writer.group():
        for document in article_documents(loaded.article, loaded.size, loaded.mtime_ns, loaded.digest, loaded.racy):
            writer.add_document(**document)
            written += 1
    counts["same" if loaded.same else "updated" if known else "added"] += 1
    if not loaded.same:
        alerts.saw(loaded.path, loaded.digest, loaded.article)
    counts["warnings"].extend(Skipped(loaded.path, w) for w in loaded.article.warnings)
    return written


def _apply(
    ix: Any,
    tasks: list[_Task],
    *,
    removed: list[str],
    was_indexed: set[str],
    recheck: dict[str, bytes] | None = None,
    limits: Limits,
    procs: int,
    fresh: bool,
    skipped: list[Skipped],
    progress: Progress | None,
    inherited: tuple[int, ...] = (),
    alerts: AlertRun | None = None,
    stage: Stage | None = None,
) -> dict[str, Any]:
    """Parse `tasks` and write them, committing every COMMIT_EVERY files.

    `recheck`: racy entries (path -> their indexed size and mtime, a stat_key) read again;
    `inherited`: descriptors (the index lock) that helper processes close."""
    counts: dict[str, Any] = {"added": 0, "updated": 0, "same": 0, "warnings": []}
    total = len(tasks)
    if progress:
        progress(0, total)
    if not tasks and not removed:
        return counts
    # A full build of many files writes in parallel sub-processes, and then
    # parses here; otherwise one writer here and a parse pool.
    parallel = fresh and len(tasks) >= POOL_THRESHOLD and parallel_available(procs)
    writer = open_writer(
        ix, parallel=parallel, procs=procs, limitmb=WRITER_LIMIT_MB, inherited=inherited, merge=not fresh
    )
    if not fresh and stems.pays(ix.storage.folder, len(tasks)):
        # The build's stems (see search.storage.stems), leaving the analysis' cache room for the run's new words.
        stems.load(ix.storage.folder, into=known_stems(), limit=CACHE_LIMIT // 2)
    stored = _StoredRecords(ix, limits)
    pending = written = 0
    doomed = list(removed)
    alerts = alerts or AlertRun()
    # A full build's generation is published only if it holds what was written:
    # checked at each commit, before alerts match that commit's articles.
    verify = (lambda: check_count(ix, written)) if fresh else None
    try:
        loads = _load_all(tasks, limits, 1 if parallel else procs, inherited + lock_fds(writer))
        for done, loaded in enumerate(loads, start=1):
            indexed_stat = recheck.get(loaded.path) if recheck and loaded.same and loaded.racy else None
            if indexed_stat is not None and indexed_stat == stat_key(loaded.size, loaded.mtime_ns):
                # Racy still (read within its tick again), its bytes and stat as
                # indexed: what would be written is what is there.
                counts["same"] += 1
            else:
                written += _write(loaded, writer, stored, was_indexed, doomed, skipped, alerts, counts)
            pending += 1
            # A full build in this process commits when the writer's posting pool is
            # full (the generation is published only at the end, so no reader sees it).
            if (not fresh and pending >= COMMIT_EVERY) or (not parallel and writer.pool_full()):
                if stage:
                    stage("writing the index")
                delete_paths(writer, doomed)
                alerts.commit(writer, verify)
                writer = open_writer(
                    ix, parallel=False, procs=1, limitmb=WRITER_LIMIT_MB, inherited=inherited, merge=not fresh
                )
                pending = 0
            if progress:
                progress(done, total)
        if stage:
            stage("writing the index")
        delete_paths(writer, doomed)
        alerts.commit(writer, verify)
        if fresh and not parallel:  # a parallel build's sub-writers save theirs
            stems.save(ix.storage.folder, known_stems(), "main")
    except BaseException:
        discard(writer)
        raise
    finally:
        stored.close()
    return counts
