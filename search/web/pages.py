"""The HTML pages: search, article, similar, and Swagger UI at /docs.

Plain GET forms and links, so every page is a shareable URL and works
without JavaScript; /static/suggest.js only adds completions as you type.
Jinja2 escapes every value (autoescape on for every template), after showing
control, bidi and zero-width characters as visible escapes as the terminal
does (`shown`); links go out only to http(s) URLs, and a snippet's highlighting is rebuilt here from
escaped text: the library's <em> marks become <mark>, every other character
is escaped again, whatever the snippet held.
"""

from __future__ import annotations

import html
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from search.articles import utc_seconds
from search.display import visible
from search.results import Hit
from search.web.config import MAX_QUERY_CHARS
from search.web.params import DocId, SearchParams, search_params
from search.web.pool import IndexPool
from search.web.security import DOCS_CSP

__all__ = ["Links", "highlight", "render", "render_error", "router", "safe_url"]

router = APIRouter(include_in_schema=False)



def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL (so never javascript:, data:...), else None."""
    if not url or any(ord(c) < 0x21 or 0x7F <= ord(c) < 0xA0 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def shown(text: str) -> str:
    """`text` for the page: controls, bidi and zero-width characters and lone
    surrogates as visible escapes (as on the terminal), line breaks kept."""
    return "\n".join(visible(line) for line in text.split("\n"))


def _finalize(value: Any) -> Any:
    """Every {{ value }} of the templates passes here before it is escaped."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return shown(value)
    return value


def highlight(snippet: str) -> Markup:
    """The library's snippet (escaped text, matches in <em>) rebuilt from escaped text."""
    out: list[str] = []
    inside = False
    for part in re.split(r"(</?em>)", snippet):
        if part == "<em>":
            if not inside:
                out.append("<mark>")
            inside = True
        elif part == "</em>":
            if inside:
                out.append("</mark>")
            inside = False
        else:
            out.append(str(escape(shown(html.unescape(part)))))
    if inside:
        out.append("</mark>")
    return Markup("".join(out))


def _fold(value: str) -> str:
    return value.casefold().strip()


class Links:
    """URLs of the search page for the current parameters with one thing changed."""

    _DEFAULTS = SearchParams()

    def __init__(self, params: SearchParams) -> None:
        self.params = params

    def url(self, params: SearchParams) -> str:
        pairs: list[tuple[str, str]] = []
        for field in fields(SearchParams):
            value = getattr(params, field.name)
            if value == getattr(self._DEFAULTS, field.name) or value is None:
                continue
            if isinstance(value, tuple):
                pairs += [(field.name, item) for item in value]
            elif isinstance(value, bool):
                pairs.append((field.name, "true" if value else "false"))
            else:
                pairs.append((field.name, str(value)))
        return "/?" + urlencode(pairs) if pairs else "/"

    def has(self, name: str, value: str) -> bool:
        return _fold(value) in {_fold(v) for v in getattr(self.params, name)}

    def add(self, name: str, value: str) -> str:
        if self.has(name, value):
            return self.url(replace(self.params, page=1))
        values = (*getattr(self.params, name), value)
        return self.url(replace(self.params, **{name: values}, page=1))  # type: ignore[arg-type]

    def remove(self, name: str, value: str) -> str:
        values = tuple(v for v in getattr(self.params, name) if _fold(v) != _fold(value))
        return self.url(replace(self.params, **{name: values}, page=1))  # type: ignore[arg-type]

    def year(self, year: str) -> str:
        return self.url(replace(self.params, since=year, until=year, page=1))

    def dates_cleared(self) -> str:
        return self.url(replace(self.params, since=None, until=None, page=1))

    def page(self, number: int) -> str:
        return self.url(replace(self.params, page=number))

    def query(self, text: str) -> str:
        return self.url(replace(self.params, q=text, page=1, raw=False))


def _page_numbers(page: int, pages: int) -> list[int | None]:
    """1 ... 4 5 [6] 7 8 ... 20: None stands for a gap."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for number in shown:
        if out and number - (out[-1] or 0) > 1:
            out.append(None)
        out.append(number)
    return out


def _provider(hit: Hit) -> str:
    return (hit.provider.name or hit.provider.domain or "") if hit.provider else ""


_env = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=True,
    finalize=_finalize,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(safe_url=safe_url, provider_of=_provider, page_numbers=_page_numbers, utc_seconds=utc_seconds)
_env.filters.update(highlight=highlight)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> HTMLResponse:
    page = _env.get_template(name).render(request=request, **context)
    return HTMLResponse(page, status_code=status_code, headers=headers)


def render_error(
    request: Request, status: int, message: str, hint: str | None, headers: dict[str, str] | None = None
) -> HTMLResponse:
    q = request.query_params.get("q", "")[:MAX_QUERY_CHARS]
    context = {"status": status, "message": message, "hint": hint, "q": q}
    return render(request, "error.html", context, status_code=status, headers=headers)


def _pool(request: Request) -> IndexPool:
    pool: IndexPool = request.app.state.pool
    return pool


@router.get("/", response_class=HTMLResponse)
def search_page(request: Request, params: Annotated[SearchParams, Depends(search_params)]) -> HTMLResponse:
    with _pool(request).index() as ix:
        result = params.run(ix, request.app.state.config.time_limit)
    return render(request, "search.html", {"q": params.q, "params": params, "result": result, "links": Links(params)})


@router.get("/articles/{id}", response_class=HTMLResponse)
def article_page(request: Request, id: DocId) -> HTMLResponse:  # noqa: A002
    with _pool(request).index() as ix:
        document = ix.get(id)
    known = set(document.related_ids)
    stubs = [
        (f"{document.id}-r{n}" if f"{document.id}-r{n}" in known else None, stub)
        for n, stub in enumerate(document.record.get("related") or (), start=1)
        if isinstance(stub, dict)
    ]
    return render(request, "article.html", {"q": "", "doc": document, "record": document.record, "stubs": stubs})


@router.get("/similar/{id}", response_class=HTMLResponse)
def similar_page(request: Request, id: DocId) -> HTMLResponse:  # noqa: A002
    with _pool(request).index() as ix:
        page = ix.similar(id, limit=10)
    return render(request, "similar.html", {"q": "", "page": page})


@router.get("/docs", response_class=HTMLResponse)
def docs_page(request: Request) -> HTMLResponse:
    return render(request, "docs.html", {"q": ""}, headers={"content-security-policy": DOCS_CSP})
