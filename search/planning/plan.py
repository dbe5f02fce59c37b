"""The query plan: what to search for, as plain data, apart from how it is run.

A plan is built from the request a door received (the CLI's options, the
library's keyword arguments) and the safe-mode text as search.planning.syntax reads
it (one reader of the syntax: its OR-groups of clauses).  It holds words,
not a backend's terms: each backend analyses them its own way (the embedded
index stems them with Whoosh's analyzer, searchd with its stem_en
morphology), so the plan can be executed by either.

    QueryPlan
    ├── should     OR-groups of clauses: a match needs one (more rank higher)
    ├── must       OR-groups typed with +: a match needs every one
    ├── must_not   clauses typed with - or NOT: a match has none
    ├── filters    topics, providers, date range, published flag
    └── sort, page, limit, facets, boosts, collapse

Everything here is a frozen dataclass of str, int, float and tuples.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from search.errors import UsageError
from search.planning.ranking import Boost, parse_boosts
from search.articles import parse_datetime
from search.storage.schema import WORDS_RE, analyse_word, fold, split_cjk
from search.planning.syntax import MAX_TERMS, clean_user_text, read_user_text

if TYPE_CHECKING:
    from search.planning.request import SearchRequest

__all__ = ["Clause", "PlanFilters", "QueryPlan", "build_plan", "date_bound"]


@dataclass(frozen=True)
class Clause:
    """A word, or words that must be adjacent and in order (a phrase, or a
    word the analyzer splits, as "covid-19"), folded but not stemmed."""

    words: tuple[str, ...]

    @property
    def phrase(self) -> bool:
        return len(self.words) > 1

    def terms(self) -> tuple[str, ...]:
        """The stemmed terms the embedded index holds for these words (stop words out)."""
        return tuple(t for t in (analyse_word(w) for w in self.words) if t)


Group = tuple[Clause, ...]


@dataclass(frozen=True)
class PlanFilters:
    """Filters select and never score.  Dates are inclusive epoch seconds."""

    topics: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    since: int | None = None
    until: int | None = None
    published: bool | None = None

    def __bool__(self) -> bool:
        return bool(self.topics or self.providers or self.since is not None or self.until is not None) or (
            self.published is not None
        )


@dataclass(frozen=True)
class QueryPlan:
    text: str
    should: tuple[Group, ...] = ()
    must: tuple[Group, ...] = ()
    must_not: tuple[Clause, ...] = ()
    filters: PlanFilters = PlanFilters()
    sort: str = "relevance"
    page: int = 1
    limit: int = 10
    facets: bool = True
    boosts: tuple[Boost, ...] = ()
    collapse: bool = True
    #: The positive terms as typed, repeats kept: a word typed twice weighs
    #: 1 + ln 2 in the ranking (search.planning.ranking.term_weights), though it is one clause.
    typed: tuple[str, ...] = ()

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    @property
    def positive(self) -> tuple[Group, ...]:
        return self.must + self.should

    @property
    def finds_nothing(self) -> bool:
        """Text was typed but none of it is searchable (only stop words or
        symbols): like Elasticsearch's zero_terms_query "none"."""
        return bool(self.text.strip()) and not self.positive and not self.must_not

    @property
    def browses(self) -> bool:
        """No words: every document (but the excluded ones) matches."""
        return not self.positive and not self.finds_nothing

    def terms(self) -> frozenset[str]:
        """Stemmed terms of the positive clauses: what a snippet marks."""
        return frozenset(t for group in self.positive for clause in group for t in clause.terms())


def _words(text: str) -> tuple[str, ...]:
    words: list[str] = []
    for word in WORDS_RE.findall(text):
        words.extend(fold(part) for part in split_cjk(word))
    return tuple(w for w in words if w)


def date_bound(value: str | datetime | None, *, end: bool, option: str) -> int | None:
    """An ISO 8601 date as epoch seconds; with `end`, the last second of the
    period written (until=2020 is the end of 2020).  UsageError names the parameter `option`."""
    if value is None or value == "":
        return None
    try:
        moment = parse_datetime(value)
    except ValueError as exc:
        raise UsageError(
            f"invalid date for `{option}`: {value!r}",
            option=option,
            hint="Use ISO 8601: 2020, 2020-02, 2020-02-12 or 2020-02-12T04:00:00Z.",
        ) from exc
    if end and isinstance(value, str):
        stripped = value.strip()
        try:
            if re.fullmatch(r"\d{4}", stripped):
                moment = moment.replace(year=moment.year + 1) - timedelta(seconds=1)
            elif re.fullmatch(r"\d{4}-\d{2}", stripped):
                nxt = moment.replace(day=28) + timedelta(days=4)
                moment = nxt.replace(day=1) - timedelta(seconds=1)
            elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", stripped):
                moment = moment + timedelta(days=1) - timedelta(seconds=1)
        except (ValueError, OverflowError):
            # A period of the year 9999 ends where datetime does: its last second.
            moment = datetime.max.replace(microsecond=0, tzinfo=moment.tzinfo)
    return int(moment.timestamp())


def build_plan(request: SearchRequest) -> QueryPlan:
    """The plan of a checked SearchRequest (safe-mode text; raw text is the
    embedded backend's own language and has no plan)."""
    request.check()
    should: list[Group] = []
    must: list[Group] = []
    must_not: list[Clause] = []
    typed_terms: list[str] = []
    budget = MAX_TERMS
    for typed in read_user_text(request.text):
        clauses: list[Clause] = []
        # A negated or +required clause is alone in its group (search.planning.syntax).
        negated, required = typed[0].negated, typed[0].required and len(typed) == 1
        for clause in typed:
            words = _words(clause.text)[:budget]
            built = Clause(words)
            if not words or not built.terms():
                continue  # only stop words or symbols: nothing to match
            budget -= len(words)
            clauses.append(built)
            if not negated:
                typed_terms.extend(built.terms())
        if not clauses:
            continue
        if negated:
            must_not.extend(clauses)
        elif required:
            must.append(tuple(clauses))
        else:
            should.append(tuple(clauses))
        if budget <= 0:
            break
    filters = request.filters
    since = date_bound(filters.since, end=False, option="since")
    until = date_bound(filters.until, end=True, option="until")
    if since is not None and until is not None and since > until:
        raise UsageError(f"`since` {filters.since} is after `until` {filters.until}", option="since")
    return QueryPlan(
        text=clean_user_text(request.text),
        should=tuple(dict.fromkeys(should)),  # a word typed twice is one clause
        must=tuple(dict.fromkeys(must)),
        must_not=tuple(dict.fromkeys(must_not)),
        filters=PlanFilters(
            topics=tuple(t for t in filters.topics if t.strip()),
            providers=tuple(p for p in filters.providers if p.strip()),
            since=since,
            until=until,
            published=filters.published,
        ),
        sort=request.sort,
        page=request.page,
        limit=request.limit,
        facets=request.facets,
        boosts=parse_boosts(request.boosts),
        collapse=request.collapse,
        typed=tuple(typed_terms),
    )
