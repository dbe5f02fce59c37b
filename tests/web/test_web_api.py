"""The JSON API through an ASGI test client: the CLI's JSON, its errors, its safety.

Every body is compared with what `search ... --json` prints over the same
index, so the API cannot drift from the library's typed results.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.main import get_command
from typer.testing import CliRunner

from search.cli.main import app as cli_app
from search.web.app import create_app
from search.web.config import WebConfig
from search.web.security import CSP

from webutil import REPO, SECRET, SEED_SECURED

RUNNER = CliRunner(env={"COLUMNS": "400"})


def cli_json(*args: object) -> Any:
    result = RUNNER.invoke(cli_app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def ok(client: TestClient, url: str, **params: Any) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


@pytest.mark.parametrize(
    ("params", "cli_args"),
    [
        ({"q": "facial recognition"}, ["facial recognition"]),
        ({"q": "bank rates", "sort": "newest", "limit": 3, "page": 2}, ["bank rates", "--sort", "newest", "-n", 3, "-p", 2]),
        (
            {"q": "", "topic": ["AI", "Privacy"], "provider": "The Financial Times"},
            ["", "--topic", "AI", "--topic", "Privacy", "--provider", "The Financial Times"],
        ),
        ({"q": "moon", "since": "2020", "until": "2024-06"}, ["moon", "--since", "2020", "--until", "2024-06"]),
        ({"q": "rates", "boost": ["recency:30d", "quality"]}, ["rates", "--boost", "recency:30d", "--boost", "quality"]),
        ({"q": "japan moon", "collapse": "false", "explain": "true"}, ["japan moon", "--no-collapse", "--explain"]),
        ({"q": "title:moon", "raw": "true", "feedback": "false"}, ["title:moon", "--raw", "--no-feedback"]),
        ({"q": "facail recogniton"}, ["facail recogniton"]),
    ],
)
def test_search_answers_what_the_cli_prints(
    client: TestClient, web_index_dir: Path, params: dict[str, Any], cli_args: list[object]
) -> None:
    expected = cli_json("query", *cli_args, "--index", web_index_dir, "--json")
    assert ok(client, "/api/search", **params) == expected


def test_search_parameters_are_the_cli_options(client: TestClient) -> None:
    """Every filter and option of `search query`, by the same name (TEXT is `q`);
    --index and --backend pick the index to open, which is the server's choice."""
    command = get_command(cli_app).commands["query"]  # type: ignore[attr-defined]
    cli_names = {"q" if p.name == "text" else p.name for p in command.params} - {"index", "backend", "as_json"}
    schema = client.get("/openapi.json").json()
    api_names = {p["name"] for p in schema["paths"]["/api/search"]["get"]["parameters"]}
    assert api_names == cli_names


def test_other_routes_answer_what_the_cli_prints(client: TestClient, web_index_dir: Path) -> None:
    first = ok(client, "/api/search", q="facial recognition", limit=1)["hits"][0]
    article = first["parent"] or first["id"]
    assert ok(client, f"/api/articles/{article}") == cli_json("show", article, "--index", web_index_dir)
    assert ok(client, f"/api/similar/{article}", limit=3) == cli_json(
        "similar", article, "-n", 3, "--index", web_index_dir, "--json"
    )
    assert ok(client, "/api/suggest", q="fac") == cli_json("suggest", "fac", "--index", web_index_dir, "--json")
    assert ok(client, "/api/stats") == cli_json("stats", "--index", web_index_dir, "--json")
    assert ok(client, "/healthz") == {"status": "ok"}


@pytest.mark.parametrize(
    ("url", "status", "parameter"),
    [
        ("/api/search?page=-1", 400, "page"),
        ("/api/search?page=0", 400, "page"),
        ("/api/search?page=abc", 400, "page"),
        ("/api/search?limit=0", 400, "limit"),
        ("/api/search?limit=100000000000000000000000", 400, "limit"),
        ("/api/search?sort=best", 400, "sort"),
        ("/api/search?since=yesterday", 400, "since"),
        ("/api/search?since=2022&until=2020", 400, "since"),
        ("/api/search?boost=loudness", 400, "boost"),
        ("/api/search?boost=recency&sort=newest", 400, "boost"),
        ("/api/search?published=maybe", 400, "published"),
        ("/api/search?q=" + "a" * 2001, 400, "q"),
        ("/api/search?q=oil%00gas", 400, "q"),
        ("/api/search?q=ok&topic=AI%00", 400, "topic"),
        ("/api/search?q=(((&raw=true", 400, "q"),
        ("/api/suggest", 400, "q"),
        ("/api/suggest?q=fa&limit=51", 400, "limit"),
        ("/api/similar/0123456789abcdef?limit=0", 400, "limit"),
        ("/api/articles/0123456789abcdef", 404, "id"),
        ("/api/articles/0123456789abcdef-r9", 404, "id"),
        ("/api/similar/0123456789abcdef", 404, "id"),
        ("/api/articles/not-an-id", 400, "id"),
        ("/api/articles/..%5C..%5Cetc%5Cpasswd", 400, "id"),
        ("/api/nothing-here", 404, None),
    ],
)
def test_bad_requests_answer_4xx_json_naming_the_parameter(
    client: TestClient, url: str, status: int, parameter: str | None
) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["parameter"] == parameter
    assert error["message"] and "Traceback" not in response.text
    if parameter:
        assert parameter in error["message"] or error["type"] == "not_found"


def test_the_api_is_read_only(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.request(method, "/api/search?q=x")
        assert response.status_code == 405, method
        assert response.json()["error"]["type"] == "method_not_allowed"


def test_secured_is_never_served(client: TestClient, web_index_dir: Path) -> None:
    everything = ok(client, "/api/search", q="", limit=1000, collapse="false")
    bodies = [json.dumps(everything)]
    assert everything["total"] == len(everything["hits"]) > 50
    for hit in everything["hits"]:
        bodies.append(client.get(f"/api/articles/{hit['id']}").text)
        if "000_" in hit["path"] or "hostile" in hit["path"]:  # the records that hold a `secured`
            bodies.append(client.get(f"/articles/{hit['id']}").text)
            if hit["kind"] == "article":
                bodies += [client.get(f"/api/similar/{hit['id']}").text, client.get(f"/similar/{hit['id']}").text]
    bodies.append(client.get("/?q=zyxwv").text)
    for body in bodies:
        assert "secured" not in body and SECRET not in body and SEED_SECURED not in body
    assert ok(client, "/api/search", q="never shown")["total"] == 0  # words only `secured` holds


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for url in ("/api/search?q=x", "/", "/static/style.css", "/api/nothing", "/nothing", "/api/search?page=0"):
        headers = client.get(url).headers
        assert headers["content-security-policy"] == CSP, url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "url",
    [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static//etc/passwd",
        "/static/swagger/../../app.py",
    ],
)
def test_static_files_come_from_the_package_only(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert "import" not in response.text and "[project]" not in response.text


def test_docs_are_served_from_the_package(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert 'src="/static/swagger/swagger-ui-bundle.js"' in page.text
    assert "http" not in page.text.split("<body>", 1)[1]  # no CDN
    assert "'unsafe-inline'" not in page.headers["content-security-policy"].split("script-src", 1)[1].split(";")[0]
    assert client.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/docs.js").status_code == 200
    assert client.get("/openapi.json").json()["paths"].keys() >= {
        "/api/search", "/api/articles/{id}", "/api/similar/{id}", "/api/suggest", "/api/stats", "/healthz"
    }  # fmt: skip


def test_every_searcher_busy_answers_503_with_retry_after(web_index_dir: Path) -> None:
    app = create_app(WebConfig(index_dir=web_index_dir, searchers=1, queue_seconds=0.05))
    with TestClient(app) as client:
        with app.state.pool.index():
            response = client.get("/api/search?q=oil")
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"]["type"] == "busy"
        assert client.get("/api/search?q=oil").status_code == 200  # the searcher came back


def test_searchers_are_shared_by_concurrent_requests(web_index_dir: Path) -> None:
    app = create_app(WebConfig(index_dir=web_index_dir, searchers=2))
    statuses: list[int] = []
    with TestClient(app) as client:

        def hammer() -> None:
            for _ in range(10):
                statuses.append(client.get("/api/search", params={"q": "rates bank", "limit": 5}).status_code)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert app.state.pool._opened <= 2
    assert statuses == [200] * 40


def test_a_missing_index_stops_serve_with_a_hint(tmp_path: Path) -> None:
    result = RUNNER.invoke(cli_app, ["serve", "--index", str(tmp_path / "none"), "--port", "0"])
    assert result.exit_code == 1
    assert "Error: no index at" in result.stderr and "search index" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_taken_port_or_an_unknown_host_stops_serve_with_its_own_error_never_exit_3(web_index_dir: Path) -> None:
    # uvicorn logged the failure and exited 3, which is "index busy: retry later" here
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = RUNNER.invoke(cli_app, ["serve", "--index", str(web_index_dir), "--port", str(port)])
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port}: Address already in use",
        "Hint: Another program listens there: pick another --port, or stop that program.",
    ]
    result = RUNNER.invoke(cli_app, ["serve", "--index", str(web_index_dir), "--host", "no such host.invalid"])
    assert result.exit_code == 2
    (error, hint) = result.stderr.splitlines()
    assert error.startswith("Error: cannot serve on --host 'no such host.invalid': ")
    assert hint == (
        "Hint: Use an address or name of this machine: 127.0.0.1 (the default, this machine only) or 0.0.0.0."
    )


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["query", "--help"]])
def test_help_loads_no_web_framework(args: list[str]) -> None:
    code = (
        "import json, sys\n"
        "import search\n"
        "from search.cli.main import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "web = {'fastapi', 'starlette', 'uvicorn', 'jinja2', 'pydantic', 'markupsafe'}\n"
        "sys.stderr.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & web)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []


def test_import_search_loads_no_web_framework() -> None:
    code = (
        "import json, sys\nimport search, search.web\nsearch.__all__\n"
        "web = {'fastapi', 'starlette', 'uvicorn', 'jinja2', 'pydantic'}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & web)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    ("value", "fragment"), [("0", "greater than 0"), ("-1", "greater than 0"), ("abc", "number"), ("6", "at most")]
)
def test_a_request_may_lower_the_time_limit_but_not_raise_it(client: TestClient, value: str, fragment: str) -> None:
    response = client.get("/api/search", params={"q": "oil", "time_limit": value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["parameter"] == "time_limit" and fragment in error["message"]
    assert ok(client, "/api/search", q="oil", time_limit="2.5")["timed_out"] is False


@pytest.fixture(scope="module")
def many_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough matches (600) that a search looks at its deadline before it is done."""
    from search import build_index

    folder = tmp_path_factory.mktemp("many") / "records"
    folder.mkdir()
    for n in range(600):
        (folder / f"r{n:03d}.md").write_text(f"---\ntitle: alpha report {n}\n---\nalpha beta w{n}\n", "utf-8")
    build_index([folder], folder.parent / "index")
    return folder.parent / "index"


def test_each_request_runs_under_the_servers_time_limit(many_index_dir: Path) -> None:
    tiny = create_app(WebConfig(index_dir=many_index_dir, time_limit=1e-9))
    with TestClient(tiny) as client:
        for params in ({"q": "alpha beta"}, {"q": "alpha", "sort": "newest"}, {"q": "alpha OR beta", "raw": "true"}):
            page = ok(client, "/api/search", **params)
            assert page["timed_out"] is True and page["total"] < 600, params
        assert "ran out of its time limit" in client.get("/?q=alpha+beta").text
    with TestClient(create_app(WebConfig(index_dir=many_index_dir))) as client:
        whole = ok(client, "/api/search", q="alpha beta")
        assert whole["timed_out"] is False and whole["total"] == 600
        assert ok(client, "/api/search", q="alpha beta", time_limit="1e-9")["timed_out"] is True


def test_a_bug_answers_500_internal_error_never_503_and_the_server_goes_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def planted(*args: object, **kwargs: object) -> None:
        raise ValueError("planted bug at /srv/secret/path")

    monkeypatch.setattr("search.backends.query.build_safe_query", planted)
    response = client.get("/api/search", params={"q": "police"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "internal_error"
    assert "ValueError" in error["message"] and "a bug in news-search" in error["message"]
    assert "/srv/secret" not in response.text and "rebuild" not in response.text.lower()
    assert "report" in error["hint"]
    monkeypatch.undo()
    assert client.get("/api/search", params={"q": "police"}).status_code == 200
