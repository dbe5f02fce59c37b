"""What to search for, apart from how a backend runs it.

    request    a search as the doors ask for it (text, filters, sort, page), checked once
    syntax     the safe query syntax (and opt-in raw Whoosh syntax) into terms and phrases
    plan       a request as plain data: clauses, filters, ranking factors, page, facets
    ranking    BM25F field weights, the proximity and title signals, boosts

Each backend (search.backends) executes a plan its own way.
"""

from __future__ import annotations

__all__: list[str] = []
