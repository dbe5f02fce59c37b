"""search.indexing.check: every valid index passes, problems are named, notes do not fail the check."""

from __future__ import annotations

import gc
import os
import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from search import build_index
from search.indexing.check import check_index
from search.results import KEPT_VERSION
from search.storage.store import Store

if TYPE_CHECKING:
    from conftest import Unprivileged  # a fixture's type; tests/web has a conftest too

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_an_empty_index_is_valid_also_after_a_full_rebuild(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    build_index([empty], tmp_path / "ix")
    for full in (False, True):
        if full:
            build_index([empty], tmp_path / "ix", full=True)
        report = check_index(tmp_path / "ix", [str(empty)])
        assert report.ok and report.problems == () and report.documents == 0 and report.advice is None


def test_an_emptied_index_is_valid_and_takes_new_records(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    build_index([records], tmp_path / "ix")
    (records / "a.md").write_text("---\ntitle: First story\n---\n", "utf-8")
    assert build_index([records], tmp_path / "ix").added == 1  # raised NotImplementedError on an empty index
    assert check_index(tmp_path / "ix", [str(records)]).ok


def test_invalid_records_are_notes_not_missing(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    (records / "ok.md").write_text("---\ntitle: Good story\n---\n", "utf-8")
    (records / "bad.md").write_text("no front matter\n", "utf-8")
    with open(os.fsencode(records) + b"/lat\xff.md", "w") as handle:
        handle.write("---\ntitle: x\n---\n")
    build_index([records], tmp_path / "ix")
    report = check_index(tmp_path / "ix", [str(records)])
    assert report.ok and report.advice is None
    assert [(p.kind, Path(p.path or "").name, p.detail) for p in report.problems] == [
        ("invalid", "bad.md", "not indexable: line 1: file does not start with '---'"),
        ("invalid", os.fsdecode(b"lat\xff.md"), "file name is not valid UTF-8 (the \\xNN are its bytes that are not)"),
    ]
    (records / "new.md").write_text("---\ntitle: New story\n---\n", "utf-8")
    report = check_index(tmp_path / "ix", [str(records)])
    assert not report.ok and [p.kind for p in report.problems if p.kind != "invalid"] == ["missing"]
    assert report.advice == f"Bring it up to date: search index --index {tmp_path / 'ix'} PATH ..."


def test_an_indexed_file_that_stopped_parsing_is_a_note_not_stale(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    story = records / "story.md"
    story.write_text("---\ntitle: Good story\n---\n", "utf-8")
    build_index([records], tmp_path / "ix")
    story.write_text("---\ntitle: [unclosed\n---\n", "utf-8")
    build_index([records], tmp_path / "ix")  # keeps the version indexed before
    report = check_index(tmp_path / "ix", [str(records)])
    assert report.ok and report.advice is None  # no reindex can do better until the file is mended
    ((kind, path, detail),) = [(p.kind, p.path, p.detail) for p in report.problems]
    assert kind == "invalid" and path == str(story)
    assert detail.startswith("changed since it was indexed and not indexable: line 3: invalid YAML")
    assert detail.endswith(KEPT_VERSION)
    story.write_text("---\ntitle: Mended story\n---\n", "utf-8")
    report = check_index(tmp_path / "ix", [str(records)])
    assert not report.ok and [p.kind for p in report.problems] == ["stale"]


def test_a_racy_entry_is_no_problem_and_a_same_stat_edit_of_its_file_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry read within its mtime's tick (racy: search.indexing.indexer) is
    not damage; an edit keeping its size and mtime shows only in its bytes."""
    import search.indexing.indexer

    records = tmp_path / "records"
    records.mkdir()
    story = records / "story.md"
    story.write_text("---\ntitle: Good story\n---\n", "utf-8")
    tick = 1_700_000_000 * 1_000_000_000
    os.utime(story, ns=(tick, tick))
    monkeypatch.setattr(search.indexing.indexer, "_clock", lambda: tick + 400_000_000)
    build_index([records], tmp_path / "ix", procs=1)
    report = check_index(tmp_path / "ix", [str(records)])
    assert report.ok and report.problems == ()
    story.write_text("---\ntitle: Bold story\n---\n", "utf-8")
    os.utime(story, ns=(tick, tick))
    report = check_index(tmp_path / "ix", [str(records)])
    assert [(p.kind, p.path) for p in report.problems] == [("stale", str(story))]


def test_leftovers_of_a_failed_write_are_found_unless_a_writer_is_running(
    seed_index_dir: Path, tmp_path: Path
) -> None:
    index_dir = tmp_path / "ix"
    shutil.copytree(seed_index_dir, index_dir)
    store = Store(index_dir)
    gen = store.current_dir()
    (gen / "MAIN.tmp").mkdir()
    (gen / "MAIN.tmp" / "runs.ctmp").write_bytes(b"x" * 2_400_000)
    report = check_index(index_dir)
    assert not report.ok
    assert [(p.kind, p.path, p.detail) for p in report.problems] == [
        ("leftover", str(gen), "1 files (2.4 MB) left by a write that failed: MAIN.tmp")
    ]
    assert report.advice is not None and "search index --index" in report.advice and "--full" not in report.advice
    with store.writer_lock():  # a writer at work makes such files: not a problem then
        assert check_index(index_dir).ok
    build_index([SEEDS], index_dir)  # the next writer removes them
    assert check_index(index_dir).ok and not (gen / "MAIN.tmp").exists()


def _truncate_segments(index: Path, size: int | None) -> None:
    gen = Store(index).current_dir()
    for seg in gen.glob("*.seg"):
        if size is None:
            seg.unlink()
        else:
            os.truncate(seg, size)


@pytest.mark.parametrize("size", [0, 1_000, 40_000], ids=["emptied", "cut-short", "truncated"])
def test_checking_a_damaged_segment_leaves_no_file_open(tmp_path: Path, size: int) -> None:
    # Whoosh's failed reader kept the .seg open in the error's frames, and a later
    # collection closed it with an unraisable ResourceWarning (review, session ten)
    build_index([SEEDS], tmp_path / "ix")
    _truncate_segments(tmp_path / "ix", size)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        report = check_index(tmp_path / "ix")
        gc.collect()
    assert any(p.kind == "damaged" and p.path is None for p in report.problems), report.problems
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize("size", [0, 40_000, None], ids=["emptied", "truncated", "deleted"])
def test_check_reports_a_damaged_segment_when_the_index_has_alerts(tmp_path: Path, size: int | None) -> None:
    # The alerts' compile step opened a searcher outside the guard: struct.error, EOFError, OSError.
    from search.alerts import Alerts

    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    build_index([records], tmp_path / "ix")
    Alerts(tmp_path / "ix").add("police", "police")
    _truncate_segments(tmp_path / "ix", size)
    report = check_index(tmp_path / "ix", [str(records)])
    assert not report.ok
    assert any(p.kind in ("damaged", "unopenable") for p in report.problems), report.problems
    assert "--full" in (report.advice or "")


def test_a_run_killed_after_a_merging_commit_and_before_its_seal_is_not_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checksums.json is brought up to date after the run's last commit
    (Store.seal); a run killed between the two leaves the digests of the
    segment files its merge removed.  The index is whole: the check goes by
    the segments the live table of contents names, so such a digest is
    not a missing segment, while a named segment's file that is gone is."""
    records = tmp_path / "records"
    records.mkdir()
    store = Store(tmp_path / "ix")
    (records / "first.md").write_text("---\ntitle: The first story\n---\n", "utf-8")
    build_index([records], tmp_path / "ix")

    def killed(self: Store, gen: Path) -> None:
        raise KeyboardInterrupt  # the run's process dies here

    for n in range(30):
        (records / f"s{n}.md").write_text(f"---\ntitle: Story number{n}\n---\n", "utf-8")
        with monkeypatch.context() as patch:
            patch.setattr(Store, "seal", killed)
            with pytest.raises(KeyboardInterrupt):
                build_index([records], tmp_path / "ix")
        gen = store.root / store.current_name()  # type: ignore[operator]
        if any(not (gen / name).exists() for name in store.checksums(gen)):
            break  # this run's commit merged segments away
        store.seal(gen)
    else:
        pytest.fail("no run merged segments")
    report = check_index(tmp_path / "ix", [str(records)])
    assert report.ok and report.problems == () and report.documents == n + 2

    store.seal(gen)  # as the next run does
    live = gen / sorted(store.checksums(gen))[0]
    live.unlink()
    report = check_index(tmp_path / "ix", [str(records)])
    assert not report.ok
    assert f"segment file {live.name} is missing" in [p.detail for p in report.problems]


# -- what the system refuses this user: no damage, and no reindex fixes it ----------------

_CHECK_JSON = "import json, sys; from search.indexing.check import check_index; " \
    "print(json.dumps(check_index(sys.argv[1], sys.argv[2:]).to_dict()))"
_ACCESS = "Give this user access to what is marked unreadable, or run as its owner: no reindex or rebuild can read it either."


def _check_as(unprivileged: Unprivileged, index_dir: Path, *paths: Path) -> dict:
    import json

    done = unprivileged.run("-c", _CHECK_JSON, index_dir, *paths)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("alert", [False, True], ids=["", "with-an-alert"])
@pytest.mark.parametrize("name", ["*.seg", "*.arrays", "checksums.json", "_MAIN_*.toc"])
def test_an_index_file_this_user_may_not_read_is_unreadable_not_damaged(
    unprivileged: Unprivileged, name: str, alert: bool
) -> None:
    # a real EACCES (conftest's unprivileged); it was "damaged", advising --full, or a bare OSError;
    # with an alert defined, the alerts' check met it first and it was "Error: permission denied" (review s12 R5)
    index_dir = unprivileged.dir / "ix"
    build_index([SEEDS], index_dir)
    if alert:
        from search.alerts import Alerts

        Alerts(index_dir).add("faces", "facial recognition")
    (refused,) = (index_dir / "gen-000001").glob(name)
    refused.chmod(0)
    report = _check_as(unprivileged, index_dir)
    assert report["problems"] == [
        {"kind": "unreadable", "path": str(refused), "detail": "permission denied: this user cannot read it"}
    ]
    assert (report["ok"], report["advice"]) == (False, _ACCESS)
    done = unprivileged.run("-m", "search", "check", "--index", index_dir)
    assert done.returncode == 1 and done.stderr == f"Hint: {_ACCESS}\n"
    refused.chmod(0o644)
    assert _check_as(unprivileged, index_dir)["ok"]


def test_a_records_folder_this_user_may_not_enter_is_unreadable_not_vanished(unprivileged: Unprivileged) -> None:
    # they were "vanished", advising a `search index` that keeps them (a folder it cannot
    # list keeps its records, exit 5), so check said the same thing again: a loop (review, session ten)
    records, index_dir = unprivileged.dir / "records", unprivileged.dir / "ix"
    (records / "shut").mkdir(parents=True)
    (records / "open.md").write_text("---\ntitle: Open story\n---\n", "utf-8")
    (records / "shut" / "a.md").write_text("---\ntitle: Shut story\n---\n", "utf-8")
    build_index([records], index_dir)
    (records / "shut").chmod(0)
    report = _check_as(unprivileged, index_dir, records)
    assert [(p["kind"], p["path"]) for p in report["problems"]] == [
        ("unreadable", str(records / "shut" / "a.md")),
        ("unreadable", str(records / "shut")),
    ]
    assert report["problems"][0]["detail"] == "indexed, but this user cannot reach the file: Permission denied"
    assert report["advice"] == _ACCESS
    (records / "shut").chmod(0o755)
    (records / "shut" / "a.md").unlink()
    (records / "new.md").write_text("---\ntitle: New story\n---\n", "utf-8")
    gone = check_index(index_dir, [str(records)])
    assert [(p.kind, p.detail) for p in gone.problems] == [
        ("vanished", "indexed, but the file is gone"),
        ("missing", "a record file that is not in the index yet"),
    ]
    assert gone.advice == f"Bring it up to date: search index --index {index_dir} PATH ..."


def test_unreadable_beside_stale_advises_access_then_the_update() -> None:
    from search.indexing.check import CheckReport, Problem

    report = CheckReport("ix", 1, 1, (Problem("unreadable", "x", "a"), Problem("stale", "y", "b")))
    assert report.advice == f"{_ACCESS} Then: bring it up to date: search index --index ix PATH ..."
    assert CheckReport("ix", 1, 1, (Problem("unreadable", "x", "a"), Problem("alerts", "y", "b"))).advice == _ACCESS
