"""Delivery of an alert's matches (search/alerts/delivery.py): what the user's own
--exec command or --file target does must not hang, flood or re-send a run
(review2 s11 F2-F4)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SEEDS, render_record

from search import build_index
from search.alerts import Alerts, delivery


def article(title: str) -> str:
    return render_record(f"title: {json.dumps(title)}\npublishedDateTime: 2021-05-01T10:00:00Z", None)


@pytest.fixture()
def archive(tmp_path: Path) -> tuple[Path, Path]:
    """(records folder, index) of a few seeds, already indexed."""
    records = tmp_path / "records"
    records.mkdir()
    for path in sorted(SEEDS.glob("0*.md"))[:5]:
        shutil.copy(path, records / path.name)
    index = tmp_path / "index"
    build_index([records], index)
    return records, index


@pytest.fixture()
def pids() -> Iterator[list[int]]:
    """Process ids a test's command left running, killed afterwards."""
    left: list[int] = []
    yield left
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # a session leader's group, with its own children
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def alive(pid: int) -> bool:
    """Running, not exited (a zombie nobody reaps still answers kill(pid, 0))."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_pid(path: Path) -> int:
    """The pid a command's child wrote to `path` (it may still be starting under load)."""
    for _ in range(300):
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    raise AssertionError(f"{path} was never written")


def new_match(records: Path) -> None:
    (records / "wheat.md").write_text(article("Wheat harvest"), "utf-8")


def test_a_flood_on_stderr_keeps_the_run_in_bounded_memory() -> None:
    # The whole of stderr was gathered (`communicate`) to quote its last 300 characters:
    # `yes >&2` took the run to 22 GB.  Here 595 MB through a process allowed 256 MB more
    # than it had: MemoryError before, the failure and its last words after.
    code = textwrap.dedent(
        """
        import resource
        from search.alerts import delivery
        from search.alerts.files import Match
        with open("/proc/self/status") as status:
            size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmPeak:"))
        cap = size + (256 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        match = Match(alert="x", id="a", path="/a.md", title="t", url=None, published=None,
                      matched_at="2026-01-01T00:00:00Z", cursor=1)
        print(delivery._to_command(
            "yes 0123456789abcdef | head -n 35000000 >&2; echo last words >&2; exit 3", "x", [match]))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stdout.strip()
    assert said.startswith("exit status 3: ") and said.endswith("0123456789abcdef\nlast words"), said[-400:]
    assert len(said) <= len("exit status 3: ") + delivery.STDERR_SHOWN


def test_a_command_that_leaves_a_child_running_is_delivered_and_its_child_left_alone(
    archive: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pids: list[int]
) -> None:
    # `notify &`: the shell exits 0 at once, but its child held the stderr pipe, so the run
    # waited for EOF until the timeout, killed the child and offered the batch again every run.
    records, index = archive
    monkeypatch.setattr(delivery, "EXEC_TIMEOUT", 10.0)
    pidfile = tmp_path / "child.pid"
    Alerts(index).add("wheat", "wheat", exec=f"cat > {tmp_path / 'got'}; sleep 120 & echo $! > {pidfile}; exit 0")
    new_match(records)
    report = build_index([records], index)
    pids.append(read_pid(pidfile))
    assert report.alerts.problems == () and report.alerts.delivered == (("wheat", 1),)
    assert alive(pids[0])  # the user's background job was not killed
    assert [json.loads(line)["title"] for line in (tmp_path / "got").read_text().splitlines()] == ["Wheat harvest"]
    assert build_index([records], index).alerts.delivered == ()  # delivered once, not again next run


def test_a_timed_out_command_does_not_hold_the_run_through_a_child_that_left_its_group(
    archive: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pids: list[int]
) -> None:
    # A `setsid` child escapes the group's kill; the run then waited for it to close stderr.
    records, index = archive
    monkeypatch.setattr(delivery, "EXEC_TIMEOUT", 1.0)
    pidfile, done = tmp_path / "child.pid", tmp_path / "child.done"
    Alerts(index).add(
        "wheat", "wheat", exec=f"setsid sh -c 'echo $$ > {pidfile}; sleep 90; touch {done}' & sleep 60"
    )
    new_match(records)
    report = build_index([records], index)
    pids.append(read_pid(pidfile))
    (problem,) = report.alerts.problems
    assert "still running after 1s, killed" in problem and "offered again next run" in problem
    assert not done.exists()  # the run came back while the escaped child still held stderr
