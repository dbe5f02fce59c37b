"""HTTP parameters -> one library call: the same names as `search query`'s options.

`SearchParams` is what /api/search and the page both read (`q` is the
CLI's TEXT argument; the repeated options `--topic`, `--provider` and
`--boost` are repeated parameters).  FastAPI checks types and bounds and
documents them in the OpenAPI schema; the library checks the rest (dates,
sort, boosts) and its UsageError names the option, which the app's one
error mapper turns into the parameter's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Path, Query, Request

from search.api import Index
from search.bounds import MAX_LIMIT
from search.errors import UsageError
from search.planning.request import SORTS
from search.results import ResultPage
from search.web.config import MAX_QUERY_CHARS

if TYPE_CHECKING:
    from search.backends.cluster.backend import ClusterIndex

__all__ = ["ID_PATTERN", "DocId", "SearchParams", "reject_nul", "search_params"]

#: A document id as `search query` shows it: 16 hex digits, and "-rN" for a
#: related stub.  Only ids: the library's lookup by file path stays local.
ID_PATTERN = r"^[0-9a-f]{16}(-r[0-9]{1,6})?$"
DocId = Annotated[str, Path(pattern=ID_PATTERN, description="A document id, as in a hit's `id`.")]


@dataclass(frozen=True)
class SearchParams:
    q: str = ""
    topic: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    published: bool | None = None
    sort: str = "relevance"
    page: int = 1
    limit: int = 10
    boost: tuple[str, ...] = ()
    collapse: bool = True
    explain: bool = False
    feedback: bool = True
    raw: bool = False
    time_limit: float | None = None  # as asked; None: the server's limit

    def run(self, ix: Index | ClusterIndex, server_limit: float) -> ResultPage:
        """The search, within the request's time limit or else the server's."""
        return ix.search(
            self.q,
            topics=self.topic,
            providers=self.provider,
            since=self.since or None,
            until=self.until or None,
            published=self.published,
            sort=self.sort or "relevance",
            limit=self.limit,
            page=self.page,
            raw=self.raw,
            boost=self.boost,
            collapse=self.collapse,
            explain=self.explain,
            feedback=self.feedback,
            time_limit=server_limit if self.time_limit is None else self.time_limit,
        )


def search_params(
    request: Request,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY_CHARS,
            description='Words, "phrases", -excluded, a OR b (as `search query TEXT`); empty: every record.',
        ),
    ] = "",
    topic: Annotated[list[str] | None, Query(description="Only these topics (any); repeat for more.")] = None,
    provider: Annotated[
        list[str] | None, Query(description="Only these providers, by name or domain (any); repeat for more.")
    ] = None,
    since: Annotated[str | None, Query(description="Published on or after (ISO 8601: 2020, 2020-02-12...).")] = None,
    until: Annotated[str | None, Query(description="Published on or before (ISO 8601; inclusive).")] = None,
    published: Annotated[bool | None, Query(description="Only records with this `published` flag.")] = None,
    sort: Annotated[str, Query(description=f"Order of hits: {', '.join(SORTS)}.")] = "relevance",
    page: Annotated[int, Query(ge=1, description="Page number.")] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Hits per page.")] = 10,
    boost: Annotated[
        list[str] | None,
        Query(description="recency[:HALF_LIFE] or quality[:WEIGHT]: multiply relevance (sort=relevance only)."),
    ] = None,
    collapse: Annotated[bool, Query(description="Copies of one story once (same URL, or title and provider).")] = True,
    explain: Annotated[bool, Query(description="Fill the parsed query and each hit's score parts.")] = False,
    feedback: Annotated[bool, Query(description="Re-rank with terms from the top hits (slower, better).")] = True,
    raw: Annotated[bool, Query(description="Read q as Whoosh query language.")] = False,
    time_limit: Annotated[
        float | None,
        Query(gt=0, description="Seconds the search may work, at most the server's limit (the default)."),
    ] = None,
) -> SearchParams:
    cap: float = request.app.state.config.time_limit
    if time_limit is not None and cap and time_limit > cap:
        raise UsageError(
            f"time_limit may be at most this server's {cap:g} seconds, not {time_limit:g}", option="time_limit"
        )
    return SearchParams(
        q=q,
        topic=tuple(topic or ()),
        provider=tuple(provider or ()),
        since=since,
        until=until,
        published=published,
        sort=sort,
        page=page,
        limit=limit,
        boost=tuple(boost or ()),
        collapse=collapse,
        explain=explain,
        feedback=feedback,
        raw=raw,
        time_limit=time_limit,
    )


def reject_nul(request: Request) -> None:
    """No parameter may hold a NUL: no record can, and Whoosh's terms end at one."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise UsageError(f"parameter {name!r} holds a NUL character", option=name.replace("\x00", "\\0"))
