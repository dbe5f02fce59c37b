"""ClusterIndex: the library's Index over a searchd cluster.

``open_index(backend="sphinx://HOST:PORT")`` returns one.  It takes the same
arguments and returns the same typed results (search.results) as the
embedded Index: a search request becomes a query plan (search.planning.plan), the
plan becomes SphinxQL (search.backends.cluster.sphinxql), run on the distributed
table; searchd merges the shards' answers.  When a shard does not answer,
searchd answers from the others and says so in SHOW META's `warning`; the
page then has ``partial=True`` and that warning, instead of an error.

searchd picks a window of candidates with an approximate ranking; they are
then scored as the embedded index scores them (search.backends.cluster.rerank),
with word statistics summed over the shards.  What differs from the
embedded backend (docs/cluster.md says why): raw (Whoosh) queries,
`similar` and `suggest` are refused with a clear error; there is no
did-you-mean or --explain; feedback and the collapse of copies work within
the window fetched, and `total` counts every match.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from search.backends.cluster import rerank, rows, sphinxql, tables
from search.backends.cluster.url import BackendURL, Endpoint, connect, parse, shard_endpoints
from search.deadline import DEFAULT_TIME_LIMIT
from search.errors import BackendError, DocumentNotFoundError, QueryError, UsageError
from search.planning.plan import QueryPlan, build_plan
from search.planning.proximity import PROXIMITY_MAX_WORDS
from search.planning.request import SearchRequest, check_id, check_limit, search_request
from search.planning import ranking
from search.planning.ranking import Boost
from search.articles import Provider
from search.results import Document, Facets, Hit, ResultPage, SimilarPage, Stats, Suggestion
from search.storage.schema import SCHEMA_VERSION, analyse_word, doc_id
from search.backends.snippets import highlight, lead

log = logging.getLogger(__name__)

#: How searchd (2.2 and Manticore) names a column a table lacks.
_UNKNOWN_COLUMN = re.compile(r"unknown column:? '?(\w+)")
#: Extra hits fetched per page when collapsing copies of a story.
COLLAPSE_SLACK = 50
#: Articles asked about per statement when matching alerts.
MATCH_CHUNK = 1_000
#: Candidates re-scored beyond the hits a page needs (search.backends.cluster.rerank).
RERANK_SLACK = 20
#: The same for a query of two or three words, whose words searchd's candidate
#: ranking weighs the same (sphinxql.IDF_MIN_TERMS): a record with the rare word
#: alone comes later in its order than the embedded ranking puts it.  For a first
#: page of 10 that is the whole window.  Top-10 overlap with the embedded index,
#: counting ties at the 10th, with 20 / 50 / 90: Reuters 0.879 / 0.906 / 0.926,
#: 200,000 generated records 0.968 / 0.977 / 0.984, 1,000,000 0.915 / 0.935 /
#: 0.953; the client's CPU a query at 1,000,000, 12.1 / 16.2 / 24.2 ms (load 10-16;
#: each the mean of two passes).
RERANK_SLACK_UNWEIGHTED = 90
#: The deepest hit a page may reach (page x limit), as Elasticsearch's
#: max_result_window: searchd holds offset + limit (+ the collapse's slack)
#: matches in each daemon, about 31 MB a million, so an unbounded page
#: would let one request take gigabytes in every searchd.
MAX_RESULT_WINDOW = 10_000


def _not_supported(what: str) -> UsageError:
    return UsageError(
        f"{what} is not supported by the cluster backend",
        option="--backend",
        hint="Run it on the embedded index (drop --backend / SEARCH_BACKEND).",
    )


class ClusterIndex:
    """An open cluster; one connection to the front, opened on first use."""

    def __init__(self, backend: str) -> None:
        self.url: BackendURL = parse(backend)
        self.index_dir = backend
        self._conn: Any = None
        self._collection: rerank.Collection | None = None
        self._shards: list[tuple[Endpoint, Any]] | None = None
        self._checked: set[Endpoint] = set()  # shards whose stop words were checked

    # -- life cycle -------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None:
            front = self.url.front
            self._conn = connect(front.host, front.port, url=self.url.url)
        return self._conn

    def _run(self, statements: Sequence[str]) -> list[tuple[list[tuple[Any, ...]], dict[str, str]]]:
        """Each statement's rows and the SHOW META after it, in one round trip
        (a multi-statement batch, which searchd also evaluates once for
        statements sharing a MATCH: the facets' GROUP BYs reuse the search's
        matching).  One reconnect if the link had dropped."""
        import pymysql

        batch = "; ".join(f"{statement}; SHOW META" for statement in statements)
        for attempt in (1, 2):
            conn = self._connection()
            try:
                sets: list[list[tuple[Any, ...]]] = []
                with conn.cursor() as cur:
                    cur.execute(batch)
                    while True:
                        sets.append(list(cur.fetchall()))
                        if not cur.nextset():
                            break
                return [
                    (sets[i], {str(k): str(v) for k, v in sets[i + 1]}) for i in range(0, len(sets) - 1, 2)
                ]
            except pymysql.err.OperationalError as exc:
                self.close()
                if attempt == 2:
                    raise BackendError(
                        f"searchd at {self.url.front.host}:{self.url.front.port} failed: {exc.args[-1]}",
                        url=self.url.url,
                    ) from None
            except pymysql.err.MySQLError as exc:
                self.close()  # the rest of a failed batch is unread: start the next on a fresh link
                message = str(exc.args[-1]).rstrip("\x00") if exc.args else str(exc)
                missing = sorted(set(_UNKNOWN_COLUMN.findall(message)) & tables.COLUMNS)
                if missing:  # a table made by older code (search.backends.cluster.tables)
                    raise tables.old_layout(f"the cluster at {self.url.front}", missing, url=self.url.url) from None
                raise BackendError(f"searchd refused the query: {message}", url=self.url.url) from None
        raise AssertionError("unreachable")

    def refresh(self) -> None:
        """Read the collection statistics again (searchd itself serves each
        write as soon as it is acknowledged), and check that the front answers
        (BackendError if not: `search serve`'s start and /healthz)."""
        self._collection = None
        self._run([f"SELECT id FROM {self.url.front.table} LIMIT 1"])

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        for _, conn in self._shards or ():
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._shards = None

    def __enter__(self) -> ClusterIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        """As Index.search; `suggest` and `explain` have no effect here.
        `feedback=False` skips the pseudo-relevance feedback of the re-ranking
        (search.backends.cluster.rerank), as on the embedded index.
        `time_limit` becomes searchd's max_query_time (per shard); a shard
        that runs out answers with what it found, and the page is timed_out
        when searchd's reported query time reached the limit."""
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
            facets=facets,
            boost=boost,
            collapse=collapse,
            feedback=feedback,
            raw=raw,
            time_limit=time_limit,
        )
        return self.run_request(request)

    def run_request(self, request: SearchRequest) -> ResultPage:
        """A checked search request (search.planning.request), as Index.search runs one;
        also the door of alerts over a cluster (search.alerts.api)."""
        if request.raw:
            raise QueryError(
                request.text,
                "raw (Whoosh) query syntax is not supported by the cluster backend",
                hint='Drop --raw: the safe syntax (words, "phrases", +, -, OR) works on both.',
            )
        return self.run_plan(build_plan(request), request.time_limit, feedback=request.feedback)

    # -- what alerts need (search.alerts.cluster) -------------------------------------

    def matching(self, plans: Sequence[QueryPlan], ids: Sequence[int]) -> list[set[int]]:
        """For each plan, which of the articles `ids` (searchd ids) it matches, in one
        round trip.  A shard that does not answer is an error here, not a partial
        answer: a match missed would never be looked for again."""
        found: list[set[int]] = [set() for _ in plans]
        live = [(n, plan) for n, plan in enumerate(plans) if not plan.finds_nothing]
        table = self.url.front.table
        for start in range(0, len(ids), MATCH_CHUNK):
            chunk = list(ids[start : start + MATCH_CHUNK])
            if not chunk or not live:
                break
            results = self._run([sphinxql.match_statement(plan, table, chunk) for _, plan in live])
            self._complete(results)
            for (n, _), (matched, _) in zip(live, results, strict=True):
                found[n].update(int(row[0]) for row in matched)
        return found

    def articles(self, digests: dict[str, str]) -> dict[int, dict[str, Any]]:
        """searchd id -> what a match records (id, path, title, url, published) of the
        articles among `digests` (our id -> content digest, "" for any) that the
        cluster holds with that very content."""
        table = self.url.front.table
        wanted = {rows.sphinx_id(ident): (ident, digest) for ident, digest in digests.items()}
        held: dict[int, dict[str, Any]] = {}
        keys = sorted(wanted)
        for start in range(0, len(keys), MATCH_CHUNK):
            chunk = keys[start : start + MATCH_CHUNK]
            results = self._run(
                [
                    f"SELECT id, doc_id, path, title_s, url, meta, source FROM {table}"
                    f" WHERE kind_code = {rows.KIND_ARTICLE} AND id IN ({', '.join(sphinxql.integer(k) for k in chunk)})"
                    f" LIMIT 0, {len(chunk)} OPTION max_matches={len(chunk)}"
                ]
            )
            self._complete(results)
            for sid, ident, path, title, url, meta, source in results[0][0]:
                expected = wanted.get(int(sid))
                decoded = rows.decode_source(str(source))
                if expected is None or expected[0] != ident or decoded is None:
                    continue
                if expected[1] and decoded[2] != expected[1]:
                    continue  # another version: its send was not acknowledged
                published = (json.loads(meta) if meta else {}).get("published")
                held[int(sid)] = {"id": ident, "path": path, "title": title or "", "url": url or None,
                                  "published": published}
        return held

    def _complete(self, results: list[tuple[list[tuple[Any, ...]], dict[str, str]]]) -> None:
        warnings = sorted({m["warning"] for _, m in results if m.get("warning")})
        if warnings:
            raise BackendError(f"the cluster answered in part: {'; '.join(warnings)}", url=self.url.url)

    def run_plan(self, plan: QueryPlan, time_limit: float | None = None, *, feedback: bool = True) -> ResultPage:
        """Execute a query plan on the distributed table (`time_limit`: seconds, 0 or None for none)."""
        if plan.finds_nothing:
            return ResultPage(plan.text, 0, plan.page, plan.limit, (), Facets() if plan.facets else None)
        needed = plan.offset + plan.limit
        if needed > MAX_RESULT_WINDOW:
            raise UsageError(
                f"page {plan.page} of {plan.limit} hits reaches hit {needed:,}, past the first"
                f" {MAX_RESULT_WINDOW:,} that the cluster backend pages through",
                option="page",
                hint="Narrow the query (more words, --topic, --since/--until) or sort it another way (--sort newest).",
            )
        # The slack also without collapse: the stubs an article shadows are dropped after
        # the fetch (_shadowed), and a page of only the window it needs had holes (review2 s11
        # F10: "facial recognition" on seeds/, pages of 1 without collapse, all 11 empty).
        window = needed + min(4 * needed, 1000) + COLLAPSE_SLACK
        table = self.url.front.table
        budget = int(time_limit * 1000) if time_limit else 0
        terms = _QueryTerms.of(plan) if plan.positive else None
        known: dict[str, int] = {}  # the query words' document frequencies, asked once
        stage = self._first_stage(plan, terms, known)
        statements = [sphinxql.search_statement(plan, table, window, self._signals(plan), stage, budget)]
        facet_sql = sphinxql.facet_statements(plan, table, budget) if plan.facets else {}
        statements += facet_sql.values()
        results = self._run(statements)
        found, meta = results[0]
        warnings = sorted({m["warning"] for _, m in results if m.get("warning")})
        # A shard that ran out of max_query_time says so in an agent warning
        # ("query time exceeded max_query_time"), but a local search stops
        # silently (checked on 2.2.11: a smaller total_found); its reported
        # time reaching the budget is the sign then.
        timed_out = bool(budget) and (
            any(_seconds(m.get("time")) * 1000 >= budget for _, m in results)
            or any("max_query_time" in w for w in warnings)
        )
        total = int(meta.get("total_found", len(found)))
        if terms is not None:
            known.update(_meta_frequency(meta, terms))
        found = self._shadowed(found)
        if plan.sort == "relevance" and terms is not None:
            found = self._rerank(plan, terms, found, feedback, known) or found
        picked = _collapse(found) if plan.collapse else [(row, 0) for row in found]
        highlighted = plan.terms()
        hits = tuple(_hit(row, duplicates, highlighted) for row, duplicates in picked[plan.offset : needed])
        facets = self._facet_counts(plan, facet_sql, results[1:], budget) if plan.facets else None
        return ResultPage(
            query=plan.text,
            total=total,
            page=plan.page,
            limit=plan.limit,
            hits=hits,
            facets=facets,
            timed_out=timed_out,
            partial=bool(warnings),
            warning="; ".join(warnings) if warnings else None,
        )

    def _facet_counts(
        self,
        plan: QueryPlan,
        statements: dict[str, str],
        results: list[tuple[list[tuple[Any, ...]], dict[str, str]]],
        budget: int,
    ) -> Facets:
        """The facets from their statements' rows; when the (provider, year) pairs
        filled their statement (sphinxql.FACET_PAIRS: some shard may have cut
        them), the two facets are counted again apart, one round trip more."""
        found = dict(zip(statements, (r for r, _ in results), strict=True))
        if len(found.get("pairs", ())) >= sphinxql.FACET_PAIRS:
            apart = sphinxql.facet_statements(plan, self.url.front.table, budget, paired=False)
            del apart["topics"]
            del found["pairs"]
            found.update(zip(apart, (r for r, _ in self._run(list(apart.values()))), strict=True))
        return _facets(found)

    def _first_stage(self, plan: QueryPlan, terms: _QueryTerms | None, known: dict[str, int]) -> sphinxql.FirstStage:
        """The parameters of searchd's candidate ranking (sphinxql.ranker_option):
        the collection's averages and, for a query of two words or more, their
        idf over the whole cluster, for the exact-title factor's coverage.
        The words' frequencies are kept in `known` for the re-ranking."""
        collection = self._stats()
        averages = collection.averages()
        if terms is None or not terms.words:
            return sphinxql.FirstStage(averages.title, averages.rest)
        count = len(terms.words)
        weights = ranking.term_weights(plan.typed or terms.words)
        idf: list[float] = []
        if len(weights) >= 2:
            known.update(self._frequency({t: terms.forms.get(t, t) for t in weights}))
            n = max(collection.documents, 1)
            idf = [ranking.robertson_idf(n, known.get(t, 1)) for t in weights]
        return sphinxql.FirstStage.of(averages.title, averages.rest, idf, bool(terms.proximity), count)

    def _rerank(
        self, plan: QueryPlan, terms: _QueryTerms, found: list[tuple[Any, ...]], feedback: bool, known: dict[str, int]
    ) -> list[tuple[Any, ...]] | None:
        """The window in the embedded index's order (search.backends.cluster.rerank);
        None when the query has no terms to score.  `known`: document
        frequencies already asked for (by _first_stage)."""
        if not terms.words or not found:
            return None

        def frequency(forms: dict[str, str]) -> dict[str, int]:
            missing = {t: w for t, w in forms.items() if t not in known}
            if missing:
                known.update(self._frequency(missing))
            return {t: known[t] for t in forms if t in known}

        # The re-ranking analyses each candidate's text in Python (at 200,000 records
        # 0.17 ms a candidate, load 3): the best page + RERANK_SLACK by searchd's
        # ranking are scored, the rest of the window (kept for collapse) follows.
        unweighted = 2 <= len(terms.words) < sphinxql.IDF_MIN_TERMS
        head = found[: plan.offset + plan.limit + (RERANK_SLACK_UNWEIGHTED if unweighted else RERANK_SLACK)]
        ranked = rerank.rerank(
            head,
            ranking.term_weights(plan.typed or terms.words),
            terms.words,
            terms.forms,
            self._stats(),
            frequency,
            feedback=feedback and len(plan.positive) >= rerank.FEEDBACK_MIN_CLAUSES,
            proximity=terms.proximity,
        )
        return None if ranked is None else ranked + found[len(head) :]

    def _shadowed(self, found: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """`found` without the related stubs whose webUrl a live article has
        (the embedded index hides those: the article is the story)."""
        stubs = {int(row[rerank.URL_KEY]): row for row in found if int(row[2]) == rows.KIND_RELATED and row[5]}
        if not stubs:
            return found
        keys = ", ".join(sphinxql.integer(k) for k in sorted(stubs))
        ((live, _),) = self._run(
            [
                f"SELECT url FROM {self.url.front.table} WHERE kind_code = {rows.KIND_ARTICLE}"
                f" AND url_key IN ({keys}) LIMIT 0, {len(stubs) * 4} OPTION max_matches={max(len(stubs) * 4, 20)}"
            ]
        )
        urls = {str(url) for (url,) in live}
        return [row for row in found if not (int(row[2]) == rows.KIND_RELATED and row[5] in urls)]

    def _stats(self) -> rerank.Collection:
        if self._collection is None:
            table = self.url.front.table
            length, title_length = sphinxql.LENGTH, sphinxql.TITLE_LENGTH
            ((found, _),) = self._run(
                [
                    f"SELECT COUNT(*) AS n, AVG({length}) AS a, AVG({title_length}) AS t,"
                    f" SUM(IF({title_length} > 0, 1, 0)) AS wt, SUM(IF({length} > {title_length}, 1, 0)) AS wr"
                    f" FROM {table}"
                ]
            )
            documents, avg, title = (
                (int(found[0][0]), float(found[0][1] or 1.0), float(found[0][2] or 1.0)) if found else (0, 1.0, 1.0)
            )
            # The shares of documents with a title and with a rest (ranking.FieldLengths).
            shares = (int(found[0][3] or 0) / documents, int(found[0][4] or 0) / documents) if documents else (1.0, 1.0)
            self._collection = rerank.Collection(documents, avg, title, *shares)
        return self._collection

    def _frequency(self, forms: dict[str, str]) -> dict[str, int]:
        """Documents holding each term in the whole cluster: each shard's
        CALL KEYWORDS, summed (a shard that does not answer is left out,
        and the page is marked partial by the search itself)."""
        import pymysql

        if not forms:
            return {}
        # A word with other spellings (search.backends.cluster.sphinxql.spellings)
        # is counted as the embedded index counts its term, the documents
        # holding any of them: a MATCH on the front, its total_found.
        spelled = {t: w for t, w in forms.items() if len(sphinxql.spellings(w)) > 1}
        counted: dict[str, int] = {}
        if spelled:
            table = self.url.front.table
            results = self._run(
                [
                    f"SELECT id FROM {table} WHERE MATCH({sphinxql.literal(sphinxql.word_match(w))})"
                    " LIMIT 1 OPTION ranker=none"
                    for w in spelled.values()
                ]
            )
            counted = {t: int(meta.get("total_found", 0)) for t, (_, meta) in zip(spelled, results, strict=True)}
            forms = {t: w for t, w in forms.items() if t not in spelled}
            if not forms:
                return counted
        if self._shards is None:
            self._shards = [(e, None) for e in shard_endpoints(self.url)]
        words = sorted(set(forms.values()))
        docs: dict[str, int] = {}
        seen: set[str] = set()
        for number, (endpoint, conn) in enumerate(self._shards):
            try:
                if conn is None:
                    conn = connect(endpoint.host, endpoint.port, timeout=2.0, url=self.url.url)
                    self._shards[number] = (endpoint, conn)
                    if endpoint not in self._checked:  # once a shard (tables.dropped_words)
                        self._checked.add(endpoint)
                        tables.warn_dropped(f"shard {endpoint}", tables.dropped_words(conn, endpoint.table))
                for row in _keywords(conn, " ".join(words), endpoint.table):
                    tokenized, count = str(row[1]), int(row[3])
                    docs[tokenized] = docs.get(tokenized, 0) + count
                    seen.add(tokenized)
            except (BackendError, pymysql.err.MySQLError) as exc:
                log.info("shard %s gave no word statistics: %s", endpoint, exc)
                self._shards[number] = (endpoint, None)
        return counted | {term: docs[word] for term, word in forms.items() if word in seen}

    def _signals(self, plan: QueryPlan) -> tuple[int | None, int | None]:
        """The newest date (not after now) and best quality, which --boost scales by."""
        if not plan.boosts or plan.sort != "relevance":
            return None, None
        now = int(datetime.now(timezone.utc).timestamp())
        table = self.url.front.table
        (dates, _), (qualities, _) = self._run(
            [
                f"SELECT newest FROM {table} WHERE has_date = 1 AND newest <= {now} ORDER BY newest DESC LIMIT 1",
                f"SELECT quality FROM {table} WHERE quality > 0 ORDER BY quality DESC LIMIT 1",
            ]
        )
        return (int(dates[0][0]) if dates else None), (int(qualities[0][0]) if qualities else None)

    def get(self, ident: str) -> Document:
        """The stored record with this id, or whose file is at this path."""
        row = self._row(check_id(ident)) or (self._row(doc_id(str(Path(ident).absolute()))) if ident else None)
        if row is None:
            raise DocumentNotFoundError(ident)
        ident_, kind, path, parent, record, stubs = row
        related = tuple(rows.stub_id(ident_, n) for n in range(1, int(stubs) + 1)) if kind == rows.KIND_ARTICLE else ()
        return Document(
            id=ident_,
            kind=rows.KINDS[int(kind)],
            path=path,
            parent=parent or None,
            record=json.loads(record),
            related_ids=related,
        )

    def _row(self, ident: str) -> tuple[Any, ...] | None:
        table = self.url.front.table
        (found, _), = self._run(
            [
                f"SELECT doc_id, kind_code, path, parent, record, stubs FROM {table}"
                f" WHERE id = {sphinxql.integer(rows.sphinx_id(ident))} LIMIT 1"
            ]
        )
        return found[0] if found and found[0][0] == ident else None

    def similar(self, ident: str, *, limit: int = 10, collapse: bool = True) -> SimilarPage:
        check_limit(limit)
        raise _not_supported("`similar`")

    def suggest(self, prefix: str, *, limit: int = 10) -> tuple[Suggestion, ...]:
        check_limit(limit)
        raise _not_supported("`suggest`")

    def stats(self) -> Stats:
        table = self.url.front.table
        results = self._run(
            [
                f"SELECT kind_code, COUNT(*) AS c FROM {table} GROUP BY kind_code",
                *sphinxql.facet_statements(QueryPlan(text=""), table, paired=False).values(),
            ]
        )
        kinds = {int(k): int(c) for k, c in results[0][0]}
        facets = _facets({"topics": results[1][0], "providers": results[2][0], "years": results[3][0]})
        return Stats(
            index_dir=self.url.url,
            documents=sum(kinds.values()),
            articles=kinds.get(rows.KIND_ARTICLE, 0),
            related=kinds.get(rows.KIND_RELATED, 0),
            size_bytes=0,
            updated=None,
            schema_version=SCHEMA_VERSION,
            whoosh_version="n/a (searchd)",
            topics=facets.topics,
            providers=facets.providers,
        )


@dataclass(frozen=True)
class _QueryTerms:
    """A plan's positive words as the embedded index analyses them: `words` in
    query order, `forms` a typed word for each (what searchd is asked
    about), `proximity` the words of the proximity bonus (search.backends.query's
    _bonus: 2-4 groups of one word each), if the query has it."""

    words: list[str]
    forms: dict[str, str]
    proximity: list[str]

    @classmethod
    def of(cls, plan: QueryPlan) -> _QueryTerms:
        words: list[str] = []
        forms: dict[str, str] = {}
        for group in plan.positive:
            for clause in group:
                for word in clause.words:
                    term = analyse_word(word)
                    if term:
                        forms.setdefault(term, word)
                        if term not in words:
                            words.append(term)
        lone = [group[0].words for group in plan.positive if len(group) == 1 and not group[0].phrase]
        proximity: list[str] = []
        if 2 <= len(plan.positive) <= PROXIMITY_MAX_WORDS and len(lone) == len(plan.positive):
            proximity = [analyse_word(w[0]) or "" for w in lone if len(w) == 1]
            if len(proximity) != len(plan.positive) or not all(proximity):
                proximity = []
        return cls(words, forms, proximity)


def _seconds(value: str | None) -> float:
    """SHOW META's `time`; searchd 2.2.11 prints an unranked statement's time
    of a few milliseconds as e.g. "0.-01" (a negative interval), read as 0."""
    try:
        return max(float(value or 0), 0.0)
    except ValueError:
        return 0.0


def _meta_frequency(meta: dict[str, str], terms: _QueryTerms) -> dict[str, int]:
    """The document frequency of a one-word query's word from its search's
    SHOW META (``docs[0]``: searchd's own count, summed over the shards by
    the front, the same as each shard's CALL KEYWORDS summed), so that the
    re-ranking asks the shards nothing: two round trips less (6.2 ms at the
    p50 on Reuters, load 8).  Only when searchd read the query as that one
    keyword: a word with other spellings, or excluded words, give more; and
    only a word of ASCII letters and digits, which searchd tokenizes as typed
    (CALL KEYWORDS counts a word only when its token is the word itself)."""
    if len(terms.words) != 1 or "keyword[1]" in meta or not str(meta.get("docs[0]", "")).isdigit():
        return {}
    typed = terms.forms.get(terms.words[0], "")
    if not (typed.isascii() and typed.isalnum()):
        return {}
    return {terms.words[0]: int(meta["docs[0]"])}


def _keywords(conn: Any, text: str, table: str) -> list[tuple[Any, ...]]:
    """CALL KEYWORDS with statistics: (qpos, tokenized, normalized, docs, hits, ...)
    rows.  Sphinx 2.2 takes the flag as a third argument and ignores
    Manticore's spelling, `1 AS stats`; the other is tried when one gives no counts."""
    import pymysql

    for flag in ("1", "1 AS stats"):
        try:
            with conn.cursor() as cur:
                cur.execute(f"CALL KEYWORDS({sphinxql.literal(text)}, {sphinxql.literal(table)}, {flag})")
                found = [tuple(row) for row in cur.fetchall()]
        except pymysql.err.ProgrammingError:
            continue  # a searchd that knows only the other spelling
        if not found or len(found[0]) >= 5:
            return found
    return []


def _collapse(found: list[tuple[Any, ...]]) -> list[tuple[tuple[Any, ...], int]]:
    """Each story once: rows sharing a URL key or a title key (schema.duplicate_keys)
    join the group of the best-ranked one, which counts them."""
    leaders: list[list[Any]] = []
    by_key: dict[tuple[str, int], int] = {}
    for row in found:
        url_key, title_key = int(row[10]), int(row[11])
        keys = [k for k in (("u", url_key), ("t", title_key)) if k[1]]
        group = next((by_key[k] for k in keys if k in by_key), None)
        if group is None:
            group = len(leaders)
            leaders.append([row, 0])
        else:
            leaders[group][1] += 1
        for key in keys:
            by_key.setdefault(key, group)
    return [(row, count) for row, count in leaders]


def _hit(row: tuple[Any, ...], duplicates: int, terms: frozenset[str]) -> Hit:
    _, ident, kind, path, parent, url, title, excerpt, meta_text, record_text = row[:10]
    score = float(row[rerank.SCORE])
    meta = json.loads(meta_text) if meta_text else {}
    prov = meta.get("provider")
    published = meta.get("published")
    body = ""
    snippet = None
    for text in (excerpt, None, title):
        if text is None:
            body = body or (json.loads(record_text).get("body") or "" if record_text else "")
            text = body
        snippet = highlight(text, terms)
        if snippet:
            break
    return Hit(
        id=ident,
        kind=rows.KINDS[int(kind)],
        path=path,
        title=title,
        excerpt=excerpt or None,
        url=url or None,
        provider=Provider(prov.get("name"), prov.get("domain")) if prov else None,
        topics=tuple(meta.get("topics") or ()),
        published=datetime.strptime(published, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        if published
        else None,
        quality=meta.get("quality"),
        heat=meta.get("heat"),
        score=score / sphinxql.WEIGHT_SCALE,
        snippet=snippet or lead(excerpt or title or ""),
        parent=parent or None,
        duplicates=duplicates,
    )


def _facets(found: dict[str, list[tuple[Any, ...]]]) -> Facets:
    topics: dict[str, int] = {}
    for key, count, meta_text, *_ in found.get("topics", []):
        names = json.loads(meta_text).get("topics") or [] if meta_text else []
        # The group's row is one of its documents: its topic with this key names the group.
        name = next((t for t in names if rows.text_key(t) == int(key)), None)
        if name is not None:
            topics[name] = topics.get(name, 0) + int(count)
    providers = {str(name): int(count) for name, count, key, *_ in found.get("providers", []) if int(key)}
    years = {str(year): int(count) for year, count, *_ in found.get("years", []) if int(year)}
    named: dict[int, str] = {}  # a provider's key -> the name of its first pair (the largest)
    for name, count, key, year, *_ in found.get("pairs", []):
        if int(key):
            label = named.setdefault(int(key), str(name))
            providers[label] = providers.get(label, 0) + int(count)
        if int(year):
            years[str(year)] = years.get(str(year), 0) + int(count)
    cap = sphinxql.FACET_GROUPS  # as many values as a facet's own GROUP BY returns
    return Facets(
        topics=dict(sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))),
        providers=dict(sorted(providers.items(), key=lambda kv: (-kv[1], kv[0]))[:cap]),
        years=dict(sorted(years.items(), key=lambda kv: (-kv[1], kv[0]))[:cap]),
    )
