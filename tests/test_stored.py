"""Stored fields pickled as their values alone (search.storage.stored)."""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from search.storage.schema import article_documents, build_schema
from search.storage.stored import FIELDS, StoredFields, doc_id

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
        "record": draw(OPTIONAL),
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
