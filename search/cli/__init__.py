"""The `search` command, a thin Typer door over the library.

    main      the app, its commands, and the one place errors become exit codes
    options   options several commands share, declared once
    output    the consoles, the escaper for untrusted text, tables and JSON
    alerts    the `search alert` group
    cluster   the `search cluster` group
    serve     the `search serve` command (the web door, search.web)
"""

from __future__ import annotations

__all__: list[str] = []
