"""`search alert add|list|show|rm|test` through CliRunner: exit codes, stdout, stderr, JSON shapes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import SEEDS, render_record
from typer.testing import CliRunner, Result

from search import build_index
from search.cli.main import EXIT_BUG, app
from search.storage.store import Store

RUNNER = CliRunner(env={"COLUMNS": "400"})


def run(*args: object) -> Result:
    result = RUNNER.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}") from result.exception
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code != EXIT_BUG, result.stderr  # a bug said as one is still a crash
    return result


def run_json(*args: object) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path]:
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    index = tmp_path / "index"
    build_index([records], index)
    return records, index


def drop(records: Path, name: str, title: str, topics: str = "[]") -> Path:
    path = records / "new" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(render_record(f'title: "{title}"\npublishedDateTime: 2021-01-01T00:00:00Z\ntopics: {topics}'))
    return path


def test_the_worked_example_add_run_show_poll_rm(setup: tuple[Path, Path]) -> None:
    records, index = setup
    added = run("alert", "add", "grain", "wheat OR grain", "--topic", "Farming", "--index", index)
    assert added.exit_code == 0 and "Saved alert grain" in added.stdout and added.stderr == ""
    first = drop(records, "a.md", "Wheat harvest", "[Farming]")
    drop(records, "b.md", "Wheat harvest", "[Other]")
    indexed = run("index", records, "--index", index)
    assert indexed.exit_code == 0 and "new alert matches: grain 1" in indexed.stdout

    shown = run_json("alert", "show", "grain", "--index", index)
    assert list(shown) == ["alert", "matches", "next_cursor"]
    assert shown["alert"]["name"] == "grain" and shown["alert"]["topics"] == ["Farming"]
    [match] = shown["matches"]
    assert list(match) == ["id", "path", "title", "url", "published", "matched_at", "cursor"]
    assert match["path"] == str(first) and shown["next_cursor"] == match["cursor"]
    later = run_json("alert", "show", "grain", "--since", shown["next_cursor"], "--index", index)
    assert later["matches"] == [] and later["next_cursor"] == shown["next_cursor"]
    table = run("alert", "show", "grain", "--index", index)
    assert "Wheat harvest" in table.stdout and f"--since {match['cursor']}" in table.stdout

    listed = run_json("alert", "list", "--index", index)
    assert [(a["name"], a["matches"], a["last_cursor"]) for a in listed["alerts"]] == [("grain", 1, match["cursor"])]
    assert "grain" in run("alert", "list", "--index", index).stdout

    tested = run_json("alert", "test", "grain", "--index", index)
    assert [h["path"] for h in tested["hits"]] == [str(first)]
    removed = run_json("alert", "rm", "grain", "--index", index)
    assert removed["removed"]["name"] == "grain"
    assert run_json("alert", "list", "--index", index) == {"alerts": []}
    assert "No alerts" in run("alert", "list", "--index", index).stdout


@pytest.mark.parametrize("name", ["a/b", "x\x01", "x" * 10_000, ""])
def test_hostile_names_exit_2_with_a_short_message(setup: tuple[Path, Path], name: str) -> None:
    _records, index = setup
    result = run("alert", "add", name, "oil", "--index", index)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid alert name") and "Hint: Use 1 to 64 letters" in result.stderr
    assert len(result.stderr) < 400 and result.stdout == ""


def test_duplicate_and_unknown_names_exit_1(setup: tuple[Path, Path]) -> None:
    _records, index = setup
    assert run("alert", "add", "oil", "oil", "--index", index).exit_code == 0
    again = run("alert", "add", "oil", "gas", "--index", index)
    assert again.exit_code == 1 and "Error: an alert named 'oil' already exists" in again.stderr
    for command in ("show", "rm", "test"):
        missing = run("alert", command, "gas", "--index", index)
        assert missing.exit_code == 1, command
        assert "Error: no alert named 'gas'" in missing.stderr and "Alerts: oil." in missing.stderr


@pytest.mark.parametrize(
    "args",
    [("oil", "--since", "soon"), ("oil", "--since", "2021", "--until", "2020"), ("oil", "--boost", "speed"),
     ("titel:oil", "--raw")],
)  # fmt: skip
def test_bad_query_or_filters_exit_2_with_the_query_commands_words(
    setup: tuple[Path, Path], args: tuple[str, ...]
) -> None:
    _records, index = setup
    by_query = run("query", *args, "--index", index)
    by_add = run("alert", "add", "bad", *args, "--index", index)
    assert by_query.exit_code == by_add.exit_code == 2
    assert by_add.stderr == by_query.stderr and by_add.stderr.startswith("Error: ")
    assert run_json("alert", "list", "--index", index) == {"alerts": []}


def test_add_on_a_busy_index_exits_3(setup: tuple[Path, Path]) -> None:
    _records, index = setup
    with Store(index).writer_lock():
        busy = run("alert", "add", "oil", "oil", "--index", index)
    assert busy.exit_code == 3 and "locked" in busy.stderr


def test_show_limit_pages_with_next_cursor(setup: tuple[Path, Path]) -> None:
    records, index = setup
    run("alert", "add", "all", "", "--topic", "T", "--index", index)
    for i in range(5):
        drop(records, f"{i}.md", f"Story {i}", "[T]")
    run("index", records, "--index", index)
    seen: list[int] = []
    cursor = 0
    while True:
        page = run_json("alert", "show", "all", "--since", cursor, "--limit", 2, "--index", index)
        if not page["matches"]:
            break
        assert len(page["matches"]) <= 2
        seen += [m["cursor"] for m in page["matches"]]
        cursor = page["next_cursor"]
    assert len(seen) == 5 and seen == sorted(set(seen))
    assert run("alert", "show", "all", "--limit", 0, "--index", index).exit_code == 2


def test_check_reports_a_corrupt_alerts_file_and_index_goes_on(setup: tuple[Path, Path]) -> None:
    records, index = setup
    run("alert", "add", "oil", "oil", "--index", index)
    (index / "alerts" / "matches.jsonl").write_text('{"alert": "oil"\nnot json\n', "utf-8")
    checked = run("check", "--index", index)
    assert checked.exit_code == 1 and "alerts" in checked.stdout and "matches.jsonl:1" in checked.stdout
    assert "Fix the alerts file" in checked.stderr
    drop(records, "o.md", "Oil")
    indexed = run("index", records, "--index", index)
    assert indexed.exit_code == 0 and "1 added" in indexed.stdout
    assert "matches.jsonl:1" in indexed.stderr  # the warning, on stderr
    broken = run("alert", "show", "oil", "--index", index)
    assert broken.exit_code == 1 and "matches.jsonl:1" in broken.stderr
