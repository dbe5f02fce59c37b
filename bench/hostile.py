"""What refusing a hostile record costs: time and memory, for the figures in docs/security.md.

    .venv/bin/python bench/hostile.py [--runs 20]

Parses, in this process, a 9x9 "billion laughs" record (9 levels of 9
aliases: 387 million nodes if it were expanded) and a record with 100,000
nested brackets, each refused by search.records before the value is walked,
and 5 MB of flow mappings, refused before YAML reads it.
Prints the median wall time over --runs and the peak memory Python allocated
while parsing (tracemalloc, one extra run), with the machine's load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc
from pathlib import Path

from search.errors import RecordError
from search.records import parse_record


def billion_laughs(levels: int = 9, width: int = 9) -> bytes:
    lines = ["---", "title: lol", "a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join([*lines, "---", ""]).encode()


def deep_nesting(depth: int = 100_000) -> bytes:
    return f"---\ntitle: x\ndeep: {'[' * depth}{']' * depth}\n---\n".encode()


def big_front_matter(size: int = 5 * 1024 * 1024) -> bytes:
    entries = ", ".join(f"k{n}: [1]" for n in range(size // 9))
    entries = entries[: entries.rfind(", ", 0, size - 20)]
    return f"---\ntitle: x\nm: {{{entries}}}\n---\n".encode()


def refuse(data: bytes) -> str:
    try:
        parse_record(data, Path("hostile.md"))
    except RecordError as exc:
        return exc.problem
    raise SystemExit("the hostile record was accepted")


def measure(name: str, data: bytes, runs: int) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        problem = refuse(data)
        times.append(time.perf_counter() - started)
    tracemalloc.start()
    refuse(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"| {name} | {len(data):,} bytes | {statistics.median(times) * 1000:.1f} ms | {peak / 1024:,.0f} KiB | {problem} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; medians of {args.runs} runs")
    print("| record | size | refused in | peak memory | reported problem |")
    print("| --- | ---: | ---: | ---: | --- |")
    measure("9x9 billion laughs", billion_laughs(), args.runs)
    measure("100,000 nested brackets", deep_nesting(), args.runs)
    measure("5 MB of flow mappings", big_front_matter(), args.runs)


if __name__ == "__main__":
    main()
