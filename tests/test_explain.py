"""--explain: the parsed query, and each hit's score as parts that add up to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.api import Index
from search.backends.query import PROXIMITY_MAX_WORDS


def check_adds_up(ix: Index, text: str, **options: object) -> None:
    page = ix.search(text, explain=True, **options)  # type: ignore[arg-type]
    assert page.hits, text
    for hit in page.hits:
        explanation = hit.explanation
        assert explanation is not None
        total = sum(score for _, _, score in explanation.parts)
        for _, factor in explanation.factors:
            total *= factor
        assert total == pytest.approx(hit.score, rel=1e-6), (text, hit.title, explanation)
        assert explanation.score == pytest.approx(hit.score, rel=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "facial",
        "solar storm",  # with the proximity bonus
        '"electric bus"',
        "why are central banks raising rates in scandinavia",  # a question: feedback terms
        "central bank raises interest rates in norway",  # a headline: the title match factor, no feedback
        "facial OR storm",
        "rates -norway",
    ],
)
def test_parts_add_up_to_the_score(seed_index: Index, text: str) -> None:
    check_adds_up(seed_index, text)


def test_factors_multiply_the_parts(seed_index: Index) -> None:
    check_adds_up(seed_index, "bank", boost=["recency", "quality"])
    hit = seed_index.search("bank", explain=True, boost=["recency:7d", "quality:2"]).hits[0]
    assert hit.explanation is not None
    assert [what for what, _ in hit.explanation.factors] == ["recency:7d", "quality:2"]


def test_roles_name_where_each_part_comes_from(seed_index: Index) -> None:
    hit = seed_index.search("solar storm", explain=True).hits[0]
    assert hit.explanation is not None
    roles = {(what, role) for what, role, _ in hit.explanation.parts}
    assert ("solar", "match") in roles and ("storm", "match") in roles
    assert any(role == "proximity" and what.startswith('"solar storm"') for what, role in roles)
    question = "why are central banks raising rates in scandinavia"
    assert len(question.split()) > PROXIMITY_MAX_WORDS
    hit = seed_index.search(question, explain=True).hits[0]
    assert hit.explanation is not None
    assert any(role == "feedback" for _, role, _ in hit.explanation.parts)


def test_parsed_query_only_when_asked(seed_index: Index) -> None:
    assert seed_index.search("solar storm").parsed_query is None
    assert seed_index.search("solar storm").hits[0].explanation is None
    parsed = seed_index.search("solar storm -aurora", topics="Space", explain=True).parsed_query
    assert parsed is not None
    assert "text:solar" in parsed and "text:storm" in parsed and "ANDNOT" in parsed and "topic:Space" in parsed


def test_explain_does_not_change_the_ranking(seed_index: Index) -> None:
    for text in ("facial recognition", "bank", "what is a deepfake and how does it work"):
        plain = [(h.id, round(h.score, 6)) for h in seed_index.search(text).hits]
        explained = [(h.id, round(h.score, 6)) for h in seed_index.search(text, explain=True).hits]
        assert plain == explained


def test_explanation_json_shape(seed_index: Index) -> None:
    hit = seed_index.search("solar storm", explain=True, boost="recency").hits[0].to_dict()
    explanation = hit["explanation"]
    assert set(explanation) == {"score", "parts", "factors"}
    assert set(explanation["parts"][0]) == {"what", "role", "score"}
    assert set(explanation["factors"][0]) == {"what", "factor"}
    assert Path(hit["path"]).exists()


def test_feedback_can_be_switched_off(seed_index: Index) -> None:
    question = "why are central banks raising rates in scandinavia"
    with_it = seed_index.search(question, explain=True).hits
    without = seed_index.search(question, explain=True, feedback=False).hits
    assert any(role == "feedback" for h in with_it for _, role, _ in h.explanation.parts)  # type: ignore[union-attr]
    assert not any(role == "feedback" for h in without for _, role, _ in h.explanation.parts)  # type: ignore[union-attr]
    assert {h.id for h in with_it} <= {h.id for h in seed_index.search(question, limit=100).hits}
    # Feedback re-ranks the matches; it never adds or removes one.
    assert seed_index.search(question).total == seed_index.search(question, feedback=False).total
