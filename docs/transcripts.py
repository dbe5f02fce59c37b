"""Run the documentation's examples and compare (or rewrite) what they print.

The console transcripts in README.md and docs/*.md are real output: this
module runs them, like cog or sqlite-utils' documentation checks, and is
used two ways:

* ``tests/test_docs.py`` runs every transcript and every ``pycon`` snippet
  against a fresh index of ``seeds/`` and fails when the output drifts;
* ``python docs/transcripts.py [FILE ...]`` rewrites the transcripts with what
  the commands print now (then review the diff, and commit it).

The rules (also in docs/development.md, "The docs test"):

* A fenced block whose lines start with ``$ `` must be a ``console`` block.
  Each ``$ `` line is run by bash in a scratch copy of the repository's
  ``seeds/`` with an index of them in ``index/`` (``search index``, built
  once), restored before every block; the lines after it, up to the next
  ``$ ``, are its expected output (stdout and stderr together, 80 columns).
* ``<!-- transcript: fresh -->`` on the line before a block: the scratch copy
  has no index yet.  The README's install step (``INSTALL`` below) is done
  already (it is the suite's own install) and is left out when run.
* ``<!-- transcript: continued -->``: the block goes on where the page's
  previous transcript left off (its files, its index), instead of a fresh
  copy.
* ``<!-- transcript: not run: REASON -->``: the block is shown, not run
  (benchmarks, the shared corpora, the test suite itself, a job that runs
  until stopped).  The reason is required.
* ``pycon`` blocks (``>>>`` lines) are doctests, run in the same scratch copy
  (one namespace per page, in order; ``fresh`` on the page's first one
  starts without an index); ``python`` blocks must run without error there.
* Only what legitimately varies is normalised: document ids and paths (ids
  are derived from absolute paths, so the docs show the ids the files get
  under ``DOC_ROOT``), durations (``in 0.12s``, ``"seconds": 0.133``) and
  clock times (a date-time the command printed within CLOCK_SLACK of the
  run may differ from the documented one; dates that are data may not).
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The pages whose examples are run.
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: Where the docs pretend the repository is checked out: ids and paths shown
#: in them are those of files under this folder.
DOC_ROOT = "/home/me/news-search"
#: The README's install step, already done when the suite runs.
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
#: Seconds a single documented command may take before it counts as hung.
COMMAND_TIMEOUT = 120

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
_MARKER = re.compile(r"<!--\s*transcript:\s*(.*?)\s*-->\s*\n\s*$")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
_DURATIONS = [
    (re.compile(r"\bin \d+(?:\.\d+)?s\b"), "in <seconds>s"),
    (re.compile(r'"seconds": \d+(?:\.\d+)?'), '"seconds": <seconds>'),
]
#: A date and time to the second (ISO 8601 or with a space, optional ,ms / Z).
_DATETIME = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?Z?)")
#: A time printed within this many seconds of the run is the clock's, not data.
CLOCK_SLACK = 36 * 3600


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    body: str
    marker: str | None  # the text after "transcript:" in the comment before it
    start: int  # offsets of the body in the page's text
    end: int

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def not_run_reason(self) -> str | None:
        if self.marker is None or not self.marker.startswith("not run"):
            return None
        return self.marker.removeprefix("not run").lstrip(": ").strip()

    @property
    def fresh(self) -> bool:
        return self.marker == "fresh"

    @property
    def continued(self) -> bool:
        return self.marker == "continued"


def blocks(page: Path) -> list[Block]:
    text = page.read_text("utf-8")
    found = []
    for match in _FENCE.finditer(text):
        marker = _MARKER.search(text, 0, match.start())
        before = text[: match.start()]
        has_marker = marker is not None and marker.end() == len(before)
        found.append(
            Block(
                page=page,
                line=text.count("\n", 0, match.start()) + 1,
                lang=match.group(1),
                body=match.group(2),
                marker=marker.group(1) if has_marker and marker else None,
                start=match.start(2),
                end=match.end(2),
            )
        )
    return found


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


def is_shell(block: Block) -> bool:
    return any(line.startswith("$ ") for line in block.body.splitlines())


@dataclass(frozen=True)
class Step:
    command: str  # continuation lines joined
    expected: str
    raw: str  # as written, continuation lines and all


def steps(block: Block) -> list[Step]:
    """The block's commands, each with the output written under it."""
    found: list[Step] = []
    command: list[str] = []
    output: list[str] = []
    lines = block.body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("$ "):
            if command:
                found.append(_step(command, output))
            command, output = [line[2:]], []
            while command[-1].endswith("\\") and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
            heredoc = _HEREDOC.search(command[-1])
            while heredoc and i + 1 < len(lines):
                i += 1
                command.append(lines[i])
                if lines[i] == heredoc.group(1):
                    break
        else:
            output.append(line)
        i += 1
    if command:
        found.append(_step(command, output))
    return found


def _step(command: list[str], output: list[str]) -> Step:
    raw = "\n".join(command)
    if _HEREDOC.search(raw):
        return Step(raw, "\n".join(output), raw)  # bash reads the lines as they are
    joined = " ".join(part.removesuffix("\\").strip() for part in command)
    return Step(joined, "\n".join(output), raw)


class Workspace:
    """A scratch copy of seeds/ (and its index) at one fixed path, restorable."""

    def __init__(self, base: Path) -> None:
        self.base = base.resolve()
        self.root = self.base / "news-search"
        self._pristine = self.base / "pristine"
        self.root.mkdir(parents=True)
        shutil.copytree(REPO / "seeds", self.root / "seeds")
        # `.venv/bin/search` in a transcript is the environment running this.
        (self.root / ".venv").symlink_to(Path(sys.prefix))
        self.env = _environment()
        self._ids: list[tuple[str, str]] = []
        self._status = 0
        self._learn_ids()
        done = self.run("search index")
        if "62 documents in index" not in done:
            raise RuntimeError(f"building the docs' seed index failed:\n{done}")
        shutil.copytree(self.root, self._pristine, symlinks=True)

    def _learn_ids(self) -> None:
        """Pair each file's id here with the id it has under DOC_ROOT (ids hash the absolute path)."""
        from search.storage.schema import doc_id  # the library, as installed

        files = [p for p in self.root.rglob("*") if ".venv" not in p.parts and "index" not in p.parts]
        rel = sorted(str(p.relative_to(self.root)) for p in files if p.is_file())
        self._ids = [(doc_id(f"{self.root}/{r}"), doc_id(f"{DOC_ROOT}/{r}")) for r in rel]

    def reset(self, fresh: bool = False) -> None:
        shutil.rmtree(self.root)
        shutil.copytree(self._pristine, self.root, symlinks=True)
        self._status = 0
        if fresh:
            shutil.rmtree(self.root / "index")

    def run(self, command: str) -> str:
        command = command.removeprefix(INSTALL)
        # Each line is its own bash; `(exit N)` hands it the previous line's status for `echo $?`.
        done = subprocess.run(
            ["bash", "-c", f"(exit {self._status}); {self.to_real(command)}"],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        self._status = done.returncode
        self._learn_ids()  # the command may have made files
        return self.to_doc(done.stdout.decode("utf-8", "replace"))

    def to_real(self, text: str) -> str:
        for real, doc in self._ids:
            text = text.replace(doc, real)
        return text.replace(DOC_ROOT, str(self.root))

    def to_doc(self, text: str) -> str:
        for real, doc in self._ids:
            text = text.replace(real, doc)
        return text.replace(str(self.root), DOC_ROOT)


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEARCH_", "COLUMNS", "LINES", "FORCE_COLOR"))}
    env.update(
        PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="80",
        LINES="50",
        NO_COLOR="1",
        TERM="dumb",
        TZ="UTC",
        LC_ALL="C.UTF-8",
        PYTHONIOENCODING="utf-8",
    )
    return env


def normalise(text: str) -> str:
    """Durations become placeholders; trailing blanks and blank edges go."""
    for pattern, replacement in _DURATIONS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def _clock_time(stamp: str, now: float) -> bool:
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(stamp.rstrip("Z").replace(",", ".").replace(" ", "T"))
    except ValueError:
        return False
    return abs(when.replace(tzinfo=timezone.utc).timestamp() - now) < CLOCK_SLACK


def same(expected: str, actual: str, now: float | None = None) -> bool:
    """True when `actual` prints what `expected` shows, up to durations and clock times.

    A date-time in the output may differ from the documented one only where
    the output's is the clock's (within CLOCK_SLACK of the run): when an alert
    matched, when the index was updated.  Dates that are data (publication
    dates) must be equal.
    """
    import time

    now = time.time() if now is None else now
    want, have = _DATETIME.split(normalise(expected)), _DATETIME.split(normalise(actual))
    if len(want) != len(have):
        return False
    for i, (w, h) in enumerate(zip(want, have)):
        if w != h and not (i % 2 == 1 and len(w) == len(h) and _clock_time(h, now)):
            return False
    return True


def _chain(block: Block) -> list[Block]:
    """The block and, if it is `continued`, the blocks of its page it continues."""
    runnable = [b for b in blocks(block.page) if is_shell(b) and b.not_run_reason is None]
    i = next(n for n, b in enumerate(runnable) if b.start == block.start)
    first = i
    while first > 0 and runnable[first].continued:
        first -= 1
    return runnable[first : i + 1]


def run_shell_block(block: Block, ws: Workspace, replay: bool = True) -> list[tuple[Step, str]]:
    """Each step of the block with what it printed (ids and paths as in the docs).

    A `continued` block first replays the blocks it continues (unchecked), so
    that it can be run on its own; with replay=False it runs in the state
    the previous block left (the rewriter runs a page in order).
    """
    chain = _chain(block) if replay else [block]
    if not chain[0].continued:
        ws.reset(fresh=chain[0].fresh)
    for earlier in chain[:-1]:
        for step in steps(earlier):
            ws.run(step.command)
    return [(step, ws.run(step.command)) for step in steps(block)]


class _Checker(doctest.OutputChecker):
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        got = self.ws.to_doc(got)
        return same(want, got) or super().check_output(normalise(want), normalise(got), optionflags)


def run_python_blocks(page: Path, ws: Workspace) -> Iterator[tuple[Block, str]]:
    """Run a page's pycon (doctest) and python blocks in order, in one namespace.

    Yields each block with a failure report, empty when it passed.
    """
    runnable = [b for b in blocks(page) if b.lang in ("pycon", "python")]
    ws.reset(fresh=bool(runnable) and runnable[0].fresh)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    here = Path.cwd()
    os.chdir(ws.root)
    try:
        for block in runnable:
            if block.not_run_reason is not None:
                continue
            if block.lang == "pycon":
                test = doctest.DocTestParser().get_doctest(block.body, namespace, block.where, str(page), block.line)
                report: list[str] = []
                runner = doctest.DocTestRunner(
                    checker=_Checker(ws), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
                )
                runner.run(test, out=report.append, clear_globs=False)
                namespace = test.globs
                yield block, "".join(report)
            elif block.lang == "python":
                try:
                    exec(compile(block.body, block.where, "exec"), namespace)
                    yield block, ""
                except Exception as exc:  # the report names the block and the error
                    yield block, f"{block.where}: {type(exc).__name__}: {exc}"
    finally:
        os.chdir(here)


def rewrite(pages: list[Path], ws: Workspace) -> list[Path]:
    """Replace the output of every runnable transcript with what it prints now."""
    changed = []
    for page in pages:
        text = page.read_text("utf-8")
        pieces, last = [], 0
        for block in blocks(page):
            if block.lang != "console" or block.not_run_reason is not None or not is_shell(block):
                continue
            lines = []
            for step, got in run_shell_block(block, ws, replay=False):
                lines.append(f"$ {step.raw}")
                kept = step.expected if same(step.expected, got) else got  # no churn of timings and clock times
                lines += [line.rstrip() for line in kept.strip("\n").splitlines()]
            pieces += [text[last : block.start], "\n".join(lines) + "\n"]
            last = block.end
        new = "".join(pieces) + text[last:]
        if new != text:
            page.write_text(new, "utf-8")
            changed.append(page)
    return changed


def main(argv: list[str]) -> int:
    import tempfile

    pages = [Path(a).resolve() for a in argv] or PAGES
    with tempfile.TemporaryDirectory(prefix="news-search-docs-") as tmp:
        ws = Workspace(Path(tmp))
        for page in rewrite(pages, ws):
            print(f"rewrote {page.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
