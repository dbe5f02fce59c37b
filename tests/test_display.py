"""search.display: what reaches a terminal or a JSON reader from untrusted text."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from search.display import to_json, visible

HOSTILE = [
    "x\x1b]2;PWNED\x1b\\y.md",  # OSC: sets the terminal's title
    "z\x1b[2J\x1b[3J\x1b[Hq.md",  # clears the screen
    "c1\x9b31m",  # C1 CSI, one character
    "Invoice \u202eexe.fdp",  # right-to-left override
    "a\u2066b\u2069c\u200bd\u200ce\u200df\u2060g\ufeffh\u200ei\u200fj\u061ck",
    "line\nbreak\ttab\rcr\x7fdel\u2028ls\u2029ps",
]


def test_every_hostile_character_becomes_a_visible_escape() -> None:
    assert visible(HOSTILE[0]) == "x\\x1b]2;PWNED\\x1b\\y.md"
    assert visible(HOSTILE[1]) == "z\\x1b[2J\\x1b[3J\\x1b[Hq.md"
    assert visible(HOSTILE[2]) == "c1\\x9b31m"
    assert visible(HOSTILE[3]) == "Invoice \\u202eexe.fdp"
    assert visible(HOSTILE[4]) == (
        "a\\u2066b\\u2069c\\u200bd\\u200ce\\u200df\\u2060g\\ufeffh\\u200ei\\u200fj\\u061ck"
    )
    assert visible(HOSTILE[5]) == "line\\nbreak\\ttab\\rcr\\x7fdel\\u2028ls\\u2029ps"


def test_a_file_name_byte_that_is_not_utf8_shows_as_that_byte() -> None:
    name = b"lat\xff\xfe.md".decode("utf-8", "surrogateescape")
    assert visible(name) == "lat\\xff\\xfe.md"


def test_ordinary_text_is_left_alone() -> None:
    for text in ["Café naïve", "東京 ニュース", "Nov.\xa05", "emoji \U0001f600", "", "a b"]:
        assert visible(text) == text


@given(st.text())
def test_visible_output_holds_nothing_a_terminal_obeys_or_hides(text: str) -> None:
    shown = visible(text)
    assert all(unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp", "Cs"} for ch in shown)


@given(st.text())
def test_json_keeps_every_character_as_data(text: str) -> None:
    assert json.loads(to_json({"k": text, text: [text]})) == {"k": text, text: [text]}


@given(st.text())
def test_json_output_holds_no_raw_control_bidi_or_surrogate(text: str) -> None:
    out = to_json({"title": text})
    out.encode("utf-8")  # no lone surrogate: the output is valid UTF-8
    for ch in out:
        code = ord(ch)
        assert ch == "\n" or ch == " " or not (code < 0x20 or 0x7F <= code <= 0x9F), repr(ch)
        assert ch not in "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_json_escapes_c1_and_bidi_as_u_escapes() -> None:
    assert to_json("c1\x9b \u202e \x1b", indent=None) == '"c1\\u009b \\u202e \\u001b"'
    assert to_json(b"\xff".decode("utf-8", "surrogateescape"), indent=None) == '"\\udcff"'
