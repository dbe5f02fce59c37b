"""Navigational queries (issue 12): a query that is an article's headline, or
most of it, gets that article first; feedback runs only where the first
pass did not already find the article named, and never feeds back function
words or the collection's near-stop words."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from search import build_index, open_index
from search.api import Index
from search.planning import ranking
from search.planning.ranking import EXPANSION_STOPS, feedback_terms, navigational
from search.storage.schema import analyse_text

RecordWriter = Callable[..., Path]


def test_a_title_with_every_query_word_is_navigational() -> None:
    title = ["allwast", "alw", "acquir", "firm"]
    assert navigational(["allwast", "acquir", "firm"], [(["other"], ["other"]), (title, title)])
    assert not navigational(["allwast", "acquir", "bank"], [(title, title)])


def test_the_query_whole_in_a_text_is_navigational() -> None:
    text = ["share", "rose", "credit", "market", "end", "under", "pressur", "today"]
    assert navigational(["credit", "market", "end"], [(["headlin"], text)])
    assert not navigational(["market", "credit", "end"], [(["headlin"], text)])  # not in that order


def test_one_word_is_never_navigational() -> None:
    assert not navigational(["cocoa"], [(["cocoa"], ["cocoa"])])
    assert not navigational(["cocoa", "cocoa"], [(["cocoa"], ["cocoa"])])


class _Counts:
    """What feedback_terms asks of a searcher: the document count and frequencies."""

    def __init__(self, n: int, df: dict[str, int]) -> None:
        self.n, self.df = n, df

    def doc_count_all(self) -> int:
        return self.n

    def doc_frequency(self, field: str, term: str) -> int:
        return self.df.get(term, 1)


def test_function_words_and_near_stop_words_are_never_fed_back() -> None:
    assert {"were", "said", "which", "would"} <= EXPANSION_STOPS
    texts = [["were", "said", "cocoa", "harvest", "mln", "bahia"], ["were", "said", "cocoa", "harvest", "mln", "bahia"]]
    counts = _Counts(1000, {"mln": 400, "cocoa": 20, "harvest": 30, "bahia": 5, "were": 900, "said": 950})
    terms = feedback_terms(counts, "text", texts, exclude=set(), min_docs=2)
    assert set(terms) == {"cocoa", "harvest", "bahia"}  # "mln" is in 40% of the documents
    # The query's own words always take part, common or not.
    assert "mln" in feedback_terms(counts, "text", texts, exclude=set(), min_docs=2, typed=["mln"])


def test_a_feedback_document_weighs_by_its_first_pass_score() -> None:
    # RM3's document weights: a term of the best document counts in full, one
    # of a document scoring a quarter as much counts a quarter.
    texts = [["cocoa", "bahia"], ["cocoa", "ghana"]]
    counts = _Counts(1000, {"cocoa": 20, "bahia": 10, "ghana": 10})
    alike = feedback_terms(counts, "text", texts, exclude=set())
    assert alike["bahia"] == alike["ghana"]
    ranked = feedback_terms(counts, "text", texts, exclude=set(), ranked=[8.0, 2.0])
    assert ranked["ghana"] == pytest.approx(ranked["bahia"] / 4)
    assert max(ranked, key=ranked.__getitem__) == "cocoa"  # in both: 1 + 1/4 of its idf
    # No usable scores (none, or all zero): every document weighs alike.
    assert feedback_terms(counts, "text", texts, exclude=set(), ranked=[0.0, 0.0]) == alike


# -- golden queries ------------------------------------------------------------------------------

WIRE = [
    # (file, title, body): a short story with the headline asked for, and
    # longer ones that repeat its words in their bodies.
    ("target.md", "ALLWASTE <ALWS.O> TO ACQUIRE FIRM", "Allwaste Inc said it agreed to acquire a firm in Texas."),
    (
        "body1.md",
        "WASTE MANAGEMENT COMPANIES REPORT RESULTS",
        "Allwaste said results rose. Allwaste will acquire assets and acquire a firm, the firm said. "
        "Allwaste also said another firm may be acquired by Allwaste later this year.",
    ),
    (
        "body2.md",
        "TEXAS FIRMS IN ACQUISITION TALKS",
        "The firm is to acquire another firm; Allwaste and other firms acquire firms often. " * 3,
    ),
    ("other.md", "COCOA PRICES RISE IN BAHIA", "Cocoa prices rose on the firm market after the harvest."),
]


@pytest.fixture()
def wire(write_record: RecordWriter, tmp_path: Path) -> Iterator[Index]:
    for name, title, body in WIRE:
        write_record(name, f"title: {title!r}\nprovider:\n  name: Reuters", body=body)
    build_index([tmp_path / "records"], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        yield ix


def first(ix: Index, text: str, **options: Any) -> str:
    hits = ix.search(text, **options).hits
    assert hits, text
    return Path(hits[0].path).name


@pytest.mark.parametrize(
    "text", ["allwaste alws o to acquire firm", "ALLWASTE <ALWS.O> TO ACQUIRE FIRM", "allwaste acquire firm"]
)
def test_a_headline_query_gets_its_article_first(wire: Index, text: str) -> None:
    assert first(wire, text) == "target.md"
    assert first(wire, text, feedback=False) == "target.md"


def test_a_headline_query_gets_the_title_match_and_no_feedback(wire: Index) -> None:
    hit = wire.search("allwaste to acquire firm", explain=True).hits[0]
    assert hit.explanation is not None
    assert "feedback" not in {role for _, role, _ in hit.explanation.parts}
    assert [name for name, _ in hit.explanation.factors] == ["title match"]


def test_seed_headlines_find_their_own_article_first(seed_index: Index) -> None:
    # Two near-identical headlines: each one's own words decide.
    assert first(seed_index, "norway's central bank raises interest rates as inflation holds firm").startswith("015")
    assert first(seed_index, "norway central bank raises interest rates as economy holds firm").startswith("014")


def test_a_question_still_gets_feedback(seed_index: Index) -> None:
    hit = seed_index.search("why are central banks raising rates in scandinavia", explain=True).hits[0]
    assert hit.explanation is not None
    assert any(role == "feedback" for _, role, _ in hit.explanation.parts)


SPORT = [
    ("target.md", "Juninho demand for O'Neill talks", "The midfielder wants a meeting about his future."),
    (
        "tracking.md",
        "Mexicans tracking unhappy Juninho",
        "Juninho is unhappy. Mexican clubs track Juninho, and Juninho's agent says Juninho will hold talks. "
        "O'Neill says Juninho stays; O'Neill wants talks with Juninho soon.",
    ),
    ("other.md", "Celtic win at Clyde", "O'Neill's side won five nil."),
]


@pytest.fixture()
def sport(write_record: RecordWriter, tmp_path: Path) -> Iterator[Index]:
    for name, title, body in SPORT:
        write_record(name, f"title: {title!r}", body=body)
    build_index([tmp_path / "records"], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        yield ix


def test_a_headline_typed_without_its_apostrophes_is_navigational(sport: Index) -> None:
    # "O'Neill" typed "o neill": the title holds every query word, so no feedback pulls
    # the story that repeats the names above the one whose headline it is.
    hit = sport.search("juninho demand for o neill talks", explain=True).hits[0]
    assert Path(hit.path).name == "target.md"
    assert hit.explanation is not None
    assert "feedback" not in {role for _, role, _ in hit.explanation.parts}
    assert [name for name, _ in hit.explanation.factors] == ["title match"]


# -- no feedback when some title has every query word, wherever it ranks -------------------------

CROWD = [
    # Six stories that repeat the words (never whole, in order) under other headlines, and the
    # one whose headline has every word of the query, with a long story under it.
    *[
        (f"crowd{i}.md", f"FREDDIE MAC ADJUSTS TERMS {i}", "The rate rises at the discount window; it rises in the discount rate. " * 6)
        for i in range(6)
    ],
    (
        "target.md",
        "TOP DISCOUNT RATE AT UK BILL TENDER RISES TO 9.5261 PCT",
        "The Bank of England said the average rate at the weekly tender was higher. " * 12,
    ),
]


@pytest.fixture()
def crowd(write_record: RecordWriter, tmp_path: Path) -> Iterator[Index]:
    for name, title, body in CROWD:
        write_record(name, f"title: {title!r}", body=body)
    build_index([tmp_path / "records"], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        yield ix


def test_a_title_with_every_query_word_turns_feedback_off_even_below_the_first_five(crowd: Index) -> None:
    # The feedback documents would be the first pass's best five, none of them
    # the target; its title still names what the user asked for, so no
    # feedback pulls the crowd's words in.
    page = crowd.search("discount rate rises", explain=True, limit=10)
    for hit in page.hits:
        assert hit.explanation is not None
        assert "feedback" not in {role for _, role, _ in hit.explanation.parts}, hit.path
    assert "target.md" in [Path(h.path).name for h in page.hits]


def test_title_match_says_whether_a_title_has_every_word(crowd: Index) -> None:
    with crowd._ix.searcher() as searcher:
        assert ranking.TitleMatch(searcher, terms("discount rate rises")).whole
        assert not ranking.TitleMatch(searcher, terms("discount rate freddie")).whole  # in no one title
        assert not ranking.TitleMatch(searcher, terms("discount")).whole  # one word: BM25's title weight decides


def terms(text: str) -> list[str]:
    return [term for term, _ in analyse_text(text)]
