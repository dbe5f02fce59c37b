"""The ASGI app of `search serve`: routes, the one error mapper, security headers.

    create_app(WebConfig(index_dir))  ->  a FastAPI app; uvicorn runs it

Errors are turned into responses in exactly one place, `_error_response`:
JSON ``{"error": {"status", "type", "parameter", "message", "hint"}}`` under
/api and /healthz, an HTML page elsewhere.  A user's mistake is a 4xx that
names the parameter (400 a bad value, 404 an unknown id or page, 405 a
method other than GET); 503 means the server's index cannot be read or every
searcher stayed busy (retry); 500 is a bug, logged with its traceback and
answered without one.

Every response carries the headers of search.web.security.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from search.errors import BackendError, DocumentNotFoundError, IndexError_, SearchError, UsageError
from search.web import api, pages
from search.web.config import WebConfig
from search.web.params import reject_nul
from search.web.pool import IndexPool, ServerBusyError
from search.web.security import SecurityHeaders

__all__ = ["create_app", "parameter_name"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"

#: The library's errors name CLI options; HTTP callers know the parameters.
_PARAMETER = {"query": "q", "text": "q", "prefix": "q", "topics": "topic", "providers": "provider", "boosts": "boost"}


def parameter_name(option: str | None) -> str | None:
    if not option:
        return None
    name = option.lstrip("-")
    return _PARAMETER.get(name, name)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path in ("/api", "/healthz", "/openapi.json")


def _describe(exc: Exception) -> tuple[int, str, str | None, str, str | None]:
    """(status, type, parameter, message, hint) for an exception."""
    if isinstance(exc, RequestValidationError):
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ())]
        name = loc[-1] if len(loc) > 1 else (loc[0] if loc else None)
        # Pydantic's message, never the input: that may be a 200 KB query.
        message = f"invalid value for {name!r}: {first.get('msg', 'invalid')}" if name else "invalid request"
        return 400, "invalid_parameter", name, message, None
    if isinstance(exc, UsageError):
        return 400, "invalid_parameter", parameter_name(exc.option), exc.message, exc.hint
    if isinstance(exc, DocumentNotFoundError):
        return 404, "not_found", "id", exc.message, None
    if isinstance(exc, ServerBusyError):
        return 503, "busy", None, exc.message, exc.hint
    if isinstance(exc, (IndexError_, BackendError)):
        return 503, "index_unavailable", None, exc.message, exc.hint
    if isinstance(exc, SearchError):
        return 500, "error", None, exc.message, exc.hint
    if isinstance(exc, HTTPException):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return exc.status_code, kind, None, str(exc.detail), None
    # A bug of ours: named by its type alone (its text may hold the server's paths), never a 503's retry.
    message = f"internal error: {type(exc).__name__}, a bug in news-search (logged on the server with its traceback)"
    return 500, "internal_error", None, message, "Please report it, with the request, to whoever runs this server."


def _error_response(request: Request, exc: Exception) -> Response:
    """The one place an exception becomes a response; see the module docstring."""
    status, kind, parameter, message, hint = _describe(exc)
    if status >= 500:
        log.error("%s %s -> %d: %s", request.method, request.url.path, status, message, exc_info=status == 500)
    headers = {"Retry-After": "1"} if kind == "busy" else None
    if isinstance(exc, HTTPException) and exc.headers:
        headers = {**(headers or {}), **exc.headers}
    if _wants_json(request):
        body = {"status": status, "type": kind, "parameter": parameter, "message": message, "hint": hint}
        return JSONResponse({"error": body}, status_code=status, headers=headers)
    return pages.render_error(request, status, message, hint, headers)


def create_app(config: WebConfig) -> FastAPI:
    """The app over `config.index_dir`; opens the first searcher now (IndexNotFoundError...)."""
    pool = IndexPool(config.index_dir, config.searchers, config.queue_seconds, config.backend)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        pool.close()

    app = FastAPI(
        title="news-search",
        summary="Full-text search over news-article records: the same results as `search query --json`.",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(reject_nul)],
    )
    app.state.pool = pool
    app.state.config = config
    for kind in (RequestValidationError, SearchError, HTTPException, Exception):
        app.add_exception_handler(kind, _handler)
    app.include_router(api.router)
    app.include_router(pages.router)
    # StaticFiles serves only files inside its folder (no ../ or symlinks out).
    swagger = _swagger_dir()
    if swagger is not None:
        app.mount("/static/swagger", StaticFiles(directory=swagger), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    return app


async def _handler(request: Request, exc: Exception) -> Response:
    return _error_response(request, exc)


def _swagger_dir() -> Path | None:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # pragma: no cover - part of the [web] extra
        return None
    return Path(swagger_ui_path)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("news-search")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"

