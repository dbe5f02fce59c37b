"""The stem cache a build leaves beside its segments, for the runs after it.

Stemming is most of the analysis a fresh process does for words it has not
seen: Whoosh's Snowball stemmer is pure Python, some 12 us a word, and a
1% incremental run of Reuters (312 files) meets 6,300 distinct words, 73 ms
of its CPU (load 15) before any of it is indexed.  A reindex job runs in a
new process each time, so it paid that at every run for the same words.

A full build's writers (the sub-writers of a parallel one, each for its part)
therefore save the stems they worked out in the generation's folder, and an
incremental run that parses enough files to repay reading them gives them
to the analysis first.  The file is a cache: a stem is a function of the
word, the stemmer and the analysis, so a file is used only by the schema
version and the Whoosh version that wrote it, and only if its digest holds;
anything else about it (missing, garbled, of another version) means the
words are stemmed as before, never a different term.

Layout: a header line (``news-search stems``, this layout, the schema and
Whoosh versions), then the zlib-compressed lines, a word and its stem in
turn, and a last line with the BLAKE2b digest of the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import zlib
from pathlib import Path

log = logging.getLogger(__name__)

#: The files' names in a generation folder: one per writer (PREFIX + its part + SUFFIX).
PREFIX, SUFFIX = "stems-", ".cache"
LAYOUT = 1
#: An incremental run reads the cache only when it has at least this many
#: files to read: Reuters' two parts (81,000 words, 57,000 distinct) take some
#: 35 ms of CPU to read at load 15, what stemming the words of 75-100 files
#: new to the process takes (2,300 distinct words in 50 Reuters files, 3,600
#: in 100, 6,900 in 312, at 12 us a word).
MIN_FILES = 100
#: ...and only when the cache is small enough for them to repay reading it:
#: reading costs 0.3-0.7 us an entry (Reuters' two parts, 82,000 entries in
#: 521 KB, 24-30 ms; 599,905 entries of a larger index 444 ms and 101 MB,
#: the review's measure, session twelve), and a file brings 20-45 words new
#: to the process at 8-12 us each, so about 500 entries a file to read; the
#: files' size stands for their entries (6.3 bytes each in Reuters' parts).
BYTES_PER_FILE = 3_200


def pays(folder: str | os.PathLike[str], files: int) -> bool:
    """Whether an incremental run that reads `files` record files should read
    `folder`'s stem cache: at least MIN_FILES of them, and no more than
    BYTES_PER_FILE of cache for each (Reuters' 521 KB: from 163 files)."""
    if files < MIN_FILES:
        return False
    try:
        size = sum(p.stat().st_size for p in _parts(folder))
    except OSError:
        return False
    return 0 < size <= BYTES_PER_FILE * files


def _parts(folder: str | os.PathLike[str]) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.name.startswith(PREFIX) and p.name.endswith(SUFFIX))


_SEPARATORS = frozenset("\n\0")


def _header() -> bytes:
    import whoosh

    from search.storage.schema import SCHEMA_VERSION

    version = ".".join(map(str, whoosh.__version__))
    return f"news-search stems {LAYOUT} {SCHEMA_VERSION} {version}\n".encode()


def save(folder: str | os.PathLike[str], stems: dict[str, str], part: str) -> None:
    """Write `stems` as this writer's part of `folder`'s cache (a crash leaves
    a temporary file, which the next writer sweeps with its other leftovers)."""
    lines = [line for pair in stems.items() if not _SEPARATORS.intersection("".join(pair)) for line in pair]
    if not lines:
        return
    body = _header() + zlib.compress("\n".join(lines).encode("utf-8", "surrogatepass"), 1)
    data = body + b"\n" + hashlib.blake2b(body, digest_size=16).hexdigest().encode()
    path = Path(folder) / f"{PREFIX}{part}{SUFFIX}"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)  # no fsync: a file cut short by a crash fails its digest and is not used
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        log.info("could not save the stem cache %s: %s", path, exc)


def load(folder: str | os.PathLike[str], into: dict[str, str], limit: int | None = None) -> int:
    """Add the stems saved in `folder` by writers of this version to `into`,
    until it holds `limit` entries (the analysis empties a cache grown past
    its bound at the next new word: filled to it, the first new word of the
    run threw the whole cache away); return how many files were used (0 when
    none can be)."""
    header = _header()
    try:
        paths = _parts(folder)
    except OSError:
        return 0
    used = 0
    for path in paths:
        room = None if limit is None else limit - len(into)
        if room is not None and room <= 0:
            break
        try:
            data = path.read_bytes()
        except OSError:
            continue
        body, _, digest = data.rpartition(b"\n")
        if not body.startswith(header) or hashlib.blake2b(body, digest_size=16).hexdigest().encode() != digest:
            log.debug("%s is of another version or garbled: not used", path)
            continue
        try:
            lines = zlib.decompress(body[len(header) :]).decode("utf-8", "surrogatepass").split("\n")
        except (zlib.error, UnicodeDecodeError):
            continue
        if len(lines) % 2:
            continue
        pairs = zip(lines[0::2], lines[1::2])
        into.update(pairs if room is None or len(lines) // 2 <= room else itertools.islice(pairs, room))
        used += 1
    return used
