"""The share of a reindex run spent on alerts: 100 alerts, a run bringing 1,000 new articles.

Issue 14's target: with 100 alerts over a large index, a run that brings
1,000 new articles spends under 10% of its time on alerts.  For each archive
size (Reuters-21578, and generated corpora from bench/generate.py given with
``--generated DIR``), this script

1. holds out `--new` records, builds the index of the rest (once);
2. saves `--alerts` alerts made from the corpus's own titles (single words,
   word pairs, +required, "phrases", -excluded; a third with a --topic
   filter of a real topic, some with --since);
3. copies the index, brings the held-out records in and runs
   ``build_index`` (incremental, as the reindex job does), timing what the
   alerts add inside it (opening the alerts, the journal, matching,
   recording, finishing) against the run's total; the same run on a copy
   without alerts is timed too, as the same-run reference;
4. evaluates the same alerts over the same new articles the naive way (each
   alert's whole matching set in the archive, then intersected), which is
   what a program polling `search query` for each alert pays, and checks
   both give the same matches.

Figures are medians over `--runs`; the machine is shared, so only the
ratios in one run mean anything.

    .venv/bin/python bench/alerts.py --runs 3
    .venv/bin/python bench/alerts.py --generated /tmp/news-200k --runs 1
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import generate  # noqa: E402

from search import build_index  # noqa: E402
from search.alerts import Alerts  # noqa: E402
from search.alerts import files as alert_files  # noqa: E402
from search.alerts import run as alert_run  # noqa: E402
from search.records import walk  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Clock:
    """CPU seconds of this process spent inside the wrapped functions (not nested twice), in
    total and by function.  CPU time, not wall time: the machines are shared, and a loaded one
    stretches wall time at random; an incremental run of 1,000 files is all in this process
    (below the indexer's pool threshold), so its CPU time is the run's work."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.depth = 0
        self.parts: dict[str, float] = {}

    def reset(self) -> None:
        self.seconds = 0.0
        self.parts = {}

    def wrap(self, owner: Any, name: str) -> None:
        real: Callable[..., Any] = getattr(owner, name)
        is_class = isinstance(owner.__dict__.get(name), classmethod)
        func = real.__func__ if is_class else real  # type: ignore[attr-defined]

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.depth += 1
            started = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    spent = time.process_time() - started
                    self.seconds += spent
                    self.parts[name] = self.parts.get(name, 0.0) + spent

        setattr(owner, name, classmethod(timed) if is_class else timed)


def instrument() -> Clock:
    """Clocks on what alerts add to a run.  Not on AlertRun.saw (a dict entry per article,
    about 2 us): a clock there would cost more than what it measures."""
    clock = Clock()
    for owner, name in (
        (alert_run.AlertRun, "begin"),
        (alert_run.AlertRun, "_match"),
        (alert_run.AlertRun, "finish"),
        (alert_files.AlertFiles, "append_pending"),
        (alert_files.AlertFiles, "clear_pending"),
    ):
        clock.wrap(owner, name)
    return clock


def make_alerts(records: list[Path], n: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """`n` (query, filters) pairs from the corpus's titles and topics."""
    import yaml
    from whoosh.analysis import STOP_WORDS

    rng = random.Random(seed)
    titles: list[str] = []
    topics: list[str] = []
    for path in rng.sample(records, min(len(records), 3000)):
        front = path.read_text("utf-8", "replace").split("\n---", 1)[0].removeprefix("---\n")
        try:
            value = yaml.safe_load(front) or {}
        except yaml.YAMLError:
            continue
        if isinstance(value.get("title"), str):
            titles.append(value["title"])
        topics += [t for t in value.get("topics") or [] if isinstance(t, str)]
    common = [t for t, _ in sorted(((t, topics.count(t)) for t in set(topics)), key=lambda x: (-x[1], x[0]))[:30]]
    alerts: list[tuple[str, dict[str, Any]]] = []
    while len(alerts) < n:
        words = [w.strip(".,:;'\"()<>").lower() for w in rng.choice(titles).split()]
        words = [w for w in words if len(w) >= 3 and w.isalpha() and w not in STOP_WORDS]
        if len(words) < 2:
            continue
        kind = len(alerts) % 5
        a, b = rng.sample(words, 2)
        text = [a, f"{a} {b}", f"+{a} {b}", f'"{a} {b}"', f"{a} -{b}"][kind]
        filters: dict[str, Any] = {}
        if common and len(alerts) % 3 == 0:
            filters["topics"] = [rng.choice(common)]
        if len(alerts) % 10 == 7:
            filters["since"] = "1987-03-15"
        alerts.append((text, filters))
    return alerts


@contextmanager
def brought_in(held: list[tuple[Path, Path]]) -> Iterator[None]:
    """Move the held-out records into the archive for one run, then back out."""
    for outside, inside in held:
        os.replace(outside, inside)
    try:
        yield
    finally:
        for outside, inside in held:
            os.replace(inside, outside)


def alert_of(number: int, text: str, filters: dict[str, Any]) -> Any:
    from search.alerts.files import Alert

    return Alert(f"a{number:03d}", text, **{k: tuple(v) if isinstance(v, list) else v for k, v in filters.items()})


def naive_seconds(
    index: Path, alerts: list[tuple[str, dict[str, Any]]], new_paths: set[str], seed: int
) -> tuple[float, float, float, bool]:
    """CPU seconds to match every alert on the new articles (restricted; the same number of
    archive articles picked at random, spread over its big segments; the naive way), and
    whether the restricted and naive ways agree."""
    from search.alerts.matching import compile_alert, evaluate, live_articles
    from search.storage.schema import doc_id
    from search.storage.store import Store

    _gen, ix = Store(index).open()
    with ix.searcher() as searcher:
        docs = live_articles(searcher, {doc_id(p): "" for p in new_paths})
        compiled = [compile_alert(searcher, alert_of(i, text, f)) for i, (text, f) in enumerate(alerts)]
        articles = [d for d in searcher.reader().all_doc_ids() if d not in docs]
        spread = random.Random(seed).sample(articles, min(len(docs), len(articles)))
        started = time.process_time()
        evaluate(searcher, compiled, spread)
        scattered = time.process_time() - started
        started = time.process_time()
        restricted = evaluate(searcher, compiled, docs)
        fast = time.process_time() - started
        started = time.process_time()
        naive: dict[str, list[int]] = {}
        wanted = set(docs)
        for c in compiled:
            hits = wanted if c.positive is None else set(searcher.docs_for_query(c.positive)) & wanted
            if c.negative is not None:
                hits -= set(searcher.docs_for_query(c.negative))
            if hits:
                naive[c.alert.name] = sorted(hits)
        slow = time.process_time() - started
    ix.close()
    return fast, scattered, slow, restricted == naive


def measure(name: str, root: Path, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    records = [item for item in walk([str(root)]) if not isinstance(item, Exception)]
    paths = sorted(Path(item.path) for item in records)
    rng = random.Random(args.seed)
    new = rng.sample(paths, args.new)
    hold = tmp / f"held-{name}"
    hold.mkdir()
    held = [(hold / f"{n:05d}{p.suffix}", p) for n, p in enumerate(new)]
    for outside, inside in held:
        os.replace(inside, outside)
    try:
        # With --tmp the archive's index is kept there and reused by the next run of the script.
        base = (args.tmp or tmp) / f"base-{name}-{len(paths)}-{args.new}-{args.seed}"
        if not (base / "CURRENT").exists():
            log(f"[{name}] building the archive of {len(paths) - args.new} records...")
            started = time.perf_counter()
            build_index([root], base)
            log(f"[{name}] built in {time.perf_counter() - started:.0f}s")
        chosen = set(new)
        alerts = make_alerts([p for p in paths if p not in chosen], args.alerts, args.seed)
        clock = instrument()
        with_alerts: list[tuple[float, float, int]] = []
        without: list[float] = []
        for run in range(args.runs):
            for keep in (True, False) if run % 2 == 0 else (False, True):
                index = tmp / f"run-{name}"
                shutil.rmtree(index, ignore_errors=True)
                shutil.copytree(base, index)
                if keep:
                    for i, (text, filters) in enumerate(alerts):
                        Alerts(index).add(f"a{i:03d}", text, **filters)
                clock.reset()
                with brought_in(held):
                    cpu = time.process_time()
                    report = build_index([root], index)
                    cpu = time.process_time() - cpu
                assert report.added == args.new, report.summary()
                if keep:
                    matches = sum(n for _, n in report.alerts.matches)
                    with_alerts.append((cpu, clock.seconds, matches, report.seconds))
                    parts = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in clock.parts.items())
                    log(
                        f"[{name}] run {run + 1}: {cpu:.2f}s CPU ({report.seconds:.2f}s wall), "
                        f"alerts {clock.seconds:.3f}s CPU ({parts}), {matches} matches"
                    )
                else:
                    without.append(cpu)
                    log(f"[{name}] run {run + 1} without alerts: {cpu:.2f}s CPU ({report.seconds:.2f}s wall)")
        with brought_in(held):
            fast, scattered, slow, same = naive_seconds(
                tmp / f"run-{name}", alerts, {str(p) for _, p in held}, args.seed
            )
            # the last copy has no alerts; the matching functions need only the index
        shutil.rmtree(tmp / f"run-{name}", ignore_errors=True)
    finally:
        for outside, inside in held:
            if outside.exists():
                os.replace(outside, inside)
    total = statistics.median(r[0] for r in with_alerts)
    spent = statistics.median(r[1] for r in with_alerts)
    return {
        "name": name,
        "archive": len(paths) - args.new,
        "run": total,
        "wall": statistics.median(r[3] for r in with_alerts),
        "alerts": spent,
        "share": spent / total,
        "without": statistics.median(without),
        "matches": with_alerts[0][2],
        "restricted": fast,
        "scattered": scattered,
        "naive": slow,
        "same": same,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=generate.DEFAULT_SHARED)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--generated", type=Path, action="append", default=[], help="a bench/generate.py folder")
    parser.add_argument("--no-reuters", action="store_true", help="only the --generated corpora")
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--tmp", type=Path, default=None, help="scratch folder; keeps each archive's index for reuse")
    args = parser.parse_args(argv)
    corpora: list[tuple[str, Path]] = []
    if not args.no_reuters:
        corpora.append(("reuters", generate.unpack_corpora(args.shared, args.cache)["reuters21578"]))
    corpora += [(folder.name, folder) for folder in args.generated]
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as scratch:
        for name, root in corpora:
            rows.append(measure(name, root, args, Path(scratch)))
    load = os.getloadavg()[0]
    print(
        f"{args.alerts} alerts, an incremental run bringing {args.new} new articles; CPU seconds, median of "
        f"{args.runs} runs; {os.cpu_count()} cores, load {load:.1f} at the end\n"
    )
    print(
        "| archive | run with alerts (wall) | of which alerts | share | run without alerts | matches | "
        "matching alone, on the new docs | on as many archive docs, spread out | the naive way (whole sets) "
        "| same matches |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print(
            f"| {r['name']} ({r['archive']:,} records) | {r['run']:.2f} s ({r['wall']:.2f} s) | "
            f"{r['alerts'] * 1000:.0f} ms | {r['share']:.1%} | {r['without']:.2f} s | {r['matches']} | "
            f"{r['restricted'] * 1000:.0f} ms | {r['scattered'] * 1000:.0f} ms | {r['naive'] * 1000:.0f} ms "
            f"({r['naive'] / max(r['restricted'], 1e-9):.1f}x) | {'yes' if r['same'] else 'NO'} |"
        )
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
