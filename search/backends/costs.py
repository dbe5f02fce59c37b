"""What choosing a relevance query's executor weighs, in a process that may run one query.

The engine (search.backends.engine) reads a query's postings as numpy
arrays: the fastest way once numpy is imported, but importing it costs
about 100 ms of CPU (Python 3.11, numpy 2), more than Whoosh's own searcher
takes to decode and score a few hundred postings (about 25 us a posting on
Reuters, cold, with the page's facets and snippets).  A command-line
``search query`` runs one query in a fresh process, and its cold time is
held against ``grep -ril`` (docs/performance.md), so a relevance query that
reads few postings, in a process that has not imported numpy yet, runs on
Whoosh's searcher.  Both paths give the same matches, scores and order
(tests/test_engine.py holds them together), so the choice changes only the
time.  A process that has paid for numpy already (an earlier query, a
library caller's own import) always uses the engine.

Measured (2026-12-07, load 0, Reuters 20,841 records, CPU of a first query
in a fresh process, imports excluded): "cocoa" (100 postings) engine 15.6 ms
and Whoosh 17.5 ms, "trade" (2,861) 52 ms and 82 ms, "said" (14,992) 63 ms
and 148 ms; numpy's import on top of the engine's.
"""

from __future__ import annotations

import sys

#: At most this many postings (the query's terms' document frequencies
#: summed) go to Whoosh's searcher in a process without numpy: about 25 ms
#: of decoding, a quarter of the import it saves.
WHOOSH_MAX_POSTINGS = 1_000


def arrays_paid() -> bool:
    """Whether this process has imported numpy already (the engine's cost is then only its work)."""
    return "numpy" in sys.modules
