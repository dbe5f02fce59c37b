"""Typed results: what the library returns and the CLI renders.

Every value here is a frozen dataclass with a ``to_dict()`` giving the
documented JSON shape, so the CLI's ``--json`` output and a Python caller see
the same thing.  Nothing here knows about Whoosh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from search.articles import Provider, utc_seconds

__all__ = [
    "Document",
    "Explanation",
    "Facets",
    "FilterMatches",
    "Hit",
    "IndexReport",
    "ResultPage",
    "SimilarPage",
    "Skipped",
    "Stats",
    "Suggestion",
]


@dataclass(frozen=True)
class Document:
    """A stored record as `search show` prints it (never with `secured`); search.api re-exports it."""

    id: str
    kind: str
    path: str
    parent: str | None
    record: dict[str, Any]
    related_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "parent": self.parent,
            "related_ids": list(self.related_ids),
            "record": self.record,
        }


@dataclass(frozen=True)
class Explanation:
    """A hit's score taken apart: the sum of its parts, times its factors.

    Each part is (what, role, score): what is the query term or phrase as the
    index holds it (stemmed); role is "match" (a query word or phrase),
    "proximity" (the words near each other), "feedback" (a term added from
    the top hits of a long question) or "similar" (a term of the article
    that `similar` started from).  Factors are the --boost multipliers."""

    score: float
    parts: tuple[tuple[str, str, float], ...]
    factors: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "parts": [{"what": what, "role": role, "score": round(score, 4)} for what, role, score in self.parts],
            "factors": [{"what": what, "factor": round(factor, 4)} for what, factor in self.factors],
        }


@dataclass(frozen=True)
class Hit:
    """One search result: an article, or a related stub carried by one."""

    id: str
    kind: str  # "article" or "related"
    path: str  # the record file (for a stub: the file that carries it)
    title: str
    excerpt: str | None
    url: str | None
    provider: Provider | None
    topics: tuple[str, ...]
    published: datetime | None
    quality: int | None
    heat: int | None
    score: float
    snippet: str  # HTML: matched words in <em>, the rest escaped
    parent: str | None = None  # for a stub: the id of the article carrying it
    duplicates: int = 0  # other matching copies of the same story, collapsed into this hit
    explanation: Explanation | None = None  # with explain=True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "title": self.title,
            "excerpt": self.excerpt,
            "url": self.url,
            "provider": {
                "name": self.provider.name if self.provider else None,
                "domain": self.provider.domain if self.provider else None,
            },
            "topics": list(self.topics),
            "published": utc_seconds(self.published),
            "quality": self.quality,
            "heat": self.heat,
            "score": round(self.score, 4),
            "snippet": self.snippet,
            "parent": self.parent,
            "duplicates": self.duplicates,
            "explanation": self.explanation.to_dict() if self.explanation else None,
        }


@dataclass(frozen=True)
class Facets:
    """Counts over the whole matching set, most frequent first."""

    topics: dict[str, int] = field(default_factory=dict)
    providers: dict[str, int] = field(default_factory=dict)
    years: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {"topics": dict(self.topics), "providers": dict(self.providers), "years": dict(self.years)}


@dataclass(frozen=True)
class FilterMatches:
    """When filters leave no results: what the query finds with one filter alone.

    `filter` is the library's parameter (topics, providers, since, until,
    published), `value` its value as given, `matches` the results (stories,
    as `total` counts them) of the query with that filter and no other."""

    filter: str
    value: str
    matches: int

    def to_dict(self) -> dict[str, Any]:
        return {"filter": self.filter, "value": self.value, "matches": self.matches}


@dataclass(frozen=True)
class ResultPage:
    """One page of ranked hits, with the total and the facets of all matches."""

    query: str
    total: int
    page: int
    limit: int
    hits: tuple[Hit, ...]
    facets: Facets | None
    relaxed: bool = False  # no document had every word; ranked by how many they have
    suggestion: str | None = None  # did you mean: the query with misspelled words corrected
    parsed_query: str | None = None  # with explain=True: the query as the engine ran it
    timed_out: bool = False  # the time limit cut the search short: hits and total are those found by then
    partial: bool = False  # a cluster shard did not answer: hits and counts are from the others
    warning: str | None = None  # the cluster engine's warning when partial
    # When filters left nothing: the query's results without any filter, and with each filter alone.
    without_filters: int | None = None
    filter_matches: tuple[FilterMatches, ...] = ()

    @property
    def total_exact(self) -> bool:
        """Whether `total` counts every match; False makes it a lower bound
        (Elasticsearch's track_total_hits): when the time limit cut the search
        short or a cluster shard did not answer.  Every match is counted otherwise."""
        return not (self.timed_out or self.partial)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit)) if self.limit else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "total": self.total,
            "page": self.page,
            "limit": self.limit,
            "hits": [hit.to_dict() for hit in self.hits],
            "facets": (self.facets or Facets()).to_dict(),
            "relaxed": self.relaxed,
            "suggestion": self.suggestion,
            "parsed_query": self.parsed_query,
            "timed_out": self.timed_out,
            "partial": self.partial,
            "warning": self.warning,
            "without_filters": self.without_filters,
            "filter_matches": [f.to_dict() for f in self.filter_matches],
            "total_exact": self.total_exact,
        }


@dataclass(frozen=True)
class SimilarPage:
    """Articles like one article: its own related stubs (resolved to indexed
    articles where one has the stub's webUrl), then more like it."""

    id: str
    title: str
    related: tuple[Hit, ...]
    hits: tuple[Hit, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "related": [hit.to_dict() for hit in self.related],
            "hits": [hit.to_dict() for hit in self.hits],
        }


# What a skipped file's error ends with when a version of it was indexed before:
# a file that breaks or cannot be read keeps that version (both backends).
KEPT_VERSION = "the version indexed before is kept until the file reads again"


@dataclass(frozen=True)
class Skipped:
    """A record file that was not indexed (or indexed with a warning), and why."""

    path: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "error": self.error}


@dataclass(frozen=True)
class AlertNews:
    """What one indexing run did for saved searches (see search.alerts)."""

    matches: tuple[tuple[str, int], ...] = ()  # (alert, new matches this run)
    delivered: tuple[tuple[str, int], ...] = ()  # (alert, matches handed to its --exec/--file)
    problems: tuple[str, ...] = ()  # warnings: the articles were indexed all the same

    def to_dict(self) -> dict[str, Any]:
        return {"matches": dict(self.matches), "delivered": dict(self.delivered), "problems": list(self.problems)}


@dataclass(frozen=True)
class IndexReport:
    """What one indexing run did."""

    added: int
    updated: int
    deleted: int
    unchanged: int
    skipped: tuple[Skipped, ...]
    seconds: float
    warnings: tuple[Skipped, ...] = ()
    full: bool = False
    documents: int = 0  # searchable documents in the index after the run
    alerts: AlertNews = AlertNews()
    #: Roots that yielded no files and folders that could not be listed, whose
    #: indexed records were kept rather than deleted (see build_index's allow_empty).
    kept: tuple[Skipped, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged, {len(self.skipped)} skipped in {self.seconds:.2f}s"
        )
        if self.alerts.matches:
            text += "; new alert matches: " + ", ".join(f"{name} {n}" for name, n in self.alerts.matches)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "skipped": [s.to_dict() for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "warnings": [{"path": w.path, "warning": w.error} for w in self.warnings],
            "full": self.full,
            "documents": self.documents,
            "alerts": self.alerts.to_dict(),
            "kept": [k.to_dict() for k in self.kept],
        }


@dataclass(frozen=True)
class Stats:
    """What is in an index."""

    index_dir: str
    documents: int
    articles: int
    related: int
    size_bytes: int
    updated: datetime | None
    schema_version: int
    whoosh_version: str
    topics: dict[str, int]
    providers: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index_dir,
            "documents": self.documents,
            "articles": self.articles,
            "related": self.related,
            "size_bytes": self.size_bytes,
            "updated": utc_seconds(self.updated),
            "schema_version": self.schema_version,
            "whoosh_version": self.whoosh_version,
            "topics": dict(self.topics),
            "providers": dict(self.providers),
        }


@dataclass(frozen=True)
class Suggestion:
    """One completion of a prefix: a title, a topic or a provider."""

    text: str
    kind: str  # "title", "topic" or "provider"
    count: int  # documents it would find (for a title: 1, or its copies)
    id: str | None = None  # for a title: the article's id

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "kind": self.kind, "count": self.count, "id": self.id}
