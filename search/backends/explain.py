"""--explain: a hit's score taken apart into the parts that make it.

The scored query is a sum (Whoosh scores And, Or and AndMaybe as the sum of
their matching children), so each leaf (a term or a phrase) is scored alone
on the hit's document, and the parts add up to the relevance score; the
--boost factors then multiply it (ranking.Boosted).  Leaves on the full-text
field are scored by search.backends.engine for that one document (a few posting
blocks); any other leaf (a raw query's title: or wildcard) by a Whoosh
search filtered to the document, which walks the leaf's whole posting list
(milliseconds each on Reuters).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from whoosh import query

from search.planning.ranking import Factors
from search.results import Explanation

if TYPE_CHECKING:  # the engine (and numpy) load only when a search uses it
    from search.backends.engine import Engine

#: A scored query's leaves with their role: "match", "proximity", "feedback", "similar".
Parts = list[tuple[str, query.Query]]


def describe(q: query.Query) -> str:
    """A leaf as the index sees it: a stemmed term, or a phrase (with its slop)."""
    if isinstance(q, query.Term):
        text = q.text.decode("utf-8") if isinstance(q.text, bytes) else str(q.text)
        weight = f" (weight {q.boost:.3g})" if q.boost != 1 else ""
        return f"{text}{weight}"
    if isinstance(q, query.Phrase):
        slop = f"~{q.slop}" if q.slop > 1 else ""
        return f'"{" ".join(str(w) for w in q.words)}"{slop}'
    return str(q)


def leaves(q: query.Query) -> list[query.Query]:
    """The leaves of the compound queries a score is the sum over."""
    if isinstance(q, (query.And, query.Or)):
        return [leaf for sub in q.subqueries for leaf in leaves(sub)]
    if isinstance(q, query.AndMaybe):
        return leaves(q.a) + leaves(q.b)
    return [q]


def _score(searcher: Any, q: query.Query, docnum: int, fast: Engine | None) -> float:
    if fast is not None:
        from search.backends.engine import Unsupported

        try:
            return float(fast.restricted(q, {docnum}).get(docnum, 0.0))
        except Unsupported:
            pass
    found = searcher.search(q, limit=1, filter={docnum})
    return float(found[0].score) if found.scored_length() else 0.0


def explain_hit(
    searcher: Any, parts: Parts, docnum: int, factors: Factors | None, fast: Engine | None = None
) -> Explanation:
    """Score `docnum` part by part (plain BM25, no factors), by `fast` where it can."""
    scored = [(describe(leaf), role, _score(searcher, leaf, docnum, fast)) for role, leaf in parts]
    total = sum(score for _, _, score in scored)
    multipliers = factors.explain(docnum) if factors else []
    for _, factor in multipliers:
        total *= factor
    return Explanation(
        score=total,
        parts=tuple(part for part in scored if part[2]),
        factors=tuple(multipliers),
    )
