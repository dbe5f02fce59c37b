"""Saved searches (search.alerts): the library, matching inside reindex runs, and the files.

The rule under test everywhere: after a run, each alert's matches are
exactly what `search query` (same text and filters, --no-collapse) finds
among the articles that run added or changed, each recorded once, ever.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS, render_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search import build_index, open_index
from search.alerts import Alerts
from search.alerts.files import AlertFiles
from search.alerts.matching import STREAM_RATIO
from search.errors import (
    AlertExistsError,
    AlertNameError,
    AlertNotFoundError,
    AlertsCorruptError,
    IndexBusyError,
    IndexNotFoundError,
    QueryError,
    UsageError,
)
from search.storage.schema import SCHEMA_VERSION
from search.storage.store import Store

WORDS = ("grain", "wheat", "oil", "crude", "bank", "rates", "moon", "storm")


def article(title: str, body: str = "", *, topics: tuple[str, ...] = (), date: str = "2021-05-01", **extra: str) -> str:
    front = [f"title: {json.dumps(title)}", f"publishedDateTime: {date}T10:00:00Z"]
    if topics:
        front.append("topics: [" + ", ".join(topics) + "]")
    front += [f"{k}: {json.dumps(v)}" for k, v in extra.items()]
    return render_record("\n".join(front), body or None)


@pytest.fixture()
def archive(tmp_path: Path) -> tuple[Path, Path]:
    """(records folder, index) of the seeds, already indexed."""
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    index = tmp_path / "index"
    build_index([records], index)
    return records, index


def put(records: Path, name: str, text: str) -> Path:
    path = records / "new" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def matched(index: Path, name: str) -> list[tuple[str, str]]:
    return [(m.path, m.title) for m in Alerts(index).show(name, limit=1000).matches]


def query_among(index: Path, paths: set[str], text: str, **filters: Any) -> set[str]:
    """What `search query` finds among `paths` (articles only, every copy)."""
    with open_index(index) as ix:
        page = ix.search(text, limit=1000, collapse=False, feedback=False, suggest=False, facets=False, **filters)
    return {h.path for h in page.hits if h.kind == "article" and h.path in paths}


# -- the library ------------------------------------------------------------------------------


def test_add_list_show_remove_through_open_index(archive: tuple[Path, Path]) -> None:
    records, index = archive
    with open_index(index) as ix:
        alert = ix.alerts.add("grain", "wheat OR grain", topics=["Markets"], boost=["recency"])
    assert (alert.name, alert.query, alert.topics, alert.boost) == (
        "grain",
        "wheat OR grain",
        ("Markets",),
        ("recency",),
    )
    [summary] = Alerts(index).list()
    assert (summary.alert, summary.matches, summary.last_cursor) == (alert, 0, 0)
    assert Alerts(index).show("grain").to_dict() == {"alert": alert.to_dict(), "matches": [], "next_cursor": 0}
    assert Alerts(index).remove("grain") == alert
    assert Alerts(index).list() == ()
    with pytest.raises(AlertNotFoundError, match="no alert named 'grain'"):
        Alerts(index).show("grain")


def test_new_and_changed_articles_are_matched_once_ever(archive: tuple[Path, Path]) -> None:
    records, index = archive
    alerts = Alerts(index)
    alerts.add("wheat", "wheat")
    before = build_index([records], index)
    assert before.alerts.matches == ()  # the archive indexed before the alert is not news
    a = put(records, "a.md", article("Wheat harvest up"))
    b = put(records, "b.md", article("Oil prices fall"))
    first = build_index([records], index)
    assert first.alerts.matches == (("wheat", 1),)
    assert matched(index, "wheat") == [(str(a), "Wheat harvest up")]

    a.write_text(article("Wheat harvest up again"), "utf-8")  # an edit of a delivered article
    b.write_text(article("Oil prices fall, wheat steady"), "utf-8")  # now it matches, for the first time
    second = build_index([records], index)
    assert second.alerts.matches == (("wheat", 1),)
    page = alerts.show("wheat")
    assert [(m.path, m.title) for m in page.matches] == [
        (str(a), "Wheat harvest up"),
        (str(b), "Oil prices fall, wheat steady"),
    ]
    cursors = [m.cursor for m in page.matches]
    assert cursors == sorted(cursors) and len(set(cursors)) == 2
    assert alerts.show("wheat", since=cursors[0]).matches == page.matches[1:]
    assert alerts.show("wheat", since=cursors[1]).to_dict()["matches"] == []
    assert alerts.show("wheat", limit=1).next_cursor == cursors[0]
    assert build_index([records], index).alerts.matches == ()  # nothing new, nothing matched


def test_a_match_records_the_article_and_the_run(archive: tuple[Path, Path]) -> None:
    records, index = archive
    Alerts(index).add("moon", "moon landing")
    path = put(records, "m.md", article("Moon landing", webUrl="https://example.com/moon", date="2024-01-19"))
    build_index([records], index)
    (shown,) = Alerts(index).show("moon").to_dict()["matches"]
    assert list(shown) == ["id", "path", "title", "url", "published", "matched_at", "cursor"]
    with open_index(index) as ix:
        stored = ix.get(str(path))
    assert shown["id"] == stored.id and shown["path"] == str(path) and shown["title"] == "Moon landing"
    assert shown["url"] == "https://example.com/moon" and shown["published"] == "2024-01-19T10:00:00Z"
    assert shown["matched_at"].endswith("Z") and shown["cursor"] == 1


def test_filters_and_operators_match_as_search_query_does(archive: tuple[Path, Path]) -> None:
    records, index = archive
    alerts = Alerts(index)
    alerts.add("ag", "wheat", topics=["Farming"])
    alerts.add("req", "+oil crude -palm")
    alerts.add("phrase", '"central bank"', since="2022", providers=["example.com"])
    alerts.add("browse", "", topics=["farming"])  # no words: every new article in the topic
    new = {
        put(records, "1.md", article("Wheat prices", topics=("Farming",))),
        put(records, "2.md", article("Wheat imports", topics=("Trade",))),
        put(records, "3.md", article("Crude oil rises")),
        put(records, "4.md", article("Palm oil and crude")),
        put(records, "5.md", article("Crude awakening")),
        put(records, "6.md", article("Central bank raises rates", date="2023-02-02", provider="x")),
        put(
            records,
            "7.md",
            render_record(
                'title: "Central bank holds"\npublishedDateTime: 2023-03-03T00:00:00Z\n'
                "provider: {name: Ex, domain: www.example.com}"
            ),
        ),
        put(
            records,
            "8.md",
            render_record(
                'title: "Bank central to plans"\npublishedDateTime: 2023-03-03T00:00:00Z\n'
                "provider: {name: Ex, domain: example.com}"
            ),
        ),
    }
    build_index([records], index)
    paths = {str(p) for p in new}
    expected = {
        "ag": query_among(index, paths, "wheat", topics=["Farming"]),
        "req": query_among(index, paths, "+oil crude -palm"),
        "phrase": query_among(index, paths, '"central bank"', since="2022", providers=["example.com"]),
        "browse": query_among(index, paths, "", topics=["farming"]),
    }
    assert expected == {
        "ag": {str(records / "new/1.md")},
        "req": {str(records / "new/3.md")},
        "phrase": {str(records / "new/7.md")},
        "browse": {str(records / "new/1.md")},
    }
    for name, paths_ in expected.items():
        assert {p for p, _ in matched(index, name)} == paths_, name


def test_full_rebuild_keeps_alerts_and_sends_nothing_old_again(archive: tuple[Path, Path]) -> None:
    records, index = archive
    Alerts(index).add("storm", "storm")
    old = put(records, "s1.md", article("Storm warning"))
    build_index([records], index)
    gen_before = Store(index).current_name()
    put(records, "s2.md", article("Storm passes"))
    report = build_index([records], index, full=True)
    assert Store(index).current_name() != gen_before  # a new generation was swapped in
    assert report.alerts.matches == (("storm", 1),)  # only the file the old generation lacked
    assert [p for p, _ in matched(index, "storm")] == [str(old), str(records / "new/s2.md")]
    assert (index / "alerts" / "alerts.json").exists()


def test_the_rebuild_after_an_upgrade_sends_nothing_old_again(archive: tuple[Path, Path]) -> None:
    records, index = archive
    put(records, "s1.md", article("Storm warning"))
    build_index([records], index)
    Alerts(index).add("storm", "storm")  # saved after s1 was indexed: s1 is not news to it
    manifest = Store(index).current_dir() / "manifest.json"
    written = json.loads(manifest.read_text("utf-8"))
    manifest.write_text(json.dumps({**written, "schema_version": SCHEMA_VERSION - 1}), "utf-8")
    put(records, "s2.md", article("Storm passes"))
    report = build_index([records], index)  # an ordinary run rebuilds the outdated index
    assert report.full
    # The previous generation was read, of its older schema: only s2 is new.
    assert report.alerts.matches == (("storm", 1),)
    assert [p for p, _ in matched(index, "storm")] == [str(records / "new/s2.md")]


def test_renamed_file_is_a_new_article_and_deleted_ones_keep_their_matches(archive: tuple[Path, Path]) -> None:
    records, index = archive
    Alerts(index).add("grain", "grain")
    first = put(records, "g.md", article("Grain exports"))
    build_index([records], index)
    first.rename(first.with_name("g2.md"))
    build_index([records], index)
    assert [p for p, _ in matched(index, "grain")] == [str(first), str(first.with_name("g2.md"))]


# -- hypothesis: the same set as search query, for any query over a small vocabulary ---------------

TOKENS = st.sampled_from([*WORDS, *(f"+{w}" for w in WORDS), *(f"-{w}" for w in WORDS), '"crude oil"', "OR", "the"])


@pytest.fixture(scope="module")
def vocabulary_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, set[str]]:
    """An archive of seeds plus 40 new two-to-four word articles indexed after it."""
    root = tmp_path_factory.mktemp("vocab")
    records = root / "records"
    shutil.copytree(SEEDS, records)
    index = root / "index"
    build_index([records], index)
    new = set()
    for i in range(40):
        words = [WORDS[(i * k + k) % len(WORDS)] for k in range(1, 2 + i % 3)]
        topics = ("Energy",) if i % 3 == 0 else ("Farming",)
        new.add(str(put(records, f"v{i:02d}.md", article(" ".join(words), topics=topics))))
    build_index([records], index)
    return records, index, new


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tokens=st.lists(TOKENS, min_size=0, max_size=5), topic=st.sampled_from([None, "energy", "Farming"]))
def test_matching_a_run_equals_search_query_among_its_articles(
    vocabulary_index: tuple[Path, Path, set[str]], tokens: list[str], topic: str | None
) -> None:
    import search.alerts.matching as matching
    from search.alerts.files import Alert
    from search.alerts.matching import compile_alert, evaluate, live_articles
    from search.storage.schema import doc_id

    _records, index, new = vocabulary_index
    text = " ".join(tokens)
    alert = Alert("p", text, topics=(topic,) if topic else ())
    expected = query_among(index, new, text, **({"topics": [topic]} if topic else {}))
    _gen, ix = Store(index).open()
    try:
        with ix.searcher() as searcher:
            docs = live_articles(searcher, {doc_id(p): "" for p in new})
            # Both ways of asking a segment: streaming with skip_to, and preloading its matches.
            for ratio in (0, 10**9):
                matching.STREAM_RATIO = ratio
                found = evaluate(searcher, [compile_alert(searcher, alert)], docs).get("p", [])
                assert {searcher.stored_fields(d)["path"] for d in found} == expected, ratio
    finally:
        matching.STREAM_RATIO = STREAM_RATIO
        ix.close()


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a/b",
        "../x",
        "a\\b",
        "x\x00y",
        "tab\there",
        "new\nline",
        "-dash",
        ".hidden",
        "sp ace",
        "x" * 10_000,
        "é\u0301",
    ],
)
def test_hostile_names_are_refused_with_what_is_allowed(archive: tuple[Path, Path], name: str) -> None:
    _records, index = archive
    with pytest.raises(AlertNameError) as caught:
        Alerts(index).add(name, "oil")
    assert "invalid alert name" in str(caught.value) and "letters, digits" in (caught.value.hint or "")
    assert len(str(caught.value)) < 120  # a 10,000-character name is not echoed whole
    assert not (index / "alerts").exists() or Alerts(index).list() == ()


def test_names_in_any_script_are_fine(archive: tuple[Path, Path]) -> None:
    _records, index = archive
    assert Alerts(index).add("élections-2024", "vote").name == "élections-2024"
    assert Alerts(index).add("選挙", "vote").name == "選挙"


def test_duplicate_and_unknown_names(archive: tuple[Path, Path]) -> None:
    _records, index = archive
    Alerts(index).add("oil", "oil")
    with pytest.raises(AlertExistsError, match="an alert named 'oil' already exists"):
        Alerts(index).add("oil", "crude")
    for call in (Alerts(index).remove, Alerts(index).show, Alerts(index).test, Alerts(index).get):
        with pytest.raises(AlertNotFoundError, match="no alert named 'gas'") as caught:
            call("gas")
        assert "oil" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("query", "filters", "error"),
    [
        ("oil", {"since": "yesterday"}, UsageError),
        ("oil", {"since": "2021", "until": "2020"}, UsageError),
        ("oil", {"boost": ["speed"]}, UsageError),
        ("titel:oil", {"raw": True}, QueryError),
        ("the", {"raw": True}, QueryError),
    ],
)
def test_invalid_query_or_filters_are_refused_with_search_querys_message(
    archive: tuple[Path, Path], query: str, filters: dict[str, Any], error: type[Exception]
) -> None:
    _records, index = archive
    search_filters = dict(filters)
    with open_index(index) as ix, pytest.raises(error) as by_query:
        ix.search(query, **search_filters)
    with pytest.raises(error) as by_add:
        Alerts(index).add("bad", query, **filters)
    assert str(by_add.value) == str(by_query.value) and by_add.value.hint == by_query.value.hint
    assert Alerts(index).list() == ()


def test_add_needs_an_index_and_the_writer_lock(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError):
        Alerts(tmp_path / "none").add("oil", "oil")
    index = tmp_path / "index"
    build_index([SEEDS], index)
    with Store(index).writer_lock(), pytest.raises(IndexBusyError):
        Alerts(index).add("oil", "oil")


# -- the files ------------------------------------------------------------------------------


def test_files_are_plain_json_a_person_can_read(archive: tuple[Path, Path]) -> None:
    records, index = archive
    Alerts(index).add("wheat", "wheat", topics=["Farming"])
    put(records, "w.md", article("Wheat", topics=("Farming",)))
    build_index([records], index)
    definitions = json.loads((index / "alerts" / "alerts.json").read_text("utf-8"))
    assert definitions["format"] == 1 and definitions["alerts"][0]["query"] == "wheat"
    lines = (index / "alerts" / "matches.jsonl").read_text("utf-8").splitlines()
    assert [json.loads(line)["alert"] for line in lines] == ["wheat"]
    assert not (index / "alerts" / "pending.jsonl").exists()  # the journal is gone after a clean run
    assert not list((index / "alerts").glob("*.tmp"))


def test_a_torn_last_line_is_ignored_and_cut_off_by_the_next_append(archive: tuple[Path, Path]) -> None:
    records, index = archive
    Alerts(index).add("wheat", "wheat")
    put(records, "w1.md", article("Wheat one"))
    build_index([records], index)
    log = index / "alerts" / "matches.jsonl"
    with open(log, "ab") as handle:
        handle.write(b'{"alert": "wheat", "id": "dead')  # a crash in the middle of an append
    assert [t for _, t in matched(index, "wheat")] == ["Wheat one"]
    put(records, "w2.md", article("Wheat two"))
    build_index([records], index)
    assert [t for _, t in matched(index, "wheat")] == ["Wheat one", "Wheat two"]
    assert all(json.loads(line) for line in log.read_text("utf-8").splitlines())


def test_removing_keeps_cursors_rising_and_a_new_alert_of_that_name_starts_clean(archive: tuple[Path, Path]) -> None:
    records, index = archive
    alerts = Alerts(index)
    alerts.add("a", "wheat")
    alerts.add("b", "oil")
    put(records, "1.md", article("Wheat"))
    put(records, "2.md", article("Oil"))
    build_index([records], index)
    last = max(m.cursor for m in alerts.show("b").matches)
    alerts.remove("b")
    alerts.add("b", "oil OR wheat")
    assert alerts.show("b").matches == ()
    put(records, "3.md", article("Oil again"))
    build_index([records], index)
    assert [m.cursor > last for m in alerts.show("b").matches] == [True]


def test_corrupt_alerts_file_never_stops_the_reindex_and_its_articles_wait(archive: tuple[Path, Path]) -> None:
    from search.indexing.check import check_index

    records, index = archive
    Alerts(index).add("wheat", "wheat")
    definitions = index / "alerts" / "alerts.json"
    good = definitions.read_text("utf-8")
    definitions.write_text(good[:40], "utf-8")  # truncated by hand or by a bad disk
    put(records, "w.md", article("Wheat while broken"))
    report = build_index([records], index)
    assert report.added == 1
    assert report.alerts.problems and "alerts.json" in report.alerts.problems[0]
    with open_index(index) as ix:
        assert ix.search("broken").total == 1  # the article was indexed
    problems = [p for p in check_index(index).problems if p.kind == "alerts"]
    assert problems and "alerts.json" in problems[0].detail and "not valid JSON" in problems[0].detail
    with pytest.raises(AlertsCorruptError):
        Alerts(index).list()

    definitions.write_text(good, "utf-8")  # fixed: the waiting article is matched by the next run
    fixed = build_index([records], index)
    assert fixed.alerts.matches == (("wheat", 1),) and fixed.alerts.problems == ()
    assert [t for _, t in matched(index, "wheat")] == ["Wheat while broken"]
    assert check_index(index).ok


def test_an_alert_broken_by_hand_is_skipped_and_reported(archive: tuple[Path, Path]) -> None:
    from search.indexing.check import check_index

    records, index = archive
    Alerts(index).add("good", "wheat")
    Alerts(index).add("bad", "wheat")
    path = index / "alerts" / "alerts.json"
    value = json.loads(path.read_text("utf-8"))
    value["alerts"][1]["since"] = "someday"
    path.write_text(json.dumps(value), "utf-8")
    put(records, "w.md", article("Wheat"))
    report = build_index([records], index)
    assert report.alerts.matches == (("good", 1),)
    assert any("'bad'" in p and "someday" in p for p in report.alerts.problems)
    assert any("'bad'" in p.detail for p in check_index(index).problems)


def _words(prefix: str, count: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    # (stemming merges a few: "zqaas" is "zqaa")
    return " ".join(prefix + letters[i // 676] + letters[i // 26 % 26] + letters[i % 26] for i in range(count))


def test_a_raw_alert_whose_wildcard_outgrows_the_budget_is_reported_not_a_failed_run(
    archive: tuple[Path, Path],
) -> None:
    from search.indexing.check import check_index
    from search.planning.syntax import MAX_EXPANSION

    records, index = archive
    Alerts(index).add("zq", "zq*", raw=True)  # few zq words yet: accepted
    Alerts(index).add("wheat", "wheat")
    put(records, "words.md", article("Wheat and a glossary", _words("zq", 2 * MAX_EXPANSION)))
    report = build_index([records], index)
    assert report.added == 1
    assert report.alerts.matches == (("wheat", 1),)
    assert any("'zq'" in p and f"more than {MAX_EXPANSION:,} terms" in p for p in report.alerts.problems)
    assert any("'zq'" in p.detail for p in check_index(index).problems)


def test_a_raw_alert_wildcard_within_the_budget_matches_as_search_query(archive: tuple[Path, Path]) -> None:
    records, index = archive
    Alerts(index).add("zq", "zq* AND title:glossary", raw=True)
    new = put(records, "words.md", article("A glossary", _words("zq", 50)))
    put(records, "other.md", article("Another glossary"))
    report = build_index([records], index)
    assert report.alerts.matches == (("zq", 1),) and report.alerts.problems == ()
    assert [path for path, _title in matched(index, "zq")] == [str(new)]
    assert query_among(index, {str(new), str(records / "new" / "other.md")}, "zq* AND title:glossary", raw=True) == {
        str(new)
    }


def test_alert_files_are_outside_every_generation(archive: tuple[Path, Path]) -> None:
    _records, index = archive
    Alerts(index).add("x", "x")
    assert AlertFiles(index).folder.parent == index
    assert not any(p.name == "alerts" for gen in index.glob("gen-*") for p in gen.iterdir())


# -- delivery ---------------------------------------------------------------------------------


def test_exec_gets_the_new_matches_as_json_lines_and_a_failure_is_retried(
    archive: tuple[Path, Path], tmp_path: Path
) -> None:
    records, index = archive
    inbox = tmp_path / "got.jsonl"
    flag = tmp_path / "fail"
    flag.write_text("")
    command = (
        f'test ! -e {flag} || {{ echo "mailer down" >&2; exit 7; }}; '
        f'cat >> {inbox}; echo "$SEARCH_ALERT $SEARCH_ALERT_COUNT" >> {inbox}.env'
    )
    Alerts(index).add("wheat", "wheat", exec=command)
    put(records, "1.md", article("Wheat one"))
    failed = build_index([records], index)
    assert failed.added == 1 and failed.alerts.matches == (("wheat", 1),) and failed.alerts.delivered == ()
    (problem,) = failed.alerts.problems
    assert "alert 'wheat'" in problem and "exit status 7: mailer down" in problem and "again next run" in problem
    assert not inbox.exists()

    flag.unlink()  # the mailer is back: the next run hands over the old match and the new one
    put(records, "2.md", article("Wheat two"))
    ok = build_index([records], index)
    assert ok.alerts.delivered == (("wheat", 2),) and ok.alerts.problems == ()
    lines = [json.loads(line) for line in inbox.read_text("utf-8").splitlines()]
    assert [(d["alert"], d["title"]) for d in lines] == [("wheat", "Wheat one"), ("wheat", "Wheat two")]
    assert set(lines[0]) == {"alert", "id", "path", "title", "url", "published", "matched_at", "cursor"}
    assert (tmp_path / "got.jsonl.env").read_text() == "wheat 2\n"
    assert build_index([records], index).alerts.delivered == ()  # nothing new, nothing sent


def test_a_hung_command_is_killed_and_never_blocks_the_index(
    archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from search.alerts import delivery

    records, index = archive
    monkeypatch.setattr(delivery, "EXEC_TIMEOUT", 0.5)
    Alerts(index).add("wheat", "wheat", exec="sleep 30")
    put(records, "1.md", article("Wheat"))
    report = build_index([records], index)
    assert report.added == 1 and "killed" in report.alerts.problems[0]
    with Store(index).writer_lock():  # the index lock was released before delivery
        pass


def test_file_delivery_appends_each_match_once(archive: tuple[Path, Path], tmp_path: Path) -> None:
    records, index = archive
    out = tmp_path / "out" / "wheat.jsonl"
    Alerts(index).add("wheat", "wheat", file=out)
    put(records, "1.md", article("Wheat one"))
    build_index([records], index)
    # A crash after the append but before the cursor was saved: the next run must not write it again.
    AlertFiles(index).write_delivered({})
    put(records, "2.md", article("Wheat two"))
    build_index([records], index)
    titles = [json.loads(line)["title"] for line in out.read_text("utf-8").splitlines()]
    assert titles == ["Wheat one", "Wheat two"]


def test_the_package_exports_its_names_and_import_search_stays_light() -> None:
    import subprocess
    import sys

    import search.alerts

    assert sorted(search.alerts.__all__) == ["Alert", "AlertMatches", "AlertSummary", "Alerts", "Match", "check_alerts"]
    for name in search.alerts.__all__:
        assert getattr(search.alerts, name).__name__ == name
    code = "import sys, search.alerts.run; print(sorted(m for m in sys.modules if m.startswith('search.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(done.stdout.replace("'", '"'))
    # The indexer's import of the run hook brings no query engine, delivery or CLI along.
    assert not {"search.backends.query", "search.alerts.matching", "search.alerts.delivery", "search.cli.main"} & set(loaded)


def test_search_watch_runs_match_too(archive: tuple[Path, Path]) -> None:
    import threading

    from search.indexing.watch import watch

    records, index = archive
    Alerts(index).add("wheat", "wheat")
    put(records, "1.md", article("Wheat"))
    reports: list[Any] = []
    watch([records], index, every=0.01, stop=threading.Event(), max_runs=2, on_report=reports.append)
    assert [r.alerts.matches for r in reports] == [(("wheat", 1),), ()]
    assert [t for _, t in matched(index, "wheat")] == ["Wheat"]


def test_a_failing_alerts_disk_warns_and_the_articles_are_indexed(
    archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    records, index = archive
    Alerts(index).add("wheat", "wheat")

    def full(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    for name in ("append_pending", "append_matches", "clear_pending"):
        monkeypatch.setattr(AlertFiles, name, full)
    put(records, "1.md", article("Wheat"))
    report = build_index([records], index)
    assert report.added == 1 and len(report.alerts.problems) == 2
    assert all("No space left on device" in p for p in report.alerts.problems)
    with open_index(index) as ix:
        assert ix.search("wheat").total >= 1


def test_alerts_sharing_a_file_lose_nothing_after_a_failed_delivery(tmp_path: Path) -> None:
    # The file's last line was taken as this alert's last delivery, whichever alert wrote it:
    # a failed delivery of one alert, retried after another's later lines, was cut to nothing.
    records, index, out = tmp_path / "records", tmp_path / "index", tmp_path / "all.jsonl"
    records.mkdir()
    seeds = sorted(SEEDS.glob("0*.md"))
    later = [p for p in seeds if p.name < "030"]
    for path in seeds:
        if path not in later:
            shutil.copy(path, records / path.name)
    build_index([records], index)
    with open_index(index) as ix:
        ix.alerts.add("police", "police", file=str(out))
        ix.alerts.add("face", "facial", file=str(out))
    out.mkdir()  # the next run's deliveries fail
    for path in later[:5]:
        shutil.copy(path, records / path.name)
    build_index([records], index)
    out.rmdir()
    for path in later[5:]:
        shutil.copy(path, records / path.name)
    build_index([records], index)
    written = [(line["alert"], line["cursor"]) for line in map(json.loads, out.read_text().splitlines())]
    with open_index(index) as ix:
        logged = {(m.alert, m.cursor) for name in ("police", "face") for m in ix.alerts.show(name).matches}
    assert {alert for alert, _ in logged} == {"police", "face"}  # premise: both alerts matched
    assert sorted(written) == sorted(logged)


def test_matching_against_an_index_of_no_documents_finds_nothing(tmp_path: Path) -> None:
    # What a --full build whose parallel sub-writers all died commits, before it is refused (review2 s10 #5).
    from search.alerts.matching import live_articles

    empty = tmp_path / "empty"
    empty.mkdir()
    build_index([empty], tmp_path / "ix")
    _gen, ix = Store(tmp_path / "ix").open()
    try:
        with ix.searcher() as searcher:
            assert live_articles(searcher, {"0123456789abcdef": ""}) == {}
    finally:
        ix.close()


def test_a_full_build_refused_by_its_count_check_matches_no_alert(
    archive: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A parallel --full whose sub-writer died holds fewer documents than were written: it is
    # refused, and its articles were matched first, so the log held matches of a generation
    # never published (review2 s10 #5).
    import search.indexing.indexer as indexer
    from search.errors import SearchError

    records, index = archive
    Alerts(index).add("quokka", "quokka")
    put(records, "q.md", article("Quokka census"))
    real = indexer.check_count
    monkeypatch.setattr(indexer, "check_count", lambda ix, expected: real(ix, expected + 1))
    with pytest.raises(SearchError, match="it was not published"):
        build_index([records], index, full=True)
    assert matched(index, "quokka") == []
    monkeypatch.undo()
    report = build_index([records], index, full=True)
    assert report.alerts.matches == (("quokka", 1),)
    assert [title for _path, title in matched(index, "quokka")] == ["Quokka census"]


@pytest.mark.parametrize("name", ["matches.jsonl", "pending.jsonl", "alerts.json", "delivered.json"])
def test_a_fifo_at_an_alerts_file_is_refused_naming_it_and_nothing_is_lost(
    archive: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    # A plain open() of a FIFO waits for the other end for ever: the run hung.
    # In a subprocess with a timeout, so that the hang fails the test instead of the suite.
    records, index = archive
    delivered = tmp_path / "delivered.jsonl"
    Alerts(index).add("wheat", "wheat", file=delivered)
    put(records, "w1.md", article("Wheat one"))
    build_index([records], index)
    path = index / "alerts" / name
    kept = path.read_bytes() if path.exists() else None
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    put(records, "w2.md", article("Wheat two"))
    run = [sys.executable, "-m", "search", "index", str(records), "--index", str(index)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "1 added" in done.stdout
    assert f"{path}" in done.stderr and "a FIFO, not a regular file" in done.stderr
    path.unlink()
    if kept is not None:
        path.write_bytes(kept)
    build_index([records], index)  # the user puts the file back: the match was kept for it
    assert [t for _, t in matched(index, "wheat")] == ["Wheat one", "Wheat two"]
    assert [json.loads(line)["title"] for line in delivered.read_text("utf-8").splitlines()] == ["Wheat one", "Wheat two"]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"raw": "yes"}, "`raw` must be True or False, not 'yes'"),
        ({"published": 1}, "`published` must be True, False or None, not 1"),
        ({"exec": 5}, "`exec` must be a str (a shell command), not int"),
        ({"file": 5}, "`file` must be a str or a path, not int"),
        ({"topics": 5}, "`topics` must be a str or a list of them, not int"),
        ({"boost": None}, "`boost` must be a str or a list of them, not NoneType"),
    ],
)
def test_add_refuses_values_of_the_wrong_type_and_keeps_the_definitions_readable(
    archive: tuple[Path, Path], given: dict[str, Any], said: str
) -> None:
    # add(raw="yes") was saved, and alerts.json then read as damaged ("expected true,
    # false or null, not 'yes'"): every alert command failed until a hand edit.
    _records, index = archive
    alerts = Alerts(index)
    alerts.add("kept", "wheat")
    with pytest.raises(UsageError) as caught:
        alerts.add("bad", "wheat", **given)
    assert str(caught.value) == said and caught.value.option == said[1 : said.index("`", 1)]
    assert [s.alert.name for s in alerts.list()] == ["kept"]


@pytest.mark.parametrize("since", ["a", 1.5, None, True])
def test_show_refuses_a_cursor_that_is_no_whole_number(archive: tuple[Path, Path], since: Any) -> None:
    _records, index = archive
    Alerts(index).add("wheat", "wheat")
    with pytest.raises(UsageError) as caught:
        Alerts(index).show("wheat", since=since)
    assert str(caught.value) == f"`since` must be a cursor (0 or more), not {since!r}"
