"""The cluster backend: the same product on Sphinx 2.2.11 / Manticore searchd.

    plan (search.planning.plan)  ->  sphinxql  ->  one distributed table  ->  N RT shards

Modules, one concept each:

* ``url``: what ``--backend sphinx://HOST:PORT`` names, and the connection.
* ``sphinxql``: escaping (SQL literals and MATCH text) and a query plan
  turned into SphinxQL; nothing is ever interpolated unescaped.
* ``rows``: an article and its related stubs as shard rows, and the
  routing of a row to a shard by a stable hash of the article id.
* ``sync``: the reindex job into a cluster (REPLACE / DELETE batches; the
  bookkeeping lives in the rows, so it is acknowledged with them).
* ``backend``: ClusterIndex, the library's Index over a cluster.
* ``daemons``: configs and searchd processes for ``search cluster up``.
* the ``search cluster`` command group is search.cli.cluster.

Only ``url`` imports PyMySQL (the ``[cluster]`` extra), and only when a
connection is opened.
"""

from __future__ import annotations

__all__: list[str] = []
