"""Peer search engines the product is measured against, behind one interface.

Each peer is a small class: ``build(docs)`` indexes already-parsed records and
``search(q, limit=10)`` returns the matching record names, best first.  The
speed benchmark (``bench.py``) and the relevance harness (``relevance.py``)
both drive them, so everything here is generic: a record is a `Doc`, the
field weights are the product's (title 3, topics 2, excerpt 1.5, body 1), and
the query group (``"and"`` for keyword queries, ``"or"`` for long
natural-language ones) is a constructor argument that ``search`` may override.

    Fts5Peer     sqlite FTS5, porter stemming, bm25(t, 3, 2, 1.5, 1), set up
                 as a user serving queries would: the file memory-mapped,
                 a page cache the size of a news index, and the index
                 merged into one b-tree after the load ('optimize')
    Fts5DefaultPeer  the same with sqlite's defaults (2 MB cache, no mmap,
                 no optimize): the FTS5 of the figures before session eleven
    Fts5TermsPeer  the same bm25 over the product's own index terms (a
                 diagnostic, not a peer: beside Fts5Peer it tells the share
                 of a difference that is the analysis from the share that
                 is the ranking)
    TantivyPeer  tantivy, the ``en_stem`` tokenizer, field boosts in parse_query
    WhooshPeer   a plain Whoosh script: one writer, StemmingAnalyzer, BM25F
    Bm25sPeer    bm25s with its defaults (Lucene's BM25, k1 1.5, b 0.75)
                 with PyStemmer's English stemmer and bm25s's English stop
                 words, over one text per record (title, topics, excerpt and
                 body joined): bm25s has no fields, so no field weights

Query text is sanitised before a peer's parser sees it (word characters only,
lower-cased so that ``AND``/``OR``/``NOT`` are never operators), so no user
text can make a peer raise.  tantivy and Whoosh are imported only when their
peer is created: tantivy, bm25s and PyStemmer are optional extras
(``pip install .[bench]``).

Parsing lives here too (`load_doc`, `iter_docs`) because both harnesses need
the same `Doc`s; it uses PyYAML's libyaml loader when present, as a plain
script would.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

__all__ = [
    "FIELD_WEIGHTS",
    "PEERS",
    "Doc",
    "Bm25sPeer",
    "Fts5DefaultPeer",
    "Fts5Peer",
    "Fts5TermsPeer",
    "Group",
    "NotARecord",
    "Peer",
    "TantivyPeer",
    "WhooshPeer",
    "disk_usage",
    "iter_docs",
    "iter_record_paths",
    "load_doc",
    "load_docs",
    "make_peer",
    "query_terms",
]

Group = Literal["and", "or"]

# The product's weights, in the column order every peer uses.
FIELD_WEIGHTS: dict[str, float] = {"title": 3.0, "topics": 2.0, "excerpt": 1.5, "body": 1.0}
_FIELDS = tuple(FIELD_WEIGHTS)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CLOSING_LINE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)
_WORD = re.compile(r"\w+")


class NotARecord(ValueError):
    """A file that is not a front-matter record."""


@dataclass(frozen=True, slots=True)
class Doc:
    """One parsed record: its name is the file name without ``.md``."""

    name: str
    title: str
    excerpt: str
    body: str
    topics: list[str]
    provider: str
    published: datetime | None


def iter_record_paths(folder: Path) -> Iterator[Path]:
    """Every ``*.md`` record under `folder`, in a stable (sorted) order."""
    for path in sorted(Path(folder).rglob("*.md")):
        if path.is_file():
            yield path


def load_doc(path: Path) -> Doc:
    """Parse one record file; raises NotARecord (a ValueError) when it is not one."""
    text = Path(path).read_text(encoding="utf-8")
    first_break = text.find("\n")
    if first_break < 0 or text[:first_break].rstrip() != "---":
        raise NotARecord(f"{path}: no front matter (first line is not ---)")
    closing = _CLOSING_LINE.search(text, first_break + 1)
    if closing is None:
        raise NotARecord(f"{path}: front matter is not closed by a --- line")
    meta = yaml.load(text[first_break + 1 : closing.start()], Loader=_Loader)
    if not isinstance(meta, dict):
        raise NotARecord(f"{path}: front matter is not a mapping")
    provider = meta.get("provider")
    if isinstance(provider, dict):
        provider = provider.get("name")
    topics = meta.get("topics") or []
    published = meta.get("publishedDateTime")
    return Doc(
        name=Path(path).stem,
        title=str(meta.get("title") or ""),
        excerpt=str(meta.get("excerpt") or ""),
        body=text[closing.end() :].strip(),
        topics=[str(t) for t in topics] if isinstance(topics, list) else [str(topics)],
        provider=str(provider or ""),
        published=published if isinstance(published, datetime) else None,
    )


def iter_docs(folder: Path, errors: list[tuple[Path, str]] | None = None) -> Iterator[Doc]:
    """Parse every record under `folder`; unreadable ones go to `errors`."""
    for path in iter_record_paths(folder):
        try:
            yield load_doc(path)
        except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
            if errors is not None:
                errors.append((path, str(exc)))


def load_docs(folder: Path, errors: list[tuple[Path, str]] | None = None) -> list[Doc]:
    """All records under `folder`, parsed into memory."""
    return list(iter_docs(folder, errors))


def query_terms(q: str) -> list[str]:
    """The words of `q`, lower-cased: what every peer actually searches for."""
    return [w.lower() for w in _WORD.findall(q)]


class Peer(Protocol):
    """What both harnesses need from an engine."""

    name: str

    def build(self, docs: Iterable[Doc]) -> None: ...

    def search(self, q: str, limit: int = 10, *, group: Group | None = None) -> list[str]: ...

    def close(self) -> None: ...


class _TempDirPeer:
    """Owns a working folder: the given one, or a temporary one removed on close.

    A temporary folder is also removed when the peer is collected or the
    interpreter exits, so a script that forgets `close` leaves no index behind.
    """

    name = "peer"

    def __init__(self, path: Path | None, group: Group) -> None:
        self._own_dir = path is None
        self.path = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-")) if path is None else Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.group: Group = group
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, True) if self._own_dir else None

    def size_bytes(self) -> int:
        """Bytes on disk of the index, as ``du`` counts them."""
        return disk_usage(self.path)

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup()


class Fts5Peer(_TempDirPeer):
    """sqlite FTS5 with the porter tokenizer, ranked by weighted bm25.

    Tuned as sqlite's documentation points a user who serves reads from a
    file: ``PRAGMA mmap_size`` (reads become memory accesses, not a read()
    and a copy into the page cache each; sqlite caps the request at its
    compile-time SQLITE_MAX_MMAP_SIZE, 0x7fff0000 in Python's builds),
    ``PRAGMA cache_size`` of 256 MiB (the default is 2 MB; Reuters' index is
    40 MiB, and memory is taken only as pages are read), and FTS5's
    ``'optimize'`` after the load, which merges the index's b-trees into one
    so a query term is looked up once (sqlite.org/fts5.html, 6.9).  The
    optimize is part of the timed build.  The build keeps sqlite's rollback
    journal and ``synchronous=FULL``: the product fsyncs its commit, so
    FTS5 gives the same durability; a fresh database's journal holds almost
    nothing, and ``synchronous=OFF, journal_mode=OFF`` or WAL measured no
    faster (CPU 0.90-1.07 s against 1.04-1.08 s over 3 alternating builds
    each on Reuters, WAL 1.04-1.31 s, load 16-21)."""

    name = "fts5"
    tuned = True
    _PRAGMAS = ("PRAGMA mmap_size = 1099511627776", "PRAGMA cache_size = -262144")

    def __init__(self, path: Path | None = None, group: Group = "and") -> None:
        super().__init__(path, group)
        self.db_path = self.path / "fts5.db"
        self._db: sqlite3.Connection | None = None

    def connect(self) -> sqlite3.Connection:
        """A connection to the index with this peer's settings."""
        db = sqlite3.connect(self.db_path)
        if self.tuned:
            for pragma in self._PRAGMAS:
                db.execute(pragma).fetchall()
        return db

    def open(self) -> None:
        """Search an index an earlier build left at `path`."""
        if not self.db_path.is_file():
            raise FileNotFoundError(f"{self.db_path}: no FTS5 index here")
        self._db = self.connect()

    def build(self, docs: Iterable[Doc]) -> None:
        if self._db is not None:
            self._db.close()
        self.db_path.unlink(missing_ok=True)
        db = self.connect()
        # Columns in FIELD_WEIGHTS order, so bm25()'s weights line up; the
        # name comes last and unindexed, so it takes no weight.
        db.execute(
            "CREATE VIRTUAL TABLE docs USING fts5("
            f"title, topics, excerpt, body, name UNINDEXED, tokenize='{self.tokenizer}')"
        )
        with db:
            db.executemany(
                "INSERT INTO docs(title, topics, excerpt, body, name) VALUES (?, ?, ?, ?, ?)",
                (self._row(d) for d in docs),
            )
            if self.tuned:
                db.execute("INSERT INTO docs(docs) VALUES ('optimize')")
        self._db = db

    tokenizer = "porter unicode61"

    def _row(self, d: Doc) -> tuple[str, str, str, str, str]:
        return (d.title, " ".join(d.topics), d.excerpt, d.body, d.name)

    def _terms(self, q: str) -> list[str]:
        return query_terms(q)

    def search(self, q: str, limit: int = 10, *, group: Group | None = None) -> list[str]:
        terms = self._terms(q)
        if not terms or self._db is None:
            return []
        # Quoted terms are plain strings to FTS5, never operators or columns.
        joiner = " OR " if (group or self.group) == "or" else " "
        match = joiner.join(f'"{t}"' for t in terms)
        weights = ", ".join(str(w) for w in FIELD_WEIGHTS.values())
        rows = self._db.execute(
            f"SELECT name FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, {weights}) LIMIT ?", (match, limit)
        )
        return [name for (name,) in rows]

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        super().close()


class Fts5DefaultPeer(Fts5Peer):
    """Fts5Peer with sqlite's default settings and no optimize: how FTS5 was
    run before session eleven, kept so that older figures stay comparable."""

    name = "fts5-default"
    tuned = False


class Fts5TermsPeer(Fts5Peer):
    """FTS5's bm25, with the same column weights, over the terms the product
    indexes (its tokenizer, news forms, stop list and stemmer: a record's
    terms as search.storage.schema.analyse_text gives them, a query's as the
    product's query parser does).  Each distinct term is written as a token
    of its own (``t0``, ``t1``, ...), so FTS5's tokenizer neither splits nor
    stems it.  What it tells, beside Fts5Peer: a gap between FTS5 and the
    product that stays here is the ranking's (BM25 against BM25F, its
    constants, feedback); a gap that goes is the analysis's.  Not a peer
    (relevance.py leaves it out of the best peer), and it needs the product
    importable."""

    name = "fts5-terms"
    tokenizer = "unicode61"

    def __init__(self, path: Path | None = None, group: Group = "and") -> None:
        from search.storage.schema import WORDS_RE, analyse_text, analyse_word

        super().__init__(path, group)
        self._analyse_text = analyse_text
        self._analyse_word = analyse_word
        self._words = WORDS_RE
        self._tokens: dict[str, str] = {}

    def _token(self, term: str) -> str:
        token = self._tokens.get(term)
        if token is None:
            token = self._tokens[term] = f"t{len(self._tokens)}"
        return token

    def _text(self, text: str) -> str:
        return " ".join(self._token(term) for term, _position in self._analyse_text(text))

    def _row(self, d: Doc) -> tuple[str, str, str, str, str]:
        return (
            self._text(d.title),
            self._text(" ; ".join(d.topics)),
            self._text(d.excerpt),
            self._text(d.body),
            d.name,
        )

    def _terms(self, q: str) -> list[str]:
        terms = (self._analyse_word(word) for word in self._words.findall(q))
        # A term no record has matches nothing, as in the product.
        return [self._tokens[term] for term in terms if term and term in self._tokens]


class TantivyPeer(_TempDirPeer):
    """tantivy with English stemming, field boosts given to its query parser."""

    name = "tantivy"

    def __init__(self, path: Path | None = None, group: Group = "and") -> None:
        import tantivy

        super().__init__(path, group)
        self._tantivy = tantivy
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("name", stored=True, tokenizer_name="raw")
        for field in _FIELDS:
            builder.add_text_field(field, tokenizer_name="en_stem")
        self._schema = builder.build()
        self._index: Any = None
        self._searcher: Any = None

    def build(self, docs: Iterable[Doc]) -> None:
        shutil.rmtree(self.path / "tantivy", ignore_errors=True)
        (self.path / "tantivy").mkdir()
        index = self._tantivy.Index(self._schema, path=str(self.path / "tantivy"))
        writer = index.writer()
        document = self._tantivy.Document
        for d in docs:
            writer.add_document(
                document(name=d.name, title=d.title, topics=" ".join(d.topics), excerpt=d.excerpt, body=d.body)
            )
        writer.commit()
        writer.wait_merging_threads()
        index.reload()
        self._index = index
        self._searcher = index.searcher()

    def search(self, q: str, limit: int = 10, *, group: Group | None = None) -> list[str]:
        terms = query_terms(q)
        if not terms or self._index is None:
            return []
        query = self._index.parse_query(
            " ".join(terms),
            list(_FIELDS),
            field_boosts=FIELD_WEIGHTS,
            conjunction_by_default=(group or self.group) == "and",
        )
        searcher = self._searcher
        hits = searcher.search(query, limit).hits
        return [searcher.doc(address)["name"][0] for _score, address in hits]


class WhooshPeer(_TempDirPeer):
    """A plain Whoosh script: one writer, StemmingAnalyzer, BM25F, stored title."""

    name = "whoosh"

    def __init__(self, path: Path | None = None, group: Group = "and") -> None:
        super().__init__(path, group)
        self._index: Any = None
        self._searcher: Any = None
        self._parsers: dict[Group, Any] = {}

    def build(self, docs: Iterable[Doc]) -> None:
        from whoosh import index
        from whoosh.analysis import StemmingAnalyzer
        from whoosh.fields import ID, TEXT, Schema

        self._close_searcher()
        analyzer = StemmingAnalyzer()
        schema = Schema(
            name=ID(stored=True, unique=True),
            title=TEXT(analyzer=analyzer, stored=True),
            topics=TEXT(analyzer=analyzer),
            excerpt=TEXT(analyzer=analyzer),
            body=TEXT(analyzer=analyzer),
        )
        shutil.rmtree(self.path / "whoosh", ignore_errors=True)
        (self.path / "whoosh").mkdir()
        ix = index.create_in(str(self.path / "whoosh"), schema)
        writer = ix.writer()
        for d in docs:
            writer.add_document(name=d.name, title=d.title, topics=" ".join(d.topics), excerpt=d.excerpt, body=d.body)
        writer.commit()
        self._open(ix)

    def _open(self, ix: Any) -> None:
        from whoosh.qparser import AndGroup, MultifieldParser, OrGroup

        self._index = ix
        self._searcher = ix.searcher()
        groups: dict[Group, Any] = {"and": AndGroup, "or": OrGroup}
        self._parsers = {
            group: MultifieldParser(list(_FIELDS), ix.schema, fieldboosts=FIELD_WEIGHTS, group=group_class)
            for group, group_class in groups.items()
        }

    def search(self, q: str, limit: int = 10, *, group: Group | None = None) -> list[str]:
        terms = query_terms(q)
        if not terms or self._searcher is None:
            return []
        query = self._parsers[group or self.group].parse(" ".join(terms))
        return [hit["name"] for hit in self._searcher.search(query, limit=limit)]

    def _close_searcher(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def close(self) -> None:
        self._close_searcher()
        super().close()


class Bm25sPeer(_TempDirPeer):
    """bm25s as its README uses it: ``bm25s.tokenize`` with English stop words
    and PyStemmer, ``BM25().index``, scores for every document per query.

    bm25s always ranks by any word; for the ``"and"`` group the documents
    lacking a query word are masked out before the top `limit` are taken, so
    it does the same work as the other peers.  The index is saved under the
    peer's folder so that its size on disk can be measured."""

    name = "bm25s"

    def __init__(self, path: Path | None = None, group: Group = "and") -> None:
        import bm25s
        import Stemmer

        super().__init__(path, group)
        self._bm25s = bm25s
        self._stemmer = Stemmer.Stemmer("english")
        self._retriever: Any = None
        self._names: list[str] = []

    def _tokens(self, texts: list[str], return_ids: bool) -> Any:
        return self._bm25s.tokenize(
            texts, stopwords="en", stemmer=self._stemmer, return_ids=return_ids, show_progress=False
        )

    def build(self, docs: Iterable[Doc]) -> None:
        docs = list(docs)
        self._names = [d.name for d in docs]
        texts = [" ".join((d.title, " ".join(d.topics), d.excerpt, d.body)) for d in docs]
        retriever = self._bm25s.BM25()  # its defaults, as a user would start

        retriever.index(self._tokens(texts, return_ids=True), show_progress=False)
        shutil.rmtree(self.path / "bm25s", ignore_errors=True)
        retriever.save(str(self.path / "bm25s"))
        self._retriever = retriever

    def search(self, q: str, limit: int = 10, *, group: Group | None = None) -> list[str]:
        import numpy as np

        retriever = self._retriever
        if retriever is None or not self._names:
            return []
        ids = retriever.get_tokens_ids(self._tokens([q], return_ids=False)[0])
        if not ids:
            return []
        scores = np.asarray(retriever.get_scores_from_ids(ids), dtype=np.float64)
        if (group or self.group) == "and":
            matrix = retriever.scores
            for token in set(ids):
                holders = np.zeros(len(scores), dtype=bool)
                holders[matrix["indices"][matrix["indptr"][token] : matrix["indptr"][token + 1]]] = True
                scores[~holders] = 0.0
        matching = np.flatnonzero(scores > 0)
        if len(matching) > limit:
            matching = matching[np.argpartition(-scores[matching], limit - 1)[:limit]]
        # Best first; equal scores in index order, so a run is repeatable.
        order = matching[np.lexsort((matching, -scores[matching]))]
        return [self._names[i] for i in order]


PEERS: dict[str, type[_TempDirPeer]] = {
    "fts5": Fts5Peer,
    "fts5-default": Fts5DefaultPeer,
    "fts5-terms": Fts5TermsPeer,
    "tantivy": TantivyPeer,
    "bm25s": Bm25sPeer,
    "whoosh": WhooshPeer,
}


def make_peer(name: str, path: Path | None = None, group: Group = "and") -> Any:
    """A peer by its short name (see `PEERS`)."""
    return PEERS[name](path, group)


def disk_usage(path: Path) -> int:
    """Allocated bytes under `path`, like ``du -s --block-size=1``."""
    total = 0
    for entry in Path(path).rglob("*"):
        try:
            total += entry.lstat().st_blocks * 512
        except OSError:
            continue
    return total
