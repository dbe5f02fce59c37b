"""More like this: the articles most like one article, and its own related
stubs resolved to the indexed articles they point at.

An article's "like" query is its most distinctive terms (title twice, as the
index weighs it, excerpt and body, by tf x idf, as pseudo-relevance feedback
picks them), each weighted by its score: Lucene's MoreLikeThis in one
paragraph.  As there, a term no other document has (min_doc_freq) cannot
find anything like it, and is passed over.  The article itself, its
copies (search.backends.collapse) and its own stubs are left out; so are the related
articles, which are listed first, from the record itself.
"""

from __future__ import annotations

from functools import partial

from whoosh import query

from search.backends import engine
from search.planning import ranking
from search.backends.explain import Parts
from search.backends.query import SearchContext, articles_with_url, document_terms, make_hit, rank_page
from search.planning.request import SearchRequest
from search.results import Hit, SimilarPage
from search.storage.schema import TEXT_FIELD, analyse_text

#: Terms of the article that make its "like" query.
SIMILAR_TERMS = 25


def find_similar(context: SearchContext, docnum: int, limit: int = 10, collapse: bool = True) -> SimilarPage:
    """Articles like the document `docnum` (see the module docstring)."""
    searcher = context.searcher
    fields = context.stored_fields(docnum)
    ident = fields["id"]
    related, resolved = _related(context, ident)
    terms_of = document_terms(fields, context.record(docnum, fields)) + [t for t, _ in analyse_text(fields.get("title") or "")]
    like = ranking.feedback_terms(searcher, TEXT_FIELD, [terms_of], exclude=set(), count=SIMILAR_TERMS, min_df=2)
    terms = [query.Term(TEXT_FIELD, term, boost=weight) for term, weight in like.items()]
    hits: tuple[Hit, ...] = ()
    if terms:
        fast = context.engine()
        fast.start()
        scores = fast.evaluate(query.Or(terms))
        own = set(searcher.docs_for_query(query.Term("parent", ident)))
        matched = scores.keys() - context.hidden - own - resolved
        copies = set(context.dup_keys().among(matched | {docnum}).copies(docnum))
        matched -= copies | {docnum}
        scores = {d: scores[d] for d in matched}
        request = SearchRequest(limit=limit, facets=False, collapse=collapse, suggest=False)
        parts: Parts = [("similar", term) for term in terms]

        def top(n: int) -> list[tuple[int, float]]:
            return engine.rank(scores, n)

        hits = rank_page(context, request, top, parts, matched, frozenset(like)).hits
        context.release()
    return SimilarPage(id=ident, title=fields.get("title") or "", related=related, hits=hits)


def _related(context: SearchContext, ident: str) -> tuple[tuple[Hit, ...], set[int]]:
    """The document's related stubs in record order, each replaced by the
    live article with its webUrl where one is indexed; and those articles' docnums."""
    searcher = context.searcher
    stubs = sorted(
        ((docnum, context.stored_fields(docnum)) for docnum in searcher.document_numbers(parent=ident)),
        key=lambda stub: int(stub[1]["id"].rsplit("-r", 1)[1]),
    )
    hits: list[Hit] = []
    resolved: set[int] = set()
    for stub_docnum, stub in stubs:
        article = None
        if stub.get("url"):
            found = articles_with_url(searcher, stub["url"])
            if found:
                article = found[0]
        if article is not None:
            resolved.add(article)
            fields = context.stored_fields(article)
            hits.append(make_hit(fields, partial(context.body, article, fields), 0.0, frozenset()))
        else:
            hits.append(make_hit(stub, partial(context.body, stub_docnum, stub), 0.0, frozenset()))
    return tuple(hits), resolved
