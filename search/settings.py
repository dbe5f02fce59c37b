"""Settings, declared once: name, default, environment variable and help.

Precedence is CLI option > environment variable > default.  The CLI reads
these declarations for its options (``envvar=``); the library takes plain
arguments and never reads the environment itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search.deadline import DEFAULT_TIME_LIMIT
from search.errors import UsageError

__all__ = ["SETTINGS", "Setting", "parse_duration"]


@dataclass(frozen=True)
class Setting:
    name: str
    default: object
    env: str
    help: str


INDEX_DIR = Setting("index", "index", "SEARCH_INDEX_DIR", "Index folder.")
MAX_FILE_SIZE = Setting(
    "max-file-size",
    5 * 1024 * 1024,
    "SEARCH_MAX_FILE_SIZE",
    "Largest record file read, in bytes; larger ones are skipped.",
)
WAIT = Setting("wait", 0.0, "SEARCH_WAIT", "Seconds to wait for another writer to finish before giving up (exit 3).")
PROCS = Setting("procs", 0, "SEARCH_PROCS", "Processes that parse records (0: one per core, at most 2).")

TIME_LIMIT = Setting(
    "time-limit",
    DEFAULT_TIME_LIMIT,
    "SEARCH_TIME_LIMIT",
    "Seconds a query may work; then it returns the hits found so far, marked timed out (0: none).",
)

BACKEND = Setting(
    "backend",
    "",
    "SEARCH_BACKEND",
    "A cluster to use instead of the index folder, e.g. sphinx://127.0.0.1:9306 (see docs/cluster.md).",
)

SETTINGS: tuple[Setting, ...] = (INDEX_DIR, MAX_FILE_SIZE, WAIT, PROCS, TIME_LIMIT, BACKEND)


_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_duration(text: str, option: str) -> float:
    """'90', '30s', '10m', '1h', '7d', '2w', '1y' -> seconds (> 0); `option` names it in the error."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdwy]?)\s*", text.lower())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"invalid duration for `{option}`: {text!r}; use e.g. 30s, 10m, 1h, 7d", option=option)
    return float(match.group(1)) * _UNITS[match.group(2)]
