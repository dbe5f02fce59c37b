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


CAPPED = """
import resource
from pathlib import Path
from search.alerts import delivery
from search.alerts.files import Match
with open("/proc/self/status") as status:
    size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmPeak:"))
cap = size + (256 << 20)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
match = Match(alert="x", id="a", path="/a.md", title="t", url=None, published=None,
              matched_at="2026-01-01T00:00:00Z", cursor=1)
"""


def run_capped(code: str) -> str:
    """Run `code` (with `delivery` and one `match`) in a Python allowed 256 MB more address
    space than it has after the imports, so a delivery that reads without bound dies with
    MemoryError there, not the machine; returns its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", CAPPED + textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def new_match(records: Path) -> None:
    (records / "wheat.md").write_text(article("Wheat harvest"), "utf-8")


def test_a_flood_on_stderr_keeps_the_run_in_bounded_memory() -> None:
    # The whole of stderr was gathered (`communicate`) to quote its last 300 characters:
    # `yes >&2` took the run to 22 GB.  Here 595 MB through a process allowed 256 MB more
    # than it had (run_capped): MemoryError before, the failure and its last words after.
    said = run_capped(
        """
        print(delivery._to_command(
            "yes 0123456789abcdef | head -n 35000000 >&2; echo last words >&2; exit 3", "x", [match]))
        """
    ).strip()
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


def test_file_delivery_to_a_fifo_is_refused_without_blocking_the_run(
    archive: tuple[Path, Path], tmp_path: Path
) -> None:
    # open() of a FIFO with no writer blocked every run for ever (and `search watch` stopped
    # indexing, silently).  A writer here unblocks such an open, so a failing run ends quickly.
    import threading

    records, index = archive
    fifo = tmp_path / "alerts.jsonl"
    Alerts(index).add("wheat", "wheat", file=fifo)
    os.mkfifo(fifo)  # made after `alert add`, which refuses one
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:  # ENXIO: nobody has it open for reading
                time.sleep(0.05)
            else:
                return

    helper = threading.Thread(target=writer, daemon=True)
    helper.start()
    new_match(records)
    try:
        report = build_index([records], index)
    finally:
        stop.set()
        helper.join()
    assert report.added == 1 and report.alerts.delivered == ()
    (problem,) = report.alerts.problems
    assert f"file {str(fifo)!r} failed (a FIFO, not a regular file)" in problem and "offered again next run" in problem
    fifo.unlink()  # the user puts a file back: the match was kept for it
    report = build_index([records], index)
    assert report.alerts.delivered == (("wheat", 1),) and report.alerts.problems == ()
    assert [json.loads(line)["title"] for line in fifo.read_text().splitlines()] == ["Wheat harvest"]


def test_file_delivery_to_a_device_is_refused_unread() -> None:
    # /dev/zero was read to the end: MemoryError (exit 70); capped, so a failing run stops there.
    said = run_capped(
        """
        for device in ("/dev/zero", "/dev/full", "/dev/null"):
            print(device, delivery._to_file(Path(device), "x", [match]))
        """
    )
    assert said.splitlines() == [
        f"{device} a character device, not a regular file" for device in ("/dev/zero", "/dev/full", "/dev/null")
    ]


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_alert_add_refuses_a_file_that_is_not_a_regular_file(
    archive: tuple[Path, Path], tmp_path: Path, kind: str
) -> None:
    from typer.testing import CliRunner

    from search.cli.main import app

    _records, index = archive
    target = {"fifo": tmp_path / "pipe", "device": Path("/dev/zero"), "directory": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(target)
    said = {"fifo": "a FIFO", "device": "a character device", "directory": "a directory"}[kind]
    result = CliRunner().invoke(app, ["alert", "add", "x", "wheat", "--file", str(target), "--index", str(index)])
    assert result.exit_code == 2, result.output
    assert f"--file {str(target)!r} is {said}, not a regular file" in result.stderr
    assert result.stdout == ""
    assert Alerts(index).list() == ()  # nothing saved


@pytest.mark.parametrize("inside", ["CURRENT", "alerts/matches.jsonl", "alerts/alerts.json", "gen-000001/manifest.json", "x.jsonl"])
def test_alert_add_refuses_a_file_inside_the_index_folder(archive: tuple[Path, Path], inside: str) -> None:
    # Matches appended to index/CURRENT made the index unreadable ("CURRENT names
    # 'gen-000001\n{...}'"); to alerts.json, every alert command an Error.
    from typer.testing import CliRunner

    from search.cli.main import app

    _records, index = archive
    before = {p: p.read_bytes() for p in index.rglob("*") if p.is_file()}
    target = index / inside
    result = CliRunner().invoke(app, ["alert", "add", "x", "wheat", "--file", str(target), "--index", str(index)])
    assert result.exit_code == 2, result.output
    assert f"--file {str(target)!r} is inside the index folder {index}, whose files the matches would damage" in result.stderr
    assert result.stdout == ""
    assert Alerts(index).list() == ()  # nothing saved
    assert {p: p.read_bytes() for p in index.rglob("*") if p.is_file()} == before


def test_a_file_target_that_became_a_link_into_the_index_is_refused_and_offered_again(
    archive: tuple[Path, Path], tmp_path: Path
) -> None:
    records, index = archive
    target = tmp_path / "matches.jsonl"
    Alerts(index).add("wheat", "wheat", file=target)
    target.symlink_to(index / "CURRENT")  # put there after `alert add`
    pointer = (index / "CURRENT").read_bytes()
    new_match(records)
    report = build_index([records], index)
    assert report.added == 1 and report.alerts.delivered == ()
    (problem,) = report.alerts.problems
    assert f"inside the index folder {index}, whose files the matches would damage" in problem
    assert "offered again next run" in problem
    assert (index / "CURRENT").read_bytes() == pointer
    target.unlink()
    report = build_index([records], index)
    assert report.alerts.delivered == (("wheat", 1),) and json.loads(target.read_text("utf-8"))["title"] == "Wheat harvest"
