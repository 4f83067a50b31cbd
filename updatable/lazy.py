"""Spec side, base layer: the lazy exports of a package's public names (shared by both packages'
facades).

A facade lists each public name with the module that defines it; the name is imported on
first access (PEP 562 module ``__getattr__``), so importing the package stays fast and loads
neither numba nor the modules a caller never uses.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], before: Callable[[str], None] | None = None
) -> Any:
    """``(__getattr__, __dir__)`` for ``package`` whose names ``exports`` maps to modules.

    ``before(name)`` runs before a name's module is imported (e.g. to check an optional
    dependency and explain how to install it). An imported name is kept in the package, so
    later accesses are plain attribute reads.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        if before is not None:
            before(name)
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> Any:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
