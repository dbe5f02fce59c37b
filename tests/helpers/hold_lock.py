"""Hold an index's writer lock from another process, for the lock tests.

usage: hold_lock.py INDEX_DIR SECONDS

Prints ``locked PID`` once the lock is held, sleeps SECONDS, prints
``releasing MONOTONIC`` (time.monotonic() just before the release; the clock is
system-wide on Linux, so the parent can order its own events after it), then
releases the lock and exits.
"""

from __future__ import annotations

import os
import sys
import time

from search.storage.store import Store


def main() -> None:
    index_dir, seconds = sys.argv[1], float(sys.argv[2])
    with Store(index_dir).writer_lock():
        print(f"locked {os.getpid()}", flush=True)
        time.sleep(seconds)
        print(f"releasing {time.monotonic()!r}", flush=True)


if __name__ == "__main__":
    main()
