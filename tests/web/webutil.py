"""Helpers of the web tests: hostile records, a `search serve` subprocess.

The hostile records hold markup and script URLs in every field the page
shows (title, excerpt, provider, topics, webUrl, a related stub); each
payload would set `window.__pwned` or the document's title if it ever ran.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import yaml


REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
#: Only bounds a wait for a server that never comes up; never a measure of speed.
START_SECONDS = 60.0

HOSTILE = {
    "h01-script-title.md": """\
title: "<script>window.__pwned='title';document.title='PWNED'</script>Zyxwv hostile headline <img src=x onerror=\\"window.__pwned='img'\\">"
excerpt: "Zyxwv excerpt with <b>bold</b>, \\"double\\" & 'single' quotes <svg onload=window.__pwned='svg'>"
publishedDateTime: "2021-03-04T05:06:07Z"
webUrl: "javascript:window.__pwned='href'"
provider:
  name: "<img src=x onerror=window.__pwned='provider'>Evil Corp"
  domain: "evil.example"
topics:
  - "<script>window.__pwned='topic'</script>"
  - "Hostile\\" onmouseover=\\"window.__pwned='attr'"
related:
  - title: "<iframe src=\\"javascript:window.__pwned='stub'\\"></iframe>Zyxwv stub"
    webUrl: "javascript:alert(1)"
secured: "SECRET-zyxwv-blob-never-shown"
""",
    "h02-data-url.md": """\
title: "Zyxwv second hostile: \\"quoted\\" </title></head><body onload=window.__pwned='body'>"
excerpt: "Zyxwv ']]></script><script>window.__pwned='cdata'</script>"
publishedDateTime: "2022-01-02T00:00:00Z"
webUrl: "  JaVaScRiPt:window.__pwned='mixed-case'"
provider:
  name: "Zyxwv & Sons \\"Quoted\\""
  domain: "sons.example"
topics: ["Hostile", "a&b <c>"]
""",
    "h03-quote-url.md": """\
title: "Zyxwv third: a real link with quotes"
excerpt: "Zyxwv a valid https URL whose query holds quotes and angle brackets."
publishedDateTime: "2023-05-06T00:00:00Z"
webUrl: "https://news.example/a?x=\\"><script>window.__pwned='url'</script>"
provider:
  name: "Data Url Times"
  domain: "data.example"
topics: ["Hostile"]
related:
  - title: "Zyxwv data stub"
    webUrl: "data:text/html,<script>window.__pwned='data'</script>"
""",
}
SECRET = "SECRET-zyxwv-blob-never-shown"
#: A record whose file name, title and provider hold bidi overrides and
#: zero-width characters (shown escaped, never obeyed).
ODD_NAME = "h04-odd\u202egpj\u200b.md"
ODD_FRONT = """\
title: "Zyxwv invoice \u202eexe.fdp with a zero\u200bwidth space"
excerpt: "Zyxwv odd name"
provider:
  name: "Bidi \u2066News\u2069"
  domain: "bidi.example"
"""


def _seed_secured() -> str:
    front = (SEEDS / "000_ca32df7d61dcae32.txt").read_text("utf-8").split("\n---", 1)[0]
    secured: str = yaml.safe_load(front.removeprefix("---\n"))["secured"]
    return secured[40:72]


#: A piece of the original record's `secured` blob.
SEED_SECURED = _seed_secured()


def write_hostile(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, front in HOSTILE.items():
        (folder / name).write_text(f"---\n{front}---\nZyxwv body <script>window.__pwned='body-text'</script>\n", "utf-8")
    (folder / ODD_NAME).write_text(f"---\n{ODD_FRONT}---\n", "utf-8")
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_up(base: str, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode} before answering")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
                if response.status == 200:
                    return
        time.sleep(0.1)
    raise AssertionError(f"no answer from {base} within {START_SECONDS}s")


@contextlib.contextmanager
def serve(index_dir: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """`search serve` in a subprocess on a free loopback port, its stderr in a
    file beside the index (the third value); stopped with SIGTERM if still up."""
    port = free_port()
    log = index_dir.parent / f"serve-{port}.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "search", "serve", "--index", str(index_dir), "--port", str(port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "COLUMNS": "200"},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc)
        yield base, proc, log
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(START_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
