"""Loopback load run of `search serve`: N concurrent clients while the reindex job swaps generations.

    python bench/load.py                                  # seeds/, 8 clients, 20 s or 20,000 requests
    python bench/load.py --records ~/corpora/reuters --clients 16 --seconds 60
    python bench/load.py --no-swap --json out.json

What it does, and nothing else:
* builds an index of --records (default seeds/) in a temporary folder, and
  starts `search serve` on it as a subprocess on a free port of 127.0.0.1
  (never another address: there is no option for one);
* runs --clients threads, each on one keep-alive HTTP connection, sending a
  fixed mix of requests (searches with filters, sorts and pages, the page,
  suggest, an article, stats) until --requests in all or --seconds have
  passed, whichever comes first: it always stops by itself;
* meanwhile (unless --no-swap) runs `search index --full` over the same
  records in a loop, so that every run publishes a new generation under the
  server, and counts the swaps;
* prints requests/s, p50/p95/p99/max latency, errors (any status but 200,
  or a failed connection) by kind, the swaps, and the load average before
  and after, with the cores: the machine is shared, so the figures are only
  comparable within a run (clients are threads of this process and share
  the machine's cores with the server and the reindex job).

Latency is wall-clock per request, as a client sees it.  Nothing here is a
test: the suite never times anything.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # loopback only, on purpose
#: Bounds for a server that does not come up, or a client stuck on a socket.
START_SECONDS = 60.0
REQUEST_TIMEOUT = 30.0

SEARCHES = [
    {"q": "facial recognition"},
    {"q": "central bank raises rates", "sort": "newest"},
    {"q": "moon landing", "topic": "Space"},
    {"q": "oil price", "limit": "20", "page": "2"},
    {"q": "election", "provider": "Reuters"},
    {"q": "world cup final", "boost": "recency"},
    {"q": "covid vaccine", "since": "2019", "until": "2022"},
    {"q": "energy bills", "sort": "quality"},
    {"q": "facail recogniton"},
    {"q": ""},
]


def _mix() -> list[str]:
    """The request paths, in the order each client cycles through them (from a different start)."""
    paths = [f"/api/search?{urllib.parse.urlencode(p)}" for p in SEARCHES]
    paths += ["/?q=solar+storm", "/?q=bank&topic=Economy", "/api/suggest?q=mo", "/api/stats", "/healthz"]
    return paths


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0


@dataclass(frozen=True)
class Report:
    records: str
    documents: int
    clients: int
    searchers: int
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    swaps: int
    reindex_seconds_median: float | None
    cores: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def search_command() -> list[str]:
    return [sys.executable, "-m", "search"]


def wait_until_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"search serve exited with {proc.returncode}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"search serve did not answer within {START_SECONDS:.0f}s")


def client(port: int, paths: list[str], start: int, budget: itertools.count[int], limit: int, until: float,
           tally: Tally) -> None:  # fmt: skip
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    for path in itertools.islice(itertools.cycle(paths), start, None):
        if time.monotonic() >= until or next(budget) >= limit:
            break
        began = time.perf_counter()
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                tally.errors[f"HTTP {response.status}"] += 1
        except (OSError, http.client.HTTPException) as exc:
            tally.errors[type(exc).__name__] += 1
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        tally.latencies.append(time.perf_counter() - began)
        tally.sent += 1
    connection.close()


def swapper(records: Path, index_dir: Path, stop: threading.Event, times: list[float]) -> None:
    while not stop.is_set():
        began = time.monotonic()
        done = subprocess.run(
            [*search_command(), "index", "--full", "--wait", "30", "--index", str(index_dir), str(records)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            print(f"reindex failed ({done.returncode}): {done.stderr.strip()}", file=sys.stderr)
            return
        times.append(time.monotonic() - began)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def run(args: argparse.Namespace) -> Report:
    records = Path(args.records).resolve()
    work = Path(tempfile.mkdtemp(prefix="news-search-load-"))
    index_dir = work / "index"
    try:
        built = subprocess.run(
            [*search_command(), "index", "--json", "--index", str(index_dir), str(records)],
            capture_output=True,
            text=True,
            check=True,
        )
        documents = int(json.loads(built.stdout)["documents"])
        port = free_port()
        server = subprocess.Popen(
            [*search_command(), "serve", "--index", str(index_dir), "--port", str(port),
             "--searchers", str(args.searchers)],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(port, server)
            load_before = os.getloadavg()
            stop = threading.Event()
            reindex_times: list[float] = []
            swap_thread = threading.Thread(target=swapper, args=(records, index_dir, stop, reindex_times))
            if args.swap:
                swap_thread.start()
            paths = _mix()
            budget = itertools.count()
            tallies = [Tally() for _ in range(args.clients)]
            began = time.monotonic()
            until = began + args.seconds
            threads = [
                threading.Thread(target=client, args=(port, paths, n, budget, args.requests, until, tallies[n]))
                for n in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - began
            stop.set()
            if args.swap:
                swap_thread.join()
            load_after = os.getloadavg()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(START_SECONDS)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    latencies = [x for t in tallies for x in t.latencies]
    errors: Counter[str] = Counter()
    for tally in tallies:
        errors.update(tally.errors)
    return Report(
        records=str(records),
        documents=documents,
        clients=args.clients,
        searchers=args.searchers,
        requests=len(latencies),
        seconds=round(elapsed, 2),
        requests_per_second=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(latencies) * 1000, 1),
        p95_ms=round(percentile(latencies, 0.95) * 1000, 1),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
        max_ms=round(max(latencies) * 1000, 1),
        errors=dict(errors),
        swaps=len(reindex_times),
        reindex_seconds_median=round(statistics.median(reindex_times), 2) if reindex_times else None,
        cores=os.cpu_count() or 0,
        load_before=tuple(round(x, 2) for x in load_before),  # type: ignore[arg-type]
        load_after=tuple(round(x, 2) for x in load_after),  # type: ignore[arg-type]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", default=str(REPO / "seeds"), help="record folder to index and serve [seeds/]")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients [8]")
    parser.add_argument("--requests", type=int, default=20_000, help="stop after this many requests in all [20000]")
    parser.add_argument("--seconds", type=float, default=20.0, help="stop after this long [20]")
    parser.add_argument("--searchers", type=int, default=4, help="the server's --searchers [4]")
    parser.add_argument("--swap", action=argparse.BooleanOptionalAction, default=True,
                        help="run `search index --full` in a loop meanwhile [on]")  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args()
    if not (1 <= args.clients <= 256 and 1 <= args.requests <= 1_000_000 and 0 < args.seconds <= 600):
        parser.error("bounded runs only: 1-256 clients, 1-1,000,000 requests, at most 600 seconds")
    report = run(args)
    rows = [
        ("records", f"{report.records} ({report.documents} documents)"),
        ("clients / searchers", f"{report.clients} / {report.searchers}"),
        ("requests", f"{report.requests} in {report.seconds} s"),
        ("requests/s", f"{report.requests_per_second}"),
        ("latency p50 / p95 / p99 / max", f"{report.p50_ms} / {report.p95_ms} / {report.p99_ms} / {report.max_ms} ms"),
        ("errors", ", ".join(f"{k}: {v}" for k, v in report.errors.items()) or "none"),
        ("generation swaps", f"{report.swaps} (full rebuild median {report.reindex_seconds_median} s)"),
        ("load average before / after", f"{report.load_before} / {report.load_after} on {report.cores} cores"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2) + "\n", "utf-8")


if __name__ == "__main__":
    main()
