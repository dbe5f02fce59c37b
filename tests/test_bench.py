"""bench/bench.py and bench/peers.py: the parts that decide what a figure
means (the peers' settings, the build rounds' order, the tables' labels).
No time is measured or asserted here."""

from __future__ import annotations

import argparse
import sys
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


@pytest.mark.parametrize("runs", [3, 6])
def test_build_rounds_give_the_product_and_fts5_each_place_alike(runs: int) -> None:
    run = harness(["fts5", "fts5-default", "tantivy", "whoosh"], product=object())
    orders = [run.build_order(r) for r in range(runs)]
    divided = {"fts5", "fts5-default", "product"}
    for order in orders:
        # The builds the ratios divide come first, right after the parse;
        # the others (the long Whoosh build among them) after all of them.
        assert set(order[:3]) == divided and order[3:] == ["tantivy", "whoosh"]
    for name in divided:
        places = [order.index(name) for order in orders]
        assert sorted(places) == sorted([0, 1, 2] * (runs // 3))


def test_build_rounds_without_the_product() -> None:
    run = harness(["tantivy", "fts5", "fts5-default"])
    assert [run.build_order(r) for r in range(2)] == [
        ["fts5", "fts5-default", "tantivy"],
        ["fts5-default", "fts5", "tantivy"],
    ]
