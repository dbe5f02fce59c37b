"""search similar: its related stubs resolved to indexed articles, then more like it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from search import build_index, open_index
from search.api import Index
from search.errors import DocumentNotFoundError, UsageError

RecordWriter = Callable[..., Path]
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seed(number: str) -> str:
    (path,) = SEEDS.glob(f"{number}[-_]*")
    return str(path)


def test_like_a_facial_recognition_story_is_facial_recognition(seed_index: Index) -> None:
    page = seed_index.similar(seed("001"), limit=5)
    assert page.title.startswith("Property groups") or "facial" in page.title.lower()
    assert len(page.hits) == 5
    for hit in page.hits:
        text = f"{hit.title} {hit.excerpt}".lower()
        assert "facial" in text or "face" in text or "biometric" in text, hit.title


def test_the_article_and_its_copies_are_not_like_themselves(seed_index: Index) -> None:
    moon = seed_index.similar(seed("016"), limit=50)
    names = {Path(h.path).name[:3] for h in moon.hits}
    assert "016" not in names and "017" not in names  # 017 is a copy (same webUrl)


def test_related_stubs_resolve_to_indexed_articles(seed_index: Index) -> None:
    page = seed_index.similar(seed("000"))
    assert [h.title for h in page.related] == [
        "Activists launch new effort to kick facial recognition out of schools",
        "WeWork wants facial recognition biometrics class action dismissed",
        "Chicago Police Launch New Facial Recognition Technology, They Say, To Catch Crooks",
    ]
    # The first has a full record (seeds/002): the article is shown, not the stub.
    assert page.related[0].kind == "article" and Path(page.related[0].path).name.startswith("002")
    assert [h.kind for h in page.related[1:]] == ["related", "related"]
    # ... and is not listed again among the similar ones, nor are the record's own stubs.
    assert page.related[0].id not in {h.id for h in page.hits}
    assert all(h.parent != page.id for h in page.hits)


def test_a_stub_resolves_again_when_its_article_goes(write_record: RecordWriter, tmp_path: Path) -> None:
    carrier = write_record(
        "a.md",
        'title: "Carrier about cocoa"\nrelated:\n  - title: "Cocoa prices"\n    webUrl: "https://x.example/cocoa"',
    )
    article = write_record("b.md", 'title: "Cocoa prices"\nwebUrl: "https://x.example/cocoa"')
    build_index([tmp_path / "records"], tmp_path / "ix")
    with open_index(tmp_path / "ix") as ix:
        assert [h.kind for h in ix.similar(str(carrier)).related] == ["article"]
        article.unlink()
        build_index([tmp_path / "records"], tmp_path / "ix")
        assert [h.kind for h in ix.similar(str(carrier)).related] == ["related"]


def test_unknown_id_and_bad_limit(seed_index: Index) -> None:
    with pytest.raises(DocumentNotFoundError):
        seed_index.similar("0123456789abcdef")
    with pytest.raises(UsageError):
        seed_index.similar(seed("001"), limit=0)


def test_an_article_with_no_words_has_no_similar(write_record: RecordWriter, tmp_path: Path) -> None:
    lonely = write_record("a.md", 'title: "The and of"')
    write_record("b.md", 'title: "Cocoa prices"')
    build_index([tmp_path / "records"], tmp_path / "ix")
    with open_index(tmp_path / "ix") as ix:
        assert ix.similar(str(lonely)).hits == ()
