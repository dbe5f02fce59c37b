"""The `search` command: a thin Typer layer over the library.

Each command validates its options, makes one library call and renders the
result: a Rich table for people, JSON (``--json``) for programs.  Errors
become exit codes in exactly one place, ``_Group.invoke``:

    0  success
    1  error (a damaged index, a missing document, ...)
    2  usage: a bad option, date or raw query
    3  index busy: another writer holds the lock (retry later)
    4  --strict and some records were skipped or had warnings
    5  records kept, not deleted: a root yielded no files or a folder could
       not be listed (an unmounted disk?); --allow-empty deletes them
    70 internal error: a bug in news-search (sysexits' EX_SOFTWARE), said
       as one in a line; --verbose logs its traceback

The library (and Whoosh) is imported inside the commands, so ``--help``
starts without loading either.
"""

from __future__ import annotations

import atexit
import gc
import logging
import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo

from search import bounds, settings
from search.cli.cluster import app as cluster_app
from search.display import visible
from search.errors import EmptySourceError, IndexBusyError, QueryError, SearchError, UsageError
from search.cli.serve import serve_cmd
from search.cli.options import (
    AllowEmptyOpt,
    BackendOpt,
    FollowOpt,
    IndexOpt,
    JsonOpt,
    MaxSizeOpt,
    PathsArg,
    ProcsOpt,
    ProviderOpt,
    PublishedOpt,
    SinceOpt,
    Sort,
    TopicOpt,
    UntilOpt,
    WaitOpt,
)
from search.cli.output import err, out, print_json, render_hits, render_page, show

if TYPE_CHECKING:
    from search.results import IndexReport

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_BUSY, EXIT_STRICT, EXIT_KEPT = 0, 1, 2, 3, 4, 5
#: A bug of ours, apart from every error a user or the machine causes (sysexits.h's EX_SOFTWARE).
EXIT_BUG = 70

log = logging.getLogger(__name__)

def exit_code(exc: SearchError) -> int:
    if isinstance(exc, IndexBusyError):
        return EXIT_BUSY
    if isinstance(exc, (UsageError, QueryError)):
        return EXIT_USAGE
    if isinstance(exc, EmptySourceError):
        return EXIT_KEPT
    return EXIT_ERROR


#: The library's parameters, as its messages name them (`limit`), and this command's flags for them.
_FLAGS = {
    "limit": "--limit",
    "page": "--page",
    "sort": "--sort",
    "since": "--since",
    "until": "--until",
    "boost": "--boost",
    "time_limit": "--time-limit",
    "text": "TEXT",
    "exec": "--exec",
    "every": "--every",
    "follow_symlinks": "--follow-symlinks",
    "max_file_size": "--max-file-size",
    "allow_empty": "--allow-empty",
    "wait": "--wait",
    "id": "ID",
    "prefix": "PREFIX",
}


def _in_flags(text: str) -> str:
    """A library message in the command line's words: `limit` -> --limit."""
    return re.sub(r"`(\w+)`", lambda m: _FLAGS.get(m.group(1), m.group(0)), text)


class _Group(TyperGroup):
    """Turns every SearchError (and OSError) into `Error: ...` on stderr and its exit
    code, and any other exception, a bug of ours, into a one-line internal error (EXIT_BUG)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SearchError as exc:
            err.print(f"[bold red]Error:[/] {show(_in_flags(str(exc)))}")
            if exc.hint:
                err.print(f"Hint: {show(_in_flags(exc.hint))}")
            raise typer.Exit(exit_code(exc)) from None
        except OSError as exc:
            # A read-only folder or a full disk: the system's own words, no traceback.
            where = f": {exc.filename}" if exc.filename else ""
            err.print(f"[bold red]Error:[/] {show(exc.strerror or str(exc))}{show(where)}")
            err.print("Hint: nothing committed before the failure is lost; fix the cause and run again.")
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as exc:
            if type(exc).__module__.partition(".")[0] in ("typer", "click"):
                raise  # Exit, Abort, a usage error: how Typer (or Click, before 0.28) ends a command
            # Not the user's mistake nor the machine's: said as a bug, in a line
            # (a traceback would read as a crash caused by the input).
            log.info("the internal error's traceback:", exc_info=exc)  # shown with --verbose
            err.print(f"[bold red]Error:[/] internal error: {show(f'{type(exc).__name__}: {exc}')}")
            err.print(
                "Hint: this is a bug in news-search, please report it with the command you ran"
                " and its output with --verbose (which adds the traceback)."
            )
            raise typer.Exit(EXIT_BUG) from None


def _typer() -> typer.Typer:
    return typer.Typer(
        cls=_Group,
        help="Full-text search for folders of news-article records.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
        rich_markup_mode=None,
    )


app = _typer()
app.add_typer(cluster_app, name="cluster")


class _VisibleFormatter(logging.Formatter):
    """Log lines quote file names and messages of the library (`search watch`
    logs each run): they reach the terminal through the one escaper too."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return visible(super().formatMessage(record))


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_VisibleFormatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the library does.")] = False,
) -> None:
    _configure_logging(verbose)


def _report_exit(report: IndexReport, strict: bool) -> None:
    if report.kept:
        raise typer.Exit(EXIT_KEPT)
    if strict and (report.skipped or report.warnings):
        raise typer.Exit(EXIT_STRICT)


@app.command("index")
def index_cmd(
    paths: PathsArg = None,
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)),
    full: Annotated[bool, typer.Option("--full", help="Rebuild from scratch (swapped in whole when done).")] = False,
    wait: WaitOpt = 0.0,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 4 if any record is skipped or has warnings.")] = False,
    follow_symlinks: FollowOpt = False,
    max_file_size: MaxSizeOpt = int(str(settings.MAX_FILE_SIZE.default)),
    procs: ProcsOpt = 0,
    allow_empty: AllowEmptyOpt = False,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Index record files (incremental unless --full)."""
    from search.indexing.indexer import build_index
    from search.records import Limits

    roots = [str(p) for p in (paths or ["seeds"])]
    with _progress(enabled=not as_json and err.is_terminal) as bar:
        if backend:
            from search.indexing.cluster import reindex_cluster

            report = reindex_cluster(
                roots,
                backend,
                index,  # where the cluster's alerts are kept, if it has any
                full=full,
                wait=wait,
                limits=Limits(max_file_bytes=max_file_size),
                follow_symlinks=follow_symlinks,
                progress=bar.update if bar else None,
                allow_empty=allow_empty,
            )
        else:
            report = build_index(
                roots,
                index,
                full=full,
                wait=wait,
                limits=Limits(max_file_bytes=max_file_size),
                follow_symlinks=follow_symlinks,
                procs=procs or None,
                progress=bar.update if bar else None,
                stage=bar.stage if bar else None,
                allow_empty=allow_empty,
            )
    if as_json:
        print_json(report.to_dict())
    else:
        for skip in report.skipped:
            err.print(f"[yellow]skipped[/] {show(_in_flags(skip.error))}")
        for warning in report.warnings:
            err.print(f"[dim]warning[/] {show(warning.path)}: {show(warning.error)}")
        for place in report.kept:
            err.print(f"[bold red]kept[/] {show(place.path)}: {show(_in_flags(place.error))}")
        out.print(f"{report.summary()}; {report.documents} documents in {show(str(backend or index))}")
    _report_exit(report, strict)


class _progress:
    """A Rich progress bar on a terminal (None when disabled): the count of
    record files read, then the stage the run is in, with the time spent in it
    (a commit has no count; on a first build of Reuters it is 40% of the run)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _progress | None:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.bar.start()
        self.task = self.bar.add_task("reading records", total=None, count="")
        return self

    def update(self, done: int, total: int) -> None:
        self.bar.update(self.task, description="reading records", completed=done, total=total, count=f"{done}/{total}")

    def stage(self, name: str) -> None:
        # A new task, so that the elapsed time is the stage's own, and the bar pulses: no count.
        self.bar.update(self.task, visible=False)
        self.task = self.bar.add_task(name, total=None, count="")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


class _QueryCommand(TyperCommand):
    """`search query -nuclear power`: a word with a leading - is an excluded
    word, not short options (-n uclear), unless it is one of the command's
    options or the value of the option before it (issue 16)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        names = {name for p in self.params for name in (*p.opts, *p.secondary_opts)}
        valued = {name for p in self.params if not getattr(p, "is_flag", True) for name in p.opts}
        kept: list[str] = []
        words: list[str] = []
        for n, arg in enumerate(args):
            if arg == "--":
                kept += args[n:]
                break
            after_option = bool(kept) and kept[-1] in valued
            attached = arg[:2] in valued and arg[2:].isdigit()  # -n5
            if re.fullmatch(r"-[^\W\d_]\w*", arg) and arg not in names and not after_option and not attached:
                kept.append(f"\0{len(words)}")  # a stand-in Click reads as TEXT, put back below
                words.append(arg)
            else:
                kept.append(arg)
        rest = list(super().parse_args(ctx, kept))
        if words and ctx.params.get("text"):
            ctx.params["text"] = [words[int(t[1:])] if t[:1] == "\0" else t for t in ctx.params["text"]]
        return rest


@app.command("query", cls=_QueryCommand)
def query_cmd(
    text: Annotated[list[str], typer.Argument(metavar="TEXT", help='Words, "phrases", -excluded, a OR b.')],
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)),
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=bounds.MAX_LIMIT, help="Hits per page.")
    ] = 10,
    page: Annotated[int, typer.Option("--page", "-p", metavar="P", min=1, help="Page number.")] = 1,
    topic: TopicOpt = None,
    provider: ProviderOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    published: PublishedOpt = None,
    sort: Annotated[
        Sort, typer.Option("--sort", metavar="relevance|newest|oldest|quality", help="Order of hits.")
    ] = Sort.relevance,
    boost: Annotated[
        list[str] | None,
        typer.Option(
            "--boost",
            metavar="recency[:HALF_LIFE]|quality[:WEIGHT]",
            help="Multiply relevance by freshness (half-life, default 30d) or quality (weight, default 1).",
        ),
    ] = None,
    collapse: Annotated[
        bool,
        typer.Option(
            "--collapse/--no-collapse", help="Show copies of one story (same URL, or title and provider) once."
        ),
    ] = True,
    explain: Annotated[bool, typer.Option("--explain", help="Show the parsed query and each score's parts.")] = False,
    feedback: Annotated[
        bool, typer.Option("--feedback/--no-feedback", help="Re-rank with terms from the top hits (slower, better).")
    ] = True,
    raw: Annotated[bool, typer.Option("--raw", help="Read TEXT as Whoosh query language.")] = False,
    time_limit: Annotated[
        float,
        typer.Option(
            "--time-limit", metavar="SECONDS", envvar=settings.TIME_LIMIT.env, min=0, help=settings.TIME_LIMIT.help
        ),
    ] = float(str(settings.TIME_LIMIT.default)),
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Search the index."""
    from search.api import open_index

    with open_index(index, backend=backend) as ix:
        result = ix.search(
            " ".join(text),
            topics=topic or (),
            providers=provider or (),
            since=since,
            until=until,
            published=published,
            sort=sort.value,
            limit=limit,
            page=page,
            raw=raw,
            boost=boost or (),
            collapse=collapse,
            explain=explain,
            feedback=feedback,
            time_limit=time_limit,
        )
    if as_json:
        print_json(result.to_dict())
    else:
        render_page(result)
    if result.timed_out:
        err.print(
            f"[yellow]warning[/] the query ran out of its {time_limit:g}s time limit (--time-limit);"
            " the results are those found by then"
        )


@app.command("show")
def show_cmd(
    ident: Annotated[str, typer.Argument(metavar="ID", help="A document id (from `search query`) or a record path.")],
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)),
    backend: BackendOpt = None,
) -> None:
    """Print a stored record as JSON, with its related stubs (never `secured`)."""
    from search.api import open_index

    with open_index(index, backend=backend) as ix:
        document = ix.get(ident)
    print_json(document.to_dict())


@app.command("similar")
def similar_cmd(
    ident: Annotated[str, typer.Argument(metavar="ID", help="A document id (from `search query`) or a record path.")],
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)),
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=bounds.MAX_LIMIT, help="Similar articles.")
    ] = 10,
    collapse: Annotated[bool, typer.Option("--collapse/--no-collapse", help="Show copies of one story once.")] = True,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Articles like this one: its related stubs (resolved where indexed), then more like it."""
    from search.api import open_index

    with open_index(index, backend=backend) as ix:
        page = ix.similar(ident, limit=limit, collapse=collapse)
    if as_json:
        print_json(page.to_dict())
        return
    out.print(f"Like [bold]{show(page.title)}[/] [dim]{show(page.id)}[/]")
    if page.related:
        out.print("Related (from the record):")
        render_hits(page.related, scores=False)
    if page.hits:
        out.print("More like it:")
        render_hits(page.hits)
    else:
        out.print("No similar articles.")


@app.command("suggest")
def suggest_cmd(
    prefix: Annotated[str, typer.Argument(metavar="PREFIX", help="The start of a title word, topic or provider.")],
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)),
    limit: Annotated[
        int, typer.Option("--limit", "-n", metavar="N", min=1, max=bounds.MAX_SUGGESTIONS, help="Suggestions.")
    ] = 10,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Complete a prefix from the index's titles, topics and providers."""
    from search.api import open_index

    with open_index(index, backend=backend) as ix:
        suggestions = ix.suggest(prefix, limit=limit)
    if as_json:
        print_json([s.to_dict() for s in suggestions])
        return
    if not suggestions:
        out.print(f"No suggestions for {show(repr(prefix))}.")
    for suggestion in suggestions:
        count = f"  [dim]{suggestion.count}[/]" if suggestion.kind != "title" else f"  [dim]{suggestion.id}[/]"
        out.print(f"{suggestion.kind:<8} {show(suggestion.text)}{count}")


@app.command("stats")
def stats_cmd(
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)), as_json: JsonOpt = False, backend: BackendOpt = None
) -> None:
    """What the index holds."""
    from search.api import open_index

    with open_index(index, backend=backend) as ix:
        stats = ix.stats()
    if as_json:
        print_json(stats.to_dict())
        return
    updated = stats.updated.strftime("%Y-%m-%d %H:%M:%S UTC") if stats.updated else "never"
    out.print(
        f"{stats.documents} documents ({stats.articles} articles, {stats.related} related stubs) in {show(str(stats.index_dir))}\n"
        f"size on disk: {stats.size_bytes / 1e6:.1f} MB; last updated {updated}; schema v{stats.schema_version},"
        f" Whoosh {stats.whoosh_version}"
    )
    for name, counts in (("Top topics", stats.topics), ("Top providers", stats.providers)):
        if counts:
            out.print(f"{name}: " + ", ".join(f"{show(k)} {v}" for k, v in list(counts.items())[:10]))


@app.command("check")
def check_cmd(
    paths: Annotated[
        # str, not Path, as PathsArg: an empty root is check_index's UsageError, not ".".
        list[str] | None, typer.Argument(help="Also report record files under these roots that are not indexed.")
    ] = None,
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)),
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Verify the index's files and that it matches the record files; exit 1 if not."""
    from search.indexing.check import check_index

    if backend:
        raise UsageError(
            "`search check` verifies an index folder's files; it does not run with --backend",
            option="--backend",
            hint="On a cluster, `search index PATHS --backend URL` compares the files with what the cluster holds"
            " and sends the difference; `search cluster status --dir DIR` shows the shards.",
        )

    report = check_index(index, [str(p) for p in paths or []])
    if as_json:
        print_json(report.to_dict())
    else:
        for problem in report.problems:
            where = f"{show(problem.path)}: " if problem.path else ""
            out.print(f"[red]{problem.kind}[/] {where}{show(problem.detail)}")
        verdict = "OK" if report.ok else f"{len(report.problems)} problems"
        out.print(f"{verdict}: {report.documents} documents, {report.records_checked} record files checked")
        if report.advice:
            err.print(f"Hint: {show(report.advice)}")
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


@app.command("watch")
def watch_cmd(
    paths: PathsArg = None,
    every: Annotated[
        str, typer.Option("--every", metavar="INTERVAL", help="Interval between runs: 30s, 10m, 1h.")
    ] = "10m",
    index: IndexOpt = Path(str(settings.INDEX_DIR.default)),
    wait: WaitOpt = 0.0,
    follow_symlinks: FollowOpt = False,
    max_file_size: MaxSizeOpt = int(str(settings.MAX_FILE_SIZE.default)),
    allow_empty: AllowEmptyOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Reindex on a schedule in the foreground, until SIGINT or SIGTERM."""
    from search.records import Limits
    from search.indexing.watch import parse_interval, watch

    interval = parse_interval(every)
    _configure_logging(True)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger("search.indexing.watch").info("%s received: stopping after this run", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    roots = [str(p) for p in (paths or ["seeds"])]
    watch(
        roots,
        index,
        every=interval,
        stop=stop,
        wait=wait,
        limits=Limits(max_file_bytes=max_file_size),
        follow_symlinks=follow_symlinks,
        allow_empty=allow_empty,
        backend=backend,
    )


app.command("serve")(serve_cmd)


def main() -> None:
    # At exit the interpreter's last garbage collections walk every object the
    # imports made (Whoosh, Rich, Typer): 26 -> 7.5 ms of a cold query's CPU,
    # medians of 12, when they are frozen first.  Only collection is skipped:
    # the exit still flushes the streams, runs logging.shutdown and tears the
    # modules down; a command's files are closed and committed before it returns.
    atexit.register(gc.freeze)
    _app_for(sys.argv[1:])()


def _app_for(args: list[str]) -> typer.Typer:
    """`app` with only the command that `args` name, when they name one.

    Typer reads the signature of every command each time it builds the command
    line (about 1 ms a command); a cold `search query` needs one of them.  Help,
    no command and a misspelt one get the whole `app`, so the list of commands
    and the suggestions are the same.  Only `--verbose`/`-v`, a flag, comes
    before a command name."""
    name = next((arg for arg in args if not arg.startswith("-")), None)
    commands = [info for info in app.registered_commands if _command_name(info) == name]
    groups = [info for info in app.registered_groups if info.name == name]
    if not commands and not groups:
        return app
    one = _typer()
    one.registered_callback = app.registered_callback
    one.registered_commands = commands
    one.registered_groups = groups
    return one


def _command_name(info: CommandInfo) -> str | None:
    return info.name or (typer.main.get_command_name(info.callback.__name__) if info.callback else None)


# Command groups in their own modules (imported last: they use the options above).
from search.cli.alerts import alert_app  # noqa: E402

app.add_typer(alert_app, name="alert")
