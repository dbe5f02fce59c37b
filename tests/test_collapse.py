"""Duplicate collapsing: copies of one story (same webUrl, or same title from
the same provider) are one hit with a count; totals, facets and pages count stories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from search import build_index, open_index
from search.api import Index
from search.bounds import MAX_LIMIT
from search.records import Provider
from search.storage.schema import duplicate_keys

RecordWriter = Callable[..., Path]


def record(title: str, url: str | None = None, provider: str | None = "Reuters", **extra: str) -> str:
    lines = [f'title: "{title}"']
    if url:
        lines.append(f'webUrl: "{url}"')
    if provider:
        lines += ["provider:", f"  name: {provider}"]
    lines += [f"{key}: {value}" for key, value in extra.items()]
    return "\n".join(lines)


def names(ix: Index, text: str, **options: object) -> list[tuple[str, int]]:
    page = ix.search(text, limit=MAX_LIMIT, facets=False, **options)  # type: ignore[arg-type]
    return [(Path(hit.path).stem, hit.duplicates) for hit in page.hits]


# -- the keys (pure) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/story", "https://example.com/story/"),
        ("https://example.com/story", "https://EXAMPLE.com/story#comments"),
        ("https://example.com/story", " https://example.com/story "),
    ],
)
def test_url_keys_ignore_trailing_slash_fragment_and_host_case(a: str, b: str) -> None:
    assert duplicate_keys("x", a, None)[0] == duplicate_keys("y", b, None)[0] is not None


def test_url_keys_keep_the_path_case_and_query() -> None:
    base = duplicate_keys("x", "https://example.com/Story", None)[0]
    assert base != duplicate_keys("x", "https://example.com/story", None)[0]
    assert base != duplicate_keys("x", "https://example.com/Story?page=2", None)[0]


def test_title_keys_ignore_case_accents_and_punctuation_but_not_the_provider() -> None:
    reuters = Provider("Reuters", "reuters.com")
    key = duplicate_keys("Café prices rise!", None, reuters)
    assert key == duplicate_keys("cafe  PRICES rise", None, Provider("reuters", None))
    assert key != duplicate_keys("Cafe prices rise", None, Provider("AP", None))
    assert key != duplicate_keys("Cafe prices rose", None, reuters)
    assert duplicate_keys("Cafe prices rise", None, None) == (None, None)  # no provider: no title key


def test_title_keys_need_the_same_day_when_dated() -> None:
    reuters = Provider("Reuters", None)
    morning = datetime(1987, 3, 9, 8, 0, tzinfo=timezone.utc)
    evening = datetime(1987, 3, 9, 22, 0, tzinfo=timezone.utc)
    next_week = datetime(1987, 3, 16, 8, 0, tzinfo=timezone.utc)
    key = duplicate_keys("Cash wholesale beef prices", None, reuters, morning)
    assert key == duplicate_keys("Cash wholesale beef prices", None, reuters, evening)  # a resend
    assert key != duplicate_keys("Cash wholesale beef prices", None, reuters, next_week)  # a recurring story
    assert key != duplicate_keys("Cash wholesale beef prices", None, reuters)


# -- searching -------------------------------------------------------------------------------------


@pytest.fixture()
def copies(write_record: RecordWriter, tmp_path: Path) -> Path:
    write_record("a1.md", record("Cocoa harvest fails in Ghana", "https://news.example/cocoa-ghana"))
    write_record("a2.md", record("Cocoa crop in Ghana hit by drought", "https://news.example/cocoa-ghana/"))
    write_record("b1.md", record("Cocoa exports slump", "https://one.example/b1", "AP"))
    write_record("b2.md", record("Cocoa  exports SLUMP!", "https://two.example/b2", "ap"))
    write_record("c1.md", record("Cocoa exports slump", "https://three.example/c1", "Bloomberg"))
    write_record("d1.md", record("Cocoa futures steady", "https://four.example/d1"))
    index_dir = tmp_path / "ix"
    build_index([tmp_path / "records"], index_dir)
    return index_dir


def test_copies_are_one_hit_with_a_count(copies: Path) -> None:
    with open_index(copies) as ix:
        found = names(ix, "cocoa")
        by_group = {name[0]: dups for name, dups in found}
        assert len(found) == 4 and ix.search("cocoa").total == 4
        assert by_group["a"] == 1 and by_group["b"] == 1  # same URL; same title from the same provider
        assert {name for name, _ in found} >= {"c1", "d1"}  # same title, another provider: not a copy
        assert ix.search("cocoa", collapse=False).total == 6
        assert {d for _, d in names(ix, "cocoa", collapse=False)} == {0}


def test_the_best_ranked_copy_represents_the_story(copies: Path) -> None:
    with open_index(copies) as ix:
        assert names(ix, "drought") == [("a2", 0)]  # only one copy matches: no count
        assert ("a1", 1) in names(ix, "harvest OR drought") or ("a2", 1) in names(ix, "harvest OR drought")
        best = ix.search("harvest OR drought", collapse=False).hits[0]
        assert ix.search("harvest OR drought").hits[0].id == best.id


def test_facets_and_pages_count_stories(copies: Path) -> None:
    with open_index(copies) as ix:
        assert ix.search("cocoa").facets.providers == {"Reuters": 2, "AP": 1, "Bloomberg": 1}  # type: ignore[union-attr]
        pages = [ix.search("cocoa", limit=1, page=p).hits for p in range(1, 5)]
        assert [len(hits) for hits in pages] == [1, 1, 1, 1]
        assert len({hits[0].id for hits in pages}) == 4
        assert ix.search("cocoa", limit=1, page=5).hits == ()
        for sort in ("newest", "oldest", "quality"):
            assert ix.search("cocoa", sort=sort).total == 4


def test_copies_chain_into_one_story(write_record: RecordWriter, tmp_path: Path) -> None:
    # a and b share a URL, b and c a title and provider: all three are one story.
    write_record("a.md", record("Steel tariffs announced", "https://x.example/steel"))
    write_record("b.md", record("Steel duties imposed", "https://x.example/steel"))
    write_record("c.md", record("Steel duties imposed", "https://y.example/other"))
    build_index([tmp_path / "records"], tmp_path / "ix")
    with open_index(tmp_path / "ix") as ix:
        assert [d for _, d in names(ix, "steel")] == [2]


def test_copies_in_different_segments_are_collapsed(write_record: RecordWriter, tmp_path: Path) -> None:
    write_record("a.md", record("Gold price jumps", "https://x.example/gold"))
    build_index([tmp_path / "records"], tmp_path / "ix")
    write_record("b.md", record("Gold rallies", "https://x.example/gold"))
    build_index([tmp_path / "records"], tmp_path / "ix")  # incremental: a second segment
    with open_index(tmp_path / "ix") as ix:
        assert [d for _, d in names(ix, "gold")] == [1]


def test_a_deleted_copy_no_longer_counts(write_record: RecordWriter, tmp_path: Path) -> None:
    write_record("a.md", record("Gold price jumps", "https://x.example/gold"))
    gone = write_record("b.md", record("Gold rallies", "https://x.example/gold"))
    build_index([tmp_path / "records"], tmp_path / "ix")
    with open_index(tmp_path / "ix") as ix:
        assert [d for _, d in names(ix, "gold")] == [1]
        gone.unlink()
        build_index([tmp_path / "records"], tmp_path / "ix")
        assert names(ix, "gold") == [("a", 0)]


def test_the_seeds_syndicated_pair_is_one_hit(seed_index: Index) -> None:
    hits = seed_index.search("japan moon landing").hits
    moon = [h for h in hits if "moon" in Path(h.path).name]
    assert len(moon) == 1 and moon[0].duplicates == 1
    assert len([h for h in seed_index.search("japan moon landing", collapse=False).hits if "moon" in h.path]) == 2


# -- the time window (issue 16: resends across midnight) ---------------------------------------------


def test_the_indexed_title_key_leaves_the_day_to_the_window() -> None:
    reuters = Provider("Reuters", None)
    late = datetime(1987, 3, 9, 23, 50, tzinfo=timezone.utc)
    early = datetime(1987, 3, 10, 0, 20, tzinfo=timezone.utc)
    assert duplicate_keys("Oil output up", None, reuters, late) != duplicate_keys("Oil output up", None, reuters, early)
    assert (
        duplicate_keys("Oil output up", None, reuters, late, by_day=False)
        == duplicate_keys("Oil output up", None, reuters, early, by_day=False)
        == duplicate_keys("Oil output up", None, reuters, by_day=False)
    )


def _dated(write_record: RecordWriter, tmp_path: Path, times: dict[str, str | None]) -> Index:
    for name, when in times.items():
        extra = {"publishedDateTime": when} if when else {}
        write_record(f"{name}.md", record("Cattle slaughter guesstimates", **extra))
    build_index([tmp_path / "records"], tmp_path / "ix")
    return open_index(tmp_path / "ix")


def test_a_resend_across_midnight_is_a_copy(write_record: RecordWriter, tmp_path: Path) -> None:
    with _dated(write_record, tmp_path, {"late": "1987-03-09T23:50:00Z", "early": "1987-03-10T00:20:00Z"}) as ix:
        assert [d for _, d in names(ix, "cattle")] == [1]
        assert ix.search("cattle").total == 1


def test_a_recurring_report_a_day_later_is_another_story(write_record: RecordWriter, tmp_path: Path) -> None:
    times = {"mon": "1987-03-09T14:00:00Z", "tue": "1987-03-10T13:30:00Z", "wed": "1987-03-11T14:10:00Z"}
    with _dated(write_record, tmp_path, times) as ix:
        assert sorted(names(ix, "cattle")) == [("mon", 0), ("tue", 0), ("wed", 0)]


def test_copies_within_the_window_chain_into_one_story(write_record: RecordWriter, tmp_path: Path) -> None:
    times = {"a": "1987-03-09T01:00:00Z", "b": "1987-03-09T12:00:00Z", "c": "1987-03-09T23:00:00Z"}
    with _dated(write_record, tmp_path, times) as ix:
        assert [d for _, d in names(ix, "cattle")] == [2]  # a-c are 22 hours apart, joined through b


def test_undated_copies_join_each_other_but_not_dated_ones(write_record: RecordWriter, tmp_path: Path) -> None:
    with _dated(write_record, tmp_path, {"u1": None, "u2": None, "d": "1987-03-09T12:00:00Z"}) as ix:
        found = dict(names(ix, "cattle"))
        assert found["d"] == 0 and sorted(found.values()) == [0, 1] and len(found) == 2
