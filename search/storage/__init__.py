"""How the index is kept on disk: Whoosh is the index of record, with flat
arrays beside each of its segments.

    newsforms  word forms news spells two ways (British/American, tickers)
    schema     the Whoosh schema, its analysis, and a record as index fields
    store      the index folder: generations, CURRENT, the writer lock
    writers    Whoosh writers (one process or several) that write side-cars at commit
    sidecar    the side-car arrays file: format, atomic write, checked mapping
    stored     a document's stored fields and its record, packed, in columns
    postings   Whoosh's posting lists written from flat arrays, 128 at a time
    blocks     the compact form of Whoosh's posting blocks
    positions  the full-text fields' positions in a compact format
    segments   a reader as its segment readers and their first document numbers
    stems      the stem cache a full build leaves for the incremental runs after it
    whoosh_imports  Whoosh loaded without two imports it never calls (installed by `import search`)

Below it: the shared vocabulary (search.errors, search.records,
search.results, ...).  Above it: the plan, the backends, the jobs.
"""

from __future__ import annotations

__all__: list[str] = []
