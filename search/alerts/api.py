"""The library's door to saved searches: ``Alerts(index_dir)``, or ``open_index(dir).alerts``.

    alerts = open_index("index").alerts
    alerts.add("oil", "crude oil -palm", topics=["crude"])
    ...                                  # search index brings new files in
    page = alerts.show("oil", since=0)   # AlertMatches: the alert, its matches, next_cursor
    alerts.show("oil", since=page.next_cursor)   # only what came after

Changing alerts (add, remove) takes the index's writer lock, so it never
races a reindex run (IndexBusyError after `wait` seconds, as for
`search index`); reading them (list, get, show, test) takes no lock.
"""

from __future__ import annotations

import builtins
import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from search.alerts.delivery import file_target_problem
from search.alerts.files import Alert, AlertFiles, Definitions, Match, check_name
from search.errors import (
    AlertExistsError,
    AlertNotFoundError,
    AlertsCorruptError,
    IndexCorruptError,
    IndexPermissionError,
    SearchError,
    UsageError,
)
from search.results import ResultPage
from search.storage.store import CorruptionGuard, Store

#: `alert show` pages: at most this many matches a call.
MAX_SHOW = 1_000


@dataclass(frozen=True)
class AlertMatches:
    """An alert's matches after a cursor, oldest first; pass next_cursor as `since` to go on."""

    alert: Alert
    matches: tuple[Match, ...]
    next_cursor: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert.to_dict(),
            "matches": [m.to_dict() for m in self.matches],
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True)
class AlertSummary:
    """An alert with how many matches it has and its newest cursor (for `alert list`)."""

    alert: Alert
    matches: int
    last_cursor: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.alert.to_dict(), "matches": self.matches, "last_cursor": self.last_cursor}


def _values(value: str | builtins.list[str] | tuple[str, ...], parameter: str) -> tuple[str, ...]:
    """One value or several as a tuple (what each holds is search_request's check)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)):
        kind = type(value).__name__
        raise UsageError(f"`{parameter}` must be a str or a list of them, not {kind}", option=parameter)
    return tuple(value)


def _check_types(raw: object, published: object, exec: object, file: object) -> None:
    """UsageError for a value an alert cannot hold: add(raw="yes") was saved,
    and alerts.json then read as damaged, failing every alert command."""
    if not isinstance(raw, bool):
        raise UsageError(f"`raw` must be True or False, not {raw!r}", option="raw")
    if published is not None and not isinstance(published, bool):
        raise UsageError(f"`published` must be True, False or None, not {published!r}", option="published")
    if exec is not None and not isinstance(exec, str):
        raise UsageError(f"`exec` must be a str (a shell command), not {type(exec).__name__}", option="exec")
    if file is not None and not isinstance(file, (str, os.PathLike)):
        raise UsageError(f"`file` must be a str or a path, not {type(file).__name__}", option="file")


class Alerts:
    """The saved searches of the index at `index_dir`; with `backend` (a cluster's
    URL, search.backends.cluster), those of that cluster, kept in the folder
    `index_dir`, which then holds no index of its own (search.alerts.cluster)."""

    def __init__(self, index_dir: str | os.PathLike[str] = "index", *, backend: str | None = None) -> None:
        self.index_dir = Path(index_dir)
        self.backend = backend or None
        self._files = AlertFiles(self.index_dir)
        self._store = Store(self.index_dir)

    def add(
        self,
        name: str,
        query: str = "",
        *,
        topics: str | builtins.list[str] | tuple[str, ...] = (),
        providers: str | builtins.list[str] | tuple[str, ...] = (),
        since: str | None = None,
        until: str | None = None,
        published: bool | None = None,
        boost: str | builtins.list[str] | tuple[str, ...] = (),
        raw: bool = False,
        exec: str | None = None,
        file: str | os.PathLike[str] | None = None,
        wait: float = 0.0,
    ) -> Alert:
        """Save a search under `name`; from the next reindex run on, each new or
        changed article it matches is recorded once.  The query and filters are
        checked as `search query` checks them, with the same errors."""
        check_name(name)
        _check_types(raw, published, exec, file)
        if exec is not None and not exec.strip():
            raise UsageError("`exec` needs a command", option="exec")
        target = Path(file).absolute() if file else None
        problem = file_target_problem(target, self.index_dir) if target else None
        if problem:
            raise UsageError(
                f"--file {str(target)!r} is {problem}",
                option="file",
                hint="Name a file (it is created if absent) to append each run's matches to.",
            )
        alert = Alert(
            name=name,
            query=query,
            topics=_values(topics, "topics"),
            providers=_values(providers, "providers"),
            since=since or None,
            until=until or None,
            published=published,
            boost=_values(boost, "boost"),
            raw=raw,
            exec=exec,
            file=str(target) if target else None,
            created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        self._validate(alert)
        with self._store.writer_lock(wait):
            definitions = self._files.read_definitions()
            if definitions.get(name) is not None:
                raise AlertExistsError(name)
            stale = [m for m in self._files.read_matches() if m.alert == name]
            if stale:  # left by a hand edit or an interrupted rm: a new alert starts clean
                self._files.rewrite_matches(m for m in self._files.read_matches() if m.alert != name)
            self._files.write_definitions(replace(definitions, alerts=(*definitions.alerts, alert)))
        return alert

    def _validate(self, alert: Alert) -> None:
        """Run the alert's search once, so a bad query or filter fails here as in `search query`."""
        if self.backend and self._store.current_name() is not None:
            raise UsageError(
                f"{self.index_dir} holds an embedded index; a cluster's alerts are kept in a folder of their own",
                option="--index",
                hint="Name another folder with --index (e.g. --index cluster-alerts), the same for `search index --backend`.",
            )
        self._search(alert, limit=1, facets=False)  # IndexNotFoundError: build the index first

    def list(self) -> tuple[AlertSummary, ...]:
        """Every alert, oldest first, with its match count."""
        definitions = self._files.read_definitions()
        counts = {a.name: [0, 0] for a in definitions.alerts}
        for match in self._files.read_matches():
            if match.alert in counts:
                counts[match.alert][0] += 1
                counts[match.alert][1] = match.cursor
        return tuple(AlertSummary(a, *counts[a.name]) for a in definitions.alerts)

    def get(self, name: str) -> Alert:
        definitions = self._files.read_definitions()
        return self._find(definitions, name)

    def _find(self, definitions: Definitions, name: str) -> Alert:
        alert = definitions.get(name)
        if alert is None:
            raise AlertNotFoundError(name, [a.name for a in definitions.alerts])
        return alert

    def show(self, name: str, *, since: int = 0, limit: int = 100) -> AlertMatches:
        """The alert's matches with a cursor above `since`, oldest first, at most `limit`."""
        if not 1 <= limit <= MAX_SHOW:
            raise UsageError(f"`limit` must be 1 to {MAX_SHOW}, not {limit}", option="limit")
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise UsageError(f"`since` must be a cursor (0 or more), not {since!r}", option="since")
        alert = self.get(name)
        found: builtins.list[Match] = []
        for match in self._files.read_matches():
            if match.alert == name and match.cursor > since:
                found.append(match)
                if len(found) >= limit:
                    break
        return AlertMatches(alert, tuple(found), found[-1].cursor if found else since)

    def remove(self, name: str, *, wait: float = 0.0) -> Alert:
        """Delete the alert and its matches."""
        check_name(name)
        with self._store.writer_lock(wait):
            definitions = self._files.read_definitions()
            alert = self._find(definitions, name)
            kept: builtins.list[Match] = []
            last = 0
            for match in self._files.read_matches():
                last = match.cursor
                if match.alert != name:
                    kept.append(match)
            # The log first: were the run killed between the two writes, the
            # alert would still be defined, and a second rm would finish.
            self._files.rewrite_matches(kept)
            self._files.write_definitions(
                Definitions(
                    alerts=tuple(a for a in definitions.alerts if a.name != name),
                    next_cursor=max(definitions.next_cursor, last + 1),  # cursors never go back
                )
            )
            try:
                delivered = self._files.read_delivered()
            except AlertsCorruptError:
                delivered = {}
            if delivered.pop(name, None) is not None:
                self._files.write_delivered(delivered)
        return alert

    def test(self, name: str, *, limit: int = 10) -> ResultPage:
        """Run the alert over the whole index now, as `search query` would; records nothing."""
        return self._search(self.get(name), limit=limit, facets=True)

    def _search(self, alert: Alert, *, limit: int, facets: bool) -> ResultPage:
        """`search query` with the alert's text and filters, every article counted
        (no collapsing), run as Index.search runs it, or ClusterIndex.search with a backend."""
        from search.alerts.matching import request_of
        from search.backends.query import SearchContext, run_search, weighting

        request = replace(request_of(alert, limit=limit), facets=facets)
        if self.backend:
            from search.alerts.cluster import alert_plan
            from search.backends.cluster.backend import ClusterIndex

            alert_plan(alert)  # refused as the reindex run's matching would refuse it
            with ClusterIndex(self.backend) as cluster:
                return cluster.run_request(request)
        _, ix = self._store.open()
        try:
            with CorruptionGuard(self.index_dir), ix.searcher(weighting=weighting()) as searcher:
                return run_search(SearchContext(searcher), request)
        finally:
            ix.close()



def check_alerts(index_dir: str | os.PathLike[str]) -> builtins.list[tuple[str, str]]:
    """(path, problem) for each alerts file that does not read, or alert that no longer compiles."""
    files = AlertFiles(Path(index_dir))
    if not files.folder.is_dir():
        return []
    problems: builtins.list[tuple[str, str]] = []
    definitions = None
    readers = (files.read_definitions, lambda: builtins.list(files.read_matches()), files.read_pending)
    for reader in (*readers, files.read_delivered):
        try:
            value = reader()
        except AlertsCorruptError as exc:
            problems.append((exc.path, str(exc)))
        else:
            if isinstance(value, Definitions):
                definitions = value
    if definitions is not None and definitions.alerts:
        from search.alerts.matching import compile_alert

        try:
            _gen, ix = Store(index_dir).open()
        except SearchError:
            return problems  # the index's own check reports that
        try:
            with CorruptionGuard(Path(index_dir)), ix.searcher() as searcher:
                for alert in definitions.alerts:
                    try:
                        compile_alert(searcher, alert)
                    except SearchError as exc:
                        problems.append((str(files.path("alerts.json")), f"alert {alert.name!r}: {exc}"))
        except (IndexCorruptError, IndexPermissionError):
            pass  # damage, or a file this user may not read, met compiling: the index's own check reports it
        finally:
            ix.close()
    return problems
