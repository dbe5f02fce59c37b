"""Write N synthetic news records by recombining the real shared corpora.

The speed issue asks for figures at about 200,000 and 1,000,000 records; the
real corpora hold 23,066.  This script takes the Reuters and BBC records'
titles (with their own provider and topics), lead sentences and body
sentences, and deals them out into new records with dates from 2015 to 2025
(more recent years busier, office hours busier), a skewed quality (0-100,
most around 30-40) and a skewed heat (-50..500, most near 0, a long tail).
It is deterministic for a seed whatever the number of workers, because each
output folder of ``--per-dir`` records draws from its own seeded generator.

Memory stays bounded: the sentence pools (~30 MB) are built once and each
record is written as soon as it is made.  The YAML is written by hand, not
by PyYAML's emitter (which alone would take minutes for 1M records), with
every string double-quoted as JSON; pool strings holding characters YAML
does not accept raw are dropped, so the output always ``yaml.safe_load``s.

Generated data never belongs in the repository: the script refuses an output
folder inside it.  It also unpacks the shared archives into a cache folder;
``bench.py`` reuses `unpack_corpora` for that.

    .venv/bin/python bench/generate.py 200000 /tmp/news-200k
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared"
CORPORA = ("reuters21578", "bbc")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Characters a YAML double-quoted scalar may not hold raw and that
# json.dumps leaves alone (it escapes only below 0x20).
_NOT_YAML_SAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_CLOSING_LINE = re.compile(r"^---[ \t]*\r?$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_TABLE_ROW = re.compile(r"\S {2,}\S| {3,}|\.{4,}")
_SLUG_WORD = re.compile(r"[a-z0-9]+")

START = datetime(2015, 1, 1, tzinfo=timezone.utc)
END = datetime(2026, 1, 1, tzinfo=timezone.utc)


# ----------------------------------------------------------------- corpora


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "news-search-bench"


def unpack_corpora(shared: Path, cache: Path | None = None) -> dict[str, Path]:
    """Unpack the shared corpora once into `cache`; their record folders by name.

    Exits with a message naming the option to use when `shared` is absent.
    """
    shared = Path(shared)
    archives = {name: shared / "corpora" / f"{name}.tar.gz" for name in CORPORA}
    missing = [str(p) for p in archives.values() if not p.is_file()]
    if missing:
        raise SystemExit(
            f"error: shared corpora not found: {', '.join(missing)}\n"
            f"Pass --shared PATH, the folder that holds corpora/reuters21578.tar.gz "
            f"(default {DEFAULT_SHARED})."
        )
    cache = Path(cache) if cache else default_cache()
    folders: dict[str, Path] = {}
    for name, archive in archives.items():
        stat = archive.stat()
        # Keyed by size and mtime, so a changed archive is unpacked afresh.
        target = cache / f"{name}-{stat.st_size}-{stat.st_mtime_ns}"
        if not target.is_dir():
            staging = Path(f"{target}.partial-{os.getpid()}")
            staging.mkdir(parents=True)
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(staging, filter="data")
                else:
                    tar.extractall(staging)
            staging.rename(target)  # a crash mid-unpack never leaves a half folder
        folders[name] = target / name
    return folders


# ------------------------------------------------------------------- pools


@dataclass(frozen=True)
class Source:
    """What a generated record takes from one real record as a whole."""

    title: str
    provider: str
    domain: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Pools:
    sources: list[Source]
    leads: list[str]
    sentences: list[str]


def _safe(text: str) -> bool:
    return bool(text) and _NOT_YAML_SAFE.search(text) is None


def _sentences(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if _TABLE_ROW.search(line):
            continue
        for sentence in _SENTENCE_END.split(line.strip()):
            words = sentence.split()
            if 4 <= len(words) <= 80 and sentence[-1:] in ".!?\"'" and _safe(sentence):
                yield " ".join(words)


def build_pools(folders: dict[str, Path]) -> Pools:
    """Titles, lead sentences and body sentences of every real record."""
    sources: list[Source] = []
    leads: list[str] = []
    sentences: list[str] = []
    for folder in folders.values():
        for path in sorted(folder.glob("*.md")):
            text = path.read_text(encoding="utf-8")
            closing = _CLOSING_LINE.search(text, 4) if text.startswith("---\n") else None
            if closing is None:
                continue
            meta = yaml.load(text[4 : closing.start()], Loader=_Loader)
            body = text[closing.end() :]
            if not isinstance(meta, dict) or not _safe(str(meta.get("title", ""))):
                continue
            provider = meta.get("provider") or {}
            topics = tuple(str(t) for t in meta.get("topics") or () if _safe(str(t)))
            sources.append(
                Source(
                    title=" ".join(str(meta["title"]).split()),
                    provider=str(provider.get("name", "")),
                    domain=str(provider.get("domain", "")),
                    topics=topics,
                )
            )
            leads.extend(_sentences(str(meta.get("excerpt") or "")))
            sentences.extend(_sentences(body))
    if not sources or not leads or not sentences:
        raise SystemExit("error: the corpora yielded no usable records")
    return Pools(sources, leads, sentences)


# ----------------------------------------------------------------- records


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _date(rng: random.Random) -> str:
    span = (END - START).total_seconds()
    # Half uniform, half with density growing linearly: later years busier.
    u = rng.random()
    fraction = u if rng.random() < 0.5 else u**0.5
    day = START + timedelta(seconds=int(fraction * span))
    hour = min(23, int(rng.triangular(0, 24, 13)))
    moment = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_record(number: int, rng: random.Random, pools: Pools) -> str:
    """The text of one generated record file."""
    source = rng.choice(pools.sources)
    brief = rng.random() < 0.08  # as Reuters: some 9% are headlines only
    lines = ["---", "category: news", f"title: {_q(source.title)}"]
    body = ""
    if not brief:
        excerpt = [rng.choice(pools.leads)]
        if rng.random() < 0.4:
            excerpt.append(rng.choice(pools.sentences))
        lines.append(f"excerpt: {_q(' '.join(excerpt))}")
        paragraphs = 1 + min(9, int(rng.expovariate(1 / 2.5)))
        body = "\n\n".join(
            " ".join(rng.choice(pools.sentences) for _ in range(rng.randint(1, 4))) for _ in range(paragraphs)
        )
    lines.append(f"publishedDateTime: {_date(rng)}")
    if source.domain:
        slug = "-".join(_SLUG_WORD.findall(source.title.lower())[:8]) or "story"
        lines.append(f"webUrl: {_q(f'https://www.{source.domain}/news/{slug}-{number}')}")
    lines += [
        "type: article",
        f"quality: {round(100 * rng.betavariate(2.0, 3.0))}",
        f"heat: {round(-50 + 550 * rng.betavariate(1.1, 10.0))}",
    ]
    if source.provider:
        lines += ["provider:", f"  name: {_q(source.provider)}", f"  domain: {_q(source.domain)}"]
    if source.topics:
        lines.append("topics:")
        lines.extend(f"- {_q(t)}" for t in source.topics)
    lines.append("---")
    if body:
        lines += ["", body]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ writer

_POOLS: Pools | None = None  # set once per process (`_init`), read-only after


def _init(pools: Pools) -> None:
    global _POOLS
    _POOLS = pools


@dataclass(frozen=True)
class Job:
    out: Path
    n: int
    seed: int
    per_dir: int


def _write_chunk(job: Job, chunk: int) -> tuple[int, int]:
    assert _POOLS is not None
    rng = random.Random(f"{job.seed}-{chunk}")
    first = chunk * job.per_dir
    last = min(job.n, first + job.per_dir)
    folder = job.out / f"{chunk:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for number in range(first, last):
        data = make_record(number, rng, _POOLS).encode("utf-8")
        with open(folder / f"gen-{number:07d}.md", "wb") as f:
            f.write(data)
        written += len(data)
    return last - first, written


def _run_chunk(args: tuple[Job, int]) -> tuple[int, int]:
    return _write_chunk(*args)


@dataclass(frozen=True)
class Generated:
    folder: Path
    records: int
    bytes: int
    seconds: float


def generate(
    n: int,
    out: Path,
    *,
    shared: Path = DEFAULT_SHARED,
    cache: Path | None = None,
    seed: int = 0,
    jobs: int | None = None,
    per_dir: int = 10_000,
    progress: bool = False,
) -> Generated:
    """Write `n` records under `out` (in sub-folders of `per_dir` records)."""
    out = Path(out).resolve()
    if out == REPO or REPO in out.parents:
        raise SystemExit(f"error: {out} is inside the repository; write generated data elsewhere")
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"error: {out} is not empty; pass an empty or new folder")
    started = time.perf_counter()
    pools = build_pools(unpack_corpora(shared, cache))
    job = Job(out, n, seed, max(1, per_dir))
    chunks = [(job, k) for k in range(-(-n // job.per_dir))]
    jobs = jobs or os.cpu_count() or 1
    records = size = 0
    if jobs > 1 and len(chunks) > 1:
        # spawn, not fork: the benchmark calls this with tantivy's native
        # threads alive, and forking a threaded process is unsafe.  Shipping
        # the pools to each worker costs about a second.
        context = multiprocessing.get_context("spawn")
        with context.Pool(jobs, initializer=_init, initargs=(pools,)) as pool:
            results = pool.imap_unordered(_run_chunk, chunks)
            for done, written in results:
                records, size = records + done, size + written
                if progress:
                    print(f"\r{records:,} / {n:,} records", end="", file=sys.stderr)
    else:
        _init(pools)
        for chunk in chunks:
            done, written = _run_chunk(chunk)
            records, size = records + done, size + written
            if progress:
                print(f"\r{records:,} / {n:,} records", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    return Generated(out, records, size, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="number of records to write")
    parser.add_argument("out", type=Path, help="output folder (new or empty, outside the repo)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="shared data folder")
    parser.add_argument("--cache", type=Path, default=None, help="where to unpack the corpora")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    parser.add_argument("--per-dir", type=int, default=10_000, help="records per sub-folder")
    args = parser.parse_args(argv)
    result = generate(
        args.n,
        args.out,
        shared=args.shared,
        cache=args.cache,
        seed=args.seed,
        jobs=args.jobs,
        per_dir=args.per_dir,
        progress=sys.stderr.isatty(),
    )
    print(
        f"wrote {result.records:,} records ({result.bytes / 1e6:,.1f} MB) to {result.folder} in {result.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
