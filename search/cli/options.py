"""The options several `search` commands share, declared once: flag, metavar,
environment variable and help (from search.settings)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from search import settings

class Sort(str, Enum):
    relevance = "relevance"
    newest = "newest"
    oldest = "oldest"
    quality = "quality"


IndexOpt = Annotated[
    Path,
    typer.Option(
        "--index", metavar="DIR", envvar=settings.INDEX_DIR.env, help=settings.INDEX_DIR.help, show_default=True
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
PathsArg = Annotated[
    # str, not Path: Path("") is ".", and `search index "$RECORDS"` with RECORDS unset
    # must reach normalise_roots as "" (a UsageError), not as the current folder.
    list[str] | None,
    typer.Argument(metavar="PATH", help="Record files or folders [default: seeds].", show_default=False),
]
WaitOpt = Annotated[
    float, typer.Option("--wait", metavar="SECONDS", envvar=settings.WAIT.env, min=0, help=settings.WAIT.help)
]
MaxSizeOpt = Annotated[
    int,
    typer.Option(
        "--max-file-size", metavar="BYTES", envvar=settings.MAX_FILE_SIZE.env, min=1, help=settings.MAX_FILE_SIZE.help
    ),
]
FollowOpt = Annotated[bool, typer.Option("--follow-symlinks", help="Index what symbolic links point to.")]
BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", metavar="URL", envvar=settings.BACKEND.env, help=settings.BACKEND.help),
]
AllowEmptyOpt = Annotated[
    bool,
    typer.Option(
        "--allow-empty",
        help="Delete the records of roots that yield no files and folders that cannot be read"
        " (kept by default, exit 5: an unmounted disk looks empty).",
    ),
]
ProcsOpt = Annotated[
    int, typer.Option("--procs", metavar="N", envvar=settings.PROCS.env, min=0, help=settings.PROCS.help)
]


# The filters `search query` and `search alert add` share.
TopicOpt = Annotated[list[str] | None, typer.Option("--topic", metavar="TOPIC", help="Only these topics (any).")]
ProviderOpt = Annotated[
    list[str] | None,
    typer.Option("--provider", metavar="PROVIDER", help="Only these providers, by name or domain (any)."),
]
SinceOpt = Annotated[str | None, typer.Option("--since", metavar="DATE", help="Published on or after (ISO 8601).")]
UntilOpt = Annotated[str | None, typer.Option("--until", metavar="DATE", help="Published on or before (ISO 8601).")]
PublishedOpt = Annotated[
    bool | None, typer.Option("--published/--unpublished", help="Only records with this published flag.")
]
