"""`search cluster up|status|down`: a development cluster on this machine.

Each command makes one call into search.backends.cluster.daemons and renders it;
errors are turned into exit codes by the main CLI's group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from search.backends.cluster import daemons
from search.cli.output import out

app = typer.Typer(
    help="Start, inspect and stop a development searchd cluster on 127.0.0.1.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)

DirOpt = Annotated[
    Path, typer.Option("--dir", metavar="DIR", help="Folder for the configs, data and logs of the cluster.")
]


@app.command("up")
def up_cmd(
    directory: DirOpt,
    shards: Annotated[int, typer.Option("--shards", metavar="N", min=1, max=daemons.MAX_SHARDS, help="Shards.")] = 2,
    port_base: Annotated[
        int,
        typer.Option("--port-base", metavar="P", help="Front on P; shard I on P+1+2I (SphinxQL) and P+2+2I (agent)."),
    ] = daemons.DEFAULT_PORT_BASE,
) -> None:
    """Write the searchd configs (N real-time shards and a distributed front) and start them."""
    layout = daemons.up(directory, shards, port_base)
    out.print(f"cluster up in {layout.root}: {layout.shards} shards, front on {layout.url}")
    out.print(f"use it with: --backend {layout.url}  (or SEARCH_BACKEND={layout.url})")


@app.command("status")
def status_cmd(
    directory: DirOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Each daemon's port, pid and document count."""
    layout, found = daemons.status(directory)
    if as_json:
        value = {
            "dir": str(layout.root),
            "url": layout.url,
            "shards": [s.to_dict() for s in found if s.name != "front"],
            "front": next(s.to_dict() for s in found if s.name == "front"),
        }
        sys.stdout.write(json.dumps(value, indent=2) + "\n")
        return
    out.print(f"cluster in {layout.root}, front {layout.url}")
    for item in found:
        state = f"pid {item.pid}" if item.pid else "down"
        docs = "-" if item.documents is None else str(item.documents)
        out.print(f"{item.name:<9} port {item.port:<6} {state:<12} documents {docs}")


@app.command("down")
def down_cmd(directory: DirOpt) -> None:
    """Stop the cluster's daemons (their data stays in DIR)."""
    stopped = daemons.down(directory)
    out.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
