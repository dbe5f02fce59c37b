"""The library API: what ``import search`` offers, and how an open Index behaves over its life.

Expected values are computed from the record files with ``load_record``
(pure Python, no Whoosh), so the index is checked against its sources.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import search
from search import (
    DocumentNotFoundError,
    IndexCorruptError,
    IndexNotFoundError,
    NotAnIndexError,
    IndexReport,
    ResultPage,
    SearchError,
    UsageError,
    build_index,
    load_record,
    open_index,
)
from search.api import Index
from search.indexing.check import check_index
from search.storage.stored import Records
from search.storage.store import Store

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
ORIGINAL = SEEDS / "000_ca32df7d61dcae32.txt"
UTC = timezone.utc


def seed_records() -> dict[Path, Any]:
    return {path: load_record(path) for path in sorted(SEEDS.iterdir())}


def secured_blob() -> str:
    """The `secured` value of the original record, read without the product's parser."""
    (line,) = [ln for ln in ORIGINAL.read_text("utf-8").splitlines() if ln.startswith("secured:")]
    return line.split(":", 1)[1].strip().strip('"')


@pytest.fixture()
def seeds_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working directory holding a copy of seeds/, as a new user would have."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the package surface ---------------------------------------------------------------------------

EXPECTED_ALL = [
    "Article",
    "Boost",
    "Document",
    "DocumentNotFoundError",
    "EmptySourceError",
    "Explanation",
    "Facets",
    "Hit",
    "Index",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexNotFoundError",
    "IndexPermissionError",
    "IndexReport",
    "Limits",
    "NotAnIndexError",
    "Provider",
    "QueryError",
    "RecordError",
    "ResultPage",
    "SchemaVersionError",
    "SearchError",
    "SimilarPage",
    "Skipped",
    "Stats",
    "Stub",
    "Suggestion",
    "UsageError",
    "build_index",
    "load_record",
    "open_index",
]


def test_all_is_the_expected_list_and_every_name_resolves() -> None:
    assert sorted(search.__all__) == EXPECTED_ALL
    assert len(set(search.__all__)) == len(search.__all__)
    for name in search.__all__:
        value = getattr(search, name)
        assert value is not None
        assert getattr(value, "__name__", name) == name
    assert set(search.__all__) <= set(dir(search))
    with pytest.raises(AttributeError):
        _ = search.no_such_name  # type: ignore[attr-defined]


def test_errors_share_one_base() -> None:
    for name in ("DocumentNotFoundError", "IndexCorruptError", "IndexNotFoundError", "QueryError", "UsageError"):
        assert issubclass(getattr(search, name), SearchError)
    assert issubclass(search.QueryError, search.UsageError)


def loaded_after(statement: str, cwd: Path) -> list[str]:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'whoosh', 'numpy', 'yaml'})))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("import search", []),
        ("import search; search.__all__; dir(search)", []),
        ("import search.api", ["whoosh"]),  # numpy loads with the engine (search.backends.costs)
        ("from search import open_index", ["whoosh"]),
        ("from search import open_index, build_index", ["whoosh", "yaml"]),
    ],
)
def test_import_costs(tmp_path: Path, statement: str, expected: list[str]) -> None:
    assert loaded_after(statement, tmp_path) == expected


# -- build_index and open_index ------------------------------------------------------------------------


def test_build_index_returns_a_typed_report(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    shutil.copytree(SEEDS, folder)
    total = len(list(folder.iterdir()))

    first = build_index([folder], tmp_path / "index")
    assert isinstance(first, IndexReport)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.added = 0  # type: ignore[misc]
    assert (first.added, first.updated, first.deleted, first.unchanged, first.skipped) == (total, 0, 0, 0, ())
    assert isinstance(first.seconds, float) and first.seconds >= 0
    as_json = json.loads(json.dumps(first.to_dict()))
    assert {"added", "updated", "deleted", "unchanged", "skipped", "seconds"} <= set(as_json)

    again = build_index([folder], tmp_path / "index")
    assert (again.added, again.updated, again.deleted, again.unchanged) == (0, 0, 0, total)

    changed = folder / "010-bbc-solar-storm-auroras.md"
    changed.write_text(changed.read_text("utf-8").replace("Strongest solar storm", "Strongest ever solar storm"))
    (folder / "050-guardian-rugby-world-cup-final.md").unlink()
    (folder / "broken.md").write_text("no front matter here\n", "utf-8")
    third = build_index([folder], tmp_path / "index")
    assert (third.added, third.updated, third.deleted, third.unchanged) == (0, 1, 1, total - 2)
    (skipped,) = third.skipped
    assert Path(skipped.path).name == "broken.md" and skipped.error
    assert json.loads(json.dumps(third.to_dict()))["skipped"] == [{"path": skipped.path, "error": skipped.error}]


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_open_index_without_an_index(tmp_path: Path, make: str) -> None:
    where = tmp_path / "nowhere"
    if make == "empty":
        where.mkdir()
    with pytest.raises(IndexNotFoundError) as caught:
        open_index(where)
    assert "search index" in (caught.value.hint or "")
    assert str(where) in str(caught.value)


@pytest.mark.parametrize("value", [None, 123, 1.5, ["index"]])
def test_an_index_dir_that_is_no_path_is_a_usage_error_naming_it(tmp_path: Path, value: Any) -> None:
    # open_index(os.environ.get("NEWS_INDEX")) with the variable unset was a bare TypeError.
    for call in (lambda: open_index(value), lambda: build_index([SEEDS], value), lambda: check_index(value)):
        with pytest.raises(UsageError) as caught:
            call()
        assert str(caught.value) == f"`index_dir` must be a str or a path, not {type(value).__name__}"
        assert caught.value.option == "index_dir"


def test_an_index_dir_given_as_bytes_is_that_path(seed_index_dir: Path) -> None:
    with open_index(os.fsencode(seed_index_dir)) as ix:
        assert ix.index_dir == seed_index_dir and ix.search("facial recognition").hits


def test_open_index_on_a_folder_of_random_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "data.bin").write_bytes(bytes(range(256)) * 8)
    (junk / "notes.txt").write_text("not an index\n", "utf-8")
    (junk / "_MAIN_1.toc").write_bytes(b"\x00garbage")
    with pytest.raises(IndexCorruptError) as caught:  # NotAnIndexError, its subclass
        open_index(junk)
    # It advised `search index --full` there, which wrote an index among those files (review s11 R4)
    assert isinstance(caught.value, NotAnIndexError)
    assert str(caught.value) == (
        f"{junk} is not a news-search index: the folder holds other files (_MAIN_1.toc, data.bin, notes.txt)"
        " and no index"
    )
    assert caught.value.hint == (
        "Name the index folder with --index (or SEARCH_INDEX_DIR), or a new or empty folder to build one there;"
        " nothing was changed."
    )
    assert sorted(p.name for p in junk.iterdir()) == ["_MAIN_1.toc", "data.bin", "notes.txt"]


def expected_issue_hits(records: dict[Path, Any]) -> list[Any]:
    """The issue's example query, answered from the record files: newest first."""
    since = datetime(2020, 1, 1, tzinfo=UTC)
    found = []
    for article in records.values():
        text = " ".join(filter(None, [article.title, article.excerpt, article.body, *article.topics])).lower()
        provider = article.provider
        if (
            "ai" in {t.casefold() for t in article.topics}
            and provider is not None
            and "ft.com" in {(provider.domain or "").casefold(), (provider.name or "").casefold()}
            and article.published is not None
            and article.published >= since
            and "facial" in text
            and "recognition" in text
        ):
            found.append(article)
    return sorted(found, key=lambda a: a.published, reverse=True)


def test_the_issue_snippet_works_as_written(seeds_cwd: Path) -> None:
    report = build_index(["seeds"], "index")
    assert report.added == len(list(Path("seeds").iterdir())) and not report.skipped
    ix = open_index("index")
    page = ix.search(
        "facial recognition",
        topics=["AI"],
        providers=["ft.com"],
        since="2020-01-01",
        sort="newest",
        limit=10,
        page=1,
    )
    expected = expected_issue_hits({p: load_record(p) for p in sorted(Path("seeds").iterdir())})
    assert len(expected) > 1  # premise: the example has something to sort
    assert isinstance(page, ResultPage)
    assert page.total == len(expected) == len(page.hits)
    assert [h.title for h in page.hits] == [a.title for a in expected]
    hit = page.hits[0]
    assert hit.title == expected[0].title
    assert isinstance(hit.score, float) and hit.score > 0
    assert hit.url == expected[0].url
    assert Path(hit.path).is_file() and Path(hit.path).samefile(expected[0].path)
    assert Path(hit.path).resolve().is_relative_to(seeds_cwd.resolve())
    assert page.facets is not None
    assert page.facets.topics["AI"] == page.total
    assert page.facets.providers == {"The Financial Times": page.total}
    assert page.facets.years == dict(Counter(str(a.published.year) for a in expected))
    ix.close()


# -- a long-lived Index ------------------------------------------------------------------------------


def write(folder: Path, name: str, title: str) -> Path:
    path = folder / name
    path.write_text(f'---\ntitle: "{title}"\n---\n', "utf-8")
    return path


def titles(ix: Index, text: str) -> set[str]:
    return {h.title for h in ix.search(text, limit=100).hits}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_long_lived_index_sees_every_reindex(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    write(folder, "a.md", "Aardvark first")
    build_index([folder], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        assert titles(ix, "aardvark") == {"Aardvark first"}

        write(folder, "b.md", "Aardvark second")
        build_index([folder], tmp_path / "index")
        assert titles(ix, "aardvark") == {"Aardvark first", "Aardvark second"}

        write(folder, "a.md", "Aardvark first, retitled at length")
        (folder / "b.md").unlink()
        build_index([folder], tmp_path / "index")
        assert titles(ix, "aardvark") == {"Aardvark first, retitled at length"}
        assert ix.stats().documents == 1

        write(folder, "c.md", "Aardvark third")
        report = build_index([folder], tmp_path / "index", full=True)
        assert report.full
        assert titles(ix, "aardvark") == {"Aardvark first, retitled at length", "Aardvark third"}

        ix.refresh()  # nothing new: a no-op
        assert titles(ix, "aardvark") == {"Aardvark first, retitled at length", "Aardvark third"}
        write(folder, "d.md", "Aardvark fourth")
        build_index([folder], tmp_path / "index")
        ix.refresh()
        assert ix.stats().documents == 3


def _age(index: Path) -> None:
    """Set back the modification times the freshness check stamps (CURRENT and the live generation)."""
    old = datetime.now(timezone.utc).timestamp() - 3600
    current = index / "CURRENT"
    for path in (current, index / current.read_text("utf-8").strip()):
        os.utime(path, (old, old))


def test_a_settled_index_is_checked_with_two_stats_and_still_sees_every_reindex(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between changes the freshness check is two stat() calls, not a read of
    CURRENT and a listing of the generation; a commit or a full rebuild
    after that is still seen by the next search.  Changed in the last
    seconds (as right after a build), every search makes the full check."""
    from search.storage.store import Store

    folder = tmp_path / "records"
    folder.mkdir()
    write(folder, "a.md", "Aardvark first")
    build_index([folder], tmp_path / "index")
    full_checks = []
    original = Store.current_dir

    def counted(self: Store) -> Path:
        full_checks.append(1)
        return original(self)

    monkeypatch.setattr(Store, "current_dir", counted)
    with open_index(tmp_path / "index") as ix:
        full_checks.clear()
        titles(ix, "aardvark")
        titles(ix, "aardvark")
        assert len(full_checks) == 2  # just built: too recent to trust the stamps

        _age(tmp_path / "index")
        titles(ix, "aardvark")  # a full check, which finds the stamps settled
        full_checks.clear()
        assert titles(ix, "aardvark") == {"Aardvark first"}
        assert titles(ix, "aardvark") == {"Aardvark first"}
        assert full_checks == []  # the stamps stood in for it

        write(folder, "b.md", "Aardvark second")
        build_index([folder], tmp_path / "index")  # a commit in the live generation
        assert titles(ix, "aardvark") == {"Aardvark first", "Aardvark second"}
        assert full_checks

        _age(tmp_path / "index")
        titles(ix, "aardvark")
        write(folder, "c.md", "Aardvark third")
        build_index([folder], tmp_path / "index", full=True)  # a new generation, CURRENT replaced
        assert titles(ix, "aardvark") == {"Aardvark first", "Aardvark second", "Aardvark third"}

        _age(tmp_path / "index")
        titles(ix, "aardvark")
        full_checks.clear()
        ix.refresh()  # asked for: the full check, whatever the stamps say
        assert full_checks == [1]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd to count open files")
def test_a_long_lived_index_keeps_answering_without_leaking(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    write(folder, "base.md", "Badger base")
    build_index([folder], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        ix.search("badger")
        baseline = open_fds()
        for i in range(200):
            if i % 50 == 25:
                write(folder, f"n{i}.md", f"Badger number {i}")
                build_index([folder], tmp_path / "index", full=(i % 100 == 75))
            page = ix.search("badger" if i % 2 else "number OR base", limit=5)
            assert page.total >= 1
        assert ix.search("badger").total == 5
        assert open_fds() <= baseline + 2


# Whoosh 2.7.4's FileIndex._reader(reuse=) keys the old leaf readers by generation(), which they all share,
# so a refresh after segments merged once left their files to the garbage collector (ResourceWarning).
def test_refresh_closes_the_segment_files_it_drops(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    write(folder, "a.md", "Aardvark first")
    build_index([folder], tmp_path / "index")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with open_index(tmp_path / "index") as ix:
            ix.search("aardvark")
            write(folder, "b.md", "Aardvark second")
            build_index([folder], tmp_path / "index")  # a second segment
            assert ix.search("aardvark").total == 2
            write(folder, "a.md", "Aardvark first, retitled at length")
            (folder / "b.md").unlink()
            build_index([folder], tmp_path / "index")  # the segments merge
            assert ix.search("aardvark").total == 1
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.fixture(scope="module")
def ix(seed_index_dir: Path) -> Iterator[Index]:
    with open_index(seed_index_dir) as index:
        yield index


def test_get_an_article_with_its_related_ids(ix: Index) -> None:
    record = load_record(ORIGINAL)
    doc = ix.get(str(ORIGINAL))
    assert doc.kind == "article" and doc.parent is None
    assert doc.path == str(ORIGINAL.absolute())
    assert doc.record["title"] == record.title
    assert doc.record["webUrl"] == record.url
    assert len(doc.related_ids) == len(record.related) > 0
    for stub_id, stub in zip(doc.related_ids, record.related, strict=True):
        related = ix.get(stub_id)
        assert (related.kind, related.parent, related.path) == ("related", doc.id, doc.path)
        assert related.record["title"] == stub.title
        assert related.related_ids == ()
    assert ix.get(doc.id) == doc


def test_get_by_a_relative_path(ix: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert ix.get(str(ORIGINAL.relative_to(REPO))).id == ix.get(str(ORIGINAL)).id


def test_search_hit_ids_are_get_ids(ix: Index) -> None:
    for hit in ix.search("facial recognition", limit=100).hits:
        doc = ix.get(hit.id)
        assert (doc.kind, doc.path, doc.record["title"]) == (hit.kind, hit.path, hit.title)


@pytest.mark.parametrize("ident", ["nope", "", "0000000000000000", "seeds/no-such-file.md"])
def test_get_unknown_raises_document_not_found(ix: Index, ident: str) -> None:
    with pytest.raises(DocumentNotFoundError) as caught:
        ix.get(ident)
    assert caught.value.doc_id == ident and caught.value.hint


# -- secured never leaves the record file ----------------------------------------------------------


def test_premise_the_original_record_carries_a_secured_blob() -> None:
    assert len(secured_blob()) > 100 and "secured" in ORIGINAL.read_text("utf-8")


def test_secured_is_not_in_get_or_search_output(ix: Index) -> None:
    blob = secured_blob()[:24]
    shown = json.dumps(ix.get(str(ORIGINAL)).to_dict(), ensure_ascii=False)
    assert "secured" not in shown and blob not in shown
    page = ix.search("", limit=1_000)
    everything = json.dumps(page.to_dict(), ensure_ascii=False) + repr(page)
    for hit in page.hits:
        everything += json.dumps(ix.get(hit.id).to_dict(), ensure_ascii=False)
    assert "secured" not in everything and blob not in everything


def test_secured_is_not_in_any_index_file(seed_index_dir: Path) -> None:
    blob = secured_blob()
    needles = {blob[:24], blob[40:64], blob[:24].lower(), blob[40:64].lower()}
    files = [p for p in seed_index_dir.rglob("*") if p.is_file()]
    assert len(files) > 3
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in data, path


def test_secured_is_not_in_any_stored_field(seed_index_dir: Path) -> None:
    # Records are stored zlib-compressed, so a byte search alone could miss them.
    blob = secured_blob()[:24]
    _, index = Store(seed_index_dir).open()
    with index.reader() as reader:
        records = Records(reader)
        stored = [(dict(fields), records.get(docnum, fields)) for docnum, fields in reader.iter_docs()]
    assert len(stored) > 50
    for fields, record in stored:
        text = json.dumps(record, ensure_ascii=False) + repr(fields)
        assert "secured" not in text and blob not in text


# -- stats ---------------------------------------------------------------------------------------------


def test_stats_count_what_was_indexed(ix: Index) -> None:
    records = seed_records()
    articles = len(records)
    related = sum(len(r.related) for r in records.values())
    stats = ix.stats()
    assert (stats.documents, stats.articles, stats.related) == (articles + related, articles, related)
    as_json = json.loads(json.dumps(stats.to_dict()))
    assert as_json["documents"] == articles + related
    topics = Counter(t for r in records.values() for t in r.topics)
    assert stats.topics == dict(sorted(topics.items(), key=lambda kv: (-kv[1], kv[0].casefold()))[:20])


def test_stats_after_an_incremental_delete(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    write(folder, "keep.md", "Kept")
    (folder / "gone.md").write_text('---\ntitle: "Gone"\nrelated:\n  - title: "Gone stub"\n---\n', "utf-8")
    build_index([folder], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        assert (ix.stats().articles, ix.stats().related) == (2, 1)
        (folder / "gone.md").unlink()
        build_index([folder], tmp_path / "index")
        stats = ix.stats()
        assert (stats.documents, stats.articles, stats.related) == (1, 1, 0)


# -- the JSON shape (issue 2) ------------------------------------------------------------------------

HIT_KEYS = {
    "id",
    "kind",
    "path",
    "title",
    "excerpt",
    "url",
    "provider",
    "topics",
    "published",
    "quality",
    "heat",
    "score",
    "snippet",
}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def check_hit_dict(hit: dict[str, Any]) -> None:
    assert HIT_KEYS <= set(hit)
    assert hit["kind"] in {"article", "related"}
    assert set(hit["provider"]) >= {"name", "domain"}
    assert isinstance(hit["topics"], list)
    assert hit["published"] is None or ISO_UTC.fullmatch(hit["published"])
    assert isinstance(hit["score"], (int, float)) and isinstance(hit["snippet"], str)
    assert isinstance(hit["id"], str) and isinstance(hit["path"], str) and isinstance(hit["title"], str)


def test_result_page_json_shape(ix: Index) -> None:
    page = ix.search("facial recognition", limit=100)
    data = json.loads(json.dumps(page.to_dict()))
    assert {"query", "total", "page", "hits", "facets"} <= set(data)
    assert (data["query"], data["total"], data["page"]) == ("facial recognition", page.total, 1)
    assert set(data["facets"]) >= {"topics", "providers", "years"}
    assert all(isinstance(v, int) for facet in data["facets"].values() for v in facet.values())
    assert {h["kind"] for h in data["hits"]} == {"article", "related"}
    for hit in data["hits"]:
        check_hit_dict(hit)
    assert [h["id"] for h in data["hits"]] == [h.id for h in page.hits]


def test_hit_json_values(ix: Index) -> None:
    (dated,) = [h for h in ix.search("wework").hits]
    data = dated.to_dict()
    check_hit_dict(data)
    record = load_record(ORIGINAL)
    (stub,) = [s for s in record.related if s.title == dated.title]
    assert stub.published is not None
    assert data["published"] == stub.published.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["kind"] == "related" and data["url"] == stub.url
    assert data["provider"] == {"name": stub.provider.name, "domain": stub.provider.domain}

    (undated,) = ix.search("deepfake").hits
    assert undated.published is None and undated.to_dict()["published"] is None
    check_hit_dict(undated.to_dict())


def test_published_is_utc_whatever_the_record_offset(ix: Index) -> None:
    # 024 is dated 2024-03-19T12:45:00+09:00 in its file.
    (hit,) = ix.search("日銀").hits
    assert hit.to_dict()["published"] == "2024-03-19T03:45:00Z"


def test_page_without_facets_still_has_the_shape(ix: Index) -> None:
    data = json.loads(json.dumps(ix.search("storm", facets=False).to_dict()))
    assert {"query", "total", "page", "hits", "facets"} <= set(data)
    for hit in data["hits"]:
        check_hit_dict(hit)


# -- argument types (review2, finding 8) ---------------------------------------------


@pytest.mark.parametrize("parameter", ["topics", "providers", "boost"])
def test_none_is_no_filter_and_no_boost(seed_index: Index, parameter: str) -> None:
    assert seed_index.search("police", **{parameter: None}) == seed_index.search("police")


@pytest.mark.parametrize(
    "parameter, value",
    [
        ("topics", [1]),
        ("topics", ["AI", None]),
        ("topics", 7),
        ("topics", b"AI"),
        ("providers", [b"ft.com"]),
        ("providers", {"name": "ft.com"}),
        ("boost", [None]),
        ("boost", 2.0),
        # A flag taken by its truth: raw="no" parsed the query as Whoosh syntax.
        ("raw", "no"),
        ("facets", "no"),
        ("collapse", 0),
        ("explain", "yes"),
        ("suggest", None),
        ("feedback", 1),
        ("published", "no"),
        ("published", 0),
    ],
)
def test_a_value_of_the_wrong_type_is_a_usage_error_naming_the_parameter(
    seed_index: Index, parameter: str, value: object
) -> None:
    with pytest.raises(UsageError) as caught:
        seed_index.search("police", **{parameter: value})
    assert caught.value.option == parameter
    assert f"`{parameter}`" in str(caught.value)


@pytest.mark.parametrize(
    "call, parameter",
    [
        (lambda ix: ix.get(None), "id"),
        (lambda ix: ix.similar(None), "id"),
        (lambda ix: ix.get(42), "id"),
        (lambda ix: ix.suggest(None), "prefix"),
        (lambda ix: ix.suggest(b"cli"), "prefix"),
    ],
)
def test_an_id_or_prefix_that_is_not_a_str_is_a_usage_error(seed_index: Index, call: Any, parameter: str) -> None:
    with pytest.raises(UsageError) as caught:
        call(seed_index)
    assert caught.value.option == parameter and f"`{parameter}` must be a str" in str(caught.value)


_ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=5,
)
_PARAMETERS = [
    "topics", "providers", "boost", "since", "until", "published", "sort", "limit", "page",
    "raw", "facets", "collapse", "explain", "feedback", "suggest", "time_limit",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(parameter=st.sampled_from(_PARAMETERS), value=_ANY_VALUE)
def test_a_search_with_any_argument_answers_or_raises_a_search_error_naming_it(
    seed_index_dir: Path, parameter: str, value: object
) -> None:
    with open_index(seed_index_dir) as ix:
        try:
            page = ix.search("police", **{parameter: value})
        except UsageError as exc:
            assert exc.option == parameter, (parameter, value, exc)
        except SearchError:
            pass  # a raw query that does not parse, say: a user's error all the same
        else:
            assert page.total >= 0
