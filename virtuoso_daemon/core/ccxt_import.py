"""Import ccxt without importing its 100+ exchange modules.

``import ccxt.async_support`` runs ccxt's package ``__init__``, which imports every
exchange class ccxt has (three times over for ``ccxt``, ``ccxt.async_support`` and
``ccxt.pro``): ~400 modules, ~0.8 s and ~75 MB of RSS, for a daemon that talks to one
or two exchanges (upstream: https://github.com/ccxt/ccxt/issues/27919). That is more
than a third of the daemon's memory budget before it holds any data.

:func:`install` puts a finder in front of the import system for exactly those three
packages. It runs their own ``__init__`` source with the exchange imports
(``from ccxt.pro.binance import binance  # noqa: F401``) taken out, and gives the
package a module ``__getattr__`` that imports an exchange the first time it is asked
for. Everything else (``__version__``, ``exchanges``, the error classes, ``Exchange``)
is defined exactly as ccxt defines it. Importing an exchange submodule leaves the
class, not the module, as the package attribute, as the eager ``__init__`` does
(``import ccxt.async_support.binanceusdm as rest`` in ccxt.pro relies on it).

If ccxt was imported before :func:`install` ran, or its ``__init__`` no longer has
the expected lines, nothing changes: ccxt imports the usual way.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types
from collections.abc import Sequence
from typing import Any

PACKAGES = ("ccxt", "ccxt.async_support", "ccxt.pro")

# one exchange class per line: from ccxt.pro.binance import binance, then a noqa comment
_EXCHANGE_IMPORT = re.compile(
    r"^from (?P<pkg>ccxt(?:\.async_support|\.pro)?)\.(?P<mod>\w+) import (?P<cls>\w+)"
    r"[ \t]*#[^\n]*$",
    re.MULTILINE,
)


class _LazyPackage(types.ModuleType):
    """A ccxt package whose exchange attributes are classes, imported on first use."""

    _lazy_exchanges: dict[str, str]

    def __setattr__(self, name: str, value: Any) -> None:
        # the import system binds a freshly imported submodule on its package; the
        # eager __init__ then rebinds the name to the class, and ccxt relies on that
        lazy = self.__dict__.get("_lazy_exchanges", {})
        if name in lazy and isinstance(value, types.ModuleType):
            value = getattr(value, name, value)
        super().__setattr__(name, value)

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__.get("_lazy_exchanges", {}).get(name)
        if target is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        cls = getattr(importlib.import_module(target), name)
        setattr(self, name, cls)
        return cls


class _Loader(importlib.abc.Loader):
    def __init__(self, source_loader: Any) -> None:
        self.source_loader = source_loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        source: str = self.source_loader.get_source(module.__name__)
        lazy: dict[str, str] = {}

        def strip(m: re.Match[str]) -> str:
            if m["mod"] != m["cls"]:
                return m[0]  # not an exchange line
            lazy[m["cls"]] = f"{m['pkg']}.{m['mod']}"
            return ""

        trimmed = _EXCHANGE_IMPORT.sub(strip, source)
        if lazy:
            module.__class__ = _LazyPackage
            module.__dict__["_lazy_exchanges"] = lazy
        origin = module.__spec__.origin if module.__spec__ is not None else None
        code = compile(trimmed if lazy else source, origin or module.__name__, "exec")
        exec(code, module.__dict__)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "get_source"):
            return None
        spec.loader = _Loader(spec.loader)
        return spec


_finder = _Finder()


def install() -> bool:
    """Make the next ``import ccxt...`` lazy; False if ccxt is already imported."""
    if "ccxt" in sys.modules:
        return False
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    return True


def is_lazy(module: types.ModuleType) -> bool:
    """Whether ``module`` (a ccxt package) was imported through :func:`install`."""
    return isinstance(module, _LazyPackage)
