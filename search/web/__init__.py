"""The web door: `search serve`, a JSON API and an HTML page over the library.

    app.py      builds the ASGI app: routes, the one error mapper, security headers
    api.py      /api/...: the library's typed results as the JSON `--json` prints
    pages.py    /, /articles/{id}, /similar/{id}: Jinja2 pages, autoescaped
    pool.py     open Index objects, one per request at a time
    config.py   the server's settings, declared once
    (the `serve` command is search.cli.serve)

Importing this package loads nothing from FastAPI, Starlette, uvicorn or
Jinja2 (``search --help`` imports ``search.cli.serve``); ``search.web.app``
does, and needs the ``[web]`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.web.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from search.web.app import create_app

        return create_app
    raise AttributeError(f"module 'search.web' has no attribute {name!r}")
