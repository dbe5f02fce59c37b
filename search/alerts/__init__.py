"""Saved searches: each reindex run records, once, the new articles each one matches.

    files      the alerts folder beside the generations: definitions, match log, journal
    matching   an alert's `search query` matching set, evaluated on a run's articles only
    run        the reindex run's side: journal, commit, match, record (exactly once)
    delivery   each run's new matches to an alert's --exec command and --file
    api        the library's door: Alerts(index_dir), also open_index(dir).alerts
    cluster    the same run over a cluster (--backend): matched by searchd

This module only re-exports, lazily (so the indexer's import of
search.alerts.run loads nothing else).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.alerts.api import AlertMatches, Alerts, AlertSummary, check_alerts
    from search.alerts.files import Alert, Match

_EXPORTS = {
    "search.alerts.api": ("AlertMatches", "AlertSummary", "Alerts", "check_alerts"),
    "search.alerts.files": ("Alert", "Match"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["Alert", "AlertMatches", "AlertSummary", "Alerts", "Match", "check_alerts"]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'search.alerts' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
