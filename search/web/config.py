"""The web server's settings, declared once (default, environment variable, help).

Precedence is as for every setting: `serve` option > environment > default.
`WebConfig` carries the values into the app; the app never reads the
environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from search.bounds import check_seconds
from search.settings import TIME_LIMIT, Setting

__all__ = ["HOST", "MAX_QUERY_CHARS", "PORT", "SEARCHERS", "WEB_SETTINGS", "WebConfig"]

HOST = Setting(
    "host", "127.0.0.1", "SEARCH_HOST", "Address to listen on; the default keeps it to this machine (0.0.0.0: all)."
)
PORT = Setting("port", 8000, "SEARCH_PORT", "TCP port to listen on.")
SEARCHERS = Setting(
    "searchers",
    4,
    "SEARCH_SEARCHERS",
    "Searches run at once, each with its own open index; more requests wait their turn.",
)
WEB_SETTINGS: tuple[Setting, ...] = (HOST, PORT, SEARCHERS)

#: The longest `q` accepted.  The library reads at most 256 terms anyway; a
#: query past this is a mistake or an attack, answered 400 naming `q`.
MAX_QUERY_CHARS = 2_000


@dataclass(frozen=True)
class WebConfig:
    """What the app needs to know; see the settings above."""

    index_dir: Path
    searchers: int = 4
    #: A cluster's URL (search.backends.cluster) to search instead of index_dir.
    backend: str | None = None
    #: How long a request waits for a free searcher before a 503 (with
    #: Retry-After): a queue longer than this is overload, not work.
    queue_seconds: float = 10.0
    #: The most a search may work (the library's deadline; 0: none); a
    #: request's `time_limit` may ask for less, never more.
    time_limit: float = float(str(TIME_LIMIT.default))

    def __post_init__(self) -> None:
        # Refused here, at start: NaN passes every "at most" check a request
        # makes against it, so a server given it answered every search 400 (F8).
        check_seconds(self.time_limit, "time_limit")
