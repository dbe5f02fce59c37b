"""`search serve` as a user runs it: a subprocess on loopback, signals, swaps, huge requests."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from webutil import SEEDS, START_SECONDS, free_port, serve

from search import build_index
from search.storage.store import Store


def get_json(base: str, path: str, **params: object) -> tuple[int, object]:
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_listens_on_loopback_and_stops_cleanly(web_index_dir: Path, signum: signal.Signals) -> None:
    with serve(web_index_dir) as (base, proc, log):
        assert get_json(base, "/api/search", q="moon")[0] == 200
        proc.send_signal(signum)
        assert proc.wait(START_SECONDS) == 0
        stderr = log.read_text()
    assert f"Serving {web_index_dir} on {base}" in stderr
    assert base.startswith("http://127.0.0.1:")
    assert "Traceback" not in stderr


def test_an_oversized_query_is_a_json_400_through_the_server(web_index_dir: Path) -> None:
    with serve(web_index_dir) as (base, _proc, _log):
        host, port = urllib.parse.urlsplit(base).netloc.split(":")
        for query in ("a" * 200_000, "%41" * 200_000):
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.request("GET", "/api/search?q=" + query)
            response = connection.getresponse()
            body = json.loads(response.read())
            connection.close()
            assert response.status == 400
            assert body["error"]["parameter"] == "q"


def test_no_request_fails_while_generations_swap(tmp_path: Path) -> None:
    """Full rebuilds publish new generations (and an incremental run commits)
    under a live server: every request answers 200, and each new record is
    found without a restart."""
    records = tmp_path / "records"
    shutil.copytree(SEEDS, records)
    index_dir = tmp_path / "index"
    build_index([records], index_dir)
    store = Store(index_dir)
    statuses: list[int] = []
    stop = threading.Event()

    with serve(index_dir) as (base, _proc, _log):

        def hammer() -> None:
            while not stop.is_set():
                for path, params in (("/api/search", {"q": "rates bank", "limit": 5}), ("/api/stats", {})):
                    statuses.append(get_json(base, path, **params)[0])

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            generations = {store.current_name()}
            for n in range(4):
                word = f"quokka{n}"
                (records / f"zz-{word}.md").write_text(f"---\ntitle: The {word} story\n---\n", "utf-8")
                build_index([records], index_dir, full=n != 3)  # the last run is incremental
                generations.add(store.current_name())
                deadline = time.monotonic() + START_SECONDS
                while get_json(base, "/api/search", q=word)[1]["total"] != 1:  # type: ignore[index]
                    assert time.monotonic() < deadline, f"{word} never became searchable"
                    time.sleep(0.05)
        finally:
            stop.set()
            for thread in threads:
                thread.join(START_SECONDS)
    assert len(generations) == 4  # three full rebuilds swapped in a new generation each
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_time_limit_that_is_not_a_number_is_refused_at_start(web_index_dir: Path, how: str) -> None:
    # F8: `--time-limit nan` started, then answered every request 400.
    extra, env = (["--time-limit", "nan"], {}) if how == "option" else ([], {"SEARCH_TIME_LIMIT": "nan"})
    command = [sys.executable, "-m", "search", "serve", "--index", str(web_index_dir), "--port", str(free_port())]
    done = subprocess.run(
        [*command, *extra], env={**os.environ, **env}, capture_output=True, text=True, timeout=START_SECONDS
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Error: --time-limit must be 0 or more seconds, not nan")
    assert "Serving" not in done.stderr
