"""How hits are scored: BM25F over one weighted field, and what refines it.

Each piece was kept because the relevance harness (bench/relevance.py:
nDCG@10 on the judged CISI, LISA, MED and NPL, known-item search on
Reuters and BBC headlines, against sqlite FTS5, tantivy and bm25s) showed it
helps; the commits and docs/quality.md give the figures.

* BM25F over one combined ``text`` field, as Robertson, Zaragoza and
  Taylor define it: a word's occurrences in the title and in the rest of
  the record are each normalised on their own part's length (TITLE_B for
  the title, B for the rest), weighted (TITLE_WEIGHT for the title, 1 for
  the rest) and summed before BM25 saturates them (field_tf, saturate),
  instead of Whoosh's per-field scores added afterwards, which over-rewards
  a word for turning up in several fields.  The index keeps one posting per
  word and record, its weight counting a title occurrence twice
  (schema.PART_WEIGHTS) and its frequency once, so the title's share is
  their difference; the title's length is the ``title`` field's, and
  each part's average is over the records that have it (FieldLengths).  One
  length for the whole record let a long abstract or story drown its
  title's words, and made a title-only record (NPL has 1,684, Reuters
  1,798 briefs) look like a perfect match for any word of its title.
  Against that, harness (all eight suites, with K1 2.0 and the title
  rule for feedback below): LISA 0.493 -> 0.506, MED 0.772 -> 0.786, NPL
  0.398 -> 0.409, CISI 0.415 either way, Reuters partial headlines @3
  0.965 -> 0.956, macro 0.754 -> 0.758.
* Robertson-Sparck Jones idf, log(1 + (N - df + 0.5) / (df + 0.5)): never
  negative, and flatter for common words than Whoosh's log(N / (df + 1)) + 1.
* A word typed twice weighs 1 + ln 2 (a long question repeats its key words).
* Pseudo-relevance feedback for every query of two words or more,
  Rocchio-style: the FEEDBACK_TERMS best terms of the top
  FEEDBACK_DOCS hits (by summed tf x idf, each document's share weighted by
  its first-pass score over the best one's, as RM3 weighs a feedback
  document by its query likelihood, and in at least FEEDBACK_MIN_DOCS of
  them, as Terrier's expansion.mindocuments) are added with weight
  FEEDBACK_WEIGHT times their score over the best one's.  As in Rocchio and
  RM3 the question's own words compete too, so the words central to the top
  hits gain weight (CISI 1, about descriptive titles: "titl" x2), where a
  long question would otherwise weigh all its words alike.  The expansion
  re-ranks the matches; it never adds documents.  On 2- and 3-word queries
  cut from CISI's and MED's topics it is worth +6% to +12% nDCG@10.
  Decided per query from the first pass: none when some title has every
  query word (TitleMatch.whole, wherever that document ranks), or one of
  the top FEEDBACK_DOCS has the query's words whole and in order
  (navigational: the query names an article, and
  feedback would only pull its neighbours up; Reuters headlines typed in
  full: 78% found first with feedback for every query, see the commit);
  and never a function word (EXPANSION_STOPS: "were", "which") or a word in
  more than EXPANSION_MAX_DF of the documents ("said") as an expansion term.
* The exact-title signal (TitleMatch): a document whose title holds most of
  the query's words scores more, by how much of the query its title holds
  and how much of its title the query holds; a factor, so it shows in
  --explain beside the --boost factors.

Optional news signals, asked for per search (``--boost``), multiply the
relevance score the way Elasticsearch's function_score does with
boost_mode "multiply"; a record without the value is left as it is (x1):

* ``recency[:HALF_LIFE]``: x (1 + 0.5 ** (age / HALF_LIFE)), so the newest
  article counts double, one HALF_LIFE older x1.5, old ones about x1.  Age
  counts back from the newest article in the index (not from today), so an
  archive is not all equally "old".
* ``quality[:WEIGHT]``: x (1 + WEIGHT * quality / the index's best quality).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from whoosh import query, scoring
from whoosh.lang import stemmer_for_language

from search.deadline import DOCS_PER_CHECK, Deadline
from search.errors import UsageError
from search.storage.schema import PART_WEIGHTS, TEXT_FIELD
from search.storage.sidecar import field_lengths
from search.settings import parse_duration

TITLE_FIELD = "title"

#: BM25 parameters.  K1 2.0: under BM25F a title word's pseudo frequency
#: is TITLE_WEIGHT times its count, so saturation wants a larger K1 than
#: the 1.5 chosen under one length per record (harness, BM25F, the four
#: judged collections: K1 1.2 / 1.5 / 2.0 / 2.5 give macro 0.509 / 0.519
#: / 0.529 / 0.520; all eight suites 0.749 / 0.753 / 0.758 / 0.754).
#: Leave-one-collection-out (bench/relevance.py --sweep): each of the six
#: corpora held out, the other five choose 2.0.  NPL alone would take 1.2
#: (0.425).  B 0.9 for the rest of the record: 0.75 gives NPL 0.421 but
#: CISI, LISA and MED lose 1-3%.
K1 = 2.0
B = 0.9
#: BM25F's title part (field_tf): its weight against the rest's 1, and its
#: own length normalisation (titles vary less in length than bodies, and a
#: long title is no less about its words).  TITLE_WEIGHT 2 / 2.5 / 3 / 4
#: at K1 2.0: judged macro 0.518 / 0.520 / 0.529 / 0.525, all eight suites
#: 0.751 / 0.754 / 0.758 / 0.757; left out in turn, five corpora are given
#: 3 by the others, MED 4 (0.771 there, against 0.786 at 3).  TITLE_B
#: 0 / 0.3 / 0.5 / 0.75: all eight suites 0.756 / 0.758 / 0.757 / 0.754;
#: left out in turn, five are given 0.3, CISI 0 (0.399, against 0.415).
TITLE_WEIGHT = 3.0
TITLE_B = 0.3
#: Feedback's top documents and terms.  All eight suites: FEEDBACK_DOCS
#: 3 / 5 / 10 -> macro 0.750 / 0.758 / 0.759, but 10 costs CISI 3.4% and
#: MED 1.4%; FEEDBACK_TERMS 5 / 10 / 20 -> 0.755 / 0.758 / 0.758, 10 chosen
#: with any corpus but CISI held out (docs/quality.md).
FEEDBACK_DOCS = 5
FEEDBACK_TERMS = 10
#: Rocchio's beta, alpha being 1.  With the query's words in the feedback
#: vector, nDCG@10 on CISI and MED is flat from 0.75 to 2 (+10-12% / +7-8%
#: over FTS5); the old 0.3 was tuned when they were left out.  All eight
#: suites, 0.5 / 0.75 / 1.0 / 1.5: macro 0.756 / 0.757 / 0.758 / 0.757;
#: left out in turn, five corpora are given 1.0 by the others, NPL 1.5.
FEEDBACK_WEIGHT = 1.0
FEEDBACK_MIN_DOCS = 2
#: An expansion term in more than this share of the documents is a
#: near-stop word of the collection (Reuters: "said" is in 60% of the
#: stories, "mln" in 40%), whatever the feedback documents say.
EXPANSION_MAX_DF = 0.2
#: The exact-title signal: a document whose title holds at least
#: TITLE_MIN_COVERAGE of the query's words (by title idf) scores
#: x (1 + TITLE_BOOST x coverage x the share of its title the query covers),
#: so the headline typed in full doubles its article's score at 1.0.
TITLE_BOOST = 1.0
TITLE_MIN_COVERAGE = 0.75

#: English function words that are never expansion terms (stemmed as the
#: index stems them; the index's own stop list is Whoosh's 34 words, which
#: lets "were", "said" or "which" through).  The list is the common core of
#: the SMART and Snowball English stop lists.
_FUNCTION_WORDS = """
about above after again against all also am among an and any are aren't as at be because been before being
below between both but by can cannot could did do does doing down during each either else ever every few for
from further get got had has have having he her here hers herself him himself his how however i if in into is
it its itself just least less let like made make many may me might more most much must my myself neither no nor
not now of off often on once one only or other others our ours ourselves out over own per perhaps put rather
said same say says see seen several shall she should since so some such than that the their theirs them
themselves then there these they this those though through thus to too two under until up upon us very via was
we well were what whatever when where whether which while who whom whose why will with within without would yet
you your yours yourself yourselves
"""
_stem = stemmer_for_language("en")
EXPANSION_STOPS: frozenset[str] = frozenset(_stem(w) for w in _FUNCTION_WORDS.split()) | frozenset(
    _FUNCTION_WORDS.split()
)


#: A title occurrence's share of a posting's weight in the index (schema.PART_WEIGHTS:
#: the title's, every other part's being 1).
INDEX_TITLE_WEIGHT = PART_WEIGHTS[TITLE_FIELD]


@dataclass(frozen=True)
class FieldLengths:
    """The averages field_tf normalises on: the title's and the rest's, each
    over the documents that have that part, as Lucene's BM25 averages a
    field over the documents with it.  Over every document, a collection
    with many records of a title alone (NPL: 1,684 of 11,429, Reuters 1,798
    briefs) has its rest's average pulled down by their zeros, which
    penalises every abstract or story for its length as if it were longer
    than it is (harness, all eight suites: NPL 0.409 -> 0.414, the rest
    unchanged: CISI, LISA and MED have a rest in every record, and the
    known-item suites move by none of their 3,000 queries)."""

    title: float
    rest: float

    @classmethod
    def of(cls, searcher: Any, field: str) -> FieldLengths:
        """From a searcher's statistics (`field` the combined one; deleted
        documents counted, as Whoosh does).  Reads each segment's length
        bytes (two per document, compared in C: about a millisecond for
        Reuters' 20,841 records); NewsBM25 keeps the result per reader."""
        reader = searcher.reader()
        n = int(reader.doc_count_all())
        with_title, with_rest = part_counts(reader, field)
        return cls.of_averages(
            searcher.avg_field_length(TITLE_FIELD),
            searcher.avg_field_length(field),
            with_title / n if n else 1.0,
            with_rest / n if n else 1.0,
        )

    @classmethod
    def of_averages(
        cls, title: float | None, whole: float | None, with_title: float = 1.0, with_rest: float = 1.0
    ) -> FieldLengths:
        """From the average title length and the average length of the whole
        record over every document, and the shares of documents that have a
        title and that have a rest (text beside the title)."""
        title, whole = float(title or 0.0), float(whole or 0.0)
        rest = whole - title
        return cls(
            title / with_title if title > 0 and with_title > 0 else 1.0,
            rest / with_rest if rest > 0 and with_rest > 0 else 1.0,
        )


def part_counts(reader: Any, field: str) -> tuple[int, int]:
    """How many documents of `reader` (deleted ones too) have a title, and
    how many have more in the combined `field` than their title: Whoosh's
    length bytes, which are 0 for an empty part and grow with the length,
    so a document without a rest has the same byte in both fields."""
    with_title = with_rest = 0
    for leaf, _base in reader.leaf_readers():
        count = int(leaf.doc_count_all())
        if not count:
            continue
        title = field_lengths(leaf, TITLE_FIELD, count)
        whole = field_lengths(leaf, field, count)
        # Equal bytes XOR to a zero byte: the documents without a rest (or with nothing at all).
        same = (int.from_bytes(title, "big") ^ int.from_bytes(whole, "big")).to_bytes(count, "big").count(0)
        with_title += count - title.count(0)
        with_rest += count - same
    return with_title, with_rest


def field_tf(
    weight: Any, freq: Any, length: Any, title_length: Any, averages: FieldLengths, maximum: Callable[..., Any] = max
) -> Any:
    """BM25F's pseudo term frequency of postings (floats, or numpy arrays of them):
    the title's occurrences ((weight - freq) / (INDEX_TITLE_WEIGHT - 1)) and the
    rest's, each over its own length normalisation, weighted and summed.
    `length` is the combined field's, `title_length` the title's; the rest's is
    their difference, and neither is taken shorter than the occurrences in it
    (Whoosh keeps lengths rounded to a byte); `maximum` is numpy's for arrays.
    The numpy engine and the Whoosh scorer both call this, so the two paths
    give the same scores."""
    title = (weight - freq) / (INDEX_TITLE_WEIGHT - 1.0)
    rest = freq - title
    rest_length = maximum(length - title_length, rest)
    title_length = maximum(title_length, title)
    return TITLE_WEIGHT * title / (1.0 - TITLE_B + TITLE_B * title_length / averages.title) + rest / (
        1.0 - B + B * rest_length / averages.rest
    )


def saturate(idf: float, tf: Any, k1: float) -> Any:
    """BM25's score of pseudo term frequencies `tf`."""
    return idf * (k1 + 1.0) * tf / (tf + k1)


class _Scorer(scoring.BaseScorer):  # type: ignore[misc]
    """BM25F (field_tf) of one term of the combined field, per posting."""

    def __init__(
        self, searcher: Any, fieldname: str, text: bytes, k1: float, qf: int = 1, averages: FieldLengths | None = None
    ) -> None:
        parent = searcher.get_parent()
        n = parent.doc_count_all()
        self.idf = robertson_idf(n, parent.doc_frequency(fieldname, text))
        self.averages = averages or FieldLengths.of(parent, fieldname)
        self.K1 = k1
        self.qf = qf
        self.searcher = searcher
        self.field = fieldname
        # A bound of every score (saturate tends to idf * (k1 + 1)), for Whoosh's pruning.
        self._maxquality = self.idf * (k1 + 1.0)

    def supports_block_quality(self) -> bool:
        return False  # a block's best weight and shortest length no longer bound its scores

    def max_quality(self) -> float:
        return float(self._maxquality)

    def block_quality(self, matcher: Any) -> float:
        # The whole list's bound: Whoosh's ListMatcher (a posting list inlined in
        # the terms table) asks for it without checking supports_block_quality.
        return float(self._maxquality)

    def score(self, matcher: Any) -> float:
        docnum = matcher.id()
        searcher = self.searcher
        tf = field_tf(
            float(matcher.weight()),
            float(matcher.value_as("frequency")),
            float(searcher.doc_field_length(docnum, self.field) or 0),
            float(searcher.doc_field_length(docnum, TITLE_FIELD) or 0),  # None: no title
            self.averages,
        )
        return float(saturate(self.idf, tf, self.K1))


class NewsBM25(scoring.BM25F):  # type: ignore[misc]
    """BM25F over the combined field (field_tf), Robertson-Sparck Jones idf; any
    other scorable field (a raw ``title:`` query) plain BM25 with the same idf."""

    def __init__(self, b: float | None = None, k1: float | None = None) -> None:
        super().__init__(B=B if b is None else b, K1=K1 if k1 is None else k1)
        # The averages of the reader last asked about: a searcher's weighting
        # lives as long as the searcher, and each term's scorer needs them.
        self._averages: tuple[Any, FieldLengths] | None = None

    def averages(self, searcher: Any, fieldname: str) -> FieldLengths:
        """FieldLengths.of the (top-level) `searcher`, read once per reader."""
        reader = searcher.reader()
        if self._averages is None or self._averages[0] is not reader:
            self._averages = (reader, FieldLengths.of(searcher, fieldname))
        return self._averages[1]

    def scorer(self, searcher: Any, fieldname: str, text: bytes, qf: int = 1) -> Any:
        if not searcher.schema[fieldname].scorable:
            return scoring.WeightScorer.for_(searcher, fieldname, text)
        if fieldname == TEXT_FIELD:
            averages = self.averages(searcher.get_parent(), fieldname)
            return _Scorer(searcher, fieldname, text, self.K1, qf=qf, averages=averages)
        return _FieldScorer(searcher, fieldname, text, self.B, self.K1, qf=qf)


class _FieldScorer(scoring.BM25FScorer):  # type: ignore[misc]
    def __init__(self, searcher: Any, fieldname: str, text: bytes, b: float, k1: float, qf: int = 1) -> None:
        parent = searcher.get_parent()
        n = parent.doc_count_all()
        self.idf = robertson_idf(n, parent.doc_frequency(fieldname, text))
        self.avgfl = parent.avg_field_length(fieldname) or 1
        self.B = b
        self.K1 = k1
        self.qf = qf
        self.setup(searcher, fieldname, text)


def robertson_idf(n: int, df: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def term_weights(terms: Iterable[str]) -> dict[str, float]:
    """Query term -> weight: 1 + ln(times it was typed)."""
    return {term: 1.0 + math.log(count) for term, count in Counter(terms).items()}


def feedback_terms(
    searcher: Any,
    field: str,
    texts: Iterable[Iterable[str]],
    exclude: set[str],
    count: int | None = None,
    min_df: int = 1,
    min_docs: int = 1,
    df: Callable[[str], int] | None = None,
    typed: Iterable[str] = (),
    ranked: Sequence[float] = (),
) -> dict[str, float]:
    """The `count` best expansion terms of some top documents (their terms
    given), scored by summed tf x idf; weights normalised to the best one.
    `ranked`, the documents' first-pass scores, weighs each document by its
    score over the best one's, as RM3 weighs a feedback document by its
    query likelihood (without them every document weighs alike).
    Terms in fewer than `min_df` documents of the index, or fewer than
    `min_docs` of `texts`, are passed over, and so are function words
    (EXPANSION_STOPS) and near-stop words (in more than EXPANSION_MAX_DF of
    the documents) unless the query itself has them (`typed`).  `df` gives a
    term's document frequency (a cached one; by default the searcher is
    asked each time)."""
    frequency = df or (lambda term: int(searcher.doc_frequency(field, term)))
    n = searcher.doc_count_all()
    texts = [list(terms) for terms in texts]
    docs_with = Counter(term for terms in texts for term in set(terms))
    own = set(typed)
    common = EXPANSION_MAX_DF * n
    first = max(ranked, default=0.0)
    shares = [score / first for score in ranked] if len(ranked) == len(texts) and first > 0 else [1.0] * len(texts)
    scores: dict[str, float] = {}
    for share, terms in zip(shares, texts, strict=True):
        counts = Counter(terms)
        for term, tf in counts.items():
            if term in exclude or len(term) <= 2 or term.isdigit() or docs_with[term] < min_docs:
                continue
            if term not in own and term in EXPANSION_STOPS:
                continue
            found = frequency(term)
            if found < min_df or (term not in own and found > common):
                continue
            scores[term] = scores.get(term, 0.0) + share * (1.0 + math.log(tf)) * robertson_idf(n, found)
    best = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[: FEEDBACK_TERMS if count is None else count]
    if not best:
        return {}
    top = best[0][1]
    return {term: score / top for term, score in best}


def _contains(terms: Sequence[str], run: Sequence[str]) -> bool:
    """`run` occurs in `terms`, adjacent and in order."""
    width = len(run)
    first = run[0]
    return any(terms[i : i + width] == run for i, term in enumerate(terms) if term == first)


def navigational(words: Sequence[str], best: Iterable[tuple[Sequence[str], Sequence[str]]]) -> bool:
    """Whether the first pass already found the article the query names, so
    feedback would only dilute it: one of its best documents (title terms,
    all terms in order) has every query word in its title, or the query's
    words whole, adjacent and in order."""
    wanted = set(words)
    if len(wanted) < 2:
        return False
    run = list(words)
    return any(wanted <= set(title) or _contains(text, run) for title, text in best)


class TitleMatch:
    """The exact-title signal as a factor (see TITLE_BOOST): docnum -> x(1 + ...)."""

    name = "title match"

    def __init__(self, searcher: Any, terms: Sequence[str], deadline: Deadline | None = None) -> None:
        """`deadline` (search.deadline) is asked per term and every DOCS_PER_CHECK
        titles: a cut list leaves some titles unboosted, never a match added."""
        self.found: dict[int, float] = {}
        #: Some document's title has every query word: the query names an
        #: article (or a handful), so feedback would only pull in neighbours.
        self.whole = False
        deadline = deadline if deadline is not None else Deadline(None)
        distinct = list(dict.fromkeys(terms))
        if not TITLE_BOOST or len(distinct) < 2:  # one word: BM25's title weight decides
            return
        n = searcher.doc_count_all()
        weights = {t: robertson_idf(n, searcher.doc_frequency(TITLE_FIELD, t)) for t in distinct}
        total = sum(weights.values())
        covered: dict[int, float] = {}
        count: Counter[int] = Counter()
        for term, weight in weights.items():
            # Every document with the word in its title: a match of the query
            # (the title is in the text), unless excluded, which is never scored.
            if deadline.expired():
                break
            for n, docnum in enumerate(searcher.docs_for_query(query.Term(TITLE_FIELD, term))):
                if not n % DOCS_PER_CHECK and n and deadline.expired():
                    break
                covered[docnum] = covered.get(docnum, 0.0) + weight
                count[docnum] += 1
        reader = searcher.reader()
        self.whole = len(count) > 0 and max(count.values()) == len(distinct)
        for docnum, weight in covered.items():
            coverage = weight / total
            if coverage < TITLE_MIN_COVERAGE:
                continue
            length = reader.doc_field_length(docnum, TITLE_FIELD) or count[docnum]
            self.found[docnum] = 1.0 + TITLE_BOOST * coverage * min(1.0, count[docnum] / length)

    def __bool__(self) -> bool:
        return bool(self.found)

    def __call__(self, docnum: int) -> float:
        return self.found.get(docnum, 1.0)

    def explain(self, docnum: int) -> list[tuple[str, float]]:
        factor = self.found.get(docnum)
        return [] if factor is None else [(self.name, factor)]


# -- news signals ------------------------------------------------------------------

BOOSTS = ("recency", "quality")
DEFAULT_HALF_LIFE = 30 * 86400.0
DEFAULT_QUALITY_WEIGHT = 1.0


@dataclass(frozen=True)
class Boost:
    """One multiplicative factor: recency (value: half-life in seconds) or quality (value: weight)."""

    name: str
    value: float

    def __str__(self) -> str:
        if self.name == "recency":
            return f"recency:{self.value / 86400:g}d"
        return f"quality:{self.value:g}"


def parse_boost(text: str | Boost) -> Boost:
    """'recency', 'recency:7d', 'quality', 'quality:2' -> Boost."""
    if isinstance(text, Boost):
        return text
    name, _, arg = text.strip().partition(":")
    name = name.strip().lower()
    if name == "recency":
        if not arg.strip():
            return Boost(name, DEFAULT_HALF_LIFE)
        try:
            return Boost(name, parse_duration(arg, option="boost"))
        except UsageError:
            raise UsageError(f"invalid duration for `boost`: {arg!r}; use e.g. 7d, 2w, 1y", option="boost") from None
    if name == "quality":
        if not arg.strip():
            return Boost(name, DEFAULT_QUALITY_WEIGHT)
        if re.fullmatch(r"\s*\d+(?:\.\d+)?\s*", arg) and 0 < float(arg) <= 100:
            return Boost(name, float(arg))
        raise UsageError(
            f"invalid weight for `boost` quality: {arg!r}; use a number above 0, up to 100", option="boost"
        )
    raise UsageError(
        f"unknown boost {text!r}",
        option="boost",
        hint="Use recency, recency:HALF_LIFE (e.g. recency:7d), quality or quality:WEIGHT (e.g. quality:2).",
    )


def parse_boosts(values: Sequence[str | Boost]) -> tuple[Boost, ...]:
    boosts = {}
    for value in values:
        boost = parse_boost(value)
        boosts[boost.name] = boost  # the last of a kind wins, as with any repeated option
    return tuple(boosts[name] for name in BOOSTS if name in boosts)


class Factors:
    """docnum -> the product of the asked-for factors (from the sort columns),
    and of the exact-title signal where a query has one (add_title_match)."""

    def __init__(
        self,
        reader: Any = None,
        boosts: tuple[Boost, ...] = (),
        newest: int | None = None,
        best_quality: int | None = None,
    ) -> None:
        self.parts: list[tuple[str, Any, Callable[[int], float]]] = []
        self.title: TitleMatch | None = None
        for boost in boosts:
            if boost.name == "recency" and newest is not None:
                column = reader.column_reader("newest")
                self.parts.append((str(boost), column, _recency(newest, boost.value)))
            elif boost.name == "quality" and best_quality:
                column = reader.column_reader("quality")
                self.parts.append((str(boost), column, _quality(best_quality, boost.value)))

    def add_title_match(self, match: TitleMatch) -> Factors:
        if match:
            self.title = match
        return self

    def __bool__(self) -> bool:
        return bool(self.parts) or self.title is not None

    def __call__(self, docnum: int) -> float:
        factor = 1.0 if self.title is None else self.title(docnum)
        for _name, column, fn in self.parts:
            factor *= fn(column[docnum])
        return factor

    def explain(self, docnum: int) -> list[tuple[str, float]]:
        found = [] if self.title is None else self.title.explain(docnum)
        return found + [(name, fn(column[docnum])) for name, column, fn in self.parts]


#: Column values below this are "no date"/"no quality" (schema.MISSING_LOW).
_MISSING = -(2**61)


def _recency(newest: int, half_life: float) -> Callable[[int], float]:
    def factor(epoch: int) -> float:
        if epoch <= _MISSING:
            return 1.0
        return 1.0 + float(0.5 ** (max(0, newest - epoch) / half_life))

    return factor


def _quality(best: int, weight: float) -> Callable[[int], float]:
    def factor(quality: int) -> float:
        if quality <= _MISSING:
            return 1.0
        return 1.0 + weight * min(1.0, max(0.0, quality / best))

    return factor


class Boosted(scoring.WeightingModel):  # type: ignore[misc]
    """`base`'s scores times `factors` (Whoosh's final() hook)."""

    use_final = True

    def __init__(self, base: scoring.WeightingModel, factors: Factors) -> None:
        self.base = base
        self.factors: Factors = factors

    def scorer(self, searcher: Any, fieldname: str, text: bytes, qf: int = 1) -> Any:
        return self.base.scorer(searcher, fieldname, text, qf=qf)

    def final(self, searcher: Any, docnum: int, score: float) -> float:
        return float(score) * self.factors(docnum)
