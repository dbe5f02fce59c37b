"""Exactly-once alert matches when a reindex run is SIGKILLed anywhere and run again.

The corpus: an archive indexed, three alerts saved, a first batch of new
files matched; then the run under test brings a second batch (new files,
edits that make an article match for the first time, edits of articles
already matched) and is killed, at a narrated step or at a random moment,
with several commits per run.  After the next run completes, each alert's
log must hold every article it should have matched exactly once: the same
set as an uninterrupted run, and the same as `search query` finds among the
new files.
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from search import build_index, open_index
from search.alerts import Alerts
from search.alerts.files import AlertFiles

PATIENCE = 60.0  # only stops a hung child; never a measure of speed
BASE, FIRST, SECOND = 120, 60, 150  # archive, first batch of new files, the batch of the run under test
EDITED_FIRST = 30  # files of the first batch rewritten in the second (some matched, some not)
EDITED_BASE = 20  # archive files rewritten in the second batch
COMMIT_EVERY = 40
WORDS = "grain wheat oil crude bank rates storm harbour festival court".split()
ALERTS = {
    "wheat": ("wheat", {}),
    "energy": ("+oil crude -festival", {}),
    "t3": ("storm OR harbour", {"topics": ["T3"]}),
}


def record(i: int, version: int) -> str:
    rnd = random.Random(i * 7 + version)
    words = " ".join(rnd.choice(WORDS) for _ in range(3))
    return f'---\ntitle: "Record {i} v{version} {words}"\ntopics: [T{i % 4}]\n---\n\nfiller{i} text\n'


def write(records: Path, i: int, version: int) -> None:
    (records / f"r{i:04d}.md").write_text(record(i, version), "utf-8")


def log_of(index: Path) -> dict[str, list[str]]:
    """Alert -> article paths in its log, in cursor order (repeats kept, to be caught)."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for match in AlertFiles(index).read_matches():
        found[match.alert].append(match.path)
    return dict(found)


@dataclass(frozen=True)
class Corpus:
    records: Path
    base: Path  # the index with its alerts and the first batch matched
    changed: frozenset[str]  # the paths the run under test adds or changes
    expected: dict[str, list[str]]  # the log after an uninterrupted run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("alert-crash")
    records = root / "records"
    records.mkdir()
    for i in range(BASE):
        write(records, i, 1)
    base = root / "base"
    build_index([records], base, procs=1)
    for name, (text, filters) in ALERTS.items():
        Alerts(base).add(name, text, **filters)  # type: ignore[arg-type]
    for i in range(BASE, BASE + FIRST):
        write(records, i, 1)
    build_index([records], base, procs=1)
    before = log_of(base)
    assert all(before.get(name) for name in ALERTS), "every alert has matches before the run under test"

    changed = set()
    for i in range(BASE + FIRST, BASE + FIRST + SECOND):
        write(records, i, 1)
        changed.add(i)
    for i in (*range(BASE + FIRST - EDITED_FIRST, BASE + FIRST), *range(EDITED_BASE)):
        write(records, i, 2)
        changed.add(i)
    paths = frozenset(str(records / f"r{i:04d}.md") for i in changed)

    reference = root / "reference"
    shutil.copytree(base, reference)
    build_index([records], reference, procs=1)
    expected = log_of(reference)
    # The reference itself against search query: what each alert gained is
    # what the query finds among the changed files, less what it had before.
    with open_index(reference) as ix:
        for name, (text, filters) in ALERTS.items():
            hits = ix.search(text, limit=1000, collapse=False, **filters)  # type: ignore[arg-type]
            wanted = {h.path for h in hits.hits if h.path in paths} - set(before.get(name, []))
            gained = expected[name][len(before.get(name, [])) :]
            assert sorted(gained) == sorted(wanted), name
            assert wanted, f"the run under test brings {name} new matches"
    return Corpus(records, base, paths, expected)


def kill_at(proc: subprocess.Popen[str], trigger: str | float) -> list[str]:
    """SIGKILL `proc` when it prints a line starting with `trigger`, or after `trigger` seconds."""
    assert proc.stdout is not None
    lines: list[str] = []
    watchdog = threading.Timer(PATIENCE, proc.kill)
    watchdog.start()
    try:
        if isinstance(trigger, float):
            time.sleep(trigger)
        else:
            for line in proc.stdout:
                lines.append(line.strip())
                if line.startswith(trigger):
                    break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(PATIENCE)
    finally:
        watchdog.cancel()
    if isinstance(trigger, str):
        assert lines and lines[-1].startswith(trigger), f"never reached {trigger!r}: {lines[-3:]}"
    return lines


def _random_triggers() -> list[str | float]:
    rnd = random.Random(os.environ.get("ALERT_CRASH_SEED", "14"))
    steps = ["progress", "journal-end", "commit-start", "commit-end", "matches-start", "matches-end", "journal-cleared"]
    picks: list[str | float] = [f"{rnd.choice(steps[1:])} {rnd.randint(1, 4)}" for _ in range(3)]
    picks += [f"progress {rnd.randint(1, SECOND)} " for _ in range(2)]
    picks += [round(rnd.uniform(0.4, 2.5), 2) for _ in range(3)]
    return picks


KILLS: list[str | float] = [
    "journal-end 1",  # journalled, not committed
    "commit-end 1",  # committed, not matched: the window the journal exists for
    "matches-start 2",
    "matches-end 2",  # matched, journal not yet dropped
    "commit-end 5",  # the last commit
    *_random_triggers(),
]


@pytest.mark.slow
@pytest.mark.parametrize("trigger", KILLS, ids=[str(k) for k in KILLS])
def test_a_killed_run_and_the_next_record_every_match_exactly_once(
    trigger: str | float, corpus: Corpus, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus.base, index)
    proc = spawn("alert_reindex.py", index, corpus.records, "--commit-every", COMMIT_EVERY)
    lines = kill_at(proc, trigger)
    # What is in the log already is never doubled, whatever the moment of the kill.
    for name, paths in log_of(index).items():
        assert len(paths) == len(set(paths)), name
    build_index([corpus.records], index, procs=1)
    got = log_of(index)
    for name in ALERTS:
        assert len(got[name]) == len(set(got[name])), f"{name}: a match recorded twice (killed after {lines[-1:]})"
        assert sorted(got[name]) == sorted(corpus.expected[name]), f"{name}: killed after {lines[-1:]}"
    assert not (index / "alerts" / "pending.jsonl").exists()
    cursors = [m.cursor for m in AlertFiles(index).read_matches()]
    assert cursors == sorted(set(cursors))


@pytest.mark.slow
def test_a_recovering_run_killed_too_still_gives_exactly_once(
    corpus: Corpus, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus.base, index)
    kill_at(spawn("alert_reindex.py", index, corpus.records, "--commit-every", COMMIT_EVERY), "commit-end 3")
    # The second run starts by matching the first one's journal: kill it there too.
    kill_at(spawn("alert_reindex.py", index, corpus.records, "--commit-every", COMMIT_EVERY), "matches-end 1")
    build_index([corpus.records], index, procs=1)
    got = log_of(index)
    for name in ALERTS:
        assert sorted(got[name]) == sorted(corpus.expected[name]) and len(got[name]) == len(set(got[name])), name


@pytest.mark.slow
def test_a_killed_full_rebuild_sends_nothing_twice(
    corpus: Corpus, spawn: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    index = tmp_path / "index"
    shutil.copytree(corpus.base, index)
    kill_at(spawn("alert_reindex.py", index, corpus.records, "--full"), "commit-end 1")
    build_index([corpus.records], index, procs=1, full=True)
    got = log_of(index)
    for name in ALERTS:
        assert sorted(got[name]) == sorted(corpus.expected[name]) and len(got[name]) == len(set(got[name])), name
