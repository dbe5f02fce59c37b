"""Where an index lives on disk: generations, the CURRENT pointer and the writer lock.

Whoosh's segment files carry no checksums, so a flipped byte can go
unnoticed (it just changes results).  After every commit the writer records
a BLAKE2 digest of each new segment file (they never change once written)
in ``checksums.json``; ``search check`` verifies them.

Layout of an index folder::

    index/
      CURRENT          one line, the name of the live generation ("gen-000004")
      LOCK             flock()ed by the one writer; holds "pid host start-time"
      gen-000004/      a Whoosh index, manifest.json (schema and Whoosh versions)
                       and checksums.json (digests of its segment files)
      gen-000003/      the previous generation, kept for readers still on it

Why generations: an incremental run writes into the live generation through
Whoosh's own commit, which is atomic (segments first, then a new TOC renamed
into place).  A full rebuild, or a schema change, instead writes a whole new
generation beside the live one and then swaps CURRENT with os.replace(), so a
search running meanwhile sees the old index until the new one is complete,
then the new one whole.  A crash leaves an unpublished generation, which the
next writer deletes; the previous one is kept so that a long-lived reader
that has not refreshed yet keeps working.

The lock is flock(2): the kernel drops it when its holder dies, even by
SIGKILL, so a killed writer never blocks the next run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import struct
import time
import traceback
import types
import warnings
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from whoosh.filedb.filestore import FileStorage
from whoosh.index import TOC

from search import atomic
from search.bounds import check_seconds
from search.errors import (
    IndexBusyError,
    IndexCorruptError,
    IndexNotFoundError,
    IndexPermissionError,
    NotAnIndexError,
    SchemaVersionError,
    SearchError,
    UsageError,
    older_schema,
)
from search.storage.schema import SCHEMA_VERSION, build_schema

log = logging.getLogger(__name__)

#: The code that reads index files: Whoosh, and what of storage/ decodes the
#: bytes it reads (block and position loaders, stored fields, side-car files,
#: the source column).  A damage error raised anywhere else is a bug of ours.
_READING_MODULES = frozenset(
    {
        "search.storage.blocks",
        "search.storage.positions",
        "search.storage.sidecar",
        "search.storage.stored",
    }
)
#: Whoosh's packages that never read index files: what they raise (a query the
#: parser chokes on, text an analyzer cannot take) is about the input, not damage.
_NOT_READING = ("whoosh.qparser", "whoosh.analysis", "whoosh.lang")
#: Whoosh's modules that combine what its readers decoded (scorers, generic
#: matchers, the searcher and collectors, query objects, sorting): an error of
#: theirs is a bug of how we call them (session nine's missing
#: _Scorer.block_quality raised NotImplementedError in whoosh.scoring), unless
#: it is of a kind only bytes cause (_BYTES_ERRORS).
_COMBINING = (
    "whoosh.scoring",
    "whoosh.matching",
    "whoosh.searching",
    "whoosh.collectors",
    "whoosh.query",
    "whoosh.sorting",
)
_BYTES_ERRORS = (EOFError, struct.error, zlib.error, pickle.UnpicklingError, OSError)
_READING_FUNCTIONS = frozenset(
    ("search.storage.schema", name)
    for name in (
        "decode_source", "_decode_source", "indexed_sources", "bookkeeping", "compare_stat", "_check_utf8",
        "_column_values",
    )
)


def raised_reading_index(exc: BaseException) -> bool:
    """Whether `exc` was raised by the code that reads index files.

    The innermost frame of Whoosh or news-search decides (frames of the
    standard library and numpy beneath it are where our own calls raise:
    json, strptime, an array index).  Whoosh calls back into our code (the
    ranking's scorer, the position loaders), so the module that called
    Whoosh would say nothing: what counts is the frame the error left.
    In Whoosh's combining modules (_COMBINING) only an error bytes cause
    counts: what else they raise is how we called them."""
    tb = exc.__traceback__
    decisive: types.FrameType | None = None
    while tb is not None:
        if _in_package(tb.tb_frame.f_globals.get("__name__", ""), ("whoosh", "search")):
            decisive = tb.tb_frame
        tb = tb.tb_next
    if decisive is None:
        return False
    name = decisive.f_globals["__name__"]
    if _in_package(name, _NOT_READING):
        return False
    if _in_package(name, _COMBINING):
        return isinstance(exc, _BYTES_ERRORS)
    return (
        _in_package(name, ("whoosh",))
        or name in _READING_MODULES
        or (name, decisive.f_code.co_name) in _READING_FUNCTIONS
    )


def _in_package(name: str, packages: tuple[str, ...]) -> bool:
    """Whether module `name` is one of `packages` or inside one."""
    return name in packages or name.startswith(tuple(f"{package}." for package in packages))


def is_damage(exc: BaseException, *, reading: bool = True) -> bool:
    """Whether `exc` means damaged index files: raised by the code that reads them
    (raised_reading_index), whatever its kind there; in Whoosh's modules that
    combine what was read (scoring, matching, searching), only a kind bytes cause.

    Garbled bytes make Whoosh raise almost anything: EOFError, struct.error,
    zlib.error or an UnpicklingError, a ValueError, KeyError or IndexError for
    a bad offset, TermNotFound for an unreadable term entry, a bare Exception
    ("Block tag error"), an AttributeError or ModuleNotFoundError from a pickle
    naming garbage, an OverflowError or MemoryError from a garbled length,
    EmptyIndexError or a TypeError for a missing or empty table of contents.
    What tells damage from a bug is where it was raised, so a bug in planning,
    ranking or alert matching surfaces as itself, never as "rebuild the index"
    (which would not help).  Two exceptions: a UnicodeEncodeError is text
    Whoosh cannot encode (a file name that is not UTF-8), a bug to fix, not an
    index to rebuild (a UnicodeDecodeError is damage: garbage read back); and
    for a writer (`reading=False`) an OSError is the machine's (a full disk),
    not damage."""
    if isinstance(exc, UnicodeEncodeError) or (not reading and isinstance(exc, OSError)):
        return False
    return isinstance(exc, Exception) and raised_reading_index(exc)


class CorruptionGuard:
    """`with CorruptionGuard(index_dir):` turns damage errors into IndexCorruptError.

    It may wrap a whole search or reindex: is_damage looks at where an error
    was raised, so only what the reading code raised becomes "damaged, rebuild
    it"; any other error (a bug) passes through as itself."""

    def __init__(self, index_dir: Path | str, *, reading: bool = True) -> None:
        self.index_dir = index_dir
        self.reading = reading

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None or isinstance(exc, SearchError):
            return
        refused = refused_access(exc, self.index_dir)
        if refused is None and not is_damage(exc, reading=self.reading):
            return
        release_files(exc)
        if refused is not None:
            raise refused from exc
        raise IndexCorruptError(self.index_dir, f"{type(exc).__name__}: {exc}") from exc


def release_files(exc: BaseException) -> None:
    """Close, quietly, the files a failed read left open.

    Whoosh leaves a damaged segment's files open when it fails, held by the
    failed frames' locals; the error's traceback keeps those frames, and once
    it is dropped they are garbage in a cycle, so some later collection would
    close them with an unraisable ResourceWarning (under `-W error`, a test
    failing elsewhere).  Clearing the frames and collecting now closes them
    here, where it is known why they were open."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        traceback.clear_frames(exc.__traceback__)
        gc.collect()


def refused_access(exc: BaseException, index_dir: Path | str) -> IndexPermissionError | None:
    """An IndexPermissionError when `exc` is the system refusing this user a
    file of the index (EACCES, EPERM: a chmod, an ownership, an ACL), else None.

    Such a file is not damaged, and a rebuild would be refused alike, so it is
    told apart from damage wherever it was raised; one outside the index
    folder (a record file, an alert's command) is not about the index, nor is
    one naming no file (the process pool's semaphore with /dev/shm refused)."""
    if not isinstance(exc, PermissionError) or exc.filename is None:
        return None
    name = os.fsdecode(exc.filename)
    inside = os.path.abspath(name)
    root = os.path.abspath(os.fspath(index_dir))
    if inside != root and not inside.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return IndexPermissionError(index_dir, name)


CURRENT = "CURRENT"
LOCK = "LOCK"
MANIFEST = "manifest.json"
CHECKSUMS = "checksums.json"
_GEN_PREFIX = "gen-"


def _package_version(name: str) -> str:
    from importlib import metadata  # only writers need it: ~10 ms off a search's start

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def file_digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _gen_number(name: str) -> int | None:
    if name.startswith(_GEN_PREFIX) and name[len(_GEN_PREFIX) :].isdigit():
        return int(name[len(_GEN_PREFIX) :])
    return None


def _own_generation(path: Path) -> int | None:
    """The number of `path` if it is a generation this index wrote, else None.

    A name alone does not say so: a user's own gen-1/ or gen-000003/ beside
    (or as) the index was taken for one and deleted by the pruning (F1).  Ours
    is a real folder named exactly as create_generation names them, and either
    empty (a build stopped between its mkdir and its manifest) or holding our
    manifest (an object with a schema version) or a Whoosh table of contents."""
    number = _gen_number(path.name)
    if number is None or path.name != f"{_GEN_PREFIX}{number:06d}" or path.is_symlink() or not path.is_dir():
        return None
    try:
        names = os.listdir(path)
    except OSError:
        return None
    if not names or any(_TOC_NAME.fullmatch(name) for name in names):
        return number
    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads((path / MANIFEST).read_text("utf-8"))
        if isinstance(manifest, dict) and "schema_version" in manifest:
            return number
    return None


#: A Whoosh table of contents of our index name ("MAIN"), the one being written too.
_TOC_NAME = re.compile(r"_?MAIN_\d+\.toc")


class Store:
    """One index folder: finds, opens, creates and publishes its generations."""

    def __init__(self, index_dir: str | os.PathLike[str]) -> None:
        try:  # a str, a path, or their bytes (os.fsencode's)
            self.root = Path(os.fsdecode(os.fspath(index_dir)))
        except TypeError:  # open_index(os.environ.get(...)) with the variable unset
            kind = type(index_dir).__name__
            raise UsageError(f"`index_dir` must be a str or a path, not {kind}", option="index_dir") from None

    # -- reading -----------------------------------------------------------

    def current_name(self) -> str | None:
        """The live generation's folder name, or None when there is no index."""
        try:
            name = (self.root / CURRENT).read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        except IsADirectoryError as exc:
            raise self._pointer_a_folder() from exc
        except (NotADirectoryError, UnicodeDecodeError, OSError) as exc:
            raise refused_access(exc, self.root) or IndexCorruptError(self.root, f"cannot read {CURRENT}: {exc}") from exc
        if _gen_number(name) is None:
            raise IndexCorruptError(self.root, f"{CURRENT} names {name!r}, not a generation")
        return name

    def _pointer_a_folder(self) -> IndexCorruptError:
        """CURRENT is a folder (F11).  An empty one a --full rebuild replaces
        (create_generation), so the usual hint works; one holding files is not
        ours to delete, and --full refuses it alike: the way out is to move it."""
        pointer = self.root / CURRENT
        try:
            empty = not os.listdir(pointer)
        except OSError:
            empty = False
        hint = None if empty else (
            f"Move the folder {pointer} out of the index folder (CURRENT is the one-line file naming the live"
            f" generation), then rebuild with `search index --full --index {self.root} PATH ...`."
        )
        return IndexCorruptError(
            self.root, f"{CURRENT} ({pointer}) is a folder, not the file naming the live generation", hint=hint
        )

    def current_dir(self) -> Path:
        """The live generation's folder; raises when there is no usable index."""
        if not self.root.exists():
            self.refuse_broken_link()
            raise IndexNotFoundError(self.root)
        if not self.root.is_dir():
            raise NotAnIndexError(self.root, "it is a file, not a folder")
        name = self.current_name()
        if name is None:
            self.refuse_foreign()
            raise IndexNotFoundError(self.root)
        gen = self.root / name
        if not gen.is_dir():
            raise IndexCorruptError(self.root, f"the live generation {name} is missing")
        return gen

    def refuse_broken_link(self) -> None:
        """NotAnIndexError if the index path is a symbolic link that leads nowhere:
        "no index, run `search index`" was advice the run then refused ("File
        exists"), as no folder can be made through it."""
        try:
            os.stat(self.root)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise NotAnIndexError(self.root, "it is a symbolic link that leads to itself") from None
            if exc.errno == errno.ENOENT and self.root.is_symlink():
                target = os.readlink(self.root)
                raise NotAnIndexError(self.root, f"it is a symbolic link to {target}, which does not exist") from None

    def refuse_foreign(self) -> None:
        """NotAnIndexError if the folder holds no generation but other files
        (records, say): no index is there to read, and none may be built there."""
        try:
            names = sorted(name for name in os.listdir(self.root) if not name.startswith("."))
        except FileNotFoundError:
            return
        if any(_own_generation(self.root / name) is not None for name in names):
            return  # an index, maybe damaged: --full may repair it
        # alerts: search.alerts.files.FOLDER; lost+found: a volume made for the index (mkfs.ext4 puts it there)
        own = (LOCK, CURRENT, "alerts", "lost+found")
        foreign = [name for name in names if name not in own and not name.startswith(f"{CURRENT}.")]
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3:,} more" if len(foreign) > 3 else "")
            raise NotAnIndexError(self.root, f"the folder holds other files ({shown}) and no index")

    def manifest(self, gen: Path) -> dict[str, Any]:
        try:
            value = json.loads((gen / MANIFEST).read_text("utf-8"))
        except FileNotFoundError as exc:
            raise IndexCorruptError(self.root, f"{gen.name}/{MANIFEST} is missing") from exc
        except (OSError, ValueError) as exc:
            refused = refused_access(exc, self.root)
            raise refused or IndexCorruptError(self.root, f"{gen.name}/{MANIFEST} is unreadable: {exc}") from exc
        if not isinstance(value, dict):
            raise IndexCorruptError(self.root, f"{gen.name}/{MANIFEST} is not an object")
        return value

    def open(self, gen: Path | None = None, *, any_schema: bool = False) -> tuple[Path, Any]:
        """Open the live generation (or `gen`) read-only: (folder, Whoosh index).

        `any_schema`: open one of another schema version too, for what reads
        only the bookkeeping column (which every version writes alike)."""
        gen = gen or self.current_dir()
        found = self.manifest(gen).get("schema_version")
        if found != SCHEMA_VERSION and not any_schema:
            raise SchemaVersionError(self.root, found, SCHEMA_VERSION)
        with CorruptionGuard(self.root):
            # No mmap: a segment truncated under a memory map kills the reader
            # with SIGBUS; a plain read fails with an exception we can report.
            ix = FileStorage(str(gen), readonly=True, supports_mmap=False).open_index()
        return gen, ix

    def updated(self, gen: Path) -> float:
        """When `gen` last changed (its newest file), as a POSIX time.

        Whoosh's own last_modified() stats a TOC that a concurrent commit may
        have just deleted; this skips files that vanish under it."""
        newest = 0.0
        for path in gen.iterdir():
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, path.stat().st_mtime)
        return newest

    def size_bytes(self) -> int:
        """Bytes on disk of the live generation."""
        total = 0
        for path in self.current_dir().iterdir():
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    # -- writing (callers hold the lock) --------------------------------------

    def create_generation(self) -> tuple[Path, Any]:
        """A new, empty, unpublished generation: (folder, Whoosh index)."""
        self.root.mkdir(parents=True, exist_ok=True)
        pointer = self.root / CURRENT
        if pointer.is_dir() and not pointer.is_symlink():  # publish could not rename over it
            try:
                pointer.rmdir()  # empty: nothing of anyone's is lost
            except OSError as exc:
                raise self._pointer_a_folder() from exc
        # Past every gen-N name, a user's own folder too (left alone, never reused).
        numbers = [n for n in (_gen_number(p.name) for p in self.root.iterdir()) if n is not None]
        gen = self.root / f"{_GEN_PREFIX}{max(numbers, default=0) + 1:06d}"
        gen.mkdir()
        try:
            return gen, self._start_generation(gen)
        except BaseException:  # a full disk: leave no half-made generation behind
            shutil.rmtree(gen, ignore_errors=True)
            raise

    def _start_generation(self, gen: Path) -> Any:
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "whoosh_version": _package_version("whoosh"),
            "news_search_version": _package_version("news-search"),
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        (gen / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        # No mmap here either, and not only for SIGBUS: Whoosh reads a mapped
        # segment's postings through BytesIO(memoryview), which copies the
        # whole file, so the reader that counts the documents after a full
        # build of 200,000 records briefly held 1.2 GiB (2.6 s per reader).
        return FileStorage(str(gen), supports_mmap=False).create_index(build_schema())

    def outdated(self) -> int | None:
        """The live generation's schema version if an older news-search wrote
        it (a reindex then rebuilds it whole), else None: no index, the
        current version, or a newer or unknown one (refused, never replaced)."""
        if self.current_name() is None:
            return None
        found = self.manifest(self.current_dir()).get("schema_version")
        return found if older_schema(found, SCHEMA_VERSION) else None

    def open_for_writing(self) -> tuple[Path, Any]:
        """The live generation opened for an incremental update."""
        gen = self.current_dir()
        found = self.manifest(gen).get("schema_version")
        if found != SCHEMA_VERSION:
            raise SchemaVersionError(self.root, found, SCHEMA_VERSION)
        with CorruptionGuard(self.root):
            return gen, FileStorage(str(gen), supports_mmap=False).open_index()

    def seal(self, gen: Path) -> None:
        """Record digests of `gen`'s new segment files; forget deleted ones."""
        known = self.checksums(gen)
        current = {p.name: p for p in gen.glob("*.seg")}
        sums = {name: digest for name, digest in known.items() if name in current}
        for name, path in current.items():
            if name not in sums:
                sums[name] = file_digest(path)
        tmp = gen / f"{CHECKSUMS}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(sums, indent=1, sort_keys=True) + "\n", "utf-8")
        os.replace(tmp, gen / CHECKSUMS)

    def checksums(self, gen: Path) -> dict[str, str]:
        try:
            value = json.loads((gen / CHECKSUMS).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def publish(self, gen: Path) -> None:
        """Make `gen` the live generation, atomically, then prune old ones."""
        atomic.replace_file(self.root / CURRENT, (gen.name + "\n").encode("utf-8"))
        self.prune()

    def discard(self, gen: Path) -> None:
        """Delete the unpublished generation `gen` (a failed build's), never the live one."""
        try:
            live = self.current_name()
        except IndexCorruptError:  # a --full repairing a damaged pointer
            live = None
        if gen.name != live:
            log.info("removing the unfinished generation %s", gen.name)
            shutil.rmtree(gen, ignore_errors=True)

    def prune(self) -> None:
        """Delete every generation but the live one and the one before it (only
        generations this index wrote: _own_generation)."""
        live = self.current_name()
        live_n = _gen_number(live) if live else None
        gens = sorted((n, p) for p in self.root.iterdir() if (n := _own_generation(p)) is not None)
        keep = {live_n}
        older = [n for n, _ in gens if live_n is not None and n < live_n]
        if older:
            keep.add(older[-1])
        for n, path in gens:
            if n in keep:
                continue
            if live_n is None or n > live_n:  # under the lock: no build is making it
                # Said, not only logged for --verbose: a run stopped this way (SIGTERM,
                # SIGKILL, a power cut) could not say so itself.
                log.warning(
                    "removing %s, a generation a build left unpublished (stopped before its swap:"
                    " killed, or the machine went down); %s",
                    path.name,
                    "there was no index before it" if live is None else f"the live {live} was not touched",
                )
            else:
                log.info("removing old generation %s", path.name)
            shutil.rmtree(path, ignore_errors=True)
        for stray in self.root.glob(f"{CURRENT}.*.tmp"):
            with contextlib.suppress(OSError):
                stray.unlink()
        if live_n is not None:
            self.remove_leftovers(self.root / str(live))

    def unpublished(self) -> list[Path]:
        """Generations newer than the live one: a build stopped before its swap
        left them (a running one is making one: only a writer, under the lock,
        or a check that sees no writer may take them for leftovers)."""
        live = self.current_name()
        live_n = _gen_number(live) if live else None
        if live_n is None:
            return []
        return sorted(p for p in self.root.iterdir() if (n := _own_generation(p)) is not None and n > live_n)

    def leftovers(self, gen: Path) -> list[Path]:
        """What a failed write left in `gen`: Whoosh's temp folder (MAIN.tmp:
        posting runs and job files), our checksum drafts, and segment and TOC
        files the live table of contents does not name (a commit that failed
        half-way).  Whoosh deletes the last kind at its next commit, but a run
        with nothing to commit never gets there.  Only a writer, under the
        lock, may take these for leftovers: a running writer is making them."""
        try:
            names = sorted(p.name for p in gen.iterdir())
        except OSError:
            return []
        found = [name for name in names if name.endswith(".tmp")]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                ix = FileStorage(str(gen), readonly=True, supports_mmap=False).open_index()
                live_segments = {segment.segment_id() for segment in ix._segments()}
                live_toc = ix.latest_generation()
                ix.close()
        except Exception as exc:  # noqa: BLE001 - an unreadable TOC is check's finding, not this one's
            release_files(exc)
            return [gen / name for name in found]
        toc_pattern, segment_pattern = TOC._pattern(ix.indexname), TOC._segment_pattern(ix.indexname)
        for name in names:
            toc, segment = toc_pattern.match(name), segment_pattern.match(name)
            if (toc and int(toc.group(1)) != live_toc) or (segment and segment.group(1) not in live_segments):
                found.append(name)
        return [gen / name for name in sorted(found)]

    def remove_leftovers(self, gen: Path) -> None:
        for path in self.leftovers(gen):
            log.info("removing %s, left by a write that failed", path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()

    def writer_running(self) -> bool:
        """Whether a writer holds the lock now, told without taking it (a check
        must never make a writer that starts at that moment fail as busy)."""
        try:
            holder = (self.root / LOCK).read_text("utf-8", "replace")
        except OSError:
            return False
        found = re.match(r"pid (\d+) on (\S+) ", holder)
        if found is None:  # released (emptied), or its note could not be written
            return bool(holder.strip())
        import socket  # here: a search never asks (2 ms of a cold query)

        if found.group(2) != socket.gethostname():
            return True  # another machine's writer: assume it is alive
        try:
            os.kill(int(found.group(1)), 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True

    @contextlib.contextmanager
    def writer_lock(self, wait: float = 0.0) -> Iterator[int]:
        """Hold the index's one writer lock; IndexBusyError after `wait` seconds.

        Yields the lock's file descriptor: a forked helper process shares the
        lock through it and must close it, or the lock outlives a killed writer."""
        check_seconds(wait, "wait")
        if self.root.exists() and not self.root.is_dir():
            raise NotAnIndexError(self.root, "it is a file, not a folder")
        self.refuse_broken_link()
        if self.root.is_dir():
            self.refuse_foreign()
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + max(wait, 0.0)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    if time.monotonic() >= deadline:
                        holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or None
                        raise IndexBusyError(self.root, holder, wait) from None
                    time.sleep(0.1)
            import socket

            started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            os.ftruncate(fd, 0)
            # Who holds the lock is a courtesy to the next writer's message: on a full
            # disk, not writing it must not stop the run that frees the space.
            with contextlib.suppress(OSError):
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0)
            try:
                yield fd
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
