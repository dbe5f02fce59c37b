"""The reindex job into a cluster: search.backends.cluster.sync, with the cluster's alerts matched.

``reindex_cluster(paths, url, alerts_dir)`` is what ``search index --backend``
and ``search watch --backend`` run.  When `alerts_dir` (the CLI's
``--index``) holds a cluster's alerts (search.alerts.cluster), the run holds
that folder's writer lock, as an embedded run holds its index's, so that
``search alert add`` / ``rm`` never race it, and every send is journalled and
matched (search.alerts.run); the report carries the run's alert news, as
build_index's does.  A folder that holds an embedded index is that index's:
its alerts are matched by build_index, never against a cluster.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from search.backends.cluster.sync import Batches, Progress, sync_cluster
from search.records import Limits
from search.results import IndexReport
from search.storage.store import Store

__all__ = ["reindex_cluster"]


def reindex_cluster(
    paths: Iterable[str | os.PathLike[str]],
    backend: str,
    alerts_dir: str | os.PathLike[str] | None = None,
    *,
    full: bool = False,
    wait: float = 0.0,
    limits: Limits | None = None,
    follow_symlinks: bool = False,
    progress: Progress | None = None,
    allow_empty: bool = False,
) -> IndexReport:
    """sync_cluster, with the alerts kept in `alerts_dir` matched at each send."""
    from search.alerts.files import AlertFiles

    def sync(batches: Batches | None = None) -> IndexReport:
        return sync_cluster(
            paths,
            backend,
            full=full,
            limits=limits,
            follow_symlinks=follow_symlinks,
            progress=progress,
            allow_empty=allow_empty,
            batches=batches,
        )

    if alerts_dir is None:
        return sync()
    home = Path(alerts_dir)
    store = Store(home)
    if not AlertFiles(home).folder.is_dir() or store.current_name() is not None:
        return sync()
    from search.alerts.cluster import ClusterAlertRun
    from search.backends.cluster.backend import ClusterIndex

    with store.writer_lock(wait), ClusterIndex(backend) as cluster:
        alerts = ClusterAlertRun.begin(home, cluster, fresh=False)
        report = sync(alerts)
    return replace(report, alerts=alerts.finish())
