"""Highlighted snippets: the densest stretch of a text around the query's words.

Whoosh's highlighter re-analyses the text through its filter chain and scores
fragments with Token objects: about 1 ms for a 60-word excerpt, several for
a body, so ten of them would cost more than the search.  This module does the
same job with the indexing fast path's cached analysis (schema.token_term):
it finds the tokens whose analysed form is a query term, picks the window of
at most WIDTH characters holding most of them, and returns it as HTML with
the matches in <em> and everything else escaped.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterator
from functools import lru_cache

from search.storage.schema import WORDS_RE, fold, has_cjk, split_cjk_spans, token_term

WIDTH = 240


def _matches(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    if has_cjk(text):
        return [
            (start, end)
            for match in WORDS_RE.finditer(text)
            for start, end in _token_spans(match)
            if token_term(text[start:end]) in terms
        ]
    # Porter stemming only rewrites endings ("lying" -> "lie"), so a word can
    # only analyse to a term that starts with its own first (folded) letter:
    # most words are passed over without being analysed.
    heads, starts = _heads(terms)
    spans = []
    if text.isascii():
        # Folding an ASCII letter is lower-casing it (accent_map only lowers
        # ASCII), so one lower() of the text answers every word's first letter
        # by position.
        lowered = text.lower()
        return _ascii_matches(text, lowered, heads, terms, starts)
    for match in WORDS_RE.finditer(text):
        word = match.group()
        if fold(word[:1])[:1] in heads:
            if token_term(word) in terms:
                spans.append(match.span())
    return spans


#: The characters a token continues across (WORDS_RE: "U.S.", "AT&T", "don't", "1.5").
_JOINERS = frozenset(".&'")
#: ASCII characters a token can hold: word characters (\\w) and the joiners.
_IN_TOKENS = frozenset(string.ascii_letters + string.digits + "_") | _JOINERS


def _ascii_matches(
    text: str, lowered: str, heads: frozenset[str], terms: frozenset[str], starts: re.Pattern[str] | None
) -> list[tuple[int, int]]:
    """_matches() of an ASCII text, reading only the tokens that start with
    a head letter, where the full scan tokenised the whole text.

    A token of WORDS_RE starts at a word character that follows a non-word
    character (or the text's start), and every non-word character inside it
    is a joiner; so a word character that follows neither a word character
    nor a joiner starts a token, and one scan of a simple expression finds
    those with a head letter, with the run of word characters that follows.
    That run is the token unless a joiner ends it ("u.s.", "don't", "1.5"),
    which WORDS_RE then reads.  One that follows a joiner ("s" in "U.S." or
    "company's") may be inside a token that started before it: the run of
    token characters around it is tokenised whole, as the full scan would
    (a character that is neither bounds every token).  On the benchmark's
    Reuters pages the snippets cost a third of what they did.  `starts`:
    _heads(terms)'s expression."""
    spans: list[tuple[int, int]] = []
    if starts is None:
        return spans
    match_at = WORDS_RE.match
    size = len(lowered)
    run_end = 0
    for candidate in starts.finditer(lowered):
        start, end = candidate.span()
        if start < run_end:
            continue  # tokenised with its run
        if start and lowered[start - 1] in _JOINERS:
            first = start - 1
            while first and lowered[first - 1] in _IN_TOKENS:
                first -= 1
            run_end = start
            while run_end < size and lowered[run_end] in _IN_TOKENS:
                run_end += 1
            while spans and spans[-1][0] >= first:
                spans.pop()
            for inside in WORDS_RE.finditer(text, first, run_end):
                if lowered[inside.start()] in heads and token_term(inside.group()) in terms:
                    spans.append(inside.span())
            continue
        if end < size and lowered[end] in _JOINERS:
            token = match_at(text, start)
            if token is None:
                continue
            end = token.end()
        if token_term(text[start:end]) in terms:
            spans.append((start, end))
    return spans


@lru_cache(maxsize=256)
def _heads(terms: frozenset[str]) -> tuple[frozenset[str], re.Pattern[str] | None]:
    """The first letters of `terms`, and the expression that finds, in a
    lowered ASCII text, each of them that is a word character and that no
    word character precedes, with the word characters after it (None when
    none is a word character: no token starts with any other).  Kept for the
    query's terms, which every snippet of a page shares (building the set and
    looking the expression up was some 2 us a text)."""
    heads = frozenset(term[:1] for term in terms)
    letters = "".join(sorted(h for h in heads if _WORD_CHAR.fullmatch(h)))
    if not letters:
        return heads, None
    # A head letter, then "the character before it is not a word character" as
    # a look behind over it and the one before (at the text's start there is
    # none, so it holds): a pattern that starts with its letters is scanned for
    # them in C, where one that starts with the look behind is tried at every
    # position (the benchmark's Reuters pages: 15-30 -> 6-17 us a text).
    chosen = "[" + re.escape(letters) + "]"
    return heads, re.compile(chosen + "(?<!\\w" + chosen + ")\\w*")


_WORD_CHAR = re.compile(r"\w")


def _token_spans(match: re.Match[str]) -> Iterator[tuple[int, int]]:
    word = match.group()
    for offset, length in split_cjk_spans(word):
        yield match.start() + offset, match.start() + offset + length


def _window(spans: list[tuple[int, int]]) -> tuple[int, int]:
    """The span range (first, last) holding most matches within WIDTH characters."""
    best = (0, 0)
    first = 0
    for last in range(len(spans)):
        while spans[last][1] - spans[first][0] > WIDTH:
            first += 1
        if last - first > best[1] - best[0]:
            best = (first, last)
    return best


def _bounds(text: str, first: int, last: int) -> tuple[int, int]:
    """Widen the matches' range [first, last) to about WIDTH characters, cut at spaces."""
    room = max(0, WIDTH - (last - first))
    start = max(0, first - room // 3)
    end = min(len(text), max(last, start + WIDTH))
    if start > 0:
        space = text.find(" ", start, first)
        if space != -1:
            start = space + 1
    if end < len(text):
        space = text.rfind(" ", last, end)
        if space != -1:
            end = space
    return start, end


def highlight(text: str, terms: frozenset[str]) -> str | None:
    """HTML snippet of `text` around `terms` (analysed forms), or None if none occurs."""
    if not text or not terms:
        return None
    spans = _matches(text, terms)
    if not spans:
        return None
    first, last = _window(spans)
    start, end = _bounds(text, spans[first][0], spans[last][1])
    parts = ["…"] if start > 0 else []
    cursor = start
    for span_start, span_end in spans:
        if span_start < start or span_end > end:
            continue
        parts.append(html.escape(text[cursor:span_start], quote=False))
        parts.append("<em>" + html.escape(text[span_start:span_end], quote=False) + "</em>")
        cursor = span_end
    parts.append(html.escape(text[cursor:end], quote=False))
    if end < len(text):
        parts.append("…")
    return "".join(parts).strip()


def lead(text: str) -> str:
    """The start of `text`, escaped, cut at a space near WIDTH characters."""
    if len(text) <= WIDTH:
        return html.escape(text, quote=False)
    cut = text.rfind(" ", 0, WIDTH)
    return html.escape(text[: cut if cut > 0 else WIDTH], quote=False) + "…"
