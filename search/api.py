"""The library's front door: an open index you search, inspect and refresh.

``open_index(dir)`` returns an Index that keeps one Whoosh searcher and
reuses it across searches: opening a searcher reads every segment's TOC and
term dictionary header (about 5 ms on the seeds, 40 ms on Reuters), which
would dominate a warm query (a few ms) if paid each time.  Before every call
it checks whether a reindex has committed or a full rebuild has swapped
generations, and if so moves to the new data; ``refresh()`` does the same on
demand.  The full check reads CURRENT and lists the live generation's folder
(about 0.1 ms, a twentieth of a warm query); between changes, two stat()
calls stand in for it: a commit adds its table of contents to the folder
and a rebuild replaces CURRENT, which changes their modification times, so
while neither has changed since a full check made well after their last
change (STAMP_SETTLED_NS, beyond any file system's time resolution) the
index is the one that check saw.

An Index is meant for one thread at a time (Whoosh searchers are not
thread-safe); open one per thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.bounds import MAX_SUGGESTIONS
from search.deadline import DEFAULT_TIME_LIMIT
from search.errors import DocumentNotFoundError
from search.backends.query import SearchContext, count_kind, run_search, weighting
from search.planning.request import check_id, check_limit, search_request
from search.planning.ranking import Boost
from search.results import Document as Document  # defined with the other typed results; re-exported here
from search.results import ResultPage, SimilarPage, Stats, Suggestion
from search.storage.schema import SCHEMA_VERSION, doc_id
from search.storage.store import CURRENT, CorruptionGuard, Store

if TYPE_CHECKING:
    from search.alerts.api import Alerts
    from search.backends.cluster.backend import ClusterIndex

log = logging.getLogger(__name__)

#: The freshness check trusts two stat() calls once the index's CURRENT file
#: and live generation folder are this much older than the check (see _ensure).
STAMP_SETTLED_NS = 2_000_000_000


class Index:
    """An open, searchable index; see the module docstring for its life cycle."""

    def __init__(self, index_dir: str | os.PathLike[str] = "index") -> None:
        self._store = Store(index_dir)  # which checks it is a path
        self.index_dir = self._store.root
        self._gen: Path | None = None
        self._ix: Any = None
        self._context: SearchContext | None = None
        self._stamp: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._ensure()

    # -- life cycle -------------------------------------------------------------

    def _open(self) -> None:
        self.close()
        self._gen, self._ix = self._store.open()
        self._context = SearchContext(self._ix.searcher(weighting=weighting()))

    def _ensure(self) -> SearchContext:
        """The current searcher and its caches, moved to new data if there is any."""
        if self._context is not None and self._stamp is not None and self._stamp == self._stamps(self._gen):
            return self._context
        # Taken before the full check: a change after it shows in the next stamps.
        now, stamp = time.time_ns(), self._stamps(self._gen)
        with CorruptionGuard(self.index_dir):
            if self._context is None or self._store.current_dir() != self._gen:
                self._open()
                stamp = None  # a new generation: its stamps are taken at the next search
            elif not self._context.searcher.up_to_date():
                # Reopen rather than Searcher.refresh(): refresh() drops the
                # readers of merged-away segments without closing their files.
                self._context.searcher.close()
                self._context = SearchContext(self._ix.searcher(weighting=weighting()))
        # Trusted only once both were last modified STAMP_SETTLED_NS before this
        # check: a file system keeps times to a tick (a few ms here, 1-2 s on
        # some), and a change in the tick of the stamps would not move them.
        settled = stamp is not None and max(stamp[0][3], stamp[1][3]) < now - STAMP_SETTLED_NS
        self._stamp = stamp if settled else None
        assert self._context is not None
        return self._context

    def _stamps(self, gen: Path | None) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
        """What the freshness check compares, two stat() calls: the CURRENT
        pointer (a full rebuild replaces it) and the live generation's folder
        (a commit adds its table of contents there, and removes the old)."""
        if gen is None:
            return None
        try:
            pointer, folder = os.stat(self.index_dir / CURRENT), os.stat(gen)
        except OSError:
            return None  # the full check says what is wrong
        return (
            (pointer.st_dev, pointer.st_ino, pointer.st_size, pointer.st_mtime_ns, pointer.st_ctime_ns),
            (folder.st_dev, folder.st_ino, folder.st_size, folder.st_mtime_ns, folder.st_ctime_ns),
        )

    def refresh(self) -> None:
        """See the latest committed data now (searches also do this by themselves)."""
        self._stamp = None  # the full check, whatever the stamps say
        self._ensure()

    def close(self) -> None:
        if self._context is not None:
            self._context.searcher.close()
        self._context = self._ix = self._gen = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alerts(self) -> Alerts:
        """This index's saved searches (search.alerts): add, list, get, show, remove, test."""
        from search.alerts.api import Alerts

        return Alerts(self.index_dir)

    # -- searching ----------------------------------------------------------------

    def search(
        self,
        text: str = "",
        *,
        topics: str | Sequence[str] | None = (),
        providers: str | Sequence[str] | None = (),
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        published: bool | None = None,
        sort: str = "relevance",
        limit: int = 10,
        page: int = 1,
        raw: bool = False,
        facets: bool = True,
        boost: str | Sequence[str | Boost] | None = (),
        collapse: bool = True,
        explain: bool = False,
        feedback: bool = True,
        suggest: bool = True,
        time_limit: float | None = DEFAULT_TIME_LIMIT,
    ) -> ResultPage:
        """Ranked hits for `text` (safe syntax unless raw=True), filtered and paged.

        `topics` and `providers` match any of the given values, ignoring case
        (a provider by name or domain; None or none: no filter); `since`/`until` take ISO 8601 dates
        and are inclusive (``until="2020"`` means to the end of 2020).
        `boost` multiplies relevance by news signals: "recency" (or
        "recency:7d", the half-life) and/or "quality" (or "quality:2", the
        weight; None: none); see search.planning.ranking.  With `collapse` (the default) copies of
        one story (same webUrl, or same title from the same provider within
        12 hours, search.backends.collapse.COPY_WINDOW) are
        one hit whose `duplicates` counts the others.  `explain` fills each
        hit's `explanation` and the page's `parsed_query`.  `feedback=False`
        skips pseudo-relevance feedback: about half the time of a query of
        two words or more, at some cost in ranking quality.  `suggest=False`
        skips the did-you-mean (a second search when nothing is found).
        `time_limit` is the seconds the search may work (0 or None: no limit);
        one that runs out returns the hits found by then, with the page's
        `timed_out` set (see search.deadline).
        """
        request = search_request(
            text,
            topics=topics,
            providers=providers,
            since=since,
            until=until,
            published=published,
            sort=sort,
            limit=limit,
            page=page,
            raw=raw,
            facets=facets,
            boost=boost,
            collapse=collapse,
            explain=explain,
            feedback=feedback,
            suggest=suggest,
            time_limit=time_limit,
        )
        context = self._ensure()
        with CorruptionGuard(self.index_dir):
            return run_search(context, request)

    def _docnum(self, searcher: Any, ident: str) -> int:
        """The document with this id, or the article whose file is at this path."""
        check_id(ident)
        docnum = searcher.document_number(id=ident)
        if docnum is None and ident:
            # abspath, as walk's roots are (records.normalise_roots): `recs/../recs/a.md` folds
            docnum = searcher.document_number(id=doc_id(os.path.abspath(ident)))
        if docnum is None:
            raise DocumentNotFoundError(ident)
        return int(docnum)

    def get(self, ident: str) -> Document:
        """The stored record with this id, or whose file is at this path."""
        context = self._ensure()
        searcher = context.searcher
        with CorruptionGuard(self.index_dir):
            docnum = self._docnum(searcher, ident)
            fields = searcher.stored_fields(docnum)
            related = ()
            if fields["kind"] == "article":
                related = tuple(
                    sorted(
                        (f["id"] for f in searcher.documents(parent=fields["id"])),
                        key=lambda i: int(i.rsplit("-r", 1)[1]),
                    )
                )
            record = context.record(docnum, fields)
        return Document(
            id=fields["id"],
            kind=fields["kind"],
            path=fields["path"],
            parent=fields.get("parent"),
            record=record,
            related_ids=related,
        )

    def similar(self, ident: str, *, limit: int = 10, collapse: bool = True) -> SimilarPage:
        """Articles like the one with this id (or path): its own related stubs,
        resolved to indexed articles where they exist, then more like it."""
        check_limit(limit)
        from search.backends.similar import find_similar

        # One searcher for both steps: a reindex between them would pair a
        # document number of one generation with another's searcher.
        context = self._ensure()
        with CorruptionGuard(self.index_dir):
            docnum = self._docnum(context.searcher, ident)
            return find_similar(context, docnum, limit=limit, collapse=collapse)

    def suggest(self, prefix: str, *, limit: int = 10) -> tuple[Suggestion, ...]:
        """Completions of `prefix`: topics, providers and article titles."""
        check_id(prefix, "prefix")
        check_limit(limit, MAX_SUGGESTIONS)
        from search.backends.complete import complete

        with CorruptionGuard(self.index_dir):
            return complete(self._ensure().searcher, prefix, limit=limit)

    def stats(self) -> Stats:
        context = self._ensure()
        searcher = context.searcher
        with CorruptionGuard(self.index_dir):
            everything = context.facets(searcher.reader().all_doc_ids())
            articles, related = count_kind(searcher, "article"), count_kind(searcher, "related")
        manifest = self._store.manifest(self._gen) if self._gen else {}
        updated = datetime.fromtimestamp(self._store.updated(self._gen), tz=timezone.utc) if self._gen else None
        return Stats(
            index_dir=str(self.index_dir),
            documents=searcher.doc_count(),
            articles=articles,
            related=related,
            size_bytes=self._store.size_bytes(),
            updated=updated,
            schema_version=int(manifest.get("schema_version", SCHEMA_VERSION)),
            whoosh_version=str(manifest.get("whoosh_version", "unknown")),
            topics=everything.topics,
            providers=everything.providers,
        )


def open_index(index_dir: str | os.PathLike[str] = "index", *, backend: str | None = None) -> Index | ClusterIndex:
    """Open the index at `index_dir` for searching (IndexNotFoundError if none),
    or with `backend` (e.g. "sphinx://127.0.0.1:9306") the cluster it names."""
    if backend:
        from search.backends.cluster.backend import ClusterIndex

        return ClusterIndex(backend)
    return Index(index_dir)
