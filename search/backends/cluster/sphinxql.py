"""SphinxQL text: escaping, and a query plan as statements.

Nothing reaches searchd unescaped.  Values pass through ``literal`` (a
string: backslash and quote escaped, NUL bytes, which would end the
statement early in searchd's parser, turned into spaces) or ``integer``
(an int, formatted; anything else is a bug and raises).  Query words pass
through ``match_word`` first, which backslash-escapes every character of
searchd's extended query syntax, so a word can never become an operator;
the result is then a literal like any other.

The MATCH expression of a plan (see search.planning.plan):

    must groups      (a | b) c            every one
    should groups    (d | "e f") | g      any one; with must: MUST MAYBE (SHOULD)
    must_not         -h -"i j"

searchd ranks with the expression ranker: the embedded BM25F's shape
(search.planning.ranking: the title over its own length, the rest over
its own, K1, the exact-title factor, the proximity bonus) approximated from
searchd's per-field factors, without searchd's idf (see ranker_option).
That ranking only picks the candidates: search.backends.cluster.rerank
orders them.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from search.planning import ranking
from search.backends.cluster import rows
from search.errors import QueryError
from search.planning.plan import Clause, PlanFilters, QueryPlan
from search.storage.newsforms import news_form
from search.storage.schema import PART_WEIGHTS, STOPS

#: Characters with a meaning in searchd's extended query syntax (Sphinx
#: 2.2's EscapeString list plus < > for its BEFORE/NEAR operators).
_OPERATORS = re.compile(r"""([\\()|\-!@~"&/^$=<>'*?%\[\]{}:,.;+#])""")
#: searchd ranks with integer weights: the BM25F score times this.
WEIGHT_SCALE = 10_000  # BM25F of 256 words stays below 2**31


def literal(value: str) -> str:
    """A SphinxQL string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\x00", " ")
    return f"'{escaped}'"


def integer(value: int) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"not an integer: {value!r}")
    return str(int(value))


def value_sql(value: Any) -> str:
    """A row value as SphinxQL: str, int, bool, tuple of ints (MVA) or dict (JSON)."""
    if isinstance(value, str):
        return literal(value)
    if isinstance(value, bool):
        return integer(int(value))
    if isinstance(value, int):
        return integer(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(integer(v) for v in value) + ")"
    if isinstance(value, dict):
        return literal(json.dumps(value, ensure_ascii=False))
    raise TypeError(f"no SphinxQL form for {type(value).__name__}")


def match_word(word: str) -> str:
    """One word, every operator character escaped (searchd then drops them as separators)."""
    return _OPERATORS.sub(r"\\\1", word.replace("\x00", " "))


@functools.cache
def _news_spellings() -> dict[str, tuple[str, ...]]:
    """form -> the plain words the embedded analysis turns into that form
    (search.storage.newsforms: ``qtr`` -> ``quarter``, ``labour`` ->
    ``labor``), the form included, for the forms that have any."""
    from search.storage.newsforms import NEWS_FORMS

    found: dict[str, set[str]] = {}
    for word, form in NEWS_FORMS.items():
        if word.isalnum() and form.isalnum():
            found.setdefault(form, {form}).add(word)
    return {form: tuple(sorted(words)) for form, words in found.items()}


#: Words of this many letters are read alike dotted or not: a query for
#: "U.S." also finds "US" (longer abbreviations are rarely dotted in news,
#: and a phrase of single letters is costly).
DOTTED_LETTERS = 2
#: The two-letter words also looked for as their letters (``us`` as "U.S.",
#: ``sp`` as "S&P"), as the embedded index reads those.  Not every two-letter
#: word: searchd makes single letters of more than dots, and `so` as
#: so | "s o" found "Ireland's O'Leary" (review s11 R5), where the embedded
#: index, which keeps o'leary one word, does not.  These are the dotted ones
#: news writes and people look for: in 30 MB of generated records U.S. 5,102
#: times, U.K. 424, N.Z. 58, N.Y. 55, H.K. 54, N.J. 33, U.N. 27 (companies'
#: S.A., N.V. and L.P. left out).
DOTTED_WORDS = frozenset({"us", "uk", "un", "eu", "ny", "nj", "nz", "hk", "sp"})


def spellings(word: str) -> tuple[str, ...]:
    """`word` and the other words the embedded index reads as the same news
    form: searchd has none, so a MATCH asks for each (``qtr`` finds
    "quarter" there as in the embedded index; searchd's stemmer then takes
    "quarters" too; ``US`` finds "U.S." as ``u.s``, and ``U.S.`` finds
    "US").  Only the same form, not every word of the same stem:
    two spellings searchd stems alike would count its hits twice."""
    folded = word.lower()
    form = news_form(folded)
    others = list(_news_spellings().get(form, ()))
    if len(form) == DOTTED_LETTERS and form.isascii() and form.isalpha() and not STOPS.intersection((form, *form)):
        # The embedded analysis reads "U.S." and "S&P" as us and sp; searchd splits
        # them into letters, which the phrase of those letters finds.  Not when a
        # letter is a stop word: searchd drops it from the phrase, and `AI` as
        # ai | "a i" found every record with an "I"; nor when the word is one (`it`).
        # A word typed with its dots is also the plain word; a plain word is also
        # its letters only if it is one of DOTTED_WORDS.
        if _letters(folded) != form:
            others.append(form)
        elif form in DOTTED_WORDS:
            others.append(".".join(form))
    # One of each as searchd reads it ("U.S." and "u.s" are the same letters to it).
    read = {_letters(folded): word}
    for other in others:
        read.setdefault(_letters(other), other)
    return tuple(read.values())


def _letters(word: str) -> str:
    return " ".join(w for w in re.split(r"[^0-9a-z]+", word.lower()) if w)


def _token(word: str) -> str:
    """One word as one operand of searchd's syntax.  A word searchd splits
    (``u.s``, ``1.5``, ``it's``: its charset keeps letters and digits only)
    is sent as a phrase of its parts: bare, ``u\\.s | trade`` was read as
    ``u (s | trade)`` (searchd's OR binds tighter than its AND), and
    ``-it\\'s`` as ``-it s``."""
    escaped = match_word(word)
    return escaped if word.isalnum() else f'"{escaped}"'


def word_match(word: str) -> str:
    """One query word as MATCH text: the word, or the word or its other spellings."""
    words = spellings(word)
    return _token(word) if len(words) == 1 else "(" + " | ".join(_token(w) for w in words) + ")"


def _clause(clause: Clause) -> str:
    if clause.phrase:  # searchd 2.2 has no OR inside a phrase: the words as typed
        return '"' + " ".join(match_word(w) for w in clause.words) + '"'
    return " ".join(word_match(w) for w in clause.words)


def _any(clauses: list[str]) -> str:
    return clauses[0] if len(clauses) == 1 else "(" + " | ".join(clauses) + ")"


def match_expression(plan: QueryPlan) -> str | None:
    """The MATCH() text of the plan; None: no full-text condition (browsing)."""
    must = " ".join(_any([_clause(c) for c in group]) for group in plan.must)
    should = " | ".join(_any([_clause(c) for c in group]) for group in plan.should)
    if must and should:
        positive = f"({must}) MAYBE ({should})"
    else:
        positive = must or should
    negative = " ".join(f"-{_clause(c)}" for c in plan.must_not)
    if not positive and negative:
        raise QueryError(
            plan.text,
            "a query of exclusions alone is not supported by the cluster backend",
            hint="Add a word to search for, or run it on the embedded index.",
        )
    if not positive:
        return None
    return f"{positive} {negative}".strip()


#: The document length the re-ranking normalises by: the embedded index's
#: (its tokens, unweighted, stop words out; search.backends.cluster.rows).
LENGTH = "text_len"
#: The title's length in the embedded index's tokens (BM25F normalises a title's words by it).
TITLE_LENGTH = "title_terms_len"


#: Queries of this many terms or more weigh their words by searchd's idf in
#: the first ranking, chunk noise and all (see ranker_option).  At 200,000
#: generated records, 150 title queries of 1-3 words: overlap with the
#: embedded top 10 0.901 with idf from 4 terms, 0.870 with idf from 3.
IDF_MIN_TERMS = 4


@dataclass(frozen=True)
class FirstStage:
    """What searchd's ranker needs to pick candidates the way the embedded
    index ranks: the collection's average title and rest lengths (in the
    embedded index's tokens, ranking.FieldLengths); for the exact-title
    factor, `coverage[k - 1]`: the largest share of the query's idf (the
    cluster's, search.planning.ranking.robertson_idf) that k of its words
    in a title can cover (empty: no factor, a query of one word); and whether
    the query has the proximity bonus (search.backends.query: 2-4 words,
    none a phrase); `terms`: how many terms the embedded index looks up for
    the query (searchd counts each spelling of a word as a word of its own:
    sphinxql.spellings), 0 for unknown."""

    avg_title: float = 1.0
    avg_rest: float = 1.0
    coverage: tuple[float, ...] = ()
    proximity: bool = False
    terms: int = 0
    idf: bool = False

    @classmethod
    def of(cls, avg_title: float, avg_rest: float, idf: list[float], proximity: bool, terms: int) -> FirstStage:
        """From the query words' idf: k words cover at most the k largest."""
        ranked = sorted(idf, reverse=True)
        total = sum(ranked)
        coverage = tuple(sum(ranked[:k]) / total for k in range(1, len(ranked) + 1)) if total > 0 else ()
        return cls(
            avg_title, avg_rest, coverage if len(ranked) >= 2 else (), proximity, terms, len(ranked) >= IDF_MIN_TERMS
        )


def ranker_option(stage: FirstStage = FirstStage()) -> str:
    """searchd's expression ranker computing, from its per-field factors, an
    approximation of the embedded ranking (search.planning.ranking), to pick
    the candidates search.backends.cluster.rerank re-scores exactly.

    searchd 2.2.11's own bm25f() is 0.5 plus a sum scaled so small that in
    float32 it kept about ten distinct values on Reuters, so the formula is
    spelled out.  The parts the embedded BM25F keeps apart are apart here:
    the title's occurrences (the only field weighing more than 1) over the
    title's own length normalisation (TITLE_WEIGHT, TITLE_B) and the rest's
    over the rest's (B), with the embedded index's lengths (attributes); the
    exact-title factor from how many query words the title has (the
    coverage those can reach, FirstStage.coverage); the proximity bonus as
    the score once more where a field holds the words in order (lcs).  What
    it cannot do: searchd gives no per-word frequency across fields, so the
    occurrences are spread evenly over the doc_word_count query words the
    document has (exact for one word), and in a query of one to three
    words the words weigh the same (searchd's idf is each RT chunk's, below).

    At 200,000 generated records this picked the candidates of 0.862 of the
    embedded top 10 (150 title queries, with the re-ranking, before the tie
    order by path), where one length normalisation over the weighted fields
    and searchd's idf (the ranking of the embedded index before its title
    had a part of its own) gave 0.420."""
    weights = ", ".join(f"{field}={weight:g}" for field, weight in PART_WEIGHTS.items())
    title_hits = "sum(IF(user_weight>1,hit_count,0))"
    rest_hits = "sum(IF(user_weight>1,0,hit_count))"
    # A word's spellings are keywords of their own to searchd: count no more words than terms.
    words = f"min(doc_word_count,{stage.terms})" if stage.terms else "doc_word_count"
    asked = str(stage.terms) if stage.terms else "query_word_count"
    title_norm = (
        f"(1-{ranking.TITLE_B:g}+{ranking.TITLE_B:g}*max({TITLE_LENGTH},{title_hits}/{words})"
        f"/{max(stage.avg_title, 1.0):.4f})"
    )
    rest_norm = (
        f"(1-{ranking.B:g}+{ranking.B:g}*max({LENGTH}-{TITLE_LENGTH},{rest_hits}/{words})"
        f"/{max(stage.avg_rest, 1.0):.4f})"
    )
    tf = f"(({ranking.TITLE_WEIGHT:g}*{title_hits}/{title_norm}+{rest_hits}/{rest_norm})/{words})"
    k1 = ranking.K1
    # No idf for 1-3 words: searchd's is each disk chunk's and RAM chunk's
    # own (an RT table's statistics are per chunk, killed rows counted),
    # which at 200,000 records gave one word four idfs over two shards,
    # 0.214 to 0.248: a 16% lottery between documents.  The words weigh the
    # same then; the re-ranking brings the cluster's idf.  A longer query
    # (IDF_MIN_TERMS) needs idf to tell its rare words from its common
    # ones: CISI's full topics gave nDCG@10 0.925 of the embedded index's
    # without it, 0.948 with it.
    score = f"{words}*{tf}*{k1 + 1:g}/({tf}+{k1:g})"
    if stage.idf:
        score = f"(sum(tf_idf)/sum(hit_count))*{score}"
    if stage.proximity:
        score = f"{score}*IF(sum(IF(lcs>={asked},1,0))>0,2,1)"
    covered = f"min(sum(IF(user_weight>1,word_count,0)),{stage.terms})" if stage.terms else "sum(IF(user_weight>1,word_count,0))"
    passing = [(k, c) for k, c in enumerate(stage.coverage, 1) if c >= ranking.TITLE_MIN_COVERAGE]
    if passing and ranking.TITLE_BOOST:
        coverage = "0"
        for k, c in passing:  # the fewest words first, so the most words are tested outermost
            coverage = f"IF({covered}>={k},{c:.6f},{coverage})"
        share = f"min(1,{covered}/max({TITLE_LENGTH},1))"
        score = f"{score}*(1+{ranking.TITLE_BOOST:g}*{coverage}*{share})"
    expr = f"{WEIGHT_SCALE}*{score}"
    return f"ranker=expr({literal(expr)}), idf='plain,tfidf_unnormalized', field_weights=({weights})"


def filter_conditions(filters: PlanFilters) -> tuple[list[str], list[str]]:
    """(select-list expressions, WHERE conditions) for the filters.

    searchd's WHERE is a conjunction of attribute filters; "a topic of these"
    is one MVA filter, but "this provider name or this domain" is an OR,
    which goes into a select-list expression filtered on."""
    selects: list[str] = []
    where: list[str] = []
    if filters.topics:
        keys = sorted({rows.text_key(t) for t in filters.topics})
        where.append(f"topic_keys IN ({', '.join(integer(k) for k in keys)})")
    if filters.providers:
        names = sorted({rows.text_key(p) for p in filters.providers})
        hosts = sorted({rows.host_key(p) for p in filters.providers})
        selects.append(
            f"IN(provider_key, {', '.join(integer(k) for k in names)})"
            f" OR IN(domain_key, {', '.join(integer(k) for k in hosts)}) AS provider_ok"
        )
        where.append("provider_ok = 1")
    if filters.since is not None or filters.until is not None:
        where.append("has_date = 1")
        low = filters.since if filters.since is not None else -(2**61)
        high = filters.until if filters.until is not None else 2**61
        where.append(f"newest BETWEEN {integer(low)} AND {integer(high)}")
    if filters.published is not None:
        where.append(f"published = {integer(rows.PUBLISHED[filters.published])}")
    return selects, where


ORDERS = {
    "relevance": "score DESC, id ASC",
    "newest": "newest DESC, score DESC, id ASC",
    "oldest": "oldest ASC, score DESC, id ASC",
    "quality": "quality DESC, score DESC, id ASC",
}

HIT_COLUMNS = (
    "id, doc_id, kind_code, path, parent, url, title_s, excerpt_s, meta, record, url_key, title_key, WEIGHT() AS w"
)


def _score(plan: QueryPlan, signals: tuple[int | None, int | None]) -> str:
    """The score expression: relevance times the asked-for --boost factors
    (ranking.Factors' formulas, on the newest date and best quality found)."""
    score = "WEIGHT()"
    newest, best = signals
    for boost in plan.boosts:
        if boost.name == "recency" and newest is not None:
            half = max(1, int(boost.value))
            score += f" * IF(has_date = 1, 1 + POW(0.5, IF(newest < {integer(newest)}, {integer(newest)} - newest, 0) / {integer(half)}), 1)"
        elif boost.name == "quality" and best:
            weight = int(round(boost.value * 1000))
            score += f" * IF(quality > {integer(-(2**61))}, 1 + {integer(weight)} / 1000.0 * IF(quality > 0, MIN(quality, {integer(best)}), 0) / {integer(best)}, 1)"
    return score


def search_statement(
    plan: QueryPlan,
    table: str,
    window: int,
    signals: tuple[int | None, int | None],
    stage: FirstStage = FirstStage(),
    max_ms: int = 0,
) -> str:
    """The hits: the best `window` (at least the page) in the plan's order."""
    where, options = _where(plan, stage, max_ms)
    selects, _ = filter_conditions(plan.filters)
    columns = ", ".join([HIT_COLUMNS, f"{_score(plan, signals)} AS score", f"{LENGTH} AS dl", f"{TITLE_LENGTH} AS tl", *selects])
    # max_matches is each shard's queue of best matches: the window is all it needs to
    # hold (the sort is exact within it, total_found counts every match regardless).
    # At 200,000 records, 2 shards, 100 title queries: 79.0 ms at the p50 with a
    # queue of 1,000, 52.7 ms with the window's 100 (alternating, load 15).
    return (
        f"SELECT {columns} FROM {table}{where} ORDER BY {ORDERS[plan.sort]}"
        f" LIMIT 0, {integer(window)} OPTION max_matches={integer(window)}{options}"
    )


def _where(
    plan: QueryPlan, stage: FirstStage = FirstStage(), max_ms: int = 0, *, ranked: bool = True
) -> tuple[str, str]:
    """The WHERE clause and the OPTION tail (after max_matches); `max_ms`:
    searchd's max_query_time, after which a shard answers with what it has;
    `ranked`: with the candidate ranking (ranker_option), else none."""
    expression = match_expression(plan)
    _, conditions = filter_conditions(plan.filters)
    if expression is not None:
        conditions.insert(0, f"MATCH({literal(expression)})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    options = "" if expression is None else f", {ranker_option(stage)}" if ranked else ", ranker=none"
    if max_ms > 0:
        options += f", max_query_time={integer(max_ms)}"
    return where, options


#: Facet values returned per facet; the embedded index returns them all, but
#: searchd keeps at most max_matches groups per shard.
FACET_GROUPS = 1_000


#: (provider, year) pairs one GROUP BY may return for the two facets at once;
#: a query with more (facet_statements) has its two facets counted apart.
FACET_PAIRS = 10_000


def facet_statements(plan: QueryPlan, table: str, max_ms: int = 0, *, paired: bool = True) -> dict[str, str]:
    """GROUP BYs over the whole matching set, unranked, for the three facets.

    searchd 2.2.11 does not share the search's matching with these (its
    multi-query optimisation wants the same select list): on Reuters, 2
    shards, the search alone took 70.8 ms at the p50, the three facets with
    its ranker 20.1 ms and the batch 93.9 ms (load 17).  A count needs no
    weight, so they skip the ranker: 10.5 ms for the three.  And each
    statement matches again, so the providers and the years are counted by
    one, ``GROUP BY provider_key, year`` ("pairs": each facet is the sum of
    its pairs), unless `paired` is false or the pairs may have been cut at
    FACET_PAIRS (facet_counts): then each has its own statement.  Topics
    cannot join them: a document counts once for each of its topics."""
    where, options = _where(plan, max_ms=max_ms, ranked=False)
    selects, _ = filter_conditions(plan.filters)
    extra = "".join(f", {s}" for s in selects)
    tail = f" ORDER BY c DESC LIMIT 0, {FACET_GROUPS} OPTION max_matches={FACET_GROUPS}{options}"
    statements = {
        "topics": f"SELECT GROUPBY() AS g, COUNT(*) AS c, meta{extra} FROM {table}{where} GROUP BY topic_keys{tail}"
    }
    if paired:
        statements["pairs"] = (
            f"SELECT provider_s, COUNT(*) AS c, provider_key, year{extra} FROM {table}{where}"
            f" GROUP BY provider_key, year ORDER BY c DESC LIMIT 0, {FACET_PAIRS}"
            f" OPTION max_matches={FACET_PAIRS}{options}"
        )
    else:
        statements["providers"] = (
            f"SELECT provider_s, COUNT(*) AS c, provider_key{extra} FROM {table}{where} GROUP BY provider_key{tail}"
        )
        statements["years"] = f"SELECT year, COUNT(*) AS c{extra} FROM {table}{where} GROUP BY year{tail}"
    return statements


def replace_statement(table: str, batch: list[rows.Row]) -> str:
    columns = ["id", *batch[0].values]
    values = ", ".join(
        "(" + ", ".join([integer(row.id), *(value_sql(row.values[c]) for c in columns[1:])]) + ")" for row in batch
    )
    return f"REPLACE INTO {table} ({', '.join(columns)}) VALUES {values}"


def delete_statement(table: str, ids: list[int]) -> str:
    return f"DELETE FROM {table} WHERE id IN ({', '.join(integer(i) for i in ids)})"


def match_statement(plan: QueryPlan, table: str, ids: list[int]) -> str:
    """Which of the articles `ids` (searchd ids) the plan matches, unranked: an
    alert's matching set on a reindex run's articles (search.alerts.cluster)."""
    expression = match_expression(plan)
    selects, conditions = filter_conditions(plan.filters)
    if expression is not None:
        conditions.insert(0, f"MATCH({literal(expression)})")
    conditions += [f"kind_code = {rows.KIND_ARTICLE}", f"id IN ({', '.join(integer(i) for i in ids)})"]
    count = max(len(ids), 1)
    return (
        f"SELECT {', '.join(['id', *selects])} FROM {table} WHERE {' AND '.join(conditions)}"
        f" LIMIT 0, {integer(count)} OPTION max_matches={integer(count)}, ranker=none"
    )
