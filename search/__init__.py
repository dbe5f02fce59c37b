"""news-search: full-text search for folders of news-article records.

    from search import build_index, open_index
    report = build_index(["seeds"], "index")
    with open_index("index") as ix:
        page = ix.search("facial recognition", topics=["AI"], sort="newest")

This module only re-exports.  The names load on first use (PEP 562), so
``import search`` loads neither Typer nor Rich, and the CLI's ``--help``
does not load Whoosh.  It also installs, before anything of ours imports
Whoosh, the finder that keeps two of Whoosh's unused imports out of every
process (search.storage.whoosh_imports: 23 ms of a 0.2 s cold query).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from search.storage import whoosh_imports as _whoosh_imports

_whoosh_imports.install()

if TYPE_CHECKING:
    from search.api import Document, Index, open_index
    from search.errors import (
        DocumentNotFoundError,
        EmptySourceError,
        IndexBusyError,
        IndexCorruptError,
        IndexNotFoundError,
        IndexPermissionError,
        NotAnIndexError,
        QueryError,
        RecordError,
        SchemaVersionError,
        SearchError,
        UsageError,
    )
    from search.indexing.indexer import build_index
    from search.planning.ranking import Boost
    from search.articles import Article, Provider, Stub
    from search.records import Limits, load_record
    from search.results import (
        Explanation,
        Facets,
        Hit,
        IndexReport,
        ResultPage,
        SimilarPage,
        Skipped,
        Stats,
        Suggestion,
    )

_EXPORTS = {
    "search.api": ("Document", "Index", "open_index"),
    "search.errors": (
        "DocumentNotFoundError",
        "EmptySourceError",
        "IndexBusyError",
        "IndexCorruptError",
        "IndexNotFoundError",
        "IndexPermissionError",
        "NotAnIndexError",
        "QueryError",
        "RecordError",
        "SchemaVersionError",
        "SearchError",
        "UsageError",
    ),
    "search.indexing.indexer": ("build_index",),
    "search.articles": ("Article", "Provider", "Stub"),
    "search.records": ("Limits", "load_record"),
    "search.planning.ranking": ("Boost",),
    "search.results": (
        "Explanation",
        "Facets",
        "Hit",
        "IndexReport",
        "ResultPage",
        "SimilarPage",
        "Skipped",
        "Stats",
        "Suggestion",
    ),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "Article",
    "Boost",
    "Document",
    "DocumentNotFoundError",
    "EmptySourceError",
    "Explanation",
    "Facets",
    "Hit",
    "Index",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexNotFoundError",
    "IndexPermissionError",
    "NotAnIndexError",
    "IndexReport",
    "Limits",
    "Provider",
    "QueryError",
    "RecordError",
    "ResultPage",
    "SchemaVersionError",
    "SearchError",
    "SimilarPage",
    "Skipped",
    "Stats",
    "Stub",
    "Suggestion",
    "UsageError",
    "build_index",
    "load_record",
    "open_index",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
