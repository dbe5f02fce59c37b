"""End to end: the installed `search` command, run in a subprocess.

Both front doors are exercised: `python -m search` and the console script
installed next to the interpreter.  The corpus test indexes the shared
Reuters and BBC collections plus seeds/ into one index with the CLI and
checks answers known from the data cards (skipped when the corpora are absent).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from search.storage.store import Store

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
ORIGINAL = SEEDS / "000_ca32df7d61dcae32.txt"
N_SEEDS = len(list(SEEDS.iterdir()))
SCRIPT = Path(sys.executable).parent / "search"
ENTRY_POINTS = {"module": [sys.executable, "-m", "search"], "script": [str(SCRIPT)]}
REUTERS_RECORDS, BBC_RECORDS = 20_841, 2_225


def _secured_fragment() -> str:
    front = ORIGINAL.read_text("utf-8").split("\n---", 1)[0]
    return str(yaml.safe_load(front.removeprefix("---\n"))["secured"])[40:72]


SECURED = _secured_fragment()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEARCH_")}
    env.update(COLUMNS="200", PYTHONIOENCODING="utf-8")
    return env


Runner = Callable[..., subprocess.CompletedProcess[str]]


def _runner(entry: list[str], cwd: Path) -> Runner:
    def run(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*entry, *(str(a) for a in args)],
            cwd=cwd,
            env=_env(),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
        )
        assert "Traceback" not in done.stdout
        assert "Traceback" not in done.stderr
        return done

    return run


@pytest.fixture(params=sorted(ENTRY_POINTS))
def search(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    """`python -m search` or the console script, run from an empty folder."""
    if request.param == "script" and not SCRIPT.exists():
        pytest.fail(f"the console script is not installed at {SCRIPT}")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return _runner(ENTRY_POINTS[request.param], cwd)


@pytest.fixture()
def module_search(tmp_path: Path) -> Runner:
    cwd = tmp_path / "cwd-module"
    cwd.mkdir()
    return _runner(ENTRY_POINTS["module"], cwd)


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def cli_seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """seeds/ indexed by the console script; read-only for the tests."""
    base = tmp_path_factory.mktemp("e2e")
    index = base / "index"
    report = _json(_runner(ENTRY_POINTS["script"], base)("index", SEEDS, "--index", index, "--json"))
    assert report["added"] == N_SEEDS and report["skipped"] == []
    return index


# -- the seeds -----------------------------------------------------------------------


def test_help_lists_the_commands(search: Runner) -> None:
    done = search("--help")
    assert done.returncode == 0
    for command in ("index", "query", "stats", "show", "watch"):
        assert command in done.stdout


def test_index_then_facial_recognition_example(search: Runner, tmp_path: Path) -> None:
    index = tmp_path / "ix"
    report = _json(search("index", SEEDS, "--index", index, "--json"))
    assert report["added"] == N_SEEDS
    page = _json(
        search(
            "query", "facial recognition", "--topic", "AI", "--provider", "ft.com",
            "--since", "2020-01-01", "--sort", "newest", "--json", "--index", index,
        )
    )  # fmt: skip
    hits = page["hits"]
    assert page["total"] == len(hits) >= 3
    for hit in hits:
        assert hit["provider"]["domain"] == "ft.com" or hit["provider"]["name"] == "The Financial Times"
        assert "AI" in hit["topics"]
        assert hit["published"] is not None and hit["published"] >= "2020-01-01T00:00:00Z"
    published = [h["published"] for h in hits]
    assert published == sorted(published, reverse=True)
    assert ORIGINAL.name in {Path(h["path"]).name for h in hits}


def test_index_defaults_to_seeds_in_the_working_folder(module_search: Runner, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd-module"
    shutil.copytree(SEEDS, cwd / "seeds")
    done = module_search("index")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{N_SEEDS} added")
    assert (cwd / "index").is_dir()
    assert _json(module_search("query", "facial", "--json"))["total"] > 0


@pytest.mark.parametrize("args", [["--help"], ["query", "--help"], ["index", "--help"]], ids=" ".join)
def test_help_does_not_import_whoosh(args: list[str], tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "search", *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "search.cli.main" in imported  # the measurement saw our imports
    assert not [m for m in imported if m.split(".")[0] in ("whoosh", "numpy")]


def test_a_query_imports_only_what_it_uses(cli_seed_index: Path, tmp_path: Path) -> None:
    """A cold `search query` is mostly imports: it reads no record files, so
    PyYAML (the record reader) stays out of it, and a word of few postings
    runs on Whoosh's searcher, so numpy and the engine's arrays stay out too
    (search.backends.costs).  What it imports is a contract, not a timing."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "search", "query", "facial", "--index", cli_seed_index],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "results, showing" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert {"search.backends.query", "whoosh.searching"} <= imported  # the measurement saw the search
    assert not [m for m in imported if m.split(".")[0] in ("yaml", "numpy") or m == "search.records"]
    assert not {"search.backends.engine", "search.backends.columns", "search.backends.titles"} & imported
    # Nor what other commands use: the web door, the cluster's client and
    # daemons, progress bars, and what Whoosh imports and never calls
    # (search.storage.whoosh_imports); nor Rich's emoji table (codes are text).
    other_doors = {"fastapi", "starlette", "uvicorn", "jinja2", "pymysql", "socket", "http", "email", "ssl"}
    assert not [m for m in imported if m.split(".")[0] in other_doors]
    unused = {"urllib.request", "whoosh.lang.morph_en", "rich.progress", "rich._emoji_codes", "search.web.app"}
    assert not unused & imported


def test_help_does_not_import_whoosh_in_process() -> None:
    snippet = (
        "import sys\n"
        "from search.cli.main import app\n"
        "for args in (['--help'], ['query', '--help'], ['stats', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "sys.stderr.write('WHOOSH=%s' % any(m.split('.')[0] in ('whoosh', 'numpy') for m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", snippet], env=_env(), capture_output=True, text=True, timeout=60, cwd=REPO.parent
    )
    assert done.returncode == 0, done.stderr
    assert "WHOOSH=False" in done.stderr


def test_no_index_exits_1_with_a_hint(module_search: Runner, tmp_path: Path) -> None:
    done = module_search("query", "facial", "--index", tmp_path / "none")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Error:" in done.stderr and "search index" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "yesterday"],
        ["--until", "2020-13-45"],
        ["--sort", "bogus"],
        ["--limit", "0"],
        ["--raw"],  # with the text "(" below: a raw syntax error
    ],
    ids=lambda a: " ".join(a),
)
def test_usage_errors_exit_2(module_search: Runner, cli_seed_index: Path, args: list[str]) -> None:
    text = "(" if args == ["--raw"] else "facial"
    done = module_search("query", text, "--index", cli_seed_index, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Error" in done.stderr


def test_show_unknown_id_exits_1(module_search: Runner, cli_seed_index: Path) -> None:
    done = module_search("show", "no-such-id", "--index", cli_seed_index)
    assert done.returncode == 1
    assert "no-such-id" in done.stderr


def test_busy_index_exits_3(module_search: Runner, tmp_path: Path) -> None:
    index = tmp_path / "ix"
    assert module_search("index", SEEDS, "--index", index).returncode == 0
    with Store(index).writer_lock():
        done = module_search("index", SEEDS, "--index", index, "--wait", "0.3")
    assert done.returncode == 3
    assert f"pid {os.getpid()}" in done.stderr  # names the holder
    assert module_search("index", SEEDS, "--index", index).returncode == 0


def test_strict_exits_4_on_a_skipped_record(module_search: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "good.md").write_text('---\ntitle: "Fine"\n---\n', "utf-8")
    (folder / "empty.md").write_text("", "utf-8")
    relaxed = module_search("index", folder, "--index", tmp_path / "a")
    assert relaxed.returncode == 0 and "empty.md" in relaxed.stderr
    strict = module_search("index", folder, "--index", tmp_path / "b", "--strict")
    assert strict.returncode == 4 and "empty.md" in strict.stderr


def test_stats_and_show(module_search: Runner, cli_seed_index: Path) -> None:
    stats = _json(module_search("stats", "--index", cli_seed_index, "--json"))
    assert stats["documents"] >= N_SEEDS
    shown = module_search("show", ORIGINAL, "--index", cli_seed_index)
    assert shown.returncode == 0
    record = json.loads(shown.stdout)["record"]
    assert record["title"].startswith("Met Police") and "secured" not in record


def test_secured_appears_nowhere(module_search: Runner, cli_seed_index: Path) -> None:
    outputs = [
        module_search("show", ORIGINAL, "--index", cli_seed_index),
        module_search("query", "", "--json", "--limit", "1000", "--index", cli_seed_index),
        module_search("query", "Met Police facial recognition", "--index", cli_seed_index),
        module_search("stats", "--index", cli_seed_index, "--json"),
    ]
    for done in outputs:
        assert done.returncode == 0
        assert SECURED not in done.stdout + done.stderr
    _assert_secured_not_on_disk(cli_seed_index)


_ZLIB_HEADERS = (0x01, 0x5E, 0x9C, 0xDA)


def _index_bytes(index: Path) -> Iterator[bytes]:
    """Every file of the index, and every zlib stream inside it (stored records are compressed)."""
    for path in index.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        yield data
        view = memoryview(data)
        at = data.find(b"x")
        while at != -1:
            if at + 1 < len(data) and data[at + 1] in _ZLIB_HEADERS:
                stream = zlib.decompressobj()
                try:
                    # A 64 KB window keeps false headers cheap; a real stream continues past it.
                    out = stream.decompress(view[at : at + 65536])
                    if not stream.eof and not stream.unconsumed_tail:
                        out += stream.decompress(view[at + 65536 :])
                except zlib.error:
                    pass
                else:
                    if stream.eof:
                        yield out
            at = data.find(b"x", at + 1)


def _assert_secured_not_on_disk(index: Path) -> None:
    blobs = list(_index_bytes(index))
    # Control: the scan does see stored records.
    assert any(b"Met Police try to calm tensions" in blob for blob in blobs)
    secured = SECURED.encode()
    # As stored text, or as an indexed term (lower-cased; a prefix survives stemming).
    token = max(re.split(r"[^0-9A-Za-z]+", SECURED), key=len).lower()[:10].encode()
    assert len(token) == 10
    assert not [b for b in blobs if secured in b]
    assert not [b for b in blobs if token in b.lower()]


# -- the shared corpora ----------------------------------------------------------------


@pytest.mark.slow
def test_reuters_bbc_and_seeds_in_one_index(
    unpack: Callable[..., Path], module_search: Runner, cli_seed_index: Path, tmp_path: Path
) -> None:
    reuters = unpack("corpora", "reuters21578.tar.gz")
    bbc = unpack("corpora", "bbc.tar.gz")
    index = tmp_path / "corpora-index"

    report = _json(module_search("index", reuters, bbc, SEEDS, "--index", index, "--json", timeout=1800))
    assert report["skipped"] == []
    assert report["added"] == REUTERS_RECORDS + BBC_RECORDS + N_SEEDS
    stats = _json(module_search("stats", "--index", index, "--json"))
    seed_stats = _json(module_search("stats", "--index", cli_seed_index, "--json"))
    assert stats["documents"] == REUTERS_RECORDS + BBC_RECORDS + seed_stats["documents"]

    def corpus_query(*args: object, where: Path = index) -> dict[str, Any]:
        # No time limit: these pages are checked whole, and at a high load a
        # search of 23,000 documents can pass the default 5 s and come back
        # cut short (timed_out), which says nothing about what it finds.
        page: dict[str, Any] = _json(module_search("query", *args, "--time-limit", "0", "--json", "--index", where))
        assert page["timed_out"] is False, args
        return page

    # Reuters: the data card's example story is a cocoa story.
    cocoa = corpus_query("cocoa", "--topic", "cocoa", "--limit", "1000")
    assert "BAHIA COCOA REVIEW" in [h["title"] for h in cocoa["hits"]]
    assert all("cocoa" in h["topics"] for h in cocoa["hits"])
    # Reuters dates are all 1987 (one story has none): every file, with --no-collapse.
    in_1987 = corpus_query(
        "", "--provider", "reuters.com", "--since", "1987-01-01", "--until", "1987-12-31", "--no-collapse"
    )
    assert in_1987["total"] == REUTERS_RECORDS - 1
    assert in_1987["facets"]["years"] == {"1987": REUTERS_RECORDS - 1}
    # The wire resent some stories the same day under the same headline: those are one story each,
    # but a headline reused on other days (a daily price report) is not collapsed.
    stories = corpus_query("", "--provider", "reuters.com")
    assert REUTERS_RECORDS - 1000 < stories["total"] < REUTERS_RECORDS
    daily = corpus_query('"hog and cattle slaughter guesstimates"')
    assert daily["total"] >= 20

    # BBC: the class counts from the data card, plus whatever seeds/ holds from bbc.co.uk.
    def bbc_page(where: Path) -> dict[str, Any]:
        return corpus_query("", "--provider", "bbc.co.uk", "--no-collapse", where=where)

    bbc_all, bbc_seeds = bbc_page(index), bbc_page(cli_seed_index)
    assert bbc_all["total"] == BBC_RECORDS + bbc_seeds["total"]
    classes = {"Business": 510, "Entertainment": 386, "Politics": 417, "Sport": 511, "Tech": 401}
    for topic, count in classes.items():
        assert bbc_all["facets"]["topics"][topic] == count + bbc_seeds["facets"]["topics"].get(topic, 0), topic

    for done in (
        module_search("show", ORIGINAL, "--index", index),
        module_search(
            "query", "facial recognition", "--json", "--limit", "1000", "--time-limit", "0", "--index", index
        ),
    ):
        assert done.returncode == 0 and SECURED not in done.stdout
    _assert_secured_not_on_disk(index)
