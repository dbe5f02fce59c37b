"""SphinxQL text without a daemon: escaping, routing and the MATCH expression."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search.backends.cluster import rows, sphinxql
from search.backends.cluster.url import parse
from search.errors import UsageError
from search.planning.plan import build_plan
from search.planning.request import SearchRequest, search_request


def _unquote(literal: str) -> str:
    """What searchd reads from a string literal (backslash takes the next character)."""
    assert literal[0] == literal[-1] == "'"
    return re.sub(r"\\(.)", r"\1", literal[1:-1], flags=re.S)


@given(st.text())
def test_a_literal_reads_back_as_the_text_without_nul(text: str) -> None:
    lit = sphinxql.literal(text)
    assert "\x00" not in lit
    assert re.fullmatch(r"'(?:[^'\\]|\\.)*'", lit, flags=re.S)  # no quote ends it early
    assert _unquote(lit) == text.replace("\x00", " ")


@given(st.text())
def test_a_match_word_has_no_bare_operator(word: str) -> None:
    escaped = sphinxql.match_word(word)
    bare = re.sub(r"\\.", "", escaped, flags=re.S)
    assert not set(bare) & set('\\()|-!@~"&/^$=<>\'')


def test_match_expression_of_a_plan() -> None:
    plan = build_plan(SearchRequest(text='oil "crude price" +opec -gas'))
    assert sphinxql.match_expression(plan) == '(opec) MAYBE (oil | "crude price") -gas'
    assert sphinxql.match_expression(build_plan(SearchRequest(text="x y OR z"))) == "x | (y | z)"


def test_a_news_form_is_matched_in_each_spelling() -> None:
    # search.storage.newsforms: the embedded index reads these as one word; searchd does not.
    assert sphinxql.word_match("qtr") == "(qtr | quarter)"
    assert sphinxql.word_match("Labour") == "(Labour | labor)"
    assert sphinxql.word_match("oil") == "oil"
    plan = build_plan(SearchRequest(text='qtr "mln dlrs"'))
    assert sphinxql.match_expression(plan) == '(qtr | quarter) | "mln dlrs"'  # no OR inside a phrase


def test_the_first_ranking_weighs_words_by_idf_only_in_longer_queries() -> None:
    # searchd's idf is each RT chunk's own: for 1-2 words it costs more than it tells;
    # a long query (a research topic) needs it to tell its rare words from its common ones.
    two = sphinxql.FirstStage.of(7.0, 140.0, [2.0, 5.0], proximity=True, terms=2)
    three = sphinxql.FirstStage.of(7.0, 140.0, [2.0, 5.0, 1.0], proximity=True, terms=3)
    four = sphinxql.FirstStage.of(7.0, 140.0, [2.0, 5.0, 1.0, 3.0], proximity=True, terms=4)
    assert two.coverage == (5 / 7, 1.0) and not two.idf and not three.idf and four.idf
    assert "tf_idf" not in sphinxql.ranker_option(three) and "tf_idf" in sphinxql.ranker_option(four)
    assert "lcs>=2" in sphinxql.ranker_option(two)
    assert "0.714286" not in sphinxql.ranker_option(two)  # under TITLE_MIN_COVERAGE: no factor for one word


def test_integers_only_as_integers() -> None:
    assert sphinxql.integer(5) == "5"
    for bad in ("5", 5.0, True):
        try:
            sphinxql.integer(bad)  # type: ignore[arg-type]
        except TypeError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_routing_is_stable_and_keeps_stubs_with_their_article() -> None:
    article = "79191af4003ad0d2"
    assert rows.shard_of(article, 2) == int(article, 16) % 2
    assert rows.sphinx_id(article) == rows.sphinx_id(article) > 0
    assert len({rows.sphinx_id(rows.stub_id(article, n)) for n in range(1, 50)}) == 49
    assert rows.text_key(" Privacy ") == rows.text_key("privacy")
    assert rows.host_key("www.FT.com") == rows.host_key("ft.com")


def test_backend_urls() -> None:
    url = parse("sphinx://127.0.0.1:9306")
    assert (url.front.host, url.front.port, url.front.table, url.shards) == ("127.0.0.1", 9306, "news", ())
    url = parse("manticore://db:9306/arch?shards=a:9307/arch_0,b:9307/arch_1")
    assert [str(s) for s in url.shards] == ["a:9307/arch_0", "b:9307/arch_1"]
    for bad in ("http://x", "sphinx://", "sphinx://h:1/bad-name", "sphinx://h:99999"):
        try:
            parse(bad)
        except Exception as exc:
            assert "--backend" in str(exc)
            continue
        raise AssertionError(f"{bad} accepted")


def test_facets_count_without_the_candidate_ranking() -> None:
    # searchd does not share the search's matching with the facets' GROUP BYs, and a
    # count needs no weight: the facets skip the ranker, the search keeps it.
    plan = build_plan(search_request("oil prices", topics="crude"))
    facets = sphinxql.facet_statements(plan, "news", max_ms=500)
    search = sphinxql.search_statement(plan, "news", 100, (None, None), sphinxql.FirstStage(), 500)
    assert "ranker=expr(" in search
    for statement in facets.values():
        assert "ranker=none" in statement and "ranker=expr" not in statement
        assert "MATCH('oil | prices')" in statement and "max_query_time=500" in statement


def test_each_shard_keeps_no_more_matches_than_the_window() -> None:
    # max_matches sizes every shard's queue of best matches (1,000 had cost a third of
    # the search at 200,000 records); the sort is exact within the window asked for.
    plan = build_plan(SearchRequest(text="oil prices"))
    statement = sphinxql.search_statement(plan, "news", 100, (None, None))
    assert statement.count("max_matches=") == 1 and "LIMIT 0, 100 OPTION max_matches=100," in statement


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sphinx://[::1", "invalid host in --backend sphinx://[::1"),  # was an internal error (urlsplit's ValueError)
        ("sphinx://127.0.0.1:0", "invalid port in --backend sphinx://127.0.0.1:0"),  # was taken for 9306
        ("sphinx://127.0.0.1:1?shards=[x:2", "invalid host in --backend sphinx://127.0.0.1:1?shards=[x:2"),
        ("sphinx://127.0.0.1:99999", "invalid port in --backend sphinx://127.0.0.1:99999"),
    ],
)
def test_a_malformed_backend_url_is_a_usage_error_naming_it(url: str, said: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(url)
    assert str(caught.value) == said and caught.value.option == "--backend"


@given(st.text())
def test_any_backend_text_parses_or_is_a_usage_error(text: str) -> None:
    with contextlib.suppress(UsageError):
        parse(f"sphinx://{text}")
