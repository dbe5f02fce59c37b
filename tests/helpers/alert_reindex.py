"""Run build_index in a child process, narrating its alert steps, so a test can SIGKILL it.

usage: alert_reindex.py INDEX_DIR ROOT [ROOT ...] [--full] [--commit-every N]

One flushed line per event, for the parent to time its kill:

    progress DONE TOTAL           from build_index's progress callback
    journal-end N                 the N-th batch's ids are in pending.jsonl (fsynced)
    commit-start N / commit-end N around the N-th Whoosh commit
    matches-start N / matches-end N around the N-th append to matches.jsonl
    journal-cleared N             pending.jsonl dropped, the N-th time
    report JSON                   the IndexReport, when the run completed
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import whoosh.writing

import search.indexing.indexer
from search.alerts.files import AlertFiles


def say(line: str) -> None:
    print(line, flush=True)


def narrate(owner: Any, name: str, before: str | None, after: str | None) -> None:
    real: Callable[..., Any] = getattr(owner, name)
    count = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        if before:
            say(f"{before} {count}")
        result = real(*args, **kwargs)
        if after:
            say(f"{after} {count}")
        return result

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index_dir")
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--commit-every", type=int)
    args = parser.parse_args()
    if args.commit_every:
        search.indexing.indexer.COMMIT_EVERY = args.commit_every
    narrate(whoosh.writing.SegmentWriter, "commit", "commit-start", "commit-end")
    narrate(AlertFiles, "append_pending", None, "journal-end")
    narrate(AlertFiles, "append_matches", "matches-start", "matches-end")
    narrate(AlertFiles, "clear_pending", None, "journal-cleared")
    report = search.indexing.indexer.build_index(
        args.roots, args.index_dir, full=args.full, procs=1, progress=lambda d, t: say(f"progress {d} {t}")
    )
    say("report " + json.dumps(report.to_dict()))


if __name__ == "__main__":
    main()
