"""Registry of layer kinds, keyed by the Core ML ``NeuralNetworkLayer.layer`` oneof name.

Each entry names the module that defines ``KIND``; modules are imported on first use so that
loading a model only compiles the kernels it needs.
"""

from __future__ import annotations

import importlib

from runtime.layers.base import Built, LayerKind, Shape, Step

REGISTRY: dict[str, str] = {
}

__all__ = ["REGISTRY", "Built", "LayerKind", "Shape", "Step", "get_kind", "supported_kinds"]


def supported_kinds() -> list[str]:
    """The layer oneof names the runtime can execute, sorted."""
    return sorted(REGISTRY)


def get_kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` for a oneof name; ``KeyError`` if unsupported."""
    return importlib.import_module(REGISTRY[oneof]).KIND
