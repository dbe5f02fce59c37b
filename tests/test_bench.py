"""bench/bench.py and bench/peers.py: the parts that decide what a figure
means (the peers' settings, the build rounds' order, the tables' labels).
No time is measured or asserted here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import bench  # noqa: E402
import peers  # noqa: E402

DOCS = [
    peers.Doc("cocoa", "Cocoa prices rise", "Ghana's crop is late", "Cocoa futures rose.", ["cocoa"], "Reuters", None),
    peers.Doc("grain", "Grain exports fall", "Wheat and maize", "Exports of grain fell.", ["grain"], "Reuters", None),
    peers.Doc("both", "Cocoa and grain", "Two markets", "Cocoa and grain traders.", [], "", None),
]


def harness(peer_names: list[str], product: object = None) -> bench.Bench:
    """A Bench whose results are set by hand: no corpus is unpacked."""
    made = object.__new__(bench.Bench)
    made.args = argparse.Namespace(peer_semantics="or")
    made.peer_names = peer_names
    made.product, made.product_missing = product, "not under test"
    made.results = {}
    return made


def test_every_peer_has_a_label_in_the_tables() -> None:
    assert set(peers.PEERS) <= set(bench.PEER_LABELS)


def test_the_tables_render_the_fts5_terms_diagnostic() -> None:
    # --peers fts5-terms raised KeyError in render (session eleven).
    run = harness(["fts5-terms"])
    run.results["build"] = {"fts5-terms": {"seconds": 1.5, "runs": [1.5], "index_bytes": 2**20}}
    run.results["query"] = {
        "queries": 1,
        "sample": ["cocoa"],
        "peer_semantics": "or",
        "fts5-terms": {"p50_ms": 1.0, "p95_ms": 2.0, "queries_without_hits": 0},
    }
    rendered = run.render()
    assert bench.PEER_LABELS["fts5-terms"] in rendered
    assert "1.50 s" in rendered and "2.00 ms" in rendered


def test_the_fts5_peer_is_tuned_and_its_default_twin_is_not(tmp_path: Path) -> None:
    tuned, default = peers.make_peer("fts5", tmp_path / "tuned", "or"), peers.make_peer("fts5-default", tmp_path / "d", "or")
    try:
        for peer in (tuned, default):
            peer.build(DOCS)
        settings = {
            peer.name: (peer._db.execute("PRAGMA mmap_size").fetchone()[0], peer._db.execute("PRAGMA cache_size").fetchone()[0])
            for peer in (tuned, default)
        }
        assert settings["fts5-default"] == (0, -2000)  # sqlite's own defaults
        assert settings["fts5"][0] > 2**30 and settings["fts5"][1] == -262144
        # Settings change speed, never answers.
        for q in ("cocoa", "grain", "cocoa grain", "traders markets"):
            assert tuned.search(q) == default.search(q)
        assert tuned.search("cocoa grain", group="and") == ["both"]
    finally:
        tuned.close()
        default.close()


def test_the_fts5_peer_brings_its_default_twin_along() -> None:
    assert bench.peer_list("fts5,tantivy") == ["fts5", "fts5-default", "tantivy"]
    assert bench.peer_list("fts5-default,fts5") == ["fts5-default", "fts5"]
    assert bench.peer_list("tantivy,bm25s") == ["tantivy", "bm25s"]


@pytest.mark.parametrize("runs", [4, 8])
def test_build_rounds_give_the_product_and_fts5_each_place_alike(runs: int) -> None:
    run = harness(["fts5", "fts5-default", "tantivy", "whoosh"], product=object())
    orders = [run.build_order(r) for r in range(runs)]
    divided = {"fts5", "fts5-default", "product", "product-1"}
    for order in orders:
        # The builds the ratios divide come first, right after the parse;
        # the others (the long Whoosh build among them) after all of them.
        assert set(order[:4]) == divided and order[4:] == ["tantivy", "whoosh"]
    for name in divided:
        places = [order.index(name) for order in orders]
        assert sorted(places) == sorted([0, 1, 2, 3] * (runs // 4))


def test_build_rounds_without_the_product() -> None:
    run = harness(["tantivy", "fts5", "fts5-default"])
    assert [run.build_order(r) for r in range(2)] == [
        ["fts5", "fts5-default", "tantivy"],
        ["fts5-default", "fts5", "tantivy"],
    ]


def test_time_interleaved_gives_wall_and_cpu_figures_for_every_search() -> None:
    asked: list[tuple[str, str]] = []

    def search(name: str) -> Callable[[str], int]:
        return lambda q: asked.append((name, q)) or (0 if q == "none" else 1)

    figures = bench.time_interleaved({"a": search("a"), "b": search("b")}, ["x", "none"], runs=2)
    for name in ("a", "b"):
        one = figures[name]
        assert one["queries_without_hits"] == 1
        for key in ("p50", "p95", "cpu_p50", "cpu_p95"):
            assert len(one[f"runs_{key}_ms"]) == 2 and one[f"{key}_ms"] >= 0
    # One untimed pass of each, then the timed passes in turns: a, b, a, b.
    assert [name for name, _ in asked] == ["a", "a", "b", "b"] + ["a", "a", "b", "b"] * 2


def test_the_query_table_gives_cpu_ratios_against_both_fts5s() -> None:
    run = harness(["fts5", "fts5-default"])
    one = {"queries_without_hits": 0}
    run.results["query"] = {
        "queries": 1,
        "sample": ["cocoa"],
        "peer_semantics": "or",
        "fts5": {**one, "p50_ms": 9.0, "p95_ms": 9.0, "cpu_p50_ms": 2.0, "cpu_p95_ms": 8.0},
        "fts5-default": {**one, "p50_ms": 9.0, "p95_ms": 9.0, "cpu_p50_ms": 4.0, "cpu_p95_ms": 16.0},
        "product": {**one, "p50_ms": 9.0, "p95_ms": 9.0, "cpu_p50_ms": 3.0, "cpu_p95_ms": 4.0},
    }
    line = next(line for line in run.render().splitlines() if line.startswith("CPU per query"))
    assert "product/fts5 1.50x / 0.50x" in line and "product/fts5-default 0.75x / 0.25x" in line


def test_cold_commands_are_timed_in_turns_with_wall_and_cpu(tmp_path: Path) -> None:
    log = tmp_path / "order"
    commands = {
        name: [sys.executable, "-c", f"open({str(log)!r}, 'a').write({name!r}); print('a'); print('b')"]
        for name in ("one", "two")
    }
    commands["fails"] = [sys.executable, "-c", "raise SystemExit(1)"]
    timed, errors = bench.time_commands(commands, rounds=3, env={}, strict=["fails"])
    # One unmeasured round, then three, every other one in the reverse order.
    assert log.read_text() == "twoone" + "onetwo" + "twoone" + "onetwo"
    for name in commands:
        figures = timed[name]
        assert len(figures["runs"]) == len(figures["cpu_runs"]) == 3
        assert figures["seconds"] > 0 and figures["cpu_seconds"] > 0
    assert timed["one"]["output_lines"] == 2
    assert list(errors) == ["fails"] and errors["fails"].startswith("exit 1")


def test_the_cold_table_gives_wall_and_cpu_ratios_to_grep() -> None:
    made = harness([])
    figures = {"seconds": 0.2, "cpu_seconds": 0.1, "runs": [0.2], "cpu_runs": [0.1], "output_lines": 3}
    made.results["cold"] = {
        "word": "cocoa",
        "runs": 1,
        "grep": figures,
        "python_imports": {**figures, "seconds": 0.1, "cpu_seconds": 0.05},
        "product": {**figures, "seconds": 0.3, "cpu_seconds": 0.25, "ratio_to_grep": 1.5, "cpu_ratio_to_grep": 2.5},
    }
    text = made.render()
    header = next(line for line in text.splitlines() if line.startswith("| cold command"))
    assert [c.strip() for c in header.split("|")[2:-1]] == ["wall", "vs grep", "CPU", "CPU vs grep"]
    row = next(line for line in text.splitlines() if line.startswith("| search query cocoa"))
    assert "1.50x (target <= 2x: met)" in row and "2.50x" in row
