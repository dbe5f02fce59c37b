"""The jobs that keep an index in step with the record files.

    indexer    build_index: full and incremental runs, alerts matched at each commit
    check      search check: an index's health, without changing it
    watch      search watch: the periodic reindex loop
    cluster    reindex_cluster: the run into a cluster (--backend), its alerts matched
"""

from __future__ import annotations

__all__: list[str] = []
