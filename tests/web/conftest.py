"""Fixtures of the web tests: an index of seeds/ plus hostile records, a test client, a live server."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the [web] extra is not installed: pip install -e '.[test]'")

from fastapi.testclient import TestClient  # noqa: E402
from webutil import SEEDS, START_SECONDS, wait_until_up, write_hostile  # noqa: E402

from search import build_index  # noqa: E402
from search.web.app import create_app  # noqa: E402
from search.web.config import WebConfig  # noqa: E402


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hostile(tmp_path_factory.mktemp("hostile") / "hostile")


@pytest.fixture(scope="session")
def web_index_dir(tmp_path_factory: pytest.TempPathFactory, hostile_dir: Path) -> Path:
    """seeds/ plus the hostile records, built once; read-only for the tests."""
    index_dir = tmp_path_factory.mktemp("web-index") / "index"
    report = build_index([SEEDS, hostile_dir], index_dir)
    assert not report.skipped, report.skipped
    return index_dir


@pytest.fixture(scope="session")
def client(web_index_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(WebConfig(index_dir=web_index_dir)), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def live_server(web_index_dir: Path) -> Iterator[str]:
    """The app on uvicorn in a thread of this process, for the browser tests."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(WebConfig(index_dir=web_index_dir)), log_level="warning", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base)
        yield base
    finally:
        server.should_exit = True
        thread.join(START_SECONDS)
        sock.close()
