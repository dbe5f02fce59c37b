"""The one exception tree of news-search: every failure a user can cause.

    SearchError                 base; `str(e)` is the message, `e.hint` how to fix it
    ├── RecordError             a record file cannot be read or parsed (path, line, field)
    │   └── FolderError         a folder under a root cannot be listed: its records are kept
    ├── EmptySourceError        a --full rebuild would drop the records of an empty root
    ├── UsageError              an argument is invalid: a bad date, sort, limit (option, value)
    │   ├── QueryError          a raw-mode query does not parse (query)
    │   └── AlertNameError      an alert name is empty, too long or not a plain word (name)
    ├── DocumentNotFoundError   `show ID` names no indexed document (doc_id)
    ├── AlertError              about saved searches (name)
    │   ├── AlertNotFoundError  no alert by that name
    │   ├── AlertExistsError    `alert add` with a name already taken
    │   └── AlertsCorruptError  the alerts files cannot be read (path, with :line)
    ├── BackendError            a cluster backend cannot be reached or refuses (url)
    └── IndexError_             anything about the index folder (index_dir)
        ├── IndexNotFoundError  no index there yet: run `search index`
        ├── IndexCorruptError   a damaged index: rebuild with --full
        │   └── NotAnIndexError  the folder named is no index (a file, a folder of records)
        ├── IndexPermissionError  an index file this user may not read (path): not damage
        ├── SchemaVersionError  built by another schema version: rebuild with --full
        └── IndexBusyError      another writer holds the lock (holder)

Library code raises these and nothing else for user mistakes; the CLI turns
them into exit codes in exactly one place (`search.cli.main`).  Internal bugs are
left as ordinary exceptions on purpose, so they are not mistaken for a
user's error (nor for a damaged index: search.storage.store.is_damage); the
CLI says them as an internal error with exit code 70, the web as a 500.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AlertError",
    "AlertExistsError",
    "AlertNameError",
    "AlertNotFoundError",
    "AlertsCorruptError",
    "BackendError",
    "DocumentNotFoundError",
    "EmptySourceError",
    "FolderError",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexError_",
    "IndexNotFoundError",
    "IndexPermissionError",
    "NotAnIndexError",
    "QueryError",
    "RecordError",
    "SchemaVersionError",
    "SearchError",
    "UsageError",
]


class SearchError(Exception):
    """Base of every error news-search raises for a user's input or setup."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class RecordError(SearchError):
    """A record file is unreadable or invalid; raised by `records`, reported by indexing."""

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.field = field
        where = self.path if line is None else f"{self.path}:{line}"
        what = problem if field is None else f"field '{field}': {problem}"
        super().__init__(f"{where}: {what}", hint=hint)

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable, so that a pool worker can hand one back to the indexer.
        return (_record_error, (self.path, self.problem, self.line, self.field, self.hint))


def _record_error(path: str, problem: str, line: int | None, field: str | None, hint: str | None) -> RecordError:
    return RecordError(path, problem, line=line, field=field, hint=hint)


class FolderError(RecordError):
    """A folder under a root could not be listed (permissions, I/O error).

    Its files may well exist, so the indexer keeps their records instead of
    deleting them as gone, unless told the folder is meant to be empty."""

    def __reduce__(self) -> tuple[object, ...]:
        return (_folder_error, (self.path, self.problem, self.hint))


def _folder_error(path: str, problem: str, hint: str | None) -> FolderError:
    return FolderError(path, problem, hint=hint)


class EmptySourceError(SearchError):
    """A full rebuild found no files under a root (or could not list a folder)
    from which the index holds records: an unmounted disk looks like this.
    Nothing was changed (CLI exit code 5)."""

    def __init__(self, places: dict[str, str], records: int) -> None:
        self.places = places
        self.records = records
        where = "; ".join(f"{path}: {why}" for path, why in places.items())
        super().__init__(
            f"refusing to drop {records:,} indexed records: {where}",
            hint="If those files are gone for good, run again with --allow-empty"
            " (allow_empty=True in build_index) to delete their records.",
        )


class UsageError(SearchError):
    """An argument is invalid (bad date, unknown sort, page < 1...)."""

    def __init__(self, message: str, *, option: str | None = None, hint: str | None = None) -> None:
        self.option = option
        super().__init__(message, hint=hint)


class QueryError(UsageError):
    """A query in raw (Whoosh syntax) mode does not parse."""

    def __init__(self, query: str, problem: str, *, hint: str | None = None) -> None:
        self.query = query
        quoted = query if len(query) <= 80 else query[:77] + "..."
        super().__init__(
            f"cannot parse query {quoted!r}: {problem}",
            option="query",
            hint=hint or "Drop --raw to search the words as typed.",
        )


def shown(value: object, width: int = 40) -> str:
    """A value as an error message quotes it: repr (control characters
    escaped), cut short: a str after `width` characters, saying how long it
    is; anything else once its repr passes `width`."""
    if isinstance(value, str):
        return repr(value) if len(value) <= width else repr(value[:width]) + f"... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


class AlertNameError(UsageError):
    """An alert name that is empty, too long, or more than a plain word."""

    def __init__(self, name: str, longest: int) -> None:
        self.name = name
        super().__init__(
            f"invalid alert name {shown(name)}",
            option="NAME",
            hint=f"Use 1 to {longest} letters, digits, '.', '_' or '-', starting with a letter or digit.",
        )


class AlertError(SearchError):
    """Something about saved searches (alerts)."""


class AlertNotFoundError(AlertError):
    """No alert has this name."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "") if known else "none yet"
        super().__init__(f"no alert named {shown(name)}", hint=f"Alerts: {listed}. See `search alert list`.")


class AlertExistsError(AlertError):
    """`alert add` with a name that is already taken."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"an alert named {shown(name)} already exists",
            hint=f"Pick another name, or `search alert rm {name}` first (that also drops its matches).",
        )


class AlertsCorruptError(AlertError):
    """An alerts file (definitions, match log) cannot be read; the reindex goes on without alerts."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(
            f"{path}: {problem}",
            hint="Fix or restore that file by hand (it is plain JSON; see docs/alerts.md); "
            "articles keep being indexed meanwhile, and their matches wait until it reads again.",
        )


class DocumentNotFoundError(SearchError):
    """No indexed document has this id (or path)."""

    def __init__(self, doc_id: str) -> None:
        self.doc_id = doc_id
        super().__init__(
            f"no document with id {doc_id!r} in the index",
            hint="Ids are shown by `search query`; a record's file path works too.",
        )


class BackendError(SearchError):
    """A cluster backend (``--backend URL``) cannot be reached, or it refused a request."""

    def __init__(self, message: str, *, url: str | None = None, hint: str | None = None) -> None:
        self.url = url
        super().__init__(message, hint=hint)


class IndexError_(SearchError):  # noqa: N801 - trailing underscore avoids the builtin
    """Something is wrong with the index folder itself."""

    def __init__(self, index_dir: Path | str, message: str, *, hint: str | None = None) -> None:
        self.index_dir = str(index_dir)
        super().__init__(message, hint=hint)


class IndexNotFoundError(IndexError_):
    """There is no index in the folder yet."""

    def __init__(self, index_dir: Path | str) -> None:
        super().__init__(
            index_dir,
            f"no index at {index_dir}",
            hint=f"Run `search index --index {index_dir} [PATH ...]` first.",
        )


def _index_root(index_dir: Path | str) -> Path | str:
    """The index folder, never a generation inside it: a hint's `--index gen-000001`
    would build a nested gen-000001/gen-000001/ in the live generation."""
    path = Path(index_dir)
    name = path.name
    if name.startswith("gen-") and name[4:].isdigit():
        return path.parent
    return index_dir


class IndexCorruptError(IndexError_):
    """The folder is not a news-search index, or its files are damaged."""

    #: A way out given in place of the rebuild advice, where `--full` would be
    #: refused too (a CURRENT that is a folder holding files): `search check` advises it.
    way_out: str | None = None

    def __init__(self, index_dir: Path | str, problem: str, *, hint: str | None = None) -> None:
        self.way_out = hint
        index_dir = _index_root(index_dir)
        super().__init__(
            index_dir,
            f"the index at {index_dir} is unreadable: {problem}",
            hint=hint or f"Rebuild it with `search index --full --index {index_dir} PATH ...`.",
        )


class NotAnIndexError(IndexCorruptError):
    """The path named as the index is a file, or a folder holding other files
    and no generation (a folder of records, say).  There is nothing to rebuild,
    and a build there would mix an index into someone else's files, so the
    advice is to name another folder; nothing was changed."""

    def __init__(self, index_dir: Path | str, problem: str) -> None:
        IndexError_.__init__(
            self,
            index_dir,
            f"{index_dir} is not a news-search index: {problem}",
            hint="Name the index folder with --index (or SEARCH_INDEX_DIR), or a new or empty folder"
            " to build one there; nothing was changed.",
        )


class IndexPermissionError(IndexError_):
    """The operating system refused this user a file or folder of the index
    (EACCES, EPERM).  The index is not damaged, so the advice is about
    access: a rebuild would not help (and would be refused the same way)."""

    def __init__(self, index_dir: Path | str, path: str | None) -> None:
        index_dir = _index_root(index_dir)
        self.path = path
        super().__init__(
            index_dir,
            f"permission denied: {path or index_dir} (in the index at {index_dir})",
            hint="The index is not damaged: run as the user that owns it, or give this user"
            " access to the index folder and its files (a rebuild would not help).",
        )


class SchemaVersionError(IndexError_):
    """The index was written by a different schema version of news-search."""

    def __init__(self, index_dir: Path | str, found: object, expected: object) -> None:
        index_dir = _index_root(index_dir)
        self.found = found
        self.expected = expected
        healed = ""
        if older_schema(found, expected):
            healed = " (after an upgrade, the next `search index` run rebuilds it too)"
        super().__init__(
            index_dir,
            f"the index at {index_dir} has schema version {found}, this news-search uses {expected}",
            hint=f"Rebuild it with `search index --full --index {index_dir} PATH ...`{healed}.",
        )


def older_schema(found: object, expected: object) -> bool:
    """Whether schema version `found` (as a manifest holds it) is one an older
    news-search wrote: the next `search index` run rebuilds such an index."""
    if isinstance(found, bool) or not isinstance(found, int) or not isinstance(expected, int):
        return False
    return found < expected


class IndexBusyError(IndexError_):
    """Another writer holds the index lock; retry later (CLI exit code 3)."""

    def __init__(self, index_dir: Path | str, holder: str | None, waited: float) -> None:
        self.holder = holder
        self.waited = waited
        who = f" by {holder}" if holder else ""
        super().__init__(
            index_dir,
            f"the index at {index_dir} is locked{who} (waited {waited:g}s)",
            hint="Another `search index` is running; retry later or pass --wait SECONDS.",
        )
