"""What a shard table holds, and the check that a live table holds it.

The columns are declared once here: the dev cluster's configs
(search.backends.cluster.daemons) and the Manticore `CREATE TABLE` in
docs/cluster.md follow them, and the writer checks them before it sends.

The layout has changed twice: LAYOUT 2 added ``text_len`` (the length the
embedded BM25 normalises by), LAYOUT 3 ``title_terms_len`` (the title's
length, which the embedded BM25F normalises a title's words by; searchd's
own ``title_len`` counts stop words).  A table made by older code lacks them, and
searchd keeps a real-time table's columns from when it was first created,
whatever its config says later, so a new config does not bring it in.  The
writer reads each shard's columns with ``DESCRIBE`` (one small statement a
shard a run; Sphinx 2.2 and Manticore both answer it, with their own type
names, so only the names are compared) and

* on an incremental run, refuses with a message naming the missing
  columns and the full rebuild that adds them (re-sending a few changed
  files into an old table would leave it half old, half new);
* on ``--full``, adds a missing attribute with ``ALTER TABLE ... ADD
  COLUMN`` (Sphinx 2.2 and Manticore both have it for real-time tables)
  and re-sends every record.  A missing full-text field cannot be added
  that way on Sphinx 2.2: that table has to be created again.

Each article row also records the layout it was written with (in its
``source`` bookkeeping, search.backends.cluster.rows), so a row written
before the current layout is re-sent by the next run even when a
``--full`` that added the column was killed half-way.

The stop words are not a column: searchd copies the list into a table
when it creates it and keeps it, whatever the list file says later, and
no re-send changes it.  A table made before the embedded analyzer kept
``us`` goes on dropping it, so ``US`` finds there only "U.S.".
``dropped_words`` asks a table which of those words it drops (``CALL
KEYWORDS``: one small statement a shard, no rows read); the writer and
the reader log a warning when one does.
"""

from __future__ import annotations

import logging
from typing import Any

from search.errors import BackendError

log = logging.getLogger(__name__)

#: The version of the row layout below; rows record it (rows.encode_source).
LAYOUT = 3

FIELDS = ("title", "topics", "excerpt", "body", "provider")
#: (searchd config directive, name); ALTER_TYPES says how ALTER TABLE spells each.
ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("rt_attr_string", "doc_id"),
    ("rt_attr_uint", "kind_code"),
    ("rt_attr_string", "path"),
    ("rt_attr_string", "parent"),
    ("rt_attr_string", "url"),
    ("rt_attr_string", "title_s"),
    ("rt_attr_string", "excerpt_s"),
    ("rt_attr_multi", "topic_keys"),
    ("rt_attr_uint", "provider_key"),
    ("rt_attr_uint", "domain_key"),
    ("rt_attr_string", "provider_s"),
    ("rt_attr_bigint", "newest"),
    ("rt_attr_bigint", "oldest"),
    ("rt_attr_uint", "has_date"),
    ("rt_attr_uint", "year"),
    ("rt_attr_bigint", "quality"),
    ("rt_attr_uint", "published"),
    ("rt_attr_bigint", "url_key"),
    ("rt_attr_bigint", "title_key"),
    ("rt_attr_uint", "stubs"),
    ("rt_attr_uint", "text_len"),
    ("rt_attr_uint", "title_terms_len"),
    ("rt_attr_string", "source"),
    ("rt_attr_json", "meta"),
    ("rt_attr_string", "record"),
)
COLUMNS = frozenset((*FIELDS, *(name for _, name in ATTRIBUTES)))
ALTER_TYPES = {
    "rt_attr_uint": "INTEGER",
    "rt_attr_bigint": "BIGINT",
    "rt_attr_string": "STRING",
    "rt_attr_json": "JSON",
    "rt_attr_multi": "MULTI",
}


#: Words older versions' stop-word lists dropped that the embedded analyzer
#: keeps (and indexes): a table made by such a version still drops them.
RESTORED_WORDS = ("us",)


def dropped_words(conn: Any, table: str) -> list[str]:
    """Of RESTORED_WORDS, those `table` drops as stop words.  ``CALL KEYWORDS``
    (Sphinx 2.2 and Manticore alike) gives a row for each word it keeps,
    numbered by the word's place in the text (``qpos``), and none for a stop word."""
    # Both strings need no escaping: the words are ours, lower-case letters, and a
    # table name is letters, digits and _ (checked where it is read: url._table).
    with conn.cursor() as cur:
        cur.execute(f"CALL KEYWORDS('{' '.join(RESTORED_WORDS)}', '{table}')")
        kept = {int(row[0]) for row in cur.fetchall()}
    return [word for place, word in enumerate(RESTORED_WORDS, 1) if place not in kept]


def warn_dropped(where: str, dropped: list[str]) -> None:
    """Log that the table at `where` drops `dropped` (dropped_words), and what to do."""
    if dropped:
        log.warning(
            "%s drops %s as a stop word: its table predates this version's stop-word list, and"
            " searchd keeps a table's list whatever stopwords.txt says later, so a query for it"
            " misses what the embedded index finds (`US` finds only \"U.S.\"); create the tables"
            " again and re-send (docs/cluster.md, 'Pointing --backend at a Manticore cluster')",
            where,
            ", ".join(repr(w) for w in dropped),
        )


def missing_columns(conn: Any, table: str) -> list[str]:
    """The layout's fields and attributes that `table` lacks (DESCRIBE on the connection's searchd)."""
    with conn.cursor() as cur:
        cur.execute(f"DESCRIBE {table}")
        present = {str(row[0]) for row in cur.fetchall()}
    return [name for name in (*FIELDS, *(name for _, name in ATTRIBUTES)) if name not in present]


def rebuild_hint(what: str = "PATHS") -> str:
    return (
        f"Run the full rebuild, `search index {what} --full --backend URL`: it adds the missing"
        " columns and re-sends every record (docs/cluster.md, 'Pointing --backend at a Manticore cluster')."
    )


def old_layout(where: str, missing: list[str], *, url: str | None = None) -> BackendError:
    return BackendError(
        f"{where} has an older table layout than this version of news-search writes"
        f" (no column {', '.join(missing)})",
        url=url,
        hint=rebuild_hint(),
    )


def upgrade(conn: Any, table: str, missing: list[str], *, where: str, url: str | None = None) -> None:
    """ALTER TABLE ADD COLUMN each missing attribute (a --full run re-sends every row after it)."""
    kinds = dict((name, kind) for kind, name in ATTRIBUTES)
    fields = [name for name in missing if name not in kinds]
    if fields:
        raise BackendError(
            f"{where} lacks the full-text field {', '.join(fields)}, which searchd cannot add to a table",
            url=url,
            hint="Create the table again with the definition in docs/cluster.md, then run `search index --full`.",
        )
    import pymysql

    for name in missing:
        try:
            with conn.cursor() as cur:
                cur.execute(f"ALTER TABLE {table} ADD COLUMN {name} {ALTER_TYPES[kinds[name]]}")
        except pymysql.err.MySQLError as exc:
            raise BackendError(
                f"{where} refused to add the column {name}: {exc.args[-1] if exc.args else exc}",
                url=url,
                hint="Create the table again with the definition in docs/cluster.md, then run `search index --full`.",
            ) from None
