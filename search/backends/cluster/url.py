"""What a backend URL names, and a SphinxQL connection to it.

    sphinx://HOST:PORT                 the front searchd; its `news` table is
                                       the distributed one, its `news_shards`
                                       table lists the shards writers send to
    sphinx://HOST:PORT/TABLE?shards=HOST:PORT/TABLE,HOST:PORT/TABLE
                                       the same, with the shards given here
                                       (a Manticore cluster without a registry)

``manticore://`` is accepted as a synonym.  Connections use PyMySQL (the
``[cluster]`` extra) with autocommit on: searchd's RT tables only commit a
REPLACE when the statement's own transaction ends, so without autocommit a
write would be acknowledged and then silently dropped with the connection.
"""

from __future__ import annotations

import re
import contextlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from search.errors import BackendError, UsageError

SCHEMES = ("sphinx", "manticore")
DEFAULT_PORT = 9306
DEFAULT_TABLE = "news"
REGISTRY_TABLE = "news_shards"
_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    table: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.table}"


@dataclass(frozen=True)
class BackendURL:
    url: str
    front: Endpoint
    shards: tuple[Endpoint, ...] = ()  # empty: read them from the front's registry


def _table(name: str, url: str) -> str:
    if not _TABLE.fullmatch(name):
        raise UsageError(f"invalid table name {name!r} in --backend {url}", option="--backend")
    return name


def _endpoint(text: str, url: str, default_table: str) -> Endpoint:
    try:
        parts = urlsplit(f"//{text}")
    except ValueError:  # "Invalid IPv6 URL": an unclosed [
        raise UsageError(f"invalid host in --backend {url}", option="--backend") from None
    try:
        port = DEFAULT_PORT if parts.port is None else parts.port
    except ValueError:
        port = 0
    if not 0 < port < 65536:  # 0 was taken for "none given": the default port was tried instead
        raise UsageError(f"invalid port in --backend {url}", option="--backend")
    if not parts.hostname:
        raise UsageError(f"no host in --backend {url}", option="--backend", hint="e.g. sphinx://127.0.0.1:9306")
    return Endpoint(parts.hostname, port, _table(parts.path.strip("/") or default_table, url))


def parse(url: str) -> BackendURL:
    """A --backend value, checked; UsageError names what is wrong with it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise UsageError(
            f"unsupported --backend {url!r}",
            option="--backend",
            hint="Use sphinx://HOST:PORT (Sphinx 2.2 or Manticore searchd, SphinxQL port).",
        )
    location, _, query = rest.partition("?")
    front = _endpoint(location, url, DEFAULT_TABLE)
    shards: list[Endpoint] = []
    for value in parse_qs(query).get("shards", []):
        shards += [_endpoint(part, url, f"{front.table}_{i}") for i, part in enumerate(value.split(",")) if part]
    return BackendURL(url, front, tuple(shards))


def connect(host: str, port: int, *, timeout: float = 10.0, url: str | None = None) -> Any:
    """An autocommit PyMySQL connection to a searchd SphinxQL port (BackendError if none)."""
    try:
        import pymysql
        import pymysql.constants
    except ImportError:
        raise BackendError(
            "the cluster backend needs PyMySQL", hint="Install it with `pip install 'news-search[cluster]'`."
        ) from None
    try:
        return pymysql.connect(
            host=host,
            port=port,
            user="",
            autocommit=True,
            charset="utf8",
            connect_timeout=timeout,
            read_timeout=max(timeout, 30.0),
            write_timeout=max(timeout, 30.0),
            # A search and its facets go as one batch (search.backends.cluster.backend).
            client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
        )
    except pymysql.err.MySQLError as exc:
        raise BackendError(
            f"cannot reach searchd at {host}:{port}: {exc.args[-1] if exc.args else exc}",
            url=url,
            hint="Is the cluster up? `search cluster status --dir DIR` shows it.",
        ) from None


def shard_endpoints(url: BackendURL) -> tuple[Endpoint, ...]:
    """The shards (writers send to them; readers ask them for word statistics):
    from the URL, or the front's registry table."""
    if url.shards:
        return url.shards
    front = url.front
    with contextlib.closing(connect(front.host, front.port, url=url.url)) as conn, conn.cursor() as cur:
        try:
            cur.execute(f"SELECT shard, host, sql_port, tbl FROM {front.table}_shards ORDER BY shard ASC LIMIT 1000")
        except Exception as exc:
            raise BackendError(
                f"the cluster at {front.host}:{front.port} has no {front.table}_shards table: {exc}",
                url=url.url,
                hint="Name the shards in the URL: sphinx://HOST:PORT?shards=HOST:PORT/TABLE,... (docs/cluster.md).",
            ) from None
        found = [Endpoint(str(host), int(port), str(table)) for _, host, port, table in cur.fetchall()]
    for endpoint in found:  # the names go into SQL unquoted, as a URL's do (_table)
        if not _TABLE.fullmatch(endpoint.table):
            raise BackendError(
                f"the cluster at {front.host}:{front.port} lists an invalid shard table name"
                f" {endpoint.table!r} in {front.table}_shards",
                url=url.url,
                hint="A table name is letters, digits and _; fix the row, or name the shards in the URL"
                " (docs/cluster.md).",
            )
    if not found:
        raise BackendError(f"the cluster at {front.host}:{front.port} lists no shards", url=url.url)
    return tuple(found)
