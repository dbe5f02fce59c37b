"""Hand each alert's new matches to its command (--exec) and its file (--file).

After every reindex run, outside the index's writer lock (a slow command
must not hold up the next run or an `alert add`), under the alerts folder's
own ``DELIVER.lock``:

* ``--exec CMD``: CMD runs through the shell with the alert's undelivered
  matches on standard input, one JSON object a line (the match log's lines),
  and SEARCH_ALERT / SEARCH_ALERT_COUNT in its environment.  Exit status 0
  means delivered; anything else, or running past EXEC_TIMEOUT seconds, is
  reported and the same matches (and any newer) are offered again next run.
  A run killed after the command succeeded but before its cursor was saved
  offers them again too: --exec is at-least-once, and each line's cursor
  lets a consumer drop a repeat.
* ``--file PATH``: the matches are appended to PATH as JSON lines, fsynced.
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
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from search.alerts.files import DELIVER_LOCK, AlertFiles, Match, append_lines, encode_line
from search.errors import AlertsCorruptError

log = logging.getLogger(__name__)

#: Seconds an --exec command may run before it is killed and retried next run.
EXEC_TIMEOUT = 60.0
#: Characters of a failing command's stderr quoted in the report.
STDERR_SHOWN = 300


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
                error = _to_file(Path(target), alert.name, batch)
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


def _last_cursor(path: Path, alert: str) -> int:
    """The cursor of the file's last complete line of `alert`, 0 if none (in its
    last 64 KiB).  Alerts may share a file: another's later line says nothing
    of what this one delivered, and taking its cursor lost this one's retry."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - (1 << 16)))
            lines = handle.read().split(b"\n")
    except FileNotFoundError:
        return 0
    for line in reversed(lines[:-1]):
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            found = json.loads(line)
            cursor = found.get("cursor")
            if isinstance(cursor, int) and found.get("alert") == alert:
                return cursor
    return 0


def _to_file(path: Path, alert: str, batch: list[Match]) -> str | None:
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
    try:
        proc = subprocess.Popen(
            command,
            shell=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # so a timeout kills the whole pipeline, not just the shell
        )
    except OSError as exc:
        return f"cannot start it: {exc.strerror or exc}"
    try:
        _out, err = proc.communicate(data, timeout=EXEC_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return f"still running after {EXEC_TIMEOUT:g}s, killed"
    if proc.returncode != 0:
        said = err.decode("utf-8", "replace").strip()[-STDERR_SHOWN:]
        how = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit status {proc.returncode}"
        return how + (f": {said}" if said else "")
    return None
