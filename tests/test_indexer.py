"""The reindex job (issue 3): incremental runs, full rebuilds, failures and kills.

Small cases write a handful of records with `write_record`; the crash and
reader tests share one generated corpus (CRASH_* below, about 750 files), so
they run without the shared corpora.  Child processes run
tests/helpers/reindex.py, which narrates a build (progress, commits, the
publish of a full rebuild) so that a kill lands at a known point.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import whoosh.writing
from conftest import index_snapshot
from whoosh import query
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filetables import OrderedHashWriter
from whoosh.filedb.structfile import StructFile

import search.indexing.indexer
import search.records
import search.storage.postings
import search.storage.sidecar
import search.storage.writers
from search import build_index, open_index
from search.errors import EmptySourceError, IndexNotFoundError, UsageError
from search.records import Article, parse_record
from search.results import KEPT_VERSION
from search.storage.store import Store

RecordWriter = Callable[..., Path]
Row = tuple[Any, ...]

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
HELPERS = Path(__file__).resolve().parent / "helpers"
PATIENCE = 60.0  # only stops a hung child; never a measure of speed


# -- helpers ------------------------------------------------------------------------


snapshot = index_snapshot


def by_path(rows: tuple[Row, ...]) -> dict[str, frozenset[Row]]:
    """A record file's documents (its article and its stubs), per path."""
    groups: dict[str, set[Row]] = defaultdict(set)
    for row in rows:
        groups[row[2]].add(row)
    return {path: frozenset(group) for path, group in groups.items()}


def titles(index_dir: Path, text: str) -> set[str]:
    with open_index(index_dir) as ix:
        page = ix.search(text, limit=1000)
        assert page.total == len(page.hits)
        return {hit.title for hit in page.hits}


def record(title: str, *related: str) -> str:
    front = f'title: "{title}"'
    if related:
        front += "\nrelated:" + "".join(
            f'\n  - title: "{stub}"\n    webUrl: "https://example.org/{i}"' for i, stub in enumerate(related)
        )
    return front


def touch(path: Path, seconds: int = 10) -> None:
    """A new mtime, the same bytes."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


@pytest.fixture()
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths search.indexing.indexer parses, in order (runs use procs=1, so parsing is in-process)."""
    seen: list[Path] = []

    def counting(data: bytes, path: Path, *args: Any) -> Article:
        seen.append(path)
        return parse_record(data, path, *args)

    monkeypatch.setattr(search.indexing.indexer, "parse_record", counting)
    return seen


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths search.indexing.indexer reads from disk."""
    seen: list[Path] = []
    real = search.indexing.indexer.read_source

    def counting(path: Path, *args: Any) -> tuple[bytes, int, int]:
        seen.append(Path(path))
        return real(path, *args)

    monkeypatch.setattr(search.indexing.indexer, "read_source", counting)
    return seen


@pytest.fixture()
def collect_leaked_handles() -> Iterator[None]:
    """Whoosh leaves the files of a writer that failed half-way to the garbage collector;
    collect them here, so that their ResourceWarning does not land on a later test."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def counts(report: Any) -> tuple[int, int, int, int, int]:
    return report.added, report.updated, report.deleted, report.unchanged, len(report.skipped)


# -- incremental runs ---------------------------------------------------------------------


def test_an_incremental_run_merges_no_segment_past_the_merge_limit(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many commits in one run pile up small segments: they are merged, but never
    into one larger than MERGE_LIMIT (Whoosh's MERGE_SMALL merged them all, with
    the index's older segments, into one: every posting held in memory at once)."""
    index_dir = tmp_path / "index"
    folder = tmp_path / "records"
    for i in range(10):
        write_record(f"a{i:02}.md", record(f"First batch {i} aardvark"))
    build_index([folder], index_dir, procs=1)
    for i in range(56):
        write_record(f"b{i:02}.md", record(f"Second batch {i} bison"))
    monkeypatch.setattr(search.indexing.indexer, "COMMIT_EVERY", 2)
    monkeypatch.setattr(search.storage.writers, "MERGE_LIMIT", 12)
    report = build_index([folder], index_dir, procs=1)
    assert report.added == 56 and report.documents == 66
    _gen, ix = Store(index_dir).open()
    try:
        sizes = sorted(segment.doc_count_all() for segment in ix._segments())
    finally:
        ix.close()
    assert max(sizes) <= 12, sizes  # the first build's 10 documents, or a merge of at most 12
    assert len(sizes) < 1 + 28, sizes  # merged: 28 commits of 2 files, one segment each, did not all stay
    assert len(titles(index_dir, "bison")) == 56 and len(titles(index_dir, "aardvark")) == 10


def test_an_incremental_run_merges_a_segment_whose_documents_are_mostly_deleted(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A segment is sized by its live documents: one of 60 with 55 deleted is a
    small one, merged (its dead documents dropped) like any other, not one too
    large to merge kept with its dead postings, stored fields and idf until --full."""
    index_dir = tmp_path / "index"
    folder = tmp_path / "records"
    for i in range(60):
        write_record(f"a{i:02}.md", record(f"First batch {i} aardvark"))
    build_index([folder], index_dir, procs=1)
    for i in range(5, 60):
        (folder / f"a{i:02}.md").unlink()
    for i in range(90):
        write_record(f"b{i:02}.md", record(f"Second batch {i} bison"))
    monkeypatch.setattr(search.indexing.indexer, "COMMIT_EVERY", 3)
    monkeypatch.setattr(search.storage.writers, "MERGE_LIMIT", 40)
    report = build_index([folder], index_dir, procs=1)
    assert report.added == 90 and report.deleted == 55 and report.documents == 95
    _gen, ix = Store(index_dir).open()
    try:
        dead = [segment.doc_count_all() - segment.doc_count() for segment in ix._segments()]
        sizes = [segment.doc_count_all() for segment in ix._segments()]
    finally:
        ix.close()
    assert sum(dead) == 0, (sizes, dead)  # the first build's segment was merged, its 55 deleted documents dropped
    assert max(sizes) <= 40, sizes
    assert len(titles(index_dir, "aardvark")) == 5 and len(titles(index_dir, "bison")) == 90


def test_add_edit_delete_between_runs(write_record: RecordWriter, tmp_path: Path, parses: list[Path]) -> None:
    index_dir = tmp_path / "index"
    folder = tmp_path / "records"
    write_record("a.md", record("Alpha aardvark"))
    write_record("b.md", record("Bravo bison"))
    write_record("c.md", record("Charlie cheetah"))
    write_record("d.md", record("Delta dingo"))
    first = build_index([folder], index_dir, procs=1)
    assert counts(first) == (4, 0, 0, 0, 0) and first.full and first.documents == 4

    write_record("e.md", record("Echo emu"))
    write_record("b.md", record("Bravo buffalo and bison calves"))
    (folder / "c.md").unlink()
    touch(folder / "a.md")
    parses.clear()
    second = build_index([folder], index_dir, procs=1)
    assert counts(second) == (1, 1, 1, 2, 0)
    assert not second.full and second.documents == 4
    assert sorted(p.name for p in parses) == ["b.md", "e.md"]  # only what changed was parsed
    assert titles(index_dir, "buffalo") == {"Bravo buffalo and bison calves"}
    assert titles(index_dir, "bison") == {"Bravo buffalo and bison calves"}  # the new version only
    assert titles(index_dir, "cheetah") == set()
    assert titles(index_dir, "emu") == {"Echo emu"}
    assert titles(index_dir, "aardvark") == {"Alpha aardvark"}

    parses.clear()
    third = build_index([folder], index_dir, procs=1)
    assert counts(third) == (0, 0, 0, 4, 0) and not third.changed
    assert parses == []


def age(path: Path, seconds: int = 3600) -> None:
    """An mtime long before the run that reads the file: not racy (see test_racy_*)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 1_000_000_000))


def test_no_change_run_reads_nothing(write_record: RecordWriter, tmp_path: Path, reads: list[Path]) -> None:
    index_dir = tmp_path / "index"
    for i in range(5):
        age(write_record(f"r{i}.md", record(f"Record number {i}")))
    build_index([tmp_path / "records"], index_dir, procs=1)
    reads.clear()
    report = build_index([tmp_path / "records"], index_dir, procs=1)
    assert counts(report) == (0, 0, 0, 5, 0)
    assert reads == []


def test_touched_file_is_unchanged_and_not_reparsed(
    write_record: RecordWriter, tmp_path: Path, parses: list[Path]
) -> None:
    index_dir = tmp_path / "index"
    paths = [write_record(f"r{i}.md", record(f"Record number {i}")) for i in range(3)]
    build_index([tmp_path / "records"], index_dir, procs=1)
    before = snapshot(index_dir)
    for path in paths:
        touch(path)
    parses.clear()
    report = build_index([tmp_path / "records"], index_dir, procs=1)
    assert counts(report) == (0, 0, 0, 3, 0) and not report.changed
    assert parses == []
    assert [row[:5] for row in snapshot(index_dir)] == [row[:5] for row in before]


def test_touched_file_is_not_read_again_by_later_runs(
    write_record: RecordWriter, tmp_path: Path, reads: list[Path]
) -> None:
    index_dir = tmp_path / "index"
    path = write_record("a.md", record("Alpha aardvark"))
    build_index([tmp_path / "records"], index_dir, procs=1)
    touch(path, -10)  # back: an mtime in the future is racy until the clock has passed it
    build_index([tmp_path / "records"], index_dir, procs=1)  # reads it once: fair, its stat changed
    reads.clear()
    report = build_index([tmp_path / "records"], index_dir, procs=1)
    assert report.unchanged == 1
    assert reads == []  # size and mtime now match what the index holds


def test_same_size_edit_is_an_update(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    path = write_record("a.md", record("Record AAAA"))
    build_index([tmp_path / "records"], index_dir)
    size = path.stat().st_size
    write_record("a.md", record("Record BBBB"))
    touch(path, 1)  # a later mtime, whatever the clock's granularity
    assert path.stat().st_size == size
    report = build_index([tmp_path / "records"], index_dir)
    assert counts(report) == (0, 1, 0, 0, 0)
    assert titles(index_dir, "") == {"Record BBBB"}


# -- racy mtimes: a same-size edit in the timestamp tick of the run that read the file ------

#: A whole second (a coarse filesystem's mtime) long past, and the clock's nanoseconds then.
TICK = 1_700_000_000 * 1_000_000_000


def clock(monkeypatch: pytest.MonkeyPatch, at_ns: int) -> None:
    """The moment the indexer dates its reads by (runs use procs=1: reads are in-process)."""
    monkeypatch.setattr(search.indexing.indexer, "_clock", lambda: at_ns)


def stamp(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


@pytest.mark.parametrize(
    ("mtime_ns", "read_ns", "racy"),
    [
        (TICK, TICK + 1_999_999_999, True),  # whole seconds: FAT's 2 s tick, ext3's 1 s
        (TICK, TICK + 2_000_000_000, False),
        (TICK + 123_456_789, TICK + 123_456_789 + 19_999_999, True),  # nanoseconds: the kernel's clock tick
        (TICK + 123_456_789, TICK + 123_456_789 + 20_000_000, False),
        (TICK + 60_000_000_000, TICK, True),  # in the future (a skewed clock): until the clock passes it
        (TICK + 123_456_789, TICK, True),
    ],
)
def test_racy_is_a_read_within_the_mtimes_tick(mtime_ns: int, read_ns: int, racy: bool) -> None:
    assert search.indexing.indexer._racy(mtime_ns, read_ns) is racy


def test_racy_a_same_size_edit_in_the_tick_of_the_run_is_indexed_by_the_next_run(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coarse filesystem: the run reads the file 0.4 s into its mtime's second,
    the file is edited in that second again, keeping its size and so its whole
    (size, mtime) stat.  The next run used to skip it for ever."""
    index_dir = tmp_path / "index"
    path = write_record("a.md", record("Record AAAA"))
    stamp(path, TICK)
    clock(monkeypatch, TICK + 400_000_000)
    build_index([tmp_path / "records"], index_dir, procs=1)
    write_record("a.md", record("Record BBBB"))
    stamp(path, TICK)
    clock(monkeypatch, TICK + 5_000_000_000)
    report = build_index([tmp_path / "records"], index_dir, procs=1)
    assert counts(report) == (0, 1, 0, 0, 0)
    assert titles(index_dir, "") == {"Record BBBB"}


def test_racy_an_edit_during_a_slow_read_in_the_mtimes_tick_is_read_again(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read is dated by its start (review, session twelve): it starts 1 ms
    into the mtime's tick, the file is rewritten (same size, same mtime) 4 ms
    in, after its bytes were read, and the read returns 25 ms after the mtime
    (a 5 MB record on NFS, or a preempted process at load 15).  Dated by its
    end it was "not racy", and the old text stayed under the new stat for ever."""
    index_dir = tmp_path / "index"
    path = write_record("a.md", record("Record AAAA"))
    mtime = TICK + 123_456_789  # a fine (nanosecond) mtime
    stamp(path, mtime)
    now = [mtime + 1_000_000]
    monkeypatch.setattr(search.indexing.indexer, "_clock", lambda: now[0])
    real = search.indexing.indexer.read_source

    def slow_read(source: Path, *args: Any) -> Any:
        got = real(source, *args)
        if Path(source) == path and now[0] < mtime + 20_000_000:
            path.write_text(path.read_text().replace("AAAA", "BBBB"))
            stamp(path, mtime)  # the same kernel tick
            now[0] = mtime + 25_000_000
        return got

    monkeypatch.setattr(search.indexing.indexer, "read_source", slow_read)
    build_index([tmp_path / "records"], index_dir, procs=1)
    assert titles(index_dir, "") == {"Record AAAA"}
    now[0] = mtime + 60_000_000_000
    build_index([tmp_path / "records"], index_dir, procs=1)
    assert titles(index_dir, "") == {"Record BBBB"}


def test_racy_with_the_real_clock_a_future_mtime_is_read_again(
    write_record: RecordWriter, tmp_path: Path
) -> None:
    """The indexer's clock is the one file mtimes are in: an mtime a minute
    ahead of it (a skewed clock) cannot be trusted, whatever the machine's load."""
    index_dir = tmp_path / "index"
    path = write_record("a.md", record("Record AAAA"))
    ahead = (time.time_ns() // 1_000_000_000 + 60) * 1_000_000_000
    stamp(path, ahead)
    build_index([tmp_path / "records"], index_dir, procs=1)
    write_record("a.md", record("Record BBBB"))
    stamp(path, ahead)
    assert counts(build_index([tmp_path / "records"], index_dir, procs=1)) == (0, 1, 0, 0, 0)
    assert titles(index_dir, "") == {"Record BBBB"}


def test_racy_a_file_left_alone_is_read_once_more_and_then_no_more(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[Path]
) -> None:
    """Only the racy file is read again, once its tick is over, and it is then
    written with the flag clear; a racy file read within its tick again, its
    bytes and stat as indexed, is read but not rewritten."""
    index_dir = tmp_path / "index"
    folder = tmp_path / "records"
    racy = write_record("a.md", record("Alpha aardvark", "Aardvark stub"))
    stamp(racy, TICK)
    calm = write_record("b.md", record("Bravo bison"))
    stamp(calm, TICK - 10_000_000_000)
    clock(monkeypatch, TICK + 400_000_000)
    build_index([folder], index_dir, procs=1)
    before = snapshot(index_dir)
    written: list[str] = []
    real = search.indexing.indexer.article_documents

    def counting(article: Article, *args: Any) -> Any:
        written.append(Path(article.path).name)
        return real(article, *args)

    monkeypatch.setattr(search.indexing.indexer, "article_documents", counting)
    for at_ns, read, rewritten in (
        (TICK + 900_000_000, ["a.md"], []),  # still within the tick: read, the same: nothing to write
        (TICK + 5_000_000_000, ["a.md"], ["a.md"]),  # past it: read, written with the flag clear
        (TICK + 9_000_000_000, [], []),  # left alone since: not read
        (TICK + 99_000_000_000, [], []),
    ):
        clock(monkeypatch, at_ns)
        reads.clear()
        written.clear()
        report = build_index([folder], index_dir, procs=1)
        assert counts(report) == (0, 0, 0, 2, 0) and not report.changed
        assert [p.name for p in reads] == read and written == rewritten
        assert snapshot(index_dir) == before
    assert titles(index_dir, "aardvark") == {"Alpha aardvark", "Aardvark stub"}


def test_racy_a_racy_file_read_by_a_full_build_is_read_again(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    path = write_record("a.md", record("Record AAAA"))
    stamp(path, TICK)
    clock(monkeypatch, TICK + 400_000_000)
    build_index([tmp_path / "records"], index_dir, procs=1, full=True)
    write_record("a.md", record("Record BBBB"))
    stamp(path, TICK)
    assert counts(build_index([tmp_path / "records"], index_dir, procs=1)) == (0, 1, 0, 0, 0)
    assert titles(index_dir, "") == {"Record BBBB"}


def test_renamed_file_is_one_deletion_and_one_addition(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    old = write_record("a.md", record("Alpha aardvark"))
    write_record("b.md", record("Bravo bison"))
    build_index([tmp_path / "records"], index_dir)
    new = old.rename(old.with_name("z.md"))
    report = build_index([tmp_path / "records"], index_dir)
    assert counts(report) == (1, 0, 1, 1, 0)
    with open_index(index_dir) as ix:
        (hit,) = ix.search("aardvark").hits
    assert hit.path == str(new)


def test_file_that_stops_parsing_keeps_its_indexed_version_and_is_reported(
    write_record: RecordWriter, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    write_record("a.md", record("Alpha aardvark"))
    broken = write_record("b.md", record("Bravo bison", "Bison stub"))
    build_index([tmp_path / "records"], index_dir)
    assert titles(index_dir, "bison") == {"Bravo bison", "Bison stub"}

    broken.write_text("no front matter here, bison\n", "utf-8")
    report = build_index([tmp_path / "records"], index_dir)
    # nothing indexed is lost: its last good version (article and stub) stays
    assert counts(report) == (0, 0, 0, 1, 1)
    (skipped,) = report.skipped
    assert skipped.path == str(broken)
    assert "does not start with '---'" in skipped.error and skipped.error.endswith(KEPT_VERSION)
    assert titles(index_dir, "bison") == {"Bravo bison", "Bison stub"}
    assert report.documents == 3

    # still broken: tried and reported again, still kept
    report = build_index([tmp_path / "records"], index_dir)
    assert counts(report) == (0, 0, 0, 1, 1) and report.skipped[0].error.endswith(KEPT_VERSION)
    assert titles(index_dir, "bison") == {"Bravo bison", "Bison stub"}

    # mended: the new version replaces the kept one
    write_record("b.md", record("Bravo bison"))
    report = build_index([tmp_path / "records"], index_dir)
    assert counts(report) == (0, 1, 0, 1, 0)
    assert titles(index_dir, "bison") == {"Bravo bison"}

    # deleted while broken: its kept version goes with it
    broken.write_text("---\ntitle: [unclosed\n---\n", "utf-8")
    build_index([tmp_path / "records"], index_dir)
    broken.unlink()
    report = build_index([tmp_path / "records"], index_dir)
    assert counts(report) == (0, 0, 1, 1, 0)
    assert titles(index_dir, "bison") == set()


def test_a_new_file_that_does_not_parse_is_reported_without_the_kept_note(
    write_record: RecordWriter, tmp_path: Path
) -> None:
    index_dir = tmp_path / "index"
    write_record("a.md", record("Alpha aardvark"))
    build_index([tmp_path / "records"], index_dir)
    bad = write_record("b.md", "no front matter\n")
    report = build_index([tmp_path / "records"], index_dir)
    (skipped,) = report.skipped
    assert skipped.path == str(bad) and KEPT_VERSION not in skipped.error


def test_the_walk_keeps_nothing_a_file_that_the_garbage_collector_tracks(
    write_record: RecordWriter, tmp_path: Path
) -> None:
    # An object a file that lives through the run (a SourceFile kept per path)
    # set off a full collection of the caller's whole heap in a 1% run of Reuters.
    for i in range(20):
        write_record(f"r{i}.md", record(f"Record {i}"))
    found, skipped, unlisted = search.indexing.indexer._scan([str(tmp_path / "records")], False, False)
    gc.collect()
    assert len(found) == 20 and not skipped and not unlisted
    assert not any(gc.is_tracked(stat) for stat in found.values())


def test_deletion_is_scoped_to_the_given_roots(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    # "news" is a string prefix of "news-archive": a scope test by prefix would confuse them
    news = [write_record(f"n{i}.md", record(f"News item {i}"), folder="news") for i in range(2)]
    write_record("a0.md", record("Archive item zero"), folder="news-archive")
    write_record("a1.md", record("Archive item one"), folder="news-archive")
    assert build_index([tmp_path / "news"], index_dir).added == 2
    report = build_index([tmp_path / "news-archive"], index_dir)
    assert counts(report) == (2, 0, 0, 0, 0) and report.documents == 4

    news[0].unlink()
    report = build_index([tmp_path / "news-archive"], index_dir)
    assert counts(report) == (0, 0, 0, 2, 0)  # news/ is not this run's business
    report = build_index([tmp_path / "news"], index_dir)
    assert counts(report) == (0, 0, 1, 1, 0)
    assert titles(index_dir, "item") == {"News item 1", "Archive item zero", "Archive item one"}

    # a single file as the root scopes the run to that file
    report = build_index([news[1]], index_dir)
    assert counts(report) == (0, 0, 0, 1, 0) and report.documents == 3


def test_related_stubs_live_and_die_with_their_file(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    write_record("other.md", record("Unrelated okapi"))
    host = write_record("host.md", record("Host article", "Wombat burrows", "Narwhal tusks"))
    report = build_index([tmp_path / "records"], index_dir)
    assert report.documents == 4
    with open_index(index_dir) as ix:
        (stub,) = ix.search("narwhal").hits
    assert stub.kind == "related" and stub.path == str(host)

    write_record("host.md", record("Host article", "Wombat burrows"))
    report = build_index([tmp_path / "records"], index_dir)
    assert counts(report) == (0, 1, 0, 1, 0) and report.documents == 3
    assert titles(index_dir, "narwhal") == set()
    assert titles(index_dir, "wombat") == {"Wombat burrows"}

    host.unlink()
    report = build_index([tmp_path / "records"], index_dir)
    assert counts(report) == (0, 0, 1, 1, 0) and report.documents == 1
    assert titles(index_dir, "wombat") == set()
    assert titles(index_dir, "") == {"Unrelated okapi"}


def test_old_versions_leave_every_segment_they_are_in(write_record: RecordWriter, tmp_path: Path) -> None:
    """A run deletes a record's article and stubs in whichever segment each
    is, by its terms looked up segment by segment (writers.delete_paths):
    documents already deleted, or in other segments, are left as they are."""
    index_dir = tmp_path / "index"
    for i in range(3):
        write_record(f"a{i}.md", record(f"Alpha{i} first", f"Astub{i} first"))
    build_index([tmp_path / "records"], index_dir, procs=1)
    for i in range(3):
        write_record(f"b{i}.md", record(f"Beta{i} first", f"Bstub{i} first", f"Bother{i} first"))
    write_record("a0.md", record("Alpha0 second", "Astub0 second"))  # its first version was in segment one
    report = build_index([tmp_path / "records"], index_dir, procs=1)
    assert counts(report) == (3, 1, 0, 2, 0)
    _gen, ix = Store(index_dir).open()
    with ix.reader() as reader:
        assert not reader.is_atomic() and len(reader.leaf_readers()) >= 2  # the case under test
    ix.close()

    write_record("a0.md", record("Alpha0 third"))  # its second version, in segment two, loses its stub
    write_record("b1.md", record("Beta1 second", "Bstub1 second"))
    (tmp_path / "records" / "a1.md").unlink()
    (tmp_path / "records" / "b2.md").unlink()
    report = build_index([tmp_path / "records"], index_dir, procs=1)
    assert counts(report) == (0, 2, 2, 2, 0) and report.documents == 1 + 2 + 3 + 2
    assert titles(index_dir, "alpha0") == {"Alpha0 third"}
    assert titles(index_dir, "astub0") == set()
    assert titles(index_dir, "alpha1 astub1 alpha2 astub2") == {"Alpha2 first", "Astub2 first"}
    assert titles(index_dir, "beta1 bstub1 bother1") == {"Beta1 second", "Bstub1 second"}
    assert titles(index_dir, "beta2 bstub2 bother2") == set()
    assert titles(index_dir, "beta0 bstub0 bother0") == {"Beta0 first", "Bstub0 first", "Bother0 first"}


def test_full_rebuild_gives_the_same_results_in_a_new_generation(seed_index_dir: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    queries = ["facial recognition", "police", "", "london OR paris"]

    def results() -> list[tuple[int, list[str]]]:
        with open_index(index_dir) as ix:
            pages = [ix.search(q, limit=100) for q in queries]
            pages.append(ix.search("privacy", sort="newest", limit=100))
        return [(page.total, [hit.id for hit in page.hits]) for page in pages]

    before, rows = results(), snapshot(index_dir)
    old_gen = (index_dir / "CURRENT").read_text("utf-8").strip()
    report = build_index([SEEDS], index_dir, full=True)
    assert report.full and report.added == len(list(SEEDS.iterdir())) and report.unchanged == 0
    new_gen = (index_dir / "CURRENT").read_text("utf-8").strip()
    assert new_gen != old_gen
    assert results() == before and snapshot(index_dir) == rows
    assert (index_dir / old_gen).is_dir()  # kept for readers still on it...
    build_index([SEEDS], index_dir, full=True)
    assert not (index_dir / old_gen).exists()  # ...until the next swap
    assert results() == before


def test_missing_root_is_a_usage_error_and_deletes_nothing(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    write_record("a.md", record("Alpha aardvark"))
    build_index([tmp_path / "records"], index_dir)
    before = snapshot(index_dir)
    write_record("b.md", record("Bravo bison"))
    missing = tmp_path / "unmounted"
    for roots in ([missing], [tmp_path / "records", missing], [missing, tmp_path / "records"]):
        with pytest.raises(UsageError) as caught:
            build_index(roots, index_dir)
        assert str(missing.name) in str(caught.value)
        assert snapshot(index_dir) == before  # neither deleted nor half-applied


def test_no_root_at_all_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        build_index([], tmp_path / "index")


@pytest.mark.parametrize("full", [False, True])
def test_an_empty_root_is_a_usage_error_not_the_current_folder(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: bool
) -> None:
    # `search index "$RECORDS"` with RECORDS unset: "" was os.path.abspath's
    # current folder, indexed (with --full, in place of the real roots).
    index_dir = tmp_path / "index"
    write_record("a.md", record("Alpha aardvark"))
    build_index([tmp_path / "records"], index_dir)
    before = snapshot(index_dir)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.md").write_text(record("Private todo list"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for roots in ([""], [tmp_path / "records", ""]):
        with pytest.raises(UsageError) as caught:
            build_index(roots, index_dir, full=full)
        assert "empty PATH" in str(caught.value)
        assert snapshot(index_dir) == before


@pytest.mark.parametrize(
    ("paths", "said"),
    [
        ([None], "a PATH to index must be a str or a path, not NoneType"),
        (123, "a PATH to index must be a str or a path, not int"),
        ([["records"]], "a PATH to index must be a str or a path, not list"),
        (["records\0x"], "a PATH to index holds a NUL character: 'records\\x00x'"),
    ],
)
def test_a_root_that_is_no_path_is_a_usage_error(tmp_path: Path, paths: Any, said: str) -> None:
    # They were bare TypeErrors (and a ValueError "embedded null byte" from a stat), a bug to the CLI.
    with pytest.raises(UsageError) as caught:
        build_index(paths, tmp_path / "index")
    assert str(caught.value) == said and caught.value.option == "PATH"
    assert not (tmp_path / "index").exists()


def test_a_root_given_as_bytes_is_that_path(write_record: RecordWriter, tmp_path: Path) -> None:
    write_record("a.md", record("Alpha aardvark"))
    assert build_index([os.fsencode(tmp_path / "records")], tmp_path / "index").added == 1


def test_one_root_given_alone_is_one_root_not_its_letters(write_record: RecordWriter, tmp_path: Path) -> None:
    write_record("a.md", record("Alpha aardvark"))
    (tmp_path / "r").mkdir()  # a folder named like one of the root's letters
    (tmp_path / "r" / "x.md").write_text(record("Not a root"), encoding="utf-8")
    for root in (str(tmp_path / "records"), tmp_path / "records"):
        report = build_index(root, tmp_path / "index", full=True)
        assert report.added == 1
        with open_index(tmp_path / "index") as ix:
            assert [h.title for h in ix.search("").hits] == ["Alpha aardvark"]


def test_empty_folder_is_a_fine_root(write_record: RecordWriter, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    report = build_index([empty], tmp_path / "index")
    assert counts(report) == (0, 0, 0, 0, 0) and report.documents == 0
    with open_index(tmp_path / "index") as ix:
        assert ix.search("anything").total == 0
        assert ix.search("").total == 0

    # a root whose every file went looks like an unmounted disk: kept, unless allow_empty says it is meant
    paths = [write_record(f"r{i}.md", record(f"Record number {i}")) for i in range(3)]
    build_index([tmp_path / "records"], tmp_path / "index2")
    for path in paths:
        path.unlink()
    report = build_index([tmp_path / "records"], tmp_path / "index2", allow_empty=True)
    assert counts(report) == (0, 0, 3, 0, 0) and report.documents == 0 and report.kept == ()


def test_progress_then_stages_cover_the_whole_run(write_record: RecordWriter, tmp_path: Path) -> None:
    # The bar stood at N/N for the commit, 40% of a first build of Reuters: the stages show it.
    for n in range(5):
        write_record(f"r{n}.md", record(f"Record {n}"))
    events: list[object] = []
    build_index(
        [tmp_path / "records"], tmp_path / "index",
        progress=lambda done, total: events.append((done, total)), stage=events.append,
    )  # fmt: skip
    assert events == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5), "writing the index", "sealing"]


# -- deletion safety: an empty root or an unreadable folder never deletes its records -----------


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Listing `folder` fails as without read permission (the suite may run as root)."""
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == str(folder):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(search.records.os, "scandir", scandir)


def test_an_emptied_root_keeps_its_records_and_says_so(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir, mount = tmp_path / "index", tmp_path / "records"
    for i in range(3):
        write_record(f"r{i}.md", record(f"Mounted story {i}"))
    write_record("other.md", record("Other story"), folder="other")
    build_index([mount, tmp_path / "other"], index_dir)
    for path in mount.iterdir():
        path.unlink()  # the disk is unmounted: its mount point stays, empty
    write_record("new.md", record("Newer story"), folder="other")
    report = build_index([mount, tmp_path / "other"], index_dir)
    assert counts(report) == (1, 0, 0, 1, 0) and report.documents == 5
    assert [k.path for k in report.kept] == [str(mount)]
    assert report.kept[0].error.startswith("3 indexed records kept: the folder yields no record files")
    assert "`allow_empty`" in report.kept[0].error
    assert len(titles(index_dir, "mounted")) == 3
    assert report.to_dict()["kept"] == [{"path": str(mount), "error": report.kept[0].error}]

    pruned = build_index([mount, tmp_path / "other"], index_dir, allow_empty=True)
    assert counts(pruned) == (0, 0, 3, 2, 0) and pruned.kept == () and titles(index_dir, "mounted") == set()


def test_a_full_rebuild_over_an_emptied_root_changes_nothing(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir, mount = tmp_path / "index", tmp_path / "records"
    paths = [write_record(f"r{i}.md", record(f"Mounted story {i}")) for i in range(2)]
    build_index([mount], index_dir)
    for path in paths:
        path.unlink()
    before = snapshot(index_dir)
    with pytest.raises(EmptySourceError) as caught:
        build_index([mount], index_dir, full=True)
    assert str(mount) in str(caught.value) and "2 indexed records" in str(caught.value)
    assert "--allow-empty" in (caught.value.hint or "")
    assert snapshot(index_dir) == before and sorted(p.name for p in index_dir.glob("gen-*")) == ["gen-000001"]
    report = build_index([mount], index_dir, full=True, allow_empty=True)
    assert report.documents == 0


def test_a_folder_that_cannot_be_read_keeps_its_records(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir, root = tmp_path / "index", tmp_path / "records"
    write_record("a.md", record("Readable story"))
    write_record("x.md", record("Locked story"), folder="records/locked")
    build_index([root], index_dir)
    write_record("b.md", record("Second readable story"))
    _deny(monkeypatch, root / "locked")
    report = build_index([root], index_dir)
    assert report.added == 1 and report.deleted == 0 and report.documents == 3
    assert [k.path for k in report.kept] == [str(root / "locked")]
    assert "cannot read folder: permission denied" in report.kept[0].error
    assert [s.path for s in report.skipped] == [str(root / "locked")]
    assert titles(index_dir, "locked") == {"Locked story"}
    with pytest.raises(EmptySourceError, match="locked"):
        build_index([root], index_dir, full=True)
    report = build_index([root], index_dir, allow_empty=True)
    assert report.deleted == 1 and titles(index_dir, "locked") == set()


# -- file names are data --------------------------------------------------------------------------


def test_a_name_that_is_not_utf8_is_skipped_and_the_rest_indexed(tmp_path: Path) -> None:
    root, index_dir = tmp_path / "records", tmp_path / "index"
    root.mkdir()
    (root / "ok.md").write_text("---\ntitle: Plain story\n---\n", "utf-8")
    build_index([root], index_dir)
    with open(os.fsencode(root) + b"/lat\xff\xfe.md", "w") as handle:
        handle.write("---\ntitle: Latin story\n---\nb\n")
    (root / "ok2.md").write_text("---\ntitle: Second plain story\n---\n", "utf-8")
    for full in (False, True):
        report = build_index([root], index_dir, full=full)
        assert [s.error.split(": ", 1)[1] for s in report.skipped] == [
            "file name is not valid UTF-8 (the \\xNN are its bytes that are not); rename the file to index it"
        ]
        assert report.documents == 2 and titles(index_dir, "plain") == {"Plain story", "Second plain story"}
    assert sorted(p.name for p in index_dir.glob("gen-*")) == ["gen-000001", "gen-000002"]


def test_a_failed_full_rebuild_leaves_no_generation_behind(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    write_record("a.md", record("Alpha aardvark"))
    build_index([tmp_path / "records"], index_dir)
    before = snapshot(index_dir)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug half-way through")

    with monkeypatch.context() as patch:
        patch.setattr(search.storage.postings.BulkWriting, "add_document", broken)
        with pytest.raises(RuntimeError):
            build_index([tmp_path / "records"], index_dir, full=True)
    gc.collect()
    assert sorted(p.name for p in index_dir.glob("gen-*")) == ["gen-000001"]
    assert snapshot(index_dir) == before


def test_overlapping_roots_index_each_file_once(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    write_record("top.md", record("Top story"))
    write_record("inner.md", record("Inner story"), folder="records/sub")
    roots = [tmp_path / "records", tmp_path / "records" / "sub"]
    first = build_index(roots, index_dir)
    second = build_index(roots, index_dir)
    assert (first.added, first.documents) == (2, 2)
    assert counts(second) == (0, 0, 0, 2, 0) and second.documents == 2


def test_the_same_root_spelled_differently_is_the_same_root(write_record: RecordWriter, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    write_record("a.md", record("Alpha aardvark"))
    build_index([tmp_path / "records"], index_dir)
    report = build_index([tmp_path / "records" / ".." / "records"], index_dir)
    assert counts(report) == (0, 0, 0, 1, 0) and report.documents == 1


def test_parallel_full_build_forks_with_a_frozen_heap_thaws_it_and_matches_one_writer(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not search.storage.writers.parallel_available(2):
        pytest.skip("parallel sub-writers need the fork start method")
    for n in range(60):
        write_record(f"r{n:02d}.md", record(f"Record {n}", f"Stub {n}"))
    monkeypatch.setattr(search.indexing.indexer, "POOL_THRESHOLD", 10)
    frozen_at_fork: list[int] = []
    real_new_task = search.storage.writers.ParallelWriter._new_task

    def spy(writer: Any) -> Any:
        task = real_new_task(writer)
        frozen_at_fork.append(gc.get_freeze_count())
        return task

    monkeypatch.setattr(search.storage.writers.ParallelWriter, "_new_task", spy)
    parallel = build_index([tmp_path / "records"], tmp_path / "parallel", procs=2)
    serial = build_index([tmp_path / "records"], tmp_path / "serial", procs=1)
    assert frozen_at_fork and all(frozen_at_fork)  # each sub-writer forked from a frozen heap
    assert gc.get_freeze_count() == 0  # and the caller's heap thawed after the commit
    assert (parallel.added, parallel.documents) == (serial.added, serial.documents) == (60, 120)
    assert snapshot(tmp_path / "parallel") == snapshot(tmp_path / "serial")


def test_a_parallel_build_is_deterministic(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sub-writer i gets batches i, i+2, i+4... and its segment is published
    in place i: the same files give the same document numbers every time,
    so the same tie order and the same copy of a story on every build."""
    if not search.storage.writers.parallel_available(2):
        pytest.skip("parallel sub-writers need the fork start method")
    for n in range(60):
        write_record(f"r{n:02d}.md", record(f"Record {n}"))
    monkeypatch.setattr(search.indexing.indexer, "POOL_THRESHOLD", 10)
    real_init = search.storage.writers.ParallelWriter.__init__

    def small_batches(writer: Any, *args: Any, **kwargs: Any) -> None:
        real_init(writer, *args, **kwargs)
        writer.batchsize = 7

    monkeypatch.setattr(search.storage.writers.ParallelWriter, "__init__", small_batches)
    paths = sorted(str(p) for p in (tmp_path / "records").glob("*.md"))
    batches = [paths[i : i + 7] for i in range(0, len(paths), 7)]
    expected = [p for b in batches[0::2] for p in b] + [p for b in batches[1::2] for p in b]
    for name in ("first", "second"):
        build_index([tmp_path / "records"], tmp_path / name, procs=2)
        _, ix = Store(tmp_path / name).open()
        with ix.reader() as reader:
            order = [reader.stored_fields(d)["path"] for d in range(reader.doc_count_all())]
            assert len(reader.leaf_readers()) == 2
        ix.close()
        assert order == expected, name


@pytest.mark.parametrize("procs", [2, 1], ids=["sub-writers", "one-writer"])
def test_a_full_build_ends_a_segment_whenever_the_posting_pool_is_full(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, procs: int
) -> None:
    """The bulk posting pool is never spilled to disk (Whoosh's was), so a
    build's memory is bounded by ending the segment when the pool is full:
    in each sub-writer, or by a commit of the one writer, into the
    unpublished generation.  The index is the same, in more segments, in
    the same deterministic order, each with its side-car."""
    if procs > 1 and not search.storage.writers.parallel_available(2):
        pytest.skip("parallel sub-writers need the fork start method")
    for n in range(60):
        write_record(f"r{n:02d}.md", record(f"Record {n}", f"Stub {n}"))
    monkeypatch.setattr(search.indexing.indexer, "POOL_THRESHOLD", 10)
    real_init = search.storage.writers.ParallelWriter.__init__

    def small_batches(writer: Any, *args: Any, **kwargs: Any) -> None:
        real_init(writer, *args, **kwargs)
        writer.batchsize = 7  # the pool is looked at after each batch

    monkeypatch.setattr(search.storage.writers.ParallelWriter, "__init__", small_batches)
    build_index([tmp_path / "records"], tmp_path / "whole", procs=procs)
    # the sub-writers are forked with this patch: a pool is full at 11 documents
    monkeypatch.setattr(search.storage.postings.BulkWriting, "pool_full", lambda writer: writer.docnum > 10)
    report = build_index([tmp_path / "records"], tmp_path / "split", procs=procs)
    assert (report.added, report.documents) == (60, 120)
    store = Store(tmp_path / "split")
    _, ix = store.open()
    with ix.reader() as reader:
        leaves = [leaf for leaf, _ in reader.leaf_readers()]
        # ended at 11 documents or more, after the batch (8 documents) or record (2) that got there
        assert len(leaves) > 2 and all(leaf.doc_count_all() <= 16 for leaf in leaves)
        # a record's documents are never split: each segment starts with an article
        assert all(leaf.stored_fields(0)["kind"] == "article" for leaf in leaves)
        assert search.storage.sidecar.problems(store.current_dir(), reader, "text") == []
        order = [reader.stored_fields(d)["path"] for d in range(reader.doc_count_all())]
    ix.close()
    _, ix = Store(tmp_path / "whole").open()
    with ix.reader() as reader:
        assert order == [reader.stored_fields(d)["path"] for d in range(reader.doc_count_all())]
    ix.close()
    assert snapshot(tmp_path / "split") == snapshot(tmp_path / "whole")
    with open_index(tmp_path / "split") as index:
        assert index.search("Record 42", limit=1).hits[0].title == "Record 42"


def test_each_sub_writer_writes_its_own_segments_side_car(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not search.storage.writers.parallel_available(2):
        pytest.skip("parallel sub-writers need the fork start method")
    for n in range(60):
        write_record(f"r{n:02d}.md", record(f"Record {n}"))
    monkeypatch.setattr(search.indexing.indexer, "POOL_THRESHOLD", 10)
    real_init = search.storage.writers.ParallelWriter.__init__

    def small_batches(writer: Any, *args: Any, **kwargs: Any) -> None:
        real_init(writer, *args, **kwargs)
        writer.batchsize = 7  # so both sub-writers get documents

    monkeypatch.setattr(search.storage.writers.ParallelWriter, "__init__", small_batches)
    log = tmp_path / "writers.log"
    real_write_bytes, real_write = search.storage.sidecar.write_bytes, search.storage.sidecar.write

    def logged(storage: Any, segment: Any, data: bytes) -> Path | None:
        with open(log, "a", encoding="utf-8") as out:  # the sub-writers are forked with this patch
            out.write(f"{os.getpid()}\n")
        return real_write_bytes(storage, segment, data)

    read_back = tmp_path / "read-back.log"

    def reading_back(folder: Any, reader: Any, segment: Any, field: str) -> Path:
        with open(read_back, "a", encoding="utf-8") as out:
            out.write(f"{os.getpid()}\n")
        return real_write(folder, reader, segment, field)

    monkeypatch.setattr(search.storage.sidecar, "write_bytes", logged)
    monkeypatch.setattr(search.storage.sidecar, "write", reading_back)
    build_index([tmp_path / "records"], tmp_path / "index", procs=2)
    writers = log.read_text("utf-8").split()
    assert len(writers) == len(set(writers)) == 2 and str(os.getpid()) not in writers
    # made from the arrays the postings were written from, not read back from the segment
    assert not read_back.exists()
    _, ix = Store(tmp_path / "index").open()
    with ix.reader() as reader:
        assert search.storage.sidecar.problems(Store(tmp_path / "index").current_dir(), reader, "text") == []
    ix.close()


def test_a_sub_writer_that_fails_reports_through_the_parent(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    if not search.storage.writers.parallel_available(2):
        pytest.skip("parallel sub-writers need the fork start method")
    for n in range(60):
        write_record(f"r{n:02d}.md", record(f"Record {n}"))
    monkeypatch.setattr(search.indexing.indexer, "POOL_THRESHOLD", 10)
    parent = os.getpid()
    real = whoosh.writing.SegmentWriter._finalize_segment

    def full_disk_in_a_child(writer: Any) -> Any:
        if os.getpid() != parent:
            _enospc()
        return real(writer)

    monkeypatch.setattr(whoosh.writing.SegmentWriter, "_finalize_segment", full_disk_in_a_child)
    with pytest.raises(OSError) as caught:
        build_index([tmp_path / "records"], tmp_path / "index", procs=2)
    assert caught.value.errno == errno.ENOSPC
    del caught
    printed = capfd.readouterr()
    assert "Traceback" not in printed.err and "_SubWriter" not in printed.err
    assert list((tmp_path / "index").glob("gen-*")) == []  # the unpublished generation went with it


def test_the_parent_never_waits_for_ever_on_sub_writers_that_died(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One document a job, so that 60 jobs overfill the job queue (8 slots) of two dead sub-writers:
    # Whoosh's put() would block for ever; ours raises the error they reported.
    if not search.storage.writers.parallel_available(2):
        pytest.skip("parallel sub-writers need the fork start method")
    for n in range(60):
        write_record(f"r{n:02d}.md", record(f"Record {n}"))
    monkeypatch.setattr(search.indexing.indexer, "POOL_THRESHOLD", 10)
    parent = os.getpid()
    real_init, real_add = search.storage.writers.ParallelWriter.__init__, search.storage.postings.BulkWriting.add_document

    def one_document_a_job(writer: Any, *args: Any, **kwargs: Any) -> None:
        real_init(writer, *args, **kwargs)
        writer.batchsize = 1

    def full_disk_in_a_child(writer: Any, **fields: Any) -> Any:
        if os.getpid() != parent:
            _enospc()
        return real_add(writer, **fields)

    monkeypatch.setattr(search.storage.writers.ParallelWriter, "__init__", one_document_a_job)
    monkeypatch.setattr(search.storage.postings.BulkWriting, "add_document", full_disk_in_a_child)
    with pytest.raises(OSError) as caught:
        build_index([tmp_path / "records"], tmp_path / "index", procs=2)
    assert caught.value.errno == errno.ENOSPC
    del caught
    assert list((tmp_path / "index").glob("gen-*")) == []


def test_the_next_writer_removes_what_a_failed_write_left(seed_index_dir: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    gen = index_dir / (index_dir / "CURRENT").read_text("utf-8").strip()
    (gen / "MAIN.tmp").mkdir()
    (gen / "MAIN.tmp" / "8978g2y7q5o1i086.ctmp").write_bytes(b"r" * 100_000)  # posting runs after ENOSPC
    (gen / "MAIN_90700dfxgm2pcjm5.pst").write_bytes(b"p" * 1000)  # a segment no TOC names
    (gen / "checksums.json.4242.tmp").write_text("{", "utf-8")
    store = Store(index_dir)
    assert [p.name for p in store.leftovers(gen)] == [
        "MAIN.tmp", "MAIN_90700dfxgm2pcjm5.pst", "checksums.json.4242.tmp",
    ]  # fmt: skip
    before = snapshot(index_dir)
    report = build_index([SEEDS], index_dir)  # nothing to do, but it cleans up
    assert not report.changed and store.leftovers(gen) == [] and snapshot(index_dir) == before
    assert not (gen / "MAIN.tmp").exists()


def test_packed_terms_index_writes_the_same_bytes_and_the_index_names_the_stock_codec(
    records: Path, tmp_path: Path
) -> None:
    def terms_file(packed: bool) -> bytes:
        path = tmp_path / f"terms-{packed}"
        writer = OrderedHashWriter(StructFile(open(path, "wb")))
        if packed:  # as PackedCodec.field_writer does
            writer.buckets = [search.storage.writers._PackedBucket() for _ in writer.buckets]
        for n in range(5_000):
            writer.add(f"path\x00/records/{n:05d}.md".encode(), b"v" * (n % 7))
        writer.close()
        return path.read_bytes()

    assert terms_file(packed=True) == terms_file(packed=False)
    build_index([records], tmp_path / "index")
    _gen, ix = Store(tmp_path / "index").open()
    segments = ix._segments()
    assert segments and all(type(segment.codec()) is W3Codec for segment in segments)
    ix.close()


def test_a_short_posting_list_is_kept_in_the_terms_table_and_reads_back(records: Path, tmp_path: Path) -> None:
    from whoosh.codec.whoosh3 import W3TermInfo

    limit = search.storage.writers.INLINE_LIMIT
    build_index([records], tmp_path / "index")
    _gen, ix = Store(tmp_path / "index").open()
    with ix.reader() as reader, ix.searcher() as searcher:
        leaf = reader if reader.is_atomic() else reader.leaf_readers()[0][0]
        infos = [(key, W3TermInfo.from_bytes(value)) for key, value in leaf._terms._tindex.items()]
        assert infos and all(info.is_inlined() == (info.doc_frequency() < limit) for _, info in infos)
        frequencies = {info.doc_frequency() for _, info in infos}
        assert {1, limit - 1, limit} <= frequencies  # both sides of the limit are there
        ident = searcher.stored_fields(0)["id"]
        assert [searcher.stored_fields(d)["id"] for d in searcher.docs_for_query(query.Term("id", ident))] == [ident]
        inlined = 0
        for key, info in infos:  # an inlined list of several postings reads back whole
            field, text = leaf._terms._keydecoder(key)
            if field == "text" and 1 < info.doc_frequency() < limit:
                matcher = leaf.postings("text", text)
                ids = list(matcher.all_ids())
                assert len(ids) == info.doc_frequency() == len(set(ids))
                inlined += 1
        assert inlined
    ix.close()


def test_the_posting_writer_s_length_table_answers_as_whoosh_does(records: Path, tmp_path: Path) -> None:
    from whoosh.reading import SegmentReader

    build_index([records], tmp_path / "index")
    _gen, ix = Store(tmp_path / "index").open()
    for segment in ix._segments():
        reader = SegmentReader(ix.storage, ix.schema, segment)
        pdr = reader._perdoc
        table = search.storage.writers._TableLengths(pdr)
        for field in ix.schema.names():
            whoosh = [pdr.doc_field_length(d, field) for d in range(segment.doc_count_all())]
            assert [table.doc_field_length(d, field) for d in range(segment.doc_count_all())] == whoosh
            assert field != "text" or any(whoosh)  # premise: the full-text field has lengths
        reader.close()
    ix.close()


# -- a failing write --------------------------------------------------------------------------


def _enospc(*_args: Any, **_kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fail_add_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search.storage.postings.BulkWriting, "add_document", _enospc)


def _fail_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(whoosh.writing.SegmentWriter, "commit", _enospc)


def _disk_fills_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file write fails after the first few: the disk fills up part-way through."""
    real = StructFile.write
    budget = {"writes": 3}

    def write(self: StructFile, *args: Any) -> Any:
        budget["writes"] -= 1
        if budget["writes"] < 0:
            _enospc()
        return real(self, *args)

    monkeypatch.setattr(StructFile, "write", write)


@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")
@pytest.mark.usefixtures("collect_leaked_handles")
@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
@pytest.mark.parametrize("failure", [_fail_add_document, _fail_commit, _disk_fills_up], ids=lambda f: f.__name__[1:])
def test_failing_write_keeps_the_previous_index_and_raises_oserror(
    failure: Callable[[pytest.MonkeyPatch], None],
    full: bool,
    seed_index_dir: Path,
    write_record: RecordWriter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Observed and asserted: the OSError (ENOSPC) propagates unchanged, not as a SearchError;
    # the writer is cancelled, the lock released, and the live generation untouched.
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    write_record("new.md", record("Quokka census"))
    roots = [SEEDS, tmp_path / "records"]
    before, live = snapshot(index_dir), (index_dir / "CURRENT").read_text("utf-8")
    with monkeypatch.context() as patch:
        failure(patch)
        with pytest.raises(OSError) as caught:
            build_index(roots, index_dir, full=full)
    assert caught.value.errno == errno.ENOSPC
    # Whoosh's SegmentWriter takes its own MAIN_WRITELOCK in __init__ and, when a write fails
    # there, keeps it until the half-made writer is freed: drop our hold on the traceback.
    del caught
    assert (index_dir / "CURRENT").read_text("utf-8") == live
    assert snapshot(index_dir) == before
    # nothing of the failed write is left to fill the disk or block the next run
    assert sorted(p.name for p in index_dir.glob("gen-*")) == [live.strip()]
    assert Store(index_dir).leftovers(index_dir / live.strip()) == []
    with open_index(index_dir) as ix:
        assert ix.search("facial recognition").total > 0
        assert ix.search("quokka").total == 0

    report = build_index(roots, index_dir, wait=0)  # the lock was released
    assert report.added == 1
    assert titles(index_dir, "quokka") == {"Quokka census"}
    assert sorted(p.name for p in index_dir.glob("gen-*")) == [live.strip()]  # the half-built one is gone


# -- the crash corpus: kills, readers, concurrent writers --------------------------------------------

CRASH_BASE = 300  # records in the index before the run under test
CRASH_ADDED = 450  # records added for it
CRASH_EDITED = 25  # the first records, rewritten
CRASH_DELETED = 25  # the last base records, removed
CRASH_COMMIT_EVERY = 100  # so that the run commits several times
WORDS = (
    "market election football film music science health budget court energy "
    "harbour railway orchestra glacier vaccine satellite parliament festival"
).split()


def crash_record(i: int, version: int) -> str:
    rnd = random.Random(i * 10 + version)
    body = " ".join(rnd.choice(WORDS) for _ in range(40 + version * 7))
    return (
        f'---\ntitle: "Record {i} v{version}"\ntopics: [T{i % 7}]\n'
        f'related:\n  - title: "Stub of record {i} v{version}"\n---\n\nuniq{i} {body}\n'
    )


@dataclass(frozen=True)
class CrashCorpus:
    records: Path
    base_index: Path  # built before the changes below
    base: tuple[Row, ...]  # its documents
    expected: tuple[Row, ...]  # the documents of an index built from scratch after them

    def observe(self, ix: Any) -> frozenset[str]:
        """Titles found by one search (one searcher, so one state): an edited, an added and a
        deleted record's."""
        added, deleted = CRASH_BASE + 10, CRASH_BASE - 1
        return frozenset(hit.title for hit in ix.search(f"uniq3 OR uniq{added} OR uniq{deleted}").hits)


OLD_STATE = frozenset({"Record 3 v1", f"Record {CRASH_BASE - 1} v1"})
NEW_STATE = frozenset({"Record 3 v2", f"Record {CRASH_BASE + 10} v1"})


@pytest.fixture(scope="module")
def crash_corpus(tmp_path_factory: pytest.TempPathFactory) -> CrashCorpus:
    root = tmp_path_factory.mktemp("crash")
    records = root / "records"
    records.mkdir()
    for i in range(CRASH_BASE):
        (records / f"r{i:05d}.md").write_text(crash_record(i, 1), "utf-8")
    build_index([records], root / "base", procs=1)
    for i in range(CRASH_BASE, CRASH_BASE + CRASH_ADDED):
        (records / f"r{i:05d}.md").write_text(crash_record(i, 1), "utf-8")
    for i in range(CRASH_EDITED):
        (records / f"r{i:05d}.md").write_text(crash_record(i, 2), "utf-8")
    for i in range(CRASH_BASE - CRASH_DELETED, CRASH_BASE):
        (records / f"r{i:05d}.md").unlink()
    report = build_index([records], root / "expected", procs=1)
    assert report.added == CRASH_BASE + CRASH_ADDED - CRASH_DELETED
    return CrashCorpus(records, root / "base", snapshot(root / "base"), snapshot(root / "expected"))


@pytest.fixture()
def children(spawn: Callable[..., subprocess.Popen[str]]) -> Callable[..., subprocess.Popen[str]]:
    """Start tests/helpers/reindex.py (see conftest.spawn)."""
    return lambda *args: spawn("reindex.py", *args)


def kill_at(proc: subprocess.Popen[str], trigger: str | float) -> list[str]:
    """SIGKILL `proc` when it prints a line starting with `trigger`, or after `trigger` seconds."""
    assert proc.stdout is not None
    lines: list[str] = []
    watchdog = threading.Timer(PATIENCE, proc.kill)  # a hung child must not hang the suite
    watchdog.start()
    try:
        if isinstance(trigger, float):
            time.sleep(trigger)
        else:
            for line in proc.stdout:
                lines.append(line.strip())
                if line.startswith(trigger):
                    break
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(PATIENCE) == -signal.SIGKILL
    finally:
        watchdog.cancel()
    if isinstance(trigger, str):
        assert lines and lines[-1].startswith(trigger), f"never reached {trigger!r}: {lines[-3:]}"
    assert not any(line.startswith("report ") for line in lines), "the run ended before the kill"
    return lines


@dataclass(frozen=True)
class Kill:
    trigger: str | float
    args: tuple[str, ...] = ()
    first_build: bool = False  # no index before the run


KILLS = {
    "at-start-up": Kill(0.3),
    "after-the-diff": Kill("progress 0 "),
    "mid-first-batch": Kill("progress 60 "),
    "in-second-commit": Kill("commit-start 2"),
    "mid-third-batch": Kill("progress 250 "),
    "with-a-process-pool": Kill("progress 300 ", ("--procs", "2", "--pool-threshold", "100")),
    "full-rebuild-mid-build": Kill("progress 400 ", ("--full",)),
    "full-rebuild-at-publish": Kill("publish-start", ("--full",)),
    "parallel-full-build": Kill("progress 300 ", ("--full", "--procs", "2", "--pool-threshold", "100")),
    "first-build": Kill("progress 300 ", first_build=True),
}


@pytest.mark.slow
@pytest.mark.parametrize("kill", KILLS.values(), ids=KILLS.keys())
def test_sigkill_mid_run_leaves_last_committed_state_and_next_run_completes(
    kill: Kill,
    crash_corpus: CrashCorpus,
    children: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    index_dir = tmp_path / "index"
    if not kill.first_build:
        shutil.copytree(crash_corpus.base_index, index_dir)
    proc = children(index_dir, crash_corpus.records, "--commit-every", CRASH_COMMIT_EVERY, *kill.args)
    lines = kill_at(proc, kill.trigger)

    if kill.first_build:
        with pytest.raises(IndexNotFoundError):
            open_index(index_dir)
    else:
        with open_index(index_dir) as ix:  # searching works on what is there
            ix.search("uniq5")
            ix.search("orchestra glacier", sort="newest")
            ix.search("")
        state = snapshot(index_dir)
        if "--full" in kill.args:
            # the old generation stays live until the new one is published whole
            assert state in (crash_corpus.base, crash_corpus.expected)
            if "publish-start" not in lines:
                assert state == crash_corpus.base
        else:
            old, new = by_path(crash_corpus.base), by_path(crash_corpus.expected)
            for path, docs in by_path(state).items():
                assert docs in (old.get(path), new.get(path)), f"{path} is neither its old nor its new version"
            commits = sum(line.startswith("commit-end") for line in lines)
            done = [path for path, docs in by_path(state).items() if docs == new.get(path) != old.get(path)]
            assert len(done) >= commits * CRASH_COMMIT_EVERY  # committed batches were not lost

    report = build_index([crash_corpus.records], index_dir, procs=1)
    assert snapshot(index_dir) == crash_corpus.expected
    assert report.documents == len(crash_corpus.expected)
    live = (index_dir / "CURRENT").read_text("utf-8").strip()
    leftovers = [p.name for p in index_dir.glob("gen-*") if p.name > live]
    assert leftovers == []  # an unpublished generation does not survive the next run


def search_during_reindex(
    index_dir: Path,
    proc_args: tuple[object, ...],
    children: Callable[..., subprocess.Popen[str]],
    look: Callable[[Any], Any],
) -> tuple[list[Any], Any]:
    """Call look(ix) in a loop on an Index opened before a reindex runs in a child process,
    until it ends; then (what it saw during the run, what it sees after)."""
    with open_index(index_dir) as ix:
        look(ix)
        proc = children(index_dir, *proc_args)
        seen = []
        while proc.poll() is None:
            seen.append(look(ix))
        assert proc.returncode == 0
        assert seen, "the reindex ended before the first search"
        return seen, look(ix)  # no refresh() needed


def child_pids(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("needs Linux's /proc/PID/task/PID/children to find the pool's workers")
    return [int(child) for child in path.read_text().split()]


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_sigkilled_run_leaves_no_orphan_workers(
    crash_corpus: CrashCorpus, children: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    proc = children(tmp_path / "index", crash_corpus.records, "--procs", "2", "--pool-threshold", "100")
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("progress 100 "):
            break
    workers = child_pids(proc.pid)
    assert len(workers) >= 2  # the pool is up (two workers, and Python's resource tracker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(PATIENCE)
    deadline = time.monotonic() + 5  # EOF on their pipe would end them at once
    while any(running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in workers if running(pid)] == []


@pytest.mark.parametrize("full", [True, False], ids=["full-rebuild", "incremental"])
def test_reader_opened_before_a_reindex_keeps_answering_then_sees_the_new_data(
    full: bool,
    crash_corpus: CrashCorpus,
    children: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(crash_corpus.base_index, index_dir)
    args = (crash_corpus.records, "--full") if full else (crash_corpus.records, "--commit-every", CRASH_COMMIT_EVERY)
    old_total = len([row for row in crash_corpus.base if row[1] == "article"]) * 2
    new_total = len([row for row in crash_corpus.expected if row[1] == "article"]) * 2

    def look(ix: Any) -> tuple[frozenset[str], int]:
        return crash_corpus.observe(ix), ix.search("", limit=1).total

    seen, after = search_during_reindex(index_dir, args, children, look)
    assert after == (NEW_STATE, new_total)
    with open_index(index_dir) as fresh:
        assert look(fresh) == after
    assert snapshot(index_dir) == crash_corpus.expected
    states = [state for state, _ in seen]
    if full:
        # nothing in between: the old index until the new one is whole, then never back
        assert set(states) <= {OLD_STATE, NEW_STATE}
        assert states == sorted(states, key=lambda state: state == NEW_STATE)
        assert {total for _, total in seen} <= {old_total, new_total}
    else:
        # batches land one by one, but an edited record is always there in one version
        assert all(len(state & {"Record 3 v1", "Record 3 v2"}) == 1 for state in states)
        assert all(state <= OLD_STATE | NEW_STATE for state in states)


def test_stats_survive_a_commit_landing_while_they_run(
    seed_index_dir: Path, write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The interleaving a reader in a loop meets now and then during an incremental reindex
    # (seen with a reader polling stats() beside a run committing every 100 files), made
    # deterministic: the commit lands after stats() listed the generation's files and before
    # it looks at the table of contents, which the commit replaces and deletes.
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    write_record("new.md", record("Quokka census"))
    real = Path.stat
    landed: list[Any] = []

    def commit_first(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.suffix == ".toc" and not landed:
            landed.append(build_index([SEEDS, tmp_path / "records"], index_dir))
        return real(self, *args, **kwargs)

    with open_index(index_dir) as ix:
        monkeypatch.setattr(Path, "stat", commit_first)
        stats = ix.stats()
        monkeypatch.undo()
    assert landed and landed[0].added == 1
    assert stats.documents in (landed[0].documents - 1, landed[0].documents)


def test_two_concurrent_runs_one_waits_for_the_other(
    crash_corpus: CrashCorpus,
    children: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    index_dir = tmp_path / "index"
    shutil.copytree(crash_corpus.base_index, index_dir)
    procs = [children(index_dir, crash_corpus.records, "--wait", PATIENCE) for _ in range(2)]
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=PATIENCE * 2)
        assert proc.returncode == 0
        (line,) = [line for line in out.splitlines() if line.startswith("report ")]
        reports.append(json.loads(line.removeprefix("report ")))
    files = CRASH_BASE + CRASH_ADDED - CRASH_DELETED
    worker, idle = sorted(reports, key=lambda r: r["unchanged"])
    assert (worker["added"], worker["updated"], worker["deleted"]) == (CRASH_ADDED, CRASH_EDITED, CRASH_DELETED)
    assert (idle["added"], idle["updated"], idle["deleted"], idle["unchanged"]) == (0, 0, 0, files)
    assert snapshot(index_dir) == crash_corpus.expected


UNGUARDED_SCRIPT = """
import sys
import search.indexing.indexer
search.indexing.indexer.POOL_THRESHOLD = 10  # use the process pool on a small folder
report = search.indexing.indexer.build_index([sys.argv[1]], sys.argv[2], procs=2)
print(report.added)
"""


def test_a_script_without_a_main_guard_can_build_with_the_pool(write_record: RecordWriter, tmp_path: Path) -> None:
    # spawn re-runs the caller's main module in each worker; a plain script
    # (no `if __name__ == "__main__":`) must still be able to index.
    for n in range(30):
        write_record(f"r{n:02d}.md", record(f"Record {n}"))
    script = tmp_path / "plain_script.py"
    script.write_text(UNGUARDED_SCRIPT, "utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "records"), str(tmp_path / "index")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.strip() == "30"


def test_a_garbled_bookkeeping_path_is_damage_not_a_duplicate(tmp_path: Path) -> None:
    # 3 garbled bytes in a path of the `source` column: read with escapes, each run
    # "deleted" the garbage path in vain and added the file again, a duplicate hit.
    from search.errors import IndexCorruptError
    from search.storage.store import Store

    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    build_index([records], tmp_path / "ix")
    victim = str(records / sorted(os.listdir(records))[5]).encode()
    for segment in Store(tmp_path / "ix").current_dir().glob("*.seg"):
        data = segment.read_bytes()
        at = data.find(victim + b"\x00\x01")  # the column's value: the path, a NUL, the flag
        if at >= 0:
            middle = at + len(victim) - 8
            segment.write_bytes(data[:middle] + b"\xff\xfe\xfd" + data[middle + 3 :])
            break
    else:
        pytest.fail("the path is not in any segment's source column")
    with pytest.raises(IndexCorruptError):
        build_index([records], tmp_path / "ix")
