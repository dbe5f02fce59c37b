"""The query plan: safe-mode text and options read into plain data."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search.errors import UsageError
from search.planning.plan import Clause, QueryPlan, build_plan
from search.planning.request import Filters, SearchRequest


def plan(text: str, **kwargs: object) -> QueryPlan:
    return build_plan(SearchRequest(text=text, **kwargs))  # type: ignore[arg-type]


def test_words_phrases_required_and_excluded() -> None:
    p = plan('Oil "crude price" +OPEC -gas NOT "natural gas" covid-19')
    assert p.should == ((Clause(("oil",)),), (Clause(("crude", "price")),), (Clause(("covid", "19")),))
    assert p.must == ((Clause(("opec",)),),)
    assert p.must_not == (Clause(("gas",)), Clause(("natural", "gas")))


def test_or_groups_and_folding() -> None:
    p = plan("Café OR Chá tea")
    assert p.should == ((Clause(("cafe",)), Clause(("cha",))), (Clause(("tea",)),))


def test_stop_words_and_symbols_alone_find_nothing_and_empty_text_browses() -> None:
    assert plan("the of and").finds_nothing and not plan("the of and").browses
    assert plan("!!! ::").finds_nothing
    assert plan("").browses and plan("   ").browses
    assert plan("-oil").browses and not plan("-oil").finds_nothing  # everything but oil


def test_a_word_typed_twice_is_one_clause() -> None:
    assert plan("oil oil price").should == ((Clause(("oil",)),), (Clause(("price",)),))


def test_filters_and_options_become_plain_values() -> None:
    p = plan("x", filters=Filters(topics=("AI", " "), since="2020", until="2020-02"), sort="newest", page=2, limit=5)
    assert p.filters.topics == ("AI",)
    assert p.filters.since == 1577836800 and p.filters.until == 1583020799  # 2020-01-01 .. 2020-02-29 23:59:59
    assert (p.sort, p.offset, p.limit) == ("newest", 5, 5)
    assert plan("x", boosts=("recency:7d",)).boosts[0].value == 7 * 86400


def test_bad_options_are_usage_errors_naming_them() -> None:
    with pytest.raises(UsageError, match="`since`"):
        plan("x", filters=Filters(since="yesterday"))
    with pytest.raises(UsageError, match="`since` 2021 is after `until` 2020"):
        plan("x", filters=Filters(since="2021", until="2020"))
    with pytest.raises(UsageError, match="`page`"):
        plan("x", page=0)


def test_a_plan_is_frozen_plain_data() -> None:
    p = plan("oil +price")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.text = "changed"  # type: ignore[misc]
    assert p == plan("oil +price") and hash(p) == hash(plan("oil +price"))


@given(st.text(max_size=60))
def test_any_text_gives_a_plan_of_words(text: str) -> None:
    p = plan(text)
    for group in (*p.should, *p.must):
        assert group and all(clause.words and all(w and w == w.lower() for w in clause.words) for clause in group)
    assert sum(len(c.words) for g in p.positive for c in g) + sum(len(c.words) for c in p.must_not) <= 256
