"""The term-at-a-time evaluator (search.backends.engine) against Whoosh's searcher:
the same matches, the same order and the same scores, on a multi-segment
index with deletions, for every kind of query the safe syntax builds."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search import build_index, open_index
from search.backends import query
from search.api import Index
from search.backends.engine import Unsupported
from search.planning.proximity import near_in_order as _near
from search.bounds import MAX_LIMIT
from search.planning import ranking

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

QUERIES = [
    "facial",
    "facial recognition",
    "solar storm",
    "electric bus fleet",
    "central bank",
    "norway central bank rates",
    '"facial recognition"',
    '"electric bus" manchester',
    '"bus fleet electric"',  # words out of order: no phrase match
    "facial -london",
    'facial -"live facial"',
    "police OR protest",
    "solar bus",  # no document has both: relaxed
    "solar bus -fleet",
    "rates rates rates",  # a repeated word weighs more
    "why are central banks raising rates in scandinavia",  # a question: feedback terms
    "central bank raises interest rates in norway",  # a headline: no feedback
    "what is a deepfake and how does it work",
    "covid-19 vaccine",
    "zürich",
    "金利",
    "spacecraft",
    "xyzzy",
    "the of and",
]
OPTIONS: list[dict[str, Any]] = [
    {},
    {"topics": ["Technology", "AI"]},
    {"since": "2020", "until": "2023"},
    {"boost": ["recency:30d", "quality"]},
    {"collapse": False},
    {"limit": 3, "page": 2},
]


@pytest.fixture(scope="module")
def churned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """The seeds in three segments, with deleted and re-added documents."""
    root = tmp_path_factory.mktemp("engine")
    records = root / "records"
    shutil.copytree(SEEDS, records)
    later = sorted(records.glob("0[34]*"))
    held = root / "held"
    held.mkdir()
    for path in later:
        path.rename(held / path.name)
    build_index([records], root / "index")
    for path in later:
        (held / path.name).rename(path)
    for path in sorted(records.glob("01*")):  # edited: old versions become deleted documents
        path.write_text(path.read_text("utf-8") + "\nAn added closing line about rates.\n", "utf-8")
    build_index([records], root / "index")
    (records / next(p.name for p in records.glob("020*"))).unlink()
    build_index([records], root / "index")
    with open_index(root / "index") as ix:
        assert len(ix._ensure().searcher.reader().leaf_readers()) > 1  # premise: several segments
        assert ix._ensure().searcher.reader().has_deletions()
        yield ix


def results(ix: Index, text: str, options: dict[str, Any]) -> tuple[int, bool, list[tuple[str, float]]]:
    page = ix.search(text, facets=False, **options)
    return page.total, page.relaxed, [(h.id, h.score) for h in page.hits]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("text", QUERIES)
def test_engine_equals_whoosh(
    churned: Index, monkeypatch: pytest.MonkeyPatch, text: str, options: dict[str, Any]
) -> None:
    fast = results(churned, text, options)

    def refuse(*args: object, **kwargs: object) -> Any:
        raise Unsupported("test: Whoosh's searcher")

    monkeypatch.setattr(query, "_engine_search", refuse)
    slow = results(churned, text, options)
    assert fast[:2] == slow[:2]
    assert [i for i, _ in fast[2]] == [i for i, _ in slow[2]]
    assert [s for _, s in fast[2]] == pytest.approx([s for _, s in slow[2]], rel=1e-9)


def test_a_pages_stored_fields_are_read_as_whoosh_reads_them(churned: Index) -> None:
    """SearchContext.stored_fields reads each segment's column itself: every
    document's fields, deleted ones' too, as Whoosh's searcher gives them,
    and like Whoosh it leaves out a field the schema no longer has."""
    context = churned._ensure()
    searcher = context.searcher
    for docnum in range(searcher.doc_count_all()):
        assert context.stored_fields(docnum) == searcher.stored_fields(docnum), docnum
    assert context._stored is not None and len(context._stored[1]) > 1  # premise: read from several segments
    offsets, columns, names = context._stored
    context._stored = (offsets, columns, names - {"meta"})
    try:
        fields = context.stored_fields(0)
    finally:
        context._stored = (offsets, columns, names)
    assert "meta" not in fields and fields.keys() == searcher.stored_fields(0).keys() - {"meta"}


def test_the_arrays_of_a_value_per_document_a_searcher_keeps_are_narrow(churned: Index) -> None:
    """What a query process keeps for each indexed document, per searcher, is
    a byte or four each (a million documents: some 60 MB in all, 105 MB
    before): the length bytes, not the lengths as floats, looked up per
    posting; numbers and places below the document count as int32; the
    title factor shares the engine's title lengths.  Only the dates (epoch
    seconds) and the duplicate keys themselves (16 bytes of hash) are wider."""
    for text in ("rates bank", "bank rates"):  # the engine, title factor and keys; the facets at the second
        churned.search(text, limit=5)
    context = churned._ensure()
    fast, keys, facets, titles = context._engine, context._dup_keys, context._facets, context._titles
    assert fast is not None and keys is not None and facets is not None and titles is not None
    assert keys.arrays
    shared = keys.arrays
    kept = {
        "the field's length bytes": fast.length_bytes,
        "the title's length bytes": fast.title_length_bytes,
        "live documents": fast.live,
        "shared webUrl keys": shared.url,
        "shared title keys": shared.title,
        "documents with a shared key": shared.keyed,
        "places in the title order": shared.titles.rank,
        "title keys and datedness in the title order": shared.titles.kind,
        "facet pairs' starts": facets.starts,
        "facet pairs' values": facets.values,
    }
    for name, array in kept.items():
        assert array.itemsize <= 4, name
    assert titles.length_bytes(ranking.TITLE_FIELD) is fast.title_length_bytes


def test_engine_is_used_for_keyword_queries(churned: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = query._engine_search

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(query, "_engine_search", spy)
    churned.search("solar storm")
    churned.search("solar storm", sort="newest")  # sorted: Whoosh's searcher
    churned.search("title:solar", raw=True)
    assert len(calls) == 1


def test_every_result_of_a_large_page_matches(churned: Index) -> None:
    page = churned.search("rates OR bank OR police", limit=MAX_LIMIT, collapse=False)
    assert len(page.hits) == page.total > 10


@pytest.mark.parametrize(
    ("positions", "slop", "near"),
    [
        ([[0], [1]], 1, True),  # adjacent
        ([[1], [0]], 1, False),  # reversed
        ([[0], [2]], 1, False),
        ([[0], [2]], 3, True),
        ([[0], [0]], 3, False),  # the same position is not "after"
        ([[0], [1], [2]], 1, True),
        ([[0, 10], [11], [12]], 1, True),
        ([[0], [1], [4]], 3, True),  # within the slop of the span's end
        ([[0], [1], [5]], 3, False),
        ([[5], [1, 7]], 3, True),
        ([[], [1]], 3, False),
    ],
)
def test_near_is_whooshs_ordered_span_near(positions: list[list[int]], slop: int, near: bool) -> None:
    assert _near(positions, slop) is near


_POSITIONS = st.lists(st.lists(st.integers(0, 40), max_size=8).map(sorted), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(documents=st.lists(_POSITIONS, min_size=1, max_size=5), slop=st.integers(1, 4))
def test_the_vectorised_phrase_check_is_near_for_every_document_at_once(
    documents: list[list[list[int]]], slop: int
) -> None:
    """engine._follow, word after word over the position keys of several
    documents together, keeps a document exactly when _near holds for it."""
    import numpy as np

    from search.backends.engine import _POSITION_BITS, _follow

    words = max(len(d) for d in documents)
    lists = [d + [[]] * (words - len(d)) for d in documents]  # a missing word: no positions
    ends: Any = None
    for w in range(words):
        keys = np.array(
            sorted({(doc << _POSITION_BITS) | p for doc, d in enumerate(lists) for p in d[w]}), dtype=np.int64
        )
        ends = keys if ends is None else _follow(ends, keys, slop)
    kept = sorted(set((ends >> _POSITION_BITS).tolist()))
    assert kept == [doc for doc, d in enumerate(lists) if _near(d, slop)]


@pytest.mark.parametrize(
    "words", [["central", "bank"], ["facial", "recognit"], ["electr", "bus", "fleet"], ["rate", "rate"], ["xyzzy", "bank"]]
)
def test_the_proximity_bonus_of_a_window_is_the_phrase_score_of_its_documents(churned: Index, words: list[str]) -> None:
    """Engine.phrase_bonus(docs), in the order asked, is phrase_matches' score
    of each (0.0 where the words are not near), as the ranking's window reads it."""
    import numpy as np
    from whoosh import query as wq

    from search.storage.schema import TEXT_FIELD

    fast = churned._ensure().engine()
    fast.start()
    phrase = wq.Phrase(TEXT_FIELD, words, slop=3, boost=1.5)
    mask, scores = fast.phrase_matches(phrase)
    docs = np.arange(fast.n, dtype=np.int64)[::-1].copy()
    assert fast.phrase_bonus(phrase, docs).tolist() == scores[docs].tolist()
    assert fast.phrase_bonus(phrase, docs[:0]).tolist() == []
    if words[0] in ("central", "facial"):
        assert mask.any()  # premise: the words are near somewhere


def test_the_title_postings_come_from_the_side_car_arrays(churned: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every segment's side-car, the exact-title factor reads no
    Whoosh posting block: the title postings are those side-car postings
    whose weight is above their frequency."""
    from search.backends import titles
    from search.planning import ranking
    from search.planning.request import SearchRequest

    def refuse(*args: object, **kwargs: object) -> Any:
        raise AssertionError("read Whoosh's title postings")

    context = churned._ensure()
    expected = ranking.TitleMatch(context.searcher, ["central", "bank"]).found
    monkeypatch.setattr(titles.FieldPostings, "lookup", refuse)
    monkeypatch.setattr(titles.FieldPostings, "docs_of", refuse)
    monkeypatch.setattr(titles, "_blocks", refuse)
    assert context.title_match(SearchRequest(text="central bank"), ["central", "bank"], None).found == expected
    assert expected  # premise: some titles are lifted


@pytest.mark.parametrize("options", [{}, {"collapse": False}, {"topics": ["Technology", "AI"]}], ids=str)
@pytest.mark.parametrize("text", ["rates", "central bank", "facial recognition", "police OR protest", "solar -storm"])
def test_engine_pages_equal_whooshs_with_facets_and_collapse(
    churned: Index, monkeypatch: pytest.MonkeyPatch, text: str, options: dict[str, Any]
) -> None:
    # The engine counts facets and collapses copies with numpy over its match
    # array (search.backends.columns); Whoosh's path with dictionaries over a set.
    fast = churned.search(text, limit=50, **options)

    def refuse(*args: object, **kwargs: object) -> Any:
        raise Unsupported("test: Whoosh's searcher")

    monkeypatch.setattr(query, "_engine_search", refuse)
    slow = churned.search(text, limit=50, **options)
    assert (fast.total, fast.facets, fast.relaxed) == (slow.total, slow.facets, slow.relaxed)
    assert [(h.id, h.duplicates) for h in fast.hits] == [(h.id, h.duplicates) for h in slow.hits]
    assert [h.score for h in fast.hits] == pytest.approx([h.score for h in slow.hits], rel=1e-12)


@pytest.mark.parametrize("text", ["rates", "bank", "facial", "zürich"])
def test_one_word_pages_of_a_hundred_agree_to_rounding(
    churned: Index, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    # One term: no summation order to differ in; Whoosh's scorer groups the
    # BM25 arithmetic its own way, so the scores agree to rounding (1e-15), not bit for bit.
    fast = results(churned, text, {"limit": 100})
    monkeypatch.setattr(query, "_engine_search", lambda *a, **k: (_ for _ in ()).throw(Unsupported("test")))
    slow = results(churned, text, {"limit": 100})
    assert fast[:2] == slow[:2] and fast[2]
    assert [i for i, _ in fast[2]] == [i for i, _ in slow[2]]
    assert [s for _, s in fast[2]] == pytest.approx([s for _, s in slow[2]], rel=1e-13)


@pytest.mark.parametrize("terms", [["central", "bank"], ["facial", "recognit"], ["solar", "storm", "xyzzy"]])
def test_the_title_factor_is_looked_up_for_all_matches_at_once(churned: Index, terms: list[str]) -> None:
    """engine.factor_values gives each document what the factor gives it,
    bit for bit: vectorised for the exact-title factor alone, per document
    with the --boost factors."""
    import numpy as np

    from search.planning import ranking
    from search.backends.engine import factor_values

    searcher = churned._ensure().searcher
    n = searcher.doc_count_all()
    docs = np.arange(n, dtype=np.int64)
    title = ranking.TitleMatch(searcher, terms)
    alone = ranking.Factors().add_title_match(title)
    boosted = ranking.Factors(searcher.reader(), ranking.parse_boosts(["quality"]), None, 5).add_title_match(title)
    for factor in (alone, boosted):
        expected = [factor(d) for d in range(n)]
        assert factor_values(factor, docs).tolist() == expected
        assert factor_values(factor, docs[::3]).tolist() == expected[::3]
    if terms[0] != "solar":
        assert any(v != 1.0 for v in factor_values(alone, docs).tolist())  # premise: some titles lifted


TITLE_TERMS = [
    ["central", "bank"],
    ["facial", "recognit"],
    ["solar", "storm", "xyzzy"],
    ["electr", "bus", "fleet"],
    ["rate", "rate"],  # one distinct word: no title factor
    ["polic", "protest", "london"],
]


@pytest.mark.parametrize("terms", TITLE_TERMS, ids=" ".join)
def test_the_array_title_match_is_title_match_bit_for_bit(churned: Index, terms: list[str]) -> None:
    """backends.titles reads the title postings a block at a time and sums
    with numpy: the same factors as ranking.TitleMatch's walk over Whoosh's
    searcher, on several segments with deleted documents."""
    from search.planning import ranking
    from search.planning.request import SearchRequest

    context = churned._ensure()
    slow = ranking.TitleMatch(context.searcher, terms).found
    fast = context.title_match(SearchRequest(text=" ".join(terms)), terms, None).found
    assert fast == slow
    assert all(type(v) is float for v in fast.values())
    if terms[0] in ("central", "facial"):
        assert slow  # premise: some titles are lifted


def test_the_title_postings_skip_deleted_documents(churned: Index) -> None:
    from whoosh import query as wq

    from search.deadline import Deadline
    from search.planning.request import SearchRequest

    context = churned._ensure()
    context.title_match(SearchRequest(text="x"), [], None)
    postings = context._titles
    assert postings is not None
    searcher = context.searcher
    for term in ("facial", "recognit", "rate", "bank", "xyzzy"):
        expected = sorted(searcher.docs_for_query(wq.Term("title", term)))
        assert postings.docs("title", term, Deadline(None)).tolist() == expected


def test_the_dates_column_is_read_whole_as_whoosh_reads_it(churned: Index) -> None:
    """collapse.DuplicateKeys.dates: one read per segment, the values of
    Whoosh's column reader for every document (MISSING_LOW when undated)."""
    from search.backends.collapse import DuplicateKeys

    reader = churned._ensure().searcher.reader()
    keys = DuplicateKeys(reader)
    column = reader.column_reader("newest")
    dates = keys.dates()
    assert dates.tolist() == [column[d] for d in range(reader.doc_count_all())]
    assert (dates > query.MISSING_LOW).any() and (dates == query.MISSING_LOW).any()  # premise: dated and undated
    assert [keys.published(d) for d in range(5)] == [
        None if column[d] <= query.MISSING_LOW else column[d] for d in range(5)
    ]


#: One query in a fresh process: the page as JSON, and whether numpy was imported.
_ONE_QUERY = """
import json, sys
if sys.argv[1] == "numpy":
    import numpy  # paid already: the engine runs the query
import search
from search.backends import costs
with search.open_index(sys.argv[2]) as ix:
    page = ix.search(sys.argv[3], **json.loads(sys.argv[4]))
print(json.dumps({
    "numpy": "numpy" in sys.modules and sys.argv[1] != "numpy",
    "total": page.total, "relaxed": page.relaxed, "facets": repr(page.facets),
    "hits": [[h.id, h.duplicates, h.snippet, h.title] for h in page.hits],
    "scores": [h.score for h in page.hits],
}))
"""


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("rates", {}),
        ("facial", {"topics": ["Technology", "AI"]}),
        ("bank", {"boost": ["recency:30d", "quality"]}),
        ("rates", {"collapse": False, "limit": 3, "page": 2}),
        ("rates -bank", {"feedback": False}),
        ("zürich", {}),
    ],
    ids=str,
)
def test_a_first_query_without_numpy_gives_the_engines_page(
    churned: Index, text: str, options: dict[str, Any]
) -> None:
    """A process that has not imported numpy runs a query of few postings on
    Whoosh's searcher (search.backends.costs: the CLI's cold start), and its
    page is the one the engine gives: hits, copies, snippets, facets, totals."""
    import json
    import subprocess
    import sys

    index = str(churned.index_dir)
    pages = {}
    for mode in ("numpy", "plain"):
        done = subprocess.run(
            [sys.executable, "-c", _ONE_QUERY, mode, index, text, json.dumps(options)],
            capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        pages[mode] = json.loads(done.stdout)
    fast, slow = pages["numpy"], pages["plain"]
    assert slow["numpy"] is False  # the premise: Whoosh's searcher ran it, numpy never loaded
    assert fast["hits"] and fast["total"] > 0
    assert {k: v for k, v in fast.items() if k != "scores"} == {k: v for k, v in slow.items() if k != "scores"}
    assert fast["scores"] == pytest.approx(slow["scores"], rel=1e-12)


def test_a_first_query_of_many_postings_or_feedback_uses_the_engine(churned: Index) -> None:
    """The cost rule both ways: few postings without feedback stay on Whoosh's
    searcher; feedback (two words or more) or more postings than
    costs.WHOOSH_MAX_POSTINGS take the engine, numpy and all."""
    import subprocess
    import sys

    from search.backends import costs

    index = str(churned.index_dir)
    snippet = (
        "import sys, search\n"
        "from search.backends import costs\n"
        "costs.WHOOSH_MAX_POSTINGS = int(sys.argv[3])\n"
        "with search.open_index(sys.argv[1]) as ix:\n"
        "    ix.search(sys.argv[2], facets=False)\n"
        "print('numpy' in sys.modules)\n"
    )

    def imports_numpy(text: str, bound: int = costs.WHOOSH_MAX_POSTINGS) -> bool:
        done = subprocess.run(
            [sys.executable, "-c", snippet, index, text, str(bound)], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip() == "True"

    assert imports_numpy("rates") is False
    assert imports_numpy("central bank") is True  # feedback reads whole posting lists
    assert imports_numpy("rates", bound=1) is True  # more postings than the bound


@pytest.mark.parametrize("terms", TITLE_TERMS, ids=" ".join)
def test_the_title_lookup_counts_as_whoosh_and_the_factor_arrays_are_its_dictionary(
    churned: Index, terms: list[str]
) -> None:
    """One term-table lookup a segment gives Whoosh's document frequency
    (deleted documents included); factor_values reads the factors from the
    arrays ArrayTitleMatch keeps beside its dictionary, with the same values."""
    import numpy as np

    from search.backends.engine import factor_values
    from search.planning import ranking
    from search.planning.request import SearchRequest

    context = churned._ensure()
    match = context.title_match(SearchRequest(text=" ".join(terms)), terms, None)
    postings = context._titles
    assert postings is not None
    for term in terms:
        assert postings.lookup("title", term)[0] == context.searcher.doc_frequency("title", term)
    # Whether some title has every word (feedback is skipped then) is the same on both.
    assert match.whole == ranking.TitleMatch(context.searcher, terms).whole
    if match.arrays is not None:
        docs, factors = match.arrays
        assert dict(zip(docs.tolist(), factors.tolist(), strict=True)) == match.found
        assert docs.tolist() == sorted(match.found)
    n = context.searcher.doc_count_all()
    everything = np.arange(n, dtype=np.int64)
    assert factor_values(ranking.Factors().add_title_match(match), everything).tolist() == [
        match(d) for d in range(n)
    ]


@pytest.mark.parametrize("words", [["central", "bank"], ["electr", "bus", "fleet"], ["solar", "bus"], ["xyzzy", "bank"]])
def test_masks_and_a_restricted_phrase_are_the_full_evaluation_restricted(churned: Index, words: list[str]) -> None:
    """The engine's shortcuts (a word's mask without scores, an And of words as
    masks, a phrase asked about a few documents, an Or of words added from its
    postings) give what evaluating the whole query and then restricting does."""
    import numpy as np
    from whoosh import query as wq

    from search.storage.schema import TEXT_FIELD

    fast = churned._ensure().engine()
    fast.start()
    terms = [wq.Term(TEXT_FIELD, w) for w in words]
    anyone = np.zeros(fast.n, dtype=bool)
    for w in words:
        assert (fast.term_mask(w) == fast.term_matches(w)[0]).all()
        anyone |= fast.term_mask(w)
    among = anyone.copy()
    among[::2] = False
    for subset in (anyone, among):
        every = fast.matches(wq.And(terms), subset)[0]
        assert (fast.every_mask(terms, subset) == every).all()
    phrase = wq.Phrase(TEXT_FIELD, words, slop=3)
    whole_mask, whole = fast.phrase_matches(phrase)
    part_mask, part = fast.phrase_matches(phrase, among)
    if words == ["central", "bank"]:
        assert (whole_mask & among).any()  # premise: the phrase is found among the asked documents
    assert (part_mask == (whole_mask & among)).all()
    assert part[part_mask].tolist() == whole[part_mask].tolist()
    boosted = wq.Or([wq.Term(TEXT_FIELD, w, boost=1.5 + i) for i, w in enumerate(words)])
    mask, scores = fast.matches(boosted, among)
    expected = np.zeros(fast.n)
    for i, w in enumerate(words):
        expected += fast.term_matches(w, 1.5 + i)[1]
    assert (mask == (anyone & among)).all()
    assert scores.tolist() == np.where(among, expected, 0.0).tolist()


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(1, 600),
    seed=st.integers(0, 2**32 - 1),
    bonus_every=st.integers(1, 4),
    wanted=st.integers(1, 30),
)
def test_a_widened_proximity_window_asks_each_documents_bonus_once(
    size: int, seed: int, bonus_every: int, wanted: int
) -> None:
    """engine.rank_matches is engine.rank over arrays, and when the window
    widens (many candidates of close scores) the bonus is asked only of the
    documents the wider window adds."""
    import numpy as np

    from search.backends import engine

    # Close scores: a candidate past the first window can still reach the page, so it widens.
    values = np.random.default_rng(seed).integers(10, 13, size).astype(np.float64)
    mask = np.ones(size, dtype=bool)
    candidates = np.arange(size) % 2 == 0
    asked: list[int] = []

    def extra(doc: int) -> float:
        return float(values[doc]) if doc % bonus_every == 0 else 0.0

    def bonus(docs: Any) -> Any:
        asked.extend(docs.tolist())
        return np.array([extra(d) for d in docs.tolist()], dtype=np.float64)

    fast = engine.rank_matches((mask, values), wanted, bonus, None, candidates)
    assert len(asked) == len(set(asked))
    slow = engine.rank(
        dict(enumerate(values.tolist())),
        wanted,
        lambda docs: {d: extra(d) for d in docs},
        None,
        set(np.flatnonzero(candidates).tolist()),
    )
    assert fast == slow


def test_a_terms_batches_double_across_the_segments(churned: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    """A term's postings are read in batches that keep doubling from one
    segment to the next, the clock asked before each: a few looks for any
    term, however many segments hold it, and the same postings."""
    from search.backends import engine
    from search.deadline import Deadline

    class Counting(Deadline):
        looks = 0

        def expired(self) -> bool:
            Counting.looks += 1
            return super().expired()

    fast = churned._ensure().engine()
    fast.start()
    docs, scores = fast.postings("rate")
    held = [len(found[1]) for number in range(len(fast.segments)) if (found := fast.segment_term(number, b"rate"))]
    holding, postings = len(held), sum(held)  # deleted documents' postings too
    assert holding == len(fast.segments) > 1 and len(docs) > 8  # premise: a common word in every segment
    monkeypatch.setattr(engine, "FIRST_BATCH", 1)
    fast.start(Counting(None))
    again = fast.postings("rate")
    assert again[0].tolist() == docs.tolist() and again[1].tolist() == scores.tolist()
    # One look before the first segment, one before each segment, one before
    # each batch after a segment's first; batches of 1, 2, 4, ... postings.
    assert Counting.looks <= holding + postings.bit_length()


@pytest.mark.parametrize("arrays", [True, False], ids=["side-car titles", "Whoosh titles"])
def test_the_exact_title_factor_lifts_the_documents_it_lists(churned: Index, arrays: bool) -> None:
    """engine.title_factors: when the title factor is the only one (from
    either way of computing it), the documents it lifts and their factors,
    every other document's factor 1.0; None with a --boost factor, whose
    values come from a column per document."""
    import numpy as np

    from search.backends import engine
    from search.deadline import Deadline
    from search.planning import ranking
    from search.planning.request import SearchRequest

    context = churned._ensure()
    n = context.searcher.doc_count_all()
    match = context.title_match(SearchRequest(text="central bank"), ["central", "bank"], Deadline(None), arrays)
    factor = ranking.Factors().add_title_match(match)
    assert match.found and factor.title is match  # premise: some title has the words
    found = engine.title_factors(factor)
    assert found is not None
    keys, lifted = found
    assert keys.tolist() == sorted(keys.tolist()) and all(f > 1.0 for f in lifted.tolist())
    listed = dict(zip(keys.tolist(), lifted.tolist(), strict=True))
    assert [listed.get(d, 1.0) for d in range(n)] == [factor(d) for d in range(n)]
    assert engine.factor_values(factor, np.arange(n, dtype=np.int64)).tolist() == [factor(d) for d in range(n)]
    boosted = context.factors(ranking.parse_boosts(("quality",)))
    assert boosted is not None and engine.title_factors(boosted.add_title_match(match)) is None
