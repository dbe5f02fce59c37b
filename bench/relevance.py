"""Relevance harness: the product's ranking against its peers on judged collections.

A judged collection is a folder holding ``docs.tar.gz`` (one top folder of
records), ``queries.tsv`` (``qid<TAB>text``) and ``qrels.txt`` (TREC:
``qid 0 docname grade``); the ones in ``../shared/relevance`` are CISI,
LISA, MED and NPL.  For each collection the harness

1. unpacks the records once into a cache folder keyed by the archive's digest;
2. builds the product's index with its defaults through the library API
   (``build_index``/``open_index``), runs every query with ``ix.search`` and
   keeps the article hits, ranked, by record name (file stem);
3. runs the same queries through the peers of ``peers.py`` (sqlite FTS5,
   tantivy, bm25s, a plain Whoosh script), all with OR semantics because the queries
   are long natural-language text;
4. scores every run against the judgments: nDCG@k, MAP@100 and recall@100,
   averaged over the judged queries.

Unjudged documents count as not relevant, as in trec_eval.  nDCG uses the
grade itself as the gain (trec_eval's convention; the shared collections are
binary, so 2**grade - 1 would give the same figures) and a log2(rank + 1)
discount; the ideal ranking comes from the judgments, not from the run, so a
relevant document a system never returns still costs it.

``--keywords N`` asks the same questions the way people type into a search
box: each topic cut to its first N words that are not English stop words
(the product's list) and have more than three letters, e.g. MED 1 "the
crystalline lens in vertebrates, including humans" becomes "crystalline lens
vertebrates" at N=3.  The collection names in the table then carry the
suffix ``/kwN``.

Usage (from the repository root)::

    .venv/bin/python bench/relevance.py                      # every shared collection
    .venv/bin/python bench/relevance.py ../shared/relevance/med --json med.json
    .venv/bin/python bench/relevance.py --product-only --search-kwargs '{"facets": false}'
    .venv/bin/python bench/relevance.py --keywords 2               # short keyword queries
    .venv/bin/python bench/relevance.py --selftest

The metrics are small pure functions, checked on hand-computed examples by
``--selftest``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tarfile
import tempfile
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# Run as a script from anywhere, with or without the package installed.
for _path in (str(BENCH), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import peers  # noqa: E402 - importable only once the path is set up

DEPTH = 100  # ranks kept per query: MAP and recall are "@100"
PRODUCT = "news-search"
PEER_LABELS: dict[str, str] = {
    "fts5": "sqlite FTS5",
    "tantivy": "tantivy",
    "bm25s": "bm25s",
    "whoosh": "plain Whoosh",
}

Qrels = dict[str, dict[str, int]]  # qid -> doc name -> grade
Run = dict[str, list[str]]  # qid -> doc names, best first


# --------------------------------------------------------------------------- metrics


def dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain of gains listed by rank (rank 1 first)."""
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains, start=1))


def ndcg_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """nDCG@k with graded gains; 0.0 when the query has no relevant document."""
    ideal = dcg(sorted((g for g in judged.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg([max(judged.get(name, 0), 0) for name in ranked[:k]]) / ideal


def average_precision(ranked: Sequence[str], judged: Mapping[str, int], depth: int = DEPTH) -> float:
    """AP over the first `depth` ranks, divided by all relevant documents (not only those found)."""
    relevant = sum(1 for g in judged.values() if g > 0)
    if relevant == 0:
        return 0.0
    found = 0
    total = 0.0
    for rank, name in enumerate(ranked[:depth], start=1):
        if judged.get(name, 0) > 0:
            found += 1
            total += found / rank
    return total / relevant


def recall_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int = DEPTH) -> float:
    """Share of the relevant documents found in the first `k` ranks."""
    relevant = {name for name, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def dedupe(ranked: Iterable[str]) -> list[str]:
    """Names in first-seen order: a repeated document must not earn its gain twice."""
    return list(dict.fromkeys(ranked))


@dataclass(frozen=True)
class Scores:
    """One system's figures on one collection."""

    system: str
    ndcg: float
    map: float
    recall: float
    per_query_ndcg: dict[str, float] = field(repr=False)


def score_run(system: str, run: Run, qrels: Qrels, k: int) -> Scores:
    """Mean nDCG@k, MAP@100 and R@100 over the judged queries; a missing query scores 0."""
    judged = [qid for qid, docs in qrels.items() if any(g > 0 for g in docs.values())]
    if not judged:
        raise ValueError("no query has a relevant document")
    ndcgs = {qid: ndcg_at_k(run.get(qid, []), qrels[qid], k) for qid in judged}
    maps = [average_precision(run.get(qid, []), qrels[qid]) for qid in judged]
    recalls = [recall_at_k(run.get(qid, []), qrels[qid]) for qid in judged]
    n = len(judged)
    return Scores(system, sum(ndcgs.values()) / n, sum(maps) / n, sum(recalls) / n, ndcgs)


# --------------------------------------------------------------------------- collections


@dataclass(frozen=True)
class Collection:
    """A judged collection, its records unpacked."""

    name: str
    docs_dir: Path
    queries: list[tuple[str, str]]
    qrels: Qrels


def read_queries(path: Path) -> list[tuple[str, str]]:
    """``qid<TAB>text`` lines; blank lines are skipped."""
    queries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        qid, sep, text = line.partition("\t")
        if not sep:
            raise ValueError(f"{path}:{number}: expected 'qid<TAB>text'")
        queries.append((qid.strip(), text.strip()))
    return queries


def read_qrels(path: Path) -> Qrels:
    """TREC qrels: ``qid iteration docname grade`` per line."""
    qrels: Qrels = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise ValueError(f"{path}:{number}: expected 'qid 0 docname grade'")
        qid, _iteration, name, grade = parts
        qrels.setdefault(qid, {})[name] = int(grade)
    return qrels


def default_cache() -> Path:
    """Beside the speed benchmark's cache, so a machine keeps one unpacked copy."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "news-search-bench" / "relevance"


def unpack(archive: Path, cache: Path) -> Path:
    """Unpack `archive` once under `cache`; return the folder holding the records."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    target = cache / f"{archive.parent.name}-{digest}"
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        # Unpack beside the target and rename, so an interrupted run never
        # leaves a half-filled cache that a later run would trust.
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache))
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(partial, filter="data")
            else:  # Python < 3.10.12 / 3.11.4; the archives hold plain files only
                tar.extractall(partial)
        try:
            partial.rename(target)
        except OSError:  # another run won the race; its copy is as good
            shutil.rmtree(partial, ignore_errors=True)
    entries = [p for p in target.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return target


def load_collection(folder: Path, cache: Path) -> Collection:
    """Read one collection folder, unpacking its records into `cache`."""
    missing = [n for n in ("docs.tar.gz", "queries.tsv", "qrels.txt") if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}")
    return Collection(
        name=folder.name,
        docs_dir=unpack(folder / "docs.tar.gz", cache),
        queries=read_queries(folder / "queries.tsv"),
        qrels=read_qrels(folder / "qrels.txt"),
    )


# --------------------------------------------------------------------------- systems


def run_product(collection: Collection, search_kwargs: Mapping[str, Any]) -> Run:
    """Index the records with the product's defaults and run every query through its API."""
    from search import build_index, open_index

    with tempfile.TemporaryDirectory(prefix="relevance-index-") as tmp:
        index_dir = Path(tmp) / "index"
        build_index([str(collection.docs_dir)], str(index_dir), full=True)
        ix = open_index(str(index_dir))
        try:
            kwargs = {"limit": DEPTH, **search_kwargs}
            run: Run = {}
            for qid, text in collection.queries:
                page = ix.search(text, **kwargs)
                run[qid] = dedupe(Path(hit.path).stem for hit in page.hits if hit.kind == "article")
            return run
        finally:
            ix.close()


def run_peer(name: str, docs: list[peers.Doc], queries: Sequence[tuple[str, str]]) -> Run:
    """Index `docs` in one peer and run every query, OR semantics, top DEPTH."""
    peer = peers.make_peer(name, group="or")
    try:
        peer.build(docs)
        return {qid: dedupe(peer.search(text, limit=DEPTH)) for qid, text in queries}
    finally:
        peer.close()


def product_available() -> str | None:
    """None when the product library can be imported, else why not."""
    try:
        from search import build_index, open_index  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- report


@dataclass
class Outcome:
    """All figures for one collection, plus the systems that could not run."""

    collection: str
    queries: int
    judged: int
    scores: list[Scores]
    unavailable: dict[str, str]

    def best_peer(self, metric: Callable[[Scores], float]) -> Scores | None:
        candidates = [s for s in self.scores if s.system != PRODUCT]
        return max(candidates, key=metric) if candidates else None

    def product(self) -> Scores | None:
        return next((s for s in self.scores if s.system == PRODUCT), None)

    def deltas(self) -> dict[str, dict[str, Any]]:
        """Product vs the best peer per metric, in percent."""
        product = self.product()
        out: dict[str, dict[str, Any]] = {}
        if product is None:
            return out
        for label, metric in METRICS.items():
            best = self.best_peer(metric)
            if best is None:
                continue
            base = metric(best)
            pct = (metric(product) / base - 1) * 100 if base else math.inf
            out[label] = {
                "best_peer": best.system,
                "best_peer_value": base,
                "delta_pct": pct,
            }
        return out


def _ndcg(s: Scores) -> float:
    return s.ndcg


def _map(s: Scores) -> float:
    return s.map


def _recall(s: Scores) -> float:
    return s.recall


METRICS: dict[str, Callable[[Scores], float]] = {
    "ndcg": _ndcg,
    "map": _map,
    "recall": _recall,
}


def render(outcome: Outcome, k: int) -> str:
    """A Markdown table, ready for the README."""
    lines = [
        f"{outcome.collection}: {outcome.judged} judged queries",
        "",
        f"| system | nDCG@{k} | MAP@{DEPTH} | R@{DEPTH} |",
        "|---|---:|---:|---:|",
    ]
    for s in outcome.scores:
        lines.append(f"| {s.system} | {s.ndcg:.3f} | {s.map:.3f} | {s.recall:.3f} |")
    for system, why in outcome.unavailable.items():
        lines.append(f"| {system} | not available: {why} | | |")
    deltas = outcome.deltas()
    if deltas:
        names = {"ndcg": f"nDCG@{k}", "map": f"MAP@{DEPTH}", "recall": f"R@{DEPTH}"}
        parts = [f"{names[m]} {d['delta_pct']:+.1f}% (vs {d['best_peer']})" for m, d in deltas.items()]
        lines += ["", f"{PRODUCT} vs best peer: " + ", ".join(parts)]
    return "\n".join(lines)


def to_json(outcomes: Sequence[Outcome], k: int, search_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure, plus per-query nDCG of each system, for finding the queries that lose."""
    return {
        "k": k,
        "depth": DEPTH,
        "search_kwargs": dict(search_kwargs),
        "collections": {
            o.collection: {
                "queries": o.queries,
                "judged": o.judged,
                "systems": {
                    s.system: {
                        f"ndcg@{k}": s.ndcg,
                        f"map@{DEPTH}": s.map,
                        f"recall@{DEPTH}": s.recall,
                    }
                    for s in o.scores
                },
                "unavailable": o.unavailable,
                "product_vs_best_peer": o.deltas(),
                "per_query_ndcg": {s.system: s.per_query_ndcg for s in o.scores},
            }
            for o in outcomes
        },
    }


# --------------------------------------------------------------------------- driver


def evaluate_collection(
    collection: Collection,
    *,
    k: int,
    with_product: bool,
    with_peers: bool,
    search_kwargs: Mapping[str, Any],
    log: Callable[[str], None],
) -> Outcome:
    """Run the chosen systems over one collection and score them."""
    texts = dict(collection.queries)
    unknown = sorted(set(collection.qrels) - set(texts))
    if unknown:
        log(f"{collection.name}: {len(unknown)} judged queries have no text and score 0: {unknown[:5]}")
    judged = sum(1 for docs in collection.qrels.values() if any(g > 0 for g in docs.values()))
    scores: list[Scores] = []
    unavailable: dict[str, str] = {}

    if with_product:
        why = product_available()
        if why is not None:
            log(f"product: not available ({why})")
            unavailable[PRODUCT] = why
        else:
            log(f"{collection.name}: {PRODUCT} ...")
            try:
                run = run_product(collection, search_kwargs)
            except Exception as exc:  # noqa: BLE001 - a product bug must not hide the peers' table
                log(traceback.format_exc())
                unavailable[PRODUCT] = f"failed: {type(exc).__name__}: {exc}"
            else:
                scores.append(score_run(PRODUCT, run, collection.qrels, k))

    if with_peers:
        errors: list[tuple[Path, str]] = []
        docs = peers.load_docs(collection.docs_dir, errors)
        for path, message in errors:
            log(f"peers skip {path}: {message}")
        for name, label in PEER_LABELS.items():
            log(f"{collection.name}: {label} ...")
            try:
                run = run_peer(name, docs, collection.queries)
            except ImportError as exc:  # tantivy is an optional extra
                unavailable[label] = str(exc)
                continue
            scores.append(score_run(label, run, collection.qrels, k))

    return Outcome(collection.name, len(collection.queries), judged, scores, unavailable)


def _selftest() -> None:
    """Check the metrics on examples worked out by hand."""

    def check(what: str, got: float, want: float) -> None:
        if abs(got - want) > 1e-4:
            raise AssertionError(f"{what}: got {got:.6f}, want {want:.6f}")

    # Binary: relevant a, c and f; the run finds a at 1 and c at 3, never f.
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3) + 1/log2(4) = 2.130930
    judged = {"a": 1, "c": 1, "f": 1, "x": 0}
    ranked = ["a", "b", "c", "d", "x"]
    check("ndcg binary", ndcg_at_k(ranked, judged, 10), 1.5 / 2.130930)
    check("ap binary", average_precision(ranked, judged), (1 / 1 + 2 / 3) / 3)
    check("recall binary", recall_at_k(ranked, judged), 2 / 3)
    # Cut-offs: with k=2 only a counts; ideal@2 = 1 + 1/log2(3) = 1.630930.
    check("ndcg cut", ndcg_at_k(ranked, judged, 2), 1 / 1.630930)
    check("ap cut", average_precision(ranked, judged, depth=2), 1 / 3)
    check("recall cut", recall_at_k(ranked, judged, k=2), 1 / 3)
    # Graded: the grade-1 doc above the grade-2 doc.
    # DCG = 1 + 2/log2(3) = 2.261860; ideal = 2 + 1/log2(3) = 2.630930.
    check("ndcg graded", ndcg_at_k(["b", "a"], {"a": 2, "b": 1}, 10), 2.261860 / 2.630930)
    check("ndcg perfect", ndcg_at_k(["a", "b"], {"a": 2, "b": 1}, 10), 1.0)
    # Nothing relevant, or nothing found.
    check("ndcg none", ndcg_at_k(["a"], {"a": 0}, 10), 0.0)
    check("ap empty run", average_precision([], judged), 0.0)
    # A repeated document is counted once.
    check(
        "dedupe",
        ndcg_at_k(dedupe(["a", "a", "c"]), judged, 10),
        (1 + 1 / math.log2(3)) / 2.130930,
    )
    # Means over judged queries; a query missing from the run scores 0.
    scores = score_run("t", {"1": ["a"]}, {"1": {"a": 1}, "2": {"b": 1}, "3": {"c": 0}}, 10)
    check("mean ndcg", scores.ndcg, 0.5)
    check("mean map", scores.map, 0.5)
    check("mean recall", scores.recall, 0.5)
    print("selftest: ok")


def keyword_queries(queries: Sequence[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """Each query cut to its first `n` content words (see the module docstring)."""
    import re

    from whoosh.analysis.filters import STOP_WORDS

    words = re.compile(r"\w+(?:[.'’]\w+)*")
    out = []
    for qid, text in queries:
        kept = [w for w in words.findall(text) if len(w) > 3 and w.lower() not in STOP_WORDS]
        out.append((qid, " ".join(kept[:n])))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "collections",
        nargs="*",
        type=Path,
        help="collection folders (default: all under SHARED/relevance)",
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=ROOT.parent / "shared",
        help="the shared data folder",
    )
    parser.add_argument("--json", type=Path, help="write every figure and per-query nDCG here")
    parser.add_argument("--k", type=int, default=10, help="nDCG cut-off (default 10)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=default_cache(),
        help="where archives are unpacked, once (default: %(default)s)",
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--product-only", action="store_true")
    only.add_argument("--peers-only", action="store_true")
    parser.add_argument(
        "--search-kwargs",
        default="{}",
        metavar="JSON",
        help="extra keyword arguments for ix.search, e.g. '{\"limit\": 100}'",
    )
    parser.add_argument(
        "--keywords", type=int, default=0, metavar="N", help="cut each query to its first N content words"
    )
    parser.add_argument("--selftest", action="store_true", help="check the metrics and exit")
    args = parser.parse_args(argv)

    if args.selftest:
        _selftest()
        return 0
    if args.k < 1:
        parser.error("--k must be at least 1")
    try:
        search_kwargs = json.loads(args.search_kwargs)
    except json.JSONDecodeError as exc:
        parser.error(f"--search-kwargs is not JSON: {exc}")
    if not isinstance(search_kwargs, dict):
        parser.error("--search-kwargs must be a JSON object")

    folders: list[Path] = args.collections or sorted(p for p in (args.shared / "relevance").glob("*") if p.is_dir())
    if not folders:
        parser.error(f"no collections given and none under {args.shared / 'relevance'}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    outcomes = []
    for folder in folders:
        try:
            collection = load_collection(folder, args.cache)
        except (OSError, ValueError, tarfile.TarError) as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 1
        if args.keywords:
            collection = Collection(
                name=f"{collection.name}/kw{args.keywords}",
                docs_dir=collection.docs_dir,
                queries=keyword_queries(collection.queries, args.keywords),
                qrels=collection.qrels,
            )
        outcome = evaluate_collection(
            collection,
            k=args.k,
            with_product=not args.peers_only,
            with_peers=not args.product_only,
            search_kwargs=search_kwargs,
            log=log,
        )
        outcomes.append(outcome)
        print(render(outcome, args.k) + "\n", flush=True)

    if args.json:
        args.json.write_text(
            json.dumps(to_json(outcomes, args.k, search_kwargs), indent=2) + "\n",
            encoding="utf-8",
        )
    failed = any(why.startswith("failed") for o in outcomes for why in o.unavailable.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
