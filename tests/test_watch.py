"""The periodic reindex job: parse_interval, the watch() loop and `search watch` for real."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import search.indexing.watch
from search import build_index, open_index
from search.errors import IndexBusyError, SearchError, UsageError
from search.results import IndexReport
from search.storage.store import Store
from search.indexing.watch import parse_interval, watch

RecordWriter = Callable[..., Path]
Outcome = IndexReport | SearchError

SEARCH = Path(sys.executable).with_name("search")
PATIENCE = 30.0  # only stops a hung loop or child; never a measure of speed
TINY = 0.01  # seconds between runs in the library tests


# -- parse_interval ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("1h", 3600),
        ("90", 90),
        ("1d", 86400),
        ("1.5m", 90),
        ("0.5s", 0.5),
        (" 10M ", 600),
    ],
)
def test_parse_interval_accepts(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", " ", "m", "soon", "0", "0s", "-5m", "10x", "1h30m", "10 minutes", "1e3", "inf", "nan", "5ms", "1,5m"],
)
def test_parse_interval_rejects_junk_as_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_interval(text)
    assert caught.value.option == "every"
    assert repr(text) in str(caught.value) and "10m" in str(caught.value)


@pytest.mark.parametrize("text", ["99999999999d", "366d", "2y", "53w", "9" * 400])
def test_parse_interval_rejects_more_than_a_year_before_the_loop_starts(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_interval(text)
    assert caught.value.option == "every" and "longer than a year (365d)" in str(caught.value)
    assert parse_interval("365d") == parse_interval("1y") == 365 * 86400


# -- watch() -------------------------------------------------------------------------------


@pytest.fixture()
def folder(write_record: RecordWriter, tmp_path: Path) -> Path:
    for i in range(3):
        write_record(f"r{i}.md", f'title: "Watched record {i}"')
    return tmp_path / "records"


def run_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "search.indexing.watch"]


def test_watch_runs_max_runs_cycles_logging_one_line_each(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, write_record: RecordWriter
) -> None:
    caplog.set_level(logging.INFO)
    outcomes: list[Outcome] = []

    def on_report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 1:
            write_record("r9.md", 'title: "Arrived between runs"')

    runs = watch([folder], tmp_path / "index", every=TINY, stop=threading.Event(), max_runs=3, on_report=on_report)
    assert runs == 3
    reports = [o for o in outcomes if isinstance(o, IndexReport)]
    assert [(r.added, r.unchanged) for r in reports] == [(3, 0), (1, 3), (0, 4)]
    lines = run_lines(caplog)
    assert [r.levelno for r in lines] == [logging.INFO] * 3
    assert [r.getMessage() for r in lines] == [f"reindex: {r.summary()}" for r in reports]
    with open_index(tmp_path / "index") as ix:
        assert ix.search("arrived").total == 1


def test_watch_survives_a_busy_index_and_goes_on(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    index_dir = tmp_path / "index"
    outcomes: list[Outcome] = []
    with contextlib.ExitStack() as held:
        held.enter_context(Store(index_dir).writer_lock())

        def on_report(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if len(outcomes) == 2:
                held.close()  # the other writer finishes after two failed runs

        runs = watch([folder], index_dir, every=TINY, stop=threading.Event(), max_runs=4, on_report=on_report)
    assert runs == 4
    assert [type(o) for o in outcomes] == [IndexBusyError, IndexBusyError, IndexReport, IndexReport]
    lines = run_lines(caplog)
    assert [r.levelno for r in lines] == [logging.ERROR, logging.ERROR, logging.INFO, logging.INFO]
    assert "reindex failed" in lines[0].getMessage() and "locked" in lines[0].getMessage()
    assert isinstance(outcomes[2], IndexReport) and outcomes[2].added == 3


def test_watch_survives_an_oserror_and_goes_on(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO)
    real = search.indexing.watch.build_index
    calls: list[int] = []

    def flaky(*args: Any, **kwargs: Any) -> IndexReport:
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(search.indexing.watch, "build_index", flaky)
    outcomes: list[Outcome] = []
    runs = watch(
        [folder], tmp_path / "index", every=TINY, stop=threading.Event(), max_runs=2, on_report=outcomes.append
    )
    assert runs == 2
    assert isinstance(outcomes[0], SearchError) and "No space left" in str(outcomes[0])
    assert isinstance(outcomes[1], IndexReport) and outcomes[1].added == 3
    assert [r.levelno for r in run_lines(caplog)] == [logging.ERROR, logging.INFO]


def test_watch_survives_a_missing_root_and_goes_on(folder: Path, tmp_path: Path) -> None:
    outcomes: list[Outcome] = []
    stray = tmp_path / "not-yet"

    def on_report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        stray.mkdir(exist_ok=True)  # the folder appears (a mount comes back)

    runs = watch(
        [folder, stray], tmp_path / "index", every=TINY, stop=threading.Event(), max_runs=2, on_report=on_report
    )
    assert runs == 2
    assert isinstance(outcomes[0], UsageError)
    assert isinstance(outcomes[1], IndexReport) and outcomes[1].added == 3


@pytest.fixture()
def collect_leaked_handles() -> Iterator[None]:
    """Whoosh leaves a damaged segment's file handle to the garbage collector; collect it
    here, so that its ResourceWarning does not land on a later test."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")
@pytest.mark.usefixtures("collect_leaked_handles")
def test_watch_survives_a_damaged_index_and_goes_on(
    seed_index_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index_dir, index_dir)
    for segment in index_dir.glob("gen-*/*.seg"):
        os.truncate(segment, segment.stat().st_size // 2)
    seeds = Path(__file__).resolve().parent.parent / "seeds"
    outcomes: list[Outcome] = []
    escaped = None
    try:
        runs = watch([seeds], index_dir, every=TINY, stop=threading.Event(), max_runs=2, on_report=outcomes.append)
    except Exception as exc:  # noqa: BLE001 - reported below, once Whoosh's open files are freed
        escaped = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    assert escaped is None, f"watch() ended with {escaped}"
    assert runs == 2
    assert all(isinstance(o, SearchError) for o in outcomes)
    assert [r.levelno for r in run_lines(caplog)] == [logging.ERROR, logging.ERROR]


def test_watch_stops_promptly_when_the_stop_event_is_set(folder: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    first = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            watch([folder], tmp_path / "index", every=3600, stop=stop, on_report=lambda _o: first.set())
        )
    )
    thread.start()
    try:
        assert first.wait(PATIENCE)
        stop.set()  # mid-way through an hour's wait
        thread.join(PATIENCE)
        assert not thread.is_alive()
    finally:
        stop.set()
        thread.join(PATIENCE)
    assert result == [1]


def test_watch_with_stop_already_set_runs_nothing(folder: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    assert watch([folder], tmp_path / "index", every=TINY, stop=stop) == 0
    assert not (tmp_path / "index").exists()


# -- `search watch` for real ---------------------------------------------------------------------


@dataclass(frozen=True)
class WatchRun:
    returncode: int | None  # None: it did not exit within PATIENCE of SIGTERM
    stderr: str
    index_dir: Path
    records: Path


@pytest.fixture(scope="module")
def cli_watch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WatchRun]:
    """`search watch DIR --every 1s` run for about three cycles, then sent SIGTERM."""
    root = tmp_path_factory.mktemp("watch-cli")
    records = root / "records"
    records.mkdir()
    for i in range(3):
        (records / f"r{i}.md").write_text(f'---\ntitle: "Watched record {i}"\n---\nwombat\n', "utf-8")
    index_dir = root / "index"
    with (root / "stderr").open("w+", encoding="utf-8") as err:
        proc = subprocess.Popen(
            [str(SEARCH), "watch", str(records), "--every", "1s", "--index", str(index_dir)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + PATIENCE
            while not (index_dir / "CURRENT").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(2.5)  # the first run is done: about two more
            proc.send_signal(signal.SIGTERM)
            try:
                returncode: int | None = proc.wait(PATIENCE)
            except subprocess.TimeoutExpired:
                returncode = None
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(PATIENCE)
        err.seek(0)
        yield WatchRun(returncode, err.read(), index_dir, records)


def test_cli_watch_exits_0_on_sigterm_leaving_a_searchable_index(cli_watch: WatchRun) -> None:
    assert cli_watch.returncode == 0, cli_watch.stderr
    assert "Traceback" not in cli_watch.stderr
    with open_index(cli_watch.index_dir) as ix:
        assert ix.search("wombat").total == 3
    report = build_index([cli_watch.records], cli_watch.index_dir)  # the lock is free, nothing left to do
    assert report.unchanged == 3 and not report.changed


def test_cli_watch_logs_one_line_per_run(cli_watch: WatchRun) -> None:
    lines = [line for line in cli_watch.stderr.splitlines() if line.strip()]
    runs = [line for line in lines if "reindex:" in line]
    assert len(runs) >= 2
    assert "3 added" in runs[0] and all("3 unchanged" in line for line in runs[1:])
    others = [line for line in lines if line not in runs and "SIGTERM received" not in line]
    assert others == []


def test_a_wait_that_is_no_number_of_seconds_stops_watch_before_its_first_run(folder: Path, tmp_path: Path) -> None:
    # NaN passed the command line's min=0, and no deadline is ever reached: a busy index
    # would have blocked the run for ever (and each run would refuse it again, for ever)
    with pytest.raises(UsageError) as caught:
        watch([folder], tmp_path / "index", every=TINY, stop=threading.Event(), wait=float("nan"), max_runs=2)
    assert str(caught.value) == "`wait` must be 0 or more seconds, not nan" and caught.value.option == "wait"
    assert not (tmp_path / "index").exists()


def test_watch_into_a_folder_that_is_not_an_index_stops_at_the_first_run(folder: Path, tmp_path: Path) -> None:
    from search.errors import NotAnIndexError

    outcomes: list[Outcome] = []
    with pytest.raises(NotAnIndexError):
        watch([folder], folder, every=TINY, stop=threading.Event(), max_runs=3, on_report=outcomes.append)
    assert outcomes == [] and not (folder / "LOCK").exists()
