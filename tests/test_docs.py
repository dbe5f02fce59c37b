"""The documentation is a promise: every command and option is in it, and its examples print what it shows.

Like sqlite-utils' documentation tests: the CLI app is introspected and each
command and option must appear in its section of docs/cli.md; the console
transcripts of README.md and docs/*.md are run against a fresh index of
seeds/ and compared with what is written; the library snippets are doctests.
The rules, and the script that rewrites transcripts from real output, are in
docs/transcripts.py (summarised in docs/development.md, "The docs test").
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from search.cli.main import app

REPO = Path(__file__).resolve().parent.parent
CLI_MD = REPO / "docs" / "cli.md"


def _load_transcripts() -> Any:
    spec = importlib.util.spec_from_file_location("docs_transcripts", REPO / "docs" / "transcripts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


T = _load_transcripts()
BLOCKS = T.all_blocks()
SHELL = [b for b in BLOCKS if T.is_shell(b)]
RUNNABLE = [b for b in SHELL if b.not_run_reason is None]
NOT_RUN = [b for b in SHELL if b.not_run_reason is not None]
PYTHON_PAGES = sorted({b.page for b in BLOCKS if b.lang in ("pycon", "python")})


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """seeds/ and its index at one scratch path, built once for the whole session."""
    return T.Workspace(tmp_path_factory.mktemp("docs"))


# -- (a) every command and option is in docs/cli.md ------------------------------------


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if getattr(sub, "hidden", False):
            continue
        yield " ".join(("search", *path, name)), sub
        yield from _commands(sub, (*path, name))


GROUP = get_command(app)
COMMANDS = dict(_commands(GROUP))


def _options(params: list[Any]) -> list[str]:
    """Every option name, long and short; Typer vendors Click, so options are told apart by duck typing."""
    names: list[str] = []
    for param in params:
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            names += [n for n in (*param.opts, *param.secondary_opts) if n != "--help"]
    return names


def _reference_pages() -> list[Path]:
    """docs/cli.md and the pages it links to (a command group may have its own page)."""
    text = CLI_MD.read_text("utf-8")
    linked = {CLI_MD.parent / m for m in re.findall(r"\]\(([\w-]+\.md)(?:#[^)]*)?\)", text)}
    return [CLI_MD, *sorted(p for p in linked if p.exists() and p != CLI_MD)]


def _section(command: str) -> str | None:
    """The text under the heading that starts with `search ...` for this command, up to the next
    heading of the same or a higher level; for a sub-command without its own, its group's."""
    heading = re.compile(rf"^(#+) `{re.escape(command)}(?:[ `|])", re.M)
    for page in _reference_pages():
        text = page.read_text("utf-8")
        match = heading.search(text)
        if match:
            level = len(match.group(1))
            end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, match.end())
            return text[match.start() : end.start() if end else len(text)]
    parent = command.rsplit(" ", 1)[0]
    return _section(parent) if parent != "search" else None


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_its_section_in_the_reference(command: str) -> None:
    assert _section(command) is not None, (
        f"`{command}` has no heading starting with `{command}` in docs/cli.md (or a page it links to)"
    )


def _mentions(text: str, option: str) -> bool:
    """The option as a word of a code span: `--opt`, `--opt N`, `--opt/--no-opt`, `search --opt`, `-n N`."""
    word = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
    return any(word.search(span) for span in re.findall(r"`([^`\n]+)`", text))


def _introduction() -> str:
    """What docs/cli.md says before its first command: the options every command takes."""
    return CLI_MD.read_text("utf-8").split("\n## ", 1)[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_is_documented_in_its_commands_section(command: str) -> None:
    section, intro = _section(command) or "", _introduction()
    missing = [o for o in _options(COMMANDS[command].params) if not (_mentions(section, o) or _mentions(intro, o))]
    assert missing == [], f"options of `{command}` not in its section of the reference: {missing}"


def test_global_options_are_in_the_reference_introduction() -> None:
    missing = [o for o in _options(GROUP.params) if not _mentions(_introduction(), o)]
    assert missing == [], f"global options not in docs/cli.md's introduction: {missing}"


def test_the_checker_sees_a_missing_option() -> None:
    """The section finder must not read the whole page: `--raw` belongs to query, not to index."""
    section = _section("search index") or ""
    assert "`--full`" in section and "`--raw`" not in section


# -- (b) console transcripts ---------------------------------------------------------


def test_shell_examples_are_console_blocks() -> None:
    wrong = [b.where for b in SHELL if b.lang != "console"]
    assert wrong == [], f"blocks with `$ ` lines must be ```console blocks so that they are run: {wrong}"


def test_markers_are_known_and_not_run_blocks_say_why() -> None:
    bad = [
        (b.where, b.marker)
        for b in BLOCKS
        if b.marker is not None and b.marker not in ("fresh", "continued") and not (b.not_run_reason and len(b.not_run_reason) > 5)
    ]
    assert bad == [], f"a transcript marker is `fresh`, `continued` or `not run: REASON`: {bad}"


def test_some_transcripts_are_run() -> None:
    """Guards the parser: if it stopped finding blocks every transcript test would vanish silently."""
    pages = {b.page.name for b in RUNNABLE}
    assert {"README.md", "cli.md"} <= pages and len(RUNNABLE) >= 10


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.where)
def test_transcript_prints_what_the_docs_show(block: Any, workspace: Any) -> None:
    for step, got in T.run_shell_block(block, workspace):
        want, have = T.normalise(step.expected), T.normalise(got)
        diff = "\n".join(difflib.unified_diff(want.splitlines(), have.splitlines(), "docs", "real", lineterm=""))
        assert T.same(want, have), (
            f"{block.where}: `$ {step.command}` printed something else "
            f"(if the code is right, run `.venv/bin/python docs/transcripts.py` and review the diff):\n{diff}"
        )


def test_readme_main_job_is_the_install_and_the_search() -> None:
    readme = [b for b in RUNNABLE if b.page.name == "README.md"]
    first = T.steps(readme[0])[0].command
    assert readme[0].fresh and first.startswith(T.INSTALL) and "search index" in first and "search query" in first


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text("utf-8").strip().splitlines()[-1]
    readme = [b for b in NOT_RUN if b.page.name == "README.md" and "pytest" in b.body]
    assert readme, "README.md shows the test command in a console block"
    assert shlex.split(T.steps(readme[0])[0].command) == shlex.split(ci)


# -- (c) library snippets ---------------------------------------------------------------


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda p: p.name)
def test_library_snippets_run(page: Path, workspace: Any) -> None:
    failures = [report for _block, report in T.run_python_blocks(page, workspace) if report]
    assert failures == [], "\n".join(failures)


def test_library_page_has_doctests() -> None:
    assert any(b.lang == "pycon" for b in BLOCKS if b.page.name == "library.md")
