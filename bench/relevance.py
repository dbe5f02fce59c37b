"""Relevance harness: the product's ranking against its peers, on judged collections and known-item suites.

Two kinds of suites, measured in one run with the peers beside the product:

* **Judged collections**: every folder under ``../shared/relevance`` (CISI,
  LISA, MED, NPL), each holding ``docs.tar.gz`` (one top folder of records),
  ``queries.tsv`` (``qid<TAB>text``) and ``qrels.txt`` (TREC: ``qid 0
  docname grade``).  Figures: nDCG@10 (the suite's figure), MAP@100, R@100.
* **Known-item suites** from the news corpora (``../shared/corpora``): a
  user remembers a headline.  From Reuters-21578 (1,000 headlines) and BBC
  News (500): headlines that occur once in their corpus and have four or
  more words, drawn at random with a fixed seed, typed as people type them
  (lower case, punctuation as spaces: ``ALLWASTE <ALWS.O> TO ACQUIRE FIRM``
  -> ``allwaste alws o to acquire firm``), ``limit=3``.  ``<corpus>/title``
  asks the whole headline (figures: found first, @1, the suite's figure; in
  the top 3, @3); ``<corpus>/partial`` asks 3 to 5 of its salient words
  (not a stop word, 3+ letters, not a number; how many and which are drawn
  with the same seed, kept in headline order), figure @3.  Headlines with
  fewer than three salient words are left out of the partial suite.

For each corpus the harness unpacks the records once into a cache folder
keyed by the archive's digest, builds the product's index once with its
defaults through the library API (``build_index``/``open_index``), runs every
query with ``ix.search`` (article hits, ranked, by record name), and runs the
same queries through the peers of ``peers.py`` (sqlite FTS5, tantivy and
bm25s by default; ``--peers`` adds the plain Whoosh script), all matching any
word, the product's semantics.  ``--peers fts5,fts5-terms`` adds FTS5's bm25
over the product's own index terms: not a peer (never the best peer), but
beside FTS5 it says how much of a gap is the analysis (Porter's terms
against the product's) and how much the ranking.

The closing table has one row per suite (its figure for every system and the
product against the best peer) and the **macro average** of the suites'
figures, then the load average and the time the run took.  With
``--baseline FILE`` (an earlier run's ``--json``) it also says, per suite,
how the product moved, and whether a change passes the keep rule: the macro
average up, and no suite down by more than 1% (relative); then, per suite,
how many queries moved up and down, and the mean of the better of the two
figures per query (the bound of any per-query choice between the two
rankings, e.g. of when to run feedback).

``--set MODULE.NAME=VALUE`` runs the product with a constant changed (e.g.
``--set ranking.K1=1.2``; the module is under ``search``), and ``--sweep
MODULE.NAME=V1,V2,...`` tries several values over the same indexes and then
reports leave-one-collection-out: for each corpus held out, the value that
is best on the macro average of the others, and what that value gives on
the held-out one.  A constant is only worth keeping where those held-out
figures agree with the in-sample choice.

Judged scores: unjudged documents count as not relevant, as in trec_eval.
nDCG uses the grade itself as the gain (trec_eval's convention; the shared
collections are binary) and a log2(rank + 1) discount; the ideal ranking
comes from the judgments, so a relevant document a system never returns
still costs it.

``--keywords N`` asks the judged topics the way people type into a search
box: each cut to its first N words that are not English stop words (the
product's list) and have more than three letters, e.g. MED 1 "the
crystalline lens in vertebrates, including humans" becomes "crystalline lens
vertebrates" at N=3 (suite names get the suffix ``/kwN``).

Usage (from the repository root)::

    .venv/bin/python bench/relevance.py                     # every suite, peers beside (a few minutes)
    .venv/bin/python bench/relevance.py --suites cisi,reuters --json run.json
    .venv/bin/python bench/relevance.py --product-only --baseline run.json
    .venv/bin/python bench/relevance.py --product-only --sweep ranking.K1=1.2,1.5,2.0
    .venv/bin/python bench/relevance.py --search-kwargs '{"feedback": false}'
    .venv/bin/python bench/relevance.py --keywords 2 --suites cisi,lisa,med,npl
    .venv/bin/python bench/relevance.py --selftest

The metrics are small pure functions, checked on hand-computed examples by
``--selftest``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import math
import os
import random
import re
import shutil
import sys
import tarfile
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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

DEPTH = 100  # ranks kept per judged query: MAP and recall are "@100"
KNOWN_LIMIT = 3  # ranks asked for per known-item query, as a user's first screen
PRODUCT = "news-search"
PEER_LABELS: dict[str, str] = {
    "fts5": "sqlite FTS5",
    "tantivy": "tantivy",
    "bm25s": "bm25s",
    "whoosh": "plain Whoosh",
    "fts5-terms": "FTS5 on our terms",
}
DEFAULT_PEERS = ("fts5", "tantivy", "bm25s")
#: Systems run beside the peers that are not peers: never the "best peer".
DIAGNOSTIC = frozenset({"FTS5 on our terms"})
#: Known-item corpora: archive under SHARED/corpora and headlines drawn.
KNOWN_CORPORA: dict[str, tuple[str, int]] = {"reuters": ("reuters21578.tar.gz", 1000), "bbc": ("bbc.tar.gz", 500)}
SEED = 12
#: A suite's figure moving down by more than this (relative) fails the keep rule.
KEEP_TOLERANCE = 0.01

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


def success_at_k(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """1.0 when a relevant document (a known item's one target) is in the first `k` ranks."""
    return 1.0 if any(judged.get(name, 0) > 0 for name in ranked[:k]) else 0.0


def dedupe(ranked: Iterable[str]) -> list[str]:
    """Names in first-seen order: a repeated document must not earn its gain twice."""
    return list(dict.fromkeys(ranked))


@dataclass(frozen=True)
class Scores:
    """One system's figures on one suite: metric name -> mean, and the suite's figure per query."""

    system: str
    metrics: dict[str, float]
    per_query: dict[str, float] = field(repr=False)


def score_run(system: str, run: Run, qrels: Qrels, k: int, kind: str = "judged", primary: str = "") -> Scores:
    """Means over the judged queries (a query missing from the run scores 0):
    nDCG@k, MAP@100 and R@100 for a judged suite, @1 and @3 for a known-item one."""
    judged = [qid for qid, docs in qrels.items() if any(g > 0 for g in docs.values())]
    if not judged:
        raise ValueError("no query has a relevant document")
    if kind == "known":
        measures: dict[str, Callable[[Sequence[str], Mapping[str, int]], float]] = {
            "@1": lambda r, j: success_at_k(r, j, 1),
            "@3": lambda r, j: success_at_k(r, j, 3),
        }
    else:
        measures = {
            f"nDCG@{k}": lambda r, j: ndcg_at_k(r, j, k),
            f"MAP@{DEPTH}": average_precision,
            f"R@{DEPTH}": recall_at_k,
        }
    primary = primary or next(iter(measures))
    per_query = {qid: measures[primary](run.get(qid, []), qrels[qid]) for qid in judged}
    metrics = {
        name: sum(fn(run.get(qid, []), qrels[qid]) for qid in judged) / len(judged) for name, fn in measures.items()
    }
    return Scores(system, metrics, per_query)


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class Suite:
    """Queries with what counts as found, over one corpus's records."""

    name: str  # "cisi", "reuters/title", ...
    corpus: str  # the records' folder is shared by the suites of one corpus
    docs_dir: Path
    queries: list[tuple[str, str]]
    qrels: Qrels
    kind: str = "judged"  # or "known"
    primary: str = "nDCG@10"  # the suite's figure: what the macro average averages

    @property
    def depth(self) -> int:
        return KNOWN_LIMIT if self.kind == "known" else DEPTH


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
    target = cache / f"{archive.name.split('.')[0] if archive.name != 'docs.tar.gz' else archive.parent.name}-{digest}"
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


def load_collection(folder: Path, cache: Path, k: int = 10) -> Suite:
    """Read one judged collection folder, unpacking its records into `cache`."""
    missing = [n for n in ("docs.tar.gz", "queries.tsv", "qrels.txt") if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}")
    return Suite(
        name=folder.name,
        corpus=folder.name,
        docs_dir=unpack(folder / "docs.tar.gz", cache),
        queries=read_queries(folder / "queries.tsv"),
        qrels=read_qrels(folder / "qrels.txt"),
        primary=f"nDCG@{k}",
    )


_TYPED = re.compile(r"[a-z0-9]+")


def typed_headline(title: str) -> list[str]:
    """A headline as people type it: lower case, punctuation read as spaces."""
    return _TYPED.findall(title.lower())


def salient(words: Sequence[str], stops: frozenset[str]) -> list[str]:
    """The words a person recalls: not a stop word, three letters or more, not a number."""
    return [w for w in words if len(w) >= 3 and w not in stops and not w.isdigit()]


def known_item_suites(
    name: str, docs: Sequence[peers.Doc], docs_dir: Path, count: int, seed: int = SEED
) -> list[Suite]:
    """`name`/title and `name`/partial over `docs` (see the module docstring)."""
    from whoosh.analysis.filters import STOP_WORDS

    stops = frozenset(STOP_WORDS)
    typed = {d.name: typed_headline(d.title) for d in docs}
    seen = Counter(" ".join(words) for words in typed.values())
    eligible = sorted(n for n, words in typed.items() if len(words) >= 4 and seen[" ".join(words)] == 1)
    rng = random.Random(f"{seed}:{name}")
    chosen = sorted(rng.sample(eligible, min(count, len(eligible))))
    full = [(target, " ".join(typed[target])) for target in chosen]
    partial = []
    for target in chosen:
        words = salient(typed[target], stops)
        if len(words) < 3:
            continue
        k = min(len(words), rng.randint(3, 5))
        picked = sorted(rng.sample(range(len(words)), k))
        partial.append((target, " ".join(words[i] for i in picked)))
    qrels = {target: {target: 1} for target in chosen}
    return [
        Suite(f"{name}/title", name, docs_dir, full, qrels, kind="known", primary="@1"),
        Suite(f"{name}/partial", name, docs_dir, partial, {q: qrels[q] for q, _ in partial}, "known", "@3"),
    ]


def keyword_queries(queries: Sequence[tuple[str, str]], n: int) -> list[tuple[str, str]]:
    """Each query cut to its first `n` content words (see the module docstring)."""
    from whoosh.analysis.filters import STOP_WORDS

    words = re.compile(r"\w+(?:[.'’]\w+)*")
    out = []
    for qid, text in queries:
        kept = [w for w in words.findall(text) if len(w) > 3 and w.lower() not in STOP_WORDS]
        out.append((qid, " ".join(kept[:n])))
    return out


# --------------------------------------------------------------------------- systems


class ProductIndex:
    """The product's index of one corpus, built once per run through the library API."""

    def __init__(self, docs_dir: Path) -> None:
        from search import build_index

        self._tmp = tempfile.TemporaryDirectory(prefix="relevance-index-")
        self.path = Path(self._tmp.name) / "index"
        build_index([str(docs_dir)], str(self.path), full=True)

    def run(self, suite: Suite, search_kwargs: Mapping[str, Any]) -> Run:
        """Every query of `suite` through ``ix.search``; a fresh Index, so that
        constants changed by --set/--sweep are read anew."""
        from search import open_index

        ix = open_index(str(self.path))
        try:
            kwargs = {"limit": suite.depth, "facets": False, **search_kwargs}
            run: Run = {}
            for qid, text in suite.queries:
                page = ix.search(text, **kwargs)
                run[qid] = dedupe(Path(hit.path).stem for hit in page.hits if hit.kind == "article")
            return run
        finally:
            ix.close()

    def close(self) -> None:
        self._tmp.cleanup()


def product_available() -> str | None:
    """None when the product library can be imported, else why not."""
    try:
        from search import build_index, open_index  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


def parse_setting(text: str) -> tuple[str, str, list[Any]]:
    """'ranking.K1=1.2,1.5' -> ('search.planning.ranking', 'K1', [1.2, 1.5]); values are JSON, else strings."""
    target, sep, values = text.partition("=")
    module, dot, name = target.strip().rpartition(".")
    if not sep or not dot or not name:
        raise ValueError(f"expected MODULE.NAME=VALUE[,VALUE...], not {text!r}")
    parsed: list[Any] = []
    for value in values.split(","):
        try:
            parsed.append(json.loads(value))
        except json.JSONDecodeError:
            parsed.append(value.strip())
    return resolve_module(module), name, parsed


#: Where a short module name (``ranking``) is looked for: the package's layers.
_LAYERS = ("search", "search.planning", "search.storage", "search.backends")


def resolve_module(module: str) -> str:
    """'ranking' -> 'search.planning.ranking': the first layer that has it
    (a full dotted name is taken as it is)."""
    if module.startswith("search"):
        return module
    for layer in _LAYERS:
        name = f"{layer}.{module}"
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and not name.startswith(exc.name):
                raise  # the module exists but one of its imports does not
            continue
        return name
    raise ValueError(f"no module {module!r} in {', '.join(_LAYERS)}")


@contextmanager
def setting(module: str, name: str, value: Any) -> Iterator[None]:
    """`module`.`name` set to `value` for the duration (the product runs in this process)."""
    mod = importlib.import_module(module)
    if not hasattr(mod, name):
        raise ValueError(f"{module} has no {name}")
    old = getattr(mod, name)
    setattr(mod, name, value)
    try:
        yield
    finally:
        setattr(mod, name, old)


# --------------------------------------------------------------------------- report


@dataclass
class Outcome:
    """All figures for one suite, plus the systems that could not run."""

    suite: Suite
    scores: list[Scores]
    unavailable: dict[str, str]

    @property
    def name(self) -> str:
        return self.suite.name

    def system(self, name: str) -> Scores | None:
        return next((s for s in self.scores if s.system == name), None)

    def best_peer(self, metric: str) -> Scores | None:
        candidates = [s for s in self.scores if s.system != PRODUCT and s.system not in DIAGNOSTIC]
        return max(candidates, key=lambda s: s.metrics[metric]) if candidates else None

    def versus(self) -> dict[str, dict[str, Any]]:
        """Product vs the best peer per metric: ratio and which peer."""
        product = self.system(PRODUCT)
        out: dict[str, dict[str, Any]] = {}
        if product is None:
            return out
        for metric, value in product.metrics.items():
            best = self.best_peer(metric)
            if best is None:
                continue
            base = best.metrics[metric]
            out[metric] = {
                "best_peer": best.system,
                "best_peer_value": base,
                "ratio": value / base if base else math.inf,
            }
        return out


def render(outcome: Outcome) -> str:
    """One suite's Markdown table, every metric."""
    suite = outcome.suite
    metrics = list(outcome.scores[0].metrics) if outcome.scores else []
    lines = [
        f"{suite.name}: {len(suite.qrels)} {'known items' if suite.kind == 'known' else 'judged queries'}",
        "",
        "| system | " + " | ".join(metrics) + " |",
        "|---|" + "---:|" * len(metrics),
    ]
    for s in outcome.scores:
        lines.append(f"| {s.system} | " + " | ".join(f"{s.metrics[m]:.3f}" for m in metrics) + " |")
    for system, why in outcome.unavailable.items():
        lines.append(f"| {system} | not available: {why} |")
    versus = outcome.versus()
    if versus:
        parts = [f"{m} {v['ratio']:.3f}x (vs {v['best_peer']})" for m, v in versus.items()]
        lines += ["", f"{PRODUCT} vs best peer: " + ", ".join(parts)]
    return "\n".join(lines)


def macro(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def summary(outcomes: Sequence[Outcome], systems: Sequence[str], baseline: Mapping[str, float] | None) -> str:
    """The closing table: each suite's figure per system, the product vs the best peer, the macro average."""
    head = ["suite", "figure", *systems, "vs best peer"]
    if baseline is not None:
        head += ["baseline", "change"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for o in outcomes:
        metric = o.suite.primary
        row = [o.name, metric]
        for system in systems:
            s = o.system(system)
            row.append(f"{s.metrics[metric]:.3f}" if s else "-")
        v = o.versus().get(metric)
        row.append(f"{v['ratio']:.3f}x {v['best_peer']}" if v else "-")
        if baseline is not None:
            product = o.system(PRODUCT)
            old = baseline.get(o.name)
            if product is None or old is None:
                row += ["-", "-"]
            else:
                new = product.metrics[metric]
                row += [f"{old:.3f}", f"{(new / old - 1) * 100 if old else 0.0:+.1f}%"]
        lines.append("| " + " | ".join(row) + " |")
    row = ["macro average", ""]
    for system in systems:
        found = [o.system(system) for o in outcomes]
        row.append(
            f"{macro(s.metrics[o.suite.primary] for s, o in zip(found, outcomes, strict=True) if s):.3f}"
            if all(found)
            else "-"
        )
    row.append("")
    if baseline is not None:
        product_macro = macro(o.system(PRODUCT).metrics[o.suite.primary] for o in outcomes if o.system(PRODUCT))  # type: ignore[union-attr]
        old_macro = macro(baseline.get(o.name, math.nan) for o in outcomes)
        row += [f"{old_macro:.3f}", f"{(product_macro / old_macro - 1) * 100:+.2f}%"]
    lines.append("| " + " | ".join(row) + " |")
    if baseline is not None:
        lines += ["", keep_rule(outcomes, baseline)]
    return "\n".join(lines)


def keep_rule(outcomes: Sequence[Outcome], baseline: Mapping[str, float]) -> str:
    """The verdict: the macro average up and no suite down by more than KEEP_TOLERANCE."""
    new = {o.name: o.system(PRODUCT).metrics[o.suite.primary] for o in outcomes if o.system(PRODUCT)}  # type: ignore[union-attr]
    common = [name for name in new if name in baseline]
    if not common:
        return "keep rule: no suite in common with the baseline"
    up = macro(new[n] for n in common) > macro(baseline[n] for n in common)
    hurt = [n for n in common if baseline[n] and new[n] / baseline[n] - 1 < -KEEP_TOLERANCE]
    verdict = "PASS" if up and not hurt else "FAIL"
    why = [] if up else ["macro average not up"]
    why += [f"{n} down {(new[n] / baseline[n] - 1) * 100:.1f}%" for n in hurt]
    return f"keep rule (macro up, no suite down > {KEEP_TOLERANCE:.0%}): {verdict}" + (
        f" ({'; '.join(why)})" if why else ""
    )


def loco(sweep: Mapping[Any, Mapping[str, float]], suites: Sequence[Suite], default: Any) -> str:
    """Leave one corpus out: pick the value best on the others' macro average; show it on the held-out one."""
    corpora = list(dict.fromkeys(s.corpus for s in suites))
    lines = [
        "| held out | value chosen on the others | held-out figure(s) at that value | at the default |",
        "|---|---|---|---|",
    ]
    for held in corpora:
        rest = [s.name for s in suites if s.corpus != held]
        mine = [s.name for s in suites if s.corpus == held]
        best = max(sweep, key=lambda value: macro(sweep[value][n] for n in rest))
        at_best = ", ".join(f"{n} {sweep[best][n]:.3f}" for n in mine)
        at_default = ", ".join(f"{n} {sweep[default][n]:.3f}" for n in mine)
        lines.append(f"| {held} | {best} | {at_best} | {at_default} |")
    return "\n".join(lines)


def to_json(outcomes: Sequence[Outcome], meta: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure, plus each system's per-query figure, for finding the queries that lose."""
    return {
        **meta,
        "suites": {
            o.name: {
                "kind": o.suite.kind,
                "figure": o.suite.primary,
                "queries": len(o.suite.queries),
                "systems": {s.system: s.metrics for s in o.scores},
                "unavailable": o.unavailable,
                "product_vs_best_peer": o.versus(),
                "per_query": {s.system: s.per_query for s in o.scores},
            }
            for o in outcomes
        },
    }


def per_query_change(outcomes: Sequence[Outcome], baseline: Mapping[str, Mapping[str, float]]) -> str:
    """Per suite, the queries the product's figure moved up and down against
    the baseline's, and the mean of the better of the two per query: an
    oracle that knew each query's judgments and picked between the two
    rankings, the bound of any rule that decides per query between them
    (session twelve: feedback on or off on NPL, 0.458)."""
    lines = ["| suite | queries up | down | the better of the two, per query |", "|---|---:|---:|---:|"]
    for o in outcomes:
        product, old = o.system(PRODUCT), baseline.get(o.name)
        if product is None or not old:
            continue
        new = product.per_query
        common = [q for q in new if q in old]
        if not common:
            continue
        up = sum(1 for q in common if new[q] > old[q] + 1e-9)
        down = sum(1 for q in common if new[q] < old[q] - 1e-9)
        lines.append(f"| {o.name} | {up} | {down} | {macro(max(new[q], old[q]) for q in common):.3f} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def read_baseline_queries(path: Path) -> dict[str, dict[str, float]]:
    """suite -> query -> the product's figure in an earlier run's JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for name, suite in data.get("suites", {}).items():
        found = suite.get("per_query", {}).get(PRODUCT)
        if found:
            out[name] = {str(q): float(v) for q, v in found.items()}
    return out


def read_baseline(path: Path) -> dict[str, float]:
    """suite -> the product's figure in an earlier run's JSON."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for name, suite in data.get("suites", {}).items():
        product = suite.get("systems", {}).get(PRODUCT)
        if product and suite.get("figure") in product:
            out[name] = float(product[suite["figure"]])
    return out


# --------------------------------------------------------------------------- driver


def load_suites(args: argparse.Namespace, log: Callable[[str], None]) -> list[Suite]:
    """The judged collections and known-item suites asked for, in a stable order."""
    wanted = {s.strip() for s in args.suites.split(",") if s.strip()} if args.suites else None
    suites: list[Suite] = []
    folders = args.collections or sorted(p for p in (args.shared / "relevance").glob("*") if p.is_dir())
    for folder in folders:
        if wanted is not None and folder.name not in wanted:
            continue
        suite = load_collection(folder, args.cache, args.k)
        if args.keywords:
            suite = Suite(
                f"{suite.name}/kw{args.keywords}",
                suite.corpus,
                suite.docs_dir,
                keyword_queries(suite.queries, args.keywords),
                suite.qrels,
                primary=suite.primary,
            )
        suites.append(suite)
    if args.collections:
        return suites
    for name, (archive, count) in KNOWN_CORPORA.items():
        if wanted is not None and name not in wanted:
            continue
        path = args.shared / "corpora" / archive
        if not path.is_file():
            log(f"{name}: no {path}; its known-item suites are skipped")
            continue
        docs_dir = unpack(path, args.cache)
        suites += known_item_suites(name, peers.load_docs(docs_dir), docs_dir, count)
    return suites


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "collections", nargs="*", type=Path, help="judged collection folders only (default: every suite)"
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the shared data folder")
    parser.add_argument("--suites", default="", help="corpora to run, e.g. cisi,npl,reuters (default: all)")
    parser.add_argument("--json", type=Path, help="write every figure and per-query figures here")
    parser.add_argument("--baseline", type=Path, help="an earlier --json: show the change and the keep rule")
    parser.add_argument("--k", type=int, default=10, help="nDCG cut-off (default 10)")
    parser.add_argument(
        "--cache", type=Path, default=default_cache(), help="where archives are unpacked, once (default: %(default)s)"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--product-only", action="store_true")
    only.add_argument("--peers-only", action="store_true")
    parser.add_argument(
        "--peers",
        default=",".join(DEFAULT_PEERS),
        help="peers to run (default: %(default)s; also whoosh, and fts5-terms: FTS5's bm25 over the product's own"
        " terms, to tell the analysis's share of a gap from the ranking's)",
    )
    parser.add_argument(
        "--search-kwargs",
        default="{}",
        metavar="JSON",
        help="extra keyword arguments for ix.search, e.g. '{\"feedback\": false}'",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="MODULE.NAME=VALUE", help="run with a constant changed"
    )
    parser.add_argument(
        "--sweep", metavar="MODULE.NAME=V1,V2,...", help="try several values, then leave-one-collection-out"
    )
    parser.add_argument(
        "--keywords", type=int, default=0, metavar="N", help="cut each judged topic to its first N content words"
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
        settings = [parse_setting(s) for s in args.set]
        sweep = parse_setting(args.sweep) if args.sweep else None
    except (json.JSONDecodeError, ValueError) as exc:
        parser.error(str(exc))
    if not isinstance(search_kwargs, dict):
        parser.error("--search-kwargs must be a JSON object")
    peer_names = [p for p in args.peers.split(",") if p]
    if unknown := set(peer_names) - set(PEER_LABELS):
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started, load_before = time.perf_counter(), os.getloadavg()
    try:
        suites = load_suites(args, log)
    except (OSError, ValueError, tarfile.TarError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if not suites:
        parser.error("no suite to run")
    why_not = None if args.peers_only else product_available()
    if why_not is not None:
        log(f"product: not available ({why_not})")

    outcomes = {s.name: Outcome(s, [], {}) for s in suites}
    swept: dict[Any, dict[str, float]] = {}
    for corpus in dict.fromkeys(s.corpus for s in suites):
        mine = [s for s in suites if s.corpus == corpus]
        if not args.peers_only and why_not is None:
            log(f"{corpus}: {PRODUCT} index ...")
            try:
                index = ProductIndex(mine[0].docs_dir)
            except Exception as exc:  # noqa: BLE001 - a product bug must not hide the peers' table
                log(traceback.format_exc())
                for s in mine:
                    outcomes[s.name].unavailable[PRODUCT] = f"failed: {type(exc).__name__}: {exc}"
            else:
                try:
                    with _settings(settings):
                        for s in mine:
                            log(f"{s.name}: {PRODUCT} ...")
                            run = index.run(s, search_kwargs)
                            outcomes[s.name].scores.append(score_run(PRODUCT, run, s.qrels, args.k, s.kind, s.primary))
                        if sweep is not None:
                            module, name, values = sweep
                            for value in values:
                                with setting(module, name, value):
                                    for s in mine:
                                        log(f"{s.name}: {PRODUCT} {name}={value} ...")
                                        figure = score_run(
                                            PRODUCT, index.run(s, search_kwargs), s.qrels, args.k, s.kind, s.primary
                                        )
                                        swept.setdefault(value, {})[s.name] = figure.metrics[s.primary]
                finally:
                    index.close()
        if not args.product_only:
            docs = peers.load_docs(mine[0].docs_dir)
            for peer_name in peer_names:
                label = PEER_LABELS[peer_name]
                log(f"{corpus}: {label} ...")
                try:
                    peer = peers.make_peer(peer_name, group="or")
                except ImportError as exc:  # tantivy and bm25s are optional extras
                    for s in mine:
                        outcomes[s.name].unavailable[label] = str(exc)
                    continue
                try:
                    peer.build(docs)
                    for s in mine:
                        run = {qid: dedupe(peer.search(text, limit=s.depth)) for qid, text in s.queries}
                        outcomes[s.name].scores.append(score_run(label, run, s.qrels, args.k, s.kind, s.primary))
                finally:
                    peer.close()
        for s in mine:
            print(render(outcomes[s.name]) + "\n", flush=True)

    ordered = [outcomes[s.name] for s in suites]
    systems = ([] if args.peers_only else [PRODUCT]) + (
        [] if args.product_only else [PEER_LABELS[p] for p in peer_names]
    )
    baseline = read_baseline(args.baseline) if args.baseline else None
    print(summary(ordered, systems, baseline) + "\n")
    if args.baseline and not args.peers_only:
        if changed := per_query_change(ordered, read_baseline_queries(args.baseline)):
            print(f"per query against {args.baseline.name}:\n\n{changed}\n")
    if sweep is not None and swept:
        module, name, values = sweep
        default = getattr(importlib.import_module(module), name)
        print(f"sweep {module}.{name}:\n")
        print("| value | " + " | ".join(s.name for s in suites) + " | macro |")
        print("|---|" + "---:|" * (len(suites) + 1))
        for value, figures in swept.items():
            print(
                f"| {value} | "
                + " | ".join(f"{figures[s.name]:.3f}" for s in suites)
                + f" | {macro(figures.values()):.3f} |"
            )
        print()
        if default not in swept:
            swept[default] = {s.name: outcomes[s.name].system(PRODUCT).metrics[s.primary] for s in suites}  # type: ignore[union-attr]
        print(loco(swept, suites, default) + "\n")
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()
    print(
        f"{os.cpu_count()} cores; load average {load_before[0]:.1f} at the start, "
        f"{load_after[0]:.1f} at the end; {elapsed:.0f} s"
    )
    if args.json:
        meta = {
            "k": args.k,
            "search_kwargs": search_kwargs,
            "set": args.set,
            "load": [load_before[0], load_after[0]],
            "seconds": elapsed,
        }
        args.json.write_text(json.dumps(to_json(ordered, meta), indent=2) + "\n", encoding="utf-8")
    failed = any(why.startswith("failed") for o in ordered for why in o.unavailable.values())
    return 1 if failed else 0


@contextmanager
def _settings(settings: Sequence[tuple[str, str, list[Any]]]) -> Iterator[None]:
    if not settings:
        yield
        return
    (module, name, values), rest = settings[0], settings[1:]
    with setting(module, name, values[0]), _settings(rest):
        yield


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
    scores = score_run("t", {"1": ["a"]}, {"1": {"a": 1}, "2": {"b": 1}, "3": {"c": 0}}, 10).metrics
    check("mean ndcg", scores["nDCG@10"], 0.5)
    check("mean map", scores["MAP@100"], 0.5)
    check("mean recall", scores["R@100"], 0.5)
    # Known items: found first, found third, not found.
    known = score_run(
        "t", {"1": ["a"], "2": ["x", "y", "b"], "3": ["x"]}, {"1": {"a": 1}, "2": {"b": 1}, "3": {"c": 1}}, 10, "known"
    )
    check("known @1", known.metrics["@1"], 1 / 3)
    check("known @3", known.metrics["@3"], 2 / 3)
    # Headlines as typed; the salient words.
    if typed_headline("ALLWASTE <ALWS.O> TO ACQUIRE FIRM") != ["allwaste", "alws", "o", "to", "acquire", "firm"]:
        raise AssertionError("typed_headline")
    if salient(["u", "s", "the", "1987", "credit", "markets"], frozenset({"the"})) != ["credit", "markets"]:
        raise AssertionError("salient")
    # Per query against a baseline: one up, one down, one level; the better of each pair.
    suite = Suite("s", "s", Path("."), [("1", ""), ("2", ""), ("3", "")], {})
    now = Outcome(suite, [Scores(PRODUCT, {"nDCG@10": 0.5}, {"1": 1.0, "2": 0.0, "3": 0.5})], {})
    if per_query_change([now], {"s": {"1": 0.5, "2": 0.5, "3": 0.5}}).splitlines()[-1] != "| s | 1 | 1 | 0.667 |":
        raise AssertionError("per_query_change")
    print("selftest: ok")


if __name__ == "__main__":
    sys.exit(main())
