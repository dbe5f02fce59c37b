"""Did-you-mean (search.backends.spelling): corrections come from the index's own words, never its stems.

Every index here is built from records these tests write, so the expected
corrections follow from text the tests control.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import render_record
from hypothesis import given, settings
from hypothesis import strategies as st

from search import build_index
from search.backends.query import weighting
from search.storage.schema import WORDS_RE, analyse_word
from search.backends.spelling import MAX_CORRECTED, RARE_RATIO, correct, positive_words
from search.storage.store import Store
from search.planning.syntax import read_user_text

RECORDS = {
    "government.md": (
        'title: "Government spending rises again"\nexcerpt: "The government will spend more on roads."',
        "Governments across Europe announced spending plans. The government said so.",
    ),
    "climate.md": ('title: "Climate talks stall in Bonn"', "Delegates discussed the climate for a week."),
    # "climb" is in more documents than "climate": "climte" must still read as
    # "climate", one edit away, not "climb" or "climbed", two.
    "climb-1.md": ('title: "Shares climb on results"', None),
    "climb-2.md": ('title: "Oil climbed to a high"', None),
    "climb-3.md": ('title: "Climbers return from the summit"', "Climbing was hard."),
    "bank.md": ('title: "Central bank holds interest rates"', "The bank kept interest rates at 2 pct."),
    "technology.md": ('title: "Technology shares rally"', "Technology stocks rose."),
    "tokyo.md": ('title: "日銀が金利を据え置き"', "日本銀行は金利を据え置いた。"),
}

#: Stems the text field holds that are no word of the records (Porter's forms).
STEMS_ONLY = {"govern", "climat", "technolog", "spend", "rise", "rais"}


def build(root: Path, records: dict[str, tuple[str, str | None]]) -> Path:
    folder = root / "records"
    folder.mkdir(parents=True, exist_ok=True)
    for name, (front, body) in records.items():
        (folder / name).write_text(render_record(front, body), "utf-8")
    build_index([folder], root / "index")
    return root / "index"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("spelling"), RECORDS)


def open_searcher(index_dir: Path) -> Any:
    _gen, ix = Store(index_dir).open()
    return ix.searcher(weighting=weighting())


@pytest.fixture(scope="module")
def searcher(index_dir: Path) -> Iterator[Any]:
    opened = open_searcher(index_dir)
    yield opened
    opened.close()


def corpus_words(records: dict[str, tuple[str, str | None]]) -> set[str]:
    """Every word of the records' text, lower-cased."""
    text = " ".join(front + " " + (body or "") for front, body in records.values())
    return {word.lower() for word in WORDS_RE.findall(text)}


# -- corrections ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("goverment spending", "government spending"),
        ("climte", "climate"),  # not the more frequent "climb"
        ("goverments", "governments"),  # the surface form nearest what was typed
        ("gvernment", "government"),  # an edit in the first two letters
        ("Goverment", "Government"),
        ("GOVERMENT", "GOVERNMENT"),
        ("technolgy shares", "technology shares"),
        ("bnak", "bank"),  # a short word: one edit (a swap) away
        ("intrest rates", "interest rates"),
    ],
)
def test_misspelled_words_become_words_of_the_index(searcher: Any, typed: str, expected: str) -> None:
    assert correct(searcher, typed) == expected


@pytest.mark.parametrize(
    "typed",
    ["government spending", "climate", "Climbers", "bank", "", "   ", "the of and", "2 pct", "1987", "日銀", "日本"],
)
def test_nothing_to_suggest_is_none(searcher: Any, typed: str) -> None:
    assert correct(searcher, typed) is None


def test_nothing_near_is_none(searcher: Any) -> None:
    assert correct(searcher, "xqzvkw") is None
    assert correct(searcher, "zz") is None  # too short to guess from


def test_a_correction_is_never_a_stem(searcher: Any) -> None:
    typos = ["goverment", "climte", "technolgy", "govrnment", "spendng", "climat", "raisd", "govern"]
    known = corpus_words(RECORDS)
    for typo in typos:
        fixed = correct(searcher, typo)
        if fixed is not None:
            assert fixed in known and fixed not in STEMS_ONLY - known, (typo, fixed)
    # A stem typed as such finds its words already: nothing to suggest.
    assert correct(searcher, "climat") is None


def test_phrases_negations_and_operators_stay_in_place(searcher: Any) -> None:
    assert correct(searcher, '"goverment spending" OR climte') == '"government spending" OR climate'
    assert correct(searcher, "climte -goverment") == "climate -goverment"  # a negated word is left alone
    assert correct(searcher, 'NOT goverment -"climte talks"') is None
    assert correct(searcher, "+goverment   spending") == "+government   spending"
    assert correct(searcher, "goverment-spending") == "government-spending"


def test_only_the_first_few_unknown_words_are_looked_up(searcher: Any) -> None:
    typos = ["goverment", "climte", "technolgy", "intrest", "bnak"]
    assert len(typos) > MAX_CORRECTED
    fixed = correct(searcher, " ".join(typos))
    assert fixed is not None
    words = fixed.split()
    assert words[:MAX_CORRECTED] == ["government", "climate", "technology"][:MAX_CORRECTED]
    assert words[MAX_CORRECTED:] == typos[MAX_CORRECTED:]


def test_a_thousand_word_query_is_corrected_at_its_start_and_kept_whole(searcher: Any) -> None:
    text = "goverment " + " ".join(f"zq{i}" for i in range(999))
    fixed = correct(searcher, text)
    assert fixed is not None and fixed.startswith("government zq0 ")
    assert fixed.endswith(" zq998") and len(fixed.split()) == 1_000


def test_repeated_typos_are_all_replaced(searcher: Any) -> None:
    assert correct(searcher, "goverment goverment") == "government government"


def test_a_word_only_in_a_deleted_record_is_not_suggested(tmp_path: Path) -> None:
    records = dict(RECORDS)
    records["zeppelin.md"] = ('title: "Zeppelin returns to the skies"', None)
    index_dir = build(tmp_path, records)
    searcher = open_searcher(index_dir)
    try:
        assert correct(searcher, "zepelin") == "zeppelin"
    finally:
        searcher.close()
    (tmp_path / "records" / "zeppelin.md").unlink()
    assert build_index([tmp_path / "records"], index_dir).deleted == 1
    searcher = open_searcher(index_dir)
    try:
        assert correct(searcher, "zepelin") is None
    finally:
        searcher.close()


def test_a_rare_word_of_the_index_is_corrected_only_when_it_looks_like_a_typo(tmp_path: Path) -> None:
    # The corpus itself has typos ("technolgy" once); a much more frequent word
    # one edit away replaces them.  A short rare word is a real word more often.
    records = {f"t{i}.md": (f'title: "Technology report {i}"', "The bank band.") for i in range(RARE_RATIO)}
    records["typo.md"] = ('title: "New technolgy fund"', None)
    records["band.md"] = ('title: "A band plays on"', None)
    searcher = open_searcher(build(tmp_path, records))
    try:
        assert correct(searcher, "technolgy") == "technology"
        assert correct(searcher, "band") is None
        assert correct(searcher, "report") is None
    finally:
        searcher.close()


# -- the reader of the query syntax agrees with the search's ----------------------------

SEED_WORDS = ["goverment", "climte", "spending", "bank", "Zürich", "日銀", "the", "2020", "don't", "U.S."]
OPERATORS = ['"', "“", "”", "(", ")", "AND", "OR", "NOT", "|", "||", "&&", "-", "+", "*", ":", "~", "-NOT"]
TOKENS = SEED_WORDS + OPERATORS + [" ", "  ", "\x00", "\t", "😀", "\\"]
grammar = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join) | st.lists(
    st.sampled_from(TOKENS), max_size=25
).map(" ".join)
queries = st.text() | st.text(alphabet=string.printable) | grammar

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def normalised(text: str) -> str:
    return _CONTROL.sub(" ", unicodedata.normalize("NFKC", text))


def structure(text: str) -> list[list[tuple[bool, bool]]]:
    return [[(clause.phrase, clause.negated) for clause in group] for group in read_user_text(text)]


@settings(max_examples=300, deadline=None, database=None)
@given(text=queries)
def test_property_positive_words_are_the_words_the_search_requires(text: str) -> None:
    expected = [
        word
        for group in read_user_text(text)
        for clause in group
        if not clause.negated
        for word in WORDS_RE.findall(clause.text)
    ]
    clean = normalised(text)
    assert [clean[start:end] for start, end in positive_words(clean)] == expected


@settings(max_examples=200, deadline=None, database=None)
@given(text=queries)
def test_property_correct_never_raises_and_keeps_the_query_shape(searcher: Any, text: str) -> None:
    fixed = correct(searcher, text)
    if fixed is None:
        return
    assert fixed != normalised(text)
    assert structure(fixed) == structure(text)
    before = [analyse_word(word) for word in WORDS_RE.findall(normalised(text))]
    after = [analyse_word(word) for word in WORDS_RE.findall(fixed)]
    assert len(before) == len(after)


def test_an_empty_index_suggests_nothing(tmp_path: Path) -> None:
    searcher = open_searcher(build(tmp_path, {}))
    try:
        assert correct(searcher, "goverment spending") is None
    finally:
        searcher.close()
