"""Shared fixtures: the seed index, record writers, and the shared corpora.

Tests never write into the repository: every index lives under pytest's
tmp_path (or a session temp dir for the read-only seed index).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from search import build_index, open_index
from search.api import Index
from search.storage.schema import decode_source
from search.storage.store import Store

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SHARED = Path(os.environ.get("NEWS_SEARCH_SHARED", REPO.parent / "shared"))
HELPERS = Path(__file__).resolve().parent / "helpers"
#: Only stops a hung helper process at teardown; never a measure of speed.
REAP_SECONDS = 60.0


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of seeds/, built once per session; treat it as read-only."""
    index_dir = tmp_path_factory.mktemp("seed-index") / "index"
    report = build_index([SEEDS], index_dir)
    assert report.added == len(list(SEEDS.iterdir())) and not report.skipped
    return index_dir


@pytest.fixture()
def seed_index(seed_index_dir: Path) -> Index:
    with open_index(seed_index_dir) as ix:
        yield ix


RecordWriter = Callable[..., Path]


def render_record(front: str, body: str | None = None) -> str:
    text = "---\n" + front.strip("\n") + "\n---\n"
    if body:
        text += "\n" + body.strip("\n") + "\n"
    return text


@pytest.fixture()
def write_record(tmp_path: Path) -> RecordWriter:
    """write_record("a.md", 'title: "X"', body=None, folder="records") -> path."""

    def write(name: str, front: str, body: str | None = None, folder: str = "records") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_record(front, body), "utf-8")
        return path

    return write


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpora are not on this machine (set NEWS_SEARCH_SHARED)")
    return path


@pytest.fixture(scope="session")
def unpack(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """unpack("corpora", "bbc.tar.gz") -> folder with the unpacked top folder, once per session."""
    cache: dict[tuple[str, ...], Path] = {}

    def _unpack(*parts: str) -> Path:
        if parts not in cache:
            archive = shared_path(*parts)
            target = tmp_path_factory.mktemp("corpus")
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
            (top,) = [p for p in target.iterdir() if p.is_dir()]
            cache[parts] = top
        return cache[parts]

    return _unpack


@pytest.fixture()
def records(tmp_path: Path) -> Path:
    """A private copy of seeds/ that a test may change, so its paths are this test's."""
    target = tmp_path / "records"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture()
def churned_index(tmp_path: Path) -> Path:
    """The seeds indexed in several commits, with edits and a removal: an
    index of several segments with deleted documents (its records beside it,
    in ``records/``)."""
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    later = sorted(records.glob("0[34]*"))
    held = tmp_path / "held"
    held.mkdir()
    for path in later:
        path.rename(held / path.name)
    build_index([records], tmp_path / "index")
    for path in later:
        (held / path.name).rename(path)
    build_index([records], tmp_path / "index")
    for path in sorted(records.glob("01*")):
        path.write_text(path.read_text("utf-8") + "\nA closing line about rates.\n", "utf-8")
    build_index([records], tmp_path / "index")
    next(records.glob("020*")).unlink()
    build_index([records], tmp_path / "index")
    return tmp_path / "index"


@pytest.fixture()
def spawn() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """spawn("script.py", *args): run tests/helpers/script.py in its own process
    group, stdout piped; whatever is left is killed at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(script: str, *args: object) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, str(HELPERS / script), *map(str, args)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(REAP_SECONDS)
        if proc.stdout:
            proc.stdout.close()


@dataclass(frozen=True)
class Unprivileged:
    """Runs Python as a user the file permissions apply to, in a folder it may use."""

    dir: Path
    prefix: tuple[str, ...]  # () for this user (not root: permissions apply already)

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """`python ARGS` as that user: `run("-m", "search", "query", ...)`."""
        return subprocess.run(
            [*self.prefix, sys.executable, *map(str, args)],
            capture_output=True,
            text=True,
            cwd=self.dir,
            env={**os.environ, "HOME": str(self.dir), "COLUMNS": "200"},
            timeout=REAP_SECONDS,
            check=False,
        )


@pytest.fixture()
def unprivileged() -> Iterator[Unprivileged]:
    """A real permission check, never a mock: as root (whom permissions do not
    stop) the commands run as `nobody` through setpriv(1), which also finds an
    interpreter under /root, in a folder of /tmp that user can enter; skipped,
    with the reason, where that cannot be done."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        import pwd

        setpriv = shutil.which("setpriv")
        try:
            uid = pwd.getpwnam("nobody").pw_uid
        except KeyError:
            pytest.skip("running as root, which permissions do not stop, and there is no user 'nobody'")
        if setpriv is None:
            pytest.skip("running as root, which permissions do not stop, and no setpriv(1) to run as 'nobody'")
        prefix = (setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups")
    folder = Path(tempfile.mkdtemp(prefix="news-search-perm-"))
    folder.chmod(0o755)
    try:
        helper = Unprivileged(folder, prefix)
        probe = helper.run("-c", "import search.cli.main")
        if probe.returncode != 0:
            pytest.skip(f"an unprivileged user cannot run this checkout: {probe.stderr.strip()[-200:]}")
        yield helper
    finally:
        for path in [folder, *folder.rglob("*")]:  # what a test made unreadable
            with contextlib.suppress(OSError):
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | stat.S_IRWXU)
        shutil.rmtree(folder, ignore_errors=True)


def index_snapshot(index_dir: Path) -> tuple[tuple[object, ...], ...]:
    """Every live document (id, kind, path, parent, title, bookkeeping), sorted; duplicates show."""
    _gen, ix = Store(index_dir).open()
    with ix.reader() as reader:
        column = reader.column_reader("source")
        rows = [
            (f["id"], f["kind"], f["path"], f.get("parent"), f["title"], decode_source(column[n]))
            for n, f in reader.iter_docs()
        ]
    return tuple(sorted(rows, key=repr))
