"""The `search serve` command: the web app on uvicorn, in the foreground.

Imports only Typer at module level, so `search --help` loads neither
FastAPI nor uvicorn; the command imports them and says how to install the
extra when they are missing.  uvicorn handles SIGINT and SIGTERM: it stops
taking connections, finishes the requests in flight, then exits 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import signal
from typing import Any

import typer

from search import settings
from search.cli.options import BackendOpt
from search.errors import UsageError
from search.web import config

__all__ = ["serve_cmd"]

#: Request heads are read up to this size (uvicorn's h11 default is 16 KiB)
#: so that an oversized query gets the app's JSON 400 naming `q` instead of a
#: bare protocol error; the app refuses any `q` past MAX_QUERY_CHARS.
MAX_REQUEST_HEAD = 1024 * 1024


def serve_cmd(
    index: Annotated[
        Path,
        typer.Option(
            "--index", metavar="DIR", envvar=settings.INDEX_DIR.env, help=settings.INDEX_DIR.help, show_default=True
        ),
    ] = Path(str(settings.INDEX_DIR.default)),
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", envvar=config.HOST.env, help=config.HOST.help)
    ] = str(config.HOST.default),
    port: Annotated[
        int,
        typer.Option("--port", metavar="PORT", envvar=config.PORT.env, min=0, max=65535, help=config.PORT.help),
    ] = int(str(config.PORT.default)),
    searchers: Annotated[
        int,
        typer.Option(
            "--searchers", metavar="N", envvar=config.SEARCHERS.env, min=1, max=64, help=config.SEARCHERS.help
        ),
    ] = int(str(config.SEARCHERS.default)),
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit",
            metavar="SECONDS",
            envvar=settings.TIME_LIMIT.env,
            min=0,
            help="Seconds a search may work, at most; a request's time_limit may ask for less (0: none).",
        ),
    ] = float(str(settings.TIME_LIMIT.default)),
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (method, path with its query, status).")
    ] = False,
    backend: BackendOpt = None,
) -> None:
    """Serve a search page and a JSON API over the index (needs the [web] extra)."""
    try:
        import uvicorn

        from search.web.app import create_app
    except ImportError as exc:
        raise UsageError(
            f"`search serve` needs the web extra ({exc.name} is not installed)",
            option="serve",
            hint="pip install 'news-search[web]'",
        ) from None
    app = create_app(config.WebConfig(index_dir=index, searchers=searchers, time_limit=time_limit, backend=backend))
    _exit_zero_on_stop()
    typer.echo(f"Serving {backend or index} on http://{host}:{port} (Ctrl+C to stop)", err=True)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http="h11",
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD,
        log_level="info",
        # Off by default: a request line can be a megabyte of query; the
        # reverse proxy in front usually keeps the access log.
        access_log=access_log,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def _exit_zero_on_stop() -> None:
    """uvicorn shuts down on SIGINT/SIGTERM, then raises the signal again for
    the handler that was there before it; this one takes it, so a requested
    stop exits 0 (as `search watch` does) instead of dying by the signal."""

    def stopped(_signum: int, _frame: Any) -> None:
        pass

    signal.signal(signal.SIGINT, stopped)
    signal.signal(signal.SIGTERM, stopped)
