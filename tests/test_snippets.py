"""search.backends.snippets: the words a snippet marks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from search.backends.snippets import _matches, highlight
from search.storage.schema import WORDS_RE, analyse_word, fold

WORDS = ["Oil", "oil", "OILS", "prices", "Price", "U.S.", "AT&T", "lying", "Lies", "the", "3.5", "don't", "Émile", "emile"]


def per_word(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    """The rule _matches follows: a word is marked when it analyses to a term."""
    return [m.span() for m in WORDS_RE.finditer(text) if analyse_word(m.group()) in terms]


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=8)), max_size=40),
    seps=st.lists(st.sampled_from([" ", ", ", ". ", "\n", "-", " ("]), min_size=1),
    query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
)
def test_marked_words_are_those_that_analyse_to_a_query_term(
    words: list[str], seps: list[str], query: list[str]
) -> None:
    text = "".join(w + seps[i % len(seps)] for i, w in enumerate(words))
    terms = frozenset(t for t in (analyse_word(fold(w)) for w in query) if t)
    assert _matches(text, terms) == per_word(text, terms)


def test_an_ascii_and_an_accented_text_mark_alike() -> None:
    terms = frozenset({analyse_word("oil"), analyse_word("prices")})
    plain = "OIL Prices rose; oily oil-price talk."
    accented = plain + " Émile"
    assert highlight(plain, terms) == "<em>OIL</em> <em>Prices</em> rose; oily <em>oil</em>-<em>price</em> talk."
    assert highlight(accented, terms) == highlight(plain, terms) + " Émile"


_ASCII_PIECES = st.text(alphabet="abcsAST01_.&' -,()", min_size=1, max_size=6)


@settings(max_examples=500, deadline=None)
@given(
    words=st.lists(st.one_of(st.sampled_from(WORDS[:12]), _ASCII_PIECES), max_size=40),
    seps=st.lists(st.sampled_from([" ", "", ".", "'", "&", ". ", "-", " ("]), min_size=1),
    query=st.lists(st.sampled_from([*WORDS[:12], "s", "a", "t", "ab", "0", "3"]), min_size=1, max_size=3),
)
def test_an_ascii_text_marks_the_words_a_full_scan_marks(words: list[str], seps: list[str], query: list[str]) -> None:
    """ASCII texts are scanned for the tokens that start with a query term's
    first letter only; joiners (U.S., AT&T, don't, 1.5) glued to any word
    around them must not change which tokens that finds."""
    text = "".join(w + seps[i % len(seps)] for i, w in enumerate(words))
    assert text.isascii()
    terms = frozenset(t for t in (analyse_word(fold(w)) for w in query) if t)
    assert _matches(text, terms) == per_word(text, terms)


@settings(max_examples=300, deadline=None)
@given(words=st.lists(st.one_of(st.sampled_from(WORDS), st.text(min_size=1, max_size=10)), max_size=20))
def test_the_cached_token_analysis_is_analyse_word(words: list[str]) -> None:
    """The snippets' cached analysis of a token gives analyse_word's term."""
    from search.storage.schema import token_term

    for match in WORDS_RE.finditer(" ".join(words)):
        assert token_term(match.group()) == analyse_word(match.group())
