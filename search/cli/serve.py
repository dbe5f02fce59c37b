"""The `search serve` command: the web app on uvicorn, in the foreground.

Imports only Typer at module level, so `search --help` loads neither
FastAPI nor uvicorn; the command imports them and says how to install the
extra when they are missing.  uvicorn handles SIGINT and SIGTERM: it stops
taking connections, finishes the requests in flight, then exits 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import errno
import signal
from typing import Any

import typer

from search import settings
from search.cli.options import BackendOpt
from search.errors import SearchError, UsageError
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
    web = config.WebConfig(index_dir=index, searchers=searchers, time_limit=time_limit, backend=backend)
    _can_listen(host, port)  # before the app opens the index: a refusal leaves nothing open
    app = create_app(web)
    _exit_zero_on_stop()
    typer.echo(f"Serving {backend or index} on http://{host}:{port} (Ctrl+C to stop)", err=True)
    try:
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
    except SystemExit as exc:
        if exc.code != _UVICORN_STARTUP_FAILURE:
            raise
        # The probe passed, then the bind failed (taken meanwhile): never uvicorn's 3, "index busy".
        raise SearchError(f"the web server could not start on {host}:{port}; the log line above says why") from None


#: What uvicorn exits with when it cannot start (its STARTUP_FAILURE), which
#: here would read as exit 3, "index busy: retry later".
_UVICORN_STARTUP_FAILURE = 3
_LISTEN_HINTS = {
    errno.EADDRINUSE: "Another program listens there: pick another --port, or stop that program.",
    errno.EACCES: "Ports below 1024 need privileges: pick --port 1024 or above.",
    errno.EADDRNOTAVAIL: "That is not an address of this machine: use 127.0.0.1 (this machine only) or 0.0.0.0.",
}


def _can_listen(host: str, port: int) -> None:
    """Bind `host:port` once, as uvicorn will, before it does: uvicorn says a
    failure in a log line and exits 3, which here means "index busy, retry
    later" (a scheduler would retry a taken port for ever).  A name that does
    not resolve is the command's mistake (exit 2, --host); a taken or
    privileged port is the machine's (exit 1); both name the address."""
    import socket  # here: every command of the CLI imports this module (2 ms of a cold query)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # uvicorn's choice (Config.bind_socket)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except socket.gaierror as exc:
        raise UsageError(
            f"cannot serve on --host {host!r}: {exc.strerror}",
            option="--host",
            hint="Use an address or name of this machine: 127.0.0.1 (the default, this machine only) or 0.0.0.0.",
        ) from None
    except OSError as exc:
        raise SearchError(
            f"cannot listen on {host}:{port}: {exc.strerror}", hint=_LISTEN_HINTS.get(exc.errno or 0)
        ) from None


def _exit_zero_on_stop() -> None:
    """uvicorn shuts down on SIGINT/SIGTERM, then raises the signal again for
    the handler that was there before it; this one takes it, so a requested
    stop exits 0 (as `search watch` does) instead of dying by the signal."""

    def stopped(_signum: int, _frame: Any) -> None:
        pass

    signal.signal(signal.SIGINT, stopped)
    signal.signal(signal.SIGTERM, stopped)
