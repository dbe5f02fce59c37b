"""The news signals (--boost recency / quality): parsing, and what they do to
scores: multiply, neutral (x1) where a record has no value, never reorder
equal records without a reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from search import build_index, open_index
from search.api import Index
from search.errors import UsageError
from search.planning import ranking
from search.planning.ranking import DEFAULT_HALF_LIFE, Boost, FieldLengths, field_tf, parse_boost, parse_boosts

RecordWriter = Callable[..., Path]
DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("recency", Boost("recency", DEFAULT_HALF_LIFE)),
        ("recency:7d", Boost("recency", 7 * DAY)),
        (" Recency : 2w ", Boost("recency", 14 * DAY)),
        ("recency:1y", Boost("recency", 365 * DAY)),
        ("quality", Boost("quality", 1.0)),
        ("quality:2.5", Boost("quality", 2.5)),
    ],
)
def test_parse_boost(text: str, expected: Boost) -> None:
    assert parse_boost(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("heat", "unknown boost 'heat'"),
        ("", "unknown boost ''"),
        ("recency:soon", "invalid duration for `boost`: 'soon'"),
        ("recency:0d", "invalid duration for `boost`"),
        ("quality:-1", "invalid weight for `boost` quality: '-1'"),
        ("quality:0", "invalid weight"),
        ("quality:1e9", "invalid weight"),
        ("quality:nan", "invalid weight"),
    ],
)
def test_bad_boosts_are_usage_errors(text: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_boost(text)
    assert says in str(caught.value) and caught.value.option == "boost"


def test_the_last_boost_of_a_kind_wins_and_order_is_fixed() -> None:
    assert parse_boosts(["quality:2", "recency:7d", "quality"]) == (
        Boost("recency", 7 * DAY),
        Boost("quality", 1.0),
    )


@pytest.fixture()
def dated(write_record: RecordWriter, tmp_path: Path) -> Path:
    # Same text; the older and the undated ones are indexed last, so a plain tie lists them last.
    write_record("a-new.md", 'title: "Rates rise again"\npublishedDateTime: 2023-09-21T08:00:00Z\nquality: 20')
    write_record("b-month.md", 'title: "Rates rise again"\npublishedDateTime: 2023-08-22T08:00:00Z\nquality: 80')
    write_record("c-old.md", 'title: "Rates rise again"\npublishedDateTime: 2015-01-01T08:00:00Z')
    write_record("d-undated.md", 'title: "Rates rise again"\nquality: 40')
    build_index([tmp_path / "records"], tmp_path / "ix")
    return tmp_path / "ix"


def scores(ix: Index, text: str, **options: object) -> dict[str, float]:
    return {Path(h.path).stem: h.score for h in ix.search(text, **options).hits}  # type: ignore[arg-type]


def test_recency_multiplies_by_one_plus_the_decay(dated: Path) -> None:
    with open_index(dated) as ix:
        plain = scores(ix, "rates")
        assert len(set(round(s, 6) for s in plain.values())) == 1  # premise: a four-way tie
        base = plain["a-new"]
        boosted = scores(ix, "rates", boost="recency:30d")
        assert boosted["a-new"] == pytest.approx(2 * base)  # the newest in the index: age 0
        assert boosted["b-month"] == pytest.approx(base * (1 + 0.5 ** (30 / 30)))
        assert boosted["c-old"] == pytest.approx(base, rel=1e-6)  # years old: about x1
        assert boosted["d-undated"] == pytest.approx(base)  # no date: neutral
        order = [Path(h.path).stem for h in ix.search("rates", boost="recency").hits]
        assert order[:2] == ["a-new", "b-month"]


def test_quality_multiplies_by_its_share_of_the_best(dated: Path) -> None:
    with open_index(dated) as ix:
        base = scores(ix, "rates")["a-new"]
        boosted = scores(ix, "rates", boost="quality:2")
        assert boosted["b-month"] == pytest.approx(base * 3)  # the best quality: 1 + 2 x 80/80
        assert boosted["d-undated"] == pytest.approx(base * 2)  # 1 + 2 x 40/80
        assert boosted["a-new"] == pytest.approx(base * 1.5)
        assert boosted["c-old"] == pytest.approx(base)  # no quality: neutral
        both = scores(ix, "rates", boost=["recency:30d", "quality:2"])
        assert both["a-new"] == pytest.approx(base * 2 * 1.5)


def test_a_newer_article_wins_a_tie_when_recency_is_asked_for(tmp_path: Path, write_record: RecordWriter) -> None:
    # Indexed older first: without the boost the older one leads the tie.
    write_record("a-2019.md", 'title: "Central bank raises rates"\npublishedDateTime: 2019-09-19T08:00:00Z')
    write_record("b-2023.md", 'title: "Central bank raises rates"\npublishedDateTime: 2023-09-21T08:00:00Z')
    build_index([tmp_path / "records"], tmp_path / "ix")
    with open_index(tmp_path / "ix") as ix:
        assert [Path(h.path).stem for h in ix.search("central bank").hits] == ["a-2019", "b-2023"]
        assert [Path(h.path).stem for h in ix.search("central bank", boost="recency").hits] == ["b-2023", "a-2019"]


def test_boosts_do_not_outweigh_a_much_better_match(seed_index: Index) -> None:
    # Factors are bounded (at most x2 at weight 1), so a title match still leads a body mention.
    plain = seed_index.search("solar storm").hits
    boosted = seed_index.search("solar storm", boost=["recency", "quality"]).hits
    assert plain[0].id == boosted[0].id
    assert {h.id for h in plain} == {h.id for h in boosted}


@pytest.mark.parametrize("sort", ["newest", "oldest", "quality"])
def test_boosts_with_a_sorted_order_are_a_usage_error(seed_index: Index, sort: str) -> None:
    # A boost multiplies relevance; under a sorted order it would silently do nothing.
    with pytest.raises(UsageError) as caught:
        seed_index.search("bank", sort=sort, boost="recency")
    assert caught.value.option == "boost" and f"`sort` {sort}" in str(caught.value)


# -- BM25F: the title and the rest normalised on their own lengths --------------------------------


def test_field_tf_tells_the_title_from_the_rest_by_weight_and_frequency() -> None:
    averages = FieldLengths(title=4.0, rest=40.0)
    # weight 2 x 1 title occurrence + 1 x 2 others = 4 over 3 occurrences; average lengths.
    tf = field_tf(4.0, 3.0, 44.0, 4.0, averages)
    assert tf == pytest.approx(ranking.TITLE_WEIGHT * 1 + 2)
    # The rest's length moves only the rest's part.
    assert field_tf(2.0, 1.0, 404.0, 4.0, averages) == field_tf(2.0, 1.0, 8.0, 4.0, averages)
    assert field_tf(1.0, 1.0, 404.0, 4.0, averages) < field_tf(1.0, 1.0, 8.0, 4.0, averages)


def test_a_title_word_weighs_the_same_whatever_the_body_length(tmp_path: Path, write_record: RecordWriter) -> None:
    # One length for the whole record let a long story's body drown its headline's words.
    write_record("short.md", "title: 'Solar storm hits grid'", body="Power was cut.")
    write_record("long.md", "title: 'Solar flare hits coast'", body="Power lines were cut across the region. " * 40)
    write_record("other.md", "title: 'Markets close higher'", body="Shares rose.")
    build_index([tmp_path / "records"], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        found = scores(ix, "solar")
    assert found["short"] == pytest.approx(found["long"])


def test_every_part_but_the_title_weighs_one() -> None:
    # field_tf reads a posting's title occurrences as weight - frequency: that holds
    # only while the title is the one part weighing more than 1.
    from search.storage.schema import PART_WEIGHTS

    assert PART_WEIGHTS["title"] > 1
    assert all(weight == 1 for part, weight in PART_WEIGHTS.items() if part != "title")


def test_each_part_is_averaged_over_the_records_that_have_it(tmp_path: Path, write_record: RecordWriter) -> None:
    # Lucene's BM25 averages a field over the documents with it: briefs of a title
    # alone (NPL has 1,684 of 11,429, Reuters 1,798) must not pull the rest's
    # average down, which made every story look longer than it is.
    write_record("story.md", "title: 'Solar storm hits grid'", body="Power lines were cut across the northern region.")
    write_record("brief-a.md", "title: 'Markets close higher'")
    write_record("brief-b.md", "title: 'Rates held'")
    build_index([tmp_path / "records"], tmp_path / "index")
    with open_index(tmp_path / "index") as ix:
        searcher = ix._ensure().searcher
        reader = searcher.reader()
        lengths = {
            Path(searcher.stored_fields(d)["path"]).stem: (
                reader.doc_field_length(d, "text") or 0,
                reader.doc_field_length(d, "title") or 0,
            )
            for d in range(reader.doc_count_all())
        }
        assert [whole - title for whole, title in lengths.values()].count(0) == 2  # premise: two briefs
        assert ranking.part_counts(reader, "text") == (3, 1)
        averages = FieldLengths.of(searcher, "text")
        story_rest = searcher.field_length("text") - searcher.field_length("title")  # exact, not a length byte
        assert averages.rest == pytest.approx(story_rest)  # over the one record with a rest, not three
        assert averages.title == pytest.approx(searcher.avg_field_length("title"))
        with_briefs = scores(ix, "region")["story"] / ranking.robertson_idf(reader.doc_count_all(), 1)
    # So the story's body word weighs the same, beyond its idf, with the briefs beside it or not.
    write_record("story.md", "title: 'Solar storm hits grid'", body="Power lines were cut across the northern region.", folder="alone")
    build_index([tmp_path / "alone"], tmp_path / "alone-index")
    with open_index(tmp_path / "alone-index") as ix:
        alone = scores(ix, "region")["story"] / ranking.robertson_idf(1, 1)
    assert with_briefs == pytest.approx(alone)


def test_field_lengths_from_averages_and_shares() -> None:
    # The cluster's path gives the averages over every document and the shares with each part.
    assert FieldLengths.of_averages(4.0, 24.0) == FieldLengths(title=4.0, rest=20.0)
    assert FieldLengths.of_averages(4.0, 24.0, 1.0, 0.5) == FieldLengths(title=4.0, rest=40.0)
    assert FieldLengths.of_averages(2.0, 12.0, 0.5, 0.25) == FieldLengths(title=4.0, rest=40.0)
    assert FieldLengths.of_averages(None, None, 0.0, 0.0) == FieldLengths(title=1.0, rest=1.0)
