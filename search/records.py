"""Find record files and parse each one into a typed `Article` (the model is
`search.articles`, re-exported here); nothing else.

A record is one UTF-8 file: a YAML front-matter block between a first line
`---` and a closing `---` (or `...`) line, then an optional plain-text body.
A `.yaml`/`.yml` file may instead be one bare YAML mapping.  This module is
pure Python: it knows nothing of Whoosh, Typer or Rich.

Design
------
* `walk()` lists files (sorted, deterministic); `read_source()` reads one with
  the size and mtime of the same open file; `parse_record()` turns bytes into
  an `Article`; `load_record()` is the last two together.
* A problem that makes a record unusable is a `RecordError` (path, line,
  field, hint) and the record is skipped: empty, binary or non-UTF-8 data, no
  or unterminated front matter, YAML syntax errors, unsafe or unknown tags,
  front matter that is not a mapping, a missing or unusable `title`, and
  anything over a `Limits` bound that cannot be cut (file size, front-matter
  size, YAML nodes repeated through aliases, nesting depth).  `walk()` yields these for files it cannot list rather than
  raising, so one bad file never stops a run of a million.
* A problem confined to one optional field is a warning: the record is kept,
  the value is coerced or dropped, and `Article.warnings` says which field and
  why.  Over-long text and lists are truncated, with a warning.
* `secured` (in any case) is an opaque blob and is dropped at parse time, at
  every depth.
  Unknown fields are kept in `extra`, made JSON-safe for display; unknown
  keys inside `provider` and `images` entries are ignored (a `related` stub
  keeps all of its keys in `Stub.record`).
* Text is data: control characters (ESC, BEL, C1) in any field or the body
  are kept as written (renderers escape them, see ``search.display``); raw
  ones in the front matter, which YAML refuses, pass through it as
  private-use stand-ins (``_Shield``).  Only NFC and stripping change text.
* A key repeated in one mapping keeps its last value, with a warning naming
  the key and both lines.  URL fields (webUrl, ampWebUrl, cdnAmpWebUrl) take
  http(s) URLs only: anything else would become a `javascript:` link.
* Untrusted YAML: a SafeLoader (libyaml's when available), tags outside the
  safe set rejected.  A billion-laughs document loads cheaply as shared
  references; walking it is what explodes, so the loaded value is walked once
  under a node budget (of what aliases repeat) and depth limit before anything else touches it.  Merge
  keys (`<<`) are budgeted while loading, since older PyYAML expanded them
  exponentially.  libyaml refuses nesting past 1,000 levels and the pure
  Python fallback's RecursionError is caught, so deep `[[[[` cannot crash us.
  Measured: a 9x9 billion laughs is refused in 3 ms (22 KB traced), a
  100,000-deep `[[[[` in 1 ms (0.6 MB).
* Cost: libyaml's load is ~45-60 us of a median (1 KB) Reuters record, most
  of it PyYAML's constructor in Python; front matter of the simple shape
  almost every record has (plain keys, scalars, flat mappings and lists of
  scalars, one per line) is read by `_simple_yaml` in ~20 us instead, with
  PyYAML's own resolver and constructors for the scalars, and anything else
  goes to PyYAML (reading and parsing all of Reuters: 2.35 -> 1.31 s CPU).
  The checks here add ~30% to the load, two thirds of that building the
  Article (one pass over the fields; regexes only where a cheap test says
  they are needed).
"""

from __future__ import annotations

import base64
import errno
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from search.articles import (
    UTC,
    Article,
    Image,
    Provider,
    Stub,
    describe,
    iso_utc,
    parse_datetime,
    scalar_text,
    to_utc,
    utf8,
)
from search.errors import FolderError, RecordError, UsageError

__all__ = [
    "EXTENSIONS",
    "Article",
    "Image",
    "Limits",
    "Provider",
    "SourceFile",
    "Stub",
    "load_record",
    "normalise_roots",
    "parse_datetime",
    "parse_record",
    "racy",
    "read_source",
    "walk",
]

EXTENSIONS: tuple[str, ...] = (".md", ".markdown", ".txt", ".yaml", ".yml")


@dataclass(frozen=True)
class Limits:
    """Bounds on one record; what happens past each is noted beside it."""

    max_file_bytes: int = 5 * 1024 * 1024  # larger files: error
    max_front_matter_bytes: int = 1024 * 1024  # larger front matter: error, before YAML reads it
    max_title_chars: int = 1_000  # longer title: truncated + warning
    max_text_chars: int = 1_000_000  # excerpt/body longer: truncated + warning
    max_yaml_nodes: int = 100_000  # nodes repeated through aliases (alias bombs): error
    max_yaml_depth: int = 64  # deep nesting: error
    max_list_items: int = 1_000  # topics/images/related beyond: truncated + warning


@dataclass(frozen=True)
class SourceFile:
    # A str, not a Path: building 1,000,000 Path objects costs about 5 s,
    # a third of a no-change reindex run.
    path: str  # absolute, symlinks not resolved
    size: int
    mtime_ns: int


# --- finding files -------------------------------------------------------------------------------


def walk(
    roots: Iterable[str | Path],
    *,
    follow_symlinks: bool = False,
    extensions: tuple[str, ...] = EXTENSIONS,
) -> Iterator[SourceFile | RecordError]:
    """Yield the record files under `roots` in sorted order, and a RecordError per problem.

    Every root is checked first, so a missing one raises UsageError before
    anything is yielded (the reindex job must never mistake it for deletions).
    """
    starts: list[tuple[Path, os.stat_result]] = []
    for root in roots:
        if os.fspath(root) == "":
            raise _empty_root()
        path = Path(root).absolute()
        if not utf8(str(path)):
            problem = f"{root} is not a valid UTF-8 name (the \\xNN are its bytes that are not)"
            raise UsageError(problem, option="PATH", hint="rename it, or name a folder above it") from None
        try:
            starts.append((path, path.stat()))
        except (FileNotFoundError, NotADirectoryError):
            raise UsageError(f"no such file or folder: {root}", option="PATH") from None
        except OSError as exc:
            raise UsageError(f"cannot open {root}: {exc.strerror}", option="PATH") from None
    suffixes = tuple(ext.lower() for ext in extensions)
    return _walk(starts, follow_symlinks, suffixes)


def _walk(
    starts: list[tuple[Path, os.stat_result]], follow: bool, suffixes: tuple[str, ...]
) -> Iterator[SourceFile | RecordError]:
    # With follow=True a real file or folder can be reached twice, so every one
    # is remembered by (st_dev, st_ino): ~100 bytes a file, the price of the option.
    seen: set[tuple[int, int]] = set()
    for path, st in starts:
        if stat.S_ISDIR(st.st_mode):
            if not follow or _first_time(seen, st):
                yield from _walk_folder(str(path), _key(st), follow, suffixes, seen)
        elif not follow or _first_time(seen, st):
            yield SourceFile(str(path), st.st_size, st.st_mtime_ns)


def _walk_folder(
    root: str, root_key: tuple[int, int], follow: bool, suffixes: tuple[str, ...],
    seen: set[tuple[int, int]],
) -> Iterator[SourceFile | RecordError]:  # fmt: skip
    """Depth first in name order, with a stack: trees may be deeper than Python's recursion."""
    stack: list[tuple[Iterator[os.DirEntry[str]], tuple[int, int]]] = []
    ancestors: set[tuple[int, int]] = set()  # (follow only) folders on the current path: loops
    error = _enter(root, root_key, stack, ancestors if follow else None)
    if error:
        yield error
    while stack:
        entry = next(stack[-1][0], None)
        if entry is None:
            ancestors.discard(stack.pop()[1])
            continue
        name = entry.name
        if name.startswith("."):
            continue
        if not name.isascii() and not utf8(name):
            # The index stores names as UTF-8 text (a Whoosh term), which such a name has no spelling in.
            try:
                what = "folder" if entry.is_dir(follow_symlinks=False) else "file"
            except OSError:
                what = "file"
            if what == "folder" or name.lower().endswith(suffixes):
                problem = f"{what} name is not valid UTF-8 (the \\xNN are its bytes that are not)"
                yield RecordError(entry.path, problem, hint=f"rename the {what} to index it")
            continue
        wanted = name.lower().endswith(suffixes)
        link = False
        try:
            link = entry.is_symlink()
            if link and not follow:
                if wanted or os.path.isdir(entry.path):
                    hint = "pass `follow_symlinks` to index what it points to"
                    yield RecordError(entry.path, "symbolic link not followed", hint=hint)
            elif entry.is_dir():
                key = _key(entry.stat()) if follow else (0, 0)
                if key in ancestors:
                    yield RecordError(entry.path, "symbolic link loop", hint="it was skipped")
                elif not follow or _first_time(seen, entry.stat()):  # else walked via another link
                    error = _enter(entry.path, key, stack, ancestors if follow else None)
                    if error:
                        yield error
            elif wanted:
                st = entry.stat(follow_symlinks=follow)
                if not stat.S_ISREG(st.st_mode):
                    yield RecordError(entry.path, "not a regular file")  # reported as "skipped PATH: ..."
                elif not follow or _first_time(seen, st):
                    yield SourceFile(entry.path, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            yield RecordError(entry.path, "broken symbolic link" if link else "vanished during the walk")
        except OSError as exc:
            loop = exc.errno == errno.ELOOP
            yield RecordError(entry.path, "symbolic link loop" if loop else f"cannot read: {exc.strerror}")


def _key(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _first_time(seen: set[tuple[int, int]], st: os.stat_result) -> bool:
    key = _key(st)
    if key in seen:
        return False
    seen.add(key)
    return True


def _enter(
    folder: str, key: tuple[int, int], stack: list[tuple[Iterator[os.DirEntry[str]], tuple[int, int]]],
    ancestors: set[tuple[int, int]] | None,
) -> RecordError | None:  # fmt: skip
    try:
        with os.scandir(folder) as entries:
            listing = sorted(entries, key=_entry_name)
    except (FileNotFoundError, NotADirectoryError):
        return RecordError(folder, "folder vanished during the walk")
    except PermissionError:
        hint = "check its permissions; its indexed records are kept until it can be read"
        return FolderError(folder, "cannot read folder: permission denied", hint=hint)
    except OSError as exc:
        return FolderError(folder, f"cannot read folder: {exc.strerror}", hint="its indexed records are kept")
    stack.append((iter(listing), key))
    if ancestors is not None:
        ancestors.add(key)
    return None


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


# --- reading -------------------------------------------------------------------------------------

# O_NONBLOCK: a FIFO named as a root must not hang the run; regular files ignore it.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def read_source(path: Path, limits: Limits = Limits()) -> tuple[bytes, int, int]:
    """Read one file; return (data, size, mtime_ns), the last two from fstat of the same fd."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise RecordError(path, "file vanished (deleted or moved after it was found)") from None
    except PermissionError:
        raise RecordError(path, "permission denied", hint="check the file's permissions") from None
    except OSError as exc:
        raise RecordError(path, f"cannot open: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise RecordError(path, "is a directory, not a record file")
        if not stat.S_ISREG(st.st_mode):
            raise RecordError(path, "not a regular file")
        limit = limits.max_file_bytes
        if st.st_size > limit:
            raise _too_large(path, st.st_size, limit)
        parts: list[bytes] = []
        total, want = 0, st.st_size + 1  # one byte more tells a file that grew since fstat
        while total <= limit:
            chunk = os.read(fd, want)
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            want = min(limit + 1 - total, 1 << 16)
        if total > limit:
            raise _too_large(path, total, limit)
    except OSError as exc:
        raise RecordError(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    return b"".join(parts), st.st_size, st.st_mtime_ns


#: How long after a file's mtime an edit may leave that mtime as it was: a
#: whole-second mtime is a coarse filesystem's (ext3 and HFS+ 1 s, FAT 2 s);
#: a finer one is stamped from the kernel's coarse clock, which moves once a
#: timer tick (1-10 ms) and lags time.time_ns() by up to that tick.
COARSE_TICK_NS = 2_000_000_000
FINE_TICK_NS = 20_000_000


def racy(mtime_ns: int, read_ns: int) -> bool:
    """Whether a file with this mtime, read (to its end) at `read_ns`, could
    still be edited without its mtime changing: read within its mtime's tick,
    or with an mtime in the future (a skewed clock), as git's racy check.
    Read later than that, any edit after the read gets a later mtime.  The
    embedded indexer and the cluster's sync both mark such a file in their
    bookkeeping, and read it again next run."""
    tick = COARSE_TICK_NS if mtime_ns % 1_000_000_000 == 0 else FINE_TICK_NS
    return read_ns - mtime_ns < tick


def _too_large(path: Path, size: int, limit: int) -> RecordError:
    return RecordError(
        path,
        f"file is {size:,} bytes, over the {limit:,}-byte limit",
        hint="raise the limit with `max_file_size` / SEARCH_MAX_FILE_SIZE",
    )


def load_record(path: str | Path, limits: Limits = Limits()) -> Article:
    """read_source() then parse_record()."""
    data, _size, _mtime = read_source(Path(path), limits)
    return parse_record(data, Path(path), limits)


# --- YAML ----------------------------------------------------------------------------------------

if TYPE_CHECKING or not yaml.__with_libyaml__:
    _BaseLoader = yaml.SafeLoader
else:  # libyaml parses ~10x faster; the constructor, and so the safety, is the same
    _BaseLoader = yaml.CSafeLoader


class _Loader(_BaseLoader):
    """A SafeLoader whose scalars that fail to convert stay text (see _keep_text)
    and that notes keys repeated in one mapping (YAML keeps the last silently)."""

    max_nodes = 0
    merges = False  # whether merge keys (<<) may add keys of other mappings

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated: list[tuple[object, int, int]] = []  # (key, first line, repeated on), 0-based

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):  # `!!set` on a scalar: PyYAML's own ConstructorError
            return super().construct_mapping(node, deep=deep)
        own = [pair for pair in node.value if pair[0].tag != "tag:yaml.org,2002:merge"] if self.merges else None
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        if own is not None or len(mapping) < len(node.value):  # only then can a key repeat
            first: dict[Any, int] = {}
            for key_node, _value in node.value if own is None else own:
                key = self.construct_object(key_node)  # built already: a lookup
                if not isinstance(key, (str, int, float, bool, date)) and key is not None:
                    continue
                line = key_node.start_mark.line
                if key in first:
                    self.repeated.append((key, first[key], line))
                first[key] = line
        return mapping


def _keep_text(construct: Any) -> Any:
    # PyYAML lets ValueError & co. escape for `2020-13-45`, `0b_`, `!!bool maybe`;
    # keeping the text lets field validation decide (a warning, not a crash).
    def construct_or_text(loader: _Loader, node: ScalarNode) -> object:
        try:
            return construct(loader, node)
        except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError):
            return loader.construct_scalar(node)

    return construct_or_text


for _kind in ("bool", "int", "float", "timestamp"):
    _Loader.add_constructor(
        f"tag:yaml.org,2002:{_kind}", _keep_text(getattr(SafeConstructor, f"construct_yaml_{_kind}"))
    )


class _MergeBudgetLoader(_Loader):
    """Counts what merge keys (`<<`) copy before PyYAML copies it.

    PyYAML < 6.0.4 grew each level of merges by the number of merged copies
    (9 levels x 9 copies: 387 million entries).  Only used when "<<" occurs.
    """

    merges = True

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.merging: set[MappingNode] = set()

    def flatten_mapping(self, node: MappingNode) -> None:
        total = len(node.value)
        if node in self.merging:
            raise ConstructorError(None, None, "a merge key (<<) refers to its own mapping", node.start_mark)
        self.merging.add(node)
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                subs = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
                for sub in subs:
                    if isinstance(sub, MappingNode):
                        self.flatten_mapping(sub)
                        total += len(sub.value)
                        if total > self.max_nodes:
                            raise ConstructorError(None, None, _bomb(self.max_nodes), node.start_mark)
        self.merging.discard(node)
        super().flatten_mapping(node)


#: How PyYAML resolves a plain scalar (by its first character) and builds each kind.
_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_BUILD_WITH = {
    f"tag:yaml.org,2002:{kind}": _Loader.yaml_constructors[f"tag:yaml.org,2002:{kind}"]
    for kind in ("null", "bool", "int", "float", "timestamp")
}
_BUILDER = SafeConstructor()
#: A `key:` line: indent, a plain key, then the end of the line or spaces and a value.
_KEY_LINE = re.compile(r"( *)([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*[^ ]))? *")
#: First characters of a key that PyYAML may read as something else (a boolean, null).
_RESOLVED_STARTS = frozenset(start for start in _RESOLVERS if start)
#: Characters that start YAML syntax in a plain scalar.
_NOT_PLAIN_START = frozenset("-?:,[]{}#&*!|>%@`")
#: Tabs, the characters YAML refuses raw (parse_record's _Shield has hidden them already) and
#: what it reads as line breaks or a byte-order mark: such front matter goes to PyYAML.
_NOT_SIMPLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


class _Declined(Exception):
    """The front matter is not in the simple shape _simple_yaml reads."""


def _scalar(text: str) -> object:
    """One scalar as PyYAML reads it on a block line, or _Declined."""
    first = text[:1]
    if first == '"' or first == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != first:
            raise _Declined
        if first == '"':
            if '"' in inner or "\\" in inner:
                raise _Declined  # escapes: PyYAML's reading is the reference
            return inner
        if "'" in inner.replace("''", ""):
            raise _Declined
        return inner.replace("''", "'")
    if first in _NOT_PLAIN_START or ": " in text or " #" in text or text[-1:] == ":":
        raise _Declined
    for tag, regexp in _RESOLVERS.get(first, ()):
        if regexp.match(text):
            build = _BUILD_WITH.get(tag)
            if build is None:
                raise _Declined
            return build(_BUILDER, ScalarNode(tag, text))
    return text


def _plain_key(found: re.Match[str], into: dict[str, object]) -> tuple[str, str | None]:
    """A matched `key:` line's key and value text; _Declined for a repeated key or one YAML reads otherwise."""
    key, value = found.group(2, 3)
    if key in into or (key[0] in _RESOLVED_STARTS and _scalar(key) != key):
        raise _Declined
    return key, value


def _simple_yaml(text: str) -> dict[str, object] | None:
    """The front matter most records have, read without PyYAML's parser and
    constructor (half of a Reuters record's YAML time): a mapping of plain
    keys to scalars, flat mappings of scalars, or lists of scalars, one per
    line, plain or quoted without escapes.  Scalars are resolved and built by
    PyYAML's own resolver regexes and constructors, so a value is what PyYAML
    makes of it.  Anything else (flow style, anchors, tags, escapes, comments
    after a value, multi-line scalars, deeper nesting, a repeated key, tabs)
    returns None and goes to PyYAML: a test holds this reading to PyYAML's."""
    if _NOT_SIMPLE.search(text):
        return None
    lines = [line for line in text.split("\n") if line.strip(" ") and line.lstrip(" ")[0] != "#"]
    top: dict[str, object] = {}
    match = _KEY_LINE.fullmatch
    try:
        i, count = 0, len(lines)
        while i < count:
            found = match(lines[i])
            if found is None or found.group(1):
                return None
            key, value = _plain_key(found, top)
            i += 1
            if value is not None:
                top[key] = _scalar(value)
                continue
            after = lines[i] if i < count else ""
            indent = len(after) - len(after.lstrip(" "))
            if after[indent : indent + 2].rstrip(" ") == "-":  # a list: "- item" lines
                items: list[object] = []
                lead = " " * indent + "-"
                while i < count and lines[i].startswith(lead):
                    item = lines[i][indent + 1 :].rstrip(" ")
                    if item and item[0] != " ":
                        return None
                    items.append(_scalar(item.lstrip(" ")) if item else None)
                    i += 1
                top[key] = items
            elif indent:  # a mapping: indented "key: value" lines
                inner: dict[str, object] = {}
                while i < count and lines[i][:1] == " ":
                    found = match(lines[i])
                    if found is None or len(found.group(1)) != indent:
                        return None
                    name, value = _plain_key(found, inner)
                    inner[name] = None if value is None else _scalar(value)
                    i += 1
                top[key] = inner
            else:
                top[key] = None
    except _Declined:
        return None
    return top if top else None


def _load_yaml(text: str, path: Path, line0: int, limits: Limits) -> tuple[object, list[str]]:
    """The loaded front matter, and a warning per key repeated in a mapping."""
    simple = _simple_yaml(text)
    if simple is not None:
        return simple, []
    loader = _MergeBudgetLoader(text) if "<<" in text else _Loader(text)
    loader.max_nodes = limits.max_yaml_nodes
    try:
        value = loader.get_single_data()
        warns = [
            f"key {describe(key)} on line {line0 + again + 1} repeats line {line0 + first + 1}; the last value is kept"
            for key, first, again in loader.repeated
        ]
        return value, warns
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path, line0, limits) from None
    except RecursionError:  # the pure-Python composer recurses once a level (~300 levels)
        raise RecordError(path, _too_deep(limits.max_yaml_depth)) from None
    finally:
        loader.dispose()


_TAG_IN_MESSAGE = re.compile(r"tag '([^']*)'")


def _yaml_error(exc: yaml.YAMLError, path: Path, line0: int, limits: Limits) -> RecordError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = None if mark is None else line0 + mark.line + 1
    problem = getattr(exc, "problem", None) or str(exc)
    if "could not determine a constructor" in problem:
        found = _TAG_IN_MESSAGE.search(problem)
        tag = (found.group(1) if found else "?").replace("tag:yaml.org,2002:", "!!", 1)
        kind = "unsafe" if tag.startswith("!!python/") else "unknown"
        hint = "records hold plain YAML (text, numbers, dates, lists, mappings): remove the tag"
        return RecordError(path, f"{kind} YAML tag {tag!r} rejected", line=line, hint=hint)
    if "maximum nesting depth" in problem:  # libyaml's own limit is 1,000 levels
        return RecordError(path, _too_deep(min(limits.max_yaml_depth, 1000)), line=line)
    if problem.startswith(("front matter expands", "a merge key")):
        return RecordError(path, problem, line=line)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        problem += f" ({context} on line {line0 + context_mark.line + 1})"
    where = "" if mark is None else f" at column {mark.column + 1}"
    hint = "check the quoting and indentation"
    return RecordError(path, f"invalid YAML{where}: {problem}", line=line, hint=hint)


def _bomb(budget: int) -> str:
    return f"front matter expands to more than {budget:,} YAML nodes through aliases (an alias bomb?)"


def _too_deep(depth: int) -> str:
    return f"nested deeper than {depth} levels"


_CONTAINERS = frozenset({dict, list, tuple, set})


def _check_shape(value: dict[Any, Any], path: Path, limits: Limits) -> None:
    """Walk the loaded value once, as if aliases were copies, within the node and depth limits.

    The node budget counts what aliases repeat, not what the file spells out:
    a plain list of 100,000 topics is big but bounded by the file size (and
    cut to max_list_items later, with a warning); a list reached again
    through an alias is where a billion laughs comes from."""
    budget, max_depth = limits.max_yaml_nodes, limits.max_yaml_depth
    repeated = 0
    seen: set[int] = set()
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise RecordError(path, _too_deep(max_depth))
        if id(node) in seen:
            repeated += len(node) + 1
            if repeated > budget:
                raise RecordError(path, _bomb(budget), hint="remove the repeated aliases (*name)")
        else:
            seen.add(id(node))
        for child in node.values() if type(node) is dict else node:
            if type(child) in _CONTAINERS:  # exact types: the safe loader makes no subclasses
                stack.append((child, depth + 1))


# --- parsing -------------------------------------------------------------------------------------

# A leading literal lets the regex engine skip from newline to newline (3x faster than ^ with
# re.MULTILINE); the closing line is `---` or `...`, trailing blanks allowed.
_CLOSER = re.compile(r"\n(?:---|\.\.\.)[ \t]*(?=\n|\Z)")
# C0 controls but \t and \n, DEL, C1 (the YAML reader refuses them, or reads \x85 as a line
# break) and the non-characters U+FFFE/U+FFFF.  This regex costs ~3 ns a character, so the
# raw bytes are checked first (0.4 ns a byte) for C0 bytes and the UTF-8 lead bytes of the rest.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
_SUSPECT_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0xC2, 0xEF])
#: Where the shield's stand-ins may live: 256-character blocks of the private use planes;
#: the first block the front matter does not use is taken.
_STAND_IN_BLOCKS = tuple(range(0xFFF00, 0xF0000 - 1, -0x1000)) + tuple(range(0x10FF00, 0x100000 - 1, -0x1000))
_YAML_SUFFIXES = (".yaml", ".yml")
_INT64 = (-(2**63), 2**63 - 1)


def parse_record(data: bytes, path: Path, limits: Limits = Limits()) -> Article:
    """Parse one record file's bytes; RecordError (path, line, field) if it is unusable."""
    text = _decode(data, path)
    front, body, line0 = _split(text, path)
    if len(front) * 4 > limits.max_front_matter_bytes:  # a character is 1-4 bytes: only then count
        _check_front_size(front, path, limits.max_front_matter_bytes)
    shield = _Shield.of(front) if len(data.translate(None, _SUSPECT_BYTES)) != len(data) else None
    loaded, warns = _load_yaml(front if shield is None else shield.hide(front), path, line0, limits)
    if type(loaded) is not dict:
        kind = "empty" if loaded is None else f"{describe(loaded)}, not a mapping of fields"
        hint = "write one 'field: value' per line"
        raise RecordError(path, f"front matter is {kind}", line=line0 + 1, hint=hint)
    _check_shape(loaded, path, limits)
    if shield is not None:
        loaded = shield.restore(loaded, {})
    return _article(loaded, body, path, front, line0, limits, warns)


def _check_front_size(front: str, path: Path, limit: int) -> None:
    """PyYAML spends ~10 us and ~560 bytes on every node a file spells out
    (load 15), and nothing bounds their number but the size: one `search index`
    of a 5 MB record of flow mappings took 13.9 s of CPU and 605 MB.  Front
    matter holds a record's fields (a seed's is 4.4 KB), so past the limit it
    is refused before YAML reads it (0.4 s, 57 MB, most of it the imports); the
    body costs no such thing.  At the 1 MiB default the worst shape costs ~2.4 s
    and ~115 MB, and a flow list of 100,000 topics (~0.8 MB) still reads."""
    size = len(front.encode("utf-8"))  # ~1 ms a megabyte
    if size > limit:
        hint = "long text belongs in the body, after the closing '---' line"
        raise RecordError(path, f"front matter is {size:,} bytes, over the {limit:,}-byte limit", hint=hint)


class _Shield:
    """Control characters are data: a record's title may hold ESC or U+009B,
    and the record keeps them (every renderer shows them as escapes, see
    `search.display`).  The YAML reader refuses them raw, so the front matter
    goes to it with each one swapped for a private-use stand-in, and the
    loaded values get them back.  The stand-ins come from a block of 256
    private-use characters that the front matter does not already hold."""

    __slots__ = ("hidden", "shown")

    def __init__(self, block: int) -> None:
        codes = [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0), 0xFFFE, 0xFFFF]
        self.hidden = {code: block + (code & 0xFF) for code in codes}
        self.shown = {stand_in: chr(code) for code, stand_in in self.hidden.items()}

    @classmethod
    def of(cls, front: str) -> _Shield | None:
        if not _CONTROL.search(front):
            return None
        for block in _STAND_IN_BLOCKS:
            if not re.search(f"[{chr(block)}-{chr(block + 0xFF)}]", front):
                return cls(block)
        return None  # not reached by a real record: 32 blocks of 256 characters; parsing then fails

    def hide(self, front: str) -> str:
        return front.translate(self.hidden)

    def restore(self, value: Any, done: dict[int, Any]) -> Any:
        """`value` with the stand-ins turned back; shared (aliased) containers stay shared."""
        kind = type(value)
        if kind is str:
            return value.translate(self.shown)
        if kind not in _CONTAINERS:
            return value
        if id(value) in done:
            return done[id(value)]
        if kind is dict:
            restored: Any = {}
            done[id(value)] = restored
            for key, item in value.items():
                restored[self.restore(key, done)] = self.restore(item, done)
            return restored
        items = [self.restore(item, done) for item in value]
        restored = kind(items)
        done[id(value)] = restored
        return restored


def article_from_record(record: dict[str, Any], path: Path, limits: Limits = Limits()) -> Article:
    """Rebuild an Article from its own to_record() output (what the index
    stores), so that a file whose bytes did not change need not be parsed."""
    fields = dict(record)
    body = fields.pop("body", None)
    return _article(fields, body, path, "", 0, limits)


def _decode(data: bytes, path: Path) -> str:
    if b"\x00" in data:
        utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
        hint = "it looks like UTF-16: convert it to UTF-8" if utf16 else None
        raise RecordError(path, "binary file (contains NUL bytes)", hint=hint)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = f"not valid UTF-8 (byte offset {exc.start})"
        raise RecordError(path, problem, line=line, hint="convert the file to UTF-8") from None
    if text[:1] == "\ufeff":
        text = text[1:]
    if not text or text.isspace():
        raise RecordError(path, "empty file")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text  # other control characters are data, kept (see _Shield)


def _split(text: str, path: Path) -> tuple[str, str | None, int]:
    """(front matter, body, number of lines before the front matter)."""
    if text.startswith("---"):
        end = text.find("\n")
        if end < 0:
            end = len(text)
        if text[:end].rstrip() == "---":
            closer = _CLOSER.search(text, end)
            if closer is not None:
                return text[end + 1 : closer.start() + 1], text[closer.end() + 1 :], 1
            if path.suffix.lower() in _YAML_SUFFIXES:  # a YAML document may open with --- and end
                return text[end + 1 :], None, 1
            hint = "end the front matter with a line holding only '---'"
            raise RecordError(path, "unterminated front matter: no closing '---' line", line=1, hint=hint)
    if path.suffix.lower() in _YAML_SUFFIXES:
        return text, None, 0
    hint = "a record opens with YAML front matter between two lines holding only '---'"
    raise RecordError(path, "file does not start with '---'", line=1, hint=hint)


def _article(
    data: dict[Any, Any], body: str | None, path: Path, front: str, line0: int, limits: Limits,
    warns: list[str] | None = None,
) -> Article:  # fmt: skip
    warns = [] if warns is None else warns
    title = _title(data, path, front, line0, warns, limits)
    fields = dict(_ARTICLE_DEFAULTS)
    extra: dict[str, Any] = {}
    for key, value in data.items():
        known = _FIELDS.get(key)
        if known is not None:
            if value is not None:
                attr, read = known
                fields[attr] = read(value, key, warns, limits)
        elif key != "title":
            name = _key_text(key)
            if name == "body":
                warns.append("field 'body': reserved for the text after the front matter; ignored")
            elif not _secured(name):
                extra[name] = _json_safe(value)
    if body is not None:
        body = _cut(unicodedata.normalize("NFC", body).strip(), "body", warns, limits.max_text_chars)
    return Article(path=path.absolute(), title=title, body=body, extra=extra, warnings=tuple(warns), **fields)


def _title(data: dict[Any, Any], path: Path, front: str, line0: int, warns: list[str], limits: Limits) -> str:
    value = data.get("title")
    if isinstance(value, bool):
        warns.append(f"field 'title': YAML read {describe(value)}, a boolean; quote the title to keep it")
    if isinstance(value, (str, int, float, date)):
        title = _text(value, "title", warns, limits.max_title_chars)
        if title:
            return title
        problem = "empty"
    elif "title" not in data:
        problem = "missing"
    else:
        problem = "empty" if value is None else f"expected text, got {describe(value)}"
    found = re.search(r"^title[ \t]*:", front, re.MULTILINE)  # the error path only
    line = None if found is None else line0 + front.count("\n", 0, found.start()) + 1
    hint = "every record needs a non-empty 'title: ...' line in its front matter"
    raise RecordError(path, problem, field="title", line=line, hint=hint)


# --- fields: each reader returns the clean value, or None/() after appending a warning ----------


def _clean(text: str) -> str:
    """NFC and stripped; control characters are data and stay (renderers escape them)."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text.strip()


def _text(value: object, name: str, warns: list[str], limit: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = _clean(value)
    elif isinstance(value, (int, float, date)):
        text = scalar_text(value)
    else:
        warns.append(f"field '{name}': expected text, got {describe(value)}; ignored")
        return None
    return _cut(text, name, warns, limit)


def _cut(text: str, name: str, warns: list[str], limit: int) -> str | None:
    if len(text) > limit:
        warns.append(f"field '{name}': {len(text):,} characters, over the {limit:,} limit; truncated")
        text = text[:limit].rstrip()
    return text or None


def _long_text(value: object, name: str, warns: list[str], limits: Limits) -> str | None:
    return _text(value, name, warns, limits.max_text_chars)


def _link(value: object, name: str, warns: list[str], limits: Limits) -> str | None:
    """An http(s) URL, or None with a warning: a record's URL becomes a link, and
    `javascript:alert(1)` or `data:...` in an href runs in whoever clicks it."""
    text = _text(value, name, warns, limits.max_text_chars)
    if text is None:
        return None
    head = text[:8].lower()
    if (head.startswith("https://") and len(text) > 8) or (head.startswith("http://") and len(text) > 7):
        return text
    warns.append(f"field '{name}': {describe(text)} is not an http or https URL; ignored")
    return None


def _integer(value: object, name: str, warns: list[str], low: int, high: int, expected: str) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    warns.append(f"field '{name}': expected {expected}, got {describe(value)}; ignored")
    return None


def _quality(value: object, name: str, warns: list[str], limits: Limits) -> int | None:
    return _integer(value, name, warns, 0, 100, "an integer 0-100")


def _heat(value: object, name: str, warns: list[str], limits: Limits) -> int | None:
    return _integer(value, name, warns, *_INT64, "a 64-bit integer")


def _flag(value: object, name: str, warns: list[str], limits: Limits) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    warns.append(f"field '{name}': expected true or false, got {describe(value)}; ignored")
    return None


def _when(value: object, name: str, warns: list[str], limits: Limits) -> datetime | None:
    if isinstance(value, datetime) and value.tzinfo is UTC:  # PyYAML's reading of "...Z"
        return value
    try:
        if isinstance(value, (datetime, str)):
            when, zoned = to_utc(value)
            if not zoned:
                warns.append(f"field '{name}': no time zone, assumed UTC")
            return when
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
    except ValueError as exc:
        warns.append(f"field '{name}': {exc}; ignored")
        return None
    warns.append(f"field '{name}': expected an ISO 8601 date, got {describe(value)}; ignored")
    return None


def _provider(value: object, name: str, warns: list[str], limits: Limits) -> Provider | None:
    limit = limits.max_title_chars
    if isinstance(value, dict):
        who = _text(value.get("name"), f"{name}.name", warns, limit)
        domain = _text(value.get("domain"), f"{name}.domain", warns, limit)
        domain = domain.lower() if domain else None
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        who, domain = _text(value, name, warns, limit), None
    else:
        expected = "a mapping with name and domain"
        warns.append(f"field '{name}': expected {expected}, got {describe(value)}; ignored")
        return None
    return None if who is None and domain is None else Provider(who, domain)


def _topics(value: object, name: str, warns: list[str], limits: Limits) -> tuple[str, ...]:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list):
        warns.append(f"field '{name}': expected a list of text, got {describe(value)}; ignored")
        return ()
    topics: dict[str, None] = {}  # an ordered set: duplicates dropped, the first kept
    limit = limits.max_title_chars
    for i, item in enumerate(_cap(value, name, warns, limits)):
        if isinstance(item, str):
            topic = _clean(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            topic = scalar_text(item)
        else:
            warns.append(f"field '{name}[{i}]': expected text, got {describe(item)}; dropped")
            continue
        if len(topic) > limit:
            topic = _cut(topic, f"{name}[{i}]", warns, limit) or ""
        if topic:
            topics[topic] = None
    return tuple(topics)


def _images(value: object, name: str, warns: list[str], limits: Limits) -> tuple[Image, ...]:
    if not isinstance(value, list):
        warns.append(f"field '{name}': expected a list of images, got {describe(value)}; ignored")
        return ()
    images: list[Image] = []
    size = (0, _INT64[1], "a non-negative integer")
    for i, item in enumerate(_cap(value, name, warns, limits)):
        where = f"{name}[{i}]"
        if not isinstance(item, dict):
            warns.append(f"field '{where}': expected a mapping with a url, got {describe(item)}; dropped")
            continue
        url = _text(item.get("url"), f"{where}.url", warns, limits.max_text_chars)
        if url is None:
            warns.append(f"field '{where}': no url; dropped")
            continue
        width, height, title = item.get("width"), item.get("height"), item.get("title")
        images.append(
            Image(
                url=url,
                width=None if width is None else _integer(width, f"{where}.width", warns, *size),
                height=None if height is None else _integer(height, f"{where}.height", warns, *size),
                title=_text(title, f"{where}.title", warns, limits.max_title_chars),
            )
        )
    return tuple(images)


def _related(value: object, name: str, warns: list[str], limits: Limits) -> tuple[Stub, ...]:
    if not isinstance(value, list):
        warns.append(f"field '{name}': expected a list of articles, got {describe(value)}; ignored")
        return ()
    stubs: list[Stub] = []
    for i, item in enumerate(_cap(value, name, warns, limits)):
        where = f"{name}[{i}]"
        if not isinstance(item, dict):
            warns.append(f"field '{where}': expected a mapping with a title, got {describe(item)}; dropped")
            continue
        title = _text(item.get("title"), f"{where}.title", warns, limits.max_title_chars)
        if title is None:
            warns.append(f"field '{where}': no title; dropped")
            continue
        fields = dict(_STUB_DEFAULTS)
        for key, (attr, read) in _STUB_FIELDS.items():
            if item.get(key) is not None:
                fields[attr] = read(item[key], f"{where}.{key}", warns, limits)
        stubs.append(Stub(title=title, record=_json_safe(item), **fields))
    return tuple(stubs)


def _cap(items: list[Any], name: str, warns: list[str], limits: Limits) -> list[Any]:
    limit = limits.max_list_items
    if len(items) <= limit:
        return items
    warns.append(f"field '{name}': {len(items):,} items, over the {limit:,} limit; kept the first {limit:,}")
    return items[:limit]


# The file's field -> (attribute of Article and Stub, reader); `title` and `secured` are apart.
_FIELDS: dict[str, tuple[str, Callable[[Any, str, list[str], Limits], Any]]] = {
    "excerpt": ("excerpt", _long_text),
    "publishedDateTime": ("published", _when),
    "webUrl": ("url", _link),
    "ampWebUrl": ("amp_url", _link),
    "cdnAmpWebUrl": ("cdn_amp_url", _link),
    "type": ("type", _long_text),
    "category": ("category", _long_text),
    "quality": ("quality", _quality),
    "heat": ("heat", _heat),
    "published": ("is_published", _flag),
    "provider": ("provider", _provider),
    "topics": ("topics", _topics),
    "images": ("images", _images),
    "related": ("related", _related),
}
_LISTS = ("topics", "images", "related")
_ARTICLE_DEFAULTS: dict[str, Any] = {attr: () if attr in _LISTS else None for attr, _ in _FIELDS.values()}
_STUB_FIELDS = {
    key: _FIELDS[key] for key in ("excerpt", "publishedDateTime", "webUrl", "provider", "quality", "images")
}
_STUB_DEFAULTS: dict[str, Any] = {attr: () if attr in _LISTS else None for attr, _ in _STUB_FIELDS.values()}


# --- JSON-safe copies and messages --------------------------------------------------------------


def _json_safe(value: object) -> Any:
    """A JSON-serialisable copy: text cleaned, dates as ISO strings, `secured` dropped at any depth."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        named = ((_key_text(key), item) for key, item in value.items())
        return {name: _json_safe(item) for name, item in named if not _secured(name)}
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if value.bit_length() <= 64 else scalar_text(value)
    if isinstance(value, float):
        return value if value - value == 0 else repr(value)  # inf and nan are not JSON
    if isinstance(value, datetime):
        try:
            return iso_utc(to_utc(value)[0])
        except ValueError:
            return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):  # !!set
        return sorted((_json_safe(item) for item in value), key=repr)
    if isinstance(value, bytes):  # !!binary
        return base64.b64encode(value).decode("ascii")
    return _clean(str(value))


def _secured(name: str) -> bool:
    """Whether a field named `name` is the opaque blob never indexed nor shown:
    `secured` in any case (`Secured`, `SECURED`), since a blob that must never
    be shown is not worth the risk of a key typed another way."""
    return name.casefold() == "secured"


def _key_text(key: object) -> str:
    if isinstance(key, str):
        return _clean(key)
    if isinstance(key, (int, float, date)):
        return scalar_text(key)
    return "null" if key is None else _clean(str(key))


def _empty_root() -> UsageError:
    return UsageError(
        "an empty PATH names no folder", option="PATH", hint="Give the records' folder; `.` is the current one."
    )


def normalise_roots(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[str]:
    """Absolute, normalised roots, without duplicates or roots inside other roots
    (so `R` and `R/../R`, or `R` and `R/sub`, never index a file twice).

    A lone str or path is one root, not its letters (build_index("/srv/news")
    would otherwise walk "/"); an empty one is a UsageError, not the current
    folder: `search index "$RECORDS"` with RECORDS unset would index (with
    --full, replace the index with) whatever folder the job runs in."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    try:  # each a str, a path, or their bytes (os.fsencode's)
        given = [os.fsdecode(os.fspath(p)) for p in paths]
    except TypeError:
        wrong = paths if not isinstance(paths, Iterable) else next(
            (p for p in paths if not isinstance(p, (str, bytes, os.PathLike))), paths
        )
        kind = type(wrong).__name__
        raise UsageError(f"a PATH to index must be a str or a path, not {kind}", option="PATH") from None
    for p in given:
        if "\0" in p:  # the stat would raise ValueError("embedded null byte"): a bug to the CLI
            raise UsageError(f"a PATH to index holds a NUL character: {p!r}", option="PATH")
    if any(p == "" for p in given):
        raise _empty_root()
    roots = sorted({os.path.abspath(p) for p in given})
    if not roots:
        raise UsageError("no PATH to index", option="PATH")
    kept: list[str] = []
    for root in roots:
        if not any(root.startswith(outer.rstrip(os.sep) + os.sep) for outer in kept):
            kept.append(root)
    return kept
