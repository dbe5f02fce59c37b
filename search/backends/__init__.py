"""How a search is run: the embedded index (arrays beside Whoosh, and Whoosh's
own searcher for what the arrays do not answer) or a cluster.

    query      the embedded backend's entry: a request to a ranked, paged ResultPage
    engine     the numpy scorer over the side-car arrays (safe-syntax, relevance order)
    columns    per-document arrays: collapse keys and facet values
    collapse   copies of one story grouped into one hit
    facets     topic and provider counts over the match set
    snippets   highlighted excerpts
    spelling   did-you-mean from the index's own words
    complete   suggest: titles and words as the user types
    similar    more like this article
    explain    why a hit scored what it did
    cluster/   the same product on Sphinx / Manticore searchd (SphinxQL)
"""

from __future__ import annotations

__all__: list[str] = []
