"""The Whoosh schema, its analyzers, and how an Article becomes index documents.

Design:

* One article file gives one ``kind="article"`` document plus one
  ``kind="related"`` document per stub in its ``related`` list.  All of them
  carry the file's absolute ``path``, so deleting by path removes a record
  and its stubs together: stubs live and die with the file that carries them.
* Full text goes into one field, ``text``, whose parts (title, topics,
  excerpt, body, provider) are weighted before BM25 saturates them (see
  search.planning.ranking); ``title`` is also indexed alone for raw ``title:``
  queries.  One analyzer: Unicode word tokens (CJK as bigrams), lower case,
  accent folding, news forms (see below), English stop words removed,
  Porter stemming.
* News forms, at index and query time alike (news_form): letters joined by
  dots or an ampersand are one word without them (``U.S.``, ``u.s`` ->
  ``us``; ``S&P`` -> ``sp``), while other dotted words are split (a ticker
  ``<ALWS.O>`` is ``alws`` and ``o``; a decimal number stays whole); British
  spellings are read as American ones (``colour`` -> ``color``,
  ``recognise`` -> ``recognize``, ``programme`` -> ``program``: a listed
  mapping, never a rule applied to unlisted words); and the wire's
  abbreviations and ordinals mean their words (``mln`` -> ``million``,
  ``dlrs`` -> ``dollars``, ``qtr`` -> ``quarter``, ``4th`` -> ``fourth``).
  ``us`` is not a stop word, so that it finds the U.S.  At index time
  only, a dotted word is also indexed as its parts at its position
  (IndexPartsFilter: ``U.S.`` as ``us``, ``u``, ``s``; ``401.21`` as itself,
  ``401``, ``21``), so a headline typed without its punctuation finds it.
* Filter and facet values are exact and keep their case (``topic``,
  ``provider``, ``domain``, ``year``); filters match them case-insensitively
  through the (small) lexicon instead of storing a second, folded copy.
* The bookkeeping the incremental reindex needs (path, size, mtime, content
  hash) lives in a column of the index itself, so the index and its
  bookkeeping can never disagree.
* Duplicate keys (column ``dupkeys``): 8 bytes of hash for the webUrl and 8
  for the normalised title with its provider; documents sharing the URL key,
  or the title key and published within search.backends.collapse.COPY_WINDOW of each
  other, are copies of one story, which a search shows once (search.backends.collapse).
* ``secured`` never reaches this module: the record reader drops it.

Bump SCHEMA_VERSION on any change to fields, analyzers or what is stored on
disk (the index layout); an index of another version is refused with a
message that names it and says to rebuild it (``search index --full``).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from whoosh import analysis, columns, fields
from whoosh.analysis.filters import STOP_WORDS
from whoosh.lang import stemmer_for_language
from whoosh.support.charset import accent_map

from search.storage.newsforms import news_form
from search.storage import blocks as blocks  # registers the posting blocks' loaders (see its docstring)
from search.storage.positions import CompactPositions, PackedPositions, encode_positions_bytes
from search.storage.segments import segment_readers
from search.storage.stored import pack_record
from search.storage.stored import doc_id as doc_id  # re-exported: the id is the schema's
from search.articles import Article, Provider, Stub, utc_seconds, utf8

#: 7: the stored record is JSON text, compressed once with the other stored fields.
#: 8: the full-text fields' positions in the compact format (search.storage.positions).
#: 9: that format's loader named by an extension code; the path stored, not indexed;
#:    dates in steps of 16 bits.
#: 10: stored fields pickled as their values alone (search.storage.stored), the
#:    bookkeeping column's numbers and hash in binary, posting lists of up to 7
#:    inline, side-car escapes in 16 bits where they fit (side-car format 4).
#: 11: posting blocks' ids, weights and positions each pickled as one number
#:    (search.storage.blocks).
#: 12: no article_url field: an article's webUrl is found by its url term.
#: 13: the record is a column of its own, not a stored field (search.storage.stored).
SCHEMA_VERSION = 13

#: The full-text field queries score on, and the weight of each part of a
#: record in it: a title word counts twice (see search.planning.ranking).
TEXT_FIELD = "text"
PART_WEIGHTS: dict[str, float] = {"title": 2.0, "topics": 1.0, "excerpt": 1.0, "body": 1.0, "provider": 1.0}
#: Positions between two parts, so that a phrase never spans them.
PART_GAP = 100

Parts = list[tuple[str, float]]

#: Sort columns hold these for a missing date/quality so that they sort last.
MISSING_LOW = -(2**62)
MISSING_HIGH = 2**62

#: Separates the values of a multi-valued exact field (topics, providers).
VALUE_SEP = "\x1f"

#: A word: letters joined by dots or "&" (an abbreviation: U.S, S&P), a
#: number with decimals (1.5), or word characters joined by apostrophes.
_WORDS = r"(?:[^\W\d_][.&])+[^\W\d_](?!\w)|\d+(?:\.\d+)+(?!\w)|\w+(?:['’]\w+)*"
#: English stop words: Whoosh's list without "us", which in news is mostly the U.S.
STOPS = frozenset(STOP_WORDS - {"us"})


# Han, kana, Hangul: scripts written without spaces between words.
_CJK = re.compile(r"[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


def split_cjk_spans(word: str) -> list[tuple[int, int]]:
    """(offset, length) of a token's parts: CJK runs as Lucene's CJK analyzer
    splits them, overlapping character bigrams (a lone character stays
    whole); other runs kept whole."""
    if not _CJK.search(word):
        return [(0, len(word))]
    spans: list[tuple[int, int]] = []
    end = 0
    for run in _CJK.finditer(word):
        if run.start() > end:
            spans.append((end, run.start() - end))
        if run.end() - run.start() == 1:
            spans.append((run.start(), 1))
        else:
            spans.extend((i, 2) for i in range(run.start(), run.end() - 1))
        end = run.end()
    if end < len(word):
        spans.append((end, len(word) - end))
    return spans


def split_cjk(word: str) -> list[str]:
    return [word[offset : offset + length] for offset, length in split_cjk_spans(word)]


class CJKBigramFilter(analysis.Filter):  # type: ignore[misc]
    """split_cjk() as a Whoosh filter; positions are renumbered to stay consecutive."""

    def __call__(self, tokens: Iterator[Any]) -> Iterator[Any]:
        pos = 0
        for token in tokens:
            text = token.text
            start = token.startchar if token.chars else 0
            for offset, length in split_cjk_spans(text):
                token.text = text[offset : offset + length]
                if token.positions:
                    token.pos = pos
                if token.chars:
                    token.startchar = start + offset
                    token.endchar = start + offset + length
                pos += 1
                yield token


class NewsFormFilter(analysis.Filter):  # type: ignore[misc]
    """news_form() as a Whoosh filter (the word as it was is kept for IndexPartsFilter)."""

    def __call__(self, tokens: Iterator[Any]) -> Iterator[Any]:
        for token in tokens:
            token.typed = token.text
            token.text = news_form(token.text)
            yield token


#: Where an abbreviation, a decimal number or a word with an apostrophe splits into its parts.
_PARTS = re.compile(r"[.&'’]")


class IndexPartsFilter(analysis.Filter):  # type: ignore[misc]
    """At index time only, a dotted word's parts too, at its position:
    ``U.S.`` is indexed as ``us`` and as ``u``, ``s``; ``401.21`` as
    itself and ``401``, ``21``; so the headline typed without its punctuation
    (``u s credit markets``) finds it as well as ``us`` and ``u.s.`` do.
    The same for a word with an apostrophe: ``O'Neill`` is also ``o`` and
    ``neill``, ``won't`` ``won`` and ``t``, ``Parliament's`` (``parliament``)
    also ``s``; a part the word itself is indexed as is not repeated."""

    def __init__(self) -> None:
        self.stem = stemmer_for_language("en")

    def __call__(self, tokens: Iterator[Any]) -> Iterator[Any]:
        for token in tokens:
            typed = getattr(token, "typed", "")
            yield token
            if token.mode != "index" or not _PARTS.search(typed):
                continue
            whole = token.text
            for part in index_parts(typed):
                token.text = self.stem(part)
                if token.text != whole:
                    yield token


def index_parts(word: str) -> list[str]:
    """The parts a dotted word is also indexed as (folded, news forms, no stop words)."""
    return [form for part in _PARTS.split(word) if (form := news_form(part)) and form not in STOPS]


def text_analyzer() -> analysis.Analyzer:
    """Words (CJK as bigrams), lower case, accents folded, news forms, English stop words out, stemmed."""
    return (
        analysis.RegexTokenizer(_WORDS)
        | CJKBigramFilter()
        | analysis.LowercaseFilter()
        | analysis.CharsetFilter(accent_map)
        | NewsFormFilter()
        | analysis.StopFilter(stoplist=STOPS, minsize=1)
        | analysis.StemFilter(lang="en", cachesize=200_000)
        | IndexPartsFilter()
    )


#: Entries each analysis cache holds before it is emptied (some 100 bytes each).
CACHE_LIMIT = 500_000


class _FastAnalysis:
    """text_analyzer() for indexing, as one loop instead of a generator chain.

    It yields the same terms at the same positions (a property test holds
    the two together); the query side and the highlighter keep using the
    Whoosh analyzer.  Whoosh's chain costs about 5 us a token, this loop
    under 1 us; stems and the encodings of one-position postings (most
    postings) are memoised.
    """

    def __init__(self) -> None:
        self.findall = re.compile(_WORDS, re.UNICODE).findall
        self.fold = accent_map
        self.stops = STOPS
        self.stem = stemmer_for_language("en")
        self.stems: dict[str, str] = {}
        self.single: dict[int, bytes] = {}
        # A token as found in the text -> the terms it is indexed as.  Tokens
        # repeat (Reuters and 3,000 BBC records: 4.7 million tokens, 90,000
        # distinct), so the fold, news form, stop-word check and stems of each
        # are worked out once; the parts of dotted words used to be stemmed
        # again at every occurrence (30,000 of the 51,000 stemmer calls of
        # 3,000 Reuters records).  Analysing those texts: 13.8 s, now 5.8 s.
        self.tokens: dict[str, tuple[str, ...]] = {}

    def _stemmed(self, word: str) -> str:
        stem = self.stems.get(word)
        if stem is None:
            if len(self.stems) > CACHE_LIMIT:
                self.stems.clear()
            stem = self.stems[word] = self.stem(word)
        return stem

    def term(self, word: str) -> str | None:
        """One token's term, or None for a stop word (CJK already split)."""
        folded = news_form(word.lower().translate(self.fold))
        if not folded or folded in self.stops:
            return None
        return self._stemmed(folded)

    def token_terms(self, token: str) -> tuple[str, ...]:
        """The terms one token (CJK already split) is indexed as, at its
        position: its stem, then the stems of its parts that differ from it
        (IndexPartsFilter); none for a stop word."""
        found = self.tokens.get(token)
        if found is None:
            typed = token.lower().translate(self.fold)
            word = news_form(typed)
            if not word or word in self.stops:
                found = ()
            else:
                stem = self._stemmed(word)
                found = (stem,)
                if "." in typed or "&" in typed or "'" in typed or "’" in typed:
                    found += tuple(p for part in index_parts(typed) if (p := self._stemmed(part)) != stem)
            if len(self.tokens) > CACHE_LIMIT:
                self.tokens.clear()
            self.tokens[token] = found
        return found

    def words(self, text: str) -> Iterator[tuple[str, int]]:
        """(folded word, position) pairs, unstemmed and with stop words kept."""
        words = self.findall(text)
        if has_cjk(text):
            words = [part for word in words for part in split_cjk(word)]
        for index, word in enumerate(words):
            folded = word.lower().translate(self.fold)
            if folded:
                yield folded, index

    def terms(self, text: str) -> Iterator[tuple[str, int]]:
        """(term, position) pairs, as the Whoosh analyzer gives them at index time."""
        tokens, token_terms = self.tokens, self.token_terms
        pos = -1
        words = self.findall(text)
        if has_cjk(text):
            words = [part for word in words for part in split_cjk(word)]
        for index, token in enumerate(words):
            found = tokens.get(token)
            if found is None:
                found = token_terms(token)
            if not found:
                continue
            pos = index if pos < 0 else pos + 1
            for term in found:
                yield term, pos

    def postings(self, value: str | Parts) -> Iterator[tuple[bytes, int, float, bytes]]:
        """What fields.TEXT.index() returns: (term, freq, weight, encoded positions).

        `value` is a text, or weighted parts: a term's weight is the sum of
        its occurrences times their part's weight (BM25F's weighted term
        frequency), and each part starts PART_GAP positions after the last."""
        for term, freq, weight, encoded, _positions in self.positioned_postings(value):
            yield term, freq, weight, PackedPositions(encoded)

    def bytes_postings(self, value: str | Parts) -> Iterator[tuple[bytes, int, float, bytes]]:
        """postings(), the positions as plain bytes (search.storage.positions.encode_positions_bytes)."""
        for term, freq, weight, encoded, _positions in self.positioned_postings(value):
            yield term, freq, weight, encoded

    def positioned_postings(self, value: str | Parts) -> Iterator[tuple[bytes, int, float, bytes, list[int]]]:
        """postings(), the encoded positions as plain bytes, each with its
        positions too (for the side-car arrays)."""
        parts: Parts = [(value, 1.0)] if isinstance(value, str) else value
        positions: dict[str, list[int]] = {}
        weights: dict[str, float] = {}
        get, token_terms, findall = self.tokens.get, self.token_terms, self.findall
        base = 0
        for text, part_weight in parts:
            words = findall(text)
            if has_cjk(text):
                words = [part for word in words for part in split_cjk(word)]
            # Each token's terms looked up in one pass (map, in C: a loop step per token
            # was a third of this method), the few not seen before worked out after.
            found = list(map(get, words))
            if None in found:
                found = [terms if terms is not None else token_terms(word) for word, terms in zip(words, found)]
            # The first kept token is at its index, each later one at the next position:
            # stop words take no position once a word has been kept (as text_analyzer()).
            at = base
            for terms in found:
                if terms:
                    break
                at += 1
            else:
                continue
            for terms in found:
                if not terms:
                    continue
                for term in terms:
                    plist = positions.get(term)
                    if plist is None:
                        positions[term] = [at]
                        weights[term] = part_weight
                    else:
                        plist.append(at)
                        weights[term] += part_weight
                at += 1
            base = at - 1 + PART_GAP
        single = self.single
        for term, plist in positions.items():
            if len(plist) == 1:
                encoded = single.get(plist[0])
                if encoded is None:
                    encoded = single[plist[0]] = _encode_positions(plist)
            else:
                encoded = _encode_positions(plist)
            yield term.encode("utf-8"), len(plist), weights[term], encoded, plist


#: The full-text fields' format's encode, as plain bytes (search.storage.positions).
_encode_positions = encode_positions_bytes


_FAST = _FastAnalysis()
WORDS_RE = re.compile(_WORDS, re.UNICODE)


def known_stems() -> dict[str, str]:
    """The indexing analysis' stem cache (word -> stem), which search.storage.stems
    saves after a build and fills before an incremental run."""
    return _FAST.stems


def analyse_text(text: str) -> list[tuple[str, int]]:
    """The indexed (term, position) pairs of a text."""
    return list(_FAST.terms(text))


def fold(text: str) -> str:
    """Lower case with accents folded, as the analyzer does before stemming."""
    return text.lower().translate(accent_map)


def has_cjk(text: str) -> bool:
    # An ASCII text has no CJK letters, and str.isascii() reads a flag the string
    # keeps: no scan of the text (the scan was some 2% of a sub-writer's CPU).
    return not text.isascii() and _CJK.search(text) is not None


def analyse_word(word: str) -> str | None:
    """The indexed term for one token (CJK already split), None for a stop word."""
    return _FAST.term(word)


def token_term(token: str) -> str | None:
    """analyse_word(token), from the per-token analysis cache indexing fills:
    for the tokens of stored texts (snippets), which repeat from page to page."""
    found = _FAST.tokens.get(token)
    if found is None:
        found = _FAST.token_terms(token)
    return found[0] if found else None


class FastText(fields.TEXT):  # type: ignore[misc]
    """A TEXT field whose indexing takes the _FastAnalysis path, its
    positions in the compact format (search.storage.positions)."""

    def __init__(self, *, field_boost: float = 1.0, **kwargs: Any) -> None:
        super().__init__(field_boost=field_boost, **kwargs)
        self.format = CompactPositions(field_boost=field_boost)

    def index(self, value: str | Parts, **kwargs: Any) -> Iterator[tuple[bytes, int, float, bytes]]:
        return _FAST.postings(value)

    def index_positions(self, value: str | Parts) -> Iterator[tuple[bytes, int, float, bytes, list[int]]]:
        """index(), each posting with its positions (search.storage.postings keeps them for the side-car),
        the encoded positions as plain bytes: for a writer that packs them itself (search.storage.blocks)."""
        return _FAST.positioned_postings(value)

    def index_bytes(self, value: str | Parts) -> Iterator[tuple[bytes, int, float, bytes]]:
        """index(), the encoded positions as plain bytes, as index_positions gives them."""
        return _FAST.bytes_postings(value)


def _values_field() -> fields.KEYWORD:
    field = fields.KEYWORD(scorable=False)
    field.analyzer = analysis.RegexTokenizer(r"[^\x1f]+")
    return field


def build_schema() -> fields.Schema:
    text = text_analyzer()
    return fields.Schema(
        id=fields.ID(stored=True, unique=True),
        kind=fields.ID(stored=True),
        path=fields.STORED(),  # found by its id (record_terms), never by itself
        parent=fields.ID(stored=True),
        text=FastText(analyzer=text),
        title=FastText(analyzer=text, stored=True),
        excerpt=fields.STORED(),
        topic=_values_field(),
        provider=_values_field(),
        domain=_values_field(),
        year=fields.ID(),
        published_flag=fields.BOOLEAN(),
        # Steps of 16 bits: a term per second, per 18 hours, per 136 years...;
        # steps of 8 added a term per 256 s, most of them held by one record.
        date=fields.NUMERIC(int, bits=64, signed=True, shift_step=16),
        url=fields.ID(stored=True),
        dupkeys=fields.COLUMN(columns.FixedBytesColumn(DUP_KEY_BYTES, default=bytes(DUP_KEY_BYTES))),
        # A related stub's webUrl, to find it by; an article's is its `url` term
        # (the articles with a webUrl are its url documents less its stubs).
        stub_url=fields.ID(),
        newest=fields.COLUMN(columns.NumericColumn("q", default=MISSING_LOW)),
        oldest=fields.COLUMN(columns.NumericColumn("q", default=MISSING_HIGH)),
        quality=fields.COLUMN(columns.NumericColumn("q", default=MISSING_LOW)),
        source=fields.COLUMN(columns.VarBytesColumn()),
        meta=fields.STORED(),
        # Not a stored field: a page reads a hit's stored fields, and the record only for some hits.
        record=fields.COLUMN(columns.VarBytesColumn()),
    )


def record_terms(path: str) -> list[tuple[str, str]]:
    """The (field, term) pairs that find the documents of the record file at
    `path`: its article by id, its stubs by their parent.  The path itself
    is stored, not indexed: each record's own term, some 100 bytes of the
    terms table (2 MB of Reuters' index)."""
    ident = doc_id(path)
    return [("id", ident), ("parent", ident)]


def encode_source(path: str, size: int, mtime_ns: int, digest: str, racy: bool = False) -> bytes:
    """The bookkeeping column's value: the path, a NUL (no path holds one),
    then a flag byte, the size (u64) and mtime (i64), and the content hash:
    16 bytes when it is the indexer's 32 hex digits (flag bit 1), else its
    text.  As text, the numbers and the hash took 23 bytes a record more.

    Flag bit 2, `racy`: the file was read within its mtime's timestamp tick,
    so a later edit that kept its size may have kept its mtime too ("racy
    git"); the next run reads it again instead of trusting the stat.  Indexes
    written before the bit have it clear: not racy."""
    head = path.encode("utf-8", "surrogateescape") + b"\x00"
    flag = _RACY if racy else 0
    if _HEX_DIGEST.fullmatch(digest):
        return head + bytes((flag | _HEX,)) + _SIZE_MTIME.pack(size, mtime_ns) + bytes.fromhex(digest)
    return head + bytes((flag,)) + _SIZE_MTIME.pack(size, mtime_ns) + digest.encode("utf-8", "surrogateescape")


def content_digest(data: bytes) -> str:
    """The content hash encode_source keeps: 32 hex digits of a 16-byte BLAKE2b."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def decode_source(value: bytes) -> tuple[str, int, int, str] | None:
    """(path, size, mtime_ns, digest) from encode_source's value; None for none."""
    decoded = _decode_source(value)
    return None if decoded is None else decoded[:4]


def _decode_source(value: bytes) -> tuple[str, int, int, str, bool] | None:
    if not value:
        return None
    end = value.index(b"\x00")
    flag = value[end + 1]
    size, mtime = _SIZE_MTIME.unpack_from(value, end + 2)
    raw = value[end + 2 + _SIZE_MTIME.size :]
    digest = raw.hex() if flag & _HEX else raw.decode("utf-8", "surrogateescape")
    return value[:end].decode("utf-8", "surrogateescape"), size, mtime, digest, bool(flag & _RACY)


#: encode_source's flag bits.
_HEX, _RACY = 1, 2
_SIZE_MTIME = struct.Struct("<Qq")
_HEX_DIGEST = re.compile(r"[0-9a-f]{32}")


def indexed_sources(ix: Any) -> dict[str, tuple[int, int, str, bool]]:
    """path -> (size, mtime_ns, digest, racy) of every live record in the index
    (racy: see encode_source)."""
    found: dict[str, tuple[int, int, str, bool]] = {}
    for path, value in bookkeeping(ix).items():
        decoded = _decode_source(value)
        if decoded is not None:
            found[path] = decoded[1:]
    return found


def bookkeeping(ix: Any) -> dict[str, bytes]:
    """path -> the bookkeeping value (encode_source's bytes) of every live
    record in the index, for compare_stat and decode_source: decoding all of
    them took 30 ms of a reindex run of Reuters with nothing to do (load 14),
    the paths alone 11."""
    found: dict[str, bytes] = {}
    with ix.reader() as reader:
        if reader.doc_count_all() == 0:  # an empty index's reader has no columns at all
            return found
        # One pass over the whole column is about 5x faster than a lookup
        # per document; deleted documents are skipped afterwards.
        deleted = _deleted_documents(reader) if reader.has_deletions() else set()
        for docnum, value in enumerate(_column_values(reader, "source")):
            if value and docnum not in deleted:
                path = value[: value.index(b"\x00")].decode("utf-8", "surrogateescape")
                if not path.isascii():
                    _check_utf8(path, docnum)
                found[path] = value
    return found


def _deleted_documents(reader: Any) -> set[int]:
    """The deleted document numbers of `reader`, from each segment's own set
    of them: Whoosh's all_doc_ids() asks each document of a multi-segment
    reader whether it is deleted, through a search for its segment, which
    took 13 of the 27 ms of reading Reuters' bookkeeping once a run had
    deleted anything (every run after the first that changes a file)."""
    deleted: set[int] = set()
    for leaf, offset in segment_readers(reader):
        if not leaf.has_deletions():
            continue
        segment = leaf.segment() if leaf.is_atomic() else None
        if segment is not None and hasattr(segment, "deleted_docs"):
            deleted.update(offset + docnum for docnum in segment.deleted_docs())
        else:
            deleted.update(offset + docnum for docnum in range(leaf.doc_count_all()) if leaf.is_deleted(docnum))
    return deleted


def stat_key(size: int, mtime_ns: int) -> bytes:
    """A file's size and mtime as its bookkeeping value holds them (compare_stat)."""
    return _SIZE_MTIME.pack(size, mtime_ns)


#: compare_stat's answers: the stat differs; it is as indexed; it is, but the entry is racy.
CHANGED, SAME, SAME_RACY = 0, 1, 2


def compare_stat(value: bytes, stat: bytes) -> int:
    """Whether a file whose stat_key is `stat` has the stat of the bookkeeping `value`."""
    end = value.index(b"\x00")
    if value[end + 2 : end + 2 + _SIZE_MTIME.size] != stat:
        return CHANGED
    return SAME_RACY if value[end + 1] & _RACY else SAME


def _check_utf8(path: str, docnum: int) -> None:
    """records.walk never yields a name that is not UTF-8, so a bookkeeping
    path with a surrogate escape is garbled bytes: damage (a ValueError raised
    in reading code).  Taken as a path, each run "deleted" it in vain and added
    its file again, a duplicate hit."""
    if not utf8(path):
        raise ValueError(f"document {docnum}'s bookkeeping path is not UTF-8: {path!r}")


def _column_values(reader: Any, name: str) -> Iterator[bytes]:
    """Every document's raw value of a bytes column, segment by segment in
    document order: Whoosh's VarBytesColumn reader read in one call a
    segment and sliced (its iterator reads each value with a call of its
    own, a third of a reindex run with nothing to do on Reuters), any other
    reader through its iterator."""
    for leaf, _offset in segment_readers(reader):
        count = leaf.doc_count_all()
        if not leaf.has_column(name):
            yield from (b"" for _ in range(count))
            continue
        column: Any = leaf.column_reader(name, translate=False)
        lengths = getattr(column, "_lengths", None)
        if lengths is None or not hasattr(column, "_dbfile") or len(lengths) != count:
            yield from column
            continue
        blob = bytes(column._dbfile.get(column._basepos, sum(lengths)))
        position = 0
        for length in lengths:
            yield blob[position : position + length]
            position += length


def combined_text(
    title: str,
    topics: tuple[str, ...],
    excerpt: str | None,
    body: str | None,
    provider_name: str | None,
    provider_domain: str | None,
) -> Parts:
    """The weighted parts of the full-text field, in PART_WEIGHTS order."""
    values = {
        "title": title,
        "topics": " ; ".join(topics),
        "excerpt": excerpt or "",
        "body": body or "",
        "provider": " ".join(v for v in (provider_name, provider_domain) if v),
    }
    return [(values[part], weight) for part, weight in PART_WEIGHTS.items() if values[part]]


#: The dupkeys column: an 8-byte URL key, then an 8-byte title key (zeros: none).
DUP_KEY_BYTES = 16


def _dup_hash(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).digest()


def duplicate_keys(
    title: str,
    url: str | None,
    provider: Provider | None,
    published: datetime | None = None,
    *,
    by_day: bool = True,
) -> tuple[bytes | None, bytes | None]:
    """The keys under which two records count as copies of one story: the
    same webUrl (ignoring a trailing slash or #fragment and the host's case),
    or the same title (ignoring case, accents and punctuation) from the same
    provider (by name, else domain) on the same day (UTC; undated records by
    title alone).  The time matters: wires reuse headlines for recurring
    stories ("HOG AND CATTLE SLAUGHTER GUESSTIMATES" on 25 days of Reuters-21578).

    With by_day=False (the embedded index) the title key leaves the day out,
    and search.backends.collapse joins records with that key published within
    COPY_WINDOW of each other instead, so a resend across midnight is a copy
    too; the cluster's rows keep the day in the key."""
    url_key = title_key = None
    if url:
        trimmed = url.strip().split("#", 1)[0].rstrip("/")
        scheme, sep, rest = trimmed.partition("://")
        host, slash, tail = rest.partition("/")
        url_key = _dup_hash(f"{scheme.lower()}{sep}{host.lower()}{slash}{tail}" if sep else trimmed)
    source = provider and (provider.name or provider.domain)
    words = [w for w, _ in _FAST.words(title)] if title else []
    if source and words:
        day = published.astimezone(timezone.utc).strftime("%Y-%m-%d") if published and by_day else ""
        title_key = _dup_hash(f"{source.strip().casefold()}\x1f{day}\x1f{' '.join(words)}")
    return url_key, title_key


def _epoch(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


#: A moment as the index stores it and every door shows it (articles.utc_seconds).
iso_utc = utc_seconds


def _common(
    *,
    title: str,
    excerpt: str | None,
    body: str | None,
    topics: tuple[str, ...],
    published: datetime | None,
    url: str | None,
    provider: Provider | None,
    quality: int | None,
    heat: int | None,
    is_published: bool | None,
) -> dict[str, Any]:
    """The fields an article and a related stub share."""
    pname = provider.name if provider else None
    pdomain = provider.domain if provider else None
    epoch = _epoch(published)
    doc: dict[str, Any] = {
        "title": title,
        "text": combined_text(title, topics, excerpt, body, pname, pdomain),
        "newest": MISSING_LOW if epoch is None else epoch,
        "oldest": MISSING_HIGH if epoch is None else epoch,
        "quality": MISSING_LOW if quality is None else quality,
        "meta": {
            "provider": {"name": pname, "domain": pdomain} if (pname or pdomain) else None,
            "topics": list(topics),
            "published": iso_utc(published),
            "quality": quality,
            "heat": heat,
            "is_published": is_published,
        },
    }
    if excerpt:
        doc["excerpt"] = excerpt
    if epoch is not None and published is not None:
        doc["date"] = epoch
        doc["year"] = str(published.year)
    if url:
        doc["url"] = url
    url_key, title_key = duplicate_keys(title, url, provider, published, by_day=False)
    if url_key or title_key:
        doc["dupkeys"] = (url_key or bytes(8)) + (title_key or bytes(8))
    if pname or pdomain:
        # The providers facet counts names; a provider known only by its domain counts under it.
        doc["provider"] = pname or pdomain
    if pdomain:
        doc["domain"] = pdomain
    return doc


def indexed_values(item: Article | Stub) -> dict[str, Any]:
    """What an article or a related stub is indexed by, as keywords of the
    backends' row builders (this module's documents, the cluster's rows):
    one list, so that both index the same values."""
    if isinstance(item, Stub):
        return {
            "title": item.title,
            "excerpt": item.excerpt,
            "body": None,
            "topics": (),
            "published": item.published,
            "url": item.url,
            "provider": item.provider,
            "quality": item.quality,
            "heat": None,
            "is_published": None,
        }
    return {
        "title": item.title,
        "excerpt": item.excerpt,
        "body": item.body,
        "topics": item.topics,
        "published": item.published,
        "url": item.url,
        "provider": item.provider,
        "quality": item.quality,
        "heat": item.heat,
        "is_published": item.is_published,
    }


def article_documents(
    article: Article, size: int, mtime_ns: int, digest: str, racy: bool = False
) -> Iterator[dict[str, Any]]:
    """The Whoosh documents for one record file: the article, then its stubs
    (`racy`: see encode_source)."""
    path = str(article.path)
    ident = doc_id(path)
    doc = _common(**indexed_values(article))
    doc.update(
        id=ident,
        kind="article",
        path=path,
        source=encode_source(path, size, mtime_ns, digest, racy),
        record=pack_record(article.to_record(), doc["title"], doc.get("excerpt")),
    )
    if article.topics:
        doc["topic"] = VALUE_SEP.join(article.topics)
    if article.is_published is not None:
        doc["published_flag"] = article.is_published
    yield doc
    for number, stub in enumerate(article.related, start=1):
        yield _stub_document(stub, path, ident, number)


def _stub_document(stub: Stub, path: str, parent: str, number: int) -> dict[str, Any]:
    doc = _common(**indexed_values(stub))
    doc.update(
        id=f"{parent}-r{number}",
        kind="related",
        path=path,
        parent=parent,
        record=pack_record(stub.record, doc["title"], doc.get("excerpt")),
    )
    if stub.url:
        doc["stub_url"] = stub.url
    return doc
