"""`search check`: verify an index against its own files and its record files.

Three passes, each reporting problems instead of raising:

1. the index opens (pointer, manifest, schema version, Whoosh TOC);
2. every segment file matches the digest recorded when it was written, and
   reads end to end: each field's terms and postings, every
   stored document and its packed record, the bookkeeping column; each
   segment's side-car arrays (search.storage.sidecar) exist, match it and hold its
   own postings;
3. the indexed records still match their files (same size and mtime; the
   file exists), and, when roots are given, no record file under them is
   missing from the index;
4. no failed write left temp files or unreferenced segment files behind
   (they fill the disk and, on a full one, block the next run), nor a
   stopped full build its unpublished generation (the next writer removes
   it, saying so).

The advice names the command that fixes what was found: a damaged index
needs ``search index --full``; stale or missing records and leftovers need
an ordinary ``search index`` (the next writer removes leftovers).  A file
the system refuses this user (an index file, a record file or folder, kind
``unreadable``) is no damage and no reindex can fix it, so its advice is
about access: a reindex keeps such records, and would be told the same.

A record file under the roots that is not indexed because it is invalid
(it does not parse, or its name is not UTF-8) is a note, kind ``invalid``,
not a problem: no reindex can add it, so it does not fail the check (exit 0).
So is an indexed file that changed and no longer parses: a reindex keeps
the version indexed before, and no reindex can do better until it is mended.
An empty index is a valid index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.errors import (
    FolderError,
    IndexCorruptError,
    IndexPermissionError,
    NotAnIndexError,
    RecordError,
    SearchError,
)
from search.storage import sidecar
from search.records import load_record, walk
from search.results import KEPT_VERSION
from search.storage.schema import TEXT_FIELD, content_digest, decode_source, indexed_sources
from search.storage.stored import Records
from search.storage.store import Store, file_digest, release_files

#: Problem kinds that mean the index itself is damaged.
DAMAGED = frozenset({"unopenable", "damaged"})
#: An `unreadable` problem's detail for a file the system refuses this user.
_DENIED = "permission denied: this user cannot read it"
#: Kinds reported for information only: they do not fail the check.
NOTES = frozenset({"invalid"})


@dataclass(frozen=True)
class Problem:
    # unopenable | damaged | unreadable | foreign (no index there) | stale | vanished | missing | alerts
    # | leftover | invalid (a note)
    kind: str
    detail: str
    path: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail}


@dataclass(frozen=True)
class CheckReport:
    index_dir: str
    documents: int
    records_checked: int
    problems: tuple[Problem, ...]
    #: The way out an unopenable index's error names when the rebuild would be refused
    #: (a CURRENT that is a folder holding files: move it first), else None.
    way_out: str | None = None

    @property
    def ok(self) -> bool:
        return all(p.kind in NOTES for p in self.problems)

    @property
    def advice(self) -> str | None:
        if self.ok:
            return None
        if self.way_out:
            return self.way_out
        kinds = {p.kind for p in self.problems if p.kind not in NOTES}
        if "foreign" in kinds:
            return "Name the index folder with --index (or SEARCH_INDEX_DIR)."
        if kinds & DAMAGED:
            return f"Rebuild the index: search index --full --index {self.index_dir} PATH ..."
        if kinds == {"alerts"}:
            return "Fix the alerts file named above by hand (plain JSON, see docs/alerts.md); indexing goes on."
        update = f"Bring it up to date: search index --index {self.index_dir} PATH ..."
        if "unreadable" not in kinds:
            return update
        access = (
            "Give this user access to what is marked unreadable, or run as its owner:"
            " no reindex or rebuild can read it either."
        )
        return access if kinds <= {"unreadable", "alerts"} else f"{access} Then: {update[0].lower()}{update[1:]}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index_dir,
            "ok": self.ok,
            "documents": self.documents,
            "records_checked": self.records_checked,
            "problems": [p.to_dict() for p in self.problems],
            "advice": self.advice,
        }


def _read_segments(ix: Any, problems: list[Problem]) -> int:
    """Read every term, posting and stored document; return the live doc count."""
    try:
        with ix.reader() as reader:
            if reader.doc_count_all() == 0:  # an empty index: nothing to read (and no columns)
                return 0
            for field in reader.indexed_field_names():
                for term in reader.lexicon(field):
                    for _ in reader.postings(field, term).all_ids():
                        pass
            records = Records(reader)
            for docnum, stored in reader.iter_docs():
                records.get(docnum, stored)
            column = reader.column_reader("source")
            for docnum in reader.all_doc_ids():
                decode_source(column[docnum])
            return int(reader.doc_count())
    except PermissionError as exc:  # not damage: the system refused this user (_refused() ran first)
        release_files(exc)
        problems.append(Problem("unreadable", _DENIED, exc.filename))
        return 0
    except Exception as exc:  # any failure here means damaged files
        release_files(exc)
        problems.append(Problem("damaged", f"{type(exc).__name__}: {exc}"))
        return 0


def check_index(index_dir: str | os.PathLike[str], paths: list[str] | None = None) -> CheckReport:
    """Verify the index at `index_dir` (and, given `paths`, its coverage of them)."""
    store = Store(index_dir)
    from search.alerts.api import check_alerts  # saved searches live beside the generations

    problems = [Problem("alerts", detail, path) for path, detail in check_alerts(index_dir)]
    try:
        gen, ix = store.open()
    except IndexPermissionError as exc:
        problems.append(Problem("unreadable", _DENIED, exc.path))
        return CheckReport(str(index_dir), 0, 0, tuple(problems))
    except NotAnIndexError as exc:  # nothing to rebuild: the advice is to name the index
        problems.append(Problem("foreign", str(exc), str(index_dir)))
        return CheckReport(str(index_dir), 0, 0, tuple(problems))
    except SearchError as exc:
        hint = f" ({exc.hint})" if exc.hint and not isinstance(exc, IndexCorruptError) else ""
        problems.append(Problem("unopenable", f"{exc}{hint}"))
        way_out = exc.way_out if isinstance(exc, IndexCorruptError) else None
        return CheckReport(str(index_dir), 0, 0, tuple(problems), way_out)
    refused = _refused(gen)
    if refused:  # the digest and read passes would call these files damaged
        ix.close()
        return CheckReport(str(index_dir), 0, 0, tuple(problems + refused))
    try:
        named: set[str] | None = {segment.make_filename(".seg") for segment in ix._segments()}
    except Exception as exc:  # an unreadable table of contents: _read_segments says so; check every digest
        release_files(exc)
        named = None
    for name, digest in sorted(store.checksums(gen).items()):
        if named is not None and name not in named:
            # A segment a merge replaced, in a run killed before its seal rewrote the
            # digests: no longer part of the index (the next run's seal forgets it).
            continue
        segment = gen / name
        if not segment.exists():
            problems.append(Problem("damaged", f"segment file {name} is missing", str(segment)))
        elif file_digest(segment) != digest:
            problems.append(Problem("damaged", f"segment file {name} does not match its checksum", str(segment)))
    documents = _read_segments(ix, problems)
    if not problems:
        with ix.reader() as reader:
            for detail in sidecar.problems(gen, reader, TEXT_FIELD):
                # Searches rebuild such a file in memory (slower, same answers); a build rewrites it.
                problems.append(Problem("damaged", detail, str(gen)))
    indexed: dict[str, tuple[int, int, str, bool]] = {}
    if not any(p.kind in DAMAGED for p in problems):  # an alerts file's problem is no reason to stop here
        indexed = indexed_sources(ix)
        for path, (size, mtime_ns, digest, racy) in sorted(indexed.items()):
            try:
                st = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                problems.append(Problem("vanished", "indexed, but the file is gone", path))
                continue
            except OSError as exc:  # a folder above it this user may not enter: a reindex keeps the record
                detail = f"indexed, but this user cannot reach the file: {exc.strerror}"
                problems.append(Problem("unreadable", detail, path))
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns) or (racy and _content_changed(path, digest)):
                broken = _not_indexable(path)
                if broken is None:
                    problems.append(Problem("stale", "the file changed since it was indexed", path))
                else:  # a reindex keeps the version indexed before (search.indexing.indexer)
                    detail = f"changed since it was indexed and {broken}; {KEPT_VERSION}"
                    problems.append(Problem("invalid", detail, path))
    if paths and not any(p.kind in DAMAGED for p in problems):
        for item in walk(paths):  # absolute there; an empty root is walk's UsageError
            if isinstance(item, FolderError):  # its record files cannot be listed, so none is called missing
                problems.append(Problem("unreadable", item.problem, item.path))
                continue
            if isinstance(item, RecordError):
                if item.problem.startswith(("file name is not valid UTF-8", "folder name is not valid UTF-8")):
                    problems.append(Problem("invalid", item.problem, item.path))
                continue
            if item.path not in indexed:
                problems.append(_unindexed(item.path))
    ix.close()
    problems.extend(_leftovers(store, gen))
    return CheckReport(str(index_dir), documents, len(indexed), tuple(problems))


def _refused(gen: Path) -> list[Problem]:
    """The generation's files the system refuses this user (EACCES, EPERM), as `unreadable`."""
    found = []
    for path in sorted(gen.iterdir()):
        if path.name.endswith(".tmp") or not path.is_file():
            continue
        try:
            with open(path, "rb"):
                pass
        except PermissionError:
            found.append(Problem("unreadable", _DENIED, str(path)))
        except OSError:
            continue  # vanished meanwhile, or an I/O error: the passes after this say what it is
    return found


def _unindexed(path: str) -> Problem:
    """A record file the index lacks: `missing` (a reindex adds it), or `invalid` (none will)."""
    broken = _not_indexable(path)
    if broken is not None:
        return Problem("invalid", broken, path)
    return Problem("missing", "a record file that is not in the index yet", path)


def _content_changed(path: str, digest: str) -> bool:
    """Whether a racy entry's file (read within its mtime's tick, so an edit may
    have kept its stat: search.indexing.indexer) now holds other bytes."""
    try:
        return content_digest(Path(path).read_bytes()) != digest
    except OSError:
        return True


def _not_indexable(path: str) -> str | None:
    """Why the record file at `path` cannot be indexed now, or None if it can."""
    try:
        load_record(path)
    except RecordError as exc:
        where = "" if exc.line is None else f"line {exc.line}: "
        what = exc.problem if exc.field is None else f"field '{exc.field}': {exc.problem}"
        return f"not indexable: {where}{what}"
    return None


def _leftovers(store: Store, gen: Path) -> list[Problem]:
    if store.writer_running():  # a running writer is making these files
        return []
    problems = []
    for unpublished in store.unpublished():
        detail = (
            f"a generation a build left unpublished ({_size(unpublished) / 1e6:.1f} MB): it was stopped"
            f" before its swap (killed, or the machine went down); the live {gen.name} is whole"
        )
        problems.append(Problem("leftover", detail, str(unpublished)))
    found = store.leftovers(gen)
    if found:
        size = sum(_size(path) for path in found)
        names = ", ".join(path.name for path in found[:3]) + (", ..." if len(found) > 3 else "")
        detail = f"{len(found)} files ({size / 1e6:.1f} MB) left by a write that failed: {names}"
        problems.append(Problem("leftover", detail, str(gen)))
    return problems


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(_size(child) for child in path.iterdir())
    try:
        return path.lstat().st_size
    except OSError:
        return 0
