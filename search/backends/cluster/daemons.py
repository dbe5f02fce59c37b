"""A development cluster on one box: searchd configs and processes.

``search cluster up --dir DIR --shards N --port-base P`` writes, under DIR,

    cluster.json            what was started: shards, ports, the backend URL
    stopwords.txt           the embedded analyzer's English stop words
    front/searchd.conf      the distributed table `news` (agents: the shards)
                            and `news_shards`, the registry writers read
    shard-I/searchd.conf    the real-time table `news_I`

and starts one searchd per shard plus the front, every one listening on
127.0.0.1 only: the front's SphinxQL on P, shard I's SphinxQL on P+1+2I and
its agent (binary API) port on P+2+2I.  Each daemon has its own pid file,
logs and binlog under DIR, and the watchdog is off, so a shard killed (by a
test, or by hand) stays down instead of being restarted behind our back.
Nothing here looks at or stops any other searchd (a system service, say):
a daemon is stopped only through the pid file in DIR, and only if that
process's command line names DIR's config.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.backends.cluster.tables import ATTRIBUTES, FIELDS
from search.errors import BackendError, UsageError

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT_BASE = 9306
MAX_SHARDS = 16
FRONT_TABLE = "news"
REGISTRY_TABLE = "news_shards"
#: Seconds to wait for a daemon to answer after start, or to exit after stop.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


# Letters and digits of the Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic,
# Devanagari and Thai blocks, folded to lower case without accents as the
# embedded analyzer folds them.  Sphinx 2.2.11 has no `non_cjk` alias
# (Manticore has), and its default table knows only English and Russian.
_SCRIPT_RANGES = (
    (0xC0, 0x24F),
    (0x370, 0x3FF),
    (0x400, 0x52F),
    (0x531, 0x587),
    (0x5D0, 0x5EA),
    (0x620, 0x64A),
    (0x900, 0x97F),
    (0xE00, 0xE7F),
    (0x1E00, 0x1EFF),
)
#: CJK as single characters (Sphinx's n-grams); the embedded index uses bigrams.
NGRAM_CHARS = "U+3040..U+30FF, U+3400..U+4DBF, U+4E00..U+9FFF, U+AC00..U+D7AF"


def _fold(char: str) -> str:
    decomposed = unicodedata.normalize("NFKD", char.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def charset_table() -> str:
    """The charset_table value, one entry per letter, wrapped for searchd's line limit."""
    entries = ["0..9", "A..Z->a..z", "_", "a..z"]
    for low, high in _SCRIPT_RANGES:
        for code in range(low, high + 1):
            char = chr(code)
            if not char.isalnum():
                continue
            target = _fold(char)
            if len(target) == 1 and target != char and target.isalnum():
                entries.append(f"U+{code:04X}->U+{ord(target):04X}")
            else:
                entries.append(f"U+{code:04X}")
    lines = [", ".join(entries[i : i + 40]) for i in range(0, len(entries), 40)]
    return ", \\\n        ".join(lines)


def table_settings(stopwords: str) -> list[str]:
    return [
        f"stopwords = {stopwords}",
        "morphology = stem_en",
        "dict = keywords",
        "min_word_len = 1",
        # bm25f() reads each field's length; without these it sees none.
        "index_field_lengths = 1",
        f"charset_table = {charset_table()}",
        "ngram_len = 1",
        f"ngram_chars = {NGRAM_CHARS}",
        "rt_mem_limit = 256M",
    ]


@dataclass(frozen=True)
class Layout:
    """Where everything of a dev cluster lives, and its ports."""

    root: Path
    shards: int
    port_base: int

    @property
    def front_port(self) -> int:
        return self.port_base

    def sql_port(self, shard: int) -> int:
        return self.port_base + 1 + 2 * shard

    def api_port(self, shard: int) -> int:
        return self.port_base + 2 + 2 * shard

    def daemon_dir(self, name: str) -> Path:
        return self.root / name

    @property
    def names(self) -> list[str]:
        return ["front"] + [f"shard-{i}" for i in range(self.shards)]

    @property
    def url(self) -> str:
        return f"sphinx://{HOST}:{self.front_port}"

    def ports(self) -> list[int]:
        return [self.front_port] + [p for i in range(self.shards) for p in (self.sql_port(i), self.api_port(i))]


def _searchd_section(directory: Path, listens: list[str]) -> list[str]:
    return [
        "searchd {",
        *[f"    listen = {listen}" for listen in listens],
        f"    pid_file = {directory / 'searchd.pid'}",
        f"    log = {directory / 'searchd.log'}",
        f"    query_log = {directory / 'query.log'}",
        f"    binlog_path = {directory / 'binlog'}",
        "    workers = threads",
        # A killed shard must stay down (tests, and what an operator expects).
        "    watchdog = 0",
        "    read_timeout = 5",
        "    client_timeout = 300",
        # A record may be 5 MB (--max-file-size) and is sent as text and as its stored record.
        "    max_packet_size = 32M",
        "}",
    ]


def shard_config(layout: Layout, shard: int) -> str:
    directory = layout.daemon_dir(f"shard-{shard}")
    lines = [f"index {FRONT_TABLE}_{shard} {{", "    type = rt", f"    path = {directory / 'data' / 'news'}"]
    lines += [f"    rt_field = {name}" for name in FIELDS]
    lines += [f"    {kind} = {name}" for kind, name in ATTRIBUTES]
    lines += [f"    {line}" for line in table_settings(str(layout.root / "stopwords.txt"))]
    lines.append("}")
    listens = [f"{HOST}:{layout.sql_port(shard)}:mysql41", f"{HOST}:{layout.api_port(shard)}"]
    return "\n".join(lines + _searchd_section(directory, listens)) + "\n"


def front_config(layout: Layout) -> str:
    directory = layout.daemon_dir("front")
    lines = [f"index {FRONT_TABLE} {{", "    type = distributed"]
    lines += [f"    agent = {HOST}:{layout.api_port(i)}:{FRONT_TABLE}_{i}" for i in range(layout.shards)]
    # A dead shard is noticed within the connect timeout and the query is
    # answered from the others with a warning (a partial result).
    lines += ["    agent_connect_timeout = 500", "    agent_query_timeout = 10000", "}"]
    lines += [
        f"index {REGISTRY_TABLE} {{",
        "    type = rt",
        f"    path = {directory / 'data' / 'shards'}",
        "    rt_field = note",
        "    rt_attr_uint = shard",
        "    rt_attr_string = host",
        "    rt_attr_uint = sql_port",
        "    rt_attr_string = tbl",
        "}",
    ]
    return "\n".join(lines + _searchd_section(directory, [f"{HOST}:{layout.front_port}:mysql41"])) + "\n"


def _stop_words() -> str:
    """The list the embedded analyzer drops: Whoosh's without ``us`` (the
    U.S. in news; with it, searchd found nothing for `US`)."""
    from search.storage.schema import STOPS

    return "\n".join(sorted(STOPS)) + "\n"


def _port_free(port: int) -> bool:
    import socket  # here, not at the top: the CLI imports this module for every command

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _answers(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def searchd_binary() -> str:
    found = shutil.which("searchd")
    if found is None:
        raise BackendError(
            "searchd is not installed",
            hint="Install Sphinx (Debian: `apt-get install sphinxsearch`) or Manticore Search.",
        )
    return found


def _pid(directory: Path) -> int | None:
    """The live searchd of this directory, if any (its pid file, checked against /proc)."""
    try:
        pid = int((directory / "searchd.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None
    # A stale pid file may name an unrelated process by now: ours name our config.
    return pid if str(directory / "searchd.conf") in cmdline else None


def _refuse_a_file(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise UsageError(f"--dir {root} is a file, not a folder", option="--dir", hint="Name a folder for the cluster.")


def load_layout(root: Path) -> Layout:
    _refuse_a_file(root)
    try:
        state: dict[str, Any] = json.loads((root / "cluster.json").read_text())
        return Layout(root=root, shards=int(state["shards"]), port_base=int(state["port_base"]))
    except FileNotFoundError:
        raise UsageError(
            f"no cluster in {root}", option="--dir", hint=f"Start one with `search cluster up --dir {root}`."
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(f"{root / 'cluster.json'} is unreadable: {exc}") from None


def up(root: Path, shards: int, port_base: int = DEFAULT_PORT_BASE) -> Layout:
    """Write the configs under `root` and start the daemons (those not already running)."""
    if not 1 <= shards <= MAX_SHARDS:
        raise UsageError(f"--shards must be 1 to {MAX_SHARDS}, not {shards}", option="--shards")
    root = root.absolute()
    _refuse_a_file(root)
    if (root / "cluster.json").exists():
        layout = load_layout(root)
        if layout.shards != shards:
            # Rows are routed by hash modulo the shard count: changing it would strand them.
            raise UsageError(
                f"the cluster in {root} has {layout.shards} shards, not {shards}",
                option="--shards",
                hint="Use the same --shards, or `search cluster down` and another --dir.",
            )
        port_base = layout.port_base
    layout = Layout(root, shards, port_base)
    if not 1024 <= port_base <= 65535 - 2 - 2 * shards:
        raise UsageError(f"--port-base {port_base} leaves no room for {shards} shards", option="--port-base")
    binary = searchd_binary()
    root.mkdir(parents=True, exist_ok=True)
    (root / "stopwords.txt").write_text(_stop_words())
    configs = {"front": front_config(layout)} | {f"shard-{i}": shard_config(layout, i) for i in range(shards)}
    to_start = [name for name in layout.names if _pid(layout.daemon_dir(name)) is None]
    busy = [p for p in _ports_of(layout, to_start) if not _port_free(p)]
    if busy:
        raise BackendError(
            f"port {busy[0]} on {HOST} is in use",
            hint="Another searchd (a system service?) or program holds it: pass another --port-base.",
        )
    for name in layout.names:
        directory = layout.daemon_dir(name)
        for sub in ("data", "binlog"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        (directory / "searchd.conf").write_text(configs[name])
    (root / "cluster.json").write_text(
        json.dumps({"shards": shards, "port_base": port_base, "host": HOST, "url": layout.url}, indent=2) + "\n"
    )
    for name in to_start:
        _start(binary, layout.daemon_dir(name))
    for name in to_start:
        _wait_answering(layout, name)
    _register_shards(layout)
    return layout


def _ports_of(layout: Layout, names: list[str]) -> list[int]:
    ports: list[int] = []
    for name in names:
        if name == "front":
            ports.append(layout.front_port)
        else:
            shard = int(name.split("-")[1])
            ports += [layout.sql_port(shard), layout.api_port(shard)]
    return ports


def _start(binary: str, directory: Path) -> None:
    log.info("starting searchd in %s", directory)
    done = subprocess.run(
        [binary, "--config", str(directory / "searchd.conf")],
        cwd=directory,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackendError(f"searchd in {directory} did not start: {_last_words(done.stdout + done.stderr)}")


def _last_words(output: str) -> str:
    lines = [line for line in output.splitlines() if "FATAL" in line or "ERROR" in line or "WARNING" in line]
    return (lines or output.strip().splitlines()[-1:] or ["no output"])[-1]


def _wait_answering(layout: Layout, name: str) -> None:
    port = layout.front_port if name == "front" else layout.sql_port(int(name.split("-")[1]))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _pid(layout.daemon_dir(name)) is not None and _answers(port):
            return
        time.sleep(0.1)
    log_file = layout.daemon_dir(name) / "searchd.log"
    tail = log_file.read_text(errors="replace") if log_file.exists() else ""
    raise BackendError(f"searchd {name} in {layout.root} did not answer on port {port}: {_last_words(tail)}")


def _register_shards(layout: Layout) -> None:
    """Write the shard list into the front's registry, where writers find it."""
    from search.backends.cluster.sphinxql import literal
    from search.backends.cluster.url import connect

    values = ", ".join(
        f"({i + 1}, '', {i}, {literal(HOST)}, {layout.sql_port(i)}, {literal(f'{FRONT_TABLE}_{i}')})"
        for i in range(layout.shards)
    )
    with contextlib.closing(connect(HOST, layout.front_port)) as conn, conn.cursor() as cur:
        cur.execute(f"REPLACE INTO {REGISTRY_TABLE} (id, note, shard, host, sql_port, tbl) VALUES {values}")


@dataclass(frozen=True)
class DaemonStatus:
    name: str
    port: int
    pid: int | None
    documents: int | None  # None: not answering

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "port": self.port, "pid": self.pid, "running": self.pid is not None,
                "documents": self.documents}


def status(root: Path) -> tuple[Layout, list[DaemonStatus]]:
    layout = load_layout(root.absolute())
    from search.backends.cluster.url import connect

    found = []
    for name in layout.names:
        shard = None if name == "front" else int(name.split("-")[1])
        port = layout.front_port if shard is None else layout.sql_port(shard)
        pid = _pid(layout.daemon_dir(name))
        documents = None
        if pid is not None:
            table = FRONT_TABLE if shard is None else f"{FRONT_TABLE}_{shard}"
            try:
                with contextlib.closing(connect(HOST, port, timeout=2.0)) as conn, conn.cursor() as cur:
                    cur.execute(f"SELECT COUNT(*) FROM {table}")
                    documents = int(cur.fetchone()[0])
            except BackendError:
                documents = None
        found.append(DaemonStatus(name, port, pid, documents))
    return layout, found


def down(root: Path) -> list[str]:
    """Stop this cluster's daemons (SIGTERM, then SIGKILL after STOP_TIMEOUT); the data stays."""
    layout = load_layout(root.absolute())
    stopped = []
    for name in layout.names:
        directory = layout.daemon_dir(name)
        pid = _pid(directory)
        if pid is None:
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid(directory) == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid(directory) == pid:
            os.kill(pid, signal.SIGKILL)
        stopped.append(name)
    return stopped


def kill(root: Path, name: str) -> int | None:
    """SIGKILL one daemon of this cluster (for tests of a shard that dies); its pid, if it ran."""
    directory = root.absolute() / name
    pid = _pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + STOP_TIMEOUT
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return pid
