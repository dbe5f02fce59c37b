"""The schema module: the fast indexing path agrees with the query analyzer,
and an Article becomes the documents the query side expects."""

from __future__ import annotations

import json
import os
import struct
from datetime import datetime, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from search.records import Article, Provider, Stub
from search.storage.schema import (
    CHANGED,
    SAME,
    SAME_RACY,
    _decode_source,
    _FAST,
    PART_GAP,
    MISSING_HIGH,
    MISSING_LOW,
    article_documents,
    _FastAnalysis,
    _encode_positions,
    build_schema,
    compare_stat,
    decode_source,
    doc_id,
    encode_source,
    stat_key,
    text_analyzer,
)
from search.storage.stored import pack_record, unpack_record

ANALYZER = text_analyzer()
WORDS = st.sampled_from(
    [
        "The",
        "running",
        "Élections",
        "régionales",
        "U.S.",
        "it's",
        "co-operative",
        "3.5%",
        "日銀",
        "Zürich",
        "İstanbul",
        "ﬁnance",
        "日銀",
        "マイナス金利政策の解除を決定",
        "H3ロケット1号機",
        "한국은행",
        "金",
        "a",
        "of",
        "THE",
        "Naïve",
        "façade",
        "O'Brien",
        "e-mail",
        "\u0301",
        "x\u0301y",
    ]
)


def analyzer_terms(text: str) -> list[tuple[str, int]]:
    return [(t.text, t.pos) for t in ANALYZER(text, positions=True, mode="index")]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(WORDS | st.text(max_size=8)).map(" ".join)))
def test_fast_analysis_gives_the_query_analyzers_terms_and_positions(text: str) -> None:
    assert list(_FAST.terms(text)) == analyzer_terms(text)


TEXTS = st.one_of(st.text(), st.lists(WORDS | st.text(max_size=8)).map(" ".join))


def reference_postings(parts: list[tuple[str, float]]) -> dict[bytes, tuple[int, float, list[int]]]:
    """What FastText indexes for weighted parts, from the Whoosh analyzer's terms."""
    positions: dict[str, list[int]] = {}
    weights: dict[str, float] = {}
    base = 0
    for text, weight in parts:
        last = -1
        for term, pos in analyzer_terms(text):
            last = base + pos
            positions.setdefault(term, []).append(last)
            weights[term] = weights.get(term, 0.0) + weight
        if last >= 0:
            base = last + PART_GAP
    return {t.encode("utf-8"): (len(p), weights[t], p) for t, p in positions.items()}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(TEXTS, st.sampled_from([1.0, 2.0, 0.5])), max_size=4))
def test_fast_postings_are_the_analyzers_terms_with_weights_and_positions(parts: list[tuple[str, float]]) -> None:
    decode = build_schema()["text"].format.decoder("positions")
    for _ in range(2):  # the second time from the analysis caches
        found = {t: (freq, weight, list(decode(value))) for t, freq, weight, value in _FAST.postings(parts)}
        assert found == reference_postings(parts)


@given(st.lists(st.integers(min_value=0, max_value=2**31 - 1), min_size=1).map(sorted))
def test_positions_are_encoded_as_whoosh_encodes_them(positions: list[int]) -> None:
    assert _encode_positions(positions) == build_schema()["text"].format.encode(positions)


def test_fast_analysis_stems_each_word_once_however_often_it_occurs() -> None:
    analysis = _FastAnalysis()
    stemmed: list[str] = []
    stem = analysis.stem
    analysis.stem = lambda word: stemmed.append(word) or stem(word)  # type: ignore[method-assign]
    text = "U.S. officials said O'Neill's 1.5 mln dlr plan was running. " * 20
    first = list(analysis.terms(text))
    assert first == analyzer_terms(text)
    assert sorted(stemmed) == sorted(set(stemmed))  # dotted words' parts too: each stemmed once
    assert list(analysis.terms(text)) == first and len(stemmed) == len(set(stemmed))


def test_fast_analysis_folds_case_and_accents_stems_and_drops_stop_words() -> None:
    assert [t for t, _ in _FAST.terms("The Élections in Zürich are running")] == ["elect", "zurich", "run"]


def test_fast_postings_count_each_term_once_with_its_positions() -> None:
    postings = {term: (freq, weight) for term, freq, weight, _ in _FAST.postings("storm solar storm")}
    assert postings == {b"storm": (2, 2.0), b"solar": (1, 1.0)}


def _article(**overrides: object) -> Article:
    values: dict[str, object] = dict(
        path=Path("/records/a.md"),
        title="Solar storm",
        excerpt="Lights in the sky",
        body="Long body",
        published=datetime(2020, 2, 12, 4, tzinfo=timezone.utc),
        url="https://example.com/a",
        amp_url=None,
        cdn_amp_url=None,
        type="article",
        category="news",
        quality=59,
        heat=-1,
        is_published=True,
        provider=Provider("Example News", "example.com"),
        topics=("Space", "Energy"),
        images=(),
        related=(
            Stub(
                title="Stub one",
                excerpt=None,
                published=None,
                url="https://example.com/s1",
                provider=None,
                quality=None,
                images=(),
                record={"title": "Stub one"},
            ),
        ),
        extra={},
        warnings=(),
    )
    values.update(overrides)
    return Article(**values)  # type: ignore[arg-type]


def test_an_article_and_its_stubs_share_the_path_and_stubs_point_to_their_parent() -> None:
    article, stub = article_documents(_article(), 10, 20, "abc")
    assert article["kind"] == "article" and stub["kind"] == "related"
    assert article["path"] == stub["path"] == "/records/a.md"
    assert article["id"] == doc_id("/records/a.md") and stub["id"] == article["id"] + "-r1"
    assert stub["parent"] == article["id"]
    assert decode_source(article["source"]) == ("/records/a.md", 10, 20, "abc")
    assert "source" not in stub
    # An article is found by its webUrl through `url` alone; a stub also by `stub_url`.
    assert article["url"] == "https://example.com/a" and "article_url" not in article
    assert stub["url"] == stub["stub_url"] == "https://example.com/s1"


def test_exact_values_keep_case_and_sort_columns_put_missing_values_last() -> None:
    (doc,) = article_documents(_article(related=(), published=None, quality=None), 1, 1, "x")
    assert doc["topic"] == "Space\x1fEnergy"
    assert doc["provider"] == "Example News" and doc["domain"] == "example.com"
    assert doc["newest"] == MISSING_LOW and doc["oldest"] == MISSING_HIGH and doc["quality"] == MISSING_LOW
    assert "date" not in doc and "year" not in doc


def test_dated_article_gets_epoch_seconds_and_year() -> None:
    (doc,) = article_documents(_article(related=()), 1, 1, "x")
    assert doc["date"] == doc["newest"] == doc["oldest"] == 1581480000
    assert doc["year"] == "2020"


def test_source_and_record_round_trip() -> None:
    assert decode_source(encode_source("/a/b é.md", 5, 6, "d")) == ("/a/b é.md", 5, 6, "d")
    assert decode_source(b"") is None
    record = {"title": "Ünïcode", "topics": ["AI"]}
    assert unpack_record(pack_record(record, "Ünïcode", None), "Ünïcode", None) == record


def test_cjk_runs_are_indexed_as_overlapping_bigrams() -> None:
    assert [t for t, _ in _FAST.terms("日銀 マイナス金利")] == ["日銀", "マイ", "イナ", "ナス", "ス金", "金利"]
    assert [t for t, _ in _FAST.terms("H3ロケット")] == ["h3", "ロケ", "ケッ", "ット"]


@given(st.text(alphabet=st.sampled_from("ab 1.日銀マイナスé金利한국"), max_size=12))
def test_has_cjk_answers_as_a_scan_of_the_text_does(text: str) -> None:
    # has_cjk skips the scan of an ASCII text; a CJK letter anywhere, alone or among others, is found.
    from search.storage.schema import _CJK, has_cjk

    assert has_cjk(text) == (_CJK.search(text) is not None)
    assert has_cjk("x" * 50 + "日") and not has_cjk("U.S. é 1.5")


def test_cjk_bigrams_point_at_their_characters_for_highlighting() -> None:
    text = "決定 金利政策"
    spans = [(t.text, text[t.startchar : t.endchar]) for t in ANALYZER(text, chars=True)]
    assert spans == [("決定", "決定"), ("金利", "金利"), ("利政", "利政"), ("政策", "政策")]


def test_indexed_sources_reads_every_segment_as_whoosh_does(churned_index: Path) -> None:
    """The bookkeeping column read in one call a segment gives what Whoosh's
    per-document lookup gives, on several segments with deleted documents."""
    from search.storage.schema import decode_source, indexed_sources
    from search.storage.store import Store

    records = churned_index.parent / "records"
    _gen, ix = Store(churned_index).open()
    try:
        with ix.reader() as reader:
            assert not reader.is_atomic() and reader.has_deletions()  # the premise: segments, deletions
            column = reader.column_reader("source", translate=False)
            expected = {}
            for docnum in reader.all_doc_ids():
                decoded = decode_source(column[docnum])
                if decoded is not None:
                    expected[decoded[0]] = (*decoded[1:], bool(column[docnum][len(decoded[0].encode()) + 1] & 2))
        found = indexed_sources(ix)
    finally:
        ix.close()
    assert found == expected
    assert len(found) == len([p for p in records.iterdir() if p.is_file()])


def _stored_column_bytes(index_dir: Path) -> int:
    """The bytes of the stored-fields column and the record column of every segment of an index."""
    from whoosh.filedb.filestore import FileStorage

    from search.storage.store import Store

    ix = FileStorage(str(Store(index_dir).current_dir()), readonly=True, supports_mmap=False).open_index()
    total = 0
    for segment in ix._segments():
        storage = segment.open_compound_file(ix.storage)
        total += sum(
            storage.file_length(name) for name in storage.list() if name.endswith(("._stored.col", ".record.col"))
        )
        storage.close()
    ix.close()
    return total


def test_a_record_costs_about_its_json_compressed_alone(tmp_path: Path) -> None:
    """The record is compressed apart from the stored fields, with the title
    and excerpt it repeats as the preset dictionary of its stream
    (search.storage.stored), so the excerpt is not paid for twice; in a
    stored field of its own compressed first, it was pickled as latin-1 text
    and compressed again, and the excerpt was compressed a second time."""
    import random
    import zlib

    from search import build_index

    rng = random.Random(7)
    vocabulary = [f"{a}{b}" for a in ("cocoa", "grain", "oil", "trade", "bank", "rate") for b in ("s", "ed", "ing", "")]
    vocabulary += ["the", "of", "said", "mln", "dlrs", "pct", "in", "to", "a", "for", "year", "U.S."]
    body = " ".join(rng.choice(vocabulary) + rng.choice(["", "", "", ",", "."]) for _ in range(2000))
    excerpt = " ".join(rng.choice(vocabulary) for _ in range(300))
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "a.md").write_text(
        f"---\ntitle: Cocoa exports rise\nexcerpt: {excerpt}\npublishedDateTime: 2020-02-12T04:00:00Z\n---\n\n{body}\n",
        "utf-8",
    )
    build_index([folder], tmp_path / "index", procs=1)
    record = {"title": "Cocoa exports rise", "excerpt": excerpt, "publishedDateTime": "2020-02-12T04:00:00Z", "body": body}
    alone = len(zlib.compress(json.dumps(record, ensure_ascii=False).encode("utf-8"), 3))
    # The rest (the path, id, field names, dates) is some 400 bytes; the
    # excerpt compressed a second time, apart from the record, was 1,000 more.
    assert _stored_column_bytes(tmp_path / "index") < alone + 700


def test_a_record_files_documents_are_found_by_its_terms_not_by_its_path(seed_index_dir: Path) -> None:
    """The path is stored, not indexed (a term per record): record_terms
    finds the article and its stubs, as deleting a record file needs."""
    from whoosh import query

    from search.storage.schema import record_terms
    from search.storage.store import Store

    _gen, ix = Store(seed_index_dir).open()
    with ix.searcher() as searcher:
        assert "path" not in searcher.reader().indexed_field_names()
        by_path: dict[str, set[int]] = {}
        for docnum, fields in searcher.reader().iter_docs():
            by_path.setdefault(fields["path"], set()).add(docnum)
        assert any(len(docs) > 1 for docs in by_path.values())  # records with stubs
        for path, docs in by_path.items():
            terms = query.Or([query.Term(field, text) for field, text in record_terms(path)])
            assert set(searcher.docs_for_query(terms)) == docs, path
    ix.close()


def test_date_ranges_match_every_document_in_them(tmp_path: Path) -> None:
    """The date field's terms step 16 bits at a time: ranges that start and
    end anywhere (inside a step, on its edges) find exactly their documents."""
    import random

    from whoosh import query

    from search import build_index
    from search.storage.store import Store

    rng = random.Random(11)
    base = 1_581_480_000
    stamps = sorted({base + rng.randrange(-3 * 65_536, 3 * 65_536) for _ in range(120)} | {base, base + 65_536})
    folder = tmp_path / "records"
    folder.mkdir()
    for n, stamp in enumerate(stamps):
        when = datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        (folder / f"{n}.md").write_text(f"---\ntitle: r{n}\npublishedDateTime: {when}\n---\n", "utf-8")
    build_index([folder], tmp_path / "index", procs=1)
    _gen, ix = Store(tmp_path / "index").open()
    with ix.searcher() as searcher:
        dated = {docnum: fields["meta"]["published"] for docnum, fields in searcher.reader().iter_docs()}
        epochs = {d: int(datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()) for d, v in dated.items()}
        bounds = [*rng.sample(stamps, 10), base - 1, base + 65_535, base + 65_536, base + 65_537]
        for low in bounds:
            for high in [None, *bounds]:
                found = set(searcher.docs_for_query(query.NumericRange("date", low, high)))
                assert found == {d for d, e in epochs.items() if e >= low and (high is None or e <= high)}, (low, high)
    ix.close()


#: A file's path as the indexer gets it: text, or bytes that are not UTF-8 decoded
#: with surrogateescape (os.fsdecode), which is how a lone surrogate gets into one.
_PATHS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1) | st.binary(min_size=1).filter(
    lambda raw: b"\x00" not in raw
).map(os.fsdecode)


@given(
    _PATHS,
    st.integers(0, 2**64 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(["0123456789abcdef" * 2, "x", "", "ABCDEF0123456789" * 2]) | st.text(),
    st.booleans(),
)
def test_the_bookkeeping_comes_back_as_it_went_in(
    path: str, size: int, mtime_ns: int, digest: str, racy: bool
) -> None:
    assert decode_source(encode_source(path, size, mtime_ns, digest)) == (path, size, mtime_ns, digest)
    assert _decode_source(encode_source(path, size, mtime_ns, digest, racy)) == (path, size, mtime_ns, digest, racy)


def test_the_racy_flag_is_a_bit_of_the_flag_byte_and_bookkeeping_before_it_is_not_racy() -> None:
    """encode_source's racy bit (search.indexing.indexer) leaves the rest as it was;
    values written before the bit (flag bytes 0 and 1) read back as not racy."""
    path, size, mtime_ns, digest = "/news/a.md", 4_096, 1_700_000_000_000_000_000, "0123456789abcdef" * 2
    numbers = struct.pack("<Qq", size, mtime_ns)
    old_binary = path.encode() + b"\x00\x01" + numbers + bytes.fromhex(digest)
    old_text = path.encode() + b"\x00\x00" + numbers + b"sha:x"
    assert encode_source(path, size, mtime_ns, digest) == old_binary
    assert encode_source(path, size, mtime_ns, "sha:x") == old_text
    assert _decode_source(old_binary) == (path, size, mtime_ns, digest, False)
    assert _decode_source(old_text) == (path, size, mtime_ns, "sha:x", False)
    for text in (digest, "sha:x"):
        racy = encode_source(path, size, mtime_ns, text, racy=True)
        assert _decode_source(racy) == (path, size, mtime_ns, text, True)
        assert decode_source(racy) == (path, size, mtime_ns, text)
        assert len(racy) == len(encode_source(path, size, mtime_ns, text))


def test_compare_stat_tells_a_changed_stat_from_an_unchanged_one_and_a_racy_entry() -> None:
    """The incremental run compares a file's stat with its bookkeeping as bytes (stat_key),
    whatever the digest's form and whether the value was written before the racy bit."""
    hexdigest = "0123456789abcdef" * 2
    for digest in (hexdigest, "sha:x"):
        value = encode_source("/news/é.md", 4_096, -5, digest)
        assert compare_stat(value, stat_key(4_096, -5)) == SAME
        assert compare_stat(value, stat_key(4_096, -4)) == compare_stat(value, stat_key(4_097, -5)) == CHANGED
        racy = encode_source("/news/é.md", 4_096, -5, digest, racy=True)
        assert compare_stat(racy, stat_key(4_096, -5)) == SAME_RACY
    old = "/a.md".encode() + b"\x00\x01" + struct.pack("<Qq", 7, 8) + bytes.fromhex(hexdigest)
    assert compare_stat(old, stat_key(7, 8)) == SAME
    assert compare_stat(b"/a.md\x00\x01" + struct.pack("<Qq", 7, 8)[:9], stat_key(7, 8)) == CHANGED  # cut short


def test_the_bookkeeping_holds_the_numbers_and_the_hash_in_binary() -> None:
    """34 bytes besides the path (a flag, u64, i64, 16 bytes of hash); as text, 57 here."""
    path = "/news/2024/a.md"
    value = encode_source(path, 4_096, 1_700_000_000_123_456_789, "0123456789abcdef" * 2)
    assert len(value) == len(path) + 34
