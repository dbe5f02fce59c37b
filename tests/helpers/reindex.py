"""Run build_index in a child process, narrating it, so a test can SIGKILL it mid-run.

usage: reindex.py INDEX_DIR ROOT [ROOT ...] [--full] [--wait S] [--procs N]
                  [--commit-every N] [--pool-threshold N]

One flushed line per event, for the parent to time its kill:

    progress DONE TOTAL        from build_index's progress callback
    commit-start N             before the N-th Whoosh commit (N from 1)
    commit-end N               after it returned: that batch is on disk
    publish-start / publish-end around the swap of a full rebuild's generation
    report JSON                the IndexReport, when the run completed

``--commit-every`` lowers search.indexing.indexer.COMMIT_EVERY so that a modest corpus
gives several commits; ``--pool-threshold`` lowers POOL_THRESHOLD so that the
process pool is used.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import whoosh.writing

import search.indexing.indexer
from search.storage.store import Store


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("index_dir")
    parser.add_argument("roots", nargs="+")
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--commit-every", type=int)
    parser.add_argument("--pool-threshold", type=int)
    args = parser.parse_args()
    if args.commit_every:
        search.indexing.indexer.COMMIT_EVERY = args.commit_every
    if args.pool_threshold:
        search.indexing.indexer.POOL_THRESHOLD = args.pool_threshold

    commits = 0
    real_commit = whoosh.writing.SegmentWriter.commit
    real_publish = Store.publish

    def commit(self: Any, *a: Any, **k: Any) -> Any:
        nonlocal commits
        commits += 1
        say(f"commit-start {commits}")
        result = real_commit(self, *a, **k)
        say(f"commit-end {commits}")
        return result

    def publish(self: Store, gen: Any) -> None:
        say("publish-start")
        real_publish(self, gen)
        say("publish-end")

    whoosh.writing.SegmentWriter.commit = commit  # type: ignore[method-assign]
    Store.publish = publish  # type: ignore[method-assign]
    report = search.indexing.indexer.build_index(
        args.roots,
        args.index_dir,
        full=args.full,
        wait=args.wait,
        procs=args.procs,
        progress=lambda done, total: say(f"progress {done} {total}"),
    )
    say("report " + json.dumps(report.to_dict()))


if __name__ == "__main__":
    main()
