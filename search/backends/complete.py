"""Prefix completion (``search suggest PREFIX``): the topics, providers and titles a prefix may become.

Design:

* Topics and providers: the values of the exact fields that start with the
  prefix, ignoring case, accents and repeated spaces, each with the number of
  live documents that have it.  Their lexicons are small (Reuters: 120
  topics, 1 provider) and are read whole.
* Titles: live ``kind: article`` documents whose title has every word typed
  so far (as a search would match it: stemmed, so "oil price" finds "Oil
  prices") and a word starting with the last, partial word ("oil pri" ->
  "Oil prices rise as ...").  A prefix ending in a space or punctuation has
  no partial word.  The partial word is expanded through the title field's
  lexicon of stems: the MAX_EXPANSION stems starting with it that most
  titles have, plus the stems it may already have gone past ("governme" ->
  "govern", "prices" -> "price").  Each title is checked against its stored
  text before it is shown, so a stem never brings a title without the typed
  letters, and a related stub or a deleted document never shows.
* Order: topics and providers first, most documents first (then topic
  before provider, then by name); then titles: those beginning with the
  typed words first, then by the completion most titles have (for "oil
  pri", "prices" before "private"), the newest first within it.  Values take
  at most half the places when there are titles to fill the rest.  Titles
  identical ignoring case are shown once, with the number of copies as the
  count and the id of the copy placed first (the newest).
* Bounded: a prefix longer than MAX_PREFIX characters suggests nothing, at
  most MAX_SUGGESTIONS are returned, at most about MAX_CANDIDATES titles are
  ranked (a column read each) and MAX_READ read (stored fields).  The
  beginning-with preference is exact among the titles read, which are the
  newest of the commonest completions: a title beginning with the typed
  words but older than MAX_READ others may be missed.

Cost measured on Reuters (20,841 records in two segments, read without mmap
as search.storage.store opens them), median of 15 calls (best in brackets) on a
shared 2-core machine at a load of about 4: "clim" and "Reu" 2 ms (2),
"oil pri" 10 ms (6), "u.s. tra" 19 ms (10), a one-letter prefix ("c", "s",
"t") 21-25 ms (17-19).  Most of it is Whoosh reading: the title stems
starting with the prefix with their counts (1,333 for "c"), the
candidates' "newest" column, and up to MAX_READ stored titles.
"""

from __future__ import annotations

import heapq
import logging
import re
from itertools import islice
from typing import Any

from whoosh import query

from search.bounds import MAX_SUGGESTIONS
from search.results import Suggestion
from search.storage.schema import WORDS_RE, analyse_text, analyse_word, fold, has_cjk, split_cjk
from search.planning.syntax import clean_user_text

log = logging.getLogger(__name__)

#: A longer prefix is no prefix of a title a person would pick from a list.
MAX_PREFIX = 200
#: Stems a partial word expands to (the ones most titles have), out of at
#: most MAX_SCANNED read from each segment's lexicon (Reuters: 1,333 for "c").
MAX_EXPANSION = 64
MAX_SCANNED = 5_000
#: Candidate titles ranked (a column read each, about 3 us), and read (a
#: stored-fields read each, about 30 us) to fill the list.
MAX_CANDIDATES = 2_000
MAX_READ = 100
#: A partial word is checked against the stems it may have gone past: its
#: starts of at least MIN_STEM letters, at most MAX_SUFFIX letters shorter.
MIN_STEM = 3
MAX_SUFFIX = 10

_SPACES = re.compile(r"\s+")


def complete(searcher: Any, prefix: str, limit: int = 10) -> tuple[Suggestion, ...]:
    """Up to `limit` (at most MAX_SUGGESTIONS) completions of `prefix`, in the
    order the module docstring gives; () for a blank prefix."""
    limit = min(limit, MAX_SUGGESTIONS)
    text = clean_user_text(prefix).lstrip()
    if limit < 1 or not text.strip() or len(text) > MAX_PREFIX or not searcher.doc_count_all():
        return ()
    values = _values(searcher, _fold(text))
    titles = _titles(searcher, text, limit)
    share = min(len(values), max(limit - len(titles), -(-limit // 2)))
    return tuple(values[:share] + titles[: limit - share])


def _fold(text: str) -> str:
    """Lower case, accents off, runs of spaces as one (a trailing one kept)."""
    return _SPACES.sub(" ", fold(text.casefold()))


# -- topics and providers ------------------------------------------------------


def _values(searcher: Any, folded: str) -> list[Suggestion]:
    reader = searcher.reader()
    found = []
    for field in ("topic", "provider"):
        for raw in reader.lexicon(field):
            value = raw.decode("utf-8")
            if _fold(value).startswith(folded):
                count = _live_count(searcher, field, value)
                if count:
                    found.append(Suggestion(text=value, kind=field, count=count))
    found.sort(key=lambda s: (-s.count, s.kind != "topic", s.text.casefold(), s.text))
    return found


def _live_count(searcher: Any, field: str, value: str) -> int:
    reader = searcher.reader()
    if not reader.has_deletions():
        return int(reader.doc_frequency(field, value))
    # doc_frequency() counts deleted documents until a merge.
    return sum(1 for _ in searcher.docs_for_query(query.Term(field, value)))


# -- titles ------------------------------------------------------------------------


def _titles(searcher: Any, text: str, limit: int) -> list[Suggestion]:
    reader = searcher.reader()
    tokens = list(WORDS_RE.finditer(text))
    partial = tokens.pop().group() if tokens and tokens[-1].end() == len(text) else None
    typed = [_fold(word) for token in tokens for word in split_cjk(token.group())]
    required = {term for term, _ in analyse_text(text[: tokens[-1].end()] if tokens else "")}
    expansions: list[str] = []
    if partial is not None:
        if has_cjk(partial) and len(partial) > 1:
            # Written without spaces: its bigrams must all be there, in the title's text.
            required.update(term for term, _ in analyse_text(partial))
        else:
            expansions = _expand(reader, _fold(partial), partial)
            if not expansions:
                return []
    if not required and not expansions:
        return []
    candidates = _candidates(reader, required, expansions)
    newest = reader.column_reader("newest")
    order = heapq.nsmallest(MAX_READ, candidates, key=lambda doc: (candidates[doc], -newest[doc], doc))
    partial_folded = None if partial is None else _fold(partial)
    # Every candidate read is kept, so that a title beginning with the typed
    # words comes first even if newer ones without that were read before it.
    picked: dict[str, list[Any]] = {}  # folded title -> [not starts, place, title, id, copies]
    leading = 0
    for place, docnum in enumerate(order):
        if reader.is_deleted(docnum):
            continue
        fields = reader.stored_fields(docnum)
        title = fields.get("title") or ""
        if fields.get("kind") != "article" or not title:
            continue
        words = [_fold(word) for token in WORDS_RE.finditer(title) for word in split_cjk(token.group())]
        if partial_folded is not None and not _has_partial(title, words, partial_folded):
            continue
        key = _fold(title).strip()
        if key in picked:
            picked[key][4] += 1
            continue
        starts = _starts_with(words, typed, partial_folded)
        picked[key] = [not starts, place, title, fields.get("id"), 1]
        leading += starts
        if leading >= limit:
            break
    best = sorted(picked.values())[:limit]
    return [Suggestion(text=title, kind="title", count=copies, id=ident) for _, _, title, ident, copies in best]


def _candidates(reader: Any, required: set[str], expansions: list[str]) -> dict[int, int]:
    """Documents whose title has every required stem and one of the
    expansions: docnum -> the place of its first expansion (0 without any).

    At most about MAX_CANDIDATES: the expansions are taken most frequent
    first until that many documents are found, so that a one-letter prefix
    costs what a longer one does."""
    docs: set[int] | None = None
    for term in sorted(required, key=lambda term: reader.doc_frequency("title", term)):
        if ("title", term) not in reader:
            return {}
        found = set(reader.postings("title", term).all_ids())
        docs = found if docs is None else docs & found
        if not docs:
            return {}
    if not expansions:
        # The documents indexed last, usually the newest files, when there are too many.
        return dict.fromkeys(heapq.nlargest(MAX_CANDIDATES, docs or ()), 0)
    ranked: dict[int, int] = {}
    for place, term in enumerate(expansions):
        for docnum in reader.postings("title", term).all_ids():
            if docs is None or docnum in docs:
                ranked.setdefault(docnum, place)
        if len(ranked) >= MAX_CANDIDATES:
            break
    return ranked


def _expand(reader: Any, folded: str, partial: str) -> list[str]:
    """Title stems the partial word may be the start of, those most titles
    have first (at most MAX_EXPANSION, and the stems it may have gone past)."""
    counts: dict[str, int] = {}
    # Each segment's own terms with their document counts: a composite
    # reader's iter_prefix() merges term infos and is ten times slower.
    # On a lexicon much larger than Reuters', a one-letter prefix stops after
    # MAX_SCANNED stems of each segment (alphabetically first).
    for leaf, _base in reader.leaf_readers():
        for raw, info in islice(leaf.iter_prefix("title", folded), MAX_SCANNED):
            term = raw.decode("utf-8")
            counts[term] = counts.get(term, 0) + info.doc_frequency()
    best = heapq.nlargest(MAX_EXPANSION, counts, key=lambda term: (counts[term], term))
    # Stems shorter than the word typed so far ("prices" -> "price"); Porter
    # takes at most about ten letters off ("generalizations" -> "gener").
    gone_past = {folded[:end] for end in range(max(MIN_STEM, len(folded) - MAX_SUFFIX), len(folded))}
    stem = analyse_word(partial)
    if stem is not None:
        gone_past.add(stem)
    for term in gone_past - set(best):
        if ("title", term) in reader:
            counts[term] = reader.doc_frequency("title", term)
            best.append(term)
    return sorted(best, key=lambda term: (-counts[term], term))


def _has_partial(title: str, words: list[str], partial: str) -> bool:
    if has_cjk(partial):
        return partial in _fold(title)
    return any(word.startswith(partial) for word in words)


def _starts_with(words: list[str], typed: list[str], partial: str | None) -> bool:
    """Whether the title begins with the words typed (the partial one as a prefix)."""
    if words[: len(typed)] != typed:
        return False
    if partial is None or has_cjk(partial):
        return True
    return len(words) > len(typed) and words[len(typed)].startswith(partial)
