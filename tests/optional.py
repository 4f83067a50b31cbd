"""Optional test dependencies: one skip reason per missing package, shared by every test.

The ``test`` extra installs what every supported machine has wheels for; torch comes with
the ``test-parity`` extra, and ``onnxruntime-training`` only where it has wheels (Linux
x86_64, Python 3.11). A test that needs a missing package is skipped with a one-line reason
naming the extra that brings it, never failed and never silently passed.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

REASONS = {
    "torch": "torch is not installed (the test-parity extra: pip install -e '.[test-parity]')",
    "sklearn": "scikit-learn is not installed (pip install -e '.[test]')",
    "distributed": "dask.distributed is not installed (pip install -e '.[test]')",
    "onnx": "onnx is not installed (pip install -e '.[test]')",
    "onnxruntime": "onnxruntime is not installed (pip install -e '.[test]')",
    "onnxruntime.training": (
        "onnxruntime-training is not installed (it has wheels for Linux x86_64 with "
        f"Python <= 3.11 only; this is Python {sys.version_info.major}.{sys.version_info.minor} "
        f"on {sys.platform})"
    ),
    "matplotlib": "matplotlib is not installed (pip install -e '.[test]')",
    "pandas": "pandas is not installed (pip install -e '.[test]')",
}


def reason(module: str) -> str:
    """The skip reason of ``module`` (a submodule has its package's, unless it has its own)."""
    return REASONS.get(module) or REASONS[module.partition(".")[0]]


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a parent that is missing
    counts as missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def needs(*modules: str) -> pytest.MarkDecorator:
    """A skip mark for a test that needs every one of ``modules``."""
    missing = [m for m in modules if not installed(m)]
    return pytest.mark.skipif(bool(missing), reason=reason(missing[0]) if missing else "")


def require(module: str):
    """Import ``module`` for a test module that needs it throughout, or skip the module."""
    return pytest.importorskip(module, reason=reason(module))


def optional_import(module: str):
    """``module`` when installed, else ``None`` (for helpers whose torch parts run only in
    tests marked with :func:`needs`)."""
    if not installed(module):
        return None
    return importlib.import_module(module)
