"""The cluster backend against real searchd processes (Sphinx 2.2.11 here,
the same SphinxQL as Manticore), started on free loopback ports.

Two clusters per session: `seeded` holds seeds/ and is only read; `scratch`
is emptied before each test that writes.  Without a searchd binary these
tests skip, saying so (.ci/run installs Debian's sphinxsearch).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from search import QueryError, open_index
from search.cli.main import app
from search.backends.cluster import daemons, sync, tables
from search.backends.cluster.backend import ClusterIndex
from search.backends.cluster.url import connect
from search.errors import BackendError, EmptySourceError, UsageError
from search.results import KEPT_VERSION

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"


def _free_base(count: int) -> int:
    """A port base with `count` consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        if all(daemons._port_free(port) for port in range(base, base + count)):
            return base
    raise RuntimeError("no free run of loopback ports")


@dataclass
class Cluster:
    root: Path
    layout: daemons.Layout

    @property
    def url(self) -> str:
        return self.layout.url

    def truncate(self) -> None:
        for shard in range(self.layout.shards):
            with contextlib.closing(connect("127.0.0.1", self.layout.sql_port(shard))) as conn, conn.cursor() as cur:
                cur.execute(f"TRUNCATE RTINDEX news_{shard}")

    def restart(self) -> None:
        """Start whichever of its daemons is down (a killed shard)."""
        daemons.up(self.root, self.layout.shards, self.layout.port_base)


#: Stops a cluster when the test process is gone (killed, so no teardown ran):
#: searchd daemonizes, and would otherwise outlive the run.
_WATCHER = """
import os, sys, time
from pathlib import Path
from search.backends.cluster import daemons
parent, root = int(sys.argv[1]), Path(sys.argv[2])
while os.path.exists(f"/proc/{parent}"):
    time.sleep(1)
daemons.down(root)
"""


def _start(root: Path, shards: int = 2) -> Iterator[Cluster]:
    if shutil.which("searchd") is None:
        pytest.skip("searchd is not installed (Debian: apt-get install sphinxsearch; .ci/run installs it)")
    layout = daemons.up(root, shards, _free_base(2 + 2 * shards))
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCHER, str(os.getpid()), str(root)], start_new_session=True
    )
    try:
        yield Cluster(root, layout)
    finally:
        daemons.down(root)
        watcher.kill()
        watcher.wait()


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    for cluster in _start(tmp_path_factory.mktemp("cluster-seeded")):
        report = sync.sync_cluster([SEEDS], cluster.url)
        assert report.added == len(list(SEEDS.iterdir())) and not report.skipped
        yield cluster


@pytest.fixture(scope="session")
def one_shard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """seeds/ on a single shard, where searchd's statistics are the whole collection's."""
    for cluster in _start(tmp_path_factory.mktemp("cluster-one"), shards=1):
        sync.sync_cluster([SEEDS], cluster.url)
        yield cluster


@pytest.fixture(scope="session")
def scratch_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from _start(tmp_path_factory.mktemp("cluster-scratch"))


@pytest.fixture()
def scratch(scratch_cluster: Cluster) -> Cluster:
    scratch_cluster.restart()
    scratch_cluster.truncate()
    return scratch_cluster


@pytest.fixture()
def cix(seeded: Cluster) -> Iterator[ClusterIndex]:
    with ClusterIndex(seeded.url) as ix:
        yield ix


# -- the daemons and the CLI ----------------------------------------------------------


def test_status_json_lists_each_shard_with_port_pid_and_count(seeded: Cluster) -> None:
    result = CliRunner().invoke(app, ["cluster", "status", "--dir", str(seeded.root), "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["url"] == seeded.url
    assert [s["port"] for s in status["shards"]] == [seeded.layout.sql_port(0), seeded.layout.sql_port(1)]
    assert all(s["running"] and s["pid"] > 0 for s in status["shards"])
    # seeds: 51 articles and their related stubs, spread over both shards.
    counts = [s["documents"] for s in status["shards"]]
    assert all(c > 0 for c in counts) and sum(counts) == status["front"]["documents"]


def test_configs_listen_on_loopback_only(seeded: Cluster) -> None:
    for name in seeded.layout.names:
        config = (seeded.root / name / "searchd.conf").read_text()
        listens = [line.split("=", 1)[1].strip() for line in config.splitlines() if line.strip().startswith("listen")]
        assert listens and all(value.startswith("127.0.0.1:") for value in listens)


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    if shutil.which("searchd") is None:
        pytest.skip("searchd is not installed")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = CliRunner().invoke(
            app, ["cluster", "up", "--dir", str(tmp_path / "c"), "--shards", "1", "--port-base", str(port)]
        )
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--port-base" in result.stderr


def test_status_of_no_cluster_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["cluster", "status", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert f"no cluster in {tmp_path}" in result.stderr


@pytest.mark.parametrize("command", ["status", "down", "up"])
def test_a_cluster_dir_that_is_a_file_is_a_usage_error_naming_it(tmp_path: Path, command: str) -> None:
    # "Error: Not a directory: FILE/cluster.json" with the hint "nothing committed
    # before the failure is lost", or for up "File exists: FILE".
    plain = tmp_path / "notes.txt"
    plain.write_text("mine", "utf-8")
    result = CliRunner().invoke(app, ["cluster", command, "--dir", str(plain)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: --dir {plain} is a file, not a folder")
    assert plain.read_text("utf-8") == "mine"


# -- reading ---------------------------------------------------------------------------


def test_search_finds_the_embedded_top_hits(one_shard: Cluster, seed_index: object) -> None:
    # One shard: searchd's idf is then the collection's, as in the embedded index.  Across
    # shards each agent ranks by its own statistics (below), and on 62 records which half
    # a record lands in (its id, hence the checkout's path) moved the top 5 by two places.
    with ClusterIndex(one_shard.url) as ix:
        ours = ix.search("facial recognition", limit=5, facets=False)
    theirs = seed_index.search("facial recognition", limit=5, facets=False)  # type: ignore[attr-defined]
    assert ours.total >= 5
    overlap = {h.id for h in ours.hits} & {h.id for h in theirs.hits}
    assert len(overlap) >= 3, ([h.title for h in ours.hits], [h.title for h in theirs.hits])
    assert all("<em>" in h.snippet for h in ours.hits)


def test_search_across_shards_finds_what_the_embedded_index_matches(cix: ClusterIndex, seed_index: object) -> None:
    ours = cix.search("facial recognition", limit=5, facets=False)
    theirs = seed_index.search("facial recognition", limit=100, facets=False)  # type: ignore[attr-defined]
    assert ours.total >= 5 and len(ours.hits) == 5
    # Stories, by title: the cluster may show a related stub where the embedded index shows
    # the live article that shadows it (same webUrl), which is the same story.
    assert {h.title for h in ours.hits} <= {h.title for h in theirs.hits}
    assert all("<em>" in h.snippet for h in ours.hits)


def _same_ranking(ours: object, theirs: object) -> None:
    """The same scores in the same order; the same documents above the last score
    (documents tied there may come in either order, or one of them be cut off)."""
    mine = [(h.id, h.score) for h in ours.hits]  # type: ignore[attr-defined]
    other = [(h.id, h.score) for h in theirs.hits]  # type: ignore[attr-defined]
    assert [s for _, s in mine] == pytest.approx([s for _, s in other], rel=1e-6), (mine, other)
    last = other[-1][1] if other else 0.0
    assert {i for i, s in mine if s > last * (1 + 1e-6)} == {i for i, s in other if s > last * (1 + 1e-6)}


@pytest.mark.parametrize(
    ("text", "boost"),
    [
        ("energy", ()),  # one word: searchd's idf is its shard's; the scores are recomputed
        ("solar storm", "quality"),  # the proximity bonus and the title factor
        ("facial recognition privacy police surveillance cameras", "recency"),  # feedback
    ],
)
def test_the_cluster_scores_as_the_embedded_index(cix: ClusterIndex, seed_index: object, text: str, boost: str) -> None:
    # Two shards: the words' frequencies are summed over them (global idf), and the hits
    # searchd fetched are scored as the embedded index scores them (search.backends.cluster.rerank);
    # related stubs shadowed by a live article are hidden, as there.  On seeds/ the window
    # holds every match, so the pages are the same, whichever shard a record lands on.
    for feedback in (False, True):
        ours = cix.search(text, limit=8, facets=False, feedback=feedback, boost=boost)
        theirs = seed_index.search(  # type: ignore[attr-defined]
            text, limit=8, facets=False, feedback=feedback, boost=boost
        )
        assert len(theirs.hits) >= 2
        _same_ranking(ours, theirs)


def test_a_one_word_search_asks_the_shards_nothing(seeded: Cluster, seed_index: object) -> None:
    # The word's document frequency comes with the search (SHOW META, summed over the
    # shards by the front): no CALL KEYWORDS round trips to the shards, the same scores.
    with ClusterIndex(seeded.url) as ix:
        ours = ix.search("energy", limit=8, facets=False)
        assert ix._shards is None
        theirs = seed_index.search("energy", limit=8, facets=False)  # type: ignore[attr-defined]
        _same_ranking(ours, theirs)
        ix.search("solar storm", limit=8, facets=False)
        assert ix._shards is not None  # two words: their idf is asked before the search


def test_show_metas_time_is_read_even_when_searchd_misprints_it() -> None:
    # searchd 2.2.11 gives an unranked statement (the facets) a time such as "0.-01".
    from search.backends.cluster.backend import _seconds

    assert _seconds("0.-01") == 0.0 and _seconds("0.250") == 0.25 and _seconds(None) == 0.0


def test_the_cli_searches_the_cluster_with_backend(seeded: Cluster) -> None:
    result = CliRunner().invoke(app, ["query", "facial recognition", "--backend", seeded.url, "--json", "-n", "3"])
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert page["total"] > 3 and len(page["hits"]) == 3 and page["partial"] is False and page["warning"] is None


def test_filters_select(cix: ClusterIndex) -> None:
    page = cix.search("", topics="privacy", limit=100, facets=False, collapse=False)
    assert page.total > 0 and all("Privacy" in h.topics for h in page.hits)
    page = cix.search("", providers=["WWW.FT.COM"], limit=100, facets=False, collapse=False)
    assert page.total > 0 and all(h.provider and h.provider.domain == "ft.com" for h in page.hits)
    page = cix.search("", since="2021", until="2021-06", limit=100, facets=False, collapse=False)
    assert page.total > 0
    assert all(h.published and "2021-01" <= h.published.strftime("%Y-%m") <= "2021-06" for h in page.hits)
    assert cix.search("", published=False, limit=1, facets=False).total > 0


def test_sorts_order_by_date_and_quality(cix: ClusterIndex) -> None:
    newest = [h.published for h in cix.search("", sort="newest", limit=50, facets=False, collapse=False).hits]
    dated = [d for d in newest if d is not None]
    assert dated == sorted(dated, reverse=True) and newest[: len(dated)] == dated
    oldest = [h.published for h in cix.search("", sort="oldest", limit=20, facets=False, collapse=False).hits]
    assert [d for d in oldest if d] == sorted(d for d in oldest if d)
    quality = [h.quality for h in cix.search("", sort="quality", limit=20, facets=False, collapse=False).hits]
    assert quality == sorted(quality, key=lambda q: -1 if q is None else q, reverse=True)


def test_facets_match_the_embedded_counts(cix: ClusterIndex, seed_index: object) -> None:
    ours = cix.search("", topics="AI", limit=1, collapse=False).facets
    theirs = seed_index.search("", topics="AI", limit=1, collapse=False).facets  # type: ignore[attr-defined]
    assert ours is not None and theirs is not None
    assert ours.topics == theirs.topics
    assert ours.years == theirs.years
    assert ours.providers == theirs.providers


def test_providers_and_years_counted_in_pairs_as_each_apart(
    cix: ClusterIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One GROUP BY provider_key, year counts both facets (one matching less); when its
    # pairs fill the statement (some shard may have cut them), each is counted apart.
    from search.backends.cluster import sphinxql

    for text in ("", "facial recognition"):
        paired = cix.search(text, limit=1, collapse=False).facets
        assert paired is not None and len(paired.providers) > 2 and len(paired.years) > 1
        monkeypatch.setattr(sphinxql, "FACET_PAIRS", 2)
        apart = cix.search(text, limit=1, collapse=False).facets
        monkeypatch.undo()
        assert apart == paired


def test_get_returns_the_stored_record(cix: ClusterIndex, seed_index: object) -> None:
    hits = cix.search("facial recognition", limit=10).hits
    hit = next(h for h in hits if h.kind == "article")
    stub = next(h for h in hits if h.kind == "related")
    assert cix.get(stub.id) == seed_index.get(stub.id)  # type: ignore[attr-defined]
    ours, theirs = cix.get(hit.id), seed_index.get(hit.id)  # type: ignore[attr-defined]
    assert ours == theirs
    assert cix.get(hit.path).id == hit.id
    with pytest.raises(Exception, match="no document with id"):
        cix.get("0000000000000000")


def test_stats_count_articles_and_stubs(cix: ClusterIndex, seed_index: object) -> None:
    ours, theirs = cix.stats(), seed_index.stats()  # type: ignore[attr-defined]
    assert (ours.articles, ours.related, ours.topics) == (theirs.articles, theirs.related, theirs.topics)


def test_unsupported_features_say_so(cix: ClusterIndex) -> None:
    with pytest.raises(QueryError, match="not supported by the cluster backend"):
        cix.search("title:x", raw=True)
    with pytest.raises(UsageError, match="not supported by the cluster backend"):
        cix.similar("anything")
    with pytest.raises(QueryError, match="exclusions alone"):
        cix.search("-oil")


# -- hostile queries -------------------------------------------------------------------

HOSTILE = [
    "'; DROP TABLE news; --",
    '"unclosed phrase',
    "\\",
    "\\'",
    "oil\x00gas",
    "@title oil",
    "@nosuchfield x",
    "a NEAR/3 b",
    'x MAYBE "y z"~2',
    "(((",
    "^start end$",
    "=exact *wild* ?",
    "<< >> !",
    "oil/1",
    "a | | b",
    "MATCH('x')",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_give_results_never_sql_errors(cix: ClusterIndex, text: str) -> None:
    page = cix.search(text, limit=3)
    assert page.total >= 0 and not page.partial


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_any_query_text_gives_a_page_or_a_query_error(cix: ClusterIndex, text: str) -> None:
    try:
        page = cix.search(text, limit=3, facets=False)
    except QueryError:
        return  # a clear refusal (exclusions alone) is fine; a BackendError is not
    assert page.total >= 0


# -- writing ---------------------------------------------------------------------------


def _record(path: Path, title: str, body: str = "", topics: tuple[str, ...] = ("News",), related: int = 0) -> Path:
    front = [f"title: {json.dumps(title, ensure_ascii=False)}", "publishedDateTime: 2020-02-12T04:00:00Z", "topics:"]
    front += [f"  - {json.dumps(t, ensure_ascii=False)}" for t in topics]
    if related:
        front.append("related:")
        for n in range(related):
            front += [f"  - title: {json.dumps(f'{title} stub {n}')}", f"    webUrl: https://example.com/{path.stem}/{n}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n" + "\n".join(front) + "\n---\n" + body + "\n", "utf-8")
    return path


def _ids(url: str, text: str) -> set[str]:
    with ClusterIndex(url) as ix:
        return {h.id for h in ix.search(text, limit=100, facets=False, collapse=False).hits}


def test_the_cluster_averages_each_part_over_the_records_with_it(scratch: Cluster, tmp_path: Path) -> None:
    # Records of a title alone (no topics, no body) leave the rest's average to the
    # others in the embedded index (ranking.FieldLengths), and so in the cluster's re-rank.
    from search import build_index
    from search.planning import ranking

    root = tmp_path / "r"
    _record(root / "story.md", "Solar storm hits grid", body="Power lines were cut across the northern region.", topics=())
    _record(root / "long.md", "Solar flare", body="Operators said power lines across the region were cut. " * 3, topics=())
    for n in range(3):
        _record(root / f"brief-{n}.md", f"Rates held brief {n}", topics=())
    sync.sync_cluster([root], scratch.url)
    build_index([root], tmp_path / "index")
    with open_index(tmp_path / "index") as embedded, ClusterIndex(scratch.url) as ix:
        assert ranking.part_counts(embedded._ensure().searcher.reader(), "text") == (5, 2)  # premise: three briefs
        for text in ("region", "solar power lines"):
            _same_ranking(ix.search(text, limit=5, facets=False), embedded.search(text, limit=5, facets=False))


def test_incremental_runs_send_what_changed_and_delete_what_went(scratch: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "r"
    a = _record(root / "a.md", "Zebra crossing", related=2)
    b = _record(root / "b.md", "Aardvark burrow")
    _record(root / "c.md", "Yak herding")
    first = sync.sync_cluster([root], scratch.url)
    assert (first.added, first.updated, first.deleted, first.unchanged) == (3, 0, 0, 0)
    assert first.documents == 5  # 3 articles, 2 stubs
    again = sync.sync_cluster([root], scratch.url)
    assert (again.added, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 3)

    _record(a, "Zebra crossing renamed okapi", related=1)  # one stub fewer
    b.unlink()
    _record(root / "d.md", "Wombat tunnel")
    third = sync.sync_cluster([root], scratch.url)
    assert (third.added, third.updated, third.deleted, third.unchanged) == (1, 1, 1, 1)
    assert third.documents == 4  # a with its one stub left, c and d; nothing of b
    assert _ids(scratch.url, "okapi") and not _ids(scratch.url, "aardvark")
    assert len(_ids(scratch.url, "stub")) == 1  # the dropped stub is gone too


def test_a_killed_run_never_leaves_a_stub_without_its_article(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file's rows go in one REPLACE: split over two sends, a run killed between them
    # left stub rows that no article row recorded, which no later run (--full neither)
    # could find to delete once the file was gone.
    root = tmp_path / "r"
    stories = [_record(root / f"{n}.md", f"Zebra crossing {n}", related=2) for n in range(4)]
    monkeypatch.setattr(sync, "BATCH_ROWS", 4)  # fewer rows a send than two files have
    real, sends = sync._flush, []

    def killed_at_the_third_send(shard: sync._Shard) -> None:
        if shard.replaces:
            sends.append(len(shard.replaces))
            if len(sends) > 2:
                raise KeyboardInterrupt
        real(shard)

    monkeypatch.setattr(sync, "_flush", killed_at_the_third_send)
    with pytest.raises(KeyboardInterrupt):
        sync.sync_cluster([root], scratch.url)
    monkeypatch.setattr(sync, "_flush", real)
    with ClusterIndex(scratch.url) as ix:
        hits = ix.search("zebra", limit=100, facets=False, collapse=False).hits
    articles = {h.id for h in hits if h.kind == "article"}
    assert articles and all(h.parent in articles for h in hits if h.kind == "related")  # no stub alone
    for story in stories:
        story.unlink()
    sync.sync_cluster([root], scratch.url, allow_empty=True)
    assert not _ids(scratch.url, "zebra")


def test_a_dotted_word_stays_one_operand_as_on_the_embedded_index(scratch: Cluster, tmp_path: Path) -> None:
    # searchd splits "U.S." into u and s, and its OR binds tighter than its AND: sent bare,
    # `u\.s | trade` was u AND (s OR trade), and `-it\'s` NOT it AND s.
    root = tmp_path / "r"
    _record(root / "trade.md", "Trade talks resume", body="Ministers met on Monday.")
    _record(root / "oil.md", "Oil prices climb", body="Crude rose 1.5 pct again.")
    _record(root / "us.md", "U.S. output rises", body="It's the oil industry's best month.")
    for text in ("U.S. trade", "1.5 trade", "oil -it's", "oil -U.S."):
        ours, theirs = _pages(scratch, root, tmp_path / "index", text)
        assert ours and set(ours) == set(theirs), text


def test_pages_without_collapse_hold_every_hit_once(cix: ClusterIndex) -> None:
    # Shadowed stubs are dropped after the fetch: with no slack they left holes, and
    # pages of 1 of "facial recognition" were all empty (review2 s11, F10).
    whole = [h.id for h in cix.search("facial recognition", limit=100, collapse=False).hits]
    assert len(whole) > 5
    for size in (1, 2, 5):
        paged = [
            h.id
            for page in range(1, -(-len(whole) // size) + 1)
            for h in cix.search("facial recognition", limit=size, page=page, collapse=False).hits
        ]
        assert paged == whole, size


def test_a_page_past_the_result_window_is_refused(cix: ClusterIndex) -> None:
    # searchd holds every hit up to the page's last in each daemon: page x limit is bounded.
    from search.backends.cluster.backend import MAX_RESULT_WINDOW

    assert cix.search("energy", limit=100, page=MAX_RESULT_WINDOW // 100).total > 0
    with pytest.raises(UsageError, match="past the first 10,000") as caught:
        cix.search("energy", limit=100, page=MAX_RESULT_WINDOW // 100 + 1)
    assert caught.value.option == "page" and "--sort" in (caught.value.hint or "")


def test_the_title_factor_divides_by_the_title_length_whoosh_keeps(scratch: Cluster, tmp_path: Path) -> None:
    # An 11-term title is 12 terms long to Whoosh (a length kept in one byte), and the
    # embedded exact-title factor divides by that.
    from search import build_index

    root = tmp_path / "r"
    _record(root / "long.md", "Alpha beta gamma delta epsilon zeta eta theta iota kappa lambda", topics=())
    _record(root / "other.md", "Alpha particles", body="beta decay", topics=())
    for n in range(3):
        _record(root / f"brief-{n}.md", f"Rates held brief {n}", topics=())
    build_index([root], tmp_path / "index")
    sync.sync_cluster([root], scratch.url)
    with open_index(tmp_path / "index") as embedded, ClusterIndex(scratch.url) as ix:
        ours = ix.search("alpha beta", limit=5, facets=False)
        _same_ranking(ours, embedded.search("alpha beta", limit=5, facets=False))


def test_a_batch_is_sized_in_bytes_not_characters(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # searchd's max_packet_size counts bytes, and a CJK character is three of them.
    root = tmp_path / "r"
    for n in range(2):
        _record(root / f"{n}.md", f"Story {n}", body="新闻" * 1_500)  # 3,000 characters, 9,000 bytes
    monkeypatch.setattr(sync, "BATCH_BYTES", 20_000)  # both files by characters, one by bytes
    real, statements = sync._execute, []

    def recorded(shard: sync._Shard, statement: str) -> None:
        statements.append(statement)
        real(shard, statement)

    monkeypatch.setattr(sync, "_execute", recorded)
    monkeypatch.setattr(sync.rows, "shard_of", lambda article_id, shards: 0)  # both on one shard
    sync.sync_cluster([root], scratch.url)
    replaces = [s for s in statements if s.startswith("REPLACE")]
    assert len(replaces) == 2 and all(len(s.encode()) < 2 * 20_000 for s in replaces)


def test_a_shard_registry_with_an_invalid_table_name_is_refused(scratch: Cluster) -> None:
    # The registry's names go into SQL unquoted, as a URL's do: both are checked.
    from search.backends.cluster.url import parse, shard_endpoints

    front = ("127.0.0.1", scratch.layout.port_base)
    with contextlib.closing(connect(*front)) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO news_shards (id, note, shard, host, sql_port, tbl)"
            " VALUES (99, '', 99, '127.0.0.1', 1, 'x; DROP')"
        )
        try:
            with pytest.raises(BackendError, match="invalid shard table name 'x; DROP'"):
                shard_endpoints(parse(scratch.url))
        finally:
            cur.execute("DELETE FROM news_shards WHERE id = 99")
    assert len(shard_endpoints(parse(scratch.url))) == scratch.layout.shards


def test_us_and_the_dotted_abbreviations_find_what_the_embedded_index_finds(scratch: Cluster, tmp_path: Path) -> None:
    # The embedded analysis keeps `us` (not a stop word: the U.S. in news) and reads
    # "U.S." as it; the cluster's stop-word list held `us`, so `US` found nothing there.
    root = tmp_path / "r"
    _record(root / "plain.md", "US oil price falls", body="Crude fell below zero.")
    _record(root / "dotted.md", "U.S. output rises", body="Factories were busy.")
    _record(root / "pronoun.md", "Sunspots turn towards us", body="Auroras may follow.")
    _record(root / "other.md", "UK rates held", body="The S&P 500 rose.")
    # "A.I." is letters a (a stop word, which searchd drops from a phrase) and i:
    # `AI` must not become ai | "a i", which finds every record with an "I".
    _record(root / "ai.md", "AI chips sell out", body="Demand rose.")
    _record(root / "i.md", "I said the harvest was poor", body="Rain fell.")
    # searchd makes single letters of a possessive and of O'Leary too: `so` as so | "s o"
    # found "Ireland's O'Leary", which the embedded index (o'leary one word) does not
    # (review s11, R5); `NY` still finds "N.Y.", and "N.Z." typed with its dots "NZ".
    _record(root / "leary.md", "Ireland's O'Leary wins the vote", body="Counting ended late.")
    _record(root / "so.md", "So far so good for the harvest", body="Rain fell.")
    _record(root / "ny.md", "N.Y. court rules on rents", body="Tenants cheered.")
    _record(root / "nz.md", "NZ dollar firms", body="Dairy prices rose.")
    for text in ("US", "U.S.", "us oil", "uk", "S&P", "AI", "AI it", "so", "NY", "N.Z."):
        ours, theirs = _pages(scratch, root, tmp_path / "index", text)
        assert theirs and sorted(ours) == sorted(theirs), text


def test_a_table_that_still_drops_us_is_warned_of_by_the_writer_and_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # searchd copies the stop-word list into a table when it creates it: a cluster
    # made while the list held `us` drops it for good, whatever stopwords.txt says later.
    old = daemons._stop_words() + "us\n"
    monkeypatch.setattr(daemons, "_stop_words", lambda: old)
    for cluster in _start(tmp_path / "old", shards=1):
        monkeypatch.undo()
        cluster.layout = daemons.up(cluster.root, 1, cluster.layout.port_base)  # the list file rewritten
        assert "us" not in (cluster.root / "stopwords.txt").read_text().split()
        shard = f"127.0.0.1:{cluster.layout.sql_port(0)}/news_0"
        with caplog.at_level("WARNING", logger="search.backends.cluster.tables"):
            sync.sync_cluster([SEEDS], cluster.url)
            assert [r.getMessage() for r in caplog.records if "'us'" in r.getMessage()] == [
                f"shard {shard} drops 'us' as a stop word: its table predates this version's stop-word"
                " list, and searchd keeps a table's list whatever stopwords.txt says later, so a query"
                " for it misses what the embedded index finds (`US` finds only \"U.S.\"); create the"
                " tables again and re-send (docs/cluster.md, 'Pointing --backend at a Manticore cluster')"
            ]
            caplog.clear()
            with ClusterIndex(cluster.url) as ix:
                ix.search("us oil")  # two words: the reader asks the shards for statistics
                ix.search("us trade")
            assert sum("'us'" in r.getMessage() for r in caplog.records) == 1  # once a shard


def test_a_table_made_with_this_versions_stop_words_is_not_warned_of(
    seeded: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="search.backends.cluster.tables"):
        sync.sync_cluster([SEEDS], seeded.url)
        with ClusterIndex(seeded.url) as ix:
            ix.search("us oil")
    assert not [r for r in caplog.records if "stop word" in r.getMessage()]
    conn = connect("127.0.0.1", seeded.layout.sql_port(0))
    with contextlib.closing(conn):
        assert tables.dropped_words(conn, "news_0") == []


def test_a_cluster_query_loads_neither_numpy_nor_the_embedded_engine(seeded: Cluster) -> None:
    # The re-ranking's proximity test lives in search.planning.proximity: importing it
    # from the embedded engine loaded numpy and Whoosh's searcher into every cluster
    # query process (0.24 s of CPU).
    script = (
        "import sys\n"
        "from search.backends.cluster.backend import ClusterIndex\n"
        f"page = ClusterIndex({seeded.url!r}).search('oil price falls', limit=5)\n"
        "assert page.hits, 'no hits'\n"
        "print(sorted(m for m in ('numpy', 'search.backends.engine', 'search.backends.query') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _pages(cluster: Cluster, root: Path, index: Path, text: str) -> tuple[list[str], list[str]]:
    """The top 10 ids of `text` on the embedded index of `root` and on the cluster it was sent to."""
    from search import build_index

    build_index([root], index)
    sync.sync_cluster([root], cluster.url)
    with open_index(index) as ix, ClusterIndex(cluster.url) as cx:
        ours = [h.id for h in cx.search(text, limit=10, facets=False, feedback=False).hits]
        theirs = [h.id for h in ix.search(text, limit=10, facets=False, feedback=False, suggest=False).hits]
    return ours, theirs


def test_a_title_word_in_a_long_record_is_among_the_candidates(scratch: Cluster, tmp_path: Path) -> None:
    # The embedded BM25F normalises a title's words by the title's length and the rest by
    # the rest's: a long record with the word in its title comes first.  searchd's first
    # ranking picks the candidates re-scored (the page + RERANK_SLACK); with one length
    # over all the weighted fields it ranked this record below the 40 short ones, out of
    # the candidates, and the cluster's page lost the embedded index's best hit.
    root = tmp_path / "r"
    _record(root / "long.md", "Quokka numbers rise", " ".join(f"filler{n % 97}" for n in range(600)))
    for n in range(40):
        _record(root / f"short{n:02}.md", f"Island report {n}", "a quokka was seen " + "near " * n)
    ours, theirs = _pages(scratch, root, tmp_path / "index", "quokka")
    assert theirs[0] == ours[0]
    assert ours == theirs


def test_a_rare_word_deep_in_searchds_order_is_re_scored(scratch: Cluster, tmp_path: Path) -> None:
    # searchd's candidate ranking weighs a query's two or three words the same (its idf
    # is each chunk's own), so a record holding only the rare word, once in a long body,
    # comes after every record with the common word in its title; the embedded index,
    # weighing the words by idf, ranks it first.  A two-word query has its page + 90 of
    # searchd's best re-scored: with + 20, this record was out of them and of the page.
    root = tmp_path / "r"
    _record(root / "rare.md", "Harbour report", "the okapi was seen " + " ".join(f"filler{n}" for n in range(300)))
    for n in range(45):
        _record(root / f"common{n:02}.md", f"Beta release {n}", "notes")
    ours, theirs = _pages(scratch, root, tmp_path / "index", "okapi beta")
    with open_index(tmp_path / "index") as ix:
        assert Path(ix.get(theirs[0]).path).name == "rare.md"  # premise: the embedded index ranks it first
    assert ours[0] == theirs[0]


def test_tied_documents_come_in_the_embedded_order(scratch: Cluster, tmp_path: Path) -> None:
    # Copies with the same words score the same to the last bit; the embedded index
    # orders them by document number, which a full build gives in the files' path
    # order.  The cluster orders its ties by path too (by searchd id, a hash of the
    # path, the top 10 of 14 ties had 10 other documents' ranks).
    root = tmp_path / "t"
    for n in range(14):
        _record(root / f"{n:02}.md", "Wombat burrow census", "wombats dig deep burrows")
    ours, theirs = _pages(scratch, root, tmp_path / "index", "wombat burrow")
    with open_index(tmp_path / "index") as ix:
        paths = [ix.get(i).path for i in theirs]
    assert paths == sorted(paths) and len(theirs) == 10
    assert ours == theirs


def test_a_news_form_finds_its_other_spellings_as_on_the_embedded_index(scratch: Cluster, tmp_path: Path) -> None:
    # The embedded analysis reads "qtr" as "quarter" and "labour" as "labor"
    # (search.storage.newsforms); searchd has no such forms, so its MATCH asks for each.
    root = tmp_path / "n"
    _record(root / "a.md", "Fourth quarter results", "profits rose")
    _record(root / "b.md", "ACME 4TH QTR NET", "profits rose")
    _record(root / "c.md", "Labor market", "jobs")
    _record(root / "d.md", "Labour party", "votes")
    _record(root / "e.md", "Quartet plays", "music")
    for text, expected in (("qtr", {"a.md", "b.md"}), ("quarter", {"a.md", "b.md"}), ("labour", {"c.md", "d.md"})):
        ours, theirs = _pages(scratch, root, tmp_path / "index", text)
        with open_index(tmp_path / "index") as ix:
            assert {Path(ix.get(i).path).name for i in theirs} == expected
        assert sorted(ours) == sorted(theirs), text


def test_a_file_that_stops_parsing_keeps_its_rows(scratch: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "r"
    a = _record(root / "a.md", "Zebra crossing", related=1)
    _record(root / "c.md", "Yak herding")
    sync.sync_cluster([root], scratch.url)
    a.write_text("no front matter, zebra\n", "utf-8")
    report = sync.sync_cluster([root], scratch.url)
    assert (report.added, report.updated, report.deleted, report.unchanged) == (0, 0, 0, 1)
    (skipped,) = report.skipped
    assert skipped.path == str(a) and skipped.error.endswith(KEPT_VERSION)
    assert report.documents == 3 and _ids(scratch.url, "zebra")  # the article and its stub stay
    _record(a, "Zebra crossing mended")
    mended = sync.sync_cluster([root], scratch.url)
    assert (mended.updated, mended.deleted, mended.documents) == (1, 0, 2)


# -- racy mtimes (F7): the cluster's bookkeeping as the embedded index's (search.records.racy) ---------

#: A whole second (a coarse filesystem's mtime) long past.
TICK = 1_700_000_000 * 1_000_000_000


def _stamp(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_the_racy_mark_round_trips_and_older_bookkeeping_is_not_racy() -> None:
    from search.backends.cluster import rows

    assert rows.decode_source(rows.encode_source(10, TICK, "ab", racy=True)) == (10, TICK, "ab", tables.LAYOUT, True)
    assert rows.decode_source(rows.encode_source(10, TICK, "ab")) == (10, TICK, "ab", tables.LAYOUT, False)
    assert rows.decode_source(f"10 {TICK} ab") == (10, TICK, "ab", 1, False)
    assert rows.encode_source(10, TICK, "ab", racy=True) == f"10 {TICK} ab R L{tables.LAYOUT}"  # the layout last
    assert rows.decode_source(f"10 {TICK} ab X L3") is None
    assert rows.decode_source(f"10 {TICK} ab R") is None


def test_a_same_size_edit_in_the_tick_of_the_sync_is_sent_by_the_next_sync(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run reads the file 0.4 s into its mtime's second; an edit in that second
    # keeps its size and so its whole stat: the next run skipped it for ever.
    root = tmp_path / "r"
    path = _record(root / "a.md", "Record AAAA")
    _stamp(path, TICK)
    monkeypatch.setattr(sync, "_clock", lambda: TICK + 400_000_000)
    sync.sync_cluster([root], scratch.url)
    _record(path, "Record BBBB")
    _stamp(path, TICK)
    monkeypatch.setattr(sync, "_clock", lambda: TICK + 5_000_000_000)
    report = sync.sync_cluster([root], scratch.url)
    assert (report.added, report.updated, report.deleted, report.unchanged) == (0, 1, 0, 0)
    assert _ids(scratch.url, "bbbb") and not _ids(scratch.url, "aaaa")


def test_an_edit_during_a_slow_read_in_the_mtimes_tick_is_sent_by_the_next_sync(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # review s12 R1, for the cluster: the read starts 1 ms into a fine mtime's tick, the
    # file is rewritten (same size, same mtime) after its bytes were read, and the read
    # returns 25 ms after the mtime; dated by its end, it was "not racy", and the edit never sent.
    root = tmp_path / "r"
    path = _record(root / "a.md", "Record AAAA")
    mtime = TICK + 123_456_789
    _stamp(path, mtime)
    now = [mtime + 1_000_000]
    monkeypatch.setattr(sync, "_clock", lambda: now[0])
    real = sync.read_source

    def slow_read(p: Path, *args: Any) -> Any:
        got = real(p, *args)
        if Path(p) == path and now[0] < mtime + 20_000_000:
            _record(path, "Record BBBB")
            _stamp(path, mtime)  # the same kernel tick
            now[0] = mtime + 25_000_000
        return got

    monkeypatch.setattr(sync, "read_source", slow_read)
    sync.sync_cluster([root], scratch.url)
    assert _ids(scratch.url, "aaaa")
    now[0] = mtime + 60_000_000_000
    report = sync.sync_cluster([root], scratch.url)
    assert (report.updated, report.unchanged) == (1, 0)
    assert _ids(scratch.url, "bbbb") and not _ids(scratch.url, "aaaa")


def test_a_racy_file_left_alone_is_read_once_more_and_then_no_more(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "r"
    racy = _record(root / "a.md", "Alpha aardvark", related=1)
    _stamp(racy, TICK)
    calm = _record(root / "b.md", "Bravo bison")
    _stamp(calm, TICK - 10_000_000_000)
    monkeypatch.setattr(sync, "_clock", lambda: TICK + 400_000_000)
    sync.sync_cluster([root], scratch.url)
    reads: list[str] = []
    sends: list[str] = []
    real_read, real_execute = sync.read_source, sync._execute

    def reading(path: Path, *args: Any) -> Any:
        reads.append(path.name)
        return real_read(path, *args)

    def executing(shard: Any, statement: str) -> None:
        sends.append(statement.split(" ", 1)[0])
        real_execute(shard, statement)

    monkeypatch.setattr(sync, "read_source", reading)
    monkeypatch.setattr(sync, "_execute", executing)
    for at_ns, read, sent in (
        (TICK + 900_000_000, ["a.md"], []),  # still within the tick: read, the same: nothing to send
        (TICK + 5_000_000_000, ["a.md"], ["REPLACE"]),  # past it: read, sent with the mark cleared
        (TICK + 9_000_000_000, [], []),  # left alone since: not read
        (TICK + 99_000_000_000, [], []),
    ):
        monkeypatch.setattr(sync, "_clock", lambda at_ns=at_ns: at_ns)
        reads.clear()
        sends.clear()
        report = sync.sync_cluster([root], scratch.url)
        assert (report.added, report.updated, report.deleted, report.unchanged) == (0, 0, 0, 2)
        assert reads == read and sends == sent and report.documents == 3
    assert len(_ids(scratch.url, "aardvark")) == 2  # the article and its stub


def test_full_resends_everything_and_drops_what_it_did_not_send(scratch: Cluster, tmp_path: Path) -> None:
    _record(tmp_path / "one" / "a.md", "Heron lake")
    _record(tmp_path / "two" / "b.md", "Pelican bay")
    sync.sync_cluster([tmp_path / "one", tmp_path / "two"], scratch.url)
    report = sync.sync_cluster([tmp_path / "one"], scratch.url, full=True)
    assert report.full and report.added == 0 and report.updated == 0 and report.unchanged == 1
    assert report.deleted == 1 and report.documents == 1
    assert not _ids(scratch.url, "pelican") and _ids(scratch.url, "heron")


def test_a_killed_reindex_resends_and_loses_nothing(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "r"
    for n in range(30):
        _record(root / f"{n:02}.md", f"Story number {n} about herons", related=1)
    monkeypatch.setattr(sync, "BATCH_ROWS", 8)
    real_flush = sync._flush
    sent = []

    def dying_flush(shard: sync._Shard) -> None:
        if len(sent) == 3:
            raise KeyboardInterrupt  # the process dies mid-run, after three acknowledged batches
        sent.append(len(shard.replaces))
        real_flush(shard)

    monkeypatch.setattr(sync, "_flush", dying_flush)
    with pytest.raises(KeyboardInterrupt):
        sync.sync_cluster([root], scratch.url)
    monkeypatch.setattr(sync, "_flush", real_flush)
    partial = len(_ids(scratch.url, "herons"))
    assert 0 < partial < 60
    report = sync.sync_cluster([root], scratch.url)
    # What was acknowledged before the death is not sent again; the rest is.
    assert report.unchanged > 0 and report.added + report.unchanged == 30 and report.documents == 60
    assert len(_ids(scratch.url, "herons")) == 60


def test_hostile_records_round_trip(scratch: Cluster, tmp_path: Path) -> None:
    title = "It's a \"quoted\" \\back\\slash; DROP TABLE news; -- @title (x | y) MAYBE 🦆"
    body = "Body with 'single' and \"double\" quotes, \\n not a newline,\nreal newline, NEAR/3 and ^$=."
    path = _record(tmp_path / "r" / "h.md", title, body, topics=("O'Brien \\ Co",))
    report = sync.sync_cluster([tmp_path / "r"], scratch.url)
    assert report.added == 1 and not report.skipped
    with ClusterIndex(scratch.url) as ix:
        page = ix.search("quoted backslash duck", limit=5)
        assert [h.title for h in page.hits] == [title]
        document = ix.get(str(path))
        assert document.record["title"] == title and document.record["body"].strip() == body.strip()
        assert ix.search("", topics="o'brien \\ co", limit=5).total == 1


def test_a_killed_shard_gives_a_partial_page_with_the_warning(scratch: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "r"
    for n in range(20):
        _record(root / f"{n:02}.md", f"Kingfisher sighting {n}")
    sync.sync_cluster([root], scratch.url)
    with ClusterIndex(scratch.url) as ix:
        whole = ix.search("kingfisher", limit=50)
        assert whole.total == 20 and not whole.partial
        pid = daemons.kill(scratch.root, "shard-1")
        assert pid is not None
        page = ix.search("kingfisher", limit=50)
        assert page.partial and page.warning and "agent" in page.warning
        assert 0 < page.total < 20 and page.to_dict()["partial"] is True
    with pytest.raises(BackendError, match="cannot reach searchd"):
        sync.sync_cluster([root], scratch.url)  # writes need every shard
    scratch.restart()
    with ClusterIndex(scratch.url) as ix:
        assert ix.search("kingfisher", limit=50).total == 20


def test_open_index_with_backend_returns_a_cluster_index(seeded: Cluster) -> None:
    with open_index(backend=seeded.url) as ix:
        assert isinstance(ix, ClusterIndex) and ix.search("oil", limit=1).total > 0


def test_an_empty_root_keeps_its_records_unless_told(scratch: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "mount"
    _record(root / "a.md", "Puffin colony")
    _record(root / "b.md", "Gannet cliff")
    sync.sync_cluster([root], scratch.url)
    for path in root.iterdir():
        path.unlink()  # an unmounted disk looks like this
    report = sync.sync_cluster([root], scratch.url)
    assert report.deleted == 0 and report.documents == 2
    assert [k.path for k in report.kept] == [str(root)] and "`allow_empty`" in report.kept[0].error
    with pytest.raises(EmptySourceError, match="refusing to drop 2 indexed records"):
        sync.sync_cluster([root], scratch.url, full=True)
    assert sync.sync_cluster([root], scratch.url, allow_empty=True).documents == 0


def test_a_time_limit_cuts_the_search_short_and_says_so(cix: ClusterIndex) -> None:
    assert not cix.search("facial recognition", limit=3).timed_out
    # A 1 ms budget: searchd stops matching when it is spent; timed out unless it finished within it.
    page = cix.search("facial OR recognition OR police OR government OR oil OR market", limit=3, time_limit=0.001)
    assert page.total >= 0
    whole = cix.search("facial OR recognition OR police OR government OR oil OR market", limit=3)
    assert page.timed_out or page.total == whole.total


def _shard_sql(cluster: Cluster, statement: str) -> list[tuple[object, ...]]:
    """`statement` run on every shard; their rows together."""
    found: list[tuple[object, ...]] = []
    for shard in range(cluster.layout.shards):
        with contextlib.closing(connect("127.0.0.1", cluster.layout.sql_port(shard))) as conn, conn.cursor() as cur:
            cur.execute(statement.format(table=f"news_{shard}"))
            found += cur.fetchall()
    return found


# A LAYOUT 1 table lacks `text_len`, a LAYOUT 2 one `title_terms_len` (tables.LAYOUT's history).
@pytest.mark.parametrize("column", ["text_len", "title_terms_len"])
def test_a_table_of_an_older_layout_is_refused_until_a_full_rebuild(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: str
) -> None:
    root = tmp_path / "r"
    for n in range(4):
        _record(root / f"{n}.md", f"Osprey nest {n}")
    # Rows written by older code: their bookkeeping names no layout; the next run re-sends them.
    monkeypatch.setattr(sync.rows, "encode_source", lambda size, mtime_ns, digest, racy: f"{size} {mtime_ns} {digest}")
    assert sync.sync_cluster([root], scratch.url).added == 4
    monkeypatch.undo()
    again = sync.sync_cluster([root], scratch.url)
    assert again.unchanged == 4 and again.added == again.updated == 0
    assert sorted(str(s).rsplit(" ", 1)[1] for (s,) in _shard_sql(scratch, "SELECT source FROM {table}")) == [f"L{tables.LAYOUT}"] * 4

    # A cluster made before `column`: searchd keeps a table's first columns whatever its config says.
    _shard_sql(scratch, f"ALTER TABLE {{table}} DROP COLUMN {column}")
    try:
        result = CliRunner().invoke(app, ["index", str(root), "--backend", scratch.url])
        assert result.exit_code == 1, result.output
        assert f"has an older table layout than this version of news-search writes (no column {column})" in result.stderr
        assert "--full --backend URL" in result.stderr and result.stdout == ""
        with ClusterIndex(scratch.url) as ix, pytest.raises(BackendError, match=rf"older table layout.*no column {column}"):
            ix.search("osprey")

        result = CliRunner().invoke(app, ["index", str(root), "--full", "--backend", scratch.url])
        assert result.exit_code == 0, result.output
    finally:  # the scratch cluster is shared: leave its tables whole whatever happened
        for shard in range(scratch.layout.shards):
            with contextlib.closing(connect("127.0.0.1", scratch.layout.sql_port(shard))) as conn:
                missing = tables.missing_columns(conn, f"news_{shard}")
                if missing:
                    tables.upgrade(conn, f"news_{shard}", missing, where=f"news_{shard}")
    assert all(int(length) > 0 for (length,) in _shard_sql(scratch, f"SELECT {column} FROM {{table}}"))
    with ClusterIndex(scratch.url) as ix:
        assert ix.search("osprey", limit=10).total == 4


# -- the other doors over --backend: alerts, the reindex loop, the web app ------------------


def _cli(*args: object) -> object:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def test_alerts_over_a_cluster_record_each_new_match_once_even_across_a_killed_run(
    scratch: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed_index_dir: Path
) -> None:
    from search.alerts.cluster import ClusterAlertRun
    from search.indexing.cluster import reindex_cluster

    home, root = tmp_path / "alerts-home", tmp_path / "r"
    _record(root / "a.md", "Crude oil prices climb", topics=("Energy",))
    _record(root / "b.md", "Palm oil harvest", topics=("Farming",))
    _record(root / "c.md", "Gold steady")
    sync.sync_cluster([root], scratch.url)  # what is there before the alert is no news
    added = _cli("alert", "add", "oil", "oil -palm", "--index", home, "--backend", scratch.url)
    assert added.exit_code == 0, added.output
    # An embedded index's folder keeps that index's alerts: a cluster's need their own.
    refused = _cli("alert", "add", "oil", "oil", "--index", seed_index_dir, "--backend", scratch.url)
    assert refused.exit_code == 2 and "holds an embedded index" in refused.stderr and "--index" in refused.stderr
    lone = _cli("alert", "add", "--index", home, "--backend", scratch.url, "--", "nopalm", "-palm")
    assert lone.exit_code == 2 and "exclusions alone is not supported by the cluster backend" in lone.stderr

    _record(root / "c.md", "Gold steady as oil slips")  # changed: now a match
    _record(root / "d.md", "Oil tanker docks")  # new: a match
    _record(root / "e.md", "Palm oil exports")  # new: excluded by -palm
    real_match = ClusterAlertRun._match

    def dies_after_the_send(self: ClusterAlertRun, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # killed after searchd acknowledged the batch, before it was matched

    monkeypatch.setattr(ClusterAlertRun, "_match", dies_after_the_send)
    with pytest.raises(KeyboardInterrupt):
        reindex_cluster([root], scratch.url, home)
    assert (home / "alerts" / "pending.jsonl").exists()
    monkeypatch.setattr(ClusterAlertRun, "_match", real_match)

    # The next run finds nothing to send, and matches what the killed run's journal holds.
    result = _cli("index", root, "--backend", scratch.url, "--index", home, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["added"], report["updated"], report["unchanged"]) == (0, 0, 5)
    assert report["alerts"]["matches"] == {"oil": 2}
    shown = json.loads(_cli("alert", "show", "oil", "--index", home, "--json").stdout)
    assert sorted(m["title"] for m in shown["matches"]) == ["Gold steady as oil slips", "Oil tanker docks"]
    assert not (home / "alerts" / "pending.jsonl").exists()

    _record(root / "d.md", "Oil tanker docks")  # the same bytes again: no news
    _record(root / "b.md", "Oil rig opens", topics=("Energy",))  # edited into a match
    again = json.loads(_cli("index", root, "--backend", scratch.url, "--index", home, "--json").stdout)
    assert again["alerts"]["matches"] == {"oil": 1}
    assert json.loads(_cli("alert", "list", "--index", home, "--json").stdout)["alerts"][0]["matches"] == 3

    tested = _cli("alert", "test", "oil", "--index", home, "--backend", scratch.url, "--json")
    assert tested.exit_code == 0, tested.output
    assert {h["title"] for h in json.loads(tested.stdout)["hits"]} == {
        "Crude oil prices climb", "Gold steady as oil slips", "Oil tanker docks", "Oil rig opens"
    }


def test_watch_runs_into_the_cluster(scratch: Cluster, tmp_path: Path) -> None:
    import threading

    from search.indexing.watch import watch

    root = tmp_path / "r"
    _record(root / "a.md", "Lapwing flock")
    reports: list[object] = []
    runs = watch([root], tmp_path / "alerts", every=0.01, stop=threading.Event(), max_runs=2,
                 on_report=reports.append, backend=scratch.url)
    assert runs == 2 and [getattr(r, "added", None) for r in reports] == [1, 0]
    assert _ids(scratch.url, "lapwing")


def test_the_web_app_serves_the_cluster(seeded: Cluster, tmp_path: Path, cix: ClusterIndex) -> None:
    pytest.importorskip("fastapi", reason="the [web] extra is not installed: pip install -e '.[test]'")
    from fastapi.testclient import TestClient

    from search.web.app import create_app
    from search.web.config import WebConfig

    config = WebConfig(index_dir=tmp_path / "no-index-here", backend=seeded.url)
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        found = client.get("/api/search", params={"q": "facial recognition", "limit": 3})
        assert found.status_code == 200
        assert found.json() == json.loads(json.dumps(cix.search("facial recognition", limit=3).to_dict()))
        assert client.get("/healthz").json() == {"status": "ok"}
        page = client.get("/", params={"q": "facial recognition"})
        assert page.status_code == 200 and cix.search("facial recognition", limit=1).hits[0].title in page.text
        refused = client.get("/api/suggest", params={"q": "fac"})
        assert refused.status_code == 400 and "not supported by the cluster backend" in refused.json()["error"]["message"]


def test_a_web_app_over_a_cluster_that_does_not_answer_does_not_start(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the [web] extra is not installed: pip install -e '.[test]'")
    from search.web.app import create_app
    from search.web.config import WebConfig

    with pytest.raises(BackendError, match="cannot reach searchd"):
        create_app(WebConfig(index_dir=tmp_path, backend=f"sphinx://127.0.0.1:{_free_base(1)}"))


def test_check_says_it_does_not_run_on_a_cluster() -> None:
    result = CliRunner().invoke(app, ["check", "--backend", "sphinx://127.0.0.1:9306"])
    assert result.exit_code == 2 and "does not run with --backend" in result.stderr
