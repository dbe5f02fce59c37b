"""Alerts inside a reindex run: every match recorded exactly once, even across SIGKILL.

The indexer commits the articles it changes in batches.  A batch's matches
cannot be found before its commit (they are found in the committed index)
and must not be lost after it: once committed, the next run sees those files
as unchanged and never looks at them again.  So, for each batch:

1. journal: append the batch's article ids, each with its content digest,
   to ``pending.jsonl`` and fsync it;
2. the indexer's Whoosh commit;
3. match the batch against every alert and append the new matches to
   ``matches.jsonl`` (fsync), skipping any (alert, article id) already there;
4. drop ``pending.jsonl``.

A run killed anywhere leaves either nothing to do, or a journal the next run
evaluates first (``AlertRun.begin``), against the live index: an id whose
indexed digest differs from the journalled one was never committed (the
next run's own diff brings that file in again), an id that matches was
committed, and matching it twice records nothing new, because recording is
idempotent by (alert, article id).  So every match is recorded once: none
lost (journal before commit), none doubled (idempotent record).

A full rebuild counts as new only the articles whose path and content the
previous generation did not have, so ``--full`` does not send the archive
again.  Alert problems (a corrupt file, an alert that no longer compiles, an
unwritable folder) are warnings: they never stop the articles being indexed,
and the journal is kept until matching succeeds.

The same steps run over a cluster (search.alerts.cluster.ClusterAlertRun):
there the commit is a send every shard acknowledged, and the matching is
searchd's.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from search.alerts.files import AlertFiles, Definitions, Match
from search.errors import AlertsCorruptError, SearchError
from search.results import AlertNews
from search.articles import Article
from search.storage.schema import doc_id, iso_utc

log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _content_key(path: str, digest: str) -> int:
    data = f"{path}\x00{digest}".encode("utf-8", "surrogateescape")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@dataclass
class AlertRun:
    """One reindex run's alerts; every method is a no-op when the index has none."""

    files: AlertFiles | None = None  # None: no alerts, nothing to do
    definitions: Definitions | None = None  # None: unreadable, so journal only
    run_at: str = field(default_factory=_now)
    previous: Any = None  # a full build: content keys the previous generation held
    batch: dict[str, str] = field(default_factory=dict)
    described: dict[str, dict[str, Any]] = field(default_factory=dict)  # this run's articles' match fields
    keep_journal: bool = False
    problems: list[str] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)
    _compiled: list[Any] | None = None
    _seen: set[tuple[str, str]] | None = None
    _next_cursor: int = 1
    _ix: Any = None

    # -- start ----------------------------------------------------------------------------

    @classmethod
    def begin(cls, index_dir: Path, ix: Any, *, fresh: bool) -> AlertRun:
        """Called under the writer lock, before any change: finishes a killed run's journal."""
        files = AlertFiles(index_dir)
        if not files.folder.is_dir():
            return cls()
        run = cls(files=files)
        run._ix = ix
        try:
            run.definitions = files.read_definitions()
        except AlertsCorruptError as exc:
            run._problem(exc, "alerts are not matched this run; the articles it brings wait in the journal")
            run.keep_journal = True
            return run
        if not run.definitions.alerts:
            files.clear_pending()
            return cls()
        run._recover()
        if fresh:
            run._remember_previous()
        return run

    def _problem(self, exc: BaseException, consequence: str) -> None:
        message = f"{exc}; {consequence}"
        log.warning("alerts: %s", message)
        self.problems.append(message)

    def _recover(self) -> None:
        assert self.files is not None
        try:
            pending = self.files.read_pending()
        except AlertsCorruptError as exc:
            self._problem(exc, "the journal is kept for the next run")
            self.keep_journal = True
            return
        if not pending:
            return
        try:
            ix, close = self._open_live()
        except (SearchError, OSError) as exc:
            self._problem(exc, "the journal of the last run is kept for the next run")
            self.keep_journal = True
            return
        try:
            for run_at, ids in pending:
                log.info("alerts: matching %d articles a killed run committed at %s", len(ids), run_at)
                self._match(ix, ids, run_at or self.run_at)
        finally:
            close()
        self._clear_journal()

    def _open_live(self) -> tuple[Any, Callable[[], None]]:
        """What the journal is matched against (the live index) and how to close it."""
        from search.storage.store import Store

        assert self.files is not None
        _gen, ix = Store(self.files.index_dir).open()
        return ix, ix.close

    def _clear_journal(self) -> None:
        if self.files is None or self.keep_journal:
            return
        try:
            self.files.clear_pending()
        except OSError as exc:  # harmless: the next run matches it again, recording nothing twice
            self._problem(exc, "the journal is matched again by the next run")

    def _remember_previous(self) -> None:
        """The (path, content) keys of the live generation, before a full rebuild replaces it."""
        from search.storage.schema import indexed_sources
        from search.storage.store import Store

        try:
            # Any schema version: after an upgrade, the rebuild's articles are new only if their content is.
            _gen, ix = Store(self.files.index_dir if self.files else ".").open(any_schema=True)
        except (SearchError, OSError):
            return  # no previous generation (or a damaged one): every article is new
        try:
            # 8 bytes a record in an array (a set of ints would be ~60 bytes each).
            self.previous = array("Q", sorted(_content_key(path, v[2]) for path, v in indexed_sources(ix).items()))
        except Exception as exc:  # a damaged old generation is what --full repairs
            log.info("alerts: cannot read the previous generation (%s); every article counts as new", exc)
        finally:
            ix.close()

    # -- during the run -----------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.files is not None

    def saw(self, path: str, digest: str, article: Article | None = None) -> None:
        """The run wrote this article's new content (added, edited, or a full build's)."""
        if self.files is None:
            return
        if self.previous is not None:
            key = _content_key(path, digest)
            at = bisect.bisect_left(self.previous, key)
            if at < len(self.previous) and self.previous[at] == key:
                return  # the same file with the same content: not new
        ident = doc_id(path)
        self.batch[ident] = digest
        if article is not None:
            # What a match records, as the index stores it, without reading it back (~35 us a match).
            self.described[ident] = {
                "id": ident,
                "path": path,
                "title": article.title,
                "url": article.url,
                "published": iso_utc(article.published),
            }

    def commit(self, writer: Any, verify: Callable[[], None] | None = None) -> None:
        """The indexer's commit of one batch, journalled before and matched after;
        `verify` (a full build's count check) runs between: a batch it refuses is never matched."""
        if self.files is None or not self.batch:
            writer.commit()
            self.batch = {}
            if verify is not None:
                verify()
            return
        batch, self.batch = self.batch, {}
        described, self.described = self.described, {}
        try:
            self.files.append_pending(self.run_at, batch)
        except OSError as exc:
            self._problem(exc, "this batch is matched, but would be missed if the run died before that")
        writer.commit()
        if verify is not None:
            verify()
        if self.definitions is None:
            return  # unreadable definitions: the journal keeps the batch
        self._match(self._ix, batch, self.run_at, described)
        self._clear_journal()

    # -- matching and recording -------------------------------------------------------

    def _match(
        self, ix: Any, ids: dict[str, str], run_at: str, described: dict[str, dict[str, Any]] | None = None
    ) -> None:
        from search.alerts.matching import describe, evaluate, live_articles

        assert self.files is not None and self.definitions is not None
        try:
            with ix.searcher() as searcher:
                compiled = self._compile(searcher)
                docs = live_articles(searcher, ids)
                hits = evaluate(searcher, compiled, docs)
                number = {ident: docnum for docnum, ident in docs.items()}

                def fields(ident: str) -> dict[str, Any]:
                    known = described.get(ident) if described else None
                    return known or describe(searcher, number[ident])

                self._record({name: [docs[d] for d in docnums] for name, docnums in hits.items()}, fields, run_at)
        except (AlertsCorruptError, OSError) as exc:
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        """Matching failed: the journal is kept for a later run, and this one only journals."""
        self._problem(exc, "the journal is kept, and these articles are matched when it is fixed")
        self.keep_journal = True
        self.definitions = None  # journal only, for the rest of this run

    def _record(self, hits: dict[str, list[str]], fields: Callable[[str], dict[str, Any]], run_at: str) -> None:
        """Append the matches not recorded before: alert name -> article ids, in the
        backend's order; `fields(id)` is what a match records of an article."""
        if not hits:
            return
        assert self.files is not None
        seen = self._load_seen()
        new: list[Match] = []
        described: dict[str, dict[str, Any]] = {}  # one read per article, not per match
        for name, idents in hits.items():
            for ident in idents:
                if (name, ident) in seen:
                    continue
                seen.add((name, ident))
                if ident not in described:
                    described[ident] = fields(ident)
                new.append(Match(alert=name, matched_at=run_at, cursor=self._next_cursor, **described[ident]))
                self._next_cursor += 1
                self.found[name] = self.found.get(name, 0) + 1
        self.files.append_matches(new)

    def _compile(self, searcher: Any) -> list[Any]:
        from search.alerts.matching import LexiconCache, compile_alert

        assert self.definitions is not None
        compiled = []
        reader = LexiconCache(searcher.reader())
        for alert in self.definitions.alerts:
            try:
                compiled.append(compile_alert(searcher, alert, reader))
            except SearchError as exc:
                if self._compiled is None:  # once a run, not once a batch
                    self._problem(exc, f"alert {alert.name!r} is skipped (fix it, or remove and add it again)")
        self._compiled = compiled
        return compiled

    def _load_seen(self) -> set[tuple[str, str]]:
        if self._seen is None:
            assert self.files is not None and self.definitions is not None
            seen: set[tuple[str, str]] = set()
            last = 0
            for match in self.files.read_matches():
                seen.add((match.alert, match.id))
                last = match.cursor
            self._seen = seen
            self._next_cursor = max(last + 1, self.definitions.next_cursor)
        return self._seen

    # -- end --------------------------------------------------------------------------

    def finish(self) -> AlertNews:
        """After the writer lock is released: deliver, and say what this run did."""
        if self.files is None:
            return AlertNews()
        delivered: dict[str, int] = {}
        if self.definitions is not None and any(a.exec or a.file for a in self.definitions.alerts):
            from search.alerts.delivery import deliver

            outcome = deliver(self.files.index_dir)
            delivered = outcome.delivered
            self.problems.extend(outcome.problems)
        for name, count in self.found.items():
            log.info("alert %s: %d new matches", name, count)
        return AlertNews(
            matches=tuple(sorted(self.found.items())),
            delivered=tuple(sorted(delivered.items())),
            problems=tuple(self.problems),
        )
