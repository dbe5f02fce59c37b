"""Measure the product's speed against its peers, all in one run, and print the tables.

The speed issue (6) and the reindex issue (3) state their targets as ratios
to peers measured on the same machine in the same run, so every engine here
runs in this one process, on the same parsed records and the same queries,
and each figure is the median over ``--runs``.  Steps (``--only``):

    build    parsing alone; FTS5, tantivy and a plain Whoosh script building
             from parsed records; the product's full build from the files
    query    300 seeded 1-3 word title queries, top 10, warm: p50 and p95
    cold     a new ``search query WORD`` process vs ``grep -ril WORD`` and
             a bare ``python -c "import typer, rich, whoosh, yaml"``
    reindex  full build, then 1% edited + 0.5% deleted + 0.5% added, then
             nothing changed: seconds, ratios to the full build, and a
             PASS/FAIL check of the report's counts
    --scale  N generated records: product build (in a child process, for
             its peak memory), index size, query p50/p95, FTS5 alongside

Nothing here asserts a time; it measures and prints.  The product steps are
skipped with "product: not available" when ``search.build_index`` is absent.

    .venv/bin/python bench/bench.py --runs 1 --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import generate
import peers

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
STEPS = ("build", "query", "cold", "reindex")
PEER_LABELS = {
    "fts5": "sqlite FTS5 (mmap, 256 MiB cache, optimized)",
    "fts5-default": "sqlite FTS5, sqlite's defaults (figures before session eleven)",
    "fts5-terms": "sqlite FTS5's bm25 over the product's terms (a diagnostic)",
    "tantivy": "tantivy",
    "whoosh": "plain Whoosh script (one writer, StemmingAnalyzer)",
    "bm25s": "bm25s (PyStemmer, in-memory sparse matrix)",
}
REPORT_FIELDS = ("added", "updated", "deleted", "unchanged", "skipped")

# Run in a child so that its peak memory is its own: the benchmark process
# holds parsed corpora and peer indexes that would swamp the figure.
_CHILD_BUILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from search import build_index
started = time.perf_counter()
report = build_index([sys.argv[2]], sys.argv[3], full=sys.argv[4:5] != ["incremental"])
seconds = time.perf_counter() - started
counts = {}
for name in ("added", "updated", "deleted", "unchanged", "skipped"):
    value = getattr(report, name, 0)
    counts[name] = value if isinstance(value, int) else len(value)
# Linux carries ru_maxrss across exec, so it starts at the high-water mark of
# the process that started this one (the benchmark's own); VmHWM is this
# program's alone.  Both are kilobytes on Linux.
maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as status:
        maxrss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({
    "seconds": seconds,
    "report": counts,
    "maxrss_self": maxrss,
    "maxrss_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


# The scale step's queries also run in a child, so that the peak RSS of a
# process that only opens the index and searches it is measured on its own
# (the "query process under 1 GiB").  Warm-up pass, then timed passes,
# in wall and CPU time as time_interleaved (not imported: the child holds
# only what a query process needs).
_CHILD_QUERY = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from search import open_index
queries, runs = json.loads(open(sys.argv[3], encoding="utf-8").read()), int(sys.argv[4])
ix = open_index(sys.argv[2])
modes = {"product": {}, "product_lean": {"facets": False, "feedback": False}}
out = {}
for mode, kwargs in modes.items():
    empty = sum(1 for q in queries if not ix.search(q, limit=10, **kwargs).hits)
    figures = {"p50": [], "p95": [], "cpu_p50": [], "cpu_p95": []}
    for _ in range(runs):
        lat, cpu = [], []
        for q in queries:
            started, started_cpu = time.perf_counter(), time.process_time()
            ix.search(q, limit=10, **kwargs)
            cpu.append(time.process_time() - started_cpu)
            lat.append(time.perf_counter() - started)
        for key, values in (("", lat), ("cpu_", cpu)):
            values.sort()
            figures[key + "p50"].append(statistics.median(values) * 1e3)
            figures[key + "p95"].append(values[min(len(values) - 1, round(0.95 * (len(values) - 1)))] * 1e3)
    out[mode] = {**{k + "_ms": statistics.median(v) for k, v in figures.items()},
                 **{"runs_" + k + "_ms": v for k, v in figures.items()}, "queries_without_hits": empty}
ix.close()
with open("/proc/self/status") as status:
    out["query_peak_rss_kb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps(out))
"""

# The scale step's FTS5 builds and queries, each in a child of its own like
# the product's (bench.fts5_child): "build BENCH FOLDER DB NAME GROUP TITLES"
# or "query BENCH DB NAME GROUP QUERIES RUNS"; one JSON line on stdout.
_CHILD_FTS5 = r"""
import sys
sys.path.insert(0, sys.argv[2])
import bench
sys.exit(bench.fts5_child(sys.argv[1:]))
"""


def peer_list(spec: str) -> list[str]:
    """The peers of ``--peers``; the tuned FTS5 brings the one with sqlite's
    defaults along, the FTS5 older figures were measured against."""
    names = [p for p in spec.split(",") if p]
    if "fts5" in names and "fts5-default" not in names:
        names.insert(names.index("fts5") + 1, "fts5-default")
    return names


def sync() -> None:
    """Write back every dirty page (untimed, before a timed build)."""
    if hasattr(os, "sync"):
        os.sync()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def cpu_seconds() -> float:
    """CPU time (user and system) of this process and of its children that
    have been waited for: a process pool's workers, once it shut down."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def children_cpu_seconds() -> float:
    """CPU time (user and system) of this process's children that have been
    waited for, and of their own waited-for descendants: a child build and
    its parsing workers, measured around the child (the scale step)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def timed_cpu(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, float, Any]:
    """`timed`, and the CPU seconds it took (cpu_seconds)."""
    started = cpu_seconds()
    seconds, result = timed(fn, *args, **kwargs)
    return seconds, cpu_seconds() - started, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentiles(latencies: Sequence[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p95 * 1e3


def rss_bytes(maxrss: int) -> int:
    # ru_maxrss is kilobytes on Linux and bytes on macOS.
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def _tree(root: int) -> list[int]:
    """`root` and its descendants, from /proc (children of every thread)."""
    pids, queue = [], [root]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as handle:
                    queue.extend(int(child) for child in handle.read().split())
        except OSError:
            pass  # gone meanwhile
    return pids


def _memory(pid: int) -> tuple[int, int]:
    """RSS and PSS of one process in bytes; (0, 0) when it is gone."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, pss


def run_sampled(cmd: list[str], every: float = 0.5) -> tuple[subprocess.CompletedProcess[str], dict[str, int]]:
    """Run `cmd` and sample the memory of its whole process tree every `every` s.

    The peaks of the summed RSS (which counts pages a forked child still
    shares with its parent once per process) and of the summed PSS (which
    splits them: what the machine really holds).  Empty without /proc."""
    peaks = {"peak_tree_rss_bytes": 0, "peak_tree_pss_bytes": 0}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        sampling = os.path.exists(f"/proc/{proc.pid}/smaps_rollup")
        started = last_note = time.monotonic()
        while proc.poll() is None:
            if sampling and time.monotonic() - last_note >= 60:
                # A long build's peaks so far, on stderr: if it is stopped
                # before the end, what it had reached is still known.
                last_note = time.monotonic()
                log(
                    f"    {last_note - started:.0f} s: peak so far PSS {fmt_bytes(peaks['peak_tree_pss_bytes'])}, "
                    f"RSS sum {fmt_bytes(peaks['peak_tree_rss_bytes'])}"
                )
            if sampling:
                rss = pss = 0
                for pid in _tree(proc.pid):
                    one_rss, one_pss = _memory(pid)
                    rss, pss = rss + one_rss, pss + one_pss
                peaks["peak_tree_rss_bytes"] = max(peaks["peak_tree_rss_bytes"], rss)
                peaks["peak_tree_pss_bytes"] = max(peaks["peak_tree_pss_bytes"], pss)
            time.sleep(every)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
    return done, (peaks if sampling else {})


def report_counts(report: Any) -> dict[str, int]:
    counts = {}
    for name in REPORT_FIELDS:
        value = getattr(report, name, 0)
        counts[name] = value if isinstance(value, int) else len(value)
    return counts


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms"


def fmt_bytes(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    lines = [
        "| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in (header, *rows)
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def target(ratio: float, limit: float, percent: bool = False) -> str:
    shown = f"{limit:.0%}" if percent else f"{limit:g}x"
    return f"target <= {shown}: {'met' if ratio <= limit else 'missed'}"


def time_commands(
    commands: dict[str, list[str]], rounds: int, env: dict[str, str], strict: Sequence[str] = ()
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Each command run once unmeasured, then `rounds` times in turns, the
    order reversed every other round (so that no command always follows the
    same one on a loaded machine): per command the median wall time
    (``seconds``, what a user waits) and the median CPU time of the process
    and its children (``cpu_seconds``: user + system, from
    ``RUSAGE_CHILDREN``; on two shared cores the wall time also holds
    the time other processes took the core), each round's figures, and
    the lines its last run printed (a check that it really answered).
    Errors: a command that exited other than 0 or 1 (grep's no match), or
    other than 0 if it is one of `strict`."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    output_lines: dict[str, int] = {}
    errors: dict[str, str] = {}
    for round_ in range(rounds + 1):
        order = list(commands.items())
        if round_ % 2 == 0:
            order.reverse()
        for name, command in order:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
            elapsed = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode not in (0, 1) or (name in strict and done.returncode):
                errors[name] = f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[-500:]}"
            if round_:
                samples[name].append(elapsed)
                cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            output_lines[name] = len(done.stdout.splitlines())
    timed = {
        name: {
            "seconds": median(times),
            "runs": times,
            "cpu_seconds": median(cpu[name]),
            "cpu_runs": cpu[name],
            "output_lines": output_lines[name],
        }
        for name, times in samples.items()
    }
    return timed, errors


# ---------------------------------------------------------------- machine


def machine_facts() -> dict[str, Any]:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = 0
    import whoosh
    import yaml

    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "memory_bytes": memory,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "whoosh": whoosh.versionstring(),
        "pyyaml": f"{yaml.__version__} (libyaml {'yes' if yaml.__with_libyaml__ else 'no'})",
        "tantivy": version("tantivy"),
        "sqlite": sqlite3.sqlite_version,
        "news-search": version("news-search"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": load_average(),
    }


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 1)
    except (AttributeError, OSError):
        return None


def load_product() -> tuple[Any, str]:
    """The `search` package from this checkout, or None and the reason."""
    if str(REPO) not in sys.path:
        sys.path.insert(1, str(REPO))
    try:
        import search

        # The package may load these lazily, so touching them is the real test.
        search.build_index, search.open_index  # noqa: B018
    except AttributeError as exc:
        return None, f"search has no build_index/open_index yet ({exc})"
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return None, f"import search failed: {exc!r}"
    return search, ""


# ---------------------------------------------------------------- queries


def make_queries(titles: Sequence[str], n: int, seed: int) -> list[str]:
    """`n` queries of 1-3 consecutive content words from random titles."""
    from whoosh.analysis import STOP_WORDS

    rng = random.Random(seed)
    queries: list[str] = []
    for _ in range(n * 50):
        if len(queries) == n or not titles:
            break
        words = [
            w for w in peers.query_terms(rng.choice(titles)) if len(w) >= 3 and not w.isdigit() and w not in STOP_WORDS
        ]
        if words:
            k = rng.randint(1, min(3, len(words)))
            start = rng.randrange(len(words) - k + 1)
            queries.append(" ".join(words[start : start + k]))
    return queries


def peer_hits(peer: Any) -> Callable[[str], int]:
    """A peer's top-10 search, returning its hit count (for `time_queries`)."""
    return lambda q: len(peer.search(q, 10))


def fts5_facet_table(db: sqlite3.Connection, docs: Iterable[peers.Doc]) -> None:
    """The table fts5_page's GROUP BY reads: (rowid, facet, value) rows for
    the topics, provider and year of each record, in the order they were
    inserted into ``docs``."""
    db.execute("DROP TABLE IF EXISTS facet")
    db.execute("CREATE TABLE facet(doc INTEGER, facet TEXT, value TEXT)")
    rowids = [r for (r,) in db.execute("SELECT rowid FROM docs ORDER BY rowid")]
    rows = []
    for rowid, doc in zip(rowids, docs, strict=True):
        rows += [(rowid, "topics", t) for t in doc.topics]
        if doc.provider:
            rows.append((rowid, "providers", doc.provider))
        if doc.published:
            rows.append((rowid, "years", str(doc.published.year)))
    with db:
        db.executemany("INSERT INTO facet VALUES (?, ?, ?)", rows)
        db.execute("CREATE INDEX facet_doc ON facet(doc)")


def fts5_page(peer: Any, docs: Sequence[peers.Doc] | None) -> Callable[[str], int]:
    """FTS5 doing the product's whole page: the top 10 with a snippet() each,
    and facet counts (topics, provider, year) over every match by a GROUP BY
    on a facet table joined to the matches, top 20 of each.  The table is
    built here from `docs`, untimed (None: it was built before, by
    fts5_facet_table)."""
    db = peer._db
    if docs is not None:
        fts5_facet_table(db, docs)
    weights = ", ".join(str(w) for w in peers.FIELD_WEIGHTS.values())
    joiner = " OR " if peer.group == "or" else " "

    def search(q: str) -> int:
        terms = peers.query_terms(q)
        if not terms:
            return 0
        match = joiner.join(f'"{t}"' for t in terms)
        hits = db.execute(
            f"SELECT name, snippet(docs, -1, '<em>', '</em>', '…', 16) FROM docs WHERE docs MATCH ? "
            f"ORDER BY bm25(docs, {weights}) LIMIT 10",
            (match,),
        ).fetchall()
        counts: dict[str, list[tuple[int, str]]] = {}
        for facet, value, n in db.execute(
            "SELECT f.facet, f.value, COUNT(*) FROM docs JOIN facet f ON f.doc = docs.rowid "
            "WHERE docs MATCH ? GROUP BY f.facet, f.value",
            (match,),
        ):
            counts.setdefault(facet, []).append((-n, value))
        _top = {facet: sorted(values)[:20] for facet, values in counts.items()}
        return len(hits)

    return search


def time_queries(search: Callable[[str], int], queries: Sequence[str], runs: int) -> dict[str, Any]:
    """Warm-up pass, then `runs` timed passes; `search` returns its hit count."""
    return time_interleaved({"one": search}, queries, runs)["one"]


def time_interleaved(searches: dict[str, Callable[[str], int]], queries: Sequence[str], runs: int) -> dict[str, Any]:
    """time_queries of each of `searches`, their timed passes taken in turns
    (a warm-up pass of each first): the first pass of each, then the second
    of each, and so on.  A few seconds of load from elsewhere on a shared
    machine then fall on every one of them alike, where passes taken one
    search after another gave the last one alone a slow stretch (the
    product's lean search, run last, was 2.69 ms at the median against
    1.90 ms in its own third pass, in a run at load 0.8-1.8).

    Each query is timed twice over: wall clock (``p50_ms``, what a user
    waits) and this process's CPU time (``cpu_p50_ms``: user and system, all
    its threads), which other work on the machine barely moves.  At a load
    of 15 on 2 cores a query waits for a core most of its wall time, so the
    wall figures follow the load and the CPU ones the code; every engine
    here searches in this process, so the CPU time is its whole cost."""
    empty = {name: sum(1 for q in queries if search(q) == 0) for name, search in searches.items()}
    figures: dict[str, dict[str, list[float]]] = {
        name: {"p50": [], "p95": [], "cpu_p50": [], "cpu_p95": []} for name in searches
    }
    for _ in range(runs):
        for name, search in searches.items():
            latencies, cpu = [], []
            for q in queries:
                started, started_cpu = time.perf_counter(), time.process_time()
                search(q)
                cpu.append(time.process_time() - started_cpu)
                latencies.append(time.perf_counter() - started)
            mine = figures[name]
            for key, values in (("", latencies), ("cpu_", cpu)):
                p50, p95 = percentiles(values)
                mine[f"{key}p50"].append(p50)
                mine[f"{key}p95"].append(p95)
    return {
        name: {
            **{f"{key}_ms": median(values) for key, values in figures[name].items()},
            **{f"runs_{key}_ms": values for key, values in figures[name].items()},
            "queries_without_hits": empty[name],
        }
        for name in searches
    }


def scale_fts5_build(folder: Path, db_dir: Path, name: str, group: peers.Group, titles_file: Path) -> dict[str, Any]:
    """An FTS5 peer's build of `folder` for the scale step.  Parse and build
    are streamed together, so a million records never sit in memory at once;
    parsing time is summed inside the stream.  Then, untimed: the page's
    facet table (the tuned peer only) and the first 20,000 titles, written
    to `titles_file`, that the queries are drawn from."""
    parse_seconds = 0.0
    titles: list[str] = []
    facets: list[peers.Doc] = []

    def stream() -> Iterator[peers.Doc]:
        nonlocal parse_seconds
        for path in peers.iter_record_paths(folder):
            started = time.perf_counter()
            doc = peers.load_doc(path)
            parse_seconds += time.perf_counter() - started
            if len(titles) < 20_000:
                titles.append(doc.title)
            # What fts5_page's facet table needs, without the texts.
            facets.append(peers.Doc("", "", "", "", doc.topics, doc.provider, doc.published))
            yield doc

    peer = peers.make_peer(name, db_dir, group)
    try:
        total, _ = timed(peer.build, stream())
        index_bytes = peer.size_bytes()
        if name == "fts5":
            fts5_facet_table(peer._db, facets)
    finally:
        peer.close()
    titles_file.write_text(json.dumps(titles), encoding="utf-8")
    return {"parse_seconds": parse_seconds, "seconds": total - parse_seconds, "index_bytes": index_bytes}


def scale_fts5_query(db_dir: Path, name: str, group: peers.Group, queries: Sequence[str], runs: int) -> dict[str, Any]:
    """An FTS5 peer's top 10 (and, the tuned one, the page) over an index
    scale_fts5_build left, in turns (time_interleaved)."""
    peer = peers.make_peer(name, db_dir, group)
    try:
        peer.open()
        searches = {"top10": peer_hits(peer)}
        if name == "fts5":
            searches["page"] = fts5_page(peer, None)
        return time_interleaved(searches, queries, runs)
    finally:
        peer.close()


def fts5_child(argv: list[str]) -> int:
    """The body of _CHILD_FTS5: one JSON line on stdout."""
    if argv[0] == "build":
        folder, db_dir, name, group, titles_file = argv[2:]
        out = scale_fts5_build(Path(folder), Path(db_dir), name, group, Path(titles_file))  # type: ignore[arg-type]
    else:
        db_dir, name, group, query_file, runs = argv[2:]
        queries = json.loads(Path(query_file).read_text(encoding="utf-8"))
        out = scale_fts5_query(Path(db_dir), name, group, queries, int(runs))  # type: ignore[arg-type]
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------- reindex


@dataclass(frozen=True)
class Mutation:
    total_before: int
    changed: int
    deleted: int
    added: int

    @property
    def total_after(self) -> int:
        return self.total_before - self.deleted + self.added


def _prefix_scalar(text: str, key: str, prefix: str) -> str | None:
    """`text` with `prefix` put at the start of top-level `key`'s value."""
    marker = f"\n{key}: "
    at = text.find(marker)
    if at < 0:
        return None
    value = at + len(marker)
    if text[value : value + 1] in ("'", '"'):
        value += 1
    elif text[value : value + 1] in ("|", ">", "&", "*", "!", "{", "["):
        return None
    return text[:value] + prefix + text[value:]


def mutate(folder: Path, seed: int) -> Mutation:
    """Edit 1% of the records' excerpts, delete 0.5%, add 0.5% new ones."""
    paths = list(peers.iter_record_paths(folder))
    total = len(paths)
    rng = random.Random(seed)
    rng.shuffle(paths)
    n_change, n_delete, n_add = (round(total * 0.01), round(total * 0.005), round(total * 0.005))
    pending = iter(paths)

    def rewrite(path: Path, key: str, prefix: str, target: Path) -> bool:
        original = path.read_text(encoding="utf-8")
        edited = _prefix_scalar(original, key, prefix)
        if edited is None:
            return False
        target.write_text(edited, encoding="utf-8")
        try:
            ok = bool(getattr(peers.load_doc(target), key).startswith(prefix))
        except Exception:  # the edit broke the YAML, whatever the error
            ok = False
        if not ok:  # an unusual layout: put the file back and pick another
            if target == path:
                path.write_text(original, encoding="utf-8")
            else:
                target.unlink()
        return ok

    changed = deleted = added = 0
    while changed < n_change:
        path = next(pending)
        changed += rewrite(path, "excerpt", "Updated ", path)
    while added < n_add:
        path = next(pending)
        added += rewrite(path, "title", f"Added {added} ", path.with_name(f"{path.stem}-added-{added}.md"))
    while deleted < n_delete:
        next(pending).unlink()
        deleted += 1
    return Mutation(total, changed, deleted, added)


# ---------------------------------------------------------------- harness


class Bench:
    """The run's shared state (parsed records, built peers, the product's index) and its steps."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.runs: int = args.runs
        self.product, self.product_missing = load_product()
        self.folders = generate.unpack_corpora(args.shared, args.cache)
        self.folder = self.folders[args.corpus]
        self.docs: list[peers.Doc] | None = None
        self.peers: dict[str, Any] = {}
        self.product_index: Path | None = None
        self.results: dict[str, Any] = {}
        self.peer_names = peer_list(args.peers)
        if "tantivy" in self.peer_names:
            try:
                import tantivy  # noqa: F401
            except ImportError:
                log("tantivy: not installed (pip install .[bench]); skipping it")
                self.peer_names.remove("tantivy")
        if "bm25s" in self.peer_names:
            try:
                import bm25s  # noqa: F401
                import Stemmer  # noqa: F401
            except ImportError:
                log("bm25s: not installed (pip install .[bench]); skipping it")
                self.peer_names.remove("bm25s")

    # -- shared state, built untimed when a step needs it and build did not run

    def parsed(self) -> list[peers.Doc]:
        if self.docs is None:
            self.docs = peers.load_docs(self.folder)
        return self.docs

    def peer(self, name: str) -> Any:
        if name not in self.peers:
            log(f"  building {name} (untimed, for queries)")
            peer = peers.make_peer(name, self.tmp / name, group=self.args.peer_semantics)
            peer.build(self.parsed())
            self.peers[name] = peer
        return self.peers[name]

    def product_index_dir(self) -> Path:
        if self.product_index is None:
            log("  building the product index (untimed)")
            self.product_index = self.tmp / "product-index"
            self.product.build_index([str(self.folder)], str(self.product_index), full=True)
        return self.product_index

    # -- steps

    def step_build(self) -> None:
        """Each engine's build, the runs taken in rounds: the parse, every peer
        and the product once each, then again.  Engines built one after
        another, minutes apart, divided builds taken under different loads
        (a shared machine's load moves 2-3x in that time); in rounds, each
        round's ratio compares builds taken minutes apart at most, and the
        ratio reported is the median of the rounds' ratios.

        In each round the builds the ratios divide (the product, with its
        default processes and with one, and FTS5, tuned and with sqlite's
        defaults) come first, right after the parse, their order turned by
        one each round, so none always follows the plain Whoosh script's
        long build; every build starts after an untimed ``os.sync()``, so no
        engine pays for writing back the one before it.

        The product parses in a pool of up to two processes (one per core)
        where FTS5 and the parse run in one thread; ``product-1`` is the
        same build with ``procs=1``, all in this process, the like-for-like
        figure.  Beside the wall clock each build's CPU time is taken (this
        process's and its waited-for children's, the pool's workers): the
        work done, which a loaded machine barely moves."""
        errors: list[tuple[Path, str]] = []
        parse_times: list[float] = []
        parse_cpu: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in self.builds()}
        cpu: dict[str, list[float]] = {name: [] for name in self.builds()}
        reports: list[dict[str, int]] = []
        orders: list[list[str]] = []
        index_dir = self.tmp / "product-index"
        for run in range(self.runs):
            errors.clear()
            seconds, used, self.docs = timed_cpu(peers.load_docs, self.folder, errors)
            parse_times.append(seconds)
            parse_cpu.append(used)
            log(f"  parse run {run + 1}: {seconds:.2f} s, CPU {used:.2f} s, {len(self.docs):,} records")
            order = self.build_order(run)
            orders.append(order)
            for name in order:
                sync()
                if name in ("product", "product-1"):
                    # Apart, so the query step searches the default build's segments.
                    target_dir = index_dir if name == "product" else self.tmp / "product-index-1"
                    shutil.rmtree(target_dir, ignore_errors=True)
                    procs = {"procs": 1} if name == "product-1" else {}
                    seconds, used, report = timed_cpu(
                        self.product.build_index, [str(self.folder)], str(target_dir), full=True, **procs
                    )
                    reports.append(report_counts(report))
                    if name == "product":
                        self.product_index = index_dir
                else:
                    if name in self.peers:
                        self.peers.pop(name).close()
                    peer = peers.make_peer(name, self.tmp / name, group=self.args.peer_semantics)
                    seconds, used, _ = timed_cpu(peer.build, self.parsed())
                    self.peers[name] = peer
                times[name].append(seconds)
                cpu[name].append(used)
                log(f"  {name} build run {run + 1}: {seconds:.2f} s, CPU {used:.2f} s")
        parse = median(parse_times)
        result: dict[str, Any] = {
            "parse": {
                "seconds": parse,
                "runs": parse_times,
                "cpu_seconds": median(parse_cpu),
                "cpu_runs": parse_cpu,
                "records": len(self.parsed()),
                "errors": len(errors),
            }
        }
        for name in self.builds():
            result[name] = {"seconds": median(times[name]), "runs": times[name],
                            "cpu_seconds": median(cpu[name]), "cpu_runs": cpu[name]}
            if name in self.peers:
                result[name]["index_bytes"] = self.peers[name].size_bytes()
        if self.product is not None:
            result["product"].update(report=reports[-1], index_bytes=peers.disk_usage(index_dir))
            # ratio_to_parse_plus_fts5 keeps its meaning from before session
            # eleven: FTS5 with sqlite's defaults, which builds without the
            # tuned peer's optimize and so is the quicker build to beat.
            for mine in ("product", "product-1"):
                for peer_name, key in (("fts5-default", ""), ("fts5", "_tuned")):
                    if peer_name in result:
                        rounds = [
                            product / (parsed + fts5)
                            for product, parsed, fts5 in zip(times[mine], parse_times, times[peer_name], strict=True)
                        ]
                        result[mine][f"ratio_to_parse_plus_fts5{key}"] = median(rounds)
                        result[mine][f"ratio{key}_runs"] = rounds
                        cpu_rounds = [
                            product / (parsed + fts5)
                            for product, parsed, fts5 in zip(cpu[mine], parse_cpu, cpu[peer_name], strict=True)
                        ]
                        result[mine][f"cpu_ratio_to_parse_plus_fts5{key}"] = median(cpu_rounds)
        result["orders"] = orders
        self.results["build"] = result

    def builds(self) -> list[str]:
        """Every build of a round: the peers, then the product's two."""
        return self.peer_names + (["product", "product-1"] if self.product is not None else [])

    def build_order(self, run: int) -> list[str]:
        """The builds of round `run` (see step_build)."""
        divided = [n for n in ("fts5", "fts5-default") if n in self.peer_names]
        if self.product is not None:
            divided += ["product", "product-1"]
        turn = run % len(divided) if divided else 0
        others = [n for n in self.peer_names if n not in divided]
        return divided[turn:] + divided[:turn] + others

    def step_query(self) -> None:
        queries = make_queries([d.title for d in self.parsed()], self.args.queries, self.args.seed)
        result: dict[str, Any] = {
            "queries": len(queries),
            "sample": queries[:5],
            "peer_semantics": self.args.peer_semantics,
        }
        # Every search below is timed in turns with the others (time_interleaved),
        # so the same-run ratios compare passes taken under the same load.
        searches: dict[str, Callable[[str], int]] = {}
        for name in self.peer_names:
            peer = self.peer(name)
            searches[name] = peer_hits(peer)
            if name == "fts5":
                # The same work as the product's default page: snippets and facets.
                searches["fts5_page"] = fts5_page(peer, self.parsed())
        ix = None
        if self.product is not None:
            ix = self.product.open_index(str(self.product_index_dir()))
            searches["product"] = lambda q: len(ix.search(q, limit=10).hits)
            if "facets" in inspect.signature(ix.search).parameters:
                searches["product_no_facets"] = lambda q: len(ix.search(q, limit=10, facets=False).hits)
            if "feedback" in inspect.signature(ix.search).parameters:
                searches["product_lean"] = lambda q: len(ix.search(q, limit=10, facets=False, feedback=False).hits)
        try:
            result.update(time_interleaved(searches, queries, self.runs))
        finally:
            if ix is not None:
                ix.close()
        if "fts5_page" in result:
            # The page's facets need their table: the same work stores it too.
            result["fts5_page"]["index_bytes"] = self.peer("fts5").size_bytes()
        for name in searches:
            log(f"  {name} queries: p50 {result[name]['p50_ms']:.2f} ms")
        self.results["query"] = result

    def step_cold(self) -> None:
        word = self.args.word
        commands: dict[str, list[str]] = {
            "grep": ["grep", "-ril", word, str(self.folder)],
            "python_imports": [sys.executable, "-c", "import typer, rich, whoosh, yaml"],
        }
        result: dict[str, Any] = {"word": word, "runs": self.args.cold_runs}
        cli = Path(sys.executable).parent / "search"
        if self.product is None:
            pass
        elif not cli.exists():
            log(f"  product CLI: not installed at {cli} (pip install -e .)")
            result["product_error"] = f"no console script at {cli}"
        else:
            commands["product"] = [str(cli), "query", word, "--index", str(self.product_index_dir())]
        # One unmeasured round first, so every command meets the same warm
        # page cache and the product's .pyc files exist.  An installed
        # command runs from compiled files; with PYTHONDONTWRITEBYTECODE set
        # (some CI and sandbox shells set it) an editable install would
        # compile its modules from source on every run instead (0.61 s of
        # CPU against 0.46 s for a Reuters cold query, medians of 10 at load 11-13).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        timed, errors = time_commands(commands, self.args.cold_runs, env, strict=["product"])
        for name, error in errors.items():
            result[f"{name}_error"] = error
        result.update(timed)
        if "product" in result:
            result["product"]["ratio_to_grep"] = result["product"]["seconds"] / result["grep"]["seconds"]
            result["product"]["cpu_ratio_to_grep"] = result["product"]["cpu_seconds"] / result["grep"]["cpu_seconds"]
        self.results["cold"] = result

    def step_reindex(self) -> None:
        if self.product is None:
            log("  product: not available; no reindex figures")
            return
        runs: list[dict[str, Any]] = []
        for run in range(self.runs):
            work = self.tmp / f"reindex-{run}"
            records, index_dir = work / "records", work / "index"
            shutil.copytree(self.folder, records)
            build = self.product.build_index
            full_s, full = timed(build, [str(records)], str(index_dir), full=True)
            full_counts = report_counts(full)
            mutation = mutate(records, self.args.seed)
            inc_s, inc = timed(build, [str(records)], str(index_dir))
            none_s, none = timed(build, [str(records)], str(index_dir))
            skipped = full_counts["skipped"]
            expected_inc = {
                "added": mutation.added,
                "updated": mutation.changed,
                "deleted": mutation.deleted,
                "skipped": skipped,
                "unchanged": mutation.total_before - skipped - mutation.changed - mutation.deleted,
            }
            expected_none = {
                "added": 0,
                "updated": 0,
                "deleted": 0,
                "skipped": skipped,
                "unchanged": mutation.total_after - skipped,
            }
            runs.append(
                {
                    "full": {"seconds": full_s, "report": full_counts},
                    "incremental": {"seconds": inc_s, "report": report_counts(inc), "expected": expected_inc},
                    "no_change": {"seconds": none_s, "report": report_counts(none), "expected": expected_none},
                    "mutation": {
                        "changed": mutation.changed,
                        "deleted": mutation.deleted,
                        "added": mutation.added,
                        "records_before": mutation.total_before,
                    },
                }
            )
            log(f"  reindex run {run + 1}: full {full_s:.2f} s, incremental {inc_s:.2f} s, no change {none_s:.2f} s")
            shutil.rmtree(work, ignore_errors=True)
        result: dict[str, Any] = {"runs": runs}
        for kind in ("full", "incremental", "no_change"):
            result[kind] = median([r[kind]["seconds"] for r in runs])
        # Each run's incremental and no-change runs divided by its own full
        # build, minutes apart at most, and the median of those ratios (as
        # step_build's rounds): a median over one run's incremental divided by
        # another run's full build mixed runs taken under different loads.
        for kind in ("incremental", "no_change"):
            ratios = [r[kind]["seconds"] / r["full"]["seconds"] for r in runs]
            result[f"{kind}_ratio"] = median(ratios)
            result[f"{kind}_ratio_runs"] = ratios
        result["counts_ok"] = all(
            r[kind]["report"] == r[kind]["expected"] for r in runs for kind in ("incremental", "no_change")
        )
        self.results["reindex"] = result

    def step_scale(self, n: int) -> dict[str, Any]:
        # A kept corpus is written where it is kept: the index names its files by
        # path, so moving the corpus afterwards would make bench/cluster.py's
        # reindex of it see every record deleted and added again.
        home = self.tmp if self.args.scale_keep is None else self.args.scale_keep.resolve()
        home.mkdir(parents=True, exist_ok=True)
        folder, index_dir = home / f"scale-{n}", self.tmp / f"scale-{n}-index"
        given: Path | None = self.args.scale_records
        if given is not None:
            # A corpus generate.py wrote beforehand: used as it is (the
            # incremental run below edits it) and never deleted.
            folder = given.resolve()
            paths = list(peers.iter_record_paths(folder))
            log(f"  using the {len(paths):,} records in {folder}")
            made = generate.Generated(folder, len(paths), sum(p.stat().st_size for p in paths), float("nan"))
        else:
            log(f"  generating {n:,} records")
            made = generate.generate(n, folder, shared=self.args.shared, cache=self.args.cache, seed=self.args.seed)
        result: dict[str, Any] = {
            "records": made.records,
            "generate_seconds": None if given is not None else made.seconds,
            "corpus_bytes": made.bytes,
            "corpus_disk_bytes": peers.disk_usage(folder),
        }
        # FTS5, tuned and with sqlite's defaults, built and queried in child
        # processes as the product is, so that neither side's figures carry
        # this process's parsed corpora, peers or heap (scale_fts5_build).
        titles_file = self.tmp / f"scale-{n}-titles.json"
        query_file = self.tmp / f"scale-{n}-queries.json"
        queries: list[str] = []
        for name in ("fts5", "fts5-default"):
            db_dir = self.tmp / f"scale-{n}-{name}"
            cpu_before = children_cpu_seconds()
            done = subprocess.run(
                [sys.executable, "-c", _CHILD_FTS5, "build", str(BENCH), str(folder), str(db_dir), name,
                 self.args.peer_semantics, str(titles_file)],
                capture_output=True, text=True, check=False,
            )
            if done.returncode:
                raise RuntimeError(f"scale {n:,}: the {name} build failed: {done.stderr.strip()[-800:]}")
            built = json.loads(done.stdout.strip().splitlines()[-1])
            # The child's parse and build together, in CPU: at a load the
            # wall clock of a long build follows the machine (the product's
            # build below runs minutes later, under another load).
            built_cpu = children_cpu_seconds() - cpu_before
            if not queries:
                titles = json.loads(titles_file.read_text(encoding="utf-8"))
                queries = make_queries(titles, self.args.queries, self.args.seed)
                query_file.write_text(json.dumps(queries), encoding="utf-8")
            asked = subprocess.run(
                [sys.executable, "-c", _CHILD_FTS5, "query", str(BENCH), str(db_dir), name,
                 self.args.peer_semantics, str(query_file), str(self.runs)],
                capture_output=True, text=True, check=False,
            )
            if asked.returncode:
                raise RuntimeError(f"scale {n:,}: the {name} queries failed: {asked.stderr.strip()[-800:]}")
            answered = json.loads(asked.stdout.strip().splitlines()[-1])
            result[name] = {"seconds": built["seconds"], "parse_seconds": built["parse_seconds"],
                            "parse_and_build_cpu_seconds": built_cpu,
                            "index_bytes": built["index_bytes"], **answered["top10"]}
            if "page" in answered:
                result["fts5_page"] = answered["page"]
            shutil.rmtree(db_dir, ignore_errors=True)
            log(f"  scale {n:,}: parse {built['parse_seconds']:.1f} s, {name} build {built['seconds']:.1f} s")
        # Parsing alone, as before session eleven: the default FTS5's stream.
        parse_seconds = result["parse_seconds"] = result["fts5-default"]["parse_seconds"]
        if self.product is not None:
            log(f"  scale {n:,}: product full build in a child process")
            cpu_before = children_cpu_seconds()
            done, tree = run_sampled([sys.executable, "-c", _CHILD_BUILD, str(REPO), str(folder), str(index_dir)])
            build_cpu = children_cpu_seconds() - cpu_before
            if done.returncode:
                result["product_error"] = f"exit {done.returncode}: {done.stderr.strip()[-800:]}"
            else:
                child = json.loads(done.stdout.strip().splitlines()[-1])
                product: dict[str, Any] = {
                    "seconds": child["seconds"],
                    "report": child["report"],
                    "peak_rss_bytes": rss_bytes(child["maxrss_self"]),
                    "peak_rss_workers_bytes": rss_bytes(child["maxrss_children"]),
                    **tree,
                    "index_bytes": peers.disk_usage(index_dir),
                    "ratio_to_parse_plus_fts5": child["seconds"] / (parse_seconds + result["fts5-default"]["seconds"]),
                    "ratio_to_parse_plus_fts5_tuned": child["seconds"]
                    / (result["fts5"]["parse_seconds"] + result["fts5"]["seconds"]),
                    # CPU of the whole build (both parsing processes) over
                    # FTS5's parse and build (one thread): the ratio of the
                    # work done, which the load moves far less than the wall's.
                    "cpu_seconds": build_cpu,
                    "cpu_ratio_to_parse_plus_fts5": build_cpu / result["fts5-default"]["parse_and_build_cpu_seconds"],
                }
                log(f"  scale {n:,}: product queries in a child process")
                asked = subprocess.run(
                    [sys.executable, "-c", _CHILD_QUERY, str(REPO), str(index_dir), str(query_file), str(self.runs)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if asked.returncode:
                    result["product_query_error"] = f"exit {asked.returncode}: {asked.stderr.strip()[-800:]}"
                else:
                    answered = json.loads(asked.stdout.strip().splitlines()[-1])
                    product.update(answered["product"])
                    product["lean"] = answered["product_lean"]
                    product["query_peak_rss_bytes"] = answered["query_peak_rss_kb"] * 1024
                # Incremental: 1% edited, 0.5% deleted, 0.5% added, as step_reindex.
                log(f"  scale {n:,}: product incremental build in a child process")
                mutation = mutate(folder, self.args.seed)
                cpu_before = children_cpu_seconds()
                inc, inc_tree = run_sampled(
                    [sys.executable, "-c", _CHILD_BUILD, str(REPO), str(folder), str(index_dir), "incremental"]
                )
                inc_cpu = children_cpu_seconds() - cpu_before
                if inc.returncode:
                    result["product_incremental_error"] = f"exit {inc.returncode}: {inc.stderr.strip()[-800:]}"
                else:
                    child = json.loads(inc.stdout.strip().splitlines()[-1])
                    product["incremental"] = {
                        "seconds": child["seconds"],
                        "report": child["report"],
                        "ratio_to_full": child["seconds"] / product["seconds"],
                        "cpu_seconds": inc_cpu,
                        "cpu_ratio_to_full": inc_cpu / build_cpu,
                        "mutation": {"changed": mutation.changed, "deleted": mutation.deleted, "added": mutation.added},
                        "peak_rss_bytes": rss_bytes(child["maxrss_self"]),
                        **inc_tree,
                    }
                result["product"] = product
        if self.args.scale_keep is not None:
            # Kept for bench/cluster.py --records/--index: the corpus as the
            # incremental run left it, and the index in step with it.
            shutil.move(index_dir, self.args.scale_keep / index_dir.name)
            log(f"  scale {n:,}: corpus and index kept in {self.args.scale_keep}")
        elif given is None:
            shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(index_dir, ignore_errors=True)
        return result

    # -- output

    def render(self) -> str:
        out: list[str] = []
        build, query = self.results.get("build", {}), self.results.get("query", {})
        if build or query:
            rows = []
            if "parse" in build:
                rows.append(["parsing alone (PyYAML CSafeLoader, one process)", fmt_build(build["parse"]), "", ""])
            for name in self.peer_names:
                b, q = build.get(name, {}), query.get(name, {})
                rows.append(
                    [PEER_LABELS[name], fmt_build(b), fmt_ms(q.get("p50_ms")), fmt_ms(q.get("p95_ms"))]
                )
                if name == "fts5" and "fts5_page" in query:
                    q = query["fts5_page"]
                    rows.append(
                        ["sqlite FTS5 + snippet() + GROUP BY facets", "", fmt_ms(q["p50_ms"]), fmt_ms(q["p95_ms"])]
                    )
            if self.product is not None:
                b, q = build.get("product", {}), query.get("product", {})
                rows.append(
                    ["product: full build from files (up to 2 parsing processes); search()", product_build_cell(b),
                     fmt_ms(q.get("p50_ms")), fmt_ms(q.get("p95_ms"))]
                )
                if "product-1" in build:
                    rows.append(["product: full build in one process (procs=1)",
                                 product_build_cell(build["product-1"]), "", ""])
                if "product_no_facets" in query:
                    q = query["product_no_facets"]
                    rows.append(["product: search(facets=False)", "", fmt_ms(q["p50_ms"]), fmt_ms(q["p95_ms"])])
                if "product_lean" in query:
                    q = query["product_lean"]
                    rows.append(
                        ["product: search(facets=False, feedback=False)", "", fmt_ms(q["p50_ms"]), fmt_ms(q["p95_ms"])]
                    )
            else:
                rows.append([f"product: not available ({self.product_missing})", "", "", ""])
            out.append(table(["", "build (files already parsed)", "query p50", "query p95"], rows))
            ratios = []
            for mine, theirs, label in (
                ("product", "fts5_page", "search() / FTS5 with snippets and facets"),
                ("product", "fts5", "search() / FTS5 top 10"),
                ("product", "fts5-default", "search() / FTS5 top 10 with sqlite's defaults"),
                ("product_lean", "fts5", "search(facets=False, feedback=False) / FTS5 top 10"),
            ):
                if mine in query and theirs in query:
                    a, b = query[mine], query[theirs]
                    ratios.append(f"{label}: p50 {a['p50_ms'] / b['p50_ms']:.2f}x, p95 {a['p95_ms'] / b['p95_ms']:.2f}x")
            if ratios:
                out.append("same-run query ratios: " + "; ".join(ratios))
            if "fts5" in query and "cpu_p50_ms" in query["fts5"]:
                out.append("CPU per query (process time, the same passes): " + cpu_ratios(query, "product_lean"))
            # Against the smaller FTS5 index, the default one: on Reuters the
            # tuned file is 42.3 MiB against 40.0, the optimize's merge leaving
            # 1,261 free 4 KiB pages where the default build leaves 594.
            mine_bytes = build.get("product", {}).get("index_bytes")
            fts5_bytes = build.get("fts5-default", build.get("fts5", {})).get("index_bytes")
            if mine_bytes and fts5_bytes:
                sizes = f"index on disk: product {fmt_bytes(mine_bytes)} = {mine_bytes / fts5_bytes:.2f}x FTS5's"
                sizes += f" {fmt_bytes(fts5_bytes)}"
                page_bytes = query.get("fts5_page", {}).get("index_bytes")
                if page_bytes:
                    sizes += f", {mine_bytes / page_bytes:.2f}x FTS5 with the page's facet table ({fmt_bytes(page_bytes)})"
                out.append(sizes)
            if query:
                misses = ", ".join(
                    f"{k} {v['queries_without_hits']}"
                    for k, v in query.items()
                    if isinstance(v, dict) and "queries_without_hits" in v
                )
                semantics = "any word" if query.get("peer_semantics", "or") == "or" else "every word"
                out.append(
                    f"{query['queries']} queries of 1-3 title words, top 10, warm, peers matching {semantics}, "
                    f"e.g. {query['sample'][:3]}; queries with no hit: {misses}"
                )
        cold = self.results.get("cold")
        if cold:
            grep, grep_cpu = cold["grep"]["seconds"], cold["grep"].get("cpu_seconds")

            def cpu(figures: dict[str, Any]) -> list[str]:
                # Results written before the CPU figures were measured have none.
                if grep_cpu is None or "cpu_seconds" not in figures:
                    return ["", ""]
                return [fmt_s(figures["cpu_seconds"]), f"{figures['cpu_seconds'] / grep_cpu:.2f}x"]

            rows = [
                [f"grep -ril {cold['word']} FOLDER", fmt_s(grep), "1.00x", *cpu(cold["grep"])],
                [
                    'python -c "import typer, rich, whoosh, yaml"',
                    fmt_s(cold["python_imports"]["seconds"]),
                    f"{cold['python_imports']['seconds'] / grep:.2f}x",
                    *cpu(cold["python_imports"]),
                ],
            ]
            if "product" in cold:
                ratio = cold["product"]["ratio_to_grep"]
                rows.append(
                    [
                        f"search query {cold['word']} --index DIR",
                        fmt_s(cold["product"]["seconds"]),
                        f"{ratio:.2f}x ({target(ratio, 2)})",
                        *cpu(cold["product"]),
                    ]
                )
            header = [f"cold command (median of {cold['runs']})", "wall", "vs grep", "CPU", "CPU vs grep"]
            out.append(table(header, rows))
            errors = [f"{k}: {v}" for k, v in cold.items() if k.endswith("_error")]
            out.extend(errors)
        reindex = self.results.get("reindex")
        if reindex:
            last = reindex["runs"][-1]
            m = last["mutation"]

            def counts(c: dict[str, int]) -> str:
                return "/".join(str(c[f]) for f in REPORT_FIELDS)

            rows = [
                ["full build", fmt_s(reindex["full"]), "", counts(last["full"]["report"]), ""],
                [
                    f"incremental ({m['changed']} edited, {m['deleted']} deleted, {m['added']} added)",
                    fmt_s(reindex["incremental"]),
                    f"{reindex['incremental_ratio']:.1%} ({target(reindex['incremental_ratio'], 0.05, percent=True)})",
                    counts(last["incremental"]["report"]),
                    counts(last["incremental"]["expected"]),
                ],
                [
                    "no change",
                    fmt_s(reindex["no_change"]),
                    f"{reindex['no_change_ratio']:.1%} ({target(reindex['no_change_ratio'], 0.02, percent=True)})",
                    counts(last["no_change"]["report"]),
                    counts(last["no_change"]["expected"]),
                ],
            ]
            out.append(table(["reindex run", "seconds", "vs full", "report a/u/d/unch/skip", "expected"], rows))
            out.append(f"reindex report counts: {'PASS' if reindex['counts_ok'] else 'FAIL'}")
        for s in self.results.get("scale", []):
            rows = [
                [
                    f"{PEER_LABELS[name]} (parse + build, streamed, in a child)",
                    fmt_s(s[name]["parse_seconds"] + s[name]["seconds"]),
                    fmt_bytes(s[name]["index_bytes"]),
                    fmt_ms(s[name]["p50_ms"]),
                    fmt_ms(s[name]["p95_ms"]),
                    "",
                ]
                for name in ("fts5", "fts5-default")
            ]
            p = s.get("product")
            if p:
                rows.append(
                    [
                        f"product full build ({p['ratio_to_parse_plus_fts5']:.2f}x parse+FTS5, "
                        f"{p['ratio_to_parse_plus_fts5_tuned']:.2f}x parse+FTS5 tuned)",
                        fmt_s(p["seconds"]),
                        fmt_bytes(p["index_bytes"]),
                        fmt_ms(p["p50_ms"]),
                        fmt_ms(p["p95_ms"]),
                        (
                            f"{fmt_bytes(p['peak_rss_bytes'])} main, "
                            f"{fmt_bytes(p['peak_rss_workers_bytes'])} largest worker"
                            + (
                                f"; all processes {fmt_bytes(p['peak_tree_pss_bytes'])} "
                                f"(PSS; RSS sum {fmt_bytes(p['peak_tree_rss_bytes'])})"
                                if "peak_tree_pss_bytes" in p
                                else ""
                            )
                        ),
                    ]
                )
                if "lean" in p:
                    lean = p["lean"]
                    rows.append(
                        ["product search(facets=False, feedback=False)", "", "", fmt_ms(lean["p50_ms"]),
                         fmt_ms(lean["p95_ms"]), ""]
                    )
                if "query_peak_rss_bytes" in p:
                    rows.append(["product query process (open, all queries)", "", "", "", "",
                                 fmt_bytes(p["query_peak_rss_bytes"])])
                if "incremental" in p:
                    inc = p["incremental"]
                    m = inc["mutation"]
                    rows.append(
                        [
                            f"product incremental ({m['changed']} edited, {m['deleted']} deleted, {m['added']} added): "
                            f"{inc['ratio_to_full']:.1%} of full ({target(inc['ratio_to_full'], 0.05, percent=True)})",
                            fmt_s(inc["seconds"]), "", "", "",
                            fmt_bytes(inc.get("peak_tree_pss_bytes", inc["peak_rss_bytes"])),
                        ]
                    )
            elif "product_error" in s:
                rows.append([f"product failed: {s['product_error']}", "", "", "", "", ""])
            if "fts5_page" in s:
                rows.insert(2, ["sqlite FTS5 + snippet() + GROUP BY facets", "", "",
                                fmt_ms(s["fts5_page"]["p50_ms"]), fmt_ms(s["fts5_page"]["p95_ms"]), ""])
            for key in ("product_query_error", "product_incremental_error"):
                if key in s:
                    rows.append([f"{key}: {s[key]}", "", "", "", "", ""])
            out.append(
                f"scale: {s['records']:,} generated records, {fmt_bytes(s['corpus_bytes'])} "
                f"({fmt_bytes(s['corpus_disk_bytes'])} on disk), "
                + ("generated beforehand" if s["generate_seconds"] is None else f"generated in {fmt_s(s['generate_seconds'])}")
                + f"; parsing alone {fmt_s(s['parse_seconds'])}"
            )
            out.append(table(["", "build", "index size", "query p50", "query p95", "peak RSS"], rows))
            ratios = []
            if p:
                smaller = min(s["fts5"]["index_bytes"], s["fts5-default"]["index_bytes"])
                ratios.append(f"index size {p['index_bytes'] / smaller:.2f}x the smaller FTS5's (target <= 1.5x)")
                if "cpu_ratio_to_parse_plus_fts5" in p:
                    ratios.append(
                        f"build CPU {fmt_s(p['cpu_seconds'])} = {p['cpu_ratio_to_parse_plus_fts5']:.2f}x FTS5's parse "
                        f"and build ({fmt_s(s['fts5-default']['parse_and_build_cpu_seconds'])}, sqlite's defaults)"
                    )
                if "cpu_ratio_to_full" in p.get("incremental", {}):
                    inc = p["incremental"]
                    ratios.append(f"incremental CPU {fmt_s(inc['cpu_seconds'])} = {inc['cpu_ratio_to_full']:.1%} of the full build's")
            for mine, theirs, label in (
                ("product", "fts5_page", "search() / FTS5 with snippets and facets"),
                ("product", "fts5", "search() / FTS5 top 10"),
                ("product", "fts5-default", "search() / FTS5 top 10 with sqlite's defaults"),
                ("lean", "fts5", "search(facets=False, feedback=False) / FTS5 top 10"),
            ):
                a = p if mine == "product" else (p or {}).get(mine)
                b = s.get(theirs)
                if a and b and "p50_ms" in a:
                    ratios.append(f"{label}: p50 {a['p50_ms'] / b['p50_ms']:.2f}x, p95 {a['p95_ms'] / b['p95_ms']:.2f}x")
            if ratios:
                out.append("same-run scale ratios: " + "; ".join(ratios))
            if p and "cpu_p50_ms" in p and "cpu_p50_ms" in s["fts5"]:
                figures = {k: v for k, v in s.items() if k in ("fts5", "fts5-default", "fts5_page")}
                figures.update(product=p, product_lean=p.get("lean", {}))
                out.append("CPU per query (process time, each in its child): " + cpu_ratios(figures, "product_lean"))
        return "\n\n".join(out)


def fmt_build(figures: dict[str, Any]) -> str:
    """A build's wall time, and its CPU time where it was taken."""
    cell = fmt_s(figures.get("seconds"))
    if "cpu_seconds" in figures:
        cell += f" (CPU {fmt_s(figures['cpu_seconds'])})"
    return cell


def product_build_cell(b: dict[str, Any]) -> str:
    """The product's build and its ratios to parse + FTS5, wall and CPU."""
    cell = fmt_build(b)
    if "ratio_to_parse_plus_fts5" in b:
        ratio = b["ratio_to_parse_plus_fts5"]
        cell += f" = {ratio:.2f}x parse+FTS5 ({target(ratio, 2)})"
    if "ratio_to_parse_plus_fts5_tuned" in b:
        cell += f", {b['ratio_to_parse_plus_fts5_tuned']:.2f}x parse+FTS5 tuned"
    if "cpu_ratio_to_parse_plus_fts5" in b:
        cell += f"; CPU {b['cpu_ratio_to_parse_plus_fts5']:.2f}x"
    return cell


def cpu_ratios(figures: dict[str, Any], lean: str) -> str:
    """The CPU p50s and the product's against FTS5's, tuned and default."""
    cells, ratios = [], []
    for name in ("product", lean, "fts5", "fts5-default", "fts5_page"):
        if name in figures and "cpu_p50_ms" in figures[name]:
            cells.append(f"{name} {fmt_ms(figures[name]['cpu_p50_ms'])} / {fmt_ms(figures[name]['cpu_p95_ms'])}")
    for mine, theirs in (("product", "fts5"), ("product", "fts5-default"), (lean, "fts5"), ("product", "fts5_page")):
        a, b = figures.get(mine, {}), figures.get(theirs, {})
        if "cpu_p50_ms" in a and "cpu_p50_ms" in b:
            ratios.append(f"{mine}/{theirs} {a['cpu_p50_ms'] / b['cpu_p50_ms']:.2f}x / {a['cpu_p95_ms'] / b['cpu_p95_ms']:.2f}x")
    return "p50 / p95 " + ", ".join(cells) + "; " + ", ".join(ratios)


def describe_machine(facts: dict[str, Any], args: argparse.Namespace, records: int) -> str:
    cores = facts["cores"]
    if facts["usable_cores"] not in (None, cores):
        cores = f"{cores} ({facts['usable_cores']} usable)"
    return (
        f"machine: {cores} cores, {facts['cpu'] or 'cpu unknown'}, "
        f"{fmt_bytes(facts['memory_bytes'])} RAM; {facts['platform']}\n"
        f"versions: {facts['python']}, whoosh {facts['whoosh']}, pyyaml {facts['pyyaml']}, "
        f"tantivy {facts['tantivy']}, sqlite {facts['sqlite']}, news-search {facts['news-search']}\n"
        f"corpus: {args.corpus} ({records:,} records); medians of {args.runs} run(s); {facts['date']}; "
        # Other work on the machine slows every engine, and not equally.
        f"1-min load average {facts['load_average_start']} at start, {facts['load_average_end']} at end"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=generate.CORPORA, default="reuters21578")
    parser.add_argument(
        "--shared",
        type=Path,
        default=generate.DEFAULT_SHARED,
        help="the shared data folder holding corpora/ (default: %(default)s)",
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="where to unpack the corpora (default: ~/.cache/news-search-bench)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; medians are reported")
    parser.add_argument("--only", default=",".join(STEPS), help=f"comma-separated steps out of {','.join(STEPS)}")
    parser.add_argument("--peers", default="fts5,tantivy,bm25s,whoosh", help="peers to run")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--peer-semantics",
        choices=("or", "and"),
        default="or",
        help="peers match any query word (or, as the product does by default) or every word (and)",
    )
    parser.add_argument("--word", default="cocoa", help="the word for the cold CLI query")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--scale", default="", help="comma-separated record counts to generate")
    parser.add_argument(
        "--scale-records", type=Path, default=None, help="with one --scale N: a folder generate.py already wrote"
    )
    parser.add_argument(
        "--scale-keep", type=Path, default=None, help="write each scale corpus here and move its index here, instead of deleting them"
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--tmp", type=Path, default=None, help="scratch folder (default: system temp)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    args.only = [s for s in args.only.split(",") if s]
    unknown = (set(args.only) - set(STEPS)) | (set(args.peers.split(",")) - set(peers.PEERS) - {""})
    if unknown:
        parser.error(f"unknown step or peer: {', '.join(sorted(unknown))}")
    args.scale = [int(n.replace("_", "")) for n in args.scale.split(",") if n]
    if args.scale_records is not None and len(args.scale) != 1:
        parser.error("--scale-records goes with exactly one --scale N")
    if args.scale_records is not None and not args.scale_records.is_dir():
        parser.error(f"--scale-records {args.scale_records}: not a folder")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="news-search-bench-", dir=args.tmp) as tmp:
        bench = Bench(args, Path(tmp))
        facts = machine_facts()
        if bench.product is None:
            log(f"product: not available ({bench.product_missing})")
        else:
            log(f"product: search from {Path(bench.product.__file__).parent}")
        for step in STEPS:
            if step in args.only:
                log(f"{step} ...")
                getattr(bench, f"step_{step}")()
        if args.scale:
            bench.results["scale"] = []
            for n in args.scale:
                log(f"scale {n:,} ...")
                bench.results["scale"].append(bench.step_scale(n))
        facts["load_average_end"] = load_average()
        records = len(bench.docs) if bench.docs is not None else sum(1 for _ in peers.iter_record_paths(bench.folder))
        print(describe_machine(facts, args, records))
        print()
        print(bench.render())
        for peer in bench.peers.values():
            peer.close()
    if args.json:
        payload = {
            "machine": facts,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "results": bench.results,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
