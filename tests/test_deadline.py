"""The query deadline (search.deadline): it fires on every path a query can
take, and a query cut short returns a valid part of its answer, marked.

No test here measures speed.  A deadline that expires after a given number
of looks at the clock (ExpiresAfter) stands in for a slow machine: it shows
that each loop asks, and that what it returns when told to stop is a subset
of the full answer (never a document the full query would not match)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from search import build_index, open_index
from search.api import Index
from search.cli.main import app
from search.deadline import DOCS_PER_CHECK, Deadline
from search.errors import QueryError, UsageError
from search.backends.query import matching_docs, run_search
from search.bounds import MAX_LIMIT
from search.planning.request import SearchRequest
from search.results import ResultPage
from search.planning.syntax import MAX_EXPANSION

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
#: More documents than DOCS_PER_CHECK, so that Whoosh's loops look at the clock mid-segment.
N_RECORDS = 3 * DOCS_PER_CHECK


class ExpiresAfter(Deadline):
    """A deadline that expires at its (checks + 1)-th look at the clock; each
    share of it (a stage that must leave time to the next) counts its own."""

    def __init__(self, checks: int) -> None:
        super().__init__(None)
        self.checks = self.left = checks
        self.looks = 0

    def expired(self) -> bool:
        self.looks += 1
        if not self.fired:
            self.left -= 1
            self.fired = self.left < 0
        return self.fired

    def share(self, fraction: float) -> Deadline:
        part = ExpiresAfter(self.checks)
        part.fired = self.fired
        self._shares.append(part)  # so that its firing counts in timed_out, as Deadline.share does
        return part


def _record(n: int) -> str:
    words = [w for i, w in enumerate(WORDS) if (n * 7 + i * 3) % (i + 2) == 0] or ["alpha"]
    body = " ".join(words * (1 + n % 3)) + f" w{n}x q{n}a q{n}b"
    return (
        "---\n"
        f'title: "Story {n} {words[0]}"\n'
        f"publishedDateTime: 2020-01-{1 + n % 28:02d}T{n % 24:02d}:00:00Z\n"
        f"quality: {n % 10}\n"
        "---\n"
        f"{body}\n"
    )


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    root = tmp_path_factory.mktemp("deadline")
    records = root / "records"
    records.mkdir()
    for n in range(N_RECORDS):
        (records / f"r{n:04d}.md").write_text(_record(n), encoding="utf-8")
    report = build_index([records], root / "index")
    assert report.added == N_RECORDS and not report.skipped
    with open_index(root / "index") as index:
        yield index


def _run(ix: Index, deadline: Deadline, text: str, **options: Any) -> ResultPage:
    request = SearchRequest(text=text, limit=MAX_LIMIT, collapse=False, **options)
    return run_search(ix._ensure(), request, deadline)


def _full(ix: Index, text: str, **options: Any) -> ResultPage:
    page = _run(ix, Deadline(None), text, **options)
    assert not page.timed_out and page.total == len(page.hits)
    return page


# -- the object ----------------------------------------------------------------------------------


def test_a_deadline_expires_once_and_stays_expired() -> None:
    never = Deadline(None)
    assert not never.expired() and not never.timed_out
    gone = Deadline(0)
    assert gone.expired() and gone.fired and gone.expired()
    with pytest.raises(ValueError):
        Deadline(-1)


def test_a_share_that_fires_marks_its_parent_timed_out_without_expiring_it() -> None:
    whole = Deadline(3600)
    part = whole.share(0.0)
    assert part.expired()
    assert whole.timed_out and not whole.expired()


# -- every path ----------------------------------------------------------------------------------

PATHS = {
    "engine": ("alpha beta gamma", {}),
    "engine-required": ("+alpha beta", {}),
    "whoosh-sorted": ("alpha beta gamma", {"sort": "newest"}),
    "whoosh-quality": ("alpha delta", {"sort": "quality"}),
    "whoosh-raw": ("alpha OR beta OR title:gamma", {"raw": True}),
    "whoosh-raw-sorted": ("alpha OR delta", {"raw": True, "sort": "oldest"}),
    "expansion": ("w*", {"raw": True}),
    "expansion-range": ("text:[w1 TO w4]", {"raw": True}),
}


@pytest.mark.parametrize(("text", "options"), PATHS.values(), ids=PATHS.keys())
def test_an_expired_deadline_fires_on_every_path(many: Index, text: str, options: dict[str, Any]) -> None:
    assert _full(many, text, **options).total > DOCS_PER_CHECK  # enough work to be cut
    page = _run(many, Deadline(0), text, **options)
    assert page.timed_out and page.hits == () and page.total == 0


@pytest.mark.parametrize(("text", "options"), PATHS.values(), ids=PATHS.keys())
def test_a_deadline_met_midway_returns_a_valid_part_marked(many: Index, text: str, options: dict[str, Any]) -> None:
    full = _full(many, text, **options)
    everything = {hit.id for hit in full.hits}
    partial_seen = False
    for checks in (0, 1, 2, 3, 5, 8, 13, 40):
        deadline = ExpiresAfter(checks)
        page = _run(many, deadline, text, **options)
        got = [hit.id for hit in page.hits]
        assert set(got) <= everything and len(got) == len(set(got))
        assert page.total <= full.total
        if page.timed_out:
            partial_seen |= 0 < len(got) < len(everything)
            # Every match found is on the page (it holds them all): none is lost to collection running out.
            assert len(got) == page.total
        else:
            assert deadline.looks > 0  # the path looked at the clock, and was not stopped
            assert got == [hit.id for hit in full.hits] and page.total == full.total
        if options.get("sort") and len(got) > 1:
            key = {"newest": "published", "oldest": "published", "quality": "quality"}[options["sort"]]
            values = [getattr(hit, key) for hit in page.hits]
            assert values == sorted(values, reverse=options["sort"] != "oldest")
    assert partial_seen, "no deadline cut this query midway"


@pytest.mark.parametrize("options", [{}, {"sort": "newest"}, {"raw": True}], ids=["engine", "sorted", "raw"])
def test_a_cut_exclusion_never_lets_an_excluded_document_through(many: Index, options: dict[str, Any]) -> None:
    text = "alpha AND NOT beta" if options.get("raw") else "alpha -beta"
    with_beta = {hit.id for hit in _full(many, "beta").hits}
    assert with_beta
    for checks in range(12):
        page = _run(many, ExpiresAfter(checks), text, **options)
        assert not {hit.id for hit in page.hits} & with_beta


def test_matching_walks_in_document_order_so_a_cut_set_is_a_prefix(many: Index) -> None:
    from whoosh import query

    searcher = many._ensure().searcher
    q = query.Or([query.Term("text", "alpha"), query.Term("text", "beta")])
    full = matching_docs(searcher, q, Deadline(None))
    cut = matching_docs(searcher, q, ExpiresAfter(1))
    assert cut and cut < full
    assert cut == {d for d in full if d <= max(cut)}


def test_the_library_takes_a_time_limit(many: Index) -> None:
    assert not many.search("alpha beta").timed_out
    assert not many.search("alpha beta", time_limit=None).timed_out
    assert not many.search("alpha beta", time_limit=0).timed_out  # 0: no limit, as on the command line
    for options in ({}, {"sort": "newest"}, {"raw": True}):
        page = many.search("alpha beta", time_limit=1e-9, **options)
        assert page.timed_out and page.to_dict()["timed_out"] is True
    with pytest.raises(UsageError, match="time_limit"):
        many.search("alpha", time_limit=-1)


# -- expansion: capped ---------------------------------------------------------------------------


def test_a_raw_expansion_is_capped_and_the_message_says_the_cap(many: Index) -> None:
    assert 2 * N_RECORDS > MAX_EXPANSION  # q{n}a and q{n}b: more terms than the cap
    for text in ("q*", "text:[q0 TO q99999]", "q*a OR q*b"):
        with pytest.raises(QueryError) as caught:
            many.search(text, raw=True)
        assert f"more than {MAX_EXPANSION:,} terms" in str(caught.value) and caught.value.query == text
    assert many.search("w*", raw=True).total == N_RECORDS  # under the cap: every term used


def test_star_alone_is_every_document_without_listing_terms(many: Index) -> None:
    page = many.search("*", raw=True, time_limit=None)
    assert page.total == N_RECORDS and not page.timed_out


# -- the command line ----------------------------------------------------------------------------


def test_cli_marks_a_timed_out_query_in_json_and_warns_on_stderr(many: Index) -> None:
    runner = CliRunner()
    index = str(many.index_dir)
    result = runner.invoke(app, ["query", "alpha beta", "--index", index, "--time-limit", "1e-9", "--json"])
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert page["timed_out"] is True
    assert "time limit" in result.stderr and "--time-limit" in result.stderr
    quiet = runner.invoke(app, ["query", "alpha beta", "--index", index, "--json"])
    assert json.loads(quiet.stdout)["timed_out"] is False and quiet.stderr == ""
    table = runner.invoke(app, ["query", "alpha beta", "--index", index, "--time-limit", "1e-9"])
    assert table.exit_code == 0 and "warning" in table.stderr and "warning" not in table.stdout


# -- any text, even with no time at all: a page or a QueryError ------------------------------------

TOKENS = WORDS + ["w1x", "q*", "w*", "*", "?", "(", ")", '"', "AND", "OR", "NOT", "-", "+", "[w1 TO w2]", "title:", " "]
texts = st.text() | st.text(alphabet=string.printable) | st.lists(st.sampled_from(TOKENS), max_size=20).map(" ".join)


@settings(max_examples=120, deadline=None, database=None)
@given(text=texts, raw=st.booleans(), sort=st.sampled_from(["relevance", "newest"]), checks=st.integers(0, 30))
def test_property_any_text_under_any_deadline_is_a_page_or_a_query_error(
    many: Index, text: str, raw: bool, sort: str, checks: int
) -> None:
    request = SearchRequest(text=text, raw=raw, sort=sort, limit=5)
    try:
        page = run_search(many._ensure(), request, ExpiresAfter(checks))
    except QueryError as exc:
        assert raw and exc.query == text
    else:
        assert isinstance(page, ResultPage) and page.total >= len(page.hits) and len(page.hits) <= 5
