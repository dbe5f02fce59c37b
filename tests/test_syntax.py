"""search.planning.syntax: how safe-mode text is read, and the Whoosh query built from it (pure functions)."""

from __future__ import annotations

import pytest

from search.storage.schema import build_schema
from search.planning.syntax import MAX_TERMS, build_safe_query, read_user_text


def clauses(text: str) -> list[list[tuple[str, bool, bool]]]:
    return [[(c.text, c.phrase, c.negated) for c in group] for group in read_user_text(text)]


@pytest.mark.parametrize(
    ("text", "required"),
    [
        ("+storm", [True]),
        ("storm", [False]),
        ("+storm grid", [True, False]),
        ('+"solar storm" grid', [True, False]),
        ("-+storm", [False]),  # negated wins
        ("+", [False]),  # a lone plus is a word, not an operator
        ("a OR +b", [False, True]),  # a required word is not OR-joined
    ],
)
def test_plus_marks_a_clause_required(text: str, required: list[bool]) -> None:
    assert [c.required for group in read_user_text(text) for c in group] == required


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("solar storm", [[("solar", False, False)], [("storm", False, False)]]),
        ('"solar storm"', [[("solar storm", True, False)]]),
        ("“solar storm”", [[("solar storm", True, False)]]),
        ('"solar storm', [[("solar storm", True, False)]]),  # an unclosed quote runs to the end
        ("-storm", [[("storm", False, True)]]),
        ('-"solar storm"', [[("solar storm", True, True)]]),
        ("NOT storm", [[("storm", False, True)]]),
        ('NOT "solar storm"', [[("solar storm", True, True)]]),
        ("+storm", [[("storm", False, False)]]),
        ("solar OR storm grid", [[("solar", False, False), ("storm", False, False)], [("grid", False, False)]]),
        ('"solar storm" OR grid', [[("solar storm", True, False), ("grid", False, False)]]),
        ("OR storm", [[("storm", False, False)]]),  # nothing to join on the left
        ("storm OR", [[("storm", False, False)]]),
        ("storm AND grid", [[("storm", False, False)], [("grid", False, False)]]),
        ("solar OR -storm", [[("solar", False, False)], [("storm", False, True)]]),  # OR never joins a NOT
        ("solar\x00storm\x1b", [[("solar", False, False)], [("storm", False, False)]]),
        ("", []),
        ("AND OR", []),
    ],
)
def test_read_user_text(text: str, expected: list[list[tuple[str, bool, bool]]]) -> None:
    assert clauses(text) == expected


def test_build_safe_query_drops_stop_words_and_caps_terms() -> None:
    schema = build_schema()
    assert build_safe_query(schema, "the of and").empty
    built = build_safe_query(schema, " ".join(f"word{i}" for i in range(1_000)))
    assert len(built.words) == MAX_TERMS
    assert built.words[0] == "word0"  # the first terms are the ones kept
    excluded = build_safe_query(schema, "storm -grid")
    assert len(excluded.positive) == 1 and len(excluded.negative) == 1 and excluded.words == ["storm"]
