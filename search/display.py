"""How untrusted text leaves the program: visible escapes for terminals, safe JSON.

Record files, their names and their contents are data, never commands.  A
title, a provider or a file name may hold characters that a terminal obeys
instead of showing (ESC starts a sequence that can set the window title or
clear the screen; the C1 byte U+009B is a one-character CSI) or that make
text read other than it is (U+202E reverses what follows: ``Invoice
\u202eexe.fdp`` shows as ``Invoice pdf.exe``; zero-width characters hide in
a name).  Every renderer passes text through one of these two functions:

* ``visible(text)`` for a terminal: every control (C0, DEL, C1), format
  character (bidi embeddings, overrides and isolates, zero-width characters,
  the BOM, soft hyphen...), line or paragraph separator and lone surrogate
  becomes a visible escape (``\\x1b``, ``\\u202e``); a byte of a file name
  that is not UTF-8 (read as a surrogate escape) shows as that byte,
  ``\\xff``.  Everything else, including non-breaking spaces, accents and
  emoji, is shown as it is.
* ``to_json(value)`` for programs: every character is kept as data, but C0,
  DEL, C1, bidi controls, U+2028/U+2029 and lone surrogates are written as
  ``\\uXXXX`` escapes, so that the JSON is valid UTF-8 and `cat` of it is
  harmless; any JSON reader gets the original characters back.

Pure Python, no Rich or Typer: the CLI, the web app and library users share it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

__all__ = ["to_json", "visible"]

#: Categories shown escaped on a terminal: controls, format characters
#: (bidi, zero-width, BOM), line/paragraph separators, surrogates.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    short = _SHORT.get(ch)
    if short is not None:
        return short
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogate escape of a non-UTF-8 byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str) -> str:
    """`text` with every character a terminal would obey or hide shown as an escape."""
    if text.isprintable():  # the common case: one C-speed scan
        return text
    return "".join(
        _escape_char(ch) if ch != " " and unicodedata.category(ch) in _HIDDEN else ch for ch in text
    )


# What json.dumps(ensure_ascii=False) leaves raw but a terminal or a UTF-8 encoder would not
# take: DEL and C1, the bidi controls (LRM, RLM, ALM, embeddings/overrides, isolates), the
# JavaScript line terminators and lone surrogates.  C0 is escaped by json itself.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def _json_escape(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """`value` as JSON text: characters as data, controls and bidi controls as \\uXXXX."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(_json_escape, text)
