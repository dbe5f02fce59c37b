"""What a search asks for, before any backend runs it: the text, the filters,
the order, the page and what to compute (facets, collapse, feedback,
did-you-mean, explanations), checked once for every door.

A backend turns it into its own terms: search.planning.plan into the
backend-neutral plan, search.backends.query into Whoosh queries and the
array engine, search.backends.cluster into SphinxQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from search.articles import utf8
from search.bounds import MAX_LIMIT, check_seconds
from search.deadline import DEFAULT_TIME_LIMIT
from search.errors import QueryError, UsageError, shown
from search.planning import ranking

__all__ = ["SORTS", "Filters", "SearchRequest", "check_id", "check_limit", "search_request"]

SORTS = ("relevance", "newest", "oldest", "quality")


@dataclass(frozen=True)
class Filters:
    topics: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    since: str | datetime | None = None
    until: str | datetime | None = None
    published: bool | None = None


def check_limit(limit: int, most: int = MAX_LIMIT) -> None:
    """A page size from 1 to `most`, or a UsageError naming the parameter `limit`."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise UsageError(f"`limit` must be a whole number, not {limit!r}", option="limit")
    if not 1 <= limit <= most:
        raise UsageError(f"`limit` must be 1 to {most}, not {limit}", option="limit")


def check_id(value: object, parameter: str = "id") -> str:
    """`value` if it is a str (a document id, a record's path, a prefix), else a
    UsageError naming `parameter`."""
    if not isinstance(value, str):
        raise UsageError(f"`{parameter}` must be a str, not {_kind(value)}", option=parameter)
    # A command-line argument in another encoding (os.fsdecode's surrogate escapes):
    # no id or indexed path is spelled so (walk refuses such names), and Whoosh
    # cannot encode it to look it up (UnicodeEncodeError, said as a bug).
    if parameter == "id":
        return _utf8_value(
            value, parameter, "Records are indexed by UTF-8 names: rename the file, index it, then use its new name."
        )
    return _utf8_value(value, parameter)


def _kind(value: object) -> str:
    return "None" if value is None else f"{type(value).__name__} {shown(value)}"


def _values(value: object, parameter: str, allowed: tuple[type, ...] = (str,)) -> tuple[Any, ...]:
    """A library argument that takes one value or several: None or nothing is
    none (no filter, as Elasticsearch's client treats an absent parameter), a
    lone str is one value (not its characters), else each item must be one of
    `allowed`: a UsageError naming `parameter` otherwise."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (_utf8_value(value, parameter),)
    what = " or ".join(t.__name__ for t in allowed)
    if isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise UsageError(f"`{parameter}` must be a {what} or a list of them, not {_kind(value)}", option=parameter)
    items = tuple(value)
    for item in items:
        if not isinstance(item, allowed):
            raise UsageError(
                f"`{parameter}` must be a {what} or a list of them; it holds {_kind(item)}", option=parameter
            )
        if isinstance(item, str):
            _utf8_value(item, parameter)
    return items


def _utf8_value(value: str, parameter: str, hint: str = "Type it in UTF-8 (check the terminal's encoding).") -> str:
    """`value` (an id, a filter's or a boost's text) if it spells UTF-8; else a
    UsageError naming `parameter`: a saved alert would write it into
    alerts.json, which then is not UTF-8, and no indexed topic, provider or
    path is spelled so."""
    if not value.isascii() and not utf8(value):
        raise UsageError(
            f"`{parameter}` {value!r} is not valid UTF-8 (the \\udcXX are its bytes that are not)",
            option=parameter,
            hint=hint,
        )
    return value


@dataclass(frozen=True)
class SearchRequest:
    text: str = ""
    filters: Filters = Filters()
    sort: str = "relevance"
    limit: int = 10
    page: int = 1
    raw: bool = False
    facets: bool = True
    boosts: tuple[str | ranking.Boost, ...] = ()
    collapse: bool = True
    explain: bool = False
    suggest: bool = True  # look for a did-you-mean when little is found
    feedback: bool = True  # pseudo-relevance feedback for queries of two words or more
    time_limit: float | None = DEFAULT_TIME_LIMIT  # seconds; 0 or None: no limit

    def check(self) -> None:
        if not isinstance(self.text, str):
            raise QueryError(
                repr(self.text),
                f"`text` (the query) must be a str, not {type(self.text).__name__}",
                hint="Pass the words to search for as a string; '' lists every document.",
            )
        if not self.text.isascii() and not utf8(self.text):
            # A command-line argument in another encoding (os.fsdecode's surrogate
            # escapes): it matches no indexed word, a did-you-mean echoed its
            # bytes, and a saved alert wrote them into alerts.json (review s12 R3).
            raise QueryError(
                self.text,
                "it is not valid UTF-8 (the \\udcXX are its bytes that are not)",
                hint="Type the query in UTF-8 (check the terminal's encoding).",
            )
        # A flag that is not a bool was taken by its truth (raw="no" parsed the
        # query as Whoosh syntax, published="no" kept the published records):
        # refused, as Elasticsearch refuses "no" for a boolean parameter.
        for name in ("raw", "facets", "collapse", "explain", "suggest", "feedback"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"`{name}` must be True or False, not {_kind(getattr(self, name))}", option=name)
        if self.filters.published is not None and not isinstance(self.filters.published, bool):
            raise UsageError(
                f"`published` must be True, False or None, not {_kind(self.filters.published)}", option="published"
            )
        # Requests built by hand (not by search_request) are held to the same types.
        _values(self.filters.topics, "topics")
        _values(self.filters.providers, "providers")
        _values(self.boosts, "boost", (str, ranking.Boost))
        if self.sort not in SORTS:
            raise UsageError(f"unknown `sort` {self.sort!r}; use one of: {', '.join(SORTS)}", option="sort")
        check_limit(self.limit)
        if isinstance(self.page, bool) or not isinstance(self.page, int) or self.page < 1:
            raise UsageError(f"`page` must be a whole number, 1 or more, not {self.page!r}", option="page")
        if self.time_limit is not None:
            check_seconds(self.time_limit, "time_limit")
        if self.boosts and self.sort != "relevance":
            raise UsageError(
                f"`boost` works with `sort` relevance, not `sort` {self.sort}",
                option="boost",
                hint="Drop `sort` to rank by relevance times the boosts, or drop `boost` to sort.",
            )


def search_request(
    text: str = "",
    *,
    topics: str | Sequence[str] | None = (),
    providers: str | Sequence[str] | None = (),
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    published: bool | None = None,
    sort: str = "relevance",
    limit: int = 10,
    page: int = 1,
    raw: bool = False,
    facets: bool = True,
    boost: str | Sequence[str | ranking.Boost] | None = (),
    collapse: bool = True,
    explain: bool = False,
    feedback: bool = True,
    suggest: bool = True,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
) -> SearchRequest:
    """The request of a library search call, for every backend's `search`
    (search.api.Index, search.backends.cluster.backend.ClusterIndex): a lone string
    is one topic, provider or boost, not its characters, and None is none."""
    return SearchRequest(
        text=text,
        filters=Filters(
            topics=_values(topics, "topics"),
            providers=_values(providers, "providers"),
            since=since,
            until=until,
            published=published,
        ),
        sort=sort,
        limit=limit,
        page=page,
        raw=raw,
        facets=facets,
        boosts=_values(boost, "boost", (str, ranking.Boost)),
        collapse=collapse,
        explain=explain,
        feedback=feedback,
        suggest=suggest,
        time_limit=time_limit,
    )
