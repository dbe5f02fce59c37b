"""Stored fields pickled as their values alone, and the record column (search.storage.stored)."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from search.storage.schema import article_documents, build_schema
from search.storage.stored import FIELDS, StoredFields, doc_id, pack_record, unpack_record

TEXT = st.text(max_size=30)
OPTIONAL = st.none() | TEXT
META = st.fixed_dictionaries(
    {
        "provider": st.none() | st.fixed_dictionaries({"name": OPTIONAL, "domain": OPTIONAL}),
        "topics": st.lists(TEXT, max_size=3),
        "published": OPTIONAL,
        "quality": st.none() | st.integers(),
        "heat": st.none() | st.integers(),
        "is_published": st.none() | st.booleans(),
    }
)


@st.composite
def stored_dicts(draw: Any) -> dict[str, Any]:
    """Dicts of the stored fields' shape, and some of other shapes."""
    path = draw(TEXT)
    parent = draw(st.none() | st.just(doc_id(path)) | TEXT)
    ident = draw(
        st.sampled_from([doc_id(path), f"{parent}-r{draw(st.integers(1, 99))}", f"{parent}-r07", "x"]) | TEXT
    )
    values = {
        "excerpt": draw(OPTIONAL),
        "id": ident,
        "kind": draw(st.sampled_from(["article", "related", "other"])),
        "meta": draw(META | st.just({"topics": []}) | st.none()),
        "parent": parent,
        "path": path,
        "title": draw(TEXT),
        "url": draw(OPTIONAL),
    }
    shown = draw(st.sets(st.sampled_from(FIELDS)))
    out = {name: value for name, value in values.items() if name in shown and value is not None}
    if draw(st.booleans()):  # another order, or another field
        out = dict(reversed(list(out.items()))) if draw(st.booleans()) else {**out, "other": 1}
    return out


@given(stored_dicts())
def test_stored_fields_come_back_the_same_in_the_same_order(fields: dict[str, Any]) -> None:
    again = pickle.loads(pickle.dumps(StoredFields(fields), 2))
    assert again == fields and list(again.items()) == list(fields.items())
    assert [type(v) for v in again.values()] == [type(v) for v in fields.values()]
    if "meta" in fields and isinstance(fields["meta"], dict):
        assert list(again["meta"]) == list(fields["meta"])


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    """What Whoosh stores of a document: its stored fields, by name."""
    schema = build_schema()
    return {name: doc[name] for name in sorted(doc) if name in schema and schema[name].stored}


def test_the_indexs_documents_are_smaller_and_read_back_as_they_were_written(seed_index_dir: Path) -> None:
    from search.articles import Article
    from search.records import load_record
    from search.storage.store import Store

    _gen, ix = Store(seed_index_dir).open()
    with ix.searcher() as searcher:
        found = {fields["id"]: fields for _docnum, fields in searcher.reader().iter_docs()}
    ix.close()
    assert all(isinstance(fields, StoredFields) for fields in found.values())
    packed = plain = 0
    for fields in found.values():
        if fields["kind"] != "article":
            continue
        article: Article = load_record(fields["path"])
        for doc in article_documents(article, 1, 1, "x"):
            expected = _stored(doc)
            assert list(found[doc["id"]].items()) == list(expected.items())
            packed += len(zlib.compress(pickle.dumps(StoredFields(expected), 2), 3))
            plain += len(zlib.compress(pickle.dumps(expected, 2), 3))
    assert packed < 0.9 * plain  # 85%: the names of the fields and meta keys, the id


# -- the record column ----------------------------------------------------------------------------------

RECORD_VALUES = st.none() | st.booleans() | st.integers() | TEXT | st.lists(TEXT, max_size=3)
# Lone surrogates: a record's text is whatever the file held (the JSON passes them through).
SURROGATE_TEXT = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.characters(), max_size=10)


@st.composite
def records_beside_fields(draw: Any) -> tuple[dict[str, Any], str, str | None]:
    """(record, stored title, stored excerpt): records that repeat the stored
    title and excerpt (as their first keys, as the body's start), and others."""
    title = draw(TEXT | SURROGATE_TEXT)
    excerpt = draw(st.none() | TEXT | SURROGATE_TEXT)
    record: dict[str, Any] = {}
    if draw(st.booleans()):
        record["title"] = title if draw(st.booleans()) else draw(TEXT)
    if draw(st.booleans()):
        record["excerpt"] = excerpt if draw(st.booleans()) else draw(OPTIONAL)
    record.update(draw(st.dictionaries(st.sampled_from(["type", "topics", "heat", "webUrl"]), RECORD_VALUES)))
    if draw(st.booleans()):
        start = (excerpt or "") if draw(st.booleans()) else ""
        record["body"] = start + draw(TEXT | SURROGATE_TEXT)
    if draw(st.booleans()):  # another order: the keys come back in the record's own
        record = dict(reversed(list(record.items())))
    return record, title, excerpt


@given(records_beside_fields())
def test_a_record_comes_back_the_same_in_the_same_order(case: tuple[dict[str, Any], str, str | None]) -> None:
    record, title, excerpt = case
    again = unpack_record(pack_record(record, title, excerpt), title, excerpt)
    assert again == record and list(again) == list(record)


def test_a_record_leaves_out_what_the_stored_fields_hold() -> None:
    """The title and excerpt it opens with, and the excerpt its body opens
    with, are the stored fields' (the stream's preset dictionary), not
    stored again: a Reuters body opens with its excerpt."""
    excerpt = "Lodgistix Inc said it is expanding distribution in Canada of its property systems. " * 3
    record = {"title": "LODGISTIX OPENS OFFICE", "excerpt": excerpt, "type": "article", "body": excerpt + "More."}
    packed = pack_record(record, "LODGISTIX OPENS OFFICE", excerpt)
    text = zlib.decompressobj(zdict=f"LODGISTIX OPENS OFFICE\n{excerpt}".encode()).decompress(packed)
    assert text == bytes((7,)) + b'{"type": "article", "body": "More."}'
    # A stored title or excerpt that differs from the record's is not taken for it.
    other = unpack_record(pack_record(record, "Other", "Else"), "Other", "Else")
    assert list(other.items()) == list(record.items())


def test_a_page_reads_a_hits_record_only_when_its_excerpt_lacks_the_words(seed_index_dir: Path, monkeypatch: Any) -> None:
    """The record (a column apart from the stored fields) is read for a
    snippet from the body, never for a hit whose excerpt has a query word;
    the stored fields a page reads no longer hold it."""
    from search import open_index
    from search.backends.snippets import highlight
    from search.storage import stored

    read: list[str] = []
    get = stored.Records.get

    def counted(self: stored.Records, docnum: int, fields: dict[str, Any]) -> dict[str, Any]:
        read.append(fields["id"])
        return get(self, docnum, fields)

    monkeypatch.setattr(stored.Records, "get", counted)
    with open_index(seed_index_dir) as ix:
        searcher = ix._ensure().searcher
        assert not any("record" in searcher.stored_fields(d) for d in range(searcher.doc_count_all()))
        page = ix.search("data", limit=20, feedback=False)
    from_body = [hit.id for hit in page.hits if not highlight(hit.excerpt or "", frozenset({"data"}))]
    assert read == from_body
    assert 0 < len(from_body) < len(page.hits)  # premise: some hits of each kind
