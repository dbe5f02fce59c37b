"""search.storage.stems: the stem cache a build leaves beside its segments,
used by later runs only as its writer's stemmer would stem, never otherwise."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from whoosh.lang import stemmer_for_language

import search.indexing.indexer
import search.storage.writers
from search import build_index, open_index
from search.storage import schema, stems
from search.storage.store import Store

RecordWriter = Callable[..., Path]
STEM = stemmer_for_language("en")
#: Words each record of the tests below is written with (news text stems most words to themselves).
WORDS = ["markets", "rallied", "oil", "prices", "économie", "organizations", "university", "trading", "shares"]


def _record(n: int) -> str:
    """A record of two of WORDS (no number: a new one would be a new word to stem)."""
    return f'title: "Record {WORDS[n % len(WORDS)]} {WORDS[(n * 5 + 1) % len(WORDS)]}"'


def _gen(index_dir: Path) -> Path:
    return Store(index_dir).current_dir()


def _cache_files(index_dir: Path) -> list[str]:
    return sorted(p.name for p in _gen(index_dir).iterdir() if p.name.startswith(stems.PREFIX))


@pytest.fixture()
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The indexing analysis with empty caches, as in a new process; the words it stems, in order."""
    stemmed: list[str] = []

    def counting(word: str) -> str:
        stemmed.append(word)
        return STEM(word)

    monkeypatch.setattr(schema._FAST, "stems", {})
    monkeypatch.setattr(schema._FAST, "tokens", {})
    monkeypatch.setattr(schema._FAST, "stem", counting)
    return stemmed


def test_saved_stems_come_back_and_words_with_a_separator_are_left_out(tmp_path: Path) -> None:
    saved = {"markets": "market", "oil": "oil", "économie": "économi", "a\nb": "ab", "c\0": "c"}
    stems.save(tmp_path, saved, "0")
    found: dict[str, str] = {}
    assert stems.load(tmp_path, found) == 1
    assert found == {"markets": "market", "oil": "oil", "économie": "économi"}
    assert [p.name for p in tmp_path.iterdir()] == ["stems-0.cache"]  # no temporary file left


@pytest.mark.parametrize("damage", ["a byte garbled", "cut short", "another schema version", "another Whoosh"])
def test_a_garbled_or_foreign_cache_is_not_used(tmp_path: Path, damage: str) -> None:
    stems.save(tmp_path, {"markets": "market", "prices": "price"}, "0")
    path = tmp_path / "stems-0.cache"
    data = path.read_bytes()
    header = stems._header()
    _name, _word, layout, schema_version, whoosh_version = header.decode().split()
    if damage == "a byte garbled":
        at = len(header) + 5
        data = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
    elif damage == "cut short":
        data = data[:-20]
    elif damage == "another schema version":
        data = data.replace(header, f"news-search stems {layout} {int(schema_version) + 1} {whoosh_version}\n".encode())
    else:
        data = data.replace(header, f"news-search stems {layout} {schema_version} 2.7.5\n".encode())
    path.write_bytes(data)
    found: dict[str, str] = {}
    assert stems.load(tmp_path, found) == 0 and found == {}


def test_a_build_saves_the_stemmers_stems_and_a_big_enough_run_stems_no_word_again(
    write_record: RecordWriter, tmp_path: Path, fresh_process: list[str]
) -> None:
    index_dir = tmp_path / "index"
    for n in range(20):
        write_record(f"a{n:03d}.md", _record(n))
    build_index([tmp_path / "records"], index_dir, procs=1)
    assert _cache_files(index_dir) == ["stems-main.cache"]
    saved: dict[str, str] = {}
    stems.load(_gen(index_dir), saved)
    assert {"market", "oil", "organis", "univers"} <= set(saved.values())
    assert saved == {word: STEM(word) for word in saved}

    for n in range(20, 20 + stems.MIN_FILES):  # new files, words the build has seen
        write_record(f"b{n:03d}.md", _record(n))
    shutil.copytree(index_dir, tmp_path / "uncached")
    for name in _cache_files(tmp_path / "uncached"):
        (_gen(tmp_path / "uncached") / name).unlink()
    schema._FAST.stems.clear()
    schema._FAST.tokens.clear()
    fresh_process.clear()
    report = build_index([tmp_path / "records"], index_dir, procs=1)
    assert report.added == stems.MIN_FILES
    assert fresh_process == []  # every stem came from the build's cache
    schema._FAST.stems.clear()
    schema._FAST.tokens.clear()
    build_index([tmp_path / "records"], tmp_path / "uncached", procs=1)
    assert fresh_process  # without it, the words were stemmed
    assert _lexicon(index_dir) == _lexicon(tmp_path / "uncached")
    with open_index(index_dir) as ix:
        assert ix.search("organization").total == ix.search("organizations").total > 0


def test_a_small_run_does_not_read_the_cache(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = tmp_path / "index"
    first = write_record("a.md", _record(1))
    os.utime(first, (first.stat().st_atime, first.stat().st_mtime - 3600))  # not racy: not read again
    build_index([tmp_path / "records"], index_dir, procs=1)
    loads: list[Any] = []
    monkeypatch.setattr(stems, "load", lambda *args, **kwargs: loads.append(args))
    for n in range(stems.MIN_FILES - 1):
        write_record(f"b{n:03d}.md", _record(n))
    assert build_index([tmp_path / "records"], index_dir, procs=1).added == stems.MIN_FILES - 1
    assert loads == []


def test_a_parallel_builds_sub_writers_each_save_their_part(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not search.storage.writers.parallel_available(2):
        pytest.skip("parallel sub-writers need the fork start method")
    for n in range(60):
        write_record(f"r{n:02d}.md", _record(n))
    monkeypatch.setattr(search.indexing.indexer, "POOL_THRESHOLD", 10)
    real_init = search.storage.writers.ParallelWriter.__init__

    def small_batches(writer: Any, *args: Any, **kwargs: Any) -> None:
        real_init(writer, *args, **kwargs)
        writer.batchsize = 7  # batches for both sub-writers

    monkeypatch.setattr(search.storage.writers.ParallelWriter, "__init__", small_batches)
    build_index([tmp_path / "records"], tmp_path / "index", procs=2)
    assert _cache_files(tmp_path / "index") == ["stems-0.cache", "stems-1.cache"]
    saved: dict[str, str] = {}
    assert stems.load(_gen(tmp_path / "index"), saved) == 2
    assert {schema._FAST.token_terms(word)[0] for word in WORDS} | {"record"} <= set(saved.values())
    assert saved == {word: STEM(word) for word in saved}


def _lexicon(index_dir: Path) -> list[bytes]:
    _gen_dir, ix = Store(index_dir).open()
    try:
        with ix.reader() as reader:
            return list(reader.lexicon(schema.TEXT_FIELD))
    finally:
        ix.close()
