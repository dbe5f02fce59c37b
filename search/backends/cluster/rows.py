"""An article and its related stubs as rows of a shard, and which shard.

A row holds the full-text fields (title, topics, excerpt, body, provider:
the parts the embedded index weighs, schema.PART_WEIGHTS) and attributes
for filters, sorts, facets and display.  Keys that searchd filters on are
integers: a topic or provider is the CRC32 of its folded name, so that
filters ignore case as the embedded ones do; the duplicate keys are the
embedded index's own (schema.duplicate_keys), as signed 63-bit integers.

Every article row carries its file's bookkeeping in ``source`` (size,
mtime_ns, content hash, and the row layout it was written with,
search.backends.cluster.tables.LAYOUT): the cluster itself says what it holds, and a row
is acknowledged together with its bookkeeping (see search.backends.cluster.sync).

Rows are routed to shard ``int(article_id, 16) % shards`` (the article id
is 64 bits of SHA-1 of its path, so the spread is even and stable); a stub
goes with its article, so an article's rows are replaced and deleted on
one shard.  The searchd document id is 63 bits of BLAKE2b of our id.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from search.articles import Article, Provider, Stub
from search.backends.cluster.tables import LAYOUT
from search.storage.schema import (
    MISSING_HIGH,
    MISSING_LOW,
    analyse_text,
    combined_text,
    doc_id,
    duplicate_keys,
    indexed_values,
    iso_utc,
)

KIND_ARTICLE, KIND_RELATED = 0, 1
KINDS = {KIND_ARTICLE: "article", KIND_RELATED: "related"}
#: Unknown / false / true, for the published filter.
PUBLISHED = {None: 0, False: 1, True: 2}


def text_key(value: str) -> int:
    """The integer a topic or provider name is filtered by (folded: case and spaces ignored)."""
    return zlib.crc32(value.strip().casefold().encode("utf-8", "surrogateescape"))


def host_key(value: str) -> int:
    return text_key(value.strip().casefold().removeprefix("www."))


def sphinx_id(ident: str) -> int:
    """searchd's document id for one of ours: positive and below 2**63."""
    value = int.from_bytes(hashlib.blake2b(ident.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")
    return (value & (2**63 - 1)) or 1


def shard_of(article_id: str, shards: int) -> int:
    return int(article_id, 16) % shards


def stub_id(article_id: str, number: int) -> str:
    return f"{article_id}-r{number}"


def _signed(key: bytes | None) -> int:
    return 0 if key is None else int.from_bytes(key, "big") & (2**63 - 1)


def encode_source(size: int, mtime_ns: int, digest: str, racy: bool = False) -> str:
    """The bookkeeping: the file's size, mtime and content hash, "R" when the
    file was read within its mtime's tick (search.records.racy: the next run
    reads it again), and the row layout written, last."""
    return f"{size} {mtime_ns} {digest}" + (" R" if racy else "") + f" L{LAYOUT}"


def decode_source(value: str) -> tuple[int, int, str, int, bool] | None:
    """(size, mtime_ns, digest, layout, racy); rows from before layouts were
    recorded say layout 1, rows from before the racy mark say not racy."""
    parts = value.split(" ")
    layout = 1
    if len(parts) in (4, 5) and parts[-1][:1] == "L" and parts[-1][1:].isdigit():
        layout = int(parts.pop()[1:])
    racy = len(parts) == 4 and parts[3] == "R" and layout > 1  # the mark came after layouts
    if racy:
        parts.pop()
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].lstrip("-").isdigit():
        return None
    return int(parts[0]), int(parts[1]), parts[2], layout, racy


@dataclass(frozen=True)
class Row:
    id: int
    values: dict[str, Any]


def _common(
    *,
    title: str,
    excerpt: str | None,
    body: str | None,
    topics: tuple[str, ...],
    provider: Provider | None,
    published: Any,
    url: str | None,
    quality: int | None,
    heat: int | None,
    is_published: bool | None,
) -> dict[str, Any]:
    pname = provider.name if provider else None
    pdomain = provider.domain if provider else None
    epoch = None if published is None else int(published.timestamp())
    url_key, title_key = duplicate_keys(title, url, provider, published)
    source = pname or pdomain
    parts = combined_text(title, topics, excerpt, body, pname, pdomain)
    return {
        "title": title,
        "topics": " ; ".join(topics),
        "excerpt": excerpt or "",
        "body": body or "",
        "provider": " ".join(v for v in (pname, pdomain) if v),
        "url": url or "",
        "title_s": title,
        "excerpt_s": excerpt or "",
        "topic_keys": tuple(sorted({text_key(t) for t in topics if t.strip()})),
        "provider_key": text_key(source) if source else 0,
        "domain_key": host_key(pdomain) if pdomain else 0,
        "provider_s": source or "",
        "newest": MISSING_LOW if epoch is None else epoch,
        "oldest": MISSING_HIGH if epoch is None else epoch,
        "has_date": 0 if epoch is None else 1,
        "year": 0 if published is None else published.year,
        "quality": MISSING_LOW if quality is None else quality,
        "published": PUBLISHED[is_published],
        # The length the embedded index's BM25 normalises by (its tokens,
        # stop words out); searchd's own <field>_len count stop words too.
        "text_len": sum(1 for text, _ in parts for _ in analyse_text(text)),
        "title_terms_len": len(analyse_text(title)),
        "url_key": _signed(url_key),
        "title_key": _signed(title_key),
        "meta": {
            "provider": {"name": pname, "domain": pdomain} if (pname or pdomain) else None,
            "topics": list(topics),
            "published": iso_utc(published),
            "quality": quality,
            "heat": heat,
        },
    }


def article_rows(article: Article, size: int, mtime_ns: int, digest: str, racy: bool = False) -> list[Row]:
    """The stubs' rows, then the article's (last: it carries the bookkeeping)."""
    path = str(article.path)
    ident = doc_id(path)
    rows = [_stub_row(stub, path, ident, number) for number, stub in enumerate(article.related, start=1)]
    values = _common(**indexed_values(article))
    values.update(
        doc_id=ident,
        kind_code=KIND_ARTICLE,
        path=path,
        parent="",
        stubs=len(article.related),
        source=encode_source(size, mtime_ns, digest, racy),
        record=json.dumps(article.to_record(), ensure_ascii=False),
    )
    rows.append(Row(sphinx_id(ident), values))
    return rows


def _stub_row(stub: Stub, path: str, parent: str, number: int) -> Row:
    ident = stub_id(parent, number)
    values = _common(**indexed_values(stub))
    values.update(
        doc_id=ident,
        kind_code=KIND_RELATED,
        path=path,
        parent=parent,
        stubs=0,
        source="",
        record=json.dumps(stub.record, ensure_ascii=False),
    )
    return Row(sphinx_id(ident), values)


def stub_ids(article_id: str, first: int, last: int) -> Iterator[int]:
    """searchd ids of an article's stubs numbered first..last."""
    for number in range(first, last + 1):
        yield sphinx_id(stub_id(article_id, number))
