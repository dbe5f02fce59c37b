"""Run a search: match, rank, collapse, page, and shape the hits.

The text becomes a Whoosh query in search.planning.syntax; here it is run.  A
document needs any of the query's words (all of the +required ones, none of
the excluded ones) and passes the filters, which select but never score.
Relevance is BM25F over weighted fields (search.planning.ranking), with a proximity
bonus for queries of two to PROXIMITY_MAX_WORDS words and pseudo-relevance
feedback for every query of two words or more; relevance queries are
evaluated by search.backends.engine, raw queries and sorted orders by Whoosh's
searcher.  Matching any word rather than all of them is what the relevance
harness asked for: with every word required, 2- and 3-word queries cut from
the judged collections' topics lost 16-32% nDCG@10 and half of MAP@100 to
sqlite FTS5, because a page stops where the documents with every word run
out; ``ResultPage.relaxed`` says when no document has them all.

The work a query can do is bounded: at most syntax.MAX_TERMS terms are used,
a raw query's wildcards and ranges expand to at most syntax.MAX_EXPANSION
terms, and every query runs under a search.deadline.Deadline made from its
time limit: the engine checks it per posting block, and on Whoosh's path
this module walks the matchers itself and checks it every few hundred
documents, while matching and while collecting (Whoosh's TimeLimitCollector
never fired under a FilterCollector, which feeds its child directly: 256
words sorted by date ran 44 s against a 5 s limit).  A query that runs out
returns the hits found so far with ``ResultPage.timed_out`` set.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from whoosh import query, scoring, searching
from whoosh.collectors import WrappingCollector

from search.backends import costs, explain
from search.planning import ranking
from search.backends.collapse import DuplicateKeys, Groups
from search.deadline import DOCS_PER_CHECK, Deadline
from search.errors import UsageError
from search.backends.explain import Parts
from search.backends.facets import FACETS_BY_DOCUMENT, facets_of_documents
from search.planning.plan import date_bound
from search.planning.proximity import PHRASE_SLOP, PROXIMITY_MAX_WORDS
from search.planning.request import Filters, SearchRequest
from search.articles import Provider
from search.results import Explanation, Facets, FilterMatches, Hit, ResultPage
from search.storage.schema import MISSING_LOW, TEXT_FIELD, analyse_text
from search.storage.segments import segment_readers
from search.storage.stored import ReadColumn, Records
from search.backends.snippets import highlight, lead
from search.planning.syntax import BuiltQuery, build_safe_query, raw_query

if TYPE_CHECKING:  # the engine and its arrays (numpy) load when a search first uses them (search.backends.costs)
    from search.backends import engine
    from search.backends.columns import FacetArrays
    from search.backends.titles import FieldPostings

log = logging.getLogger(__name__)

#: On Whoosh's path, matching (and feedback) may use this share of the time
#: left, so that ranking what was found still fits in the limit.
MATCHING_SHARE = 0.5
#: A raw query's wildcard and range expansion may use this share of the limit.
EXPANSION_SHARE = 0.25
#: The exact-title factor (ranking.TitleMatch) may use this share of the limit.
TITLE_MATCH_SHARE = 0.2
#: Queries of this many words or more get pseudo-relevance feedback.
FEEDBACK_MIN_WORDS = 2


def weighting() -> scoring.WeightingModel:
    return ranking.NewsBM25()


# -- filters -----------------------------------------------------------------------


def _fold(value: str) -> str:
    return value.strip().casefold()


def _fold_host(value: str) -> str:
    return _fold(value).removeprefix("www.")


def _lexicon_matches(reader: Any, field: str, wanted: Iterable[str], fold: Any = _fold) -> list[str]:
    """The indexed values of `field` equal to any of `wanted` once both are folded."""
    folded = {fold(w) for w in wanted if w.strip()}
    if not folded or field not in reader.schema.names():
        return []
    found: list[str] = []
    for term in reader.lexicon(field):
        value = term.decode("utf-8") if isinstance(term, bytes) else term
        if fold(value) in folded:
            found.append(value)
    return found


# -- running it -------------------------------------------------------------------


def filter_queries(filters: Filters, reader: Any) -> list[query.Query]:
    """Whoosh queries that every hit must also match (empty: no filter)."""
    return [q for _, _, q in named_filters(filters, reader)]


def named_filters(filters: Filters, reader: Any) -> list[tuple[str, str, query.Query]]:
    """Each filter as (its parameter, its value as given, its Whoosh query)."""
    out: list[tuple[str, str, query.Query]] = []
    if filters.topics:
        values = _lexicon_matches(reader, "topic", filters.topics)
        topics = query.Or([query.Term("topic", v) for v in values]) if values else query.NullQuery
        out.append(("topics", ", ".join(filters.topics), topics))
    if filters.providers:
        # A name ignoring case; a domain also ignoring a leading "www.", on both sides.
        terms = [query.Term("provider", v) for v in _lexicon_matches(reader, "provider", filters.providers)]
        terms += [query.Term("domain", v) for v in _lexicon_matches(reader, "domain", filters.providers, _fold_host)]
        out.append(("providers", ", ".join(filters.providers), query.Or(terms) if terms else query.NullQuery))
    low = date_bound(filters.since, end=False, option="since")
    high = date_bound(filters.until, end=True, option="until")
    if low is not None and high is not None and low > high:
        raise UsageError(f"`since` {filters.since} is after `until` {filters.until}", option="since")
    if low is not None:
        out.append(("since", str(filters.since), query.NumericRange("date", low, None)))
    if high is not None:
        out.append(("until", str(filters.until), query.NumericRange("date", None, high)))
    if filters.published is not None:
        out.append(("published", str(filters.published).lower(), query.Term("published_flag", filters.published)))
    return out


def _sort_facet(sort: str) -> Any:
    from whoosh import sorting

    if sort == "newest":
        return [sorting.FieldFacet("newest", reverse=True), sorting.ScoreFacet()]
    if sort == "oldest":
        return [sorting.FieldFacet("oldest"), sorting.ScoreFacet()]
    if sort == "quality":
        return [sorting.FieldFacet("quality", reverse=True), sorting.ScoreFacet()]
    return None


def shadowed_stubs(searcher: searching.Searcher) -> set[int]:
    """Docnums of related stubs whose webUrl a live indexed article also has.

    doc_frequency() would be cheaper but counts deleted documents until a
    merge, which would keep a stub hidden after its article was removed."""
    hidden: set[int] = set()
    for term in searcher.reader().lexicon("stub_url"):
        stubs = set(searcher.docs_for_query(query.Term("stub_url", term)))
        if articles_with_url(searcher, term, stubs):
            hidden.update(stubs)
    return hidden


def articles_with_url(searcher: searching.Searcher, url: str | bytes, stubs: set[int] | None = None) -> list[int]:
    """Docnums of the live indexed articles whose webUrl is `url`, in index
    order.  The documents with a url term are its articles and its related
    stubs (the schema has no field of articles' urls alone), so the stubs,
    given or looked up, are left out."""
    if stubs is None:
        stubs = set(searcher.docs_for_query(query.Term("stub_url", url)))
    return [d for d in searcher.docs_for_query(query.Term("url", url)) if d not in stubs]


def count_kind(searcher: searching.Searcher, kind: str) -> int:
    """Live documents of a kind ("article" or "related")."""
    return sum(1 for _ in searcher.docs_for_query(query.Term("kind", kind)))


class SearchContext:
    """One searcher and what is worth computing once per searcher: the hidden
    (shadowed) stubs, and, when first needed, the facet table, the duplicate
    groups and the newest date and best quality the --boost factors scale by."""

    def __init__(self, searcher: searching.Searcher) -> None:
        self.searcher = searcher
        self.hidden = shadowed_stubs(searcher)
        self._facets: FacetArrays | None = None
        self._facet_calls = 0
        self._dup_keys: DuplicateKeys | None = None
        self._signals: tuple[int | None, int | None] | None = None
        self._engine: engine.Engine | None = None
        self._titles: FieldPostings | None = None
        self._stored: tuple[list[int], list[Any], frozenset[str]] | None = None
        self._records: Records | None = None

    def record(self, docnum: int, fields: dict[str, Any]) -> dict[str, Any]:
        """The record of document `docnum`, whose stored fields are `fields`
        (search.storage.stored: a column apart from the stored fields)."""
        if self._records is None:
            self._records = Records(self.searcher.reader())
        return self._records.get(docnum, fields)

    def body(self, docnum: int, fields: dict[str, Any]) -> str:
        """The body of document `docnum`'s record ("" if it has none)."""
        return self.record(docnum, fields).get("body") or ""

    def stored_fields(self, docnum: int) -> dict[str, Any]:
        """searcher.stored_fields(docnum), read from its segment's stored-fields
        column without the reader objects between: a page's ten hits went
        through five Whoosh calls each and a copy of their fields filtered by
        the schema (a third of the 25 us a hit's fields cost; the rest is
        the column's zlib and pickle).  Whoosh's own call where the index is
        not laid out as Whoosh 2.7.4's segments of the W3 codec."""
        if self._stored is None:
            self._stored = _stored_columns(self.searcher)
        offsets, columns, names = self._stored
        if not columns:
            return self.searcher.stored_fields(docnum)  # type: ignore[no-any-return]  # Whoosh is untyped
        segment = max(0, bisect_right(offsets, docnum) - 1)
        fields = columns[segment][docnum - offsets[segment]]
        if fields is None:
            return {}
        # SegmentReader.stored_fields keeps the fields the schema still has.
        return fields if names.issuperset(fields) else {k: v for k, v in fields.items() if k in names}

    def facets(self, matched: Iterable[int]) -> Facets:
        self._facet_calls += 1
        # The engine's array as it is; anything else as a list (numpy is not imported for it).
        listed: Any = matched if hasattr(matched, "tolist") else list(matched)
        if self._facet_calls == 1 and len(listed) <= self.few_matches():
            # The first search of a searcher, with few matches: reading their
            # stored fields (about 30 us each) beats building the table (about
            # 1.5 us per indexed document), which a one-query process (the
            # CLI) would pay in full; a second search builds the table.
            return facets_of_documents(self.searcher, listed if isinstance(listed, list) else listed.tolist())
        import numpy as np

        from search.backends.columns import FacetArrays

        docs = listed if isinstance(listed, np.ndarray) else np.array(listed, dtype=np.int64)
        if self._facets is None:
            self._facets = FacetArrays(self.searcher.reader())
        return self._facets.counts(docs)

    def few_matches(self) -> int:
        """Up to how many matches a first search counts its facets document by document."""
        return max(FACETS_BY_DOCUMENT, int(self.searcher.doc_count_all()) // 50)

    def engine_pays(self, main: query.Query, request: SearchRequest, feedback: bool) -> bool:
        """Whether a relevance query runs on the engine's arrays rather than
        Whoosh's searcher: always once this process has imported numpy or
        built the engine; otherwise only when the query reads more postings
        than costs.WHOOSH_MAX_POSTINGS, or feedback will read whole posting
        lists, or its facets would need the arrays anyway (see search.backends.costs)."""
        if self._engine is not None or feedback or costs.arrays_paid():
            return True
        reader = self.searcher.reader()
        bound = min(costs.WHOOSH_MAX_POSTINGS, self.few_matches()) if request.facets else costs.WHOOSH_MAX_POSTINGS
        postings = 0
        for field, text in main.iter_all_terms():
            postings += reader.doc_frequency(field, text)
            if postings > bound:
                return True
        return False

    def release(self) -> None:
        """Drop what one search read (the engine's postings), keeping the per-searcher caches."""
        if self._engine is not None:
            self._engine.start()

    def engine(self) -> engine.Engine:
        if self._engine is None:
            from search.backends.engine import Engine

            self._engine = Engine(self.searcher, TEXT_FIELD)
        return self._engine

    def title_match(
        self, request: SearchRequest, words: list[str], deadline: Deadline, arrays: bool = True
    ) -> ranking.TitleMatch:
        """The exact-title factor of `words`: over arrays for a relevance
        query on the engine (`arrays`), whose engine has the segments'
        deletion masks already; the same factor through Whoosh otherwise."""
        if request.sort != "relevance" or not arrays:
            return ranking.TitleMatch(self.searcher, words, deadline)
        from search.backends.titles import ArrayTitleMatch, SideCarTitles

        if self._titles is None:
            fast = self.engine()
            leaves = [(segment.reader, segment.offset, segment.live) for segment in fast.segments]
            self._titles = SideCarTitles(leaves, fast.n, fast)
        return ArrayTitleMatch(self.searcher, self._titles, words, deadline)

    def dup_keys(self) -> DuplicateKeys:
        if self._dup_keys is None:
            self._dup_keys = DuplicateKeys(self.searcher.reader())
        return self._dup_keys

    def factors(self, boosts: tuple[ranking.Boost, ...]) -> ranking.Factors | None:
        if not boosts:
            return None
        if self._signals is None:
            self._signals = _signals(self.searcher.reader())
        factors = ranking.Factors(self.searcher.reader(), boosts, *self._signals)
        return factors or None


def _stored_columns(searcher: searching.Searcher) -> tuple[list[int], list[Any], frozenset[str]]:
    """Each segment's first document number and its stored-fields column
    reader, and the schema's field names; no columns when a segment is not
    a W3 codec's SegmentReader with that column (SearchContext.stored_fields
    then asks Whoosh)."""
    from whoosh.codec.whoosh3 import STORED_COLUMN, W3PerDocReader
    from whoosh.reading import SegmentReader

    reader = searcher.reader()
    offsets: list[int] = []
    columns: list[Any] = []
    for leaf, offset in segment_readers(reader):
        perdoc: Any = getattr(leaf, "_perdoc", None)
        if type(leaf) is not SegmentReader or type(perdoc) is not W3PerDocReader:
            return [], [], frozenset()
        column = perdoc._cached_reader("_stored", STORED_COLUMN)
        if column is None:
            return [], [], frozenset()
        offsets.append(offset)
        columns.append(ReadColumn.of(column) or column)
    return offsets, columns, frozenset(searcher.schema.names())


def _signals(reader: Any) -> tuple[int | None, int | None]:
    """The newest publication date (not after now) and the best quality of the live documents."""
    if not reader.doc_count_all():
        return None, None  # an empty index (Whoosh's EmptyReader has no columns)
    now = int(datetime.now(timezone.utc).timestamp())
    live = set(reader.all_doc_ids()) if reader.has_deletions() else None
    dates = reader.column_reader("newest")
    qualities = reader.column_reader("quality")
    newest = max(
        (v for d, v in enumerate(dates) if MISSING_LOW < v <= now and (live is None or d in live)), default=None
    )
    best = max((v for d, v in enumerate(qualities) if v > 0 and (live is None or d in live)), default=None)
    return newest, best


def _highlight_terms(built: BuiltQuery | None, main: query.Query) -> frozenset[str]:
    """The terms a snippet marks: the safe query's words, or a raw query's full-text terms."""
    if built is not None:
        return frozenset(built.words)
    terms = set()
    for field, text in main.iter_all_terms():
        if field in (TEXT_FIELD, "title"):
            terms.add(text.decode("utf-8") if isinstance(text, bytes) else str(text))
    return frozenset(terms)


def _wants_feedback(built: BuiltQuery, request: SearchRequest, factors: ranking.Factors | None) -> bool:
    """Pseudo-relevance feedback for every query of two words or more (see
    search.planning.ranking), unless switched off, or some title has every
    query word (ranking.TitleMatch.whole): it about doubles such a query's
    cost (Reuters title queries: 5.8 -> 12.5 ms CPU at the median)."""
    if factors is not None and factors.title is not None and factors.title.whole:
        return False
    return request.feedback and len(built.positive) >= FEEDBACK_MIN_WORDS


def _bonus(built: BuiltQuery) -> query.Query | None:
    """Adjacent query words score extra: a sloppy phrase of a short query's words."""
    if not 2 <= len(built.positive) <= PROXIMITY_MAX_WORDS:
        return None
    if not all(isinstance(q, query.Term) for q in built.positive):
        return None
    return query.Phrase(TEXT_FIELD, [q.text for q in built.positive], slop=PHRASE_SLOP)


def _feedback(
    context: SearchContext,
    top: list[int],
    df: Callable[[str], int] | None = None,
    words: list[str] | None = None,
    ranked: Sequence[float] = (),
) -> list[query.Query]:
    """Pseudo-relevance feedback: the best terms of the top hits `top`
    (each weighing by its first-pass score, `ranked`), weighted; the query's
    own words among them gain weight (see search.planning.ranking).
    The top hits are those of the query without its filters, so that a
    filter selects documents but never changes a score.  None when the
    top hits show the query names an article (ranking.navigational)."""
    searcher = context.searcher
    stored = [context.stored_fields(docnum) for docnum in top]
    texts = [document_terms(fields, context.record(docnum, fields)) for docnum, fields in zip(top, stored, strict=True)]
    if words:
        titles = [[t for t, _ in analyse_text(fields.get("title") or "")] for fields in stored]
        if ranking.navigational(words, list(zip(titles, texts, strict=True))):
            return []
    extra = ranking.feedback_terms(
        searcher,
        TEXT_FIELD,
        texts,
        exclude=set(),
        min_docs=ranking.FEEDBACK_MIN_DOCS,
        df=df,
        typed=words or (),
        ranked=ranked,
    )
    return [query.Term(TEXT_FIELD, t, boost=ranking.FEEDBACK_WEIGHT * w) for t, w in extra.items()]


def document_terms(fields: dict[str, Any], record: dict[str, Any]) -> list[str]:
    """The indexed terms of a stored document's title, excerpt and body (its record's)."""
    body = record.get("body") or ""
    text = " ".join((fields.get("title") or "", fields.get("excerpt") or "", body))
    return [t for t, _ in analyse_text(text)]


def run_search(context: SearchContext, request: SearchRequest, deadline: Deadline | None = None) -> ResultPage:
    """Execute `request` with the context's searcher, by `deadline` (default:
    one made from request.time_limit when the search starts)."""
    request.check()
    if deadline is None:
        deadline = Deadline(request.time_limit or None)
    boosts = ranking.parse_boosts(request.boosts)
    searcher = context.searcher
    hidden = context.hidden
    schema = searcher.schema
    filters = filter_queries(request.filters, searcher.reader())
    relaxed = False
    bonus: query.Query | None = None
    built: BuiltQuery | None = None
    if request.raw:
        negative: list[query.Query] = []
        # Expansion gets a share of the time too, leaving the rest to match and rank.
        main: query.Query = raw_query(schema, request.text, searcher.reader(), deadline.share(EXPANSION_SHARE))
    else:
        built = build_safe_query(schema, request.text)
        negative = built.negative
        bonus = _bonus(built)
        if built.empty and not negative and request.text.strip():
            # Only stop words, symbols or operators: like Elasticsearch's
            # zero_terms_query "none", that finds nothing.  An empty query
            # browses everything, and "-word" alone means everything but it.
            main = query.NullQuery
        elif built.empty:
            main = query.Every()
        else:
            main = built.main()

    def assemble(core: query.Query, filtered: bool = True) -> query.Query:
        return query.And([core, *filters]) if filters and filtered else core

    factors = context.factors(boosts) if request.sort == "relevance" else None
    ranked = built is not None and request.sort == "relevance" and not built.empty
    on_engine = (
        ranked
        and built is not None
        # The title match is not known yet (it is read on the path chosen here): feedback may still run.
        and context.engine_pays(main, request, _wants_feedback(built, request, factors))
    )
    if on_engine:
        # The query's term lookups begin here: the title factor shares them.
        context.engine().start(deadline)
    if built is not None and not built.empty:
        # Under a sorted order too: a hit's score is the same in every order.
        # A share of the time: a cut list only leaves some titles unboosted.
        title_match = context.title_match(request, built.words, deadline.share(TITLE_MATCH_SHARE), on_engine)
        if title_match:
            factors = (factors or ranking.Factors()).add_title_match(title_match)
    top: Top | None = None
    if on_engine:
        assert built is not None
        from search.backends import engine

        try:
            main, relaxed, matched, top, parts = _engine_search(
                context, request, built, main, relaxed, filters, factors, deadline
            )
        except engine.Unsupported as exc:
            log.debug("query %r left to Whoosh's searcher: %s", request.text, exc)
    elif ranked:
        log.debug("query %r run on Whoosh's searcher: few postings, numpy not imported", request.text)
    if top is None:
        # Matching gets a share of the time, so that ranking what it found
        # (a second walk over the same postings) still fits in the limit.
        early = deadline.share(MATCHING_SHARE)
        # Exclusions are subtracted as a set: Whoosh 2.7.4's AndNot matcher keeps
        # the first document of the positive side when the negative side starts
        # on a lower one, so "oil -plan" could return a document saying "plan".
        excluded = matching_docs(searcher, query.Or(negative), early) if negative else set()
        # A document is only shown when its exclusion was checked in full.
        matched = set() if early.fired else matching_docs(searcher, assemble(main), early) - hidden - excluded
        if built is not None and len(built.positive) > 1 and matched and not early.expired():
            every = matching_docs(searcher, query.And(built.positive), early)
            relaxed = not early.fired and not matched.intersection(every)
        # The score is a sum: the query's words, terms fed back from the top
        # hits, and the proximity bonus of a short query.
        scored, parts = main, [("match", leaf) for leaf in explain.leaves(main)]
        if matched and built is not None and _wants_feedback(built, request, factors) and not early.expired():
            unfiltered = matching_docs(searcher, assemble(main, filtered=False), early) - hidden - excluded
            best = _exact_top(searcher, main, ranking.FEEDBACK_DOCS, unfiltered, early)
            expansion = (
                _feedback(context, [hit.docnum for hit in best], words=built.words, ranked=[hit.score for hit in best])
                if not early.fired
                else []
            )
            if expansion:
                scored = query.Or([main, *expansion])
                parts += [("feedback", term) for term in expansion]
        if bonus is not None:
            scored = query.AndMaybe(scored, bonus)
            parts.append(("proximity", bonus))
        top = _whoosh_top(context, scored, request, matched, factors, deadline)
    page = rank_page(context, request, top, parts, matched, _highlight_terms(built, main), factors)
    context.release()
    without_filters: int | None = None
    by_filter: tuple[FilterMatches, ...] = ()
    if not page.total and filters and main is not query.NullQuery and not deadline.expired():
        # Say which filter left nothing, on the time left (a diagnosis never marks the page timed out).
        found = _what_filters_leave(context, request, main, negative, Deadline(deadline.remaining()))
        if found is not None:
            without_filters, by_filter = found
    suggestion = None
    if built is not None and request.suggest and (relaxed or not page.total) and not deadline.expired():
        suggestion = _did_you_mean(context, request, page.total, relaxed, deadline)
    if deadline.timed_out:
        log.info(
            "query %r ran out of its %gs time limit; the %d hits are those found by then",
            request.text,
            request.time_limit,
            len(page.hits),
        )
    return ResultPage(
        query=request.text,
        total=page.total,
        page=request.page,
        limit=request.limit,
        hits=page.hits,
        facets=page.facets,
        relaxed=relaxed,
        suggestion=suggestion,
        parsed_query=_parsed(main, filters, negative) if request.explain else None,
        timed_out=deadline.timed_out,
        without_filters=without_filters,
        filter_matches=by_filter,
    )


def _what_filters_leave(
    context: SearchContext, request: SearchRequest, main: query.Query, negative: list[query.Query], deadline: Deadline
) -> tuple[int, tuple[FilterMatches, ...]] | None:
    """The query's results without its filters, and with each filter alone
    (None if `deadline` cuts the count short)."""
    searcher = context.searcher
    excluded = matching_docs(searcher, query.Or(negative), deadline) if negative else set()
    alone = matching_docs(searcher, main, deadline) - context.hidden - excluded

    def stories(docs: set[int]) -> int:
        groups = context.dup_keys().among(docs) if request.collapse and docs else None
        return len(docs) - (len(groups.extra_copies()) if groups else 0)

    counts = tuple(
        FilterMatches(name, value, stories(alone & matching_docs(searcher, q, deadline)) if alone else 0)
        for name, value, q in named_filters(request.filters, searcher.reader())
    )
    return None if deadline.fired else (stories(alone), counts)


def matching_docs(searcher: searching.Searcher, q: query.Query, deadline: Deadline) -> set[int]:
    """The live documents `q` matches (Whoosh's docs_for_query), or those
    found by `deadline`: the matchers walk in document order, so the set
    is every match below some document number."""
    found: set[int] = set()
    for sub, offset in searcher.leaf_searchers():
        if deadline.expired():
            break
        for n, docnum in enumerate(q.docs(sub)):
            if not n % DOCS_PER_CHECK and n and deadline.expired():
                break
            found.add(docnum + offset)
    return found


#: The best n of a matching set as (docnum, score), best first.
Top = Callable[[int], list[tuple[int, float]]]
#: A matching set: Whoosh's path gives a set, the engine a sorted array of docnums.
Matched = set[int] | Any


def _engine_search(
    context: SearchContext,
    request: SearchRequest,
    built: BuiltQuery,
    main: query.Query,
    relaxed: bool,
    filters: list[query.Query],
    factors: ranking.Factors | None,
    deadline: Deadline,
) -> tuple[query.Query, bool, Matched, Top, Parts]:
    """run_search's relevance path through search.backends.engine (see there): the
    same matching set, parts and scores as Whoosh's searcher, faster.  Cut
    short by `deadline`, it scores the postings read by then."""

    from search.backends import engine

    fast = context.engine()  # started by run_search, before the title factor
    searcher = context.searcher
    usable = ~fast.mask_of(context.hidden, key=context.hidden)
    for negated in built.negative:
        usable &= ~fast.matches(negated)[0]
    allowed = matching_docs(searcher, query.And(filters), deadline) if filters else None

    # A document is only shown when its exclusion was checked in full.
    if deadline.fired:
        mask, found_scores = fast.empty()
    else:
        mask, found_scores = fast.matches(main)
    unfiltered = mask & usable
    mask = unfiltered if allowed is None else unfiltered & fast.mask_of(allowed)
    # The scores of documents outside `mask` are never read (the ranking and
    # the feedback look at the mask's only), so they are not zeroed: an array
    # of a float per indexed document less (1.6 MB at 200,000 records).
    scores = found_scores
    every = None
    if len(built.positive) > 1 and mask.any() and not deadline.expired():
        every = fast.every_mask(built.positive, mask)
        relaxed = not every.any() and not deadline.fired
    parts: Parts = [("match", leaf) for leaf in explain.leaves(main)]
    if mask.any() and _wants_feedback(built, request, factors) and not deadline.expired():
        # The feedback documents are the best without the filters: a filter never changes a score.
        best = engine.top_of(found_scores, unfiltered, ranking.FEEDBACK_DOCS)
        for expansion in _feedback(context, [d for d, _ in best], fast.df, built.words, [s for _, s in best]):
            assert isinstance(expansion, query.Term)
            parts.append(("feedback", expansion))
            docs, part = fast.postings(expansion.text)
            inside = mask[docs]
            docs = docs[inside]
            # The same additions, in the same order, as score += boost x term score per document.
            scores[docs] += part[inside] * expansion.boost if expansion.boost != 1 else part[inside]
    proximity = _bonus(built)
    add_bonus = None
    candidates = None
    if proximity is not None and mask.any():
        parts.append(("proximity", proximity))
        # Only documents with every word of the phrase can earn the bonus:
        # the matches with every query word, when those are the phrase's words.
        if every is not None and [q.text for q in built.positive] == list(proximity.words):
            candidates = every
        else:
            candidates = mask.copy()
            for word in proximity.words:
                candidates &= fast.term_mask(word)

        def add_bonus(docs: Any) -> Any:
            assert isinstance(proximity, query.Phrase)
            return fast.phrase_bonus(proximity, docs)

    found = (mask, scores)
    matched = mask.nonzero()[0]

    def top(n: int) -> list[tuple[int, float]]:
        return engine.rank_matches(found, n, add_bonus, factors, candidates, matched)

    return main, relaxed, matched, top, parts


def _whoosh_top(
    context: SearchContext,
    scored: query.Query,
    request: SearchRequest,
    matched: set[int],
    factors: ranking.Factors | None,
    deadline: Deadline,
) -> Top:
    """The best n of `matched` by Whoosh's searcher (raw queries, sorted
    orders), or of those it reached by `deadline`."""
    searcher = context.searcher
    ranker = searcher
    if factors:
        ranker = searching.Searcher(
            searcher.reader(), weighting=ranking.Boosted(searcher.weighting, factors), closereader=False
        )
    sortedby = _sort_facet(request.sort)
    earlier: list[tuple[int, float]] = []

    def top(n: int) -> list[tuple[int, float]]:
        if deadline.expired() and earlier:
            return earlier[:n]  # a second, longer look would find nothing more in time
        found = _exact_top(ranker, scored, n, matched, deadline, sortedby)
        earlier[:] = [(h.docnum, _score(h, sortedby is not None)) for h in found]
        if deadline.fired and len(earlier) < min(n, len(matched)):
            earlier[:] = _fill(searcher, request.sort, matched, dict(earlier), n)
        return list(earlier)

    return top


def _fill(
    searcher: searching.Searcher, sort: str, matched: set[int], scored: dict[int, float], n: int
) -> list[tuple[int, float]]:
    """When collection ran out of time before the page was full: the page
    from every document matching found, those scored by then first (by
    relevance), the others after them by document number; or, for a sorted
    order, all in that order by its column (cheap: a value per document),
    ties by the scores known."""
    if sort == "relevance":
        rest = sorted(matched - scored.keys())[: max(0, n - len(scored))]
        return [*sorted(scored.items(), key=lambda item: (-item[1], item[0])), *((d, 0.0) for d in rest)]
    column = searcher.reader().column_reader(sort)
    sign = 1 if sort == "oldest" else -1
    ranked = sorted(matched, key=lambda d: (sign * column[d], -scored.get(d, 0.0), d))[:n]
    return [(d, scored.get(d, 0.0)) for d in ranked]


def _did_you_mean(
    context: SearchContext, request: SearchRequest, total: int, relaxed: bool, deadline: Deadline
) -> str | None:
    """A corrected query, kept only if it finds more than the typed one
    (or finds every word where the typed one had to relax)."""
    from search.backends.spelling import correct

    corrected = correct(context.searcher, request.text)
    if not corrected or corrected.strip().casefold() == request.text.strip().casefold():
        return None
    probe = run_search(
        context,
        replace(request, text=corrected, page=1, limit=1, facets=False, suggest=False, explain=False),
        deadline.share(1.0),
    )
    if probe.timed_out:
        return None
    if probe.total > total or (relaxed and probe.total and not probe.relaxed):
        return corrected
    return None


def _parsed(main: query.Query, filters: list[query.Query], negative: list[query.Query]) -> str:
    text = str(main)
    if negative:
        text += " ANDNOT " + " ".join(str(q) for q in negative)
    if filters:
        text += " FILTER " + " ".join(str(q) for q in filters)
    return text


@dataclass(frozen=True)
class Ranked:
    total: int
    hits: tuple[Hit, ...]
    facets: Facets | None


def rank_page(
    context: SearchContext,
    request: SearchRequest,
    top: Top,
    parts: Parts,
    matched: Matched,
    terms: frozenset[str],
    factors: ranking.Factors | None = None,
) -> Ranked:
    """One page of `matched` in `top`'s order, each story once unless
    collapse is off; `parts` are the leaves the score sums, for --explain."""
    searcher = context.searcher
    groups: Groups | None = None
    if isinstance(matched, set):
        groups = context.dup_keys().among(matched) if request.collapse and matched else None
        extra = groups.extra_copies() if groups else set()
        total = len(matched) - len(extra)
        counted: Iterable[int] = matched - extra
    else:  # the engine's sorted array: grouped and counted with numpy
        import numpy as np

        from search.backends.columns import ArrayGroups

        array_groups = ArrayGroups(context.dup_keys(), matched) if request.collapse and len(matched) else None
        groups = array_groups
        copies = array_groups.extra if array_groups else matched[:0]
        total = len(matched) - len(copies)
        counted = matched
        if len(copies):  # copies: some of matched, both ascending
            keep = np.ones(len(matched), dtype=bool)
            keep[matched.searchsorted(copies)] = False
            counted = matched[keep]
    offset = (request.page - 1) * request.limit
    needed = offset + request.limit
    hits: list[Hit] = []
    if len(matched) and offset < total:
        if groups:
            copies = groups.in_groups
            fetch = needed + min(copies, 4 * needed + 50)
            while True:
                found = dict(top(fetch))
                picked = groups.pick(list(found), needed)
                if len(picked) >= needed or len(found) < fetch or fetch >= needed + copies:
                    break
                fetch = needed + copies
        else:
            found = dict(top(needed))
            picked = [(docnum, 0) for docnum in found]
        for docnum, duplicates in picked[offset:needed]:
            explanation = (
                explain.explain_hit(searcher, parts, docnum, factors, context.engine()) if request.explain else None
            )
            fields = context.stored_fields(docnum)
            body = partial(context.body, docnum, fields)
            hits.append(make_hit(fields, body, found[docnum], terms, duplicates, explanation))
    facets = context.facets(counted) if request.facets else None
    return Ranked(total=total, hits=tuple(hits), facets=facets)


class _Bounded(WrappingCollector):  # type: ignore[misc]  # Whoosh is untyped
    """Feeds `child` the matches in `allowed` until `deadline`.

    In place of FilterCollector(TimeLimitCollector(child)): FilterCollector
    with an allow-set calls its child's collect() itself, so the time limit
    below it was never checked.  Here one loop filters and watches the
    clock, and a segment whose documents are all past the last allowed one
    is not walked at all (the matchers walk in document order)."""

    def __init__(self, child: Any, allowed: set[int], deadline: Deadline) -> None:
        super().__init__(child)
        self.allowed = allowed
        self.last = max(allowed, default=-1)
        self.deadline = deadline

    def set_subsearcher(self, subsearcher: Any, offset: int) -> None:
        if self.deadline.expired():
            raise searching.TimeLimit
        super().set_subsearcher(subsearcher, offset)

    def collect_matches(self) -> None:
        child, allowed, deadline, offset, last = self.child, self.allowed, self.deadline, self.offset, self.last
        if offset > last:
            return
        for n, sub_docnum in enumerate(child.matches()):
            if not n % DOCS_PER_CHECK and n and deadline.expired():
                raise searching.TimeLimit
            docnum = offset + sub_docnum
            if docnum in allowed:
                child.collect(sub_docnum)
            elif docnum > last:
                return


def _exact_top(
    searcher: searching.Searcher,
    scored: query.Query,
    limit: int,
    allowed: set[int],
    deadline: Deadline,
    sortedby: Any = None,
) -> Any:
    """Whoosh's top `limit` of `allowed`, without its shortcuts, or of those
    reached by `deadline`.

    Whoosh's collector prunes the matcher tree as the top N fills up
    (Matcher.replace with the N-th score), trusting each term's maximum
    score; with this schema's weighted, byte-quantised lengths that bound is
    not safe, and a search for the top 6 lost documents that its top 12 had
    (test_engine caught it).  Every match is scored anyway for the total, so
    the shortcuts bought little."""
    inner: Any = searcher.collector(limit=limit, sortedby=sortedby, optimize=False)
    inner.replace = 0
    collector = _Bounded(inner, allowed, deadline)
    if allowed:
        try:
            searcher.search_with_collector(scored, collector)
        except searching.TimeLimit:
            pass  # the hits collected so far; the page says it timed out
    else:
        return []
    return collector.results()


def _snippet(fields: dict[str, Any], read_body: Callable[[], str], terms: frozenset[str]) -> str:
    """From the excerpt or the body, whichever has a query word, else the
    excerpt's (or body's) start; never the title, which a hit shows anyway:
    a title-only record has an empty snippet rather than its title twice.
    The body (the record, a column apart) is read only when the excerpt
    has no query word."""
    excerpt = fields.get("excerpt") or ""
    marked = highlight(excerpt, terms)
    if marked:
        return marked
    body = read_body()
    return highlight(body, terms) or lead(excerpt or body)


def _score(whoosh_hit: Any, sorted_: bool) -> float:
    if sorted_:
        # Sorted hits carry the sort key; its last part is ScoreFacet's -score.
        key = whoosh_hit.score
        return float(-key[-1]) if isinstance(key, tuple) and key else 0.0
    return float(whoosh_hit.score or 0.0)


#: The stored publication time, as the indexer writes it (UTC); indexes written
#: before articles.utc_seconds hold a year below 1000 in fewer than four digits.
_PUBLISHED = re.compile(r"([0-9]{1,4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
#: The same with a four-digit year: what datetime.fromisoformat reads alike, in C.
_PUBLISHED_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


def _published(text: str) -> datetime:
    """strptime(text, "%Y-%m-%dT%H:%M:%SZ") in UTC; the indexer's own form is
    read without strptime, which took a tenth of a lean query's page, and
    with a four-digit year by fromisoformat (its "Z" is timezone.utc): 3.7
    -> 0.8 us a hit."""
    if _PUBLISHED_ISO.fullmatch(text):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)  # 3.10 reads no 'Z'
    found = _PUBLISHED.fullmatch(text)
    if found is None:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    year, month, day, hour, minute, second = map(int, found.groups())
    return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)


def make_hit(
    fields: dict[str, Any],
    read_body: Callable[[], str],
    score: float,
    terms: frozenset[str],
    duplicates: int = 0,
    explanation: Explanation | None = None,
) -> Hit:
    """A Hit from a document's stored fields; the snippet marks `terms`, from
    the excerpt or else the body `read_body` gives (SearchContext.body)."""
    meta = fields.get("meta") or {}
    prov = meta.get("provider")
    published = meta.get("published")
    return Hit(
        id=fields["id"],
        kind=fields["kind"],
        path=fields["path"],
        title=fields["title"],
        excerpt=fields.get("excerpt"),
        url=fields.get("url"),
        provider=Provider(prov.get("name"), prov.get("domain")) if prov else None,
        topics=tuple(meta.get("topics") or ()),
        published=_published(published) if published else None,
        quality=meta.get("quality"),
        heat=meta.get("heat"),
        score=score,
        snippet=_snippet(fields, read_body, terms),
        parent=fields.get("parent"),
        duplicates=duplicates,
        explanation=explanation,
    )
