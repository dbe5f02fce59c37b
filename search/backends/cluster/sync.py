"""The reindex job into a cluster: what changed since the last run, sent.

The same set difference as the embedded indexer (search.indexing.indexer): files
under the roots against the files the cluster says it holds, a file with
an unchanged size and mtime not read at all, a changed one re-sent only if
its bytes differ, files gone from the roots deleted with their stubs.  A
file read within its mtime's tick (search.records.racy: a same-size edit in
that tick keeps its whole stat) is marked so in its bookkeeping and read
again by the next run whatever its stat: re-sent if its bytes differ, or
once its tick is over with the mark cleared, and then left alone.

Where the bookkeeping lives: in the cluster, in each article row's
``source`` attribute (size, mtime_ns, content hash; search.backends.cluster.rows),
written by the same REPLACE statement as the row's text.  So it is
committed exactly when searchd acknowledges the row: a run killed at any
point leaves every unacknowledged file looking new or changed, and the next
run resends it (REPLACE is idempotent); nothing acknowledged is lost, and
there is no second copy of the state on the writer's disk to drift from
the cluster's.  Within a file, stale stub rows are deleted before the new
rows are sent, and the file's rows (its stubs, then the article row with
the bookkeeping) go in one REPLACE statement, which searchd applies whole:
a stub is never acknowledged without the article row that records it.

Before anything is sent, each shard's table is checked against the row
layout this version writes (search.backends.cluster.tables): an older one
stops an incremental run with a message naming the full rebuild, which
adds the missing columns.  ``full=True`` re-sends every file, then deletes
every row the run did not send.  It does not build new tables and swap them in: searchd 2.2.11 cannot
create tables at run time (Manticore can), and the distributed table's
agents are fixed in its config; re-sending over the live rows keeps every
article searchable throughout, which a TRUNCATE-and-fill would not.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from search.backends.cluster import rows, sphinxql, tables
from search.backends.cluster.url import Endpoint, connect, parse, shard_endpoints
from search.errors import BackendError, EmptySourceError, FolderError, RecordError
from search.records import Article, Limits, normalise_roots, parse_record, racy, read_source, walk
from search.results import KEPT_VERSION, IndexReport, Skipped
from search.storage.schema import doc_id

log = logging.getLogger(__name__)

#: A REPLACE statement is sent once its rows reach this many bytes of SQL
#: (searchd's max_packet_size is 8 MB by default; the dev cluster sets 32 MB),
#: or this many rows; one file's rows are never split (a 5 MB record, the
#: largest read, can need more than 8 MB: its text is sent twice, escaped).
BATCH_BYTES = 2 * 1024 * 1024
BATCH_ROWS = 500
#: Rows read per page when listing what a shard holds.
LIST_PAGE = 5_000

Progress = Callable[[int, int], None]

#: The wall clock a read is dated by (file mtimes are wall-clock times); tests replace it.
_clock = time.time_ns


class Batches(Protocol):
    """What the alerts of a reindex run see of it (search.alerts.run.AlertRun,
    wired in by search.indexing.cluster): each file about to be sent, then each
    send, which `commit` journals before calling ``writer.commit()`` and
    matches after it."""

    def saw(self, path: str, digest: str, article: Article | None = None) -> None: ...

    def commit(self, writer: Any) -> None: ...


@dataclass
class _Send:
    """A send of everything queued, to every shard: the `writer` of Batches.commit."""

    shards: list[_Shard]

    def commit(self) -> None:
        for shard in self.shards:
            _flush(shard)


@dataclass
class _Known:
    size: int
    mtime_ns: int
    digest: str
    stubs: int
    article_id: str
    layout: int = tables.LAYOUT
    racy: bool = False  # read within its mtime's tick: read again, whatever its stat


@dataclass
class _Shard:
    endpoint: Endpoint
    conn: Any
    replaces: list[rows.Row] = field(default_factory=list)
    replace_bytes: int = 0
    deletes: list[int] = field(default_factory=list)


def _execute(shard: _Shard, statement: str) -> None:
    import pymysql

    try:
        with shard.conn.cursor() as cur:
            cur.execute(statement)
    except pymysql.err.MySQLError as exc:
        raise BackendError(
            f"shard {shard.endpoint} refused a write: {exc.args[-1] if exc.args else exc}",
            hint="Nothing unacknowledged is recorded as sent: run the reindex again when the shard is back.",
        ) from None


def _flush(shard: _Shard) -> None:
    """Deletes first (stale stubs of a file about to be re-sent), then the replaces."""
    for start in range(0, len(shard.deletes), 1000):
        _execute(shard, sphinxql.delete_statement(shard.endpoint.table, shard.deletes[start : start + 1000]))
    shard.deletes.clear()
    if shard.replaces:
        _execute(shard, sphinxql.replace_statement(shard.endpoint.table, shard.replaces))
    shard.replaces.clear()
    shard.replace_bytes = 0


def _indexed(shard: _Shard) -> dict[str, _Known]:
    """path -> bookkeeping of every article row on a shard, paged by id."""
    found: dict[str, _Known] = {}
    last = 0
    with shard.conn.cursor() as cur:
        while True:
            cur.execute(
                f"SELECT id, path, source, stubs, doc_id FROM {shard.endpoint.table}"
                f" WHERE kind_code = {rows.KIND_ARTICLE} AND id > {sphinxql.integer(last)}"
                f" ORDER BY id ASC LIMIT 0, {LIST_PAGE} OPTION max_matches={LIST_PAGE}"
            )
            page = cur.fetchall()
            for ident, path, source, stubs, article_id in page:
                decoded = rows.decode_source(source)
                size, mtime_ns, digest, layout, marked = decoded if decoded else (-1, -1, "", 0, False)
                found[path] = _Known(size, mtime_ns, digest, int(stubs), article_id, layout, marked)
            if len(page) < LIST_PAGE:
                return found
            last = int(page[-1][0])


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _held(places: dict[str, str], known: dict[str, Any]) -> dict[str, int]:
    """Of `places`, those under which the cluster holds records, and how many."""
    counts = {place: sum(1 for p in known if _under(p, [place])) for place in places}
    return {place: n for place, n in counts.items() if n}


def _check_layout(shards: list[_Shard], full: bool, url: str) -> None:
    """Every shard's table has the columns this version writes (search.backends.cluster.tables):
    an older one is refused, or on a full run given the missing columns.  A table
    that drops words as stop words the embedded analyzer keeps is only warned of:
    its rows are right, its matching misses those words until it is made again."""
    for shard in shards:
        tables.warn_dropped(f"shard {shard.endpoint}", tables.dropped_words(shard.conn, shard.endpoint.table))
        missing = tables.missing_columns(shard.conn, shard.endpoint.table)
        if not missing:
            continue
        where = f"shard {shard.endpoint}"
        if not full:
            raise tables.old_layout(where, missing, url=url)
        log.info("%s: adding the columns %s for the full rebuild", where, ", ".join(missing))
        tables.upgrade(shard.conn, shard.endpoint.table, missing, where=where, url=url)


def sync_cluster(
    paths: Iterable[str | os.PathLike[str]],
    backend: str,
    *,
    full: bool = False,
    limits: Limits | None = None,
    follow_symlinks: bool = False,
    progress: Progress | None = None,
    allow_empty: bool = False,
    batches: Batches | None = None,
) -> IndexReport:
    """Bring the cluster at `backend` in step with the record files under `paths`.

    `batches` sees each file before it is sent and makes each send (the
    alerts of the run: search.indexing.cluster); a send goes to every shard
    at once, so that what it journalled is exactly what was sent.

    As the embedded indexer (build_index): a root that yields no record
    files, or a folder that cannot be listed, is not taken to mean its
    records were deleted; an incremental run keeps them (the report's
    `kept`), a full one raises EmptySourceError before sending anything,
    unless `allow_empty`."""
    started = time.perf_counter()
    limits = limits or Limits()
    roots = normalise_roots(paths)
    url = parse(backend)
    endpoints = shard_endpoints(url)
    shards = [_Shard(e, connect(e.host, e.port, url=url.url)) for e in endpoints]
    try:
        _check_layout(shards, full, url.url)
        known: dict[str, tuple[_Known, int]] = {}
        for number, shard in enumerate(shards):
            known.update((path, (k, number)) for path, k in _indexed(shard).items())
        skipped: list[Skipped] = []
        found: dict[str, tuple[int, int]] = {}
        empty: dict[str, str] = {}
        for item in walk(roots, follow_symlinks=follow_symlinks):
            if isinstance(item, RecordError):
                skipped.append(Skipped(item.path, str(item)))
                if isinstance(item, FolderError):
                    empty[item.path] = item.problem
            else:
                found.setdefault(item.path, (item.size, item.mtime_ns))
        for root in roots:
            if os.path.isdir(root) and not any(_under(path, [root]) for path in found):
                empty[root] = "the folder yields no record files (an unmounted disk?)"
        held = {} if allow_empty else _held(empty, known)
        if held and full:
            raise EmptySourceError({p: empty[p] for p in held}, sum(held.values()))
        kept = tuple(
            Skipped(place, f"{n:,} indexed records kept: {empty[place]}; pass `allow_empty` to delete them")
            for place, n in held.items()
        )
        counts = {"added": 0, "updated": 0, "deleted": 0, "unchanged": 0}
        warnings: list[Skipped] = []
        todo = [
            path
            for path, (size, mtime_ns) in found.items()
            if full
            or path not in known
            or (known[path][0].size, known[path][0].mtime_ns) != (size, mtime_ns)
            or known[path][0].layout < tables.LAYOUT  # written by older code: its row lacks columns
            or known[path][0].racy
        ]
        counts["unchanged"] = len(found) - len(todo)
        send = _Send(shards)

        def commit() -> None:
            if batches is None:
                send.commit()
            else:
                batches.commit(send)

        if progress:
            progress(0, len(todo))
        for done, path in enumerate(todo, start=1):
            _send_file(path, known.get(path), shards, limits, counts, skipped, warnings, commit, batches, full=full)
            if progress:
                progress(done, len(todo))
        gone = [
            p for p in known if p not in found and (full or _under(p, roots)) and not any(_under(p, [h]) for h in held)
        ]
        for path in gone:
            entry, number = known[path]
            shards[number].deletes += [rows.sphinx_id(entry.article_id), *rows.stub_ids(entry.article_id, 1, entry.stubs)]
            counts["deleted"] += 1
        commit()
        documents = 0
        for shard in shards:
            with shard.conn.cursor() as cur:
                cur.execute(f"SELECT COUNT(*) FROM {shard.endpoint.table}")
                documents += int(cur.fetchone()[0])
    finally:
        for shard in shards:
            with contextlib.suppress(Exception):
                shard.conn.close()
    report = IndexReport(
        added=counts["added"],
        updated=counts["updated"],
        deleted=counts["deleted"],
        unchanged=counts["unchanged"],
        skipped=tuple(skipped),
        seconds=time.perf_counter() - started,
        warnings=tuple(warnings),
        full=full,
        documents=documents,
        kept=kept,
    )
    log.debug("sent %s to %s: %s", ", ".join(roots), backend, report.summary())
    return report


def _send_file(
    path: str,
    known: tuple[_Known, int] | None,
    shards: list[_Shard],
    limits: Limits,
    counts: dict[str, int],
    skipped: list[Skipped],
    warnings: list[Skipped],
    commit: Callable[[], None],
    batches: Batches | None,
    *,
    full: bool = False,
) -> None:
    article_id = doc_id(path)
    shard = shards[rows.shard_of(article_id, len(shards))]
    entry = known[0] if known else None
    try:
        started = _clock()  # before the fstat: an edit after it may be missing from what is read
        data, size, mtime_ns = read_source(Path(path), limits)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        marked = racy(mtime_ns, started)
        if (
            not full and entry is not None and entry.racy and marked and entry.layout >= tables.LAYOUT
            and (entry.size, entry.mtime_ns, entry.digest) == (size, mtime_ns, digest)
        ):
            counts["unchanged"] += 1  # still within its tick, the same bytes: nothing to send
            return
        article = parse_record(data, Path(path), limits)
    except RecordError as exc:
        # Its rows, if any, stay as they are, under their old stat: the next run tries again.
        skipped.append(Skipped(path, f"{exc}; {KEPT_VERSION}" if entry is not None else str(exc)))
        return
    batch = rows.article_rows(article, size, mtime_ns, digest, marked)
    # A file's rows go in one REPLACE, which searchd applies whole: split over two,
    # a run killed between them left stub rows without the article row that
    # records them, which no later run could find to delete.  So the send before
    # is made first if this file would overflow it (and before `batches` hears of
    # the file, so the file is journalled with the send that holds it).
    # Bytes, not characters: a CJK character is 3 bytes of the statement (searchd's max_packet_size).
    sizes = [sum(len(v.encode("utf-8", "surrogateescape")) for v in row.values.values() if isinstance(v, str)) + 512
             for row in batch]
    if shard.replaces and (
        shard.replace_bytes + sum(sizes) > BATCH_BYTES or len(shard.replaces) + len(batch) > BATCH_ROWS
    ):
        commit()
    if batches is not None and (entry is None or entry.digest != digest):
        # New content only: the same bytes re-sent (a --full, a touched file) are no news.
        batches.saw(path, digest, article)
    if entry is not None and entry.stubs > len(article.related):
        shard.deletes += list(rows.stub_ids(article_id, len(article.related) + 1, entry.stubs))
    if entry is None:
        counts["added"] += 1
    elif entry.digest == digest:
        counts["unchanged"] += 1  # same bytes under a new stat: re-sent for the bookkeeping only
    else:
        counts["updated"] += 1
    warnings.extend(Skipped(path, w) for w in article.warnings)
    shard.replaces += batch
    shard.replace_bytes += sum(sizes)
