"""Hand each alert's new matches to its command (--exec) and its file (--file).

After every reindex run, outside the index's writer lock (a slow command
must not hold up the next run or an `alert add`), under the alerts folder's
own ``DELIVER.lock``:

* ``--exec CMD``: CMD runs through the shell with the alert's undelivered
  matches on standard input, one JSON object a line (the match log's lines),
  and SEARCH_ALERT / SEARCH_ALERT_COUNT in its environment.  Exit status 0
  means delivered; anything else, or running past EXEC_TIMEOUT seconds, is
  reported and the same matches (and any newer) are offered again next run.
  The command is done when its shell exits: a child it leaves running is not
  waited for (nor killed), and only the last STDERR_KEPT bytes of stderr are
  kept, however much it writes.
  A run killed after the command succeeded but before its cursor was saved
  offers them again too: --exec is at-least-once, and each line's cursor
  lets a consumer drop a repeat.
* ``--file PATH``: the matches are appended to PATH as JSON lines, fsynced.
  PATH must be a regular file or absent: anything else (a FIFO, a device, a
  directory) is refused at `alert add` and reported at delivery, unopened.
  Before appending, the file's last cursor is read back, so a crash between
  the append and saving the cursor does not write a line twice: --file is
  exactly-once.

What was delivered is kept per alert and channel in ``delivered.json``.  An
alert added with --exec or --file starts from its first match.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import selectors
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from search.alerts.files import DELIVER_LOCK, AlertFiles, Match, append_lines, encode_line, not_regular, open_regular
from search.errors import AlertsCorruptError

log = logging.getLogger(__name__)

#: Seconds an --exec command may run before it is killed and retried next run.
EXEC_TIMEOUT = 60.0
#: Characters of a failing command's stderr quoted in the report.
STDERR_SHOWN = 300
#: Bytes of its stderr kept while it runs (the tail; room for STDERR_SHOWN characters after
#: trailing blank lines are stripped), however much it writes.
STDERR_KEPT = 1 << 16
#: Seconds between checks that the shell has exited while its stderr is quiet.
EXIT_POLL = 0.05


@dataclass
class DeliveryOutcome:
    delivered: dict[str, int] = field(default_factory=dict)  # alert -> matches handed over this run
    problems: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _deliver_lock(folder: Path) -> Iterator[bool]:
    """Hold DELIVER.lock if it is free; yields False when another run is delivering."""
    fd = os.open(folder / DELIVER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def deliver(index_dir: Path) -> DeliveryOutcome:
    """Deliver every alert's undelivered matches; failures are reported, never raised."""
    outcome = DeliveryOutcome()
    files = AlertFiles(index_dir)
    try:
        with _deliver_lock(files.folder) as held:
            if not held:
                log.info("alerts: another run is delivering; its matches are delivered by it or the next run")
                return outcome
            _deliver_all(files, outcome)
    except (AlertsCorruptError, OSError) as exc:
        outcome.problems.append(f"delivery: {exc}; retried next run")
    for problem in outcome.problems:
        log.warning("alerts: %s", problem)
    return outcome


def _deliver_all(files: AlertFiles, outcome: DeliveryOutcome) -> None:
    definitions = files.read_definitions()
    wanted = [a for a in definitions.alerts if a.exec or a.file]
    if not wanted:
        return
    delivered = files.read_delivered()
    by_alert: dict[str, list[Match]] = {a.name: [] for a in wanted}
    for match in files.read_matches():
        if match.alert in by_alert:
            by_alert[match.alert].append(match)
    for alert in wanted:
        done = delivered.setdefault(alert.name, {})
        for channel, target in (("file", alert.file), ("exec", alert.exec)):
            if not target:
                continue
            batch = [m for m in by_alert[alert.name] if m.cursor > done.get(channel, 0)]
            if not batch:
                continue
            if channel == "file":
                error = _to_file(Path(target), alert.name, batch, index_dir=files.index_dir)
            else:
                error = _to_command(target, alert.name, batch)
            if error:
                outcome.problems.append(
                    f"alert {alert.name!r}: {channel} {target!r} failed ({error}); "
                    f"its {len(batch)} matches are offered again next run"
                )
                continue
            done[channel] = batch[-1].cursor
            outcome.delivered[alert.name] = max(outcome.delivered.get(alert.name, 0), len(batch))
            files.write_delivered(delivered)


def file_target_problem(path: Path, index_dir: Path | None = None) -> str | None:
    """Why `path` cannot take --file deliveries ("a FIFO, not a regular file"), or None
    when it is a regular file or absent (it is created).  Checked by `alert add` and
    before each delivery, without opening it: a FIFO blocked the run for ever in
    open(), /dev/zero was read until MemoryError (review2 s11 F3).  Nor may it be
    inside `index_dir`, links followed: matches appended to its CURRENT made the
    index unreadable, to alerts/alerts.json every alert command an error."""
    if index_dir is not None:
        root, where = os.path.realpath(index_dir), os.path.realpath(path)
        if where == root or where.startswith(root.rstrip(os.sep) + os.sep):
            return f"inside the index folder {index_dir}, whose files the matches would damage"
    try:
        mode = os.stat(path).st_mode
    except OSError:  # absent, or unreachable: the delivery itself says why
        return None
    return None if stat.S_ISREG(mode) else not_regular(mode)


def _last_cursor(path: Path, alert: str) -> int:
    """The cursor of the file's last complete line of `alert`, 0 if none (in its
    last 64 KiB).  Alerts may share a file: another's later line says nothing
    of what this one delivered, and taking its cursor lost this one's retry."""
    try:
        fd = open_regular(path, os.O_RDONLY)  # a FIFO put there since the check is refused, never waited on
    except FileNotFoundError:
        return 0
    with open(fd, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - (1 << 16)))
        lines = handle.read().split(b"\n")
    for line in reversed(lines[:-1]):
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            found = json.loads(line)
            cursor = found.get("cursor")
            if isinstance(cursor, int) and found.get("alert") == alert:
                return cursor
    return 0


def _to_file(path: Path, alert: str, batch: list[Match], *, index_dir: Path | None = None) -> str | None:
    problem = file_target_problem(path, index_dir)
    if problem:
        return problem
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        last = _last_cursor(path, alert)
        append_lines(path, (m.to_line() for m in batch if m.cursor > last))
    except OSError as exc:
        return f"{exc.strerror or exc}"
    return None


def _to_command(command: str, name: str, batch: list[Match]) -> str | None:
    data = b"".join(encode_line(m.to_line()) + b"\n" for m in batch)
    env = {**os.environ, "SEARCH_ALERT": name, "SEARCH_ALERT_COUNT": str(len(batch))}
    # Standard input is a temporary file, not a pipe: a command that never reads it, or a
    # child it leaves running, cannot block the run on a full pipe.
    with tempfile.TemporaryFile() as stdin:
        stdin.write(data)
        stdin.flush()
        stdin.seek(0)
        try:
            proc = subprocess.Popen(
                command,
                shell=True,
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # so a timeout kills the whole pipeline, not just the shell
            )
        except OSError as exc:
            return f"cannot start it: {exc.strerror or exc}"
    assert proc.stderr is not None
    try:
        err, finished = _tail_until_exit(proc, proc.stderr.fileno(), time.monotonic() + EXEC_TIMEOUT)
    finally:
        proc.stderr.close()
    if not finished:
        return f"still running after {EXEC_TIMEOUT:g}s, killed"
    if proc.returncode != 0:
        said = err.decode("utf-8", "replace").strip()[-STDERR_SHOWN:]
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        return how + (f": {said}" if said else "")
    return None


def _tail_until_exit(proc: subprocess.Popen[bytes], fd: int, deadline: float) -> tuple[bytes, bool]:
    """Read the command's stderr until its shell exits (or the deadline passes: then its
    group is killed), keeping only the last STDERR_KEPT bytes; returns them and whether
    the shell exited by itself.

    The shell's exit, not EOF on the pipe, ends the wait: a child the command leaves
    running (`notify &`, `ssh -f`) holds the pipe open, and waiting for its EOF held the
    run until the timeout, killed the child and sent the batch again every run (review2
    s11 F4).  Everything written before the shell exited is drained without blocking.
    Before, stderr was gathered whole by `communicate`: `yes >&2` took the run to 22 GB
    (review2 s11 F2)."""
    os.set_blocking(fd, False)
    tail = bytearray()
    eof = False
    finished = True

    def drain() -> None:
        nonlocal eof
        while not eof:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not chunk:
                eof = True
                return
            tail.extend(chunk)
            if len(tail) > STDERR_KEPT:
                del tail[:-STDERR_KEPT]

    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()  # the shell, killed: a child that left the group (setsid) is not waited for
                finished = False
                break
            # After EOF (the command closed its stderr but runs on) only the exit is awaited.
            if eof or not selector.select(min(left, EXIT_POLL)):
                if eof:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(min(left, EXIT_POLL))
                continue
            drain()
    drain()
    return bytes(tail), finished
