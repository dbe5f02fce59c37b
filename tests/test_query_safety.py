"""Issue 16's query-side items: each test here failed on the code before it.

A leading -word on the command line, an empty result that says which
filter left nothing, a title-only record's snippet, non-string query text,
library errors in the library's words (the CLI in its own), one bound for
suggest, and deep parentheses in raw mode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import RecordWriter
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from search import build_index, open_index
from search.bounds import MAX_LIMIT, MAX_SUGGESTIONS
from search.cli.main import app
from search.errors import QueryError, UsageError
from search.planning.syntax import MAX_NESTING

runner = CliRunner()


def run(*args: object) -> Result:
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def small(write_record: RecordWriter, tmp_path: Path) -> Path:
    write_record("a.md", 'title: "Nuclear power plant opens"\ntopics: [Energy]\npublishedDateTime: 2020-05-01')
    write_record("b.md", 'title: "Solar power prices fall"\ntopics: [Energy]\npublishedDateTime: 2021-05-01')
    write_record("c.md", 'title: "Sugar harvest up"\ntopics: [Food]\npublishedDateTime: 2019-01-01')
    write_record("d.md", 'title: "Sugar tax debated"\nexcerpt: "Parliament argues over a levy."\ntopics: [Food]')
    index = tmp_path / "ix"
    build_index([tmp_path / "records"], index)
    return index


# -- `search query -nuclear power` ---------------------------------------------------------------


def test_a_leading_dash_word_is_an_excluded_word_not_short_options(small: Path) -> None:
    result = run("query", "-nuclear", "power", "--index", small, "--json")
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert page["query"] == "-nuclear power"
    assert [h["title"] for h in page["hits"]] == ["Solar power prices fall"]


def test_short_options_and_option_values_still_parse(small: Path) -> None:
    assert json.loads(run("query", "-n1", "power", "--index", small, "--json").stdout)["limit"] == 1
    assert json.loads(run("query", "power", "-n", "1", "--index", small, "--json").stdout)["limit"] == 1
    # A value starting with - stays the option's value.
    page = json.loads(run("query", "power", "--topic", "-x", "--index", small, "--json").stdout)
    assert page["query"] == "power" and page["total"] == 0 and page["filter_matches"][0]["value"] == "-x"
    # After --, everything is text, as usual.
    assert json.loads(run("query", "--index", small, "--json", "--", "-solar", "power").stdout)["total"] == 1


@settings(max_examples=40, deadline=None, database=None)
@given(words=st.lists(st.from_regex(r"-?[a-z]{2,8}", fullmatch=True), min_size=1, max_size=5))
def test_property_dash_words_are_query_text_in_order(seed_index_dir: Path, words: list[str]) -> None:
    result = run("query", *words, "--index", seed_index_dir, "--json", "-n", "2")
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert page["query"] == " ".join(words) and page["limit"] == 2


# -- a result emptied by a filter ------------------------------------------------------------------


def test_an_empty_page_says_what_the_query_finds_without_each_filter(small: Path) -> None:
    with open_index(small) as ix:
        page = ix.search("sugar", topics="Energy", since="2019-06")
        assert page.total == 0
        assert page.without_filters == ix.search("sugar").total == 2
        assert [(f.filter, f.value, f.matches) for f in page.filter_matches] == [
            ("topics", "Energy", 0),
            ("since", "2019-06", ix.search("sugar", since="2019-06").total),
        ]
        found = ix.search("sugar", topics="Food")
        assert found.total == 2 and found.without_filters is None and found.filter_matches == ()
        unfiltered = ix.search("zzzz")
        assert unfiltered.without_filters is None  # no filter to blame
    result = run("query", "sugar", "--topic", "Energy", "--index", small)
    assert result.exit_code == 0
    assert "No results for 'sugar'." in result.stdout
    assert "Without its filters the query has 2 results; with --topic Energy alone: none." in result.stdout
    shape = json.loads(run("query", "sugar", "--topic", "Energy", "--index", small, "--json").stdout)
    assert shape["without_filters"] == 2
    assert shape["filter_matches"] == [{"filter": "topics", "value": "Energy", "matches": 0}]


def test_an_empty_page_says_when_the_filters_are_not_to_blame(small: Path) -> None:
    result = run("query", "zzzz", "--topic", "Energy", "--index", small)
    assert "The query has no results even without its filters." in result.stdout


# -- snippets -------------------------------------------------------------------------------------


def test_a_title_only_record_does_not_show_its_title_twice(small: Path) -> None:
    with open_index(small) as ix:
        (hit,) = ix.search("harvest").hits
        assert hit.title == "Sugar harvest up" and hit.snippet == ""
        # The title has the word, the excerpt not: the excerpt's start, not the title again.
        (taxed,) = ix.search("tax").hits
        assert taxed.snippet == "Parliament argues over a levy."
    table = run("query", "harvest", "--index", small).stdout
    assert table.count("Sugar harvest up") == 1


# -- the library's parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [None, 3, b"sugar"])
def test_query_text_must_be_a_string(small: Path, text: Any) -> None:
    with open_index(small) as ix, pytest.raises(QueryError) as caught:
        ix.search(text)
    assert "`text` (the query) must be a str" in str(caught.value)


def test_library_errors_name_parameters_and_the_cli_names_its_flags(small: Path) -> None:
    with open_index(small) as ix:
        with pytest.raises(UsageError) as caught:
            ix.search("sugar", since="yesterday")
        assert caught.value.option == "since" and "`since`" in str(caught.value)
        assert "--since" not in str(caught.value)
        with pytest.raises(UsageError) as caught:
            ix.search("sugar", sort="newest", boost="recency")
        assert "`boost` works with `sort` relevance" in str(caught.value)
    result = run("query", "sugar", "--since", "yesterday", "--index", small)
    assert result.exit_code == 2
    assert "Error: invalid date for --since: 'yesterday'" in result.stderr and "`" not in result.stderr
    result = run("query", "sugar", "--sort", "newest", "--boost", "recency", "--index", small)
    assert result.exit_code == 2 and "--boost works with --sort relevance, not --sort newest" in result.stderr


def test_suggest_and_search_share_their_bounds_with_the_cli(small: Path) -> None:
    with open_index(small) as ix:
        assert len(ix.suggest("s", limit=MAX_SUGGESTIONS)) <= MAX_SUGGESTIONS
        with pytest.raises(UsageError) as caught:
            ix.suggest("s", limit=MAX_SUGGESTIONS + 1)
        assert caught.value.option == "limit" and f"1 to {MAX_SUGGESTIONS}" in str(caught.value)
        with pytest.raises(UsageError):
            ix.search("s", limit=MAX_LIMIT + 1)
    assert run("suggest", "s", "--limit", MAX_SUGGESTIONS + 1, "--index", small).exit_code == 2
    assert run("suggest", "s", "--limit", MAX_SUGGESTIONS, "--index", small).exit_code == 0
    assert run("query", "s", "--limit", MAX_LIMIT + 1, "--index", small).exit_code == 2


# -- raw nesting ---------------------------------------------------------------------------------------


def test_deep_parentheses_are_a_query_error_stating_the_limit(small: Path) -> None:
    with open_index(small) as ix:
        deep = "(" * 5000 + "sugar" + ")" * 5000
        with pytest.raises(QueryError) as caught:
            ix.search(deep, raw=True)
        assert f"at most {MAX_NESTING} levels" in str(caught.value) and "recursion" not in str(caught.value)
        fine = "(" * MAX_NESTING + "sugar" + ")" * MAX_NESTING
        assert ix.search(fine, raw=True).total == 2
        quoted = '"' + "(" * (MAX_NESTING + 5) + 'sugar"'  # parentheses inside a phrase are text, not nesting
        assert ix.search(quoted, raw=True).query == quoted
    result = run("query", "(" * 5000 + "sugar" + ")" * 5000, "--raw", "--index", small)
    assert result.exit_code == 2 and f"at most {MAX_NESTING} levels" in result.stderr
