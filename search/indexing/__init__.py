"""The jobs that keep an index in step with the record files.

    indexer    build_index: full and incremental runs, alerts matched at each commit
    check      search check: an index's health, without changing it
    watch      search watch: the periodic reindex loop
"""

from __future__ import annotations

__all__: list[str] = []
