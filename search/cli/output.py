"""What the `search` command prints: the two consoles, the one escaper for
untrusted text on the terminal, JSON on standard output, and a result page
as a Rich table.  Only the CLI prints (the library logs)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from search.display import to_json, visible

if TYPE_CHECKING:
    from search.results import Explanation, Hit, ResultPage

__all__ = ["err", "out", "print_json", "render_hits", "render_page", "show", "what_filters_leave"]

# emoji=False: Rich reads ":name:" as an emoji code, and show() escapes markup,
# not codes, so a title "Cocoa :warning: 3:b:1" printed as "Cocoa ⚠ 3🅱1"; without
# the codes a cold query also skips Rich's emoji table (3 ms of CPU, of 0.2 s).
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def show(text: str) -> str:
    """Untrusted text (a title, a file name, a message quoting one) for Rich:
    controls and invisible characters as visible escapes, markup escaped."""
    return escape(visible(text))


def print_json(value: Any) -> None:
    sys.stdout.write(to_json(value) + "\n")


def render_hits(hits: tuple[Hit, ...], first: int = 1, scores: bool = True) -> None:
    table = Table(show_lines=True, expand=False)
    table.add_column("#", justify="right")
    table.add_column("Article")
    table.add_column("Provider")
    table.add_column("Published")
    if scores:
        table.add_column("Score", justify="right")
    for n, hit in enumerate(hits, start=first):
        title = f"[bold]{show(hit.title)}[/]"
        if hit.kind == "related":
            title += " [dim](related stub)[/]"
        if hit.duplicates:
            title += f" [dim](+{hit.duplicates} {'copy' if hit.duplicates == 1 else 'copies'})[/]"
        snippet = f"\n{html_to_rich(hit.snippet)}" if hit.snippet else ""
        cell = f"{title}{snippet}\n[dim]{show(hit.id)}  {show(hit.url or hit.path)}[/]"
        if hit.explanation:
            cell += "\n" + render_explanation(hit.explanation)
        provider = (hit.provider.name or hit.provider.domain or "") if hit.provider else ""
        date = hit.published.date().isoformat() if hit.published else ""
        table.add_row(str(n), cell, show(provider), date, *([f"{hit.score:.2f}"] if scores else []))
    out.print(table)


def render_explanation(explanation: Explanation) -> str:
    parts = " + ".join(f"{show(what)} [dim]{role}[/] {score:.2f}" for what, role, score in explanation.parts)
    factors = "".join(f" x {show(what)} {factor:.2f}" for what, factor in explanation.factors)
    return f"[cyan]= ({parts or '0'}){factors}[/]" if factors else f"[cyan]= {parts or '0'}[/]"


def html_to_rich(snippet: str) -> str:
    import html
    import re

    # Split at the highlighter's own tags first, so no text of the record can pose as one.
    rich = []
    for part in re.split(r"(</?em>)", snippet):
        rich.append("[bold yellow]" if part == "<em>" else "[/]" if part == "</em>" else show(html.unescape(part)))
    return "".join(rich)


FILTER_FLAGS = {"topics": "--topic", "providers": "--provider", "since": "--since", "until": "--until"}


def what_filters_leave(result: ResultPage) -> str:
    """'Without its filters the query has 12 results; with --topic coffee alone: none.'"""
    if not result.without_filters:
        return "The query has no results even without its filters."
    noun = "result" if result.without_filters == 1 else "results"
    parts = [f"Without its filters the query has {result.without_filters} {noun}"]
    for f in result.filter_matches:
        flag = FILTER_FLAGS.get(f.filter)
        shown = f"{flag} {f.value}" if flag else ("--published" if f.value == "true" else "--unpublished")
        parts.append(f"with {show(shown)} alone: {f.matches or 'none'}")
    return "; ".join(parts) + "."


def render_page(result: ResultPage) -> None:
    if result.parsed_query:
        out.print(f"[dim]Parsed query:[/] {show(result.parsed_query)}")
    if not result.total:
        cut = " before the time limit" if result.timed_out else ""
        out.print(f"No results for {show(repr(result.query))}{cut}.")
        if result.without_filters is not None:
            out.print(what_filters_leave(result))
        if result.suggestion:
            out.print(f"Did you mean: [bold]{show(result.suggestion)}[/]")
        return
    if result.suggestion:
        out.print(f"Did you mean: [bold]{show(result.suggestion)}[/]")
    first = (result.page - 1) * result.limit + 1
    last = first + len(result.hits) - 1
    note = " (no document has every word; showing those with most)" if result.relaxed else ""
    if result.timed_out:
        note += " (those found before the time limit)"
    if result.hits:
        shown = f"{first}-{last}"
    else:
        shown = "none"
    noun = "result" if result.total == 1 else "results"
    out.print(f"{result.total} {noun}, showing {shown} (page {result.page} of {result.pages}){note}")
    render_hits(result.hits, first)
    if result.facets and result.facets.topics:
        tops = ", ".join(f"{show(k)} {v}" for k, v in list(result.facets.topics.items())[:8])
        out.print(f"[dim]Topics:[/] {tops}")
