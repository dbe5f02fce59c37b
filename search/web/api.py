"""The JSON API: each route makes one library call and answers its result's to_dict().

The bodies are the very dictionaries `search query --json`, `show`,
`similar --json`, `suggest --json` and `stats --json` print, so a script can
move between the CLI and HTTP without a change.  Errors are answered by the
app's one mapper (search.web.app) as ``{"error": {...}}`` with a 4xx status
that names the parameter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from search.bounds import MAX_LIMIT, MAX_SUGGESTIONS
from search.display import to_json
from search.web.config import MAX_QUERY_CHARS
from search.web.params import DocId, SearchParams, search_params
from search.web.pool import IndexPool

__all__ = ["router"]

router = APIRouter()


def _pool(request: Request) -> IndexPool:
    pool: IndexPool = request.app.state.pool
    return pool


def _json(value: Any) -> Response:
    # The CLI's own JSON writer: characters kept as data, controls, bidi
    # controls and lone surrogates (a file name that is not UTF-8) as \uXXXX,
    # so the body is always valid UTF-8.
    return Response(to_json(value, indent=None), media_type="application/json")


@router.get("/api/search", summary="Search (as `search query --json`)")
def search(request: Request, params: Annotated[SearchParams, Depends(search_params)]) -> Response:
    with _pool(request).index() as ix:
        return _json(params.run(ix, request.app.state.config.time_limit).to_dict())


@router.get("/api/articles/{id}", summary="A stored record with its related stubs (as `search show`)")
def article(request: Request, id: DocId) -> Response:  # noqa: A002 - the documented name
    with _pool(request).index() as ix:
        return _json(ix.get(id).to_dict())


@router.get("/api/similar/{id}", summary="Articles like this one (as `search similar --json`)")
def similar(
    request: Request,
    id: DocId,  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Similar articles.")] = 10,
    collapse: Annotated[bool, Query(description="Copies of one story once.")] = True,
) -> Response:
    with _pool(request).index() as ix:
        return _json(ix.similar(id, limit=limit, collapse=collapse).to_dict())


@router.get("/api/suggest", summary="Complete a prefix (as `search suggest --json`)")
def suggest(
    request: Request,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="The start of a title word, topic or provider.")],
    limit: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS, description="Suggestions.")] = 10,
) -> Response:
    with _pool(request).index() as ix:
        return _json([s.to_dict() for s in ix.suggest(q, limit=limit)])


@router.get("/api/stats", summary="What the index holds (as `search stats --json`)")
def stats(request: Request) -> Response:
    with _pool(request).index() as ix:
        return _json(ix.stats().to_dict())


@router.get("/healthz", summary="The index opens and is current: 200, else 503")
def healthz(request: Request) -> Response:
    with _pool(request).index() as ix:
        ix.refresh()
    return _json({"status": "ok"})
