"""The same queries through both backends: the embedded index and a cluster.

    .venv/bin/python bench/cluster.py                    # Reuters, 2 shards, 300 title queries
    .venv/bin/python bench/cluster.py --shards 2 --queries 300 --runs 3 --json out.json
    .venv/bin/python bench/cluster.py --relevance cisi,med,lisa,npl [--keywords 3]
    .venv/bin/python bench/generate.py 1000000 /tmp/news-1m
    .venv/bin/python bench/cluster.py --records /tmp/news-1m --shards 2 --runs 1 \
        --index /tmp/news-1m-index --cluster-dir /tmp/news-1m-cluster --json 1m.json

Builds an embedded index of the corpus and sends the same records to a
fresh development cluster (`search cluster up`, loopback, ports from
--port-base), then runs the same seeded 1-3 word title queries (bench.py's
make_queries) through `Index.search` and `ClusterIndex.search` with the
same options (top 10, collapse on, facets on; pseudo-relevance feedback
on, as a user gets it, and off; the embedded did-you-mean with it).  It
reports p50/p95 per backend in the same run (the six searches' timed
passes taken in turns, bench.py's time_interleaved), their ratio to the embedded
default, and the top-10 overlap: for each query, |embedded top 10 &
cluster top 10| / max(1, min(len)), averaged, both without feedback and
both with; and the same counting documents tied at each page's 10th score
as agreeing (see overlap()).  With the latencies, the CPU each search costs
a query over its timed passes (CallCPU): this process's, which is the whole
of an embedded search and the client's part of a cluster search, and the
cluster's searchd daemons' (their utime + stime from /proc): on one box
the two share the same cores, so their sum is what a cluster query takes
from the machine, whatever the load does to the wall clock.
With --relevance, instead: the relevance harness's judged collections
(bench/relevance.py's loading and metrics), each sent in full to the
cluster and indexed embedded, the same queries through both; nDCG@10 of
each and their ratio (the target: the cluster within 5% of the embedded).
With --records DIR (a generated corpus, bench/generate.py, or any folder
of records) instead of a shared corpus: the same run over DIR, loaded
through the reindex job on both sides (build_index, sync_cluster); the
queries come from the first 20,000 titles in path order, as bench.py's
scale step takes them, so a million records are never all in memory.
--index and --cluster-dir keep the embedded index and the cluster's data
in those folders instead of a temporary one: a second run over the same
DIR is then an incremental reindex (nothing changed, nothing re-sent) and
goes straight to the queries.  The daemons are stopped at the end either way.
With --statements (--records DIR and the --cluster-dir it was sent to;
no embedded index): where a default cluster query's CPU goes.  Each
query's statements are caught as ClusterIndex.search sends them, then
variants of them (STATEMENT_VARIANTS: the batch, the search alone, other
candidate rankers, matching alone, the facets alone, the batch sent to
the shards directly, the search with FACET clauses on each shard) are run
in turns per query, --runs rounds: searchd's CPU a query, this process's,
and the wall p50 of each.
Needs searchd (Debian's sphinxsearch) and the [cluster] extra.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import bench as speed  # noqa: E402 - bench/bench.py: make_queries, percentiles, machine facts
import generate  # noqa: E402
import peers  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ClusterCalls:
    """ClusterIndex.search, counting what a loaded box does to it: a page some
    shard did not answer (partial) and a search refused because no shard
    answered in time (agent connect timeout, 500 ms in the dev cluster),
    retried once; both are reported with the figures, never hidden."""

    def __init__(self, cx: Any) -> None:
        self.cx = cx
        self.partial = 0
        self.retried = 0

    def search(self, text: str, **options: Any) -> Any:
        from search.errors import BackendError

        try:
            page = self.cx.search(text, **options)
        except BackendError:
            self.retried += 1
            page = self.cx.search(text, **options)
        self.partial += bool(page.partial)
        return page


class CallCPU:
    """A search wrapped to count the CPU its calls cost: this process's
    (time.process_time) and, given their pids, the searchd daemons' (utime +
    stime of /proc/PID/stat, in clock ticks: 10 ms each, so only a sum over
    many calls means anything).  The first `skip` calls (time_interleaved's
    warm-up pass) are not counted."""

    def __init__(self, search: Callable[[str], int], pids: Sequence[int] = (), skip: int = 0) -> None:
        self.search, self.pids, self.skip = search, list(pids), skip
        self.calls = 0
        self.client = 0.0
        self.daemons = 0.0
        self._tick = os.sysconf("SC_CLK_TCK") if self.pids else 100

    def _daemons(self) -> float:
        total = 0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / self._tick

    def __call__(self, text: str) -> int:
        if self.skip > 0:
            self.skip -= 1
            return self.search(text)
        daemons, client = self._daemons() if self.pids else 0.0, time.process_time()
        found = self.search(text)
        self.client += time.process_time() - client
        if self.pids:
            self.daemons += self._daemons() - daemons
        self.calls += 1
        return found

    def per_query_ms(self) -> dict[str, float | None]:
        calls = max(self.calls, 1)
        return {
            "client": round(1000 * self.client / calls, 2),
            "searchd": round(1000 * self.daemons / calls, 2) if self.pids else None,
        }


#: Two pages' 10th scores this close are read as the same tie group scored over
#: slightly different statistics (an embedded index after incremental runs counts
#: its deleted documents until they are merged away; the cluster counts live rows:
#: at 1,000,000 records, 14,842 deleted of 1,014,842 moved every score by about 0.3%).
TIE_TOLERANCE = 0.01


def overlap(ours: Sequence[Any], theirs: Sequence[Any]) -> tuple[float, float]:
    """Top-10 overlap of the embedded hits `ours` and the cluster's `theirs`:
    |same ids| / min(lengths), and the same with documents tied at the
    cut-off counted as agreeing: a cluster hit that is not in ours and
    scores what the cluster's last hit scores (to 1e-6), as many as ours has
    hits the cluster lacks that score what our last hit scores, when the two
    last scores are within TIE_TOLERANCE of each other (the same tie group).
    Such documents are equally right, and the two backends order ties
    differently (the embedded index by document number, the cluster by path).
    Each page's ties are read on its own scores: read on ours, the cluster's
    ties were missed whenever the statistics differed a little."""
    mine, other = {h.id for h in ours}, {h.id for h in theirs}
    size = max(1, min(len(mine), len(other)))
    same = len(mine & other)
    if not ours or not theirs:
        return same / size, same / size
    last, their_last = ours[-1].score, theirs[-1].score
    if abs(their_last - last) > TIE_TOLERANCE * max(abs(last), 1e-9):
        return same / size, same / size

    def tied(score: float, at: float) -> bool:
        return abs(score - at) <= 1e-6 * max(1.0, abs(at))

    extra = min(
        sum(1 for h in theirs if h.id not in mine and tied(h.score, their_last)),
        sum(1 for h in ours if h.id not in other and tied(h.score, last)),
    )
    return same / size, (same + extra) / size


#: Titles the queries are drawn from with --records (bench.py's scale step takes as many).
TITLE_SAMPLE = 20_000


def sample_titles(folder: Path, cap: int = TITLE_SAMPLE) -> list[str]:
    """The titles of the first `cap` readable records under `folder`, in path order."""
    titles: list[str] = []
    for path in peers.iter_record_paths(folder):
        if len(titles) >= cap:
            break
        with contextlib.suppress(OSError, UnicodeDecodeError, ValueError):
            titles.append(peers.load_doc(path).title)
    return titles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="reuters21578", choices=generate.CORPORA)
    parser.add_argument("--shared", type=Path, default=generate.DEFAULT_SHARED)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--records", type=Path, default=None, help="a folder of records instead of --corpus")
    parser.add_argument("--index", type=Path, default=None, help="keep the embedded index here (reused by a rerun)")
    parser.add_argument("--cluster-dir", type=Path, default=None, help="keep the cluster's data here (reused)")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--port-base", type=int, default=29306)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--relevance", default="", help="judged collections, e.g. cisi,med (see bench/relevance.py)")
    parser.add_argument("--keywords", type=int, default=0, help="with --relevance: cut queries to N keywords")
    parser.add_argument(
        "--statements", action="store_true",
        help="with --records and a kept --cluster-dir: searchd's CPU for variants of each query's statements",
    )
    args = parser.parse_args(argv)
    if args.relevance:
        return relevance_main(args)
    if args.statements:
        return statements_main(args)

    from search import build_index, open_index
    from search.backends.cluster import daemons
    from search.backends.cluster.backend import ClusterIndex
    from search.backends.cluster.sync import sync_cluster

    if args.records is not None:
        if not args.records.is_dir():
            raise SystemExit(f"error: --records {args.records}: not a folder of records")
        folder, corpus = args.records.absolute(), str(args.records)
    else:
        folder, corpus = generate.unpack_corpora(args.shared, args.cache)[args.corpus], args.corpus
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        index_dir = args.index or tmp / "index"
        cluster_dir = args.cluster_dir or tmp / "cluster"
        started = time.perf_counter()
        report = build_index([folder], index_dir)
        embedded_build = time.perf_counter() - started
        log(f"embedded: {report.summary()}")
        layout = daemons.up(cluster_dir, args.shards, args.port_base)
        try:
            started = time.perf_counter()
            sent = sync_cluster([folder], layout.url)
            cluster_build = time.perf_counter() - started
            log(f"cluster: {sent.summary()}")
            titles = sample_titles(folder) if args.records is not None else [d.title for d in peers.load_docs(folder)]
            queries = speed.make_queries(titles, args.queries, args.seed)
            with open_index(index_dir) as ix, ClusterIndex(layout.url) as cluster_index:
                cx = ClusterCalls(cluster_index)
                overlaps, tied = [], []
                for q in queries:
                    strict, loose = overlap(
                        ix.search(q, limit=10, feedback=False, suggest=False).hits,
                        cx.search(q, limit=10, feedback=False).hits,
                    )
                    overlaps.append(strict)
                    tied.append(loose)
                overlaps_full, tied_full = [], []
                for q in queries:
                    strict, loose = overlap(ix.search(q, limit=10).hits, cx.search(q, limit=10).hits)
                    overlaps_full.append(strict)
                    tied_full.append(loose)
                # The six searches' passes in turns (bench.py's time_interleaved), so that a
                # stretch of load from elsewhere falls on each alike and the ratios to the
                # embedded default compare passes of the same minutes.
                pids = [d.pid for d in daemons.status(cluster_dir)[1] if d.pid is not None]
                searches = {
                    "embedded": lambda q: len(ix.search(q, limit=10).hits),
                    "embedded_plain": lambda q: len(ix.search(q, limit=10, feedback=False, suggest=False).hits),
                    "embedded_nofacets": lambda q: len(
                        ix.search(q, limit=10, feedback=False, suggest=False, facets=False).hits
                    ),
                    "cluster": lambda q: len(cx.search(q, limit=10).hits),
                    "cluster_plain": lambda q: len(cx.search(q, limit=10, feedback=False).hits),
                    "cluster_nofacets": lambda q: len(cx.search(q, limit=10, feedback=False, facets=False).hits),
                }
                cpu = {
                    name: CallCPU(search, pids if name.startswith("cluster") else (), skip=len(queries))
                    for name, search in searches.items()
                }
                timed = speed.time_interleaved(dict(cpu), queries, args.runs)
                embedded, embedded_plain, embedded_nofacets = (
                    timed["embedded"], timed["embedded_plain"], timed["embedded_nofacets"]
                )
                cluster, cluster_plain, cluster_nofacets = timed["cluster"], timed["cluster_plain"], timed["cluster_nofacets"]
        finally:
            daemons.down(cluster_dir)
    records = report.added + report.updated + report.unchanged
    result: dict[str, Any] = {
        "corpus": corpus,
        "records": records,
        "shards": args.shards,
        "queries": len(queries),
        "runs": args.runs,
        "load_average": speed.load_average(),
        "build_s": {"embedded": round(embedded_build, 2), "cluster_send": round(cluster_build, 2)},
        "build_reports": {"embedded": report.summary(), "cluster": sent.summary()},
        "cluster_searches": {"partial_pages": cx.partial, "refused_and_retried": cx.retried},
        "overlap_top10": {
            "vs_embedded_without_feedback": round(statistics.mean(overlaps), 3),
            "vs_embedded_default": round(statistics.mean(overlaps_full), 3),
            "ties_at_10th_agreeing_without_feedback": round(statistics.mean(tied), 3),
            "ties_at_10th_agreeing_default": round(statistics.mean(tied_full), 3),
        },
        "cpu_ms_per_query": {name: calls.per_query_ms() for name, calls in cpu.items()},
        "latency_ms": {
            "embedded_default": embedded,
            "embedded_no_feedback": embedded_plain,
            "embedded_no_feedback_no_facets": embedded_nofacets,
            "cluster_default": cluster,
            "cluster_no_feedback": cluster_plain,
            "cluster_no_feedback_no_facets": cluster_nofacets,
        },
    }
    rows = [
        ("embedded (feedback, did-you-mean, facets)", embedded, "embedded"),
        ("embedded (no feedback, facets)", embedded_plain, "embedded_plain"),
        ("embedded (no feedback, no facets)", embedded_nofacets, "embedded_nofacets"),
        (f"cluster, {args.shards} shards (feedback, facets)", cluster, "cluster"),
        (f"cluster, {args.shards} shards (no feedback, facets)", cluster_plain, "cluster_plain"),
        (f"cluster, {args.shards} shards (no feedback, no facets)", cluster_nofacets, "cluster_nofacets"),
    ]
    base = embedded["p50_ms"]
    print(
        f"{corpus}: {records:,} records, {args.shards} shards, {len(queries)} title queries of 1-3 words, top 10, "
        f"median of {args.runs} warm runs; load average {result['load_average']}"
    )
    print()
    print("| backend | p50 ms | p95 ms | p50 / embedded default | CPU ms a query: this process + searchd |")
    print("| --- | --- | --- | --- | --- |")
    for name, figures, key in rows:
        used = result["cpu_ms_per_query"][key]
        spent = f"{used['client']:.1f}" + (f" + {used['searchd']:.1f}" if used["searchd"] is not None else "")
        print(
            f"| {name} | {figures['p50_ms']:.2f} | {figures['p95_ms']:.2f} | {figures['p50_ms'] / base:.2f}x"
            f" | {spent} |"
        )
    print()
    print(
        f"top-10 overlap with the embedded index: {result['overlap_top10']['vs_embedded_without_feedback']:.3f} "
        f"(both without feedback), {result['overlap_top10']['vs_embedded_default']:.3f} (both by default)"
    )
    print(
        "the same, counting documents tied at each page's 10th score as agreeing (ties are ordered by"
        f" document number there, by path here; see overlap()): {result['overlap_top10']['ties_at_10th_agreeing_without_feedback']:.3f}"
        f" (without feedback), {result['overlap_top10']['ties_at_10th_agreeing_default']:.3f} (by default)"
    )
    print(f"cluster searches: {cx.partial} partial pages, {cx.retried} refused (no shard in time) and retried once")
    print(f"build: embedded {embedded_build:.1f} s ({report.summary()}), "
          f"sending to the cluster {cluster_build:.1f} s ({sent.summary()})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


_RANKER = re.compile(r", ranker=expr\('[^']*'\), idf='[^']*', field_weights=\([^)]*\)")
#: The stored text a search fetches for the re-ranking and the page (sphinxql.HIT_COLUMNS).
_STORED = "id, doc_id, kind_code, path, parent, url, title_s, excerpt_s, meta, record, url_key, title_key,"


def _ranked_as(statement: str, ranker: str) -> str:
    """The search statement with another OPTION ranker (its expression ranker replaced)."""
    changed = _RANKER.sub(f", {ranker}", statement)
    if changed == statement:
        raise ValueError("no expression ranker in the statement")
    return changed


def _queue(statement: str, size: int) -> str:
    return re.sub(r"max_matches=\d+", f"max_matches={size}", statement, count=1)


def _facet_clauses(size: int) -> str:
    """The two facet statements as FACET clauses of the search (Sphinx 2.2.11 has them,
    on a local table: an agent is sent separate queries)."""
    return (
        f" FACET meta, topic_keys BY topic_keys ORDER BY COUNT(*) DESC LIMIT {size}"
        f" FACET provider_s, provider_key, year BY provider_key, year ORDER BY COUNT(*) DESC LIMIT {size}"
    )


#: name -> (what runs: "front" or "shards", the statements from a query's [search, topics, pairs]).
STATEMENT_VARIANTS: dict[str, tuple[str, Callable[[list[str]], list[str]]]] = {
    "the batch a default query sends: search, topics, pairs": ("front", lambda b: b),
    "the same batch sent to each shard directly (in 2 threads)": ("shards", lambda b: b),
    "the search alone": ("front", lambda b: b[:1]),
    "the search without the stored text": ("front", lambda b: [b[0].replace(_STORED, "id, kind_code, url_key, title_key,")]),
    "the search, ranker=expr('sum(hit_count)')": ("front", lambda b: [_ranked_as(b[0], "ranker=expr('sum(hit_count)')")]),
    "the search, ranker=bm25 (built in)": ("front", lambda b: [_ranked_as(b[0], "ranker=bm25")]),
    "the search, ranker=none": ("front", lambda b: [_ranked_as(b[0], "ranker=none")]),
    "matching alone (ranker=none, 1 row)": (
        "front",
        lambda b: [re.sub(r"LIMIT 0, \d+ OPTION max_matches=\d+", "LIMIT 0, 1 OPTION max_matches=1", _ranked_as(b[0], "ranker=none"))],
    ),
    "the facets alone (topics, pairs)": ("front", lambda b: b[1:]),
    "the topics facet alone": ("front", lambda b: b[1:2]),
    "the pairs alone": ("front", lambda b: b[2:3]),
    "on each shard: the search with queue 1,000, FACET topics, pairs": (
        "shards", lambda b: [_queue(b[0], 1000) + _facet_clauses(1000)]
    ),
    "on each shard: the search with queue 1,000 alone": ("shards", lambda b: [_queue(b[0], 1000)]),
}


def statements_main(args: argparse.Namespace) -> int:
    import threading

    from search.backends.cluster import daemons
    from search.backends.cluster.backend import ClusterIndex
    from search.backends.cluster.url import connect, parse, shard_endpoints

    if args.records is None or args.cluster_dir is None:
        raise SystemExit("error: --statements needs --records DIR and the --cluster-dir it was sent to")
    layout, running = daemons.status(args.cluster_dir)
    pids = [d.pid for d in running if d.pid is not None]
    if len(pids) != len(running):
        raise SystemExit(f"error: the cluster in {args.cluster_dir} is not all up: search cluster up --dir ...")
    queries = speed.make_queries(sample_titles(args.records.absolute()), args.queries, args.seed)
    cx = ClusterIndex(layout.url)
    sent: list[list[str]] = []
    run = cx._run

    def caught(statements: Any) -> Any:
        sent.append(list(statements))
        return run(statements)

    cx._run = caught  # type: ignore[method-assign]
    batches: dict[str, list[str]] = {}
    for q in queries:
        sent.clear()
        cx.search(q, limit=10)
        batch = next((b for b in sent if b and b[0].startswith("SELECT id, doc_id")), None)
        if batch is not None and len(batch) == 3:  # the search, the topics and the pairs
            batches[q] = batch
    cx._run = run  # type: ignore[method-assign]
    front = connect("127.0.0.1", layout.front_port)
    shards = [(e.table, connect(e.host, e.port)) for e in shard_endpoints(parse(layout.url))]

    def execute(conn: Any, statements: list[str]) -> None:
        with conn.cursor() as cur:
            cur.execute("; ".join(f"{s}; SHOW META" for s in statements))
            while cur.nextset():
                cur.fetchall()

    def on_shards(statements: list[str]) -> None:
        threads = [
            threading.Thread(target=execute, args=(conn, [s.replace(" FROM news ", f" FROM {table} ") for s in statements]))
            for table, conn in shards
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    searches: dict[str, Callable[[str], int]] = {
        "the library call, defaults": lambda q: len(cx.search(q, limit=10).hits),
        "the library call, no feedback, no facets": lambda q: len(cx.search(q, limit=10, feedback=False, facets=False).hits),
    }
    for name, (where, variant) in STATEMENT_VARIANTS.items():
        def search(q: str, where: str = where, variant: Callable[[list[str]], list[str]] = variant) -> int:
            statements = variant(batches[q])
            if where == "shards":
                on_shards(statements)
            else:
                execute(front, statements)
            return 1

        searches[name] = search
    chosen = list(batches)
    cpu = {name: CallCPU(search, pids, skip=len(chosen)) for name, search in searches.items()}
    walls: dict[str, list[float]] = {name: [] for name in searches}
    started_load = speed.load_average()
    for q in chosen:  # the warm-up pass, not counted (CallCPU's skip)
        for calls in cpu.values():
            calls(q)
    for _ in range(args.runs):
        for q in chosen:
            for name, calls in cpu.items():
                started = time.perf_counter()
                calls(q)
                walls[name].append(time.perf_counter() - started)
    print(
        f"{args.records}: {len(chosen)} title queries of 1-3 words (of {len(queries)}: those with a search and both"
        f" facets), each statement variant in turn per query, {args.runs} rounds; load average {started_load}"
        f" -> {speed.load_average()}"
    )
    print()
    print("| what runs | searchd CPU ms a query | this process's CPU ms | wall p50 ms |")
    print("| --- | ---: | ---: | ---: |")
    figures = {}
    for name, calls in cpu.items():
        used = calls.per_query_ms()
        figures[name] = {**used, "wall_p50_ms": round(1000 * statistics.median(walls[name]), 2)}
        print(f"| {name} | {used['searchd']:.1f} | {used['client']:.1f} | {figures[name]['wall_p50_ms']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps({"load_average": started_load, "queries": len(chosen), "runs": args.runs,
                                         "per_query": figures}, indent=2) + "\n")
    return 0


def _judge(relevance: Any, run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10 and MAP@100 over the judged queries, with the harness's metric functions."""
    judged = [qid for qid, docs in qrels.items() if any(g > 0 for g in docs.values())]
    return {
        "ndcg10": statistics.mean(relevance.ndcg_at_k(run.get(q, []), qrels[q], 10) for q in judged),
        "map100": statistics.mean(relevance.average_precision(run.get(q, []), qrels[q]) for q in judged),
    }


def relevance_main(args: argparse.Namespace) -> int:
    import relevance

    from search import build_index, open_index
    from search.backends.cluster import daemons
    from search.backends.cluster.backend import ClusterIndex
    from search.backends.cluster.sync import sync_cluster

    print(f"nDCG@10 (MAP@100), {'keyword queries of ' + str(args.keywords) + ' words' if args.keywords else 'full topics'}")
    print()
    print("| collection | embedded | embedded, no feedback | cluster | cluster, no feedback | cluster / embedded |")
    print("| --- | --- | --- | --- | --- | --- |")
    figures = {}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        layout = daemons.up(tmp / "cluster", args.shards, args.port_base)
        try:
            for name in args.relevance.split(","):
                collection = relevance.load_collection(args.shared / "relevance" / name, relevance.default_cache())
                queries = collection.queries
                if args.keywords:
                    queries = relevance.keyword_queries(queries, args.keywords)
                build_index([collection.docs_dir], tmp / name, full=True)
                sync_cluster([collection.docs_dir], layout.url, full=True)
                runs: dict[str, dict[str, list[str]]] = {s: {} for s in ("embedded", "plain", "cluster", "cluster_plain")}
                with open_index(tmp / name) as ix, ClusterIndex(layout.url) as cx:
                    for qid, text in queries:
                        pages = {
                            "embedded": ix.search(text, limit=relevance.DEPTH, facets=False),
                            "plain": ix.search(text, limit=relevance.DEPTH, facets=False, feedback=False),
                            "cluster": cx.search(text, limit=relevance.DEPTH, facets=False),
                            "cluster_plain": cx.search(text, limit=relevance.DEPTH, facets=False, feedback=False),
                        }
                        for system, page in pages.items():
                            runs[system][qid] = relevance.dedupe(
                                Path(h.path).stem for h in page.hits if h.kind == "article"
                            )
                figures[name] = {s: _judge(relevance, run, collection.qrels) for s, run in runs.items()}
                e, p, c = figures[name]["embedded"], figures[name]["plain"], figures[name]["cluster"]
                cp = figures[name]["cluster_plain"]
                print(
                    f"| {name} | {e['ndcg10']:.3f} ({e['map100']:.3f}) | {p['ndcg10']:.3f} ({p['map100']:.3f}) "
                    f"| {c['ndcg10']:.3f} ({c['map100']:.3f}) | {cp['ndcg10']:.3f} ({cp['map100']:.3f}) "
                    f"| {c['ndcg10'] / e['ndcg10']:.3f} |",
                    flush=True,
                )
        finally:
            daemons.down(tmp / "cluster")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
