"""Tests for search.records: walking folders, reading files, parsing records."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import search.records
from search.errors import FolderError, RecordError, UsageError
from search.records import (
    EXTENSIONS,
    Article,
    Image,
    Limits,
    Provider,
    SourceFile,
    load_record,
    parse_datetime,
    parse_record,
    read_source,
    walk,
)

UTC = timezone.utc
REPO = Path(__file__).resolve().parent.parent
DEFAULT = Limits()
SEEDS = REPO / "seeds"
SEED = SEEDS / "000_ca32df7d61dcae32.txt"  # the original record the product is built around


def parse(text: str | bytes, name: str = "a.md", limits: Limits = DEFAULT) -> Article:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_record(data, Path("/records") / name, limits)


def fails(text: str | bytes, name: str = "a.md", limits: Limits = DEFAULT) -> RecordError:
    with pytest.raises(RecordError) as caught:
        parse(text, name, limits)
    return caught.value


def front(*lines: str, body: str = "") -> str:
    return "---\n" + "\n".join(lines) + "\n---\n" + body


# --- fatal problems: RecordError with the path, and the line and field where known ---------------

ERRORS = [
    pytest.param("title: x\n", "file does not start with '---'", 1, None, id="no-front-matter"),
    pytest.param("---\ntitle: x\n", "unterminated front matter: no closing '---' line", 1, None,
                 id="unterminated"),
    pytest.param("", "empty file", None, None, id="empty-file"),
    pytest.param(" \n\t\n", "empty file", None, None, id="whitespace-only-file"),
    pytest.param(front("title: ok", "excerpt: a: b"),
                 "invalid YAML at column 11: mapping values are not allowed in this context", 3, None,
                 id="yaml-syntax-error"),
    pytest.param(front("title: ok", "excerpt: 'open", "type: x"),
                 "invalid YAML at column 1: found unexpected end of stream"
                 " (while scanning a quoted scalar on line 3)", 5, None,
                 id="yaml-unclosed-quote"),
    pytest.param(front("- a", "- b"), "front matter is a list, not a mapping of fields", 2, None,
                 id="list-front-matter"),
    pytest.param(front("just text"), "front matter is 'just text', not a mapping of fields", 2, None,
                 id="scalar-front-matter"),
    pytest.param("---\n---\nbody\n", "front matter is empty", 2, None, id="empty-front-matter"),
    pytest.param(front("excerpt: x"), "missing", None, "title", id="missing-title"),
    pytest.param(front("excerpt: x", 'title: ""'), "empty", 3, "title", id="empty-title"),
    pytest.param(front("title: '   '"), "empty", 2, "title", id="whitespace-title"),
    pytest.param(front("title:"), "empty", 2, "title", id="null-title"),
    pytest.param(front("title: [a, b]"), "expected text, got a list", 2, "title", id="list-title"),
    pytest.param(front("title: {a: 1}"), "expected text, got a mapping", 2, "title", id="mapping-title"),
    pytest.param(b"---\ntitle: caf\xe9\n---\n", "not valid UTF-8 (byte offset 14)", 2, None,
                 id="not-utf8"),
    pytest.param(b"---\ntitle: x\x00y\n---\n", "binary file (contains NUL bytes)", None, None,
                 id="binary"),
    pytest.param(front("title: !!python/object/apply:os.system ['echo pwned']"),
                 "unsafe YAML tag '!!python/object/apply:os.system' rejected", 2, None,
                 id="python-object-apply"),
    pytest.param(front("title: x", "run: !!python/name:os.system"),
                 "unsafe YAML tag '!!python/name:os.system' rejected", 3, None, id="python-name"),
    pytest.param(front("title: x", "m: !!python/module:os"),
                 "unsafe YAML tag '!!python/module:os' rejected", 3, None, id="python-module"),
    pytest.param(front("title: x", "o: !!python/object:collections.OrderedDict {}"),
                 "unsafe YAML tag '!!python/object:collections.OrderedDict' rejected", 3, None,
                 id="python-object"),
    pytest.param(front("title: x", "j: !!javascript alert(1)"), "unknown YAML tag '!!javascript' rejected",
                 3, None, id="unknown-global-tag"),
    pytest.param(front("title: x", "l: !local value"), "unknown YAML tag '!local' rejected", 3, None,
                 id="unknown-local-tag"),
    pytest.param(front("title: x", "d: &a [*a]"), "nested deeper than 64 levels", None, None,
                 id="self-referencing-alias"),
    pytest.param(front("title: x", "m: &m {<<: *m}"), "a merge key (<<) refers to its own mapping", 3,
                 None, id="self-merging-mapping"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "problem", "line", "field"), ERRORS)
def test_fatal_problems_raise_record_error(
    text: str | bytes, problem: str, line: int | None, field: str | None
) -> None:
    error = fails(text)
    assert error.path == "/records/a.md"
    assert error.problem == problem
    assert (error.line, error.field) == (line, field)
    where = "/records/a.md" if line is None else f"/records/a.md:{line}"
    what = problem if field is None else f"field '{field}': {problem}"
    assert str(error) == f"{where}: {what}"


def test_errors_give_a_hint_how_to_fix() -> None:
    assert fails("title: x\n").hint == (
        "a record opens with YAML front matter between two lines holding only '---'"
    )
    assert fails(front("excerpt: x")).hint == (
        "every record needs a non-empty 'title: ...' line in its front matter"
    )
    assert fails(b"\xff\xfe-\x00-\x00").hint == "it looks like UTF-16: convert it to UTF-8"
    assert fails(b"---\ntitle: \xff\n---\n").hint == "convert the file to UTF-8"
    assert "remove the tag" in (fails(front("t: !!python/none ''")).hint or "")


def test_yaml_error_line_counts_lines_of_the_file_with_crlf_and_bom() -> None:
    text = "\ufeff---\r\ntitle: ok\r\ntype: x\r\nexcerpt: a: b\r\n---\r\n"
    error = fails(text.encode("utf-8"))
    assert error.line == 4
    assert "mapping values are not allowed" in error.problem


def test_bare_yaml_file_error_lines_start_at_one() -> None:
    assert fails("title: ok\nexcerpt: a: b\n", name="a.yaml").line == 2


def test_md_file_is_never_taken_as_bare_yaml() -> None:
    assert fails("title: x\n", name="a.md").problem == "file does not start with '---'"
    assert fails("title: x\n", name="a.txt").problem == "file does not start with '---'"


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["title: lol", "a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return front(*lines)


def test_billion_laughs_is_rejected_quickly() -> None:
    started = time.perf_counter()
    error = fails(billion_laughs())
    assert error.problem == "front matter expands to more than 100,000 YAML nodes through aliases (an alias bomb?)"
    assert error.hint == "remove the repeated aliases (*name)"
    assert time.perf_counter() - started < 2  # ~3 ms measured; walking it all would take hours


def test_node_budget_follows_limits() -> None:
    # the budget counts what aliases repeat: three more visits of a 5-item list, 6 nodes each
    text = front("title: x", "a: &a [1, 2, 3, 4, 5]", "b: [*a, *a, *a]")
    assert parse(text, limits=Limits(max_yaml_nodes=18)).extra["b"] == [[1, 2, 3, 4, 5]] * 3
    error = fails(text, limits=Limits(max_yaml_nodes=17))
    assert error.problem == "front matter expands to more than 17 YAML nodes through aliases (an alias bomb?)"


def test_a_long_plain_list_is_cut_with_a_warning_not_taken_for_a_bomb() -> None:
    # 100,000 topics, no alias: big but bounded by the file size; the list limit applies
    text = front("title: x", "topics: [" + ", ".join(f"t{n}" for n in range(100_000)) + "]")
    article = parse(text)
    assert article.topics == tuple(f"t{n}" for n in range(1_000))
    assert article.warnings == ("field 'topics': 100,000 items, over the 1,000 limit; kept the first 1,000",)


def test_front_matter_over_its_byte_limit_is_refused_before_yaml_reads_it() -> None:
    # 5 MB of flow mappings cost 13.9 s and 605 MB to read; the body after it has no such limit
    over = front("title: x", "m: {" + ", ".join(f"k{n}: [1]" for n in range(600_000)) + "}", body="b" * 100)
    error = fails(over)
    size = len(over.encode()) - len("---\n") - len("---\n") - 100
    assert error.path == "/records/a.md" and error.line is None
    assert error.problem == f"front matter is {size:,} bytes, over the 1,048,576-byte limit"
    assert error.hint == "long text belongs in the body, after the closing '---' line"
    # refused unread: invalid YAML past the limit still gets the size problem
    bad = fails(front("title: x", "bad: [" * 300_000))
    assert bad.problem == "front matter is 1,800,010 bytes, over the 1,048,576-byte limit"


def test_front_matter_limit_counts_utf8_bytes_up_to_the_limit() -> None:
    text = "title: " + "é" * 20  # 7 + 40 bytes, and the newline before the closing ---: 48
    assert parse(front(text), limits=Limits(max_front_matter_bytes=48)).title == "é" * 20
    error = fails(front(text), limits=Limits(max_front_matter_bytes=47))
    assert error.problem == "front matter is 48 bytes, over the 47-byte limit"
    assert fails(front(text), name="a.yaml", limits=Limits(max_front_matter_bytes=47)).problem == error.problem
    bare = text.encode()  # a bare .yaml mapping is all front matter
    assert fails(bare, name="b.yaml", limits=Limits(max_front_matter_bytes=46)).problem == (
        "front matter is 47 bytes, over the 46-byte limit"
    )
    assert parse(bare, name="b.yaml", limits=Limits(max_front_matter_bytes=47)).title == "é" * 20
    assert parse(front(text, body="x" * 1000), limits=Limits(max_front_matter_bytes=48)).body == "x" * 1000


def test_merge_keys_are_budgeted_before_they_are_copied() -> None:
    text = front("title: x", "m: &m {a: 1, b: 2, c: 3, d: 4}", "n: {<<: [*m, *m, *m], e: 5}")
    assert parse(text).extra["n"] == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    error = fails(text, limits=Limits(max_yaml_nodes=10))
    assert error.problem == "front matter expands to more than 10 YAML nodes through aliases (an alias bomb?)"
    assert error.line == 4  # the mapping that merges


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("[" * 100_000 + "]" * 100_000, id="flow-sequences"),
        pytest.param("{a: " * 100_000 + "}" * 100_000, id="flow-mappings"),
        pytest.param("\n" + "- " * 100_000 + "x", id="block-sequences-on-one-line"),
        pytest.param("[" * 100_000, id="unclosed"),
        pytest.param("[" * 64 + "]" * 64, id="just-over-the-limit"),
    ],
)
def test_deep_nesting_is_rejected_quickly(value: str) -> None:
    started = time.perf_counter()
    error = fails(front("title: x", f"deep: {value}"))
    assert error.problem == "nested deeper than 64 levels"
    assert time.perf_counter() - started < 2  # 1-5 ms measured


def test_nesting_at_the_limit_is_accepted() -> None:
    article = parse(front("title: x", "deep: " + "[" * 63 + "]" * 63))
    assert "deep" in article.extra


def test_pure_python_yaml_fallback_survives_deep_nesting() -> None:
    """Without libyaml, PyYAML's composer recurses per level: the RecursionError is caught."""
    code = (
        "import yaml; yaml.__with_libyaml__ = False\n"
        "from pathlib import Path\n"
        "from search.records import parse_record, _Loader\n"
        "from search.errors import RecordError\n"
        "assert not issubclass(_Loader, yaml.CSafeLoader)\n"
        "data = ('---\\ntitle: x\\nd: ' + '[' * 5000 + ']' * 5000 + '\\n---\\n').encode()\n"
        "try:\n"
        "    parse_record(data, Path('deep.md'))\n"
        "except RecordError as e:\n"
        "    print(e.problem)\n"
        "print(parse_record(b'---\\ntitle: fine\\n---\\n', Path('ok.md')).title)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["nested deeper than 64 levels", "fine"]


# --- reading files -----------------------------------------------------------------------------


def test_read_source_returns_data_size_and_mtime_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_bytes(b"---\ntitle: x\n---\n")
    st = path.stat()
    assert read_source(path) == (b"---\ntitle: x\n---\n", st.st_size, st.st_mtime_ns)


def test_too_large_file_says_size_limit_and_how_to_raise_it(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_bytes(b"---\ntitle: x\n---\n" + b"y" * 3)
    assert read_source(path, Limits(max_file_bytes=20))[1] == 20
    with pytest.raises(RecordError) as caught:
        load_record(path, Limits(max_file_bytes=19))
    assert caught.value.problem == "file is 20 bytes, over the 19-byte limit"
    assert caught.value.hint == "raise the limit with `max_file_size` / SEARCH_MAX_FILE_SIZE"
    assert caught.value.path == str(path)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        pytest.param(lambda p: None, "file vanished (deleted or moved after it was found)", id="vanished"),
        pytest.param(lambda p: p.mkdir(), "is a directory, not a record file", id="directory"),
        pytest.param(lambda p: os.mkfifo(p), "not a regular file", id="fifo-does-not-hang"),
    ],
)
def test_read_source_problems(tmp_path: Path, make: Callable[[Path], None], problem: str) -> None:
    path = tmp_path / "x.md"
    make(path)
    with pytest.raises(RecordError) as caught:
        read_source(path)
    assert (caught.value.path, caught.value.problem) == (str(path), problem)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file anyway")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.md"
    path.write_text("---\ntitle: x\n---\n")
    path.chmod(0)
    with pytest.raises(RecordError) as caught:
        read_source(path)
    assert caught.value.problem == "permission denied"


def test_load_record_reads_and_parses(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text(front("title: Hello", body="\nBody text.\n"), "utf-8")
    article = load_record(path)
    assert (article.path, article.title, article.body) == (path, "Hello", "Body text.")


# --- the seed record -----------------------------------------------------------------------------


def test_seed_parses_without_warnings_and_keeps_every_field() -> None:
    article = load_record(SEED)
    assert article.warnings == ()
    assert article.title == "Met Police try to calm tensions as live facial recognition hits London"
    assert article.published == datetime(2020, 2, 12, 4, 0, tzinfo=UTC)
    assert article.url == "https://www.ft.com/content/db8bfc3c-4cf4-11ea-95a0-43d18ec715f5"
    assert article.amp_url == "https://amp.ft.com/content/db8bfc3c-4cf4-11ea-95a0-43d18ec715f5"
    assert article.cdn_amp_url is not None and article.cdn_amp_url.startswith("https://amp-ft-com.cdn")
    assert (article.type, article.category, article.quality, article.heat) == ("article", "news", 59, -1)
    assert article.is_published is False
    assert article.provider == Provider("The Financial Times", "ft.com")
    assert article.topics == ("AI", "Computer Vision")
    assert [(i.width, i.height, i.title) for i in article.images] == [(500, 281, article.title)]
    assert [s.quality for s in article.related] == [59, 39, 13]
    assert article.related[0].published == datetime(2020, 2, 6, 20, 21, tzinfo=UTC)
    assert article.related[0].provider == Provider("The Daily Dot", "dailydot.com")
    assert article.related[0].images == (
        Image("https://www.dailydot.com/wp-content/uploads/2020/02/Facial-Recognition-Schools-1024x512.jpg",
              1024, 512),
    )  # fmt: skip
    assert article.related[2].images == ()
    assert article.related[0].record["ampWebUrl"].endswith("petition/?amp")  # extra stub keys kept
    assert article.body is None and article.extra == {}


def test_seed_to_record_is_json_with_the_files_field_names_and_no_secured() -> None:
    article = load_record(SEED)
    record = article.to_record()
    assert list(record) == [
        "title", "excerpt", "publishedDateTime", "webUrl", "ampWebUrl", "cdnAmpWebUrl", "type",
        "category", "quality", "heat", "published", "provider", "topics", "images", "related",
    ]  # fmt: skip
    assert record["publishedDateTime"] == "2020-02-12T04:00:00Z"
    assert record["published"] is False
    assert record["related"][0]["publishedDateTime"] == "2020-02-06T20:21:00Z"
    assert json.loads(json.dumps(record)) == record
    for text in (repr(article), json.dumps(record)):
        assert "secured" not in text
        assert "CtXW3ihCfHtpwmJ" not in text


def test_articles_survive_pickling_for_the_indexers_worker_processes() -> None:
    article = load_record(SEED)
    assert pickle.loads(pickle.dumps(article)) == article


def test_parsing_leaves_pyyamls_own_safe_loader_alone() -> None:
    with pytest.raises(ValueError):  # PyYAML's bug, kept out of our loader only
        yaml.load("a: 0b_", Loader=yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader)


def test_every_seed_parses_without_warnings_or_secured() -> None:
    seeds = sorted(SEEDS.iterdir())
    assert len(seeds) >= 1
    for path in seeds:
        article = load_record(path)
        assert (path.name, article.warnings) == (path.name, ())
        assert "secured" not in json.dumps(article.to_record()) + repr(article)


# --- warnings: the record is kept, the value coerced or dropped ---------------------------------

WARNINGS = [
    pytest.param("quality: 59", "quality", 59, [], id="quality-ok"),
    pytest.param("quality: 0", "quality", 0, [], id="quality-zero"),
    pytest.param("quality: high", "quality", None,
                 ["field 'quality': expected an integer 0-100, got 'high'; ignored"], id="quality-text"),
    pytest.param("quality: 3.7", "quality", None,
                 ["field 'quality': expected an integer 0-100, got 3.7; ignored"], id="quality-float"),
    pytest.param("quality: 1e9", "quality", None,
                 ["field 'quality': expected an integer 0-100, got '1e9'; ignored"], id="quality-1e9"),
    pytest.param("quality: 1.0e+9", "quality", None,
                 ["field 'quality': expected an integer 0-100, got 1000000000.0; ignored"],
                 id="quality-big-float"),
    pytest.param("quality: -5", "quality", None,
                 ["field 'quality': expected an integer 0-100, got -5; ignored"], id="quality-negative"),
    pytest.param("quality: 101", "quality", None,
                 ["field 'quality': expected an integer 0-100, got 101; ignored"], id="quality-over-100"),
    pytest.param("quality: true", "quality", None,
                 ["field 'quality': expected an integer 0-100, got true; ignored"], id="quality-bool"),
    pytest.param("heat: -12", "heat", -12, [], id="heat-negative-ok"),
    pytest.param("heat: true", "heat", None,
                 ["field 'heat': expected a 64-bit integer, got true; ignored"], id="heat-bool"),
    pytest.param("heat: 9223372036854775808", "heat", None,
                 ["field 'heat': expected a 64-bit integer, got 9223372036854775808; ignored"],
                 id="heat-over-64-bits"),
    pytest.param("heat: 0b_", "heat", None, ["field 'heat': expected a 64-bit integer, got '0b_'; ignored"],
                 id="heat-pyyaml-int-bug"),
    pytest.param("published: false", "is_published", False, [], id="published-false"),
    pytest.param("published: 'TRUE'", "is_published", True, [], id="published-text-true"),
    pytest.param("published: ' false '", "is_published", False, [], id="published-text-false"),
    pytest.param("published: 'yes'", "is_published", None,
                 ["field 'published': expected true or false, got 'yes'; ignored"], id="published-yes"),
    pytest.param("published: 1", "is_published", None,
                 ["field 'published': expected true or false, got 1; ignored"], id="published-number"),
    pytest.param("topics: AI", "topics", ("AI",), [], id="topics-string"),
    pytest.param("topics: 42", "topics", ("42",), [], id="topics-number"),
    pytest.param("topics: [AI, 42, 3.5, ' AI ', '', '  ', Go]", "topics", ("AI", "42", "3.5", "Go"), [],
                 id="topics-coerced-blank-and-duplicates-dropped"),
    pytest.param("topics: [AI, {a: 1}, [x], true]", "topics", ("AI",),
                 ["field 'topics[1]': expected text, got a mapping; dropped",
                  "field 'topics[2]': expected text, got a list; dropped",
                  "field 'topics[3]': expected text, got true; dropped"], id="topics-bad-items"),
    pytest.param("topics: {a: 1}", "topics", (),
                 ["field 'topics': expected a list of text, got a mapping; ignored"], id="topics-mapping"),
    pytest.param("provider: Reuters", "provider", Provider("Reuters", None), [], id="provider-string"),
    pytest.param("provider: {name: BBC News, domain: BBC.co.UK}", "provider",
                 Provider("BBC News", "bbc.co.uk"), [], id="provider-domain-lowercased"),
    pytest.param("provider: {name: [x], domain: ft.com}", "provider", Provider(None, "ft.com"),
                 ["field 'provider.name': expected text, got a list; ignored"], id="provider-bad-name"),
    pytest.param("provider: {name: FT, domain: {a: 1}}", "provider", Provider("FT", None),
                 ["field 'provider.domain': expected text, got a mapping; ignored"],
                 id="provider-bad-domain"),
    pytest.param("provider: [FT]", "provider", None,
                 ["field 'provider': expected a mapping with name and domain, got a list; ignored"],
                 id="provider-list"),
    pytest.param("publishedDateTime: 2020-13-45", "published", None,
                 ["field 'publishedDateTime': invalid date '2020-13-45': month must be in 1..12; ignored"],
                 id="date-impossible"),
    pytest.param("publishedDateTime: yesterday", "published", None,
                 ["field 'publishedDateTime': not a date: 'yesterday' (expected ISO 8601, e.g. 2020-02-12 "
                  "or 2020-02-12T04:00:00Z); ignored"], id="date-yesterday"),
    pytest.param("publishedDateTime: 2020-02-12T04:00:00", "published", datetime(2020, 2, 12, 4, tzinfo=UTC),
                 ["field 'publishedDateTime': no time zone, assumed UTC"], id="date-no-zone"),
    pytest.param("publishedDateTime: '2020-02-12 04:00'", "published", datetime(2020, 2, 12, 4, tzinfo=UTC),
                 ["field 'publishedDateTime': no time zone, assumed UTC"], id="date-quoted-no-zone"),
    pytest.param("publishedDateTime: 2020-02-12T06:00:00+02:00", "published",
                 datetime(2020, 2, 12, 4, tzinfo=UTC), [], id="date-offset-to-utc"),
    pytest.param("publishedDateTime: '2020-02-11T23:30:00-04:30'", "published",
                 datetime(2020, 2, 12, 4, tzinfo=UTC), [], id="date-quoted-offset-to-utc"),
    pytest.param("publishedDateTime: 2020-02-12", "published", datetime(2020, 2, 12, tzinfo=UTC), [],
                 id="date-plain"),
    pytest.param("publishedDateTime: 2020", "published", None,
                 ["field 'publishedDateTime': expected an ISO 8601 date, got 2020; ignored"], id="date-int"),
    pytest.param("excerpt: 42", "excerpt", "42", [], id="text-number"),
    pytest.param("type: 2.5", "type", "2.5", [], id="text-float"),
    pytest.param("category: 2020-01-02", "category", "2020-01-02", [], id="text-date"),
    pytest.param("excerpt: [a, b]", "excerpt", None, ["field 'excerpt': expected text, got a list; ignored"],
                 id="text-list"),
    pytest.param("webUrl: {a: 1}", "url", None, ["field 'webUrl': expected text, got a mapping; ignored"],
                 id="url-mapping"),
    pytest.param("ampWebUrl: ' https://a/b '", "amp_url", "https://a/b", [], id="url-stripped"),
    pytest.param("excerpt: ''", "excerpt", None, [], id="empty-text-is-none"),
    pytest.param("images: [{url: u, width: 5, height: big}, x, {title: t}, {url: v, width: -1}]", "images",
                 (Image("u", 5, None), Image("v")),
                 ["field 'images[0].height': expected a non-negative integer, got 'big'; ignored",
                  "field 'images[1]': expected a mapping with a url, got 'x'; dropped",
                  "field 'images[2]': no url; dropped",
                  "field 'images[3].width': expected a non-negative integer, got -1; ignored"],
                 id="images-bad-entries"),
    pytest.param("images: u", "images", (), ["field 'images': expected a list of images, got 'u'; ignored"],
                 id="images-not-a-list"),
    pytest.param("related: [x, {excerpt: e}, {title: [t]}]", "related", (),
                 ["field 'related[0]': expected a mapping with a title, got 'x'; dropped",
                  "field 'related[1]': no title; dropped",
                  "field 'related[2].title': expected text, got a list; ignored",
                  "field 'related[2]': no title; dropped"], id="related-bad-entries"),
    pytest.param("title: yes", "title", "true",
                 ["field 'title': YAML read true, a boolean; quote the title to keep it"], id="title-bool"),
    pytest.param("title: 2020-02-12", "title", "2020-02-12", [], id="title-date-coerced"),
    pytest.param("title: 12.5", "title", "12.5", [], id="title-number-coerced"),
    pytest.param("body: in front matter", "body", None,
                 ["field 'body': reserved for the text after the front matter; ignored"], id="body-key"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "attr", "expected", "warnings"), WARNINGS)
def test_field_problems_are_warnings(line: str, attr: str, expected: Any, warnings: list[str]) -> None:
    lines = [line] if line.startswith("title:") else ["title: T", line]
    article = parse(front(*lines))
    assert getattr(article, attr) == expected
    assert list(article.warnings) == warnings


def test_stub_fields_are_checked_like_the_articles() -> None:
    article = parse(
        front(
            "title: T",
            "related:",
            "  - title: ' Stub '",
            "    quality: x",
            "    publishedDateTime: 2020-02-12T06:00:00+02:00",
            "    provider: Daily",
            "    secured: s3cret",
            "    extra: {secured: s3cret, kept: 1}",
            "    images: [{url: u}]",
        )
    )
    (stub,) = article.related
    assert (stub.title, stub.quality, stub.url) == ("Stub", None, None)
    assert stub.provider == Provider("Daily", None)
    assert stub.published == datetime(2020, 2, 12, 4, tzinfo=UTC)
    assert stub.images == (Image("u"),)
    assert article.warnings == ("field 'related[0].quality': expected an integer 0-100, got 'x'; ignored",)
    assert stub.record == {
        "title": "Stub",
        "quality": "x",
        "publishedDateTime": "2020-02-12T04:00:00Z",
        "provider": "Daily",
        "extra": {"kept": 1},
        "images": [{"url": "u"}],
    }


@pytest.mark.parametrize(
    ("limits", "lines", "attr", "expected", "warning"),
    [
        pytest.param(Limits(max_title_chars=5), ["title: abcdefgh"], "title", "abcde",
                     "field 'title': 8 characters, over the 5 limit; truncated", id="long-title"),
        pytest.param(Limits(max_title_chars=5), ["title: 'abcd     efgh'"], "title", "abcd",
                     "field 'title': 13 characters, over the 5 limit; truncated", id="cut-is-stripped"),
        pytest.param(Limits(max_text_chars=3), ["title: T", "excerpt: abcdef"], "excerpt", "abc",
                     "field 'excerpt': 6 characters, over the 3 limit; truncated", id="long-excerpt"),
        pytest.param(Limits(max_list_items=2), ["title: T", "topics: [a, b, c]"], "topics", ("a", "b"),
                     "field 'topics': 3 items, over the 2 limit; kept the first 2", id="long-list"),
        pytest.param(Limits(max_list_items=1), ["title: T", "related: [{title: a}, {title: b}]"], "related",
                     1, "field 'related': 2 items, over the 1 limit; kept the first 1", id="long-related"),
    ],
)  # fmt: skip
def test_over_long_values_are_truncated_with_a_warning(
    limits: Limits, lines: list[str], attr: str, expected: Any, warning: str
) -> None:
    article = parse(front(*lines), limits=limits)
    value = getattr(article, attr)
    assert (len(value) if isinstance(expected, int) else value) == expected
    assert article.warnings == (warning,)


def test_very_long_title_with_default_limits() -> None:
    article = parse(front("title: " + "x" * 5000))
    assert article.title == "x" * 1000
    assert article.warnings == ("field 'title': 5,000 characters, over the 1,000 limit; truncated",)


def test_long_body_is_truncated() -> None:
    article = parse(front("title: T", body="0123456789"), limits=Limits(max_text_chars=4))
    assert article.body == "0123"
    assert article.warnings == ("field 'body': 10 characters, over the 4 limit; truncated",)


# --- text normalisation, layout variants ---------------------------------------------------------


def test_text_is_nfc_and_stripped_and_control_characters_are_kept_as_data() -> None:
    # Controls are data (the renderers show them as escapes): deleting them changed the
    # record and left "Title ]0;evil-title" behind.  Raw ones in the front matter, which
    # the YAML reader refuses, arrive too.
    article = parse(
        front(
            "title: '  Cafe\u0301 \x07news \x1b]0;evil-title\x07 \x9b31m'",
            'excerpt: "Line one\\nline two\\twith  two spaces\\e[31m\\x85"',
            "topics: ['\u212b\x01']",
            "k\x1b: v\x7f",
            body="\n\n  Body\x1b[0m \x85text\u0301\n\n",
        )
    )
    assert article.title == "Caf\u00e9 \x07news \x1b]0;evil-title\x07 \x9b31m"
    assert article.excerpt == "Line one\nline two\twith  two spaces\x1b[31m"  # \x85 is whitespace: stripped
    assert article.topics == (unicodedata.normalize("NFC", "\u212b\x01"),)
    assert article.extra == {"k\x1b": "v\x7f"}
    assert article.body == "Body\x1b[0m \x85" + unicodedata.normalize("NFC", "text\u0301")
    assert article.warnings == ()


def test_raw_controls_survive_whatever_private_use_characters_the_record_holds() -> None:
    stand_ins = "".join(chr(block + 0x1B) for block in range(0xFFF00, 0xF0000 - 1, -0x1000))
    article = parse(front(f"title: 'a\x1b {stand_ins[:5]}'"))
    assert article.title == f"a\x1b {stand_ins[:5]}"


def test_a_repeated_key_keeps_the_last_value_with_a_warning_naming_both_lines() -> None:
    article = parse(front("title: First", "excerpt: e", "title: Second", "provider: {name: A, name: B}"))
    assert article.title == "Second" and article.provider == Provider("B", None)
    assert article.warnings == (
        "key 'title' on line 4 repeats line 2; the last value is kept",
        "key 'name' on line 5 repeats line 5; the last value is kept",
    )
    merged = parse(front("title: x", "base: &b {a: 1, b: 2}", "m: {<<: *b, a: 3}"))
    assert merged.extra["m"] == {"a": 3, "b": 2} and merged.warnings == ()  # a merge override is no repeat


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JavaScript:alert(1)", "java\tscript:alert(1)", "data:text/html,x", "//evil.example/x",
            "www.example.com/page", "https://", "vbscript:msgbox(1)"],
)  # fmt: skip
def test_only_http_and_https_urls_become_links(url: str) -> None:
    text = front("title: x", f"webUrl: {json.dumps(url)}", f"ampWebUrl: {json.dumps(url)}",
                 "related:", "  - title: r", f"    webUrl: {json.dumps(url)}")  # fmt: skip
    article = parse(text)
    assert article.url is None and article.amp_url is None and article.related[0].url is None
    assert article.warnings[0] == f"field 'webUrl': {_show_url(url)} is not an http or https URL; ignored"
    assert len(article.warnings) == 3


def _show_url(url: str) -> str:
    return repr(url.strip())


def test_http_and_https_urls_are_kept() -> None:
    article = parse(front("title: x", "webUrl: HTTPS://example.com/a?b=1", "ampWebUrl: http://example.com/amp"))
    assert (article.url, article.amp_url, article.warnings) == ("HTTPS://example.com/a?b=1", "http://example.com/amp", ())


def test_bom_and_crlf_are_accepted() -> None:
    data = "\ufeff---\r\ntitle: T\r\nexcerpt: E\r\n---\r\n\r\nLine 1\r\nLine 2\r\n".encode()
    article = parse(data)
    assert (article.title, article.excerpt, article.body) == ("T", "E", "Line 1\nLine 2")


def test_dots_close_the_front_matter_too() -> None:
    article = parse("---\ntitle: T\n...\nBody\n")
    assert (article.title, article.body) == ("T", "Body")


def test_closing_line_may_have_trailing_blanks_but_not_other_text() -> None:
    assert parse("--- \ntitle: T\n---  \nBody").body == "Body"
    assert fails("---\ntitle: T\n---x\n").problem == "unterminated front matter: no closing '---' line"


@pytest.mark.parametrize(
    ("text", "body"),
    [
        pytest.param(front("title: T"), None, id="absent"),
        pytest.param(front("title: T", body="\n\n   \n"), None, id="blank"),
        pytest.param(front("title: T", body="\nFirst.\n\nSecond.\n"), "First.\n\nSecond.", id="present"),
        pytest.param("---\ntitle: T\n---", None, id="no-final-newline"),
        pytest.param(front("title: T", body="--- not a closer ---\n"), "--- not a closer ---", id="dashes"),
    ],
)
def test_body(text: str, body: str | None) -> None:
    assert parse(text).body == body


@pytest.mark.parametrize(
    ("name", "text", "title", "body"),
    [
        pytest.param("a.yaml", "title: T\nexcerpt: E\n", "T", None, id="yaml-without-delimiters"),
        pytest.param("a.YML", "title: T\n", "T", None, id="yml-upper-case"),
        pytest.param("a.yaml", "---\ntitle: T\n", "T", None, id="yaml-opened-not-closed"),
        pytest.param("a.yaml", "---\ntitle: T\n---\nBody", "T", "Body", id="yaml-with-front-matter"),
    ],
)
def test_yaml_files(name: str, text: str, title: str, body: str | None) -> None:
    article = parse(text, name=name)
    assert (article.title, article.body) == (title, body)


def test_unknown_fields_are_kept_json_safe() -> None:
    article = parse(
        front(
            "title: T",
            "docId: 17",
            "places: [usa, uk]",
            "when: 2020-02-12T06:00:00+02:00",
            "day: 2020-02-12",
            "nested: {a: [1, 2.5, null, true], 3: x, null: y, 2020-01-01: z}",
            "blob: !!binary aGVsbG8=",
            "tags: !!set {b, a}",
            "inf: .inf",
            "huge: 123456789012345678901234567890",
            "'ctl\x07': 'v\x1b'",
        )
    )
    assert article.extra == {
        "docId": 17,
        "places": ["usa", "uk"],
        "when": "2020-02-12T04:00:00Z",
        "day": "2020-02-12",
        "nested": {"a": [1, 2.5, None, True], "3": "x", "null": "y", "2020-01-01": "z"},
        "blob": "aGVsbG8=",
        "tags": ["a", "b"],
        "inf": "inf",
        "huge": "123456789012345678901234567890",
        "ctl\x07": "v\x1b",  # control characters are data
    }
    assert article.warnings == ()
    assert json.loads(json.dumps(article.extra)) == article.extra


def test_values_pyyaml_cannot_convert_stay_text() -> None:
    article = parse(front("title: T", "a: 0b_", "b: ._", "c: !!bool maybe", "d: !!timestamp nope"))
    assert article.extra == {"a": "0b_", "b": "._", "c": "maybe", "d": "nope"}


def test_secured_is_dropped_everywhere() -> None:
    article = parse(
        front(
            "title: T",
            "secured: TOPSECRET1",
            "places: {secured: TOPSECRET2, x: [{secured: TOPSECRET3}]}",
            "related:",
            "  - title: S",
            "    secured: TOPSECRET4",
            "    provider: {name: P, secured: TOPSECRET5}",
        )
    )
    record = article.to_record()
    assert record["places"] == {"x": [{}]}
    assert record["related"] == [{"title": "S", "provider": {"name": "P"}}]
    for text in (repr(article), json.dumps(record), repr(article.related)):
        assert "secured" not in text
        assert "TOPSECRET" not in text


def test_secured_in_another_case_is_dropped_too() -> None:
    # A blob that must never be shown is not kept because its key was typed `Secured`.
    article = parse(
        front(
            "title: T",
            "Secured: TOPSECRET1",
            "places: {SECURED: TOPSECRET2, sEcUrEd: TOPSECRET3, kept: 1}",
            "related:",
            "  - title: S",
            "    Secured: TOPSECRET4",
        )
    )
    record = article.to_record()
    assert record["places"] == {"kept": 1}
    assert record["related"] == [{"title": "S"}]
    for text in (repr(article), json.dumps(record), repr(article.related)):
        assert "TOPSECRET" not in text


def test_to_record_omits_empty_values_and_puts_extra_then_body_last() -> None:
    article = parse(
        front(
            "zeta: 1",
            "title: T",
            "quality: 0",
            "heat: 0",
            "published: false",
            "topics: []",
            "excerpt: ''",
            "provider: {domain: X.ORG}",
            "images: [{url: u, title: i}]",
            "places: null",
            body="B",
        )
    )
    assert article.to_record() == {
        "title": "T",
        "quality": 0,
        "heat": 0,
        "published": False,
        "provider": {"domain": "x.org"},
        "images": [{"url": "u", "title": "i"}],
        "zeta": 1,
        "body": "B",
    }
    assert list(article.to_record())[-2:] == ["zeta", "body"]


def test_article_path_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_record(front("title: T").encode(), Path("x/a.md")).path == tmp_path / "x" / "a.md"


# --- parse_datetime ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2020", datetime(2020, 1, 1, tzinfo=UTC)),
        ("2020-02", datetime(2020, 2, 1, tzinfo=UTC)),
        ("2020-02-12", datetime(2020, 2, 12, tzinfo=UTC)),
        ("2020-02-12T04:00", datetime(2020, 2, 12, 4, tzinfo=UTC)),
        ("2020-02-12T04:00:00Z", datetime(2020, 2, 12, 4, tzinfo=UTC)),
        ("2020-02-12t04:00:00z", datetime(2020, 2, 12, 4, tzinfo=UTC)),
        ("2020-02-12T06:00:00+02:00", datetime(2020, 2, 12, 4, tzinfo=UTC)),
        ("2020-02-12 06:00:00+0200", datetime(2020, 2, 12, 4, tzinfo=UTC)),
        ("2020-02-12T02:00:00-02", datetime(2020, 2, 12, 4, tzinfo=UTC)),
        ("2020-02-12T04:00:00.5Z", datetime(2020, 2, 12, 4, 0, 0, 500000, tzinfo=UTC)),
        ("2020-02-12T04:00:00.1234567Z", datetime(2020, 2, 12, 4, 0, 0, 123456, tzinfo=UTC)),
        (" 2020-02-12 ", datetime(2020, 2, 12, tzinfo=UTC)),
        (datetime(2020, 2, 12, 4), datetime(2020, 2, 12, 4, tzinfo=UTC)),
        (datetime(2020, 2, 12, 6, tzinfo=timezone(timedelta(hours=2))), datetime(2020, 2, 12, 4, tzinfo=UTC)),
        (date(2020, 2, 12), datetime(2020, 2, 12, tzinfo=UTC)),
    ],
    ids=repr,
)  # fmt: skip
def test_parse_datetime_accepts(value: object, expected: datetime) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2020-13-45", "invalid date '2020-13-45': month must be in 1..12"),
        ("2020-02-30", "invalid date '2020-02-30': day is out of range for month"),
        ("2020-02-12T25:00", "invalid date '2020-02-12T25:00': hour must be in 0..23"),
        ("yesterday", "not a date: 'yesterday' (expected ISO 8601, e.g. 2020-02-12 or 2020-02-12T04:00:00Z)"),
        ("", "not a date: ''"),
        ("12/02/2020", "not a date: '12/02/2020'"),
        ("2020-02-12T04", "not a date: '2020-02-12T04'"),
        ("0001-01-01T00:00+01:00", "invalid date '0001-01-01T00:00+01:00': date value out of range"),
        (True, "expected a date, got true"),
        (20200212, "expected a date, got 20200212"),
        (None, "expected a date, got null"),
    ],
    ids=repr,
)  # fmt: skip
def test_parse_datetime_rejects_with_a_readable_message(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_datetime(value)


# --- walk() --------------------------------------------------------------------------------------


def make_tree(root: Path, *files: str) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(front(f"title: {name}"))


def listed(items: list[SourceFile | RecordError], root: Path) -> list[str]:
    """Files as paths relative to root, problems as 'path: problem'."""
    out = []
    for item in items:
        if isinstance(item, RecordError):
            out.append(f"{Path(item.path).relative_to(root)}: {item.problem}")
        else:
            out.append(str(Path(item.path).relative_to(root)))
    return out


def test_walk_yields_matching_files_in_sorted_order(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        "b.md", "a.md", "b/c.txt", "b/a.markdown", "c.yaml", "d.yml", "e.MD", "f.json", "g.md.bak",
        ".hidden.md", ".git/x.md", "z/.x/y.md", "z/y.md",
    )  # fmt: skip
    assert listed(list(walk([tmp_path])), tmp_path) == [
        "a.md", "b/a.markdown", "b/c.txt", "b.md", "c.yaml", "d.yml", "e.MD", "z/y.md",
    ]  # fmt: skip


def test_walk_gives_absolute_paths_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path, "r/a.md")
    monkeypatch.chdir(tmp_path)
    (item,) = walk(["r"])
    assert isinstance(item, SourceFile)
    st = (tmp_path / "r" / "a.md").stat()
    assert item == SourceFile(str(tmp_path / "r" / "a.md"), st.st_size, st.st_mtime_ns)


def test_walk_extensions_option(tmp_path: Path) -> None:
    make_tree(tmp_path, "a.md", "b.txt", "c.TXT")
    assert listed(list(walk([tmp_path], extensions=(".txt",))), tmp_path) == ["b.txt", "c.TXT"]
    assert EXTENSIONS == (".md", ".markdown", ".txt", ".yaml", ".yml")


def test_a_file_root_is_yielded_whatever_its_extension(tmp_path: Path) -> None:
    make_tree(tmp_path, "notes.json", "dir/a.md")
    items = list(walk([tmp_path / "notes.json", tmp_path / "dir"]))
    assert listed(items, tmp_path) == ["notes.json", "dir/a.md"]


def test_missing_root_raises_usage_error_before_yielding_anything(tmp_path: Path) -> None:
    make_tree(tmp_path, "a.md")
    missing = tmp_path / "gone"
    with pytest.raises(UsageError) as caught:
        walk([tmp_path, missing])
    assert str(caught.value) == f"no such file or folder: {missing}"
    assert caught.value.option == "PATH"


def test_symlinks_are_reported_not_followed_by_default(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    make_tree(root, "a.md")
    make_tree(outside, "x.md")
    (root / "dir-link").symlink_to(outside)
    (root / "file-link.md").symlink_to(outside / "x.md")
    (root / "other-link.png").symlink_to(outside / "x.md")  # not a record name: ignored
    items = list(walk([root]))
    assert listed(items, root) == [
        "a.md",
        "dir-link: symbolic link not followed",
        "file-link.md: symbolic link not followed",
    ]
    assert {i.hint for i in items if isinstance(i, RecordError)} == {
        "pass `follow_symlinks` to index what it points to"  # the CLI says --follow-symlinks (test_cli)
    }


def test_follow_symlinks_keeps_the_link_path_and_never_yields_a_file_twice(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    make_tree(root, "a.md", "sub/b.md")
    make_tree(outside, "x.md")
    (root / "ext").symlink_to(outside)  # a link outside the root
    (root / "b-link.md").symlink_to(root / "sub" / "b.md")  # same file as sub/b.md
    (root / "sub2").symlink_to(root / "sub")  # same folder as sub
    (root / "broken.md").symlink_to(tmp_path / "nowhere.md")
    items = list(walk([root], follow_symlinks=True))
    assert listed(items, root) == ["a.md", "b-link.md", "broken.md: broken symbolic link", "ext/x.md"]


def test_symlink_loops_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_tree(root, "a/b.md")
    (root / "a" / "up").symlink_to(root)
    (root / "self.md").symlink_to(root / "self.md")
    items = list(walk([root], follow_symlinks=True))
    assert listed(items, root) == ["a/b.md", "a/up: symbolic link loop", "self.md: symbolic link loop"]


def test_a_root_that_is_a_symlink_is_followed(tmp_path: Path) -> None:
    make_tree(tmp_path, "real/a.md")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert listed(list(walk([tmp_path / "link"])), tmp_path) == ["link/a.md"]


def test_files_and_folders_that_vanish_during_the_walk_are_reported(tmp_path: Path) -> None:
    make_tree(tmp_path, "a.md", "b.md", "c/d.md", "e.md")
    items = walk([tmp_path])
    assert listed([next(items)], tmp_path) == ["a.md"]
    (tmp_path / "b.md").unlink()
    (tmp_path / "c" / "d.md").unlink()
    (tmp_path / "c").rmdir()
    assert listed(list(items), tmp_path) == [
        "b.md: vanished during the walk",
        "c: folder vanished during the walk",
        "e.md",
    ]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read the folder anyway")
def test_unreadable_folder_is_reported_and_the_walk_goes_on(tmp_path: Path) -> None:
    make_tree(tmp_path, "a/x.md", "b.md")
    (tmp_path / "a").chmod(0)
    try:
        items = list(walk([tmp_path]))
    finally:
        (tmp_path / "a").chmod(0o755)
    assert listed(items, tmp_path) == ["a: cannot read folder: permission denied", "b.md"]


def _deny(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """os.scandir(folder) fails as for a folder without read permission (tests run as root)."""
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == str(folder):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(search.records.os, "scandir", scandir)


def test_a_folder_that_cannot_be_listed_is_a_folder_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_tree(tmp_path, "a/x.md", "b.md")
    _deny(monkeypatch, tmp_path / "a")
    items = list(walk([tmp_path]))
    assert listed(items, tmp_path) == ["a: cannot read folder: permission denied", "b.md"]
    assert isinstance(items[0], FolderError) and "records are kept" in (items[0].hint or "")
    assert pickle.loads(pickle.dumps(items[0])).__class__ is FolderError


def test_names_that_are_not_utf8_are_skipped_by_name_never_fatal(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path)
    (tmp_path / "ok.md").write_text("---\ntitle: ok\n---\n", "utf-8")
    with open(raw + b"/lat\xff\xfe.md", "w") as handle:
        handle.write("---\ntitle: x\n---\nb\n")
    os.mkdir(raw + b"/dir\xe9")
    with open(raw + b"/dir\xe9/inside.md", "w") as handle:
        handle.write("---\ntitle: y\n---\n")
    with open(raw + b"/notes\xff.bin", "w") as handle:  # not a record name: not mentioned
        handle.write("x")
    items = list(walk([tmp_path]))
    folder, file = os.fsdecode(b"dir\xe9"), os.fsdecode(b"lat\xff\xfe.md")
    assert listed(items, tmp_path) == [
        folder + ": folder name is not valid UTF-8 (the \\xNN are its bytes that are not)",
        file + ": file name is not valid UTF-8 (the \\xNN are its bytes that are not)",
        "ok.md",
    ]
    with pytest.raises(UsageError, match="not a valid UTF-8 name"):
        list(walk([os.fsdecode(raw + b"/dir\xe9")]))


# --- the shared corpora ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("parts", "count"),
    [
        (("corpora", "reuters21578.tar.gz"), 20_841),
        (("corpora", "bbc.tar.gz"), 2_225),
        (("relevance", "cisi", "docs.tar.gz"), 1_460),
        (("relevance", "med", "docs.tar.gz"), 1_033),
    ],
    ids=["reuters", "bbc", "cisi", "med"],
)
def test_shared_corpora_parse_without_errors_or_warnings(
    unpack: Callable[..., Path], parts: tuple[str, ...], count: int
) -> None:
    articles = [load_record(item.path) for item in walk([unpack(*parts)]) if isinstance(item, SourceFile)]
    assert len(articles) == count
    assert [a.warnings for a in articles if a.warnings] == []


# --- properties ----------------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)


def clean(text: str) -> str:
    """The documented normalisation: NFC, stripped; control characters are data."""
    return unicodedata.normalize("NFC", text).strip()


def parses_or_fails(data: bytes, name: str = "a.md") -> None:
    try:
        article = parse_record(data, Path(name))
    except RecordError as error:
        assert error.path == name and error.problem
    else:
        assert article.title and article.title == clean(article.title)
        json.dumps(article.to_record())


@PROPERTY
@given(st.one_of(st.binary(max_size=500), st.binary(max_size=500).map(lambda b: b"---\n" + b)))
def test_any_bytes_give_an_article_or_a_record_error(data: bytes) -> None:
    parses_or_fails(data)


# PyYAML itself folds NEL (U+0085) into a space on a round trip, so it is left out.
texts = st.text(st.characters(exclude_characters="\x85", exclude_categories=["Cs"]), max_size=40)
zones = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@PROPERTY
@given(
    title=texts.filter(lambda t: clean(t) != ""),
    topics=st.lists(texts, max_size=5),
    quality=st.none() | st.integers(0, 100),
    published=st.none() | st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1), timezones=zones),
    allow_unicode=st.booleans(),
)
def test_valid_records_round_trip(
    title: str, topics: list[str], quality: int | None, published: datetime | None, allow_unicode: bool
) -> None:
    fields: dict[str, Any] = {"title": title, "topics": topics}
    if quality is not None:
        fields["quality"] = quality
    if published is not None:
        fields["publishedDateTime"] = published
    data = "---\n" + yaml.safe_dump(fields, allow_unicode=allow_unicode, sort_keys=False) + "---\n"
    article = parse(data.encode("utf-8"))
    assert article.title == clean(title)[:1000].rstrip()
    assert article.topics == tuple(dict.fromkeys(t for t in map(clean, topics) if t))
    assert article.quality == quality
    assert article.published == (published.astimezone(UTC) if published else None)
    assert article.warnings == ()


YAMLISH = st.lists(
    st.sampled_from([
        "title", "excerpt", "topics", "quality", "related", "images", "provider", "secured", "x",
        ": ", ":", " ", "  ", "\n", "\n  ", "\t", "- ", "? ", "[", "]", "{", "}", ",", "'", '"', "\\",
        "&a ", "*a", "&b ", "*b", "<<", "!!python/object/apply:os.system ", "!foo ", "!!str ", "!!int ",
        "!!float ", "!!bool ", "!!binary ", "!!set ", "!!omap ", "!!timestamp ", "!!null ", "|", ">",
        "#", "---", "...", "%YAML 1.1", "2020-13-45", "2020-02-12T04:00:00", "0b_", "._", "0x",
        "1e9", "true", "null", "~", "-5", "3.7", "é", "\x07", "\r\n", "\ufeff",
    ]),
    max_size=40,
)  # fmt: skip


@PROPERTY
@given(YAMLISH, st.booleans())
def test_yamlish_text_gives_an_article_or_a_record_error(tokens: list[str], with_title: bool) -> None:
    text = ("title: T\n" if with_title else "") + "".join(tokens)
    parses_or_fails(("---\n" + text + "\n---\nbody\n").encode("utf-8"))
    parses_or_fails(text.encode("utf-8"), name="a.yaml")


def test_a_set_tag_on_a_scalar_is_a_record_error(tmp_path: Path) -> None:
    """`!!set` on a scalar made the merge-key loader read a string as nodes (found by hypothesis)."""
    path = tmp_path / "set.md"
    for text in ("---\n!!set <<\n---\n", "---\n!!set plain\n---\n", "---\ntitle: T\nx: !!set <<\n---\n"):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(RecordError) as caught:
            load_record(path)
        assert str(path) in str(caught.value)


# --- the simple-front-matter reader (records._simple_yaml) ----------------------------------------


def _typed(value: Any) -> Any:
    """A value with every type spelled out: True == 1 and 1.0 == 1 would hide a wrong type."""
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    return (type(value).__name__, repr(value))


def _pyyaml(text: str) -> tuple[Any, bool] | None:
    """What the records' PyYAML loader makes of `text` (and whether a key repeats), None if it fails."""
    loader = search.records._Loader(text)
    try:
        return loader.get_single_data(), bool(loader.repeated)
    except Exception:  # noqa: BLE001 - any failure: the simple reader must have declined
        return None
    finally:
        loader.dispose()


_KEYS = ["title", "excerpt", "a-b", "_x", "y", "n", "yes", "No", "on", "OFF", "null", "Null", "true", "x1", "topics", "<<"]
_SCALARS = [
    "", "~", "null", "NULL", "yes", "No", "on", "y", "12", "-5", "+3", "0x1F", "0o17", "017", "0b101", "1_000", "1:30",
    "190:20:30", "3.5", "1e3", "1.5e3", ".inf", "-.Inf", ".nan", "2020-01-01", "2020-13-45", "1987-02-26T16:35:16Z",
    "2001-12-14 21:59:43.10 -5", "a: b", "a:b", "a #b", "a#b", "x:", "'q'", "'it''s'", "'bad'q'", "''", "'", '"x"',
    '""', '"', '"a\\nb"', '"a"b"', '"it\'s"', "<<", "=", "[a, b]", "{a: 1}", "&a x", "*a", "!!str 5", "!x y", "| x",
    "> x", "%x", "@x", "`x", "? x", "-x", "- x", ":x", ",x", "http://x.y/z?q=1#f", "U.S. rates", "a  b",
    "N.Z. TRADING BANK", "café", "0", "-0", "00", "1__0", "0x_", "12:", "a\tb", "a\u2028b", "a\ufeffb",
]  # fmt: skip


@st.composite
def _front_matter(draw: st.DrawFn) -> str:
    """Front matter made of the shapes the simple reader takes, and of the ones it must not mistake for them."""
    scalar = st.one_of(st.sampled_from(_SCALARS), st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=12))
    key = st.one_of(st.sampled_from(_KEYS), st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True))
    lines: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        shape = draw(st.sampled_from(["scalar", "list", "mapping", "blank", "comment", "stray"]))
        sep = draw(st.sampled_from([": ", ":  ", ":"]))
        name = draw(key)
        if shape == "scalar":
            lines.append(f"{name}{sep}{draw(scalar)}{draw(st.sampled_from(['', ' ', '  # c']))}")
        elif shape in ("list", "mapping"):
            lines.append(f"{name}:{draw(st.sampled_from(['', ' ']))}")
            indent = " " * draw(st.sampled_from([0, 2, 4]) if shape == "list" else st.sampled_from([1, 2, 4]))
            for _ in range(draw(st.integers(0, 3))):
                if shape == "list":
                    lines.append(f"{indent}{draw(st.sampled_from(['- ', '-', '-  ']))}{draw(scalar)}")
                else:
                    inner_indent = indent if draw(st.booleans()) else indent + " "
                    lines.append(f"{inner_indent}{draw(key)}{draw(st.sampled_from([': ', ':']))}{draw(scalar)}")
        elif shape == "blank":
            lines.append(draw(st.sampled_from(["", "  ", "\u00a0"])))
        elif shape == "comment":
            lines.append(draw(st.sampled_from(["# note", "  # note", "#"])))
        else:
            lines.append(draw(st.sampled_from(["  continued", "- item", "-5", "--- x", "... x", "%YAML 1.1", "\tkey: v"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=600, deadline=None)
@given(_front_matter())
def test_the_simple_reader_reads_front_matter_as_pyyaml_does_or_declines_it(text: str) -> None:
    simple = search.records._simple_yaml(text)
    if simple is None:
        return
    loaded = _pyyaml(text)
    assert loaded is not None, "PyYAML refuses what the simple reader read"
    value, repeated = loaded
    assert not repeated, "a repeated key must go to PyYAML, which warns of it"
    assert _typed(simple) == _typed(value)


@pytest.mark.parametrize(
    "text",
    [
        "title: x\nexcerpt: a\n  continued\n", "title: x\ntitle: y\n", "yes: x\n", "title: 'a\nb'\n",
        "title: x # comment\n", 'title: "a\\tb"\n', "title: &a x\nother: *a\n", "title: [a, b]\n",
        "provider:\n  name: a\n    deeper: b\n", "topics:\n- a\n  - b\n", "title: x\n<<: {a: 1}\n",
        "title: x\n\tkey: v\n", "- a\n- b\n", "title: a\u2028b\n",
    ],
)  # fmt: skip
def test_the_simple_reader_declines_what_only_pyyaml_reads_right(text: str) -> None:
    assert search.records._simple_yaml(text) is None


def test_a_newswire_record_is_read_without_pyyamls_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: Any) -> None:
        raise AssertionError("PyYAML's parser ran")

    monkeypatch.setattr(search.records._Loader, "get_single_data", refuse)
    article = parse(front(
        "category: news", "title: N.Z. TRADING BANK DEPOSIT GROWTH RISES SLIGHTLY",
        "excerpt: New Zealand's trading bank deposit growth rose 2.6 pct in January.",
        "publishedDateTime: 1987-02-26T16:35:16Z", "type: article", "quality: 71", 'webUrl: "https://example.com/a"',
        "provider:", "  name: Reuters", "  domain: reuters.com", "topics:", "- money-supply", "places:", "- new-zealand",
        body="New Zealand's trading bank seasonally adjusted deposit growth rose 2.6 pct.\n",
    ))  # fmt: skip
    assert article.title == "N.Z. TRADING BANK DEPOSIT GROWTH RISES SLIGHTLY"
    assert article.published == datetime(1987, 2, 26, 16, 35, 16, tzinfo=UTC)
    assert article.provider == Provider("Reuters", "reuters.com") and article.topics == ("money-supply",)
    assert article.quality == 71 and article.url == "https://example.com/a"
    assert article.extra == {"places": ["new-zealand"]}
    assert article.warnings == ()


def test_every_seed_reads_the_same_through_the_simple_reader_and_pyyaml() -> None:
    for seed in sorted(SEEDS.iterdir()):
        text = seed.read_text(encoding="utf-8")
        matter = text.split("\n---\n", 1)[0].removeprefix("---\n") + "\n"
        simple = search.records._simple_yaml(matter)
        if simple is not None:
            loaded = _pyyaml(matter)
            assert loaded is not None and _typed(simple) == _typed(loaded[0]), seed.name
