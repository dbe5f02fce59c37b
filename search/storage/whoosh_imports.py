"""Whoosh, imported without two imports of its own that a search never uses.

Whoosh 2.7.4 (pinned, and its last release) imports, at the top of two of
its modules, a name that nothing on our paths calls:

* ``whoosh.compat`` imports ``urlretrieve`` from ``urllib.request`` (a
  Python 2 shim; no Whoosh module calls it), and with it ``http.client``,
  ``email``, ``ssl``, ``socket`` and ``hashlib``: about 19 ms of CPU, a
  tenth of a cold ``search query`` (0.2 s), every process that imports
  Whoosh at all;
* ``whoosh.query.terms`` imports ``variations`` from
  ``whoosh.lang.morph_en``, which compiles some thirty large regular
  expressions as it loads (about 4 ms) for the ``Variations`` query, which
  neither the safe syntax nor the raw one builds (Whoosh's parser makes
  it only when asked for it as the term class).

A finder at the head of ``sys.meta_path`` (installed by ``import search``,
before anything of ours imports Whoosh) recognises those two modules and
runs each with its own ``__import__``, which hands those two statements a
stand-in: a module holding a function of the same name that imports the
real module at its first call and calls the real function.  Only the
module named sees the stand-in (its own builtins, not ``sys.modules``, so
another thread importing ``urllib.request`` at that moment gets the real
one), every other import of theirs is the ordinary one, and the real
modules load as usual whenever anything imports them.  If Whoosh was
imported before ``search``, or is found by some other finder than the
path's, nothing changes.  ``tests/test_whoosh_imports.py`` holds both: the
modules stay out of a query, and the stand-ins give the real results.
"""

from __future__ import annotations

import builtins
import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.machinery import ModuleSpec, PathFinder
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Loader, MetaPathFinder
else:
    # The import system asks only for the methods; importlib.abc itself
    # imports importlib.resources, tempfile and random (5 ms at every start).
    Loader = MetaPathFinder = object

__all__ = ["STAND_INS", "install"]

#: A Whoosh module -> {a module it imports: the names it takes from it}.
STAND_INS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "whoosh.compat": {"urllib.request": ("urlretrieve",)},
    "whoosh.query.terms": {"whoosh.lang.morph_en": ("variations",)},
}


def _forwarder(module: str, name: str) -> Callable[..., Any]:
    def stand_in(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    stand_in.__name__ = stand_in.__qualname__ = name
    stand_in.__doc__ = f"{module}.{name}, imported at its first call (search.storage.whoosh_imports)."
    return stand_in


def _stand_in(module: str, names: tuple[str, ...]) -> ModuleType:
    stand_in = ModuleType(module, f"A stand-in for {module} (search.storage.whoosh_imports).")
    for name in names:
        setattr(stand_in, name, _forwarder(module, name))
    return stand_in


class _Loader(Loader):
    """The module's own loader, run with an ``__import__`` that gives the
    statements of STAND_INS their stand-ins."""

    def __init__(self, loader: Loader, imports: Mapping[str, tuple[str, ...]]) -> None:
        self.loader = loader
        self.imports = imports

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        stand_ins = {name: _stand_in(name, names) for name, names in self.imports.items()}
        real_import = builtins.__import__

        def import_(
            name: str,
            globals: Mapping[str, object] | None = None,
            locals: Mapping[str, object] | None = None,
            fromlist: Sequence[str] = (),
            level: int = 0,
        ) -> ModuleType:
            stand_in = stand_ins.get(name) if level == 0 else None
            if stand_in is not None and fromlist and set(fromlist) <= set(vars(stand_in)):
                return stand_in
            return real_import(name, globals, locals, fromlist, level)

        module.__dict__["__builtins__"] = {**vars(builtins), "__import__": import_}
        self.loader.exec_module(module)

    # What else is asked of a loader (linecache's get_source, runpy's get_code).
    def get_source(self, fullname: str) -> str | None:
        get: Callable[[str], str | None] | None = getattr(self.loader, "get_source", None)
        return get(fullname) if get is not None else None

    def get_code(self, fullname: str) -> CodeType | None:
        get: Callable[[str], CodeType | None] | None = getattr(self.loader, "get_code", None)
        return get(fullname) if get is not None else None


class _Finder(MetaPathFinder):
    """Finds the modules of STAND_INS as the path's finder does, with _Loader."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        imports = STAND_INS.get(fullname)
        if imports is None:
            return None
        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader, imports)
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
