"""The alerts folder of an index: saved searches and their match log, on disk.

Alerts live beside the generations, never inside one, so a ``--full``
rebuild or a generation swap leaves them alone::

    index/
      CURRENT, LOCK, gen-NNNNNN/    the index (see search.storage.store)
      alerts/
        alerts.json       the definitions: {"format": 1, "next_cursor": N, "alerts": [{...}, ...]}
        matches.jsonl     the match log: one JSON object a line, cursors increasing
        pending.jsonl     articles a run committed but has not matched yet (normally absent)
        delivered.json    per alert, the last cursor each delivery (--exec, --file) took

Every file is plain UTF-8 JSON a person can read and a script can parse.
Writers hold the index's writer lock (delivery its own, ``DELIVER.lock``):

* ``alerts.json`` and ``delivered.json`` are replaced whole: written to a
  temporary file, fsynced, renamed over the old one, and the folder fsynced,
  so a reader sees the old version or the new one, never half of either;
* ``matches.jsonl`` and ``pending.jsonl`` are only appended to, one fsync per
  batch of lines.  A crash can leave a torn last line (no newline); readers
  ignore it and the next writer cuts it off before appending.

The match log is the record of truth: an article matches an alert at most
once, ever, so the log's (alert, id) pairs say what is already delivered;
``rm`` rewrites it without the removed alert's lines.  ``next_cursor`` in
alerts.json keeps cursors rising across such rewrites.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search import atomic
from search.errors import AlertNameError, AlertsCorruptError

FOLDER = "alerts"
DEFINITIONS = "alerts.json"
MATCHES = "matches.jsonl"
PENDING = "pending.jsonl"
DELIVERED = "delivered.json"
DELIVER_LOCK = "DELIVER.lock"
FORMAT = 1

#: A name is also a file-name-safe, shell-safe word: letters (any script),
#: digits, '.', '_' and '-', starting with a letter or digit.
NAME_MAX = 64
_NAME = re.compile(r"[^\W_][\w.-]*")


def check_name(name: str) -> str:
    """`name` if it is a valid alert name, else AlertNameError saying what is allowed."""
    if not isinstance(name, str) or not (1 <= len(name) <= NAME_MAX) or not _NAME.fullmatch(name):
        raise AlertNameError(name if isinstance(name, str) else repr(name), NAME_MAX)
    if unicodedata.normalize("NFC", name) != name:
        raise AlertNameError(name, NAME_MAX)
    return name


@dataclass(frozen=True)
class Alert:
    """A saved search: `search query`'s text, filters and boosts, under a name."""

    name: str
    query: str = ""
    topics: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    published: bool | None = None
    boost: tuple[str, ...] = ()
    raw: bool = False
    exec: str | None = None  # a shell command fed each run's new matches as JSON lines
    file: str | None = None  # a JSON-lines file each run's new matches are appended to
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "query": self.query,
            "topics": list(self.topics),
            "providers": list(self.providers),
            "since": self.since,
            "until": self.until,
            "published": self.published,
            "boost": list(self.boost),
            "raw": self.raw,
            "exec": self.exec,
            "file": self.file,
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, value: Any, where: str) -> Alert:
        """An Alert from its JSON form; AlertsCorruptError naming `where` if it is not one."""
        if not isinstance(value, dict):
            raise AlertsCorruptError(where, "an alert is not a JSON object")
        name = value.get("name")
        if not isinstance(name, str):
            raise AlertsCorruptError(where, f"an alert has no name: {value!r:.80}")
        try:
            check_name(name)
        except AlertNameError as exc:
            raise AlertsCorruptError(where, str(exc)) from None
        try:
            return cls(
                name=name,
                query=_str(value.get("query", "")),
                topics=_strs(value.get("topics", [])),
                providers=_strs(value.get("providers", [])),
                since=_opt_str(value.get("since")),
                until=_opt_str(value.get("until")),
                published=_opt_bool(value.get("published")),
                boost=_strs(value.get("boost", [])),
                raw=bool(_opt_bool(value.get("raw", False))),
                exec=_opt_str(value.get("exec")),
                file=_opt_str(value.get("file")),
                created=_str(value.get("created", "")),
            )
        except TypeError as exc:
            raise AlertsCorruptError(where, f"alert {name!r}: {exc}") from None


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {value!r}")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _opt_bool(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"expected true, false or null, not {value!r}")
    return value


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list of strings, not {value!r}")
    return tuple(_str(v) for v in value)


@dataclass(frozen=True)
class Match:
    """One article that matched one alert, once; `cursor` orders all matches."""

    alert: str
    id: str
    path: str
    title: str
    url: str | None
    published: str | None
    matched_at: str
    cursor: int

    def to_dict(self) -> dict[str, Any]:
        """The shape `search alert show --json` prints (the alert is given once, above)."""
        return {
            "id": self.id,
            "path": self.path,
            "title": self.title,
            "url": self.url,
            "published": self.published,
            "matched_at": self.matched_at,
            "cursor": self.cursor,
        }

    def to_line(self) -> dict[str, Any]:
        """The match log's line: the alert first, then to_dict()."""
        return {"alert": self.alert, **self.to_dict()}


@dataclass(frozen=True)
class Definitions:
    alerts: tuple[Alert, ...] = ()
    next_cursor: int = 1

    def get(self, name: str) -> Alert | None:
        return next((a for a in self.alerts if a.name == name), None)


# -- small durable writes ---------------------------------------------------------------


def encode_line(value: Any) -> bytes:
    # Paths that are not valid UTF-8 come in as surrogate escapes; write their bytes back.
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogateescape")


def replace_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (a hidden temporary name beside it)."""
    atomic.replace_file(path, data, tmp=path.with_name(f".{path.name}.{os.getpid()}.tmp"))


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def not_regular(mode: int) -> str:
    """What a file of `mode` is, said as why it is refused ("a FIFO, not a regular file")."""
    kind = next((name for test, name in _KINDS if test(mode)), "something else")
    return f"{kind}, not a regular file"


def open_regular(path: Path, flags: int) -> int:
    """A descriptor of the regular file at `path` opened with `flags` (and
    O_CREAT's mode 0o644), or OSError(EINVAL) naming it when it is anything
    else.  O_NONBLOCK: a FIFO put at an alerts file's path blocked the run for
    ever in open() (a reader waits for a writer, a writer for a reader); the
    check is fstat() of what was opened, so nothing can be swapped in between."""
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: a FIFO nobody reads, or a socket, opened to write
            raise
        raise OSError(errno.EINVAL, not_regular(os.stat(path).st_mode), str(path)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise OSError(errno.EINVAL, not_regular(mode), str(path))
    os.set_blocking(fd, True)
    return fd


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file at `path` (open_regular: never a FIFO's wait
    nor /dev/zero read until memory runs out)."""
    with open(open_regular(path, os.O_RDONLY), "rb") as handle:
        return handle.read()


def append_lines(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append one JSON line per row and fsync, after cutting off a torn last line;
    `path` must be a regular file or absent (open_regular)."""
    data = b"".join(encode_line(row) + b"\n" for row in rows)
    if not data:
        return
    created = not path.exists()
    with open(open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT), "ab") as handle:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # A crash in the middle of an append: drop its partial line.
            tail = min(size, 1 << 16)
            last = os.pread(fd, tail, size - tail)
            if b"\n" not in last:
                last, tail = os.pread(fd, size, 0), size
            handle.truncate(size - tail + last.rfind(b"\n") + 1)
        handle.write(data)
        handle.flush()
        os.fsync(fd)
    if created:
        atomic.fsync_dir(path.parent)


def read_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each complete line of a JSON-lines file.

    A last line without its newline is a torn append and is skipped; any other
    unreadable line is AlertsCorruptError naming the file and line."""
    try:
        data = read_regular(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AlertsCorruptError(str(path), f"cannot read it: {exc.strerror or exc}") from exc
    lines = data.split(b"\n")
    lines.pop()  # after the last newline: empty, or a torn line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line.decode("utf-8", "surrogateescape"))
        except ValueError as exc:
            raise AlertsCorruptError(f"{path}:{number}", f"not a JSON line: {exc}") from None


# -- the folder --------------------------------------------------------------------------


@dataclass
class AlertFiles:
    """The alerts folder of the index at `index_dir`."""

    index_dir: Path
    folder: Path = field(init=False)

    def __post_init__(self) -> None:
        self.folder = Path(self.index_dir) / FOLDER

    def path(self, name: str) -> Path:
        return self.folder / name

    def exists(self) -> bool:
        return (self.folder / DEFINITIONS).exists()

    # definitions

    def read_definitions(self) -> Definitions:
        path = self.folder / DEFINITIONS
        try:
            text = read_regular(path).decode("utf-8", "surrogateescape")
        except FileNotFoundError:
            return Definitions()
        except OSError as exc:
            raise AlertsCorruptError(str(path), f"cannot read it: {exc.strerror or exc}") from exc
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise AlertsCorruptError(str(path), f"not valid JSON: {exc}") from None
        if not isinstance(value, dict) or not isinstance(value.get("alerts"), list):
            raise AlertsCorruptError(str(path), 'expected an object with an "alerts" list')
        if value.get("format", FORMAT) != FORMAT:
            raise AlertsCorruptError(str(path), f"format {value.get('format')!r}; this news-search reads {FORMAT}")
        cursor = value.get("next_cursor", 1)
        if not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 1:
            raise AlertsCorruptError(str(path), f"next_cursor must be a whole number from 1, not {cursor!r}")
        alerts = tuple(Alert.from_dict(v, str(path)) for v in value["alerts"])
        names = [a.name for a in alerts]
        if len(set(names)) != len(names):
            doubled = sorted({n for n in names if names.count(n) > 1})
            raise AlertsCorruptError(str(path), f"alert {doubled[0]!r} is defined twice")
        return Definitions(alerts, cursor)

    def write_definitions(self, definitions: Definitions) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        value = {
            "format": FORMAT,
            "next_cursor": definitions.next_cursor,
            "alerts": [a.to_dict() for a in definitions.alerts],
        }
        text = json.dumps(value, ensure_ascii=False, indent=2) + "\n"
        replace_file(self.folder / DEFINITIONS, text.encode("utf-8", "surrogateescape"))

    # the match log

    def read_matches(self) -> Iterator[Match]:
        path = self.folder / MATCHES
        last = 0
        for number, value in read_lines(path):
            where = f"{path}:{number}"
            try:
                match = Match(
                    alert=_str(value["alert"]),
                    id=_str(value["id"]),
                    path=_str(value["path"]),
                    title=_str(value["title"]),
                    url=_opt_str(value.get("url")),
                    published=_opt_str(value.get("published")),
                    matched_at=_str(value["matched_at"]),
                    cursor=value["cursor"],
                )
            except (KeyError, TypeError) as exc:
                raise AlertsCorruptError(where, f"not a match: {exc}") from None
            if not isinstance(match.cursor, int) or match.cursor <= last:
                raise AlertsCorruptError(where, f"cursor {match.cursor!r} does not follow {last}")
            last = match.cursor
            yield match

    def append_matches(self, matches: list[Match]) -> None:
        if matches:
            self.folder.mkdir(parents=True, exist_ok=True)
            append_lines(self.folder / MATCHES, (m.to_line() for m in matches))

    def rewrite_matches(self, keep: Iterable[Match]) -> None:
        data = b"".join(encode_line(m.to_line()) + b"\n" for m in keep)
        replace_file(self.folder / MATCHES, data)

    # the pending journal: {"run": matched_at, "ids": {article id: content digest}}

    def read_pending(self) -> list[tuple[str, dict[str, str]]]:
        path = self.folder / PENDING
        entries: list[tuple[str, dict[str, str]]] = []
        for number, value in read_lines(path):
            if not isinstance(value, dict) or not isinstance(value.get("ids"), dict):
                raise AlertsCorruptError(f"{path}:{number}", "not a pending entry")
            entries.append((str(value.get("run", "")), {str(k): str(v) for k, v in value["ids"].items()}))
        return entries

    def append_pending(self, run: str, ids: dict[str, str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        append_lines(self.folder / PENDING, [{"run": run, "ids": ids}])

    def clear_pending(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.folder / PENDING).unlink()
            atomic.fsync_dir(self.folder)

    # delivery cursors: {alert: {"exec": cursor, "file": cursor}}

    def read_delivered(self) -> dict[str, dict[str, int]]:
        path = self.folder / DELIVERED
        try:
            value = json.loads(read_regular(path).decode("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise AlertsCorruptError(str(path), f"unreadable: {exc}") from None
        if not isinstance(value, dict):
            raise AlertsCorruptError(str(path), "expected an object")
        return {str(k): {str(c): int(n) for c, n in v.items()} for k, v in value.items() if isinstance(v, dict)}

    def write_delivered(self, value: dict[str, dict[str, int]]) -> None:
        text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        replace_file(self.folder / DELIVERED, text.encode("utf-8"))
