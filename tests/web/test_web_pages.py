"""The HTML pages through the test client: escaping, links, facets, paging, highlighting.

The browser tests (test_web_browser.py) show that nothing runs; these check
the markup itself, fast, over every page the hostile records appear on.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import escape

from search.web.pages import Links, highlight, safe_url
from search.web.params import SearchParams


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def hostile_pages(client: TestClient) -> list[str]:
    page = client.get("/?q=zyxwv&limit=20")
    assert page.status_code == 200
    hits = client.get("/api/search?q=zyxwv&limit=20&collapse=false").json()["hits"]
    assert len(hits) >= 5
    pages = [page.text]
    for hit in hits:
        pages.append(client.get(f"/articles/{hit['id']}").text)
        if hit["kind"] == "article":
            pages.append(client.get(f"/similar/{hit['id']}").text)
    for topic in client.get("/api/search?q=zyxwv").json()["facets"]["topics"]:
        pages.append(client.get("/", params={"q": "zyxwv", "topic": topic}).text)
    return pages


def test_record_markup_is_text_on_every_page(client: TestClient) -> None:
    for html in hostile_pages(client):
        for tag, attrs in tags(html):
            assert tag not in ("iframe", "img", "svg", "object", "embed", "base"), (tag, attrs)
            assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
            if tag == "script":
                assert attrs.get("src") == "/static/suggest.js", attrs
            href = attrs.get("href")
            if href is not None:
                assert href.startswith("/") or urlsplit(href).scheme in ("http", "https"), href
                assert "javascript" not in href.lower() and not href.lower().startswith("data:")
    first = hostile_pages(client)[0]
    assert "&lt;script&gt;window.__pwned=&#39;title&#39;" in first
    assert "&lt;img src=x onerror=window.__pwned=&#39;provider&#39;&gt;Evil Corp" in first
    assert "<script>window" not in first


def test_a_quoted_url_stays_inside_its_attribute(client: TestClient) -> None:
    html = client.get("/?q=zyxwv+third").text
    links = [a["href"] for tag, a in tags(html) if tag == "a" and a.get("href", "").startswith("https://news.example")]
    assert links == ["https://news.example/a?x=\"><script>window.__pwned='url'</script>"]  # one attribute, unbroken


def test_bidi_and_zero_width_characters_are_shown_not_obeyed(client: TestClient) -> None:
    html = client.get("/?q=zyxwv+invoice").text
    assert "invoice \\u202eexe.fdp" in html and "zero\\u200bwidth" in html and "Bidi \\u2066News\\u2069" in html
    assert "\u202e" not in html and "\u200b" not in html
    body = client.get("/api/search?q=zyxwv+invoice").content.decode("utf-8")
    assert "\\u202e" in body  # the JSON keeps it as data, written as an escape


def test_facet_links_add_a_filter_and_remove_it(client: TestClient) -> None:
    html = client.get("/?q=recognition").text
    adds = [a["href"] for tag, a in tags(html) if tag == "a" and "topic=" in (a.get("href") or "")]
    privacy = next(h for h in adds if "topic=Privacy" in h)
    assert parse_qs(urlsplit(privacy).query) == {"q": ["recognition"], "topic": ["Privacy"]}
    filtered = client.get(privacy).text
    assert 'class="remove"' in filtered and "topic: Privacy" in filtered
    removes = [a["href"] for tag, a in tags(filtered) if tag == "a" and "remove" in (a.get("class") or "")]
    assert removes == ["/?q=recognition"]
    total = client.get("/api/search?q=recognition").json()["total"]
    assert client.get("/api/search?q=recognition&topic=Privacy").json()["total"] < total


def test_paging_and_did_you_mean_are_links(client: TestClient) -> None:
    html = client.get("/?q=recognition&limit=2").text
    nexts = [a["href"] for tag, a in tags(html) if tag == "a" and a.get("rel") == "next"]
    assert nexts == ["/?q=recognition&page=2&limit=2"]
    assert 'aria-current="page">2<' in client.get(nexts[0]).text
    wrong = client.get("/?q=recogniton").text
    suggestion = [a["href"] for tag, a in tags(wrong) if tag == "a" and a.get("id") == "didyoumean"]
    assert suggestion == ["/?q=recognition"]


def test_bad_page_parameters_answer_an_html_error(client: TestClient) -> None:
    response = client.get("/?q=x&page=0")
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")
    assert "page" in response.text and "Traceback" not in response.text
    missing = client.get("/articles/0123456789abcdef")
    assert missing.status_code == 404 and "no document with id" in missing.text


def test_links_keep_the_other_parameters() -> None:
    links = Links(SearchParams(q="oil", topic=("Energy",), sort="newest", page=3))
    assert links.add("provider", "Reuters") == "/?q=oil&topic=Energy&provider=Reuters&sort=newest"
    assert links.remove("topic", "energy") == "/?q=oil&sort=newest"
    assert links.add("topic", "ENERGY") == "/?q=oil&topic=Energy&sort=newest"  # already on: not twice
    assert links.page(4) == "/?q=oil&topic=Energy&sort=newest&page=4"
    assert links.year("2020") == "/?q=oil&topic=Energy&since=2020&until=2020&sort=newest"
    assert links.query("oils") == "/?q=oils&topic=Energy&sort=newest"


def test_highlight_marks_only_the_librarys_em() -> None:
    assert highlight("a &lt;b&gt; <em>oil</em> &amp; gas") == "a &lt;b&gt; <mark>oil</mark> &amp; gas"
    assert highlight("<em>x</em><script>y</script><em>") == "<mark>x</mark>&lt;script&gt;y&lt;/script&gt;<mark></mark>"


@given(st.text())
def test_highlight_leaves_no_tag_but_mark(text: str) -> None:
    for snippet in (text, str(escape(text)), f"<em>{text}</em>", text.replace("x", "<em>").replace("y", "</em>")):
        out = str(highlight(snippet))
        assert "<" not in out.replace("<mark>", "").replace("</mark>", "")


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.com/a?b=c", True),
        ("HTTP://EXAMPLE.COM/", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("data:text/html,<script>x</script>", False),
        ("vbscript:x", False),
        ("//evil.example/x", False),
        ("/relative", False),
        ("https:evil", False),
        ("https://exa\u0085mple.com", False),
        ("", False),
        (None, False),
    ],
)
def test_safe_url_keeps_absolute_http_links_only(url: str | None, kept: bool) -> None:
    assert safe_url(url) == (url if kept else None)


@given(st.text())
def test_safe_url_never_passes_another_scheme(text: str) -> None:
    out = safe_url(text)
    assert out is None or (out == text and urlsplit(out).scheme.lower() in ("http", "https"))
