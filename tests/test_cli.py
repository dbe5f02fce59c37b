"""The `search` command through Typer's CliRunner: exit codes, stdout and stderr.

The CLI is a contract (issue 2, plus the CLI-visible parts of issues 3 and
4): its commands, options, JSON shapes and exit codes are asserted here, and
no user mistake may ever produce a Python traceback.  Every invocation goes
through `run()`, which checks that last part each time.

The runner keeps stdout and stderr apart (Typer >= 0.16 vendors Click's
runner with separate streams: `result.stdout`, `result.stderr`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command
from typer.testing import CliRunner, Result

from search import settings
from search.cli.main import EXIT_BUG, app
from search.storage.store import Store

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
README = REPO / "README.md"
ORIGINAL = SEEDS / "000_ca32df7d61dcae32.txt"
N_SEEDS = len(list(SEEDS.iterdir()))

HIT_KEYS = {
    "id", "kind", "path", "title", "excerpt", "url", "provider", "topics",
    "published", "quality", "heat", "score", "snippet",
}  # fmt: skip
PAGE_KEYS = {"query", "total", "page", "hits", "facets"}
REPORT_KEYS = {"added", "updated", "deleted", "unchanged", "skipped", "seconds"}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# A wide terminal, so that Rich does not wrap titles inside table cells.
RUNNER = CliRunner(env={"COLUMNS": "400"})


def _secured_fragment() -> str:
    front = ORIGINAL.read_text("utf-8").split("\n---", 1)[0]
    secured = yaml.safe_load(front.removeprefix("---\n"))["secured"]
    return secured[40:72]


SECURED = _secured_fragment()


def run(*args: object, env: dict[str, str] | None = None) -> Result:
    """Invoke the app; a crash or a traceback fails the test whatever the exit code."""
    result = RUNNER.invoke(app, [str(a) for a in args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {type(result.exception).__name__}: {result.exception}") from result.exception
    assert "Traceback" not in result.stdout
    assert "Traceback" not in result.stderr
    assert result.exit_code != EXIT_BUG, result.stderr  # a bug said as one is still a crash
    return result


def run_json(*args: object, env: dict[str, str] | None = None) -> Any:
    result = run(*args, "--json", env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # exactly one JSON value: trailing text would raise


def query_json(index: Path, text: str, *args: object) -> dict[str, Any]:
    return run_json("query", text, "--index", index, *args)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder with no SEARCH_* variables, so nothing lands in the repo's index/."""
    for setting in settings.SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture()
def seed_copy_index(tmp_path: Path, records: Path) -> Path:
    """An index of the private copy, built through the CLI."""
    index = tmp_path / "ix"
    report = run_json("index", records, "--index", index)
    assert report["added"] == N_SEEDS
    return index


def _article_id(index: Path, path: Path) -> str:
    page = query_json(index, "", "--limit", "1000")
    (found,) = [h["id"] for h in page["hits"] if h["kind"] == "article" and Path(h["path"]).name == path.name]
    return found


# -- index ---------------------------------------------------------------------------


def test_index_defaults_to_seeds_and_index_in_the_current_folder(_isolated: Path) -> None:
    shutil.copytree(SEEDS, _isolated / "seeds")
    report = run_json("index")
    assert report["added"] == N_SEEDS and report["skipped"] == []
    assert (_isolated / "index").is_dir()
    assert run_json("stats")["documents"] >= N_SEEDS


def test_index_json_is_one_object_with_the_report_keys(tmp_path: Path) -> None:
    report = run_json("index", SEEDS, "--index", tmp_path / "ix")
    assert REPORT_KEYS <= report.keys()
    assert (report["added"], report["updated"], report["deleted"], report["unchanged"]) == (N_SEEDS, 0, 0, 0)
    assert report["skipped"] == []
    assert isinstance(report["seconds"], (int, float)) and report["seconds"] >= 0


def test_index_without_json_prints_a_one_line_summary(tmp_path: Path) -> None:
    result = run("index", SEEDS, "--index", tmp_path / "ix")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    assert re.match(rf"^{N_SEEDS} added, 0 updated, 0 deleted, 0 unchanged, 0 skipped\b", lines[0])
    assert result.stderr == ""


def test_index_option_sets_the_folder(tmp_path: Path) -> None:
    index = tmp_path / "elsewhere" / "ix"
    run_json("index", SEEDS, "--index", index)
    assert index.is_dir()
    assert run_json("stats", "--index", index)["documents"] >= N_SEEDS


def test_env_var_sets_the_index_and_the_option_overrides_it(tmp_path: Path) -> None:
    from_env, from_option = tmp_path / "from-env", tmp_path / "from-option"
    env = {settings.INDEX_DIR.env: str(from_env)}
    assert run_json("index", SEEDS, env=env)["added"] == N_SEEDS
    assert from_env.is_dir()
    assert query_json(from_env, "facial")["total"] > 0
    assert run_json("query", "facial", env=env)["total"] > 0  # queries read it too

    assert run_json("index", SEEDS, "--index", from_option, env=env)["added"] == N_SEEDS
    assert from_option.is_dir()
    # The run went to --index: the env's index saw nothing new.
    assert run_json("index", SEEDS, env=env)["unchanged"] == N_SEEDS


def test_second_run_is_incremental_and_sees_edits(records: Path, seed_copy_index: Path) -> None:
    assert run_json("index", records, "--index", seed_copy_index)["unchanged"] == N_SEEDS

    victim = records / "010-bbc-solar-storm-auroras.md"
    victim.write_text(victim.read_text("utf-8").replace("title:", "title: Zanzibarquux", 1), "utf-8")
    (records / "016-reuters-japan-moon-landing.md").unlink()
    report = run_json("index", records, "--index", seed_copy_index)
    assert (report["added"], report["updated"], report["deleted"], report["unchanged"]) == (0, 1, 1, N_SEEDS - 2)
    assert query_json(seed_copy_index, "Zanzibarquux")["total"] == 1


def test_full_rebuilds_everything(records: Path, seed_copy_index: Path) -> None:
    before = run_json("stats", "--index", seed_copy_index)["documents"]
    (records / "016-reuters-japan-moon-landing.md").unlink()
    report = run_json("index", records, "--index", seed_copy_index, "--full")
    assert report["added"] + report["updated"] == N_SEEDS - 1
    assert report["unchanged"] == 0 and report["skipped"] == []
    assert run_json("stats", "--index", seed_copy_index)["documents"] < before


@pytest.fixture()
def one_bad_record(write_record: Any) -> Path:
    good = write_record("good.md", 'title: "A perfectly good record about zeppelins"')
    bad = good.parent / "broken.md"
    bad.write_text("---\ntitle: [unclosed\n---\n", "utf-8")
    return good.parent


def test_bad_record_is_reported_on_stderr_and_the_run_succeeds(one_bad_record: Path, tmp_path: Path) -> None:
    index = tmp_path / "ix"
    result = run("index", one_bad_record, "--index", index)
    assert result.exit_code == 0
    assert "broken.md" in result.stderr
    assert "good.md" not in result.stderr
    assert "1 added" in result.stdout and "1 skipped" in result.stdout
    assert query_json(index, "zeppelins")["total"] == 1


def test_bad_record_in_json_report(one_bad_record: Path, tmp_path: Path) -> None:
    report = run_json("index", one_bad_record, "--index", tmp_path / "ix")
    assert report["added"] == 1
    (skip,) = report["skipped"]
    assert set(skip) >= {"path", "error"}
    assert Path(skip["path"]).name == "broken.md"
    assert skip["error"]


def test_strict_exits_4_when_a_record_is_skipped(one_bad_record: Path, tmp_path: Path) -> None:
    result = run("index", one_bad_record, "--index", tmp_path / "ix", "--strict", "--json")
    assert result.exit_code == 4
    report = json.loads(result.stdout)  # the report is still printed
    assert report["added"] == 1 and len(report["skipped"]) == 1


def test_strict_exits_0_when_every_record_is_good(tmp_path: Path) -> None:
    result = run("index", SEEDS, "--index", tmp_path / "ix", "--strict")
    assert result.exit_code == 0


def test_busy_index_exits_3_and_names_the_holder(seed_copy_index: Path, records: Path) -> None:
    with Store(seed_copy_index).writer_lock():
        result = run("index", records, "--index", seed_copy_index, "--wait", "0.2")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert error_lines(result)
    assert f"pid {os.getpid()}" in result.stderr
    # Free again: the next run works.
    assert run("index", records, "--index", seed_copy_index).exit_code == 0


def test_a_fifo_among_the_records_is_skipped_and_said_once(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "a.md").write_text('---\ntitle: "Alpha"\n---\n', "utf-8")
    os.mkfifo(records / "pipe.md")
    result = run("index", records, "--index", tmp_path / "ix")
    assert result.exit_code == 0, result.stderr
    # It read "skipped PATH: not a regular file; skipped".
    assert f"skipped {records / 'pipe.md'}: not a regular file" in result.stderr.splitlines()


def test_index_of_a_missing_path_is_an_error(tmp_path: Path) -> None:
    result = run("index", tmp_path / "nope", "--index", tmp_path / "ix")
    assert result.exit_code in (1, 2)
    assert "nope" in result.stderr


@pytest.mark.parametrize("full", [[], ["--full"]])
def test_an_empty_path_argument_is_a_usage_error_not_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: list[str]
) -> None:
    # `search index "$RECORDS"` with RECORDS unset: Typer made "" into Path("."),
    # so the job's own folder was indexed (with --full, in place of the records).
    records, job = tmp_path / "records", tmp_path / "job" / "notes"
    records.mkdir()
    (records / "a.md").write_text('---\ntitle: "Alpha aardvark"\n---\nbody\n', "utf-8")
    job.mkdir(parents=True)
    (job / "todo.md").write_text('---\ntitle: "Private todo list"\n---\nbody\n', "utf-8")
    index = tmp_path / "idx"
    assert run("index", "--index", index, records).exit_code == 0
    monkeypatch.chdir(tmp_path / "job")
    for command in (["index", *full, "--index", index, ""], ["check", "--index", index, ""]):
        result = run(*command)
        assert result.exit_code == 2, command
        assert "an empty PATH names no folder" in result.stderr
    listed = run("query", "", "--index", index, "--json")
    assert [hit["title"] for hit in json.loads(listed.stdout)["hits"]] == ["Alpha aardvark"]


def test_index_into_a_file_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "afile"
    not_a_folder.write_text("hello\n", "utf-8")
    result = run("index", SEEDS, "--index", not_a_folder)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {not_a_folder} is not a news-search index: it is a file, not a folder",
        NOT_AN_INDEX_HINT,
    ]
    assert not_a_folder.read_text("utf-8") == "hello\n"


@pytest.mark.parametrize("option", [["--wait", "-1"], ["--max-file-size", "0"], ["--procs", "-1"]], ids=lambda o: o[0])
def test_index_rejects_out_of_range_options(tmp_path: Path, option: list[str]) -> None:
    result = run("index", SEEDS, "--index", tmp_path / "ix", *option)
    assert result.exit_code == 2
    assert option[0] in result.stderr


# -- query: shape ---------------------------------------------------------------------


def _check_hit(hit: dict[str, Any]) -> None:
    assert HIT_KEYS <= hit.keys()
    assert isinstance(hit["id"], str) and hit["id"]
    assert hit["kind"] in ("article", "related")
    assert Path(hit["path"]).is_file()  # the record file, as the user can open it
    assert isinstance(hit["title"], str) and hit["title"]
    assert hit["excerpt"] is None or isinstance(hit["excerpt"], str)
    assert hit["url"] is None or isinstance(hit["url"], str)
    assert isinstance(hit["provider"], dict) and {"name", "domain"} <= hit["provider"].keys()
    assert isinstance(hit["topics"], list) and all(isinstance(t, str) for t in hit["topics"])
    assert hit["published"] is None or ISO_UTC.match(hit["published"]), hit["published"]
    for key in ("quality", "heat"):
        assert hit[key] is None or (isinstance(hit[key], int) and not isinstance(hit[key], bool))
    assert isinstance(hit["score"], (int, float))
    assert isinstance(hit["snippet"], str)
    assert "secured" not in hit


def _check_page(page: dict[str, Any]) -> None:
    assert PAGE_KEYS <= page.keys()
    assert isinstance(page["total"], int) and isinstance(page["page"], int)
    assert isinstance(page["hits"], list)
    assert {"topics", "providers", "years"} <= page["facets"].keys()
    for counts in page["facets"].values():
        assert all(isinstance(k, str) and isinstance(v, int) for k, v in counts.items())
    assert all(re.fullmatch(r"\d{4}", year) for year in page["facets"]["years"])
    for hit in page["hits"]:
        _check_hit(hit)


def test_query_json_shape(seed_index_dir: Path) -> None:
    page = query_json(seed_index_dir, "facial recognition")
    _check_page(page)
    assert page["query"] == "facial recognition" and page["page"] == 1
    assert page["total"] >= len(page["hits"]) > 0
    kinds = {h["kind"] for h in page["hits"]}
    assert kinds == {"article", "related"}  # the seeds' stubs are searchable too
    assert any(h["published"] for h in page["hits"])


def test_related_hit_points_to_the_record_that_carries_it(seed_index_dir: Path) -> None:
    page = query_json(seed_index_dir, "WeWork biometrics class action", "--limit", "3")
    top = page["hits"][0]
    assert top["kind"] == "related"
    assert top["title"] == "WeWork wants facial recognition biometrics class action dismissed"
    assert Path(top["path"]).name == ORIGINAL.name
    assert top["provider"] == {"name": "Cook County Record", "domain": "cookcountyrecord.com"}


def test_published_is_normalised_to_utc(write_record: Any, tmp_path: Path) -> None:
    folder = write_record("offset.md", 'title: "Quokka census"\npublishedDateTime: 2021-06-01T02:30:00+05:30').parent
    write_record("undated.md", 'title: "Undated quokka notes"')
    index = tmp_path / "ix"
    run_json("index", folder, "--index", index)
    by_title = {h["title"]: h for h in query_json(index, "quokka")["hits"]}
    assert by_title["Quokka census"]["published"] == "2021-05-31T21:00:00Z"
    assert by_title["Undated quokka notes"]["published"] is None


def test_query_table_shows_the_titles(seed_index_dir: Path) -> None:
    titles = [h["title"] for h in query_json(seed_index_dir, "facial recognition", "--limit", "5")["hits"]]
    result = run("query", "facial recognition", "--index", seed_index_dir, "--limit", "5")
    assert result.exit_code == 0
    for title in titles:
        assert title in result.stdout
    assert result.stderr == ""
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


def test_query_table_without_results(seed_index_dir: Path) -> None:
    result = run("query", "xyzzyplughnothing", "--index", seed_index_dir)
    assert result.exit_code == 0
    assert "No results" in result.stdout


def test_query_json_without_results(seed_index_dir: Path) -> None:
    page = query_json(seed_index_dir, "xyzzyplughnothing")
    _check_page(page)
    assert page["total"] == 0 and page["hits"] == []


# -- query: options -----------------------------------------------------------------


def test_limit_and_page(seed_index_dir: Path) -> None:
    args = ("--sort", "oldest")
    six = query_json(seed_index_dir, "", "--limit", "6", *args)
    first = query_json(seed_index_dir, "", "--limit", "3", *args)
    second = query_json(seed_index_dir, "", "--limit", "3", "--page", "2", *args)
    assert len(first["hits"]) == len(second["hits"]) == 3
    assert second["page"] == 2 and first["total"] == second["total"] == six["total"]
    assert [h["id"] for h in first["hits"] + second["hits"]] == [h["id"] for h in six["hits"]]
    beyond = query_json(seed_index_dir, "", "--page", "1000")
    assert beyond["hits"] == [] and beyond["total"] == six["total"]
    # -n and -p are the short forms.
    short = query_json(seed_index_dir, "", "-n", "3", "-p", "2", *args)
    assert [h["id"] for h in short["hits"]] == [h["id"] for h in second["hits"]]


@pytest.mark.parametrize("option", [["--limit", "0"], ["--page", "0"], ["--limit", "many"]])
def test_bad_limit_or_page_is_a_usage_error(seed_index_dir: Path, option: list[str]) -> None:
    result = run("query", "x", "--index", seed_index_dir, *option)
    assert result.exit_code == 2
    assert option[0] in result.stderr and result.stdout == ""


def test_topic_filter_any_of(seed_index_dir: Path) -> None:
    page = query_json(seed_index_dir, "", "--topic", "AI", "--topic", "space", "--limit", "1000")
    assert page["total"] == len(page["hits"]) > 0
    wanted = {"ai", "space"}
    for hit in page["hits"]:
        assert wanted & {t.casefold() for t in hit["topics"]}, hit["topics"]
    assert {t for h in page["hits"] for t in h["topics"]} >= {"AI", "Space"}
    ai_only = query_json(seed_index_dir, "", "--topic", "AI")
    assert ai_only["facets"]["topics"]["AI"] == ai_only["total"]


def test_provider_filter_by_domain_or_name(seed_index_dir: Path) -> None:
    by_domain = query_json(seed_index_dir, "", "--provider", "ft.com", "--limit", "1000")
    by_name = query_json(seed_index_dir, "", "--provider", "The Financial Times", "--limit", "1000")
    assert by_domain["total"] > 0
    assert {h["id"] for h in by_domain["hits"]} == {h["id"] for h in by_name["hits"]}
    assert all(h["provider"]["domain"] == "ft.com" for h in by_domain["hits"])

    both = query_json(seed_index_dir, "", "--provider", "ft.com", "--provider", "bbc.co.uk", "--limit", "1000")
    assert {h["provider"]["domain"] for h in both["hits"]} == {"ft.com", "bbc.co.uk"}
    assert set(both["facets"]["providers"]) == {"The Financial Times", "BBC News"}


def test_since_and_until(seed_index_dir: Path) -> None:
    everything = query_json(seed_index_dir, "", "--limit", "1000")
    in_2020 = query_json(seed_index_dir, "", "--since", "2020-01-01", "--until", "2020-12-31", "--limit", "1000")
    assert in_2020["total"] == everything["facets"]["years"]["2020"] > 0
    assert all(h["published"].startswith("2020-") for h in in_2020["hits"])
    # --until is inclusive: a year means to its end.
    assert query_json(seed_index_dir, "", "--since", "2020", "--until", "2020")["total"] == in_2020["total"]

    since = query_json(seed_index_dir, "", "--since", "2020-02-12T04:00:00Z", "--limit", "1000")
    assert since["total"] > 0
    assert all(h["published"] >= "2020-02-12T04:00:00Z" for h in since["hits"])
    assert any(h["published"] == "2020-02-12T04:00:00Z" for h in since["hits"])  # the original, inclusive


def _published(hit: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(hit["published"].replace("Z", "+00:00"))


def test_published_and_unpublished_flags(seed_index_dir: Path) -> None:
    for option, flag in (("--published", True), ("--unpublished", False)):
        page = query_json(seed_index_dir, "", option, "--limit", "1000")
        assert page["total"] == len(page["hits"]) > 0
        for hit in page["hits"]:
            result = run("show", hit["id"], "--index", seed_index_dir)
            assert json.loads(result.stdout)["record"]["published"] is flag, hit["path"]
    unpublished = query_json(seed_index_dir, "", "--unpublished", "--limit", "1000")
    assert ORIGINAL.name in {Path(h["path"]).name for h in unpublished["hits"]}


@pytest.mark.parametrize(
    ("sort", "key", "descending"),
    [("newest", "published", True), ("oldest", "published", False), ("quality", "quality", True)],
)
def test_sorts(seed_index_dir: Path, sort: str, key: str, descending: bool) -> None:
    page = query_json(seed_index_dir, "", "--sort", sort, "--limit", "1000")
    values = [h[key] for h in page["hits"]]
    present = [v for v in values if v is not None]
    assert len(present) > 10
    assert present == sorted(present, reverse=descending)
    # Hits without the value come last.
    assert values[: len(present)] == present


def test_relevance_is_the_default_sort(seed_index_dir: Path) -> None:
    default = query_json(seed_index_dir, "facial recognition privacy")
    relevance = query_json(seed_index_dir, "facial recognition privacy", "--sort", "relevance")
    assert [h["id"] for h in default["hits"]] == [h["id"] for h in relevance["hits"]]
    scores = [h["score"] for h in default["hits"]]
    assert scores == sorted(scores, reverse=True)


def test_facial_recognition_example(seed_index_dir: Path) -> None:
    page = query_json(
        seed_index_dir, "facial recognition", "--topic", "AI", "--provider", "ft.com",
        "--since", "2020-01-01", "--sort", "newest",
    )  # fmt: skip
    assert page["total"] == len(page["hits"]) >= 3
    for hit in page["hits"]:
        assert hit["provider"] == {"name": "The Financial Times", "domain": "ft.com"}
        assert "AI" in hit["topics"]
        assert hit["published"] >= "2020-01-01T00:00:00Z"
    dates = [_published(h) for h in page["hits"]]
    assert dates == sorted(dates, reverse=True)
    assert ORIGINAL.name in {Path(h["path"]).name for h in page["hits"]}


# -- query: mistakes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [("--since", "yesterday"), ("--until", "2020-13-45"), ("--since", "2020-02-30"), ("--until", "next week")],
)
def test_bad_date_is_a_usage_error_naming_the_option(seed_index_dir: Path, option: str, value: str) -> None:
    result = run("query", "facial", "--index", seed_index_dir, option, value)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert option in line and value in line


def test_bad_sort_is_a_usage_error(seed_index_dir: Path) -> None:
    result = run("query", "facial", "--index", seed_index_dir, "--sort", "bogus")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--sort" in result.stderr and "bogus" in result.stderr


@pytest.mark.parametrize("text", ["(", "AND", "title:[a TO", '"'])
def test_raw_syntax_error_is_a_usage_error(seed_index_dir: Path, text: str) -> None:
    result = run("query", text, "--index", seed_index_dir, "--raw")
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert repr(text) in line or text in line
    assert "--raw" in result.stderr  # says how to get out of raw mode


def test_raw_query_language_works(seed_index_dir: Path) -> None:
    page = query_json(seed_index_dir, 'title:"facial recognition" AND NOT title:police', "--raw")
    assert page["total"] > 0
    for hit in page["hits"]:
        assert "facial recognition" in hit["title"].casefold()
        assert "police" not in hit["title"].casefold()


def test_raw_unknown_field_is_a_usage_error(seed_index_dir: Path) -> None:
    result = run("query", "nosuchfield:facial", "--index", seed_index_dir, "--raw")
    assert result.exit_code == 2
    assert "nosuchfield" in result.stderr


def test_raw_range_on_a_sort_column_is_a_clear_error(seed_index_dir: Path) -> None:
    result = run("query", "quality:[10 TO 20]", "--index", seed_index_dir, "--raw")
    assert result.exit_code == 2
    assert "COLUMN(" not in result.stderr
    assert "quality" in result.stderr


def test_query_without_an_index_says_to_run_search_index(tmp_path: Path) -> None:
    result = run("query", "facial", "--index", tmp_path / "nothing-here")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert error_lines(result)
    assert "search index" in result.stderr


def test_no_index_message_exact_text(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    result = run("stats", "--index", missing)
    assert result.exit_code == 1
    assert (
        result.stderr == f"Error: no index at {missing}\nHint: Run `search index --index {missing} [PATH ...]` first.\n"
    )


def _planted_bug(*args: object, **kwargs: object) -> None:
    raise ValueError("planted <bug>")


def test_a_bug_is_an_internal_error_in_one_line_with_its_own_exit_code(
    seed_index_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("search.backends.query.build_safe_query", _planted_bug)
    result = RUNNER.invoke(app, ["query", "police", "--index", str(seed_index_dir)])
    assert result.exit_code == EXIT_BUG == 70
    assert result.stdout == ""
    assert result.stderr == (
        "Error: internal error: ValueError: planted <bug>\n"
        "Hint: this is a bug in news-search, please report it with the command you ran and its output"
        " with --verbose (which adds the traceback).\n"
    )


def test_a_bug_shows_its_traceback_with_verbose(seed_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("search.backends.query.build_safe_query", _planted_bug)
    result = RUNNER.invoke(app, ["--verbose", "query", "police", "--index", str(seed_index_dir)])
    assert result.exit_code == EXIT_BUG
    assert "Traceback" in result.stderr and "_planted_bug" in result.stderr
    assert result.stderr.rstrip().endswith("(which adds the traceback).")


@pytest.mark.parametrize("command", ["index", "alert-add"])
def test_a_wait_of_nan_is_a_usage_error_not_a_wait_for_ever(seed_copy_index: Path, command: str) -> None:
    # it passed --wait's min=0; with a busy index no deadline would ever be reached
    args = ["index", SEEDS] if command == "index" else ["alert", "add", "moon", "moon"]
    result = run(*args, "--index", seed_copy_index, "--wait", "nan")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "Error: --wait must be 0 or more seconds, not nan\n"


NOT_AN_INDEX_HINT = (
    "Hint: Name the index folder with --index (or SEARCH_INDEX_DIR), or a new or empty folder"
    " to build one there; nothing was changed."
)


def test_query_on_a_folder_that_is_not_an_index(tmp_path: Path) -> None:
    # it advised `search index --full --index stuff`, which built an index among those files
    folder = tmp_path / "stuff"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello\n", "utf-8")
    result = run("query", "facial", "--index", folder)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"Error: {folder} is not a news-search index: the folder holds other files (notes.txt) and no index",
        NOT_AN_INDEX_HINT,
    ]


def test_no_index_is_built_among_the_files_of_a_folder_that_is_not_one(tmp_path: Path) -> None:
    # e.g. `search index --index records records`: CURRENT, LOCK and gen-000001 among the records
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    before = sorted(p.name for p in records.iterdir())
    for full in ([], ["--full"]):
        result = run("index", records, "--index", records, *full)
        assert (result.exit_code, result.stdout) == (1, "")
        assert result.stderr.splitlines() == [
            f"Error: {records} is not a news-search index: the folder holds other files"
            f" ({before[0]}, {before[1]}, {before[2]} and {len(before) - 3:,} more) and no index",
            NOT_AN_INDEX_HINT,
        ]
        assert sorted(p.name for p in records.iterdir()) == before
    check = run("check", "--index", records)
    assert check.exit_code == 1 and check.stdout.startswith(f"foreign {records}: {records} is not a news-search index")
    assert check.stderr == "Hint: Name the index folder with --index (or SEARCH_INDEX_DIR).\n"
    (tmp_path / "empty").mkdir()  # a new or empty folder takes one, as the hint says
    assert run("index", records, "--index", tmp_path / "empty").exit_code == 0
    assert run("index", records, "--index", tmp_path / "empty", "--full").exit_code == 0


HOSTILE = {
    "unbalanced quote": '"facial recognition',
    "lone quote": '"',
    "unbalanced brackets": "((facial] {recognition",
    "lone OR": "OR",
    "lone AND": "AND",
    "OR NOT": "OR NOT",
    "star": "*",
    "question mark": "?",
    "leading wildcard": "*cial",
    "empty field": "title:",
    "unknown field": "nosuchfield:facial",
    "empty": "",
    "stop words": "the of and",
    "10,000 characters": "facial " * 1428 + "rec",
    "one long word": "x" * 10_000,
    "1,000 terms": " ".join(f"word{i}" for i in range(1000)),
    "control characters": "fa\x00cial\x07 re\x1b[31mcognition\x7f",
    "emoji": "🙂 facial 🔥 recognition 👩🏽‍💻",
    "mixed scripts": "Gesichtserkennung 顔認識 распознавание لوجه",
    "bidi and BOM": "\u202efacial\ufeff",
    "backslash": "\\",
    "rich markup": "[bold red]facial[/] [link=x]",
}


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_queries_never_fail_in_safe_mode(seed_index_dir: Path, text: str) -> None:
    page = query_json(seed_index_dir, text)
    _check_page(page)
    assert page["query"] == text
    table = run("query", text, "--index", seed_index_dir)
    assert table.exit_code == 0
    assert table.stderr == ""


def test_query_starting_with_a_dash_after_double_dash(seed_index_dir: Path) -> None:
    result = run("query", "--index", seed_index_dir, "--json", "--", "-facial recognition")
    assert result.exit_code == 0
    page = json.loads(result.stdout)
    assert all("facial" not in h["title"].casefold() for h in page["hits"])


# -- stats, show, watch, check -----------------------------------------------------------


def test_stats_text_and_json(tmp_path: Path) -> None:
    index = tmp_path / "ix"
    report = run_json("index", SEEDS, "--index", index)
    stats = run_json("stats", "--index", index)
    assert stats["documents"] == report.get("documents", stats["documents"])
    assert stats["documents"] >= N_SEEDS
    assert stats.get("articles", N_SEEDS) == N_SEEDS
    text = run("stats", "--index", index)
    assert text.exit_code == 0
    assert f"{stats['documents']} documents" in text.stdout
    assert "AI" in text.stdout and "The Financial Times" in text.stdout  # top topics and providers


def test_stats_counts_follow_deletions(records: Path, seed_copy_index: Path) -> None:
    before = run_json("stats", "--index", seed_copy_index)["documents"]
    (records / "050-guardian-rugby-world-cup-final.md").unlink()
    run_json("index", records, "--index", seed_copy_index)
    assert run_json("stats", "--index", seed_copy_index)["documents"] < before


def test_stats_without_an_index(tmp_path: Path) -> None:
    result = run("stats", "--index", tmp_path / "none")
    assert result.exit_code == 1
    assert "search index" in result.stderr


def test_show_prints_the_whole_record_without_secured(seed_index_dir: Path) -> None:
    ident = _article_id(seed_index_dir, ORIGINAL)
    result = run("show", ident, "--index", seed_index_dir)
    assert result.exit_code == 0 and result.stderr == ""
    assert SECURED not in result.stdout
    shown = json.loads(result.stdout)
    record = shown["record"]
    assert "secured" not in record
    assert record["title"] == "Met Police try to calm tensions as live facial recognition hits London"
    assert record["provider"] == {"name": "The Financial Times", "domain": "ft.com"}
    assert record["topics"] == ["AI", "Computer Vision"]
    assert (record["quality"], record["heat"], record["published"]) == (59, -1, False)
    assert len(record["images"]) == 1 and len(record["related"]) == 3
    assert record["related"][1]["title"] == "WeWork wants facial recognition biometrics class action dismissed"
    related_ids = shown["related_ids"]
    assert len(related_ids) == 3
    for stub_id in related_ids:
        stub = json.loads(run("show", stub_id, "--index", seed_index_dir).stdout)
        assert stub["kind"] == "related" and stub["parent"] == ident
        assert SECURED not in json.dumps(stub)


def test_show_accepts_a_record_path(seed_index_dir: Path) -> None:
    result = run("show", ORIGINAL, "--index", seed_index_dir)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["id"] == _article_id(seed_index_dir, ORIGINAL)
    assert SECURED not in result.stdout


def test_show_and_similar_take_a_record_path_through_dotdot(seed_index_dir: Path) -> None:
    # the path was looked up as given (Path.absolute keeps `..`), the index holds it folded
    # (review s11 R7): "no document" for an indexed record
    detour = ORIGINAL.parent / ".." / ORIGINAL.parent.name / ORIGINAL.name
    for command in ("show", "similar"):
        result = run(command, detour, "--index", seed_index_dir)
        assert result.exit_code == 0, result.stderr
    assert json.loads(run("show", detour, "--index", seed_index_dir).stdout)["id"] == _article_id(
        seed_index_dir, ORIGINAL
    )


NOT_UTF8 = os.fsdecode(b"/tmp/caf\xe9.md")  # a Latin-1 file name, as argv gives it


@pytest.mark.parametrize("command", ["show", "similar"])
def test_an_id_or_path_that_is_not_utf8_is_a_usage_error_not_a_bug(seed_index_dir: Path, command: str) -> None:
    # Whoosh raised UnicodeEncodeError looking it up: "internal error", exit 70 (review s11 R1)
    result = run(command, NOT_UTF8, "--index", seed_index_dir)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "Error: ID '/tmp/caf\\udce9.md' is not valid UTF-8 (the \\udcXX are its bytes that are not)",
        "Hint: Records are indexed by UTF-8 names: rename the file, index it, then use its new name.",
    ]


def test_a_raw_query_or_alert_that_is_not_utf8_is_a_query_error_not_a_bug(seed_copy_index: Path) -> None:
    text = os.fsdecode(b"title:caf\xe9*")
    expected = [
        "Error: cannot parse query 'title:caf\\udce9*': it is not valid UTF-8 (the \\udcXX are its bytes that are not)",
        "Hint: Type the query in UTF-8 (check the terminal's encoding).",  # not "or drop --raw": that is refused too
    ]
    for args in (["query", "--raw", text], ["alert", "add", "cafe", text, "--raw"]):
        result = run(*args, "--index", seed_copy_index)
        assert (result.exit_code, result.stdout, result.stderr.splitlines()) == (2, "", expected)
    assert run("alert", "list", "--index", seed_copy_index, "--json").stdout.count("cafe") == 0


def test_a_plain_query_alert_or_filter_that_is_not_utf8_is_refused_naming_it(seed_copy_index: Path) -> None:
    # It matched nothing, a did-you-mean echoed its bytes, and `alert add` wrote
    # them into alerts.json, which then was not UTF-8 (review s12 R3).
    text = os.fsdecode(b"caf\xe9")
    query_error = [
        "Error: cannot parse query 'caf\\udce9': it is not valid UTF-8 (the \\udcXX are its bytes that are not)",
        "Hint: Type the query in UTF-8 (check the terminal's encoding).",
    ]
    for args in (["query", text], ["alert", "add", "cafe", text]):
        result = run(*args, "--index", seed_copy_index)
        assert (result.exit_code, result.stdout, result.stderr.splitlines()) == (2, "", query_error)
    result = run("query", "police", "--topic", text, "--index", seed_copy_index)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines()[0] == (
        "Error: `topics` 'caf\\udce9' is not valid UTF-8 (the \\udcXX are its bytes that are not)"
    )
    assert run("alert", "list", "--index", seed_copy_index, "--json").stdout.count("cafe") == 0
    alerts = seed_copy_index / "alerts" / "alerts.json"
    if alerts.exists():
        alerts.read_text("utf-8")  # still UTF-8


def test_secured_is_in_no_query_output(seed_index_dir: Path) -> None:
    for text in ("", "facial recognition", "Met Police London"):
        result = run("query", text, "--index", seed_index_dir, "--json", "--limit", "1000")
        assert SECURED not in result.stdout
        assert run("query", text, "--index", seed_index_dir).stdout.count(SECURED) == 0


@pytest.mark.parametrize("ident", ["no-such-id", "", "../../etc/passwd"])
def test_show_unknown_id(seed_index_dir: Path, ident: str) -> None:
    result = run("show", ident, "--index", seed_index_dir)
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = error_lines(result)
    assert repr(ident) in line or ident in line


@pytest.mark.parametrize("every", ["junk", "0", "-5m", "10 parsecs"])
def test_watch_bad_interval_is_a_usage_error(tmp_path: Path, every: str) -> None:
    result = run("watch", SEEDS, "--every", every, "--index", tmp_path / "ix")
    assert result.exit_code == 2
    assert error_lines(result)
    assert not (tmp_path / "ix").exists()  # nothing ran


def test_check_a_good_index(tmp_path: Path) -> None:
    if "check" not in get_command(app).commands:  # type: ignore[attr-defined]
        pytest.skip("no `search check` command yet")
    index = tmp_path / "ix"
    run_json("index", SEEDS, "--index", index)
    assert run("check", "--index", index).exit_code == 0
    missing = run("check", "--index", tmp_path / "none")
    assert missing.exit_code == 1


def test_no_arguments_shows_help() -> None:
    result = run()
    assert result.exit_code in (0, 2)
    assert "query" in result.stdout + result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run("serach")
    assert result.exit_code == 2


# -- query: issue 5's options, similar, suggest ------------------------------------------------


def test_boost_options_reorder_and_bad_ones_exit_2(seed_index_dir: Path) -> None:
    plain = query_json(seed_index_dir, "bank")
    boosted = query_json(seed_index_dir, "bank", "--boost", "recency:7d", "--boost", "quality")
    assert {h["id"] for h in plain["hits"]} == {h["id"] for h in boosted["hits"]}
    assert [h["score"] for h in plain["hits"]] != [h["score"] for h in boosted["hits"]]
    for bad, says in (("heat", "unknown boost 'heat'"), ("recency:soon", "invalid duration for --boost")):
        result = run("query", "bank", "--index", seed_index_dir, "--boost", bad)
        assert result.exit_code == 2
        assert says in result.stderr and "Traceback" not in result.stderr


def test_no_feedback_changes_scores_not_matches(seed_index_dir: Path) -> None:
    # Not a headline (no title has every word), so feedback runs.
    on = query_json(seed_index_dir, "central banks rates economy inflation", "--limit", "100")
    off = query_json(seed_index_dir, "central banks rates economy inflation", "--limit", "100", "--no-feedback")
    assert on["total"] == off["total"] and {h["id"] for h in on["hits"]} == {h["id"] for h in off["hits"]}
    assert [h["score"] for h in on["hits"]] != [h["score"] for h in off["hits"]]


def test_duplicates_are_collapsed_with_a_count_unless_asked(seed_index_dir: Path) -> None:
    moon = [h for h in query_json(seed_index_dir, "japan moon")["hits"] if "moon" in h["path"]]
    assert len(moon) == 1 and moon[0]["duplicates"] == 1
    every = [h for h in query_json(seed_index_dir, "japan moon", "--no-collapse")["hits"] if "moon" in h["path"]]
    assert len(every) == 2 and {h["duplicates"] for h in every} == {0}
    table = run("query", "japan moon", "--index", seed_index_dir)
    assert "(+1 copy)" in table.stdout


def test_explain_prints_the_parsed_query_and_the_parts(seed_index_dir: Path) -> None:
    result = run("query", "solar storm", "--index", seed_index_dir, "--explain", "--limit", "2")
    assert result.exit_code == 0
    assert "Parsed query: (text:solar OR text:storm)" in result.stdout
    assert "solar match" in result.stdout and "proximity" in result.stdout
    page = query_json(seed_index_dir, "solar storm", "--explain")
    assert page["parsed_query"].startswith("(text:solar OR text:storm)")
    assert all(h["explanation"]["parts"] for h in page["hits"])
    assert query_json(seed_index_dir, "solar storm")["hits"][0]["explanation"] is None


def test_did_you_mean_when_a_query_finds_nothing(seed_index_dir: Path) -> None:
    result = run("query", "facail recognition", "--index", seed_index_dir)
    assert result.exit_code == 0
    assert "Did you mean: facial recognition" in result.stdout
    assert query_json(seed_index_dir, "facail recognition")["suggestion"] == "facial recognition"
    assert query_json(seed_index_dir, "facial recognition")["suggestion"] is None


def test_similar_lists_related_then_like(seed_index_dir: Path) -> None:
    page = run_json("similar", ORIGINAL, "--index", seed_index_dir, "--limit", "3")
    assert set(page) == {"id", "title", "related", "hits"}
    assert page["title"] == "Met Police try to calm tensions as live facial recognition hits London"
    assert [h["kind"] for h in page["related"]] == ["article", "related", "related"]
    assert len(page["hits"]) == 3 and all(h["id"] != page["id"] for h in page["hits"])
    table = run("similar", page["id"], "--index", seed_index_dir)
    assert table.exit_code == 0
    assert "Related (from the record):" in table.stdout and "More like it:" in table.stdout
    missing = run("similar", "0123456789abcdef", "--index", seed_index_dir)
    assert missing.exit_code == 1 and error_lines(missing)


def test_suggest_completes_topics_providers_and_titles(seed_index_dir: Path) -> None:
    found = run_json("suggest", "fac", "--index", seed_index_dir)
    assert found and all(set(s) == {"text", "kind", "count", "id"} for s in found)
    assert any(s["kind"] == "title" and "facial" in s["text"].lower() for s in found)
    assert any(
        s["kind"] == "provider" and s["text"] == "Reuters"
        for s in run_json("suggest", "reu", "--index", seed_index_dir)
    )
    table = run("suggest", "reu", "--index", seed_index_dir)
    assert table.exit_code == 0 and "Reuters" in table.stdout
    nothing = run("suggest", "zzzzqx", "--index", seed_index_dir)
    assert nothing.exit_code == 0 and "No suggestions" in nothing.stdout


# -- documentation ----------------------------------------------------------------------

GROUP = get_command(app)
COMMANDS: dict[str, Any] = GROUP.commands  # type: ignore[attr-defined]


def _readme() -> str:
    return "\n".join(p.read_text("utf-8") for p in [README, *sorted((REPO / "docs").glob("*.md"))])


def _long_options(params: list[Any]) -> list[str]:
    """Long option names; Typer vendors Click privately, so options are told apart by duck typing."""
    names: list[str] = []
    for param in params:
        if param.param_type_name == "option":
            names += [n for n in (*param.opts, *param.secondary_opts) if n.startswith("--") and n != "--help"]
    return names


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_and_its_options_are_documented(name: str) -> None:
    text = _readme()
    assert f"search {name}" in text
    undocumented = [o for o in _long_options(COMMANDS[name].params) if o not in text]
    assert undocumented == [], f"`search {name}` options missing from README.md"


def test_global_options_are_documented() -> None:
    text = _readme()
    assert [o for o in _long_options(GROUP.params) if o not in text] == []


@pytest.mark.parametrize("setting", settings.SETTINGS, ids=lambda s: s.env)
def test_every_setting_is_documented(setting: settings.Setting) -> None:
    assert setting.env in _readme()


@pytest.mark.parametrize("code", range(6))
def test_every_exit_code_is_documented(code: int) -> None:
    text = _readme()
    assert re.search(r"(?i)exit (code|status)", text)
    in_a_table_or_list = rf"(?m)^\s*(?:[|*+-]\s*)?`?{code}`?\s*(?:[|:=\u2013\u2014-]|\s{{2}}|$)"
    in_prose = rf"(?i)\bexit(?:s| code| status)?\s+(?:with\s+)?`?{code}`?\b"
    assert re.search(in_a_table_or_list, text) or re.search(in_prose, text), f"exit code {code}"


# -- names and contents are data, never commands (issue 16) ---------------------------------------

HOSTILE_NAMES = [
    "x\x1b]2;PWNED\x1b\\y.md",
    "z\x1b[2J\x1b[3J\x1b[Hq.md",
    "c1\x9b31m.md",
    "bidi\u202eexe.fdp.md",
]
JSON_RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
RAW_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def _hostile_tree(tmp_path: Path) -> Path:
    root = tmp_path / "hostile"
    root.mkdir()
    for n, name in enumerate(HOSTILE_NAMES):
        front = f'title: "Invoice {n} \\u202eexe.fdp \\e]0;evil-title\\a"\nprovider: {{name: "P\\u2066x\\u200b"}}'
        (root / name).write_text(f"---\n{front}\n---\nbody\n", "utf-8")
    (root / "bad\x1b]2;OWNED\x07.md").write_text("no front matter\n", "utf-8")
    return root


def test_hostile_names_and_titles_reach_the_terminal_as_visible_escapes(tmp_path: Path) -> None:
    root, index = _hostile_tree(tmp_path), tmp_path / "ix"
    result = run("index", "--index", index, root)
    assert result.exit_code == 0, result.stderr
    assert not RAW_CONTROLS.search(result.stdout + result.stderr)
    assert "skipped " + str(root) + "/bad\\x1b]2;OWNED\\x07.md:1: file does not start with '---'" in result.stderr

    table = run("query", "invoice", "--index", index, "--no-collapse", "--limit", 50)
    assert table.exit_code == 0, table.stderr
    assert not RAW_CONTROLS.search(table.stdout)
    for shown in ("x\\x1b]2;PWNED\\x1b\\y.md", "z\\x1b[2J\\x1b[3J\\x1b[Hq.md", "c1\\x9b31m.md", "\\u202e"):
        assert shown in table.stdout, shown
    assert "P\\u2066x\\u200b" in table.stdout


def test_emoji_codes_in_titles_and_names_are_text_not_emoji(tmp_path: Path) -> None:
    """Rich reads ":name:" as an emoji code; a title or a file name is data, so
    "3:b:1" and ":warning:" reach the terminal as they are written."""
    root, index = tmp_path / "codes", tmp_path / "ix"
    root.mkdir()
    (root / "cocoa :smile: notes.md").write_text(
        '---\ntitle: "Cocoa :warning: up 3:b:1"\nprovider: {name: "P:cd:"}\n---\ncocoa body\n', "utf-8"
    )
    assert run("index", "--index", index, root).exit_code == 0
    table = run("query", "cocoa", "--index", index)
    assert table.exit_code == 0, table.stderr
    for written in ("Cocoa :warning: up 3:b:1", "P:cd:", "cocoa :smile: notes.md"):
        assert written in table.stdout, written
    missing = run("show", "no:smile:such", "--index", index)
    assert missing.exit_code == 1
    assert "no:smile:such" in missing.stderr


def test_json_keeps_hostile_characters_as_data_but_escaped(tmp_path: Path) -> None:
    root, index = _hostile_tree(tmp_path), tmp_path / "ix"
    run("index", "--index", index, root)
    result = run("query", "invoice", "--index", index, "--no-collapse", "--json")
    assert result.exit_code == 0
    assert not JSON_RAW.search(result.stdout)
    assert "\\u001b]2;PWNED" in result.stdout and "\\u009b" in result.stdout and "\\u202e" in result.stdout
    paths = {Path(hit["path"]).name for hit in json.loads(result.stdout)["hits"]}
    assert paths == set(HOSTILE_NAMES)  # every character is back, as data


def test_a_name_that_is_not_utf8_is_skipped_by_name_and_the_run_succeeds(tmp_path: Path) -> None:
    root = tmp_path / "names"
    root.mkdir()
    (root / "ok.md").write_text("---\ntitle: Plain story\n---\n", "utf-8")
    with open(os.fsencode(root) + b"/lat\xff\xfe.md", "w") as handle:
        handle.write("---\ntitle: x\n---\nb\n")
    for extra in ((), (), ("--full",)):
        result = run("index", "--index", tmp_path / "ix", root, *extra)
        assert result.exit_code == 0, result.stderr
        assert f"skipped {root}/lat\\xff\\xfe.md: file name is not valid UTF-8" in result.stderr
        assert "unreadable" not in result.stderr and "gen-" not in result.stderr
    report = run_json("index", "--index", tmp_path / "ix", root)
    assert report["skipped"][0]["path"] == str(root) + "/lat\udcff\udcfe.md"  # JSON: \udcff, valid UTF-8
    assert sorted(p.name for p in (tmp_path / "ix").glob("gen-*")) == ["gen-000001", "gen-000002"]


def test_an_emptied_root_exits_5_naming_it_and_allow_empty_prunes(tmp_path: Path) -> None:
    mount = tmp_path / "mnt"
    mount.mkdir()
    for i in range(3):
        (mount / f"r{i}.md").write_text(f"---\ntitle: Story {i}\n---\n", "utf-8")
    index = tmp_path / "ix"
    assert run("index", "--index", index, mount).exit_code == 0
    for path in mount.iterdir():
        path.unlink()
    kept = run("index", "--index", index, mount)
    assert kept.exit_code == 5
    assert f"kept {mount}: 3 indexed records kept: the folder yields no record files" in kept.stderr
    assert "--allow-empty" in kept.stderr and "3 documents" in kept.stdout
    refused = run("index", "--index", index, mount, "--full")
    assert refused.exit_code == 5 and error_lines(refused) == [
        f"Error: refusing to drop 3 indexed records: {mount}: the folder yields no record files (an unmounted disk?)"
    ]
    pruned = run("index", "--index", index, mount, "--allow-empty")
    assert pruned.exit_code == 0 and "3 deleted" in pruned.stdout and "0 documents" in pruned.stdout


def test_watch_rejects_an_interval_over_a_year_before_starting(tmp_path: Path) -> None:
    result = run("watch", "--index", tmp_path / "ix", "--every", "99999999999d", SEEDS)
    assert result.exit_code == 2
    assert error_lines(result) == [
        "Error: invalid interval for --every: '99999999999d' is longer than a year (365d); use e.g. 10m, 1h, 7d"
    ]
    assert not (tmp_path / "ix").exists()


def test_log_lines_show_file_names_escaped(tmp_path: Path) -> None:
    import logging

    from search.cli.main import _configure_logging

    _configure_logging(False)
    try:
        handler = logging.getLogger().handlers[0]
        record = logging.LogRecord("search.indexing.watch", logging.ERROR, __file__, 1, "reindex failed: %s", ("x\x1b]2;PWNED\x07.md",), None)
        assert handler.format(record).endswith("ERROR reindex failed: x\\x1b]2;PWNED\\x07.md")
    finally:
        logging.basicConfig(force=True)



def test_library_parameters_reach_the_terminal_as_flags(tmp_path: Path) -> None:
    """The library names its parameters (`every`, `follow_symlinks`); the command says its flags."""
    result = run("watch", SEEDS, "--every", "soon", "--index", tmp_path / "ix")
    assert result.exit_code == 2
    assert error_lines(result) == ["Error: invalid duration for --every: 'soon'; use e.g. 30s, 10m, 1h, 7d"]
    records = tmp_path / "records"
    records.mkdir()
    (records / "a.md").write_text("---\ntitle: Real\n---\n", encoding="utf-8")
    (records / "link.md").symlink_to(records / "a.md")
    result = run("index", records, "--index", tmp_path / "ix2")
    assert result.exit_code == 0
    (skipped,) = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert "--follow-symlinks" in skipped and "follow_symlinks" not in skipped


# -- building only the command asked for --------------------------------------------


def _names() -> list[list[str]]:
    from search.cli.main import _command_name

    top = [[str(_command_name(info))] for info in app.registered_commands]
    groups = [[str(g.name)] for g in app.registered_groups]
    subs = [
        [str(g.name), str(_command_name(info))]
        for g in app.registered_groups
        if g.typer_instance
        for info in g.typer_instance.registered_commands
    ]
    return top + groups + subs


@pytest.mark.parametrize("words", _names(), ids=" ".join)
def test_one_command_app_reads_as_the_whole_one(words: list[str]) -> None:
    """main() builds only the command named (Typer reads every signature it
    builds); its help, and so its options, are the whole app's, word for word."""
    from search.cli.main import _app_for

    one = _app_for([*words, "--help"])
    assert one is not app and len(one.registered_commands) + len(one.registered_groups) == 1
    assert RUNNER.invoke(one, [*words, "--help"]).output == RUNNER.invoke(app, [*words, "--help"]).output


@pytest.mark.parametrize("args", [[], ["--help"], ["-v"], ["qurey", "x"], ["--verbose", "--help"]], ids=" ".join)
def test_no_command_named_gets_the_whole_app(args: list[str]) -> None:
    from search.cli.main import _app_for

    assert _app_for(args) is app


def test_verbose_before_the_command_still_finds_it() -> None:
    from search.cli.main import _app_for

    one = _app_for(["-v", "stats", "--index", "x"])
    assert [info.name for info in one.registered_commands] == ["stats"]
