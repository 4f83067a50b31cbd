"""Runtime, ONNX layer: importing the ``ort`` extra: onnx and onnxruntime(-training), without
torch.

The extra brings onnxruntime-training where it has wheels (Linux x86_64, Python 3.11) and
plain onnxruntime elsewhere: export and inference need only onnx and either of them
(:func:`require_onnx`); on-device training needs onnxruntime-training (:func:`training_api`).

``import onnxruntime.training`` imports its ``amp`` and ``optim`` submodules, which import
torch (ORTModule support), although on-device training (``artifacts``, ``onnxblock``,
``api``) never uses it. When torch is not installed we register empty placeholder modules
under those two names before the import, so the training API loads in a torch-free
environment (as on a device or a slim server). With torch installed nothing is replaced.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import tempfile
import types
from types import SimpleNamespace

from updatable.errors import MissingDependencyError

INSTALL_HINT = "pip install 'coreml-updatable[ort]' (onnx and onnxruntime-training)"
TRAINING_WHEELS = (
    "onnxruntime-training has wheels for Linux x86_64 with Python 3.11 only (1.19 is its last "
    "release): train there, or use the numba backend, which needs no extra"
)
_TORCH_SUBMODULES = ("onnxruntime.training.amp", "onnxruntime.training.optim")


def _missing(what: str, exc: ImportError) -> MissingDependencyError:
    return MissingDependencyError(
        f"{what} needs the optional ONNX Runtime training packages, which are not installed "
        f"({exc}); install them with: {INSTALL_HINT}"
    )


def require_onnx(what: str = "ONNX export") -> None:
    """Raise :class:`MissingDependencyError` unless ``onnx`` and ``onnxruntime`` import."""
    try:
        importlib.import_module("onnx")
        importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise _missing(what, exc) from None


def torch_available() -> bool:
    """Whether ``import torch`` can succeed, without importing it."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def training_api(what: str = "ONNX Runtime training") -> SimpleNamespace:
    """``onnxruntime.training``'s ``artifacts``, ``onnxblock`` and ``api`` modules."""
    require_onnx(what)
    if "onnxruntime.training" not in sys.modules and not torch_available():
        for name in _TORCH_SUBMODULES:
            sys.modules.setdefault(name, types.ModuleType(name))
    try:
        artifacts = importlib.import_module("onnxruntime.training.artifacts")
        onnxblock = importlib.import_module("onnxruntime.training.onnxblock")
        api = importlib.import_module("onnxruntime.training.api")
    except ImportError as exc:
        if importlib.util.find_spec("onnxruntime.training") is None:  # plain onnxruntime
            raise MissingDependencyError(
                f"{what} needs onnxruntime-training; the installed onnxruntime runs and exports "
                f"models but does not train them ({exc}). {TRAINING_WHEELS}"
            ) from None
        raise _missing(what, exc) from None
    return SimpleNamespace(artifacts=artifacts, onnxblock=onnxblock, api=api)


@contextlib.contextmanager
def native_stderr_captured():
    """Collect what native code writes to file descriptor 2 (ORT's graph transformers log
    every pass there while building gradients); yields a list that receives the text.

    The library never prints: the text is kept for error messages instead.
    """
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", "replace"))
