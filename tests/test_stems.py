"""search.storage.stems: the stem cache a build leaves beside its segments,
used by later runs only as its writer's stemmer would stem, never otherwise."""

from __future__ import annotations

import os
import random
import shutil
import string
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


def _built_with_one_record(write_record: RecordWriter, tmp_path: Path) -> Path:
    """An index of one record, old enough not to be racy (so not read again)."""
    index_dir = tmp_path / "index"
    first = write_record("a.md", _record(1))
    os.utime(first, (first.stat().st_atime, first.stat().st_mtime - 3600))
    build_index([tmp_path / "records"], index_dir, procs=1)
    return index_dir


def test_a_small_run_does_not_read_the_cache(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = _built_with_one_record(write_record, tmp_path)
    loads: list[Any] = []
    monkeypatch.setattr(stems, "load", lambda *args, **kwargs: loads.append(args))
    for n in range(stems.MIN_FILES - 1):
        write_record(f"b{n:03d}.md", _record(n))
    assert build_index([tmp_path / "records"], index_dir, procs=1).added == stems.MIN_FILES - 1
    assert loads == []


def test_a_cache_is_read_only_by_a_run_it_repays(tmp_path: Path) -> None:
    """Reading a cache costs by its entries, a run gains by its files (review R4, session twelve)."""
    assert not stems.pays(tmp_path, stems.MIN_FILES)  # no cache
    rng = random.Random(12)
    words = {"".join(rng.choices(string.ascii_lowercase, k=9)) for _ in range(60_000)}
    stems.save(tmp_path, {word: word[:-2] for word in words}, "0")
    size = (tmp_path / "stems-0.cache").stat().st_size
    enough = -(-size // stems.BYTES_PER_FILE)  # the fewest files that repay it
    assert enough > stems.MIN_FILES  # the premise: a cache too big for a run of MIN_FILES
    assert not stems.pays(tmp_path, stems.MIN_FILES)
    assert not stems.pays(tmp_path, enough - 1)
    assert stems.pays(tmp_path, enough)
    assert not stems.pays(tmp_path, stems.MIN_FILES - 1)


def test_a_cache_is_read_up_to_the_limit_it_is_given(tmp_path: Path) -> None:
    """Filled past the analysis' bound, the cache was emptied by the run's first new word."""
    first = {f"a{n}": f"a{n % 7}" for n in range(60)}
    second = {f"b{n}": f"b{n % 5}" for n in range(60)}
    stems.save(tmp_path, first, "0")
    stems.save(tmp_path, second, "1")
    found: dict[str, str] = {}
    assert stems.load(tmp_path, found, limit=100) == 2
    assert len(found) == 100 and found.items() <= {**first, **second}.items()
    found = {"x": "x"}
    assert stems.load(tmp_path, found, limit=61) == 1  # the second part finds no room
    assert len(found) == 61 and found.items() <= {"x": "x", **first}.items()
    found = {}
    assert stems.load(tmp_path, found) == 2 and found == {**first, **second}


def test_a_run_too_small_for_the_cache_does_not_read_it(
    write_record: RecordWriter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index_dir = _built_with_one_record(write_record, tmp_path)
    size = sum(p.stat().st_size for p in _gen(index_dir).iterdir() if p.name.startswith(stems.PREFIX))
    loads: list[Any] = []
    monkeypatch.setattr(stems, "load", lambda *args, **kwargs: loads.append(kwargs))
    # a cache worth more than MIN_FILES files' words
    monkeypatch.setattr(stems, "BYTES_PER_FILE", size // (stems.MIN_FILES + 1))
    for n in range(stems.MIN_FILES):
        write_record(f"b{n:03d}.md", _record(n))
    assert build_index([tmp_path / "records"], index_dir, procs=1).added == stems.MIN_FILES
    assert loads == []
    for n in range(stems.MIN_FILES, 3 * stems.MIN_FILES):
        write_record(f"b{n:03d}.md", _record(n))
    assert build_index([tmp_path / "records"], index_dir, procs=1).added == 2 * stems.MIN_FILES
    assert loads == [{"into": schema.known_stems(), "limit": schema.CACHE_LIMIT // 2}]


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
