"""Highlighted snippets: the densest stretch of a text around the query's words.

Whoosh's highlighter re-analyses the text through its filter chain and scores
fragments with Token objects: about 1 ms for a 60-word excerpt, several for
a body, so ten of them would cost more than the search.  This module does the
same job with the indexing fast path's cached analysis (schema.analyse_word):
it finds the tokens whose analysed form is a query term, picks the window of
at most WIDTH characters holding most of them, and returns it as HTML with
the matches in <em> and everything else escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from search.storage.schema import WORDS_RE, analyse_word, fold, has_cjk, split_cjk_spans

WIDTH = 240


def _matches(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    if has_cjk(text):
        return [
            (start, end)
            for match in WORDS_RE.finditer(text)
            for start, end in _token_spans(match)
            if analyse_word(text[start:end]) in terms
        ]
    # Porter stemming only rewrites endings ("lying" -> "lie"), so a word can
    # only analyse to a term that starts with its own first (folded) letter:
    # most words are passed over without being analysed.
    heads = {term[:1] for term in terms}
    spans = []
    if text.isascii():
        # Folding an ASCII letter is lower-casing it (accent_map only lowers
        # ASCII), so one lower() of the text answers every word's first letter
        # by position: a tenth of the per-word calls, the same words analysed.
        lowered = text.lower()
        for match in WORDS_RE.finditer(text):
            start = match.start()
            if lowered[start] in heads and analyse_word(match.group()) in terms:
                spans.append((start, match.end()))
        return spans
    for match in WORDS_RE.finditer(text):
        word = match.group()
        if fold(word[:1])[:1] in heads:
            if analyse_word(word) in terms:
                spans.append(match.span())
    return spans


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
