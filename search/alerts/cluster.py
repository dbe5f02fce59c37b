"""Alerts of a reindex run into a cluster: the same journal, match log and delivery, matched by searchd.

A cluster's alerts live in a local folder, as an index folder's do
(search.alerts.files; the folder named by ``--index``, which then holds no
index of its own), and the run into the cluster (search.backends.cluster.sync,
wired by search.indexing.cluster) goes through the same steps as the embedded
one (search.alerts.run): each batch's new articles journalled, the batch sent
and acknowledged by every shard, matched, recorded once, the journal dropped.

What differs is the matching: each alert is the query plan `search query`
would send (search.alerts.matching.request_of, search.planning.plan), run on
the cluster restricted to the batch's article ids (`id IN (...)`, unranked;
one round trip for every alert, search.backends.cluster.backend.matching).
An article counts only if the cluster holds it with the journalled content,
as in the embedded run: a journalled send that was never acknowledged is
not matched, and the next run's own diff sends it again.  A shard that does
not answer is an error, never a partial match, so the journal is kept and a
later run matches it.  A full rebuild needs no list of what was there
before: the writer knows each file's previous content and tells only new
content (search.backends.cluster.sync).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from search.alerts.files import Alert
from search.alerts.matching import request_of
from search.alerts.run import AlertRun
from search.backends.cluster import sphinxql
from search.backends.cluster.backend import ClusterIndex
from search.errors import AlertsCorruptError, BackendError, QueryError, SearchError
from search.planning.plan import QueryPlan, build_plan

log = logging.getLogger(__name__)

__all__ = ["ClusterAlertRun", "alert_plan"]


def alert_plan(alert: Alert) -> QueryPlan:
    """The plan of an alert's matching set; QueryError / UsageError as `search query --backend` gives."""
    request = request_of(alert)
    if request.raw:
        raise QueryError(
            alert.query,
            "raw (Whoosh) query syntax is not supported by the cluster backend",
            hint='Drop --raw: the safe syntax (words, "phrases", +, -, OR) works on both.',
        )
    plan = build_plan(request)
    sphinxql.match_expression(plan)  # a lone exclusion is refused here, not at the first batch
    return plan


class ClusterAlertRun(AlertRun):
    """AlertRun over a cluster: begin(alerts_dir, ClusterIndex(url), fresh=False)."""

    _plans: list[tuple[str, QueryPlan]] | None = None

    def _open_live(self) -> tuple[Any, Callable[[], None]]:
        return self._ix, lambda: None  # the run's own ClusterIndex, closed by its owner

    def _remember_previous(self) -> None:
        return None  # the writer tells only new content (see the module docstring)

    def _compiled_plans(self) -> list[tuple[str, QueryPlan]]:
        if self._plans is None:
            assert self.definitions is not None
            plans = []
            for alert in self.definitions.alerts:
                try:
                    plans.append((alert.name, alert_plan(alert)))
                except SearchError as exc:
                    self._problem(exc, f"alert {alert.name!r} is skipped (fix it, or remove and add it again)")
            self._plans = plans
        return self._plans

    def _match(
        self, ix: Any, ids: dict[str, str], run_at: str, described: dict[str, dict[str, Any]] | None = None
    ) -> None:
        assert self.files is not None and self.definitions is not None
        cluster: ClusterIndex = ix
        try:
            plans = self._compiled_plans()
            held = cluster.articles(ids)
            if not plans or not held:
                return
            order = sorted(held)
            matched = cluster.matching([plan for _, plan in plans], order)
            hits = {
                name: [held[sid]["id"] for sid in order if sid in found]
                for (name, _), found in zip(plans, matched, strict=True)
                if found
            }
            by_id = {fields["id"]: fields for fields in held.values()}
            self._record(hits, lambda ident: (described or {}).get(ident) or by_id[ident], run_at)
        except (AlertsCorruptError, OSError, BackendError) as exc:
            self._failed(exc)
