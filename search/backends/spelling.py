"""Did-you-mean: a query with its misspelled words replaced by words the index holds.

Design:

* The vocabulary is the index's own: the ``text`` field's lexicon.  It holds
  Porter stems ("govern", "climat"), which a person must never be shown, so
  a chosen stem is turned back into a surface word by reading a few live
  documents that contain it (their stored title, excerpt, topics, provider
  and, if need be, body) and taking the form of it that is closest to what
  was typed, the most frequent one on a tie ("government" for "goverment",
  "governments" for "goverments").  No extra index field is needed.
* A word is corrected when its term is missing from the index.  A word the
  index has is corrected only if it looks like one of the corpus's own
  typos: longer than SHORT letters, one edit from a word RARE_RATIO times
  more frequent (Reuters has "goverment" in 9 documents, "government" in
  2,262).  Measured on 400 real words from BBC news that are rare in
  Reuters, that rule "corrects" 3 (0.75%); a bare ratio of 50 corrected 57,
  mostly short words ("band" -> "bank") or two edits away ("shadow" ->
  "show").  The cost: "seperate" (8 documents, "separate" 287) stays.
* Candidates, within one edit of the typed word (words of up to SHORT
  letters) or two (longer words): the stems of every string one edit from
  the typed word ("gvernment" -> "government" -> "govern"), and the stems
  within the edit limit of the typed word's own stem that share its first
  two letters.  A typo of two edits, one of them in the first two letters,
  is not found.  Each is scored as a noisy channel would: EDIT_COST per
  edit, FIRST_LETTER_COST more when the first letter differs, less the log
  of its document frequency; the best few are scored again with the real
  distance of their surface form, so that "climte" becomes "climate" (one
  edit) and not the more frequent "climb" (two).
* Only positive words are corrected, inside quoted phrases too; negations,
  operators, digits, CJK text and words shorter than MIN_LENGTH are left as
  typed, and the rest of the text is kept as it was.
* The work is bounded: at most MAX_CHECKED words are checked (one term
  lookup each, about 20 us; a common word needs nothing else) and at most
  MAX_CORRECTED are looked up, so a query of 1,000 words costs what one of
  a few words does.  Whoosh's own terms_within() was measured and not used:
  on a multi-segment index it computes an edit distance for every term with
  the same first letter (15-40 ms a word at distance 1, 100-190 ms at 2),
  and its per-segment automaton is slower still.

Cost measured on Reuters (20,841 records in two segments, 44,699 stems,
read without mmap as search.storage.store opens them), median of 15 calls (best in
brackets) on a shared 2-core machine at a load of about 4: a query of words
the index has, under 0.1 ms a word; one misspelled word, 4-21 ms
("technolgy" 4 (4), "goverment spending" 12 (6), "climte" 14 (10), "japan
tarde surplus" 21 (14)); three, the most looked up, 28 ms (19); a query of
1,000 words, 0.3 ms ("word0" to "word999": not words) to 11 ms
("goverment" and 999 times "oil").
"""

from __future__ import annotations

import logging
import math
import string
from collections import Counter
from collections.abc import Iterator
from typing import Any

from search.storage.schema import TEXT_FIELD, WORDS_RE, analyse_word, fold, has_cjk
from search.storage.stored import Records
from search.planning.syntax import MAX_TERMS, clean_user_text, user_tokens

log = logging.getLogger(__name__)

#: Words checked against the lexicon; the search itself reads no more terms.
MAX_CHECKED = MAX_TERMS
#: Unknown words looked up for a correction (the costly part), in query order.
MAX_CORRECTED = 3
#: Shorter words have too many neighbours to guess from; longer ones are not words.
MIN_LENGTH = 3
MAX_LENGTH = 40
#: Words of up to this many letters may be one edit away, longer words two.
SHORT = 5
#: A word the index has is replaced only by one this many times more frequent.
RARE_RATIO = 50
#: A correction's cost: each edit counts as a word a hundred times rarer, a
#: changed first letter (a rarer typo) as ten times rarer still.
EDIT_COST = math.log(100)
FIRST_LETTER_COST = math.log(10)
#: Candidate stems whose surface forms are read, and documents read for each.
CANDIDATES = 5
SAMPLE_DOCS = 8

_ALPHABET = string.ascii_lowercase


def correct(searcher: Any, text: str) -> str | None:
    """`text` (safe-mode query syntax) with misspelled words replaced, or
    None when no word has a better spelling in the index."""
    text = clean_user_text(text)
    reader = searcher.reader()
    ceiling = reader.doc_count_all()
    decided: dict[str, str | None] = {}
    parts: list[str] = []
    cursor = checked = looked_up = 0
    for start, end in positive_words(text):
        word = text[start:end]
        if word not in decided:
            if checked >= MAX_CHECKED:
                break
            checked += 1
            decided[word] = None
            term = analyse_word(word) if _correctable(word) else None
            if term is None:
                continue
            frequency = reader.doc_frequency(TEXT_FIELD, term)
            if frequency * RARE_RATIO > ceiling:
                continue  # no term could be RARE_RATIO times more frequent
            if looked_up >= MAX_CORRECTED:
                log.debug("not correcting %r: only the first %d unknown words are", word, MAX_CORRECTED)
                continue
            looked_up += 1
            decided[word] = _suggest(reader, word, term, frequency)
        replacement = decided[word]
        if replacement is not None:
            parts += [text[cursor:start], replacement]
            cursor = end
    if not parts:
        return None
    return "".join(parts) + text[cursor:]


def positive_words(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each word of `text` that a safe-mode search requires or
    allows, as query.read_user_text reads it: not in a negated clause, not an
    operator.  `text` is already normalised as read_user_text normalises it."""
    for token in user_tokens(text):
        if token.operator is not None or token.negated:
            continue
        span = "word" if token.match.group("word") is not None else "phrase"
        start, end = token.match.span(span)
        for found in WORDS_RE.finditer(text, start, end):
            yield found.span()


def _correctable(word: str) -> bool:
    return MIN_LENGTH <= len(word) <= MAX_LENGTH and word.isalpha() and not has_cjk(word)


def _suggest(reader: Any, word: str, term: str, frequency: int) -> str | None:
    """The best surface word for `word` (whose term is `term`), or None."""
    folded = fold(word)
    limit = 1 if len(folded) <= SHORT else 2
    if frequency:
        # A word the index has is a real word more often than a typo: on
        # Reuters, such words (from BBC news) were "corrected" 14% of the
        # time by these rules alone, most of them short ("band" -> "bank")
        # or two edits away ("shadow" -> "show"); the typos it has ("technolgy",
        # "goverment", "comapny") are long and one edit away.
        if len(folded) <= SHORT:
            return None
        limit = 1
    floor = max(1, frequency * RARE_RATIO)
    guesses = []
    for candidate, distance in _candidates(reader, folded, term, limit).items():
        count = reader.doc_frequency(TEXT_FIELD, candidate)
        if count >= floor:
            guesses.append((_cost(distance, candidate[:1] != folded[:1], count), candidate, count))
    guesses.sort()
    best: tuple[float, str] | None = None
    for _guess, candidate, count in guesses[:CANDIDATES]:
        form = _surface_form(reader, candidate, folded)
        if form is None:
            continue
        distance = _distance(folded, fold(form), limit)
        if distance > limit or fold(form) == folded:
            continue
        cost = _cost(distance, form[:1] != folded[:1], count)
        if best is None or (cost, form) < best:
            best = (cost, form)
    return None if best is None else _match_case(best[1], word)


def _cost(distance: int, first_letter: bool, count: int) -> float:
    """How unlikely a correction is: its edits (EDIT_COST each, a changed first
    letter FIRST_LETTER_COST more), less the log of how common the word is."""
    return distance * EDIT_COST + first_letter * FIRST_LETTER_COST - math.log(count)


def _match_case(form: str, typed: str) -> str:
    if len(typed) > 1 and typed.isupper():
        return form.upper()
    if typed[:1].isupper():
        return form[:1].upper() + form[1:]
    return form


def _candidates(reader: Any, folded: str, stem: str, limit: int) -> dict[str, int]:
    """Terms of the text field near the typed word, with an estimate of the
    distance between the typed word and their surface forms."""
    found: dict[str, int] = {}
    # The stems sharing the typed stem's first two letters: a few hundred on
    # Reuters (909 for "co", the most), read in sequence (about 4 us each,
    # against about 50 us for one lookup: the index is read without mmap).
    head = stem[:2]
    nearby = set()
    for raw in reader.expand_prefix(TEXT_FIELD, head):
        term = raw.decode("utf-8")
        nearby.add(term)
        distance = _distance(term, stem, limit)
        if 0 < distance <= limit:
            found[term] = distance
    # The stems of the words one edit from the typed word ("gvernment" ->
    # "government" -> "govern"); those outside the range just read, from an
    # edit in the first two letters, are looked up (about 110 lookups).
    tried = {stem}
    for variant in _edits(folded):
        term = analyse_word(variant)
        if term is None or term in tried:
            continue
        tried.add(term)
        if term in nearby if term.startswith(head) else (TEXT_FIELD, term) in reader:
            found[term] = 1
    return found


def _edits(word: str) -> set[str]:
    """Every string one edit (delete, swap, replace, insert) from `word`."""
    letters = set(_ALPHABET) | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    edits = {head + tail[1:] for head, tail in splits if tail}
    edits.update(head + tail[1] + tail[0] + tail[2:] for head, tail in splits if len(tail) > 1)
    edits.update(head + c + tail[1:] for head, tail in splits if tail for c in letters)
    edits.update(head + c + tail for head, tail in splits for c in letters)
    edits.discard(word)
    return edits


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance (optimal string alignment) of `a` and `b`,
    or limit + 1 when it is greater than `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    # A shared prefix or suffix never takes part in an optimal alignment.
    shortest = min(len(a), len(b))
    head = 0
    while head < shortest and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < shortest - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    a, b = a[head : len(a) - tail], b[head : len(b) - tail]
    if not a or not b:
        return max(len(a), len(b)) if max(len(a), len(b)) <= limit else limit + 1
    # One edit changes the set of letters by at most two.
    if len(set(a).symmetric_difference(b)) > 2 * limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = previous[j - 1] + (a[i - 1] != b[j - 1])
            cost = min(cost, previous[j] + 1, current[j - 1] + 1)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cost = min(cost, before[j - 2] + 1)
            current[j] = cost
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1] if previous[-1] <= limit else limit + 1


def _surface_form(reader: Any, stem: str, typed: str) -> str | None:
    """The lower-cased word, in live documents holding `stem`, that analyses to
    it: the one nearest `typed`, then the most frequent; None if none is found.

    Titles, excerpts, topics and providers are read first; bodies (a
    decompression and a few thousand words each) only if those lack a form
    within one edit of `typed` ("goverments" -> "governments", not "government")."""
    forms: Counter[str] = Counter()
    records = []
    for docnum in _sample_docs(reader, stem):
        fields = reader.stored_fields(docnum)
        meta = fields.get("meta") or {}
        provider = meta.get("provider") or {}
        short = [fields.get("title"), fields.get("excerpt"), " ".join(meta.get("topics") or ())]
        short += [provider.get("name"), provider.get("domain")]
        _collect_forms(" ".join(part for part in short if part), stem, forms)
        records.append((docnum, fields))
    nearest = _nearest(forms, typed)
    if nearest is None or nearest[0] > 1:
        column = Records(reader)
        for docnum, fields in records:
            _collect_forms(column.get(docnum, fields).get("body") or "", stem, forms)
        nearest = _nearest(forms, typed)
    return None if nearest is None else nearest[1]


def _nearest(forms: Counter[str], typed: str) -> tuple[int, str] | None:
    """(distance, form) of the form nearest `typed`, the most frequent on a tie."""
    ranked = [(_distance(typed, fold(form), len(form) + len(typed)), -count, form) for form, count in forms.items()]
    if not ranked:
        return None
    distance, _count, form = min(ranked)
    return distance, form


def _collect_forms(text: str, stem: str, forms: Counter[str]) -> None:
    # Stemming only strips suffixes: a word whose first letters differ from
    # the stem's cannot analyse to it, and is skipped without analysis.
    head = stem[:2]
    for match in WORDS_RE.finditer(text):
        word = match.group()
        if fold(word[:4]).startswith(head) and analyse_word(word) == stem:
            forms[word.lower()] += 1


def _sample_docs(reader: Any, stem: str) -> list[int]:
    """Up to SAMPLE_DOCS live documents with `stem`, those with it in the title first."""
    docs: list[int] = []
    for field in ("title", TEXT_FIELD):
        if (field, stem) not in reader:
            continue
        for docnum in reader.postings(field, stem).all_ids():
            if len(docs) >= SAMPLE_DOCS:
                return docs
            if docnum not in docs and not reader.is_deleted(docnum):
                docs.append(docnum)
    return docs
