"""Settings, declared once: name, default, environment variable and help.

Precedence is CLI option > environment variable > default.  The CLI reads
these declarations for its options (``envvar=``); the library takes plain
arguments and never reads the environment itself.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SETTINGS", "Setting"]


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

SETTINGS: tuple[Setting, ...] = (INDEX_DIR, MAX_FILE_SIZE, WAIT, PROCS)
