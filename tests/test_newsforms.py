"""News language (issue 12): British and American spellings meet, tickers
and abbreviations match the way people type them, the wire's units mean
their words; at index and query time alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from search import build_index, open_index
from search.api import Index
from search.storage.newsforms import NEWS_FORMS, news_form
from search.storage.schema import _FAST, WORDS_RE, analyse_word, text_analyzer

RecordWriter = Callable[..., Path]


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("colour", "color"),
        ("colours", "colors"),
        ("favourite", "favorite"),
        ("recognise", "recognize"),
        ("recognised", "recognized"),
        ("organisation", "organization"),
        ("analyse", "analyze"),
        ("programme", "program"),
        ("programmes", "programs"),
        ("centre", "center"),
        ("travelled", "traveled"),
        ("defence", "defense"),
    ],
)
def test_british_and_american_spellings_meet(british: str, american: str) -> None:
    assert news_form(british) == news_form(american)
    assert analyse_word(british) == analyse_word(american)


def test_ize_is_read_as_ise_so_porter_keeps_the_word_apart() -> None:
    # Porter strips -ize but not -ise: "organize" would be the stem of "organ".
    assert news_form("organization") == "organisation" and news_form("recognize") == "recognise"
    assert analyse_word("organization") != analyse_word("organ")
    assert analyse_word("optimize") != analyse_word("optimal")


@pytest.mark.parametrize(
    "word", ["precise", "exercise", "advertise", "wise", "rise", "hour", "four", "tour", "program"]
)
def test_unlisted_words_are_left_alone(word: str) -> None:
    assert news_form(word) == word


def test_every_mapped_form_is_lower_case_and_changes_the_word() -> None:
    assert all(k == k.lower() and v == v.lower() and k != v for k, v in NEWS_FORMS.items())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ALLWASTE <ALWS.O> TO ACQUIRE FIRM", ["ALLWASTE", "ALWS", "O", "TO", "ACQUIRE", "FIRM"]),
        ("U.S. CREDIT MARKETS", ["U.S", "CREDIT", "MARKETS"]),
        ("S&P 500 rose 1.5 pct", ["S&P", "500", "rose", "1.5", "pct"]),
        ("Brazil's J.P. Morgan bbc.co.uk", ["Brazil's", "J.P", "Morgan", "bbc", "co", "uk"]),
    ],
)
def test_words_as_the_tokenizer_reads_them(text: str, words: list[str]) -> None:
    assert WORDS_RE.findall(text) == words


@pytest.mark.parametrize(
    ("typed", "indexed"),
    [
        ("u.s.", "U.S."),
        ("us", "U.S."),
        ("US", "u.s"),
        ("s&p", "S&P"),
        ("sp", "S&P"),
        ("alws", "<ALWS.O>"),
        ("mln", "million"),
        ("million", "mln"),
        ("dlrs", "dollars"),
        ("4th", "fourth"),
        ("qtr", "quarter"),
        ("pct", "percent"),
    ],
)
def test_a_typed_form_gives_the_indexed_forms_term(typed: str, indexed: str) -> None:
    query_terms = [t.text for t in text_analyzer()(typed)]
    index_terms = [t for t, _ in _FAST.terms(indexed)]
    assert query_terms and set(query_terms) <= set(index_terms)


def test_a_decimal_number_stays_whole_and_is_indexed_as_its_parts_too() -> None:
    assert [t for t, _ in _FAST.terms("1.5 mln dlr")] == ["1.5", "1", "5", "million", "dollar"]
    assert [t.text for t in text_analyzer()("1.5")] == ["1.5"]  # a query asks for the number


def test_an_abbreviation_is_indexed_as_its_letters_too_at_its_position() -> None:
    assert list(_FAST.terms("U.S. credit")) == [("us", 0), ("u", 0), ("s", 0), ("credit", 1)]
    assert [t.text for t in text_analyzer()("U.S.")] == ["us"]


def test_a_word_with_an_apostrophe_is_indexed_as_its_parts_too() -> None:
    assert list(_FAST.terms("O'Neill talks")) == [("o'neil", 0), ("o", 0), ("neill", 0), ("talk", 1)]
    assert [t for t, _ in _FAST.terms("won’t")] == ["won't", "won", "t"]  # ’ folds to '
    # A possessive is stemmed to its word: only the "s" is added, never the word twice.
    assert list(_FAST.terms("Parliament's record")) == [("parliament", 0), ("s", 0), ("record", 1)]
    assert [t.text for t in text_analyzer()("O'Neill")] == ["o'neil"]  # a query asks for the word


# -- through the index ---------------------------------------------------------------------------

STORIES = [
    ("colour.md", "Colour television sales rise", "The programme to recognise new colour standards."),
    ("color.md", "Color printers get cheaper", "A program to recognize color standards."),
    ("ticker.md", "ALLWASTE <ALWS.O> TO ACQUIRE FIRM", "Allwaste Inc said it agreed to buy a firm."),
    ("us.md", "U.S. CREDIT MARKETS END UNDER EXTREME PRESSURE", "Treasury prices fell."),
    ("sp.md", "S&P DOWNGRADES ZENITH DEBT", "Standard and Poor's Corp said it lowered ratings."),
    ("zenith.md", "ZENITH LABORATORIES INC <ZEN> 4TH QTR LOSS", "Shr loss 12 cts vs profit 1.5 mln dlrs."),
    ("units.md", "Fourth quarter results", "A loss of 1.5 million dollars in the fourth quarter."),
    ("oneill.md", "Juninho demand for O'Neill talks", "The striker wants talks with the manager."),
    ("ndour.md", "Youssou N'Dour wins music prize", "The singer won the prize for his album."),
]


@pytest.fixture()
def news(write_record: RecordWriter, tmp_path: Path) -> Iterator[Index]:
    for name, title, body in STORIES:
        write_record(name, f"title: {title!r}", body=body)
    build_index([tmp_path / "records"], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        yield ix


def found(ix: Index, text: str) -> set[str]:
    return {Path(hit.path).name for hit in ix.search(text, limit=50).hits}


@pytest.mark.parametrize("text", ["colour", "color", "programme", "program", "recognise", "recognized"])
def test_either_spelling_finds_both(news: Index, text: str) -> None:
    assert {"colour.md", "color.md"} <= found(news, text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("alws", "ticker.md"),
        ("u s credit markets", "us.md"),  # the headline typed without its punctuation
        ("us", "us.md"),
        ("u.s.", "us.md"),
        ("s&p", "sp.md"),
        ("zen", "zenith.md"),
        ('"4th qtr"', "units.md"),
        ('"fourth quarter"', "zenith.md"),
        ('"1.5 million dollars"', "zenith.md"),
        ('"1.5 mln dlr"', "units.md"),
        ("o neill", "oneill.md"),  # typed without the apostrophe
        ("o'neill", "oneill.md"),
        ("n dour", "ndour.md"),
    ],
)
def test_tickers_symbols_and_units_as_people_type_them(news: Index, text: str, name: str) -> None:
    assert name in found(news, text)


def test_the_snippet_marks_the_other_spelling(news: Index) -> None:
    hit = next(h for h in news.search("color").hits if Path(h.path).name == "colour.md")
    assert "<em>colour</em>" in hit.snippet.lower()
