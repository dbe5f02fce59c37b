"""Which of a run's articles each alert matches: `search query`'s matching set, on a few documents.

An alert matches what ``search query`` with the same text and filters would
return (with ``--no-collapse``), restricted to the articles a run added or
changed: any of the words, every +required one, phrases in order, none of
the -excluded ones, and the filters.  The Whoosh query is built by the
library's own builders (search.planning.syntax, query.Filters), never parsed here.

What differs is the cost.  ``search query`` walks whole posting lists; a
reindex run brings a few new articles into a large archive, so here each
segment's matcher is only asked, with skip_to(), about the run's documents,
in increasing order.  Whoosh's term matchers skip whole posting blocks
without decoding them, and And/Or/Not/phrase matchers skip through their
children, so the work follows the new documents, not the archive.  Matching
is match or no match: nothing is scored.

Only articles match, never the related stubs an article carries (those are
other stories, mentioned by it).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from whoosh import query

from search.alerts.files import Alert
from search.deadline import Deadline
from search.backends.query import filter_queries
from search.planning.request import Filters, SearchRequest
from search.storage.schema import decode_source
from search.planning.syntax import build_safe_query, raw_query

log = logging.getLogger(__name__)

#: Segments this many times larger than the documents asked about are skipped through, not preloaded.
STREAM_RATIO = 8


def request_of(alert: Alert, *, limit: int = 10) -> SearchRequest:
    """The `search query` request an alert stands for (no collapsing: every article counts)."""
    return SearchRequest(
        text=alert.query,
        filters=Filters(
            topics=alert.topics,
            providers=alert.providers,
            since=alert.since,
            until=alert.until,
            published=alert.published,
        ),
        limit=limit,
        raw=alert.raw,
        boosts=alert.boost,
        facets=False,
        collapse=False,
        feedback=False,
        suggest=False,
    )


@dataclass(frozen=True)
class Compiled:
    """An alert as Whoosh queries: a document matches `positive` and not `negative`."""

    alert: Alert
    positive: query.Query | None  # None: every document (no words, no filters)
    negative: query.Query | None


class LexiconCache:
    """A reader whose lexicons are read once: the filters of 100 alerts each walk the
    topic or provider lexicon through Whoosh's merged multi-segment iterator (a third
    of matching's time on Reuters); every other attribute is the reader's own."""

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._lexicons: dict[str, list[Any]] = {}

    def lexicon(self, field: str) -> list[Any]:
        if field not in self._lexicons:
            self._lexicons[field] = list(self._reader.lexicon(field))
        return self._lexicons[field]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


def compile_alert(searcher: Any, alert: Alert, reader: Any = None) -> Compiled:
    """The alert's matching query, built as search.backends.query.run_search builds it
    (`reader`: the searcher's, or a LexiconCache of it shared by many alerts).

    Raises what `search query` raises for the same input (UsageError, QueryError,
    a raw query whose wildcards and ranges expand past syntax.MAX_EXPANSION terms)."""
    schema = searcher.schema
    reader = reader if reader is not None else searcher.reader()
    negative: list[query.Query] = []
    if alert.raw:
        # Wildcards, prefixes and ranges listed now, within search query's budget
        # (MAX_EXPANSION terms, past it a QueryError: the run reports the alert and
        # skips it), rather than left to Whoosh's matchers, which walk the whole
        # lexicon at every commit under the writer lock.  No time limit: a list cut
        # short would miss matches that are never looked for again.
        main: query.Query = raw_query(schema, alert.query, reader, Deadline(None))
    else:
        built = build_safe_query(schema, alert.query)
        negative = built.negative
        if built.empty and not negative and alert.query.strip():
            main = query.NullQuery  # only stop words or symbols: finds nothing, as in search query
        elif built.empty:
            main = query.Every()
        else:
            main = built.main()
    filters = filter_queries(request_of(alert).filters, reader)
    if isinstance(main, query.Every):
        # Every()'s matcher lists a whole segment's documents; "no words" only leaves the filters.
        positive = (filters[0] if len(filters) == 1 else query.And(filters)) if filters else None
    else:
        positive = query.And([main, *filters]) if filters else main
    return Compiled(alert, positive, query.Or(negative) if negative else None)


def among(searcher: Any, q: query.Query, docnums: list[int]) -> set[int]:
    """The documents of `docnums` (sorted, live) that `q` matches, without walking the rest."""
    found: set[int] = set()
    leaves = searcher.leaf_searchers()
    for n, (leaf, offset) in enumerate(leaves):
        end = leaves[n + 1][1] if n + 1 < len(leaves) else searcher.doc_count_all()
        local = docnums[bisect.bisect_left(docnums, offset) : bisect.bisect_left(docnums, end)]
        if not local:
            continue
        # In a segment much larger than the documents asked about, the matchers
        # must stream (needs_current): Whoosh otherwise preloads every match of
        # a date range (ConstantScoreQuery), or of an Or in a segment of up to
        # 5,000 documents, into a list, the whole-posting-list cost this module
        # avoids (100 alerts on 1,000 articles spread over Reuters' big segment:
        # 3.4 s preloaded, 1.1 s streamed).  In a segment made mostly of them (a
        # run's own new segment), preloading in one pass is the cheaper way.
        stream = leaf.doc_count_all() > STREAM_RATIO * len(local)
        try:
            matcher = q.matcher(leaf, leaf.context(needs_current=stream, weighting=None))
        except query.TermNotFound:
            continue
        if not stream:
            wanted = {d - offset for d in local}
            found.update(d + offset for d in matcher.all_ids() if d in wanted)
            continue
        for docnum in local:
            target = docnum - offset
            if not matcher.is_active():
                break
            if matcher.id() < target:
                matcher.skip_to(target)
                if not matcher.is_active():
                    break
            if matcher.id() == target:
                found.add(docnum)
    return found


def evaluate(searcher: Any, alerts: Iterable[Compiled], docnums: Iterable[int]) -> dict[str, list[int]]:
    """Alert name -> the documents of `docnums` it matches, in document order."""
    ordered = sorted(set(docnums))
    result: dict[str, list[int]] = {}
    if not ordered:
        return result
    for compiled in alerts:
        hits = set(ordered) if compiled.positive is None else among(searcher, compiled.positive, ordered)
        if hits and compiled.negative is not None:
            hits -= among(searcher, compiled.negative, sorted(hits))
        if hits:
            result[compiled.alert.name] = sorted(hits)
    return result


def live_articles(searcher: Any, ids: dict[str, str]) -> dict[int, str]:
    """docnum -> id of the articles among `ids` (id -> content digest) that are in
    the index with that very content: a journalled batch whose commit did not
    happen has its old version there, or none, and is not matched."""
    if searcher.doc_count_all() == 0:
        # Whoosh's reader of no segments has no columns at all (NotImplementedError):
        # a full build whose sub-writers all died commits nothing, and then is refused.
        return {}
    column = searcher.reader().column_reader("source", translate=False)
    found: dict[int, str] = {}
    for ident, digest in ids.items():
        docnum = searcher.document_number(id=ident)
        if docnum is None:
            continue
        source = decode_source(column[docnum])
        if source is not None and (not digest or source[3] == digest):
            found[docnum] = ident
    return found


def describe(searcher: Any, docnum: int) -> dict[str, Any]:
    """The fields a match records: id, path, title, url, published."""
    fields = searcher.stored_fields(docnum)
    meta = fields.get("meta") or {}
    return {
        "id": fields["id"],
        "path": fields["path"],
        "title": fields.get("title") or "",
        "url": fields.get("url"),
        "published": meta.get("published"),
    }
