"""Prefix completion (search.backends.complete): topics, providers and article titles from a few typed letters.

The index is built from records these tests write, with known titles, dates,
topics and providers, so every expected suggestion follows from them.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import render_record
from hypothesis import given, settings
from hypothesis import strategies as st

from search import build_index
from search.backends.complete import MAX_PREFIX, MAX_SUGGESTIONS, complete
from search.backends.query import weighting
from search.results import Suggestion
from search.storage.schema import doc_id
from search.storage.store import Store


def front(title: str, date: str, topics: tuple[str, ...] = (), provider: str = "Wire", extra: str = "") -> str:
    lines = [f'title: "{title}"', f"publishedDateTime: {date}T08:00:00Z", f"provider:\n  name: {provider}"]
    if topics:
        lines.append("topics:" + "".join(f"\n  - {topic}" for topic in topics))
    return "\n".join(lines) + ("\n" + extra if extra else "")


STUB = '''related:
  - title: "Oil prices spike in a related stub"
    webUrl: "https://example.org/stub"'''

RECORDS = {
    "rise.md": front("Oil prices rise as OPEC cuts output", "2020-03-01", ("Energy", "Oil")),
    "fall.md": front("Oil prices fall on demand fears", "2020-03-05", ("Energy", "Oil")),
    "fall-copy.md": front("OIL PRICES FALL ON DEMAND FEARS", "2020-03-04", ("Energy",), "Other Wire"),
    "private.md": front("Oil private equity deal closes", "2020-03-07", ("Finance",)),
    "gold.md": front("Prices of gold climb again", "2020-02-01", ("Metals",)),
    "crude.md": front("Traders watch crude oil prices", "2020-03-06", ("Energy",)),
    "climate.md": front("Climate summit opens in Paris", "2020-01-10", ("Climate",), "Le Monde"),
    "climbers.md": front("Climbers return from Everest", "2020-01-12", ("Sport",)),
    "economy.md": front("Economy grows slowly", "2020-01-15", ("Économie",), "Le Monde"),
    "stub.md": front("Markets close mixed", "2020-01-20", ("Markets",), extra=STUB),
    "tokyo.md": front("日銀が金利を据え置き", "2020-01-21", ("日本",)),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("complete")
    folder = root / "records"
    folder.mkdir()
    for name, text in RECORDS.items():
        (folder / name).write_text(render_record(text), "utf-8")
    build_index([folder], root / "index")
    return root


def open_searcher(index_dir: Path) -> Any:
    _gen, ix = Store(index_dir).open()
    return ix.searcher(weighting=weighting())


@pytest.fixture(scope="module")
def searcher(corpus: Path) -> Iterator[Any]:
    opened = open_searcher(corpus / "index")
    yield opened
    opened.close()


def ident(corpus: Path, name: str) -> str:
    return doc_id(str((corpus / "records" / name).absolute()))


def titles(found: tuple[Suggestion, ...]) -> list[str]:
    return [s.text for s in found if s.kind == "title"]


# -- titles --------------------------------------------------------------------------------------


def test_the_last_word_completes_a_title_word_and_the_others_must_match(searcher: Any, corpus: Path) -> None:
    found = complete(searcher, "oil pri")
    assert set(titles(found)) == {
        "Oil prices fall on demand fears",
        "Oil prices rise as OPEC cuts output",
        "Oil private equity deal closes",
        "Traders watch crude oil prices",
    }
    assert all(s.kind == "title" for s in found)  # no topic or provider starts with "oil pri"
    rise = next(s for s in found if s.text.startswith("Oil prices rise"))
    assert rise.id == ident(corpus, "rise.md") and rise.count == 1


def test_titles_beginning_with_the_typed_words_come_first_then_the_commonest_completion_then_the_newest(
    searcher: Any,
) -> None:
    assert titles(complete(searcher, "oil pri")) == [
        "Oil prices fall on demand fears",  # "price" is in more titles than "private"; newest first
        "Oil prices rise as OPEC cuts output",
        "Oil private equity deal closes",
        "Traders watch crude oil prices",  # does not begin with "oil pri"
    ]
    assert titles(complete(searcher, "pri"))[0] == "Prices of gold climb again"


def test_a_partial_word_completes_to_every_word_it_starts(searcher: Any) -> None:
    found = titles(complete(searcher, "clim"))
    assert set(found) == {"Climate summit opens in Paris", "Climbers return from Everest", "Prices of gold climb again"}


def test_a_word_typed_past_its_stem_still_completes(searcher: Any) -> None:
    assert "Oil prices rise as OPEC cuts output" in titles(complete(searcher, "oil prices"))
    assert "Climbers return from Everest" in titles(complete(searcher, "climbe"))
    assert titles(complete(searcher, "climbx")) == []


def test_a_trailing_space_ends_the_word(searcher: Any) -> None:
    assert set(titles(complete(searcher, "gold "))) == {"Prices of gold climb again"}
    assert titles(complete(searcher, "gol ")) == []  # "gol" is a whole word now, and no title has it


def test_titles_the_same_but_for_case_are_shown_once_with_their_copies(searcher: Any, corpus: Path) -> None:
    (fall,) = [s for s in complete(searcher, "oil prices f") if s.kind == "title"]
    assert fall.text == "Oil prices fall on demand fears" and fall.count == 2
    assert fall.id == ident(corpus, "fall.md")  # the newer copy


def test_related_stubs_are_never_suggested(searcher: Any) -> None:
    assert not any("stub" in s.text for s in complete(searcher, "oil prices sp"))
    assert titles(complete(searcher, "spike")) == []


def test_cjk_titles_complete_by_their_characters(searcher: Any) -> None:
    assert titles(complete(searcher, "日銀")) == ["日銀が金利を据え置き"]
    assert titles(complete(searcher, "日")) == ["日銀が金利を据え置き"]


# -- topics and providers ------------------------------------------------------------------------


def test_topics_and_providers_ignore_case_and_accents_and_count_documents(searcher: Any) -> None:
    energy = complete(searcher, "ENER")
    assert energy[0] == Suggestion(text="Energy", kind="topic", count=4)
    assert Suggestion(text="Économie", kind="topic", count=1) in complete(searcher, "eco")
    assert Suggestion(text="Le Monde", kind="provider", count=2) in complete(searcher, "le m")
    assert Suggestion(text="Le Monde", kind="provider", count=2) in complete(searcher, "le   mo")


def test_values_come_first_by_count_and_leave_room_for_titles(searcher: Any) -> None:
    found = complete(searcher, "clim", limit=2)
    assert found[0] == Suggestion(text="Climate", kind="topic", count=1)
    assert found[1].kind == "title"
    wire = complete(searcher, "w")  # provider "Wire" (8 articles), and titles with w... words
    assert wire[0].kind == "provider" and wire[0].text == "Wire" and wire[0].count == 8


def test_limits_and_blank_prefixes(searcher: Any) -> None:
    assert complete(searcher, "") == ()
    assert complete(searcher, "   \t") == ()
    assert complete(searcher, "oil", limit=0) == ()
    assert len(complete(searcher, "oil", limit=1)) == 1
    assert len(complete(searcher, "o", limit=10_000)) <= MAX_SUGGESTIONS
    assert complete(searcher, "oil " * MAX_PREFIX) == ()


def test_deleted_records_are_not_suggested(tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    for name in ("rise.md", "fall.md", "gold.md"):
        (folder / name).write_text(render_record(RECORDS[name]), "utf-8")
    (folder / "doomed.md").write_text(render_record(front("Oil prices doomed", "2021-01-01", ("Doom",))), "utf-8")
    build_index([folder], tmp_path / "index")
    searcher = open_searcher(tmp_path / "index")
    try:
        assert "Oil prices doomed" in titles(complete(searcher, "oil pri"))
        assert Suggestion(text="Doom", kind="topic", count=1) in complete(searcher, "doo")
    finally:
        searcher.close()
    (folder / "doomed.md").unlink()
    (folder / "fall.md").unlink()
    assert build_index([folder], tmp_path / "index").deleted == 2
    searcher = open_searcher(tmp_path / "index")
    try:
        assert titles(complete(searcher, "oil pri")) == ["Oil prices rise as OPEC cuts output"]
        assert complete(searcher, "doo") == ()
        assert complete(searcher, "energy") == (Suggestion(text="Energy", kind="topic", count=1),)
    finally:
        searcher.close()


def test_an_empty_index_completes_nothing(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    build_index([tmp_path / "records"], tmp_path / "index")
    searcher = open_searcher(tmp_path / "index")
    try:
        assert complete(searcher, "oil pri") == ()
    finally:
        searcher.close()


# -- hostile input ---------------------------------------------------------------------------------

WORDS = ["oil", "pri", "clim", "Le", "Énergie", "日", "日銀", "the", "2020", "U.S.", "don't"]
SYMBOLS = ['"', "(", ")", "*", "?", "-", ":", "OR", "NOT", " ", "  ", "\x00", "\t", "😀", "\\", "\x1f"]
prefixes = (
    st.text()
    | st.text(alphabet=string.printable)
    | st.lists(st.sampled_from(WORDS + SYMBOLS), max_size=20).map("".join)
    | st.lists(st.sampled_from(WORDS + SYMBOLS), max_size=20).map(" ".join)
)


@settings(max_examples=200, deadline=None, database=None)
@given(prefix=prefixes, limit=st.integers(min_value=-5, max_value=100))
def test_property_complete_never_raises_and_keeps_its_promises(searcher: Any, prefix: str, limit: int) -> None:
    found = complete(searcher, prefix, limit)
    assert isinstance(found, tuple) and len(found) <= max(0, min(limit, MAX_SUGGESTIONS))
    assert all(s.kind in ("title", "topic", "provider") and s.count >= 1 for s in found)
    assert all((s.id is not None) == (s.kind == "title") for s in found)
    assert not any("stub" in s.text for s in found)
    shown = [s.text.casefold() for s in found if s.kind == "title"]
    assert len(shown) == len(set(shown))
    if not prefix.strip():
        assert found == ()
