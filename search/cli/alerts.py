"""`search alert ...`: saved searches, a thin Typer layer over search.alerts.

Each command makes one library call (search.alerts.api.Alerts) and renders
it: a table for people, JSON with ``--json``.  Errors become exit codes in
search.cli.main, like every other command's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from search import settings
from search.cli.options import BackendOpt, IndexOpt, JsonOpt, ProviderOpt, PublishedOpt, SinceOpt, TopicOpt, UntilOpt, WaitOpt
from search.cli.output import out, print_json, render_page, show

if TYPE_CHECKING:
    from search.alerts.files import Alert

alert_app: typer.Typer = typer.Typer(
    help="Saved searches: each `search index` or `search watch` run records the new articles they match.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The alert's name: letters, digits, '.', '_', '-'.")]
DEFAULT_INDEX = Path(str(settings.INDEX_DIR.default))


def _filters(alert: Alert) -> str:
    parts = []
    if alert.topics:
        parts.append("topic " + " | ".join(alert.topics))
    if alert.providers:
        parts.append("provider " + " | ".join(alert.providers))
    if alert.since:
        parts.append(f"since {alert.since}")
    if alert.until:
        parts.append(f"until {alert.until}")
    if alert.published is not None:
        parts.append("published" if alert.published else "unpublished")
    if alert.boost:
        parts.append("boost " + ", ".join(alert.boost))
    if alert.raw:
        parts.append("raw")
    return "; ".join(parts)


@alert_app.command("add")
def add_cmd(
    name: NameArg,
    text: Annotated[
        str, typer.Argument(metavar="QUERY", help='As for `search query`: words, "phrases", +required, -excluded.')
    ] = "",
    index: IndexOpt = DEFAULT_INDEX,
    topic: TopicOpt = None,
    provider: ProviderOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    published: PublishedOpt = None,
    boost: Annotated[
        list[str] | None,
        typer.Option(
            "--boost",
            metavar="recency[:HALF_LIFE]|quality[:WEIGHT]",
            help="Ranking for `alert test` (matching itself is yes or no).",
        ),
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Read QUERY as Whoosh query language.")] = False,
    exec_: Annotated[
        str | None,
        typer.Option("--exec", metavar="CMD", help="After each run, pipe the new matches (JSON lines) to CMD."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", metavar="PATH", help="After each run, append the new matches to PATH.")
    ] = None,
    wait: WaitOpt = 0.0,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Save a search; from the next reindex run on, its new matches are recorded."""
    from search.alerts.api import Alerts

    alert = Alerts(index, backend=backend).add(
        name,
        text,
        topics=topic or (),
        providers=provider or (),
        since=since,
        until=until,
        published=published,
        boost=boost or (),
        raw=raw,
        exec=exec_,
        file=file,
        wait=wait,
    )
    if as_json:
        print_json(alert.to_dict())
        return
    filters = _filters(alert)
    out.print(
        f"Saved alert [bold]{show(alert.name)}[/]: {show(repr(alert.query))}"
        + (f" ({show(filters)})" if filters else "")
    )
    out.print("Each `search index` or `search watch` run now records the new articles it matches.")


@alert_app.command("list")
def list_cmd(index: IndexOpt = DEFAULT_INDEX, as_json: JsonOpt = False, backend: BackendOpt = None) -> None:
    """The saved searches, with their match counts."""
    from search.alerts.api import Alerts

    summaries = Alerts(index, backend=backend).list()
    if as_json:
        print_json({"alerts": [s.to_dict() for s in summaries]})
        return
    if not summaries:
        out.print("No alerts. Save one with `search alert add NAME QUERY`.")
        return
    table = Table()
    for column in ("Name", "Query", "Filters", "Matches", "Last cursor", "Delivery"):
        table.add_column(column, justify="right" if column in ("Matches", "Last cursor") else "left")
    for s in summaries:
        delivery = ", ".join(
            x
            for x in (f"exec {s.alert.exec}" if s.alert.exec else "", f"file {s.alert.file}" if s.alert.file else "")
            if x
        )
        table.add_row(
            show(s.alert.name),
            show(s.alert.query),
            show(_filters(s.alert)),
            str(s.matches),
            str(s.last_cursor),
            show(delivery),
        )
    out.print(table)


@alert_app.command("show")
def show_cmd(
    name: NameArg,
    index: IndexOpt = DEFAULT_INDEX,
    since: Annotated[int, typer.Option("--since", metavar="CURSOR", min=0, help="Only matches after this cursor.")] = 0,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, max=1000, help="Matches at most.")] = 100,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """An alert's matches, oldest first; poll with --since NEXT_CURSOR."""
    from search.alerts.api import Alerts

    page = Alerts(index, backend=backend).show(name, since=since, limit=limit)
    if as_json:
        print_json(page.to_dict())
        return
    filters = _filters(page.alert)
    out.print(
        f"Alert [bold]{show(page.alert.name)}[/]: {show(repr(page.alert.query))}"
        + (f" ({show(filters)})" if filters else "")
    )
    if not page.matches:
        out.print(f"No matches after cursor {since}.")
        return
    table = Table()
    for column in ("Cursor", "Matched", "Article", "Published"):
        table.add_column(column, justify="right" if column == "Cursor" else "left")
    for m in page.matches:
        table.add_row(
            str(m.cursor),
            m.matched_at,
            f"[bold]{show(m.title)}[/]\n[dim]{show(m.id)}  {show(m.url or m.path)}[/]",
            (m.published or "")[:10],
        )
    out.print(table)
    out.print(f"Next: search alert show {show(page.alert.name)} --since {page.next_cursor}")


@alert_app.command("rm")
def rm_cmd(
    name: NameArg,
    index: IndexOpt = DEFAULT_INDEX,
    wait: WaitOpt = 0.0,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Delete an alert and its matches."""
    from search.alerts.api import Alerts

    alert = Alerts(index, backend=backend).remove(name, wait=wait)
    if as_json:
        print_json({"removed": alert.to_dict()})
    else:
        out.print(f"Removed alert [bold]{show(alert.name)}[/] and its matches.")


@alert_app.command("test")
def test_cmd(
    name: NameArg,
    index: IndexOpt = DEFAULT_INDEX,
    limit: Annotated[int, typer.Option("--limit", "-n", metavar="N", min=1, max=1000, help="Hits per page.")] = 10,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
) -> None:
    """Run an alert over the whole index now, as `search query` would; records and delivers nothing."""
    from search.alerts.api import Alerts

    result = Alerts(index, backend=backend).test(name, limit=limit)
    if as_json:
        print_json(result.to_dict())
    else:
        render_page(result)
