"""The embedded ranking, recomputed over the hits searchd fetched.

searchd's expression ranker cannot say how often each query word occurs
across a document's fields (only per field summed over the words, or per
word summed over the fields unweighted), and it cannot add terms from the
top hits.  So a relevance query is ranked in two steps: searchd
matches and picks a window of candidates with the approximate BM25F of
search.backends.cluster.sphinxql, and this module scores the best of them the way the
embedded index scores (search.planning.ranking).  One-word queries too: searchd's
idf is each shard's own, and on seeds/ its scores of "energy" ordered the
4th and 5th hits otherwise than the embedded index.

* BM25F over the weighted parts (schema.PART_WEIGHTS: a title word counts
  twice), K1 and B of search.planning.ranking, Robertson idf from the document
  frequencies of the whole cluster (each shard's ``CALL KEYWORDS``, summed:
  global idf, where searchd's own ranker has each shard's), a word typed
  twice weighing 1 + ln 2;
* pseudo-relevance feedback for queries of two words or more: the best
  terms of the top FEEDBACK_DOCS (ranking.feedback_terms, the same
  function, with the same stop rules and navigational test) added to the
  score of every candidate;
* the proximity bonus of a query of two to four words (search.planning.proximity:
  the words' scores once more where they occur in order, PHRASE_SLOP apart
  at most);
* the exact-title factor (ranking.TitleMatch's formula, with the words'
  idf over all fields, since searchd keeps no per-field frequencies).

The document lengths are the embedded index's (``text_len`` and
``title_terms_len`` attributes written with each row, rounded as Whoosh
keeps them: its BM25F normalises the title and the rest of a record each on
its own length; searchd's own ``<field>_len`` count stop words), and so are
their averages over the cluster.  Feedback is skipped, as there, when a
title has every query word (here: a candidate's title).
What stays different: a document outside those is never pulled up by
feedback (the embedded index re-ranks every match).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from whoosh.util.numeric import byte_to_length, length_to_byte

from search.planning import ranking
from search.backends.cluster.sphinxql import WEIGHT_SCALE
from search.planning.proximity import PHRASE_SLOP, near_in_order
from search.storage.schema import PART_GAP, analyse_text, analyse_word, combined_text

log = logging.getLogger(__name__)

#: Queries of this many clauses or more get feedback (search.backends.query.FEEDBACK_MIN_WORDS,
#: which counts the embedded query's positive clauses).
FEEDBACK_MIN_CLAUSES = 2
#: Columns of a hit row (search.backends.cluster.sphinxql.HIT_COLUMNS, then the score and the length).
PATH, TITLE, EXCERPT, META, RECORD, URL_KEY, WEIGHT, SCORE, LENGTH, TITLE_LENGTH = 3, 6, 7, 8, 9, 10, 12, 13, 14, 15

#: {term (as the embedded index stems it): a word typed for it} -> documents
#: holding each term in the whole cluster (terms searchd reads otherwise are left out).
DocFrequency = Callable[[dict[str, str]], dict[str, int]]


@dataclass(frozen=True)
class Collection:
    """What BM25 needs of the whole cluster."""

    documents: int
    avg_length: float
    avg_title_length: float = 1.0
    with_title: float = 1.0  # the share of documents with a title
    with_rest: float = 1.0  # and with more than a title

    def averages(self) -> ranking.FieldLengths:
        """The title's and the rest's average lengths, as ranking.FieldLengths.of reads them from Whoosh."""
        return ranking.FieldLengths.of_averages(self.avg_title_length, self.avg_length, self.with_title, self.with_rest)


class _Counts:
    """feedback_terms asks its searcher for the document count only (its df is given)."""

    def __init__(self, documents: int) -> None:
        self.documents = documents

    def doc_count_all(self) -> int:
        return self.documents


@dataclass
class _Doc:
    row: tuple[Any, ...]
    tf: dict[str, float]  # weighted term frequency over the parts
    freq: dict[str, int]  # occurrences over the parts (the title's are tf - freq, ranking.field_tf)
    positions: dict[str, list[int]]  # in the parts joined as the embedded index joins them
    text_terms: list[str]  # title, excerpt and body terms, as feedback reads a document
    title_terms: list[str]
    text: str
    length: float
    title_length: float
    base: float = 0.0


def _document(row: tuple[Any, ...]) -> _Doc:
    meta = json.loads(row[META]) if row[META] else {}
    record = json.loads(row[RECORD]) if row[RECORD] else {}
    provider = meta.get("provider") or {}
    title, excerpt, body = row[TITLE] or "", row[EXCERPT] or "", record.get("body") or ""
    parts = combined_text(
        title, tuple(meta.get("topics") or ()), excerpt, body, provider.get("name"), provider.get("domain")
    )
    tf: dict[str, float] = {}
    freq: dict[str, int] = {}
    positions: dict[str, list[int]] = {}
    text_terms: list[str] = []  # title, excerpt and body, as search.backends.query.document_terms reads them
    title_terms: list[str] = []
    base = 0
    # One pass of the analyzer over each part (it is most of a query's time here).
    for text, weight in parts:
        last = -1
        terms = analyse_text(text)
        for term, pos in terms:
            tf[term] = tf.get(term, 0.0) + weight
            freq[term] = freq.get(term, 0) + 1
            last = base + pos
            positions.setdefault(term, []).append(last)
        if last >= 0:
            base = last + PART_GAP
        if text in (title, excerpt, body):
            text_terms += [t for t, _ in terms]
            if text == title and not title_terms:
                title_terms = [t for t, _ in terms]
    # Whoosh keeps a length in one byte: the embedded index's BM25 sees it rounded so.
    length = byte_to_length(length_to_byte(int(row[LENGTH] or 0)))
    title_length = byte_to_length(length_to_byte(int(row[TITLE_LENGTH] or 0)))
    return _Doc(
        row, tf, freq, positions, text_terms, title_terms, " ".join((title, excerpt, body)), float(length),
        float(title_length),
    )


def _bm25(idf: float, doc: _Doc, term: str, averages: ranking.FieldLengths) -> float:
    """The embedded index's BM25F score of `term` in `doc` (ranking.field_tf, ranking.saturate)."""
    tf = ranking.field_tf(doc.tf[term], float(doc.freq[term]), doc.length, doc.title_length, averages)
    return float(ranking.saturate(idf, tf, ranking.K1))


def rerank(
    found: Sequence[tuple[Any, ...]],
    weights: dict[str, float],
    words: Sequence[str],
    forms: dict[str, str],
    collection: Collection,
    frequency: DocFrequency,
    *,
    feedback: bool = True,
    proximity: Sequence[str] = (),
) -> list[tuple[Any, ...]] | None:
    """`found` (hit rows, searchd's order) in the embedded index's order, each
    row's score replaced by the recomputed one (times its --boost factors);
    `weights`: each query term's (ranking.term_weights), `words`: the
    positive terms in query order, `forms`: a typed word for each (what
    searchd is asked about); `proximity`: the words of the proximity bonus
    (search.backends.query._bonus), if the query has one.  None without terms."""
    if not weights or not found:
        return None
    df = frequency({term: forms.get(term, term) for term in weights})
    n = max(collection.documents, 1)
    averages = collection.averages()
    docs = [_document(row) for row in found]
    for term in weights:
        if term not in df:
            # searchd splits the word otherwise ("e.g" is two words to it):
            # the candidates holding it are the best estimate at hand.
            df[term] = max(1, sum(1 for doc in docs if doc.tf.get(term)))
    idf = {term: ranking.robertson_idf(n, df[term]) for term in weights}
    for doc in docs:
        doc.base = sum(
            qw * _bm25(idf[t], doc, t, averages) for t, qw in weights.items() if doc.tf.get(t)
        )
    scores = [doc.base for doc in docs]
    wanted = set(words)
    if feedback and len(wanted) >= 2 and any(wanted <= set(doc.title_terms) for doc in docs):
        feedback = False  # some title has every query word (ranking.TitleMatch.whole)
    if feedback:
        best = sorted(range(len(docs)), key=lambda i: -docs[i].base)[: ranking.FEEDBACK_DOCS]
        tops = [docs[i] for i in best]
        if not ranking.navigational(list(words), [(d.title_terms, d.text_terms) for d in tops]):
            expansion = _expansion(tops, words, n, frequency)  # tops weigh by their doc.base
            for term, (boost, term_df) in expansion.items():
                term_idf = ranking.robertson_idf(n, term_df)
                for i, doc in enumerate(docs):
                    if doc.tf.get(term):
                        scores[i] += ranking.FEEDBACK_WEIGHT * boost * _bm25(term_idf, doc, term, averages)
    if proximity:
        for i, doc in enumerate(docs):
            if all(doc.tf.get(t) for t in proximity) and near_in_order(
                [doc.positions[t] for t in proximity], PHRASE_SLOP
            ):
                scores[i] += sum(_bm25(idf[t], doc, t, averages) for t in proximity)
    title_idf = idf
    total = sum(title_idf.values())
    for i, doc in enumerate(docs):
        scores[i] *= _title_factor(doc, title_idf, total)
        ranked = float(doc.row[WEIGHT] or 0)
        scores[i] *= float(doc.row[SCORE]) / ranked if ranked else 1.0  # the --boost factors
    # Ties by the record's path: the order a full embedded build numbers documents in
    # (its tie-break), within each of its segments.
    order = sorted(range(len(docs)), key=lambda i: (-scores[i], str(docs[i].row[PATH] or ""), int(docs[i].row[0])))
    return [(*docs[i].row[:SCORE], scores[i] * WEIGHT_SCALE, *docs[i].row[SCORE + 1 :]) for i in order]


def _expansion(
    tops: list[_Doc], words: Sequence[str], n: int, frequency: DocFrequency
) -> dict[str, tuple[float, int]]:
    """term -> (feedback weight, document frequency), as search.backends.query._feedback chooses them."""
    texts = [doc.text_terms for doc in tops]
    in_docs = Counter(term for terms in texts for term in set(terms))
    candidates = [t for t, k in in_docs.items() if k >= ranking.FEEDBACK_MIN_DOCS]
    df = frequency(surface_forms(candidates, (doc.text for doc in tops)))
    chosen = ranking.feedback_terms(
        _Counts(n),
        "text",
        [[t for t in terms if t in df] for terms in texts],
        exclude=set(),
        min_docs=ranking.FEEDBACK_MIN_DOCS,
        df=lambda term: df[term],
        typed=words,
        ranked=[doc.base for doc in tops],
    )
    return {term: (weight, df[term]) for term, weight in chosen.items()}


def _title_factor(doc: _Doc, weights: dict[str, float], total: float) -> float:
    """ranking.TitleMatch's factor for one document."""
    if not ranking.TITLE_BOOST or len(weights) < 2 or not total:
        return 1.0
    present = set(doc.title_terms)
    covered = [t for t in weights if t in present]
    coverage = sum(weights[t] for t in covered) / total
    if coverage < ranking.TITLE_MIN_COVERAGE:
        return 1.0
    # The title's length as Whoosh keeps it, rounded to a byte (as TitleMatch reads it):
    # an 11-term title is 12 there, and the factor 1.1667, not 1.1818.
    length = doc.title_length or len(covered)
    return 1.0 + ranking.TITLE_BOOST * coverage * min(1.0, len(covered) / length)


def surface_forms(terms: Iterable[str], texts: Iterable[str]) -> dict[str, str]:
    """A typed (folded) word for each wanted term, found in `texts`: what
    searchd's CALL KEYWORDS is asked about."""
    from search.storage.schema import _FAST  # the analyzer's own tokenizer: words as typed, folded

    wanted = set(terms)
    forms: dict[str, str] = {}
    for text in texts:
        for word, _ in _FAST.words(text):
            term = analyse_word(word)
            if term in wanted and term not in forms:
                forms[term] = word
        if len(forms) == len(wanted):
            break
    return forms
