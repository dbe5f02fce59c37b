"""search.storage.whoosh_imports: Whoosh loads without urllib.request and
morph_en, and the stand-ins it gets instead give the real results.

Each check runs in a new interpreter: the test process has long imported
Whoosh (and urllib.request) by the time it gets here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from search.storage.whoosh_imports import STAND_INS

NETWORK = ("urllib.request", "http.client", "email", "ssl")


def _python(code: str) -> Any:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_importing_whoosh_through_search_leaves_out_what_it_never_calls() -> None:
    loaded = _python(
        "import json, sys, search.api, search.storage.store, whoosh.query, whoosh.compat\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {NETWORK!r} or m in {NETWORK!r}"
        " or m == 'whoosh.lang.morph_en')))"
    )
    assert loaded == []


def test_the_stand_ins_are_the_real_functions_at_their_first_call(tmp_path: Path) -> None:
    source = tmp_path / "page.txt"
    source.write_text("fetched", "utf-8")
    code = f"""
import json, sys
import search.api
from whoosh import compat, query
from whoosh.query import terms
stand_in = terms.variations
words = sorted(terms.variations("render"))
from whoosh.lang.morph_en import variations
copied, _ = compat.urlretrieve({source.as_uri()!r}, {str(tmp_path / "copy.txt")!r})
import urllib.request
from whoosh import fields
from whoosh.filedb.filestore import RamStorage
ix = RamStorage().create_index(fields.Schema(text=fields.TEXT))
with ix.writer() as writer:
    writer.add_document(text="rendering")
searcher = ix.searcher()
print(json.dumps({{
    "same words": words == sorted(variations("render")),
    "some words": len(words),
    "copied": open(copied, encoding="utf-8").read(),
    "real urllib.request": hasattr(urllib.request, "urlopen") and sys.modules["urllib.request"] is urllib.request,
    "real morph_en": sys.modules["whoosh.lang.morph_en"].variations is variations and variations is not stand_in,
    "query expands": [len(searcher.search(q("text", "render"))) for q in (query.Term, query.Variations)],
}}))
"""
    found = _python(code)
    assert found.pop("some words") > 5
    assert found == {
        "same words": True,
        "copied": "fetched",
        "real urllib.request": True,
        "real morph_en": True,
        "query expands": [0, 1],
    }


def test_whoosh_imported_first_is_left_as_it_is() -> None:
    loaded = _python(
        "import json, sys, whoosh.query, search.api\n"
        "print(json.dumps(['urllib.request' in sys.modules, 'whoosh.lang.morph_en' in sys.modules]))"
    )
    assert loaded == [True, True]


def test_every_stand_in_names_what_whoosh_imports() -> None:
    """The table says what Whoosh 2.7.4's modules import; a Whoosh whose
    module no longer imports the name would leave the stand-in unused."""
    import importlib.util

    for module, imports in STAND_INS.items():
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None
        text = Path(spec.origin).read_text("utf-8")
        for imported, names in imports.items():
            for name in names:
                assert f"from {imported} import {name}\n" in text, (module, imported, name)
