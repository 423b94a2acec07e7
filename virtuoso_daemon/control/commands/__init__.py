"""Control commands, one module per area; every module in this package is loaded.

To add commands, drop a module here that uses ``@command`` or ``forward`` from
:mod:`..registry` (see its docstring); no other file needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    """Import every command module so its commands register (idempotent)."""
    for mod in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{mod.name}")
