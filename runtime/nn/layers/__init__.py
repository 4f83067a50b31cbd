"""Runtime, neural-network layer: registry of layer kinds, keyed by the Core ML
``NeuralNetworkLayer.layer`` oneof name.

The registry is the union of explicit family dicts, one module per family, so that kinds of
different families are added on different lines: ``_registry_legacy`` (the rank-5 kinds),
``_registry_tensor`` (reshapes, slices, reductions, broadcastable arithmetic...),
``_registry_elementwise`` (comparisons, logic, unary math, gather/scatter...),
``_registry_sequence`` (recurrent layers, embeddings) and ``_registry_control`` (control flow,
image ops). Each entry names the module that defines ``KIND``; modules are imported on first
use so that loading a model only compiles the kernels it needs.
"""

from __future__ import annotations

import importlib

from runtime.nn.layers import (
    _registry_control,
    _registry_elementwise,
    _registry_legacy,
    _registry_sequence,
    _registry_tensor,
)
from runtime.nn.layers.base import CHW, ND, Built, CoreMLShape, LayerKind, Shape, Step

FAMILIES: dict[str, dict[str, str]] = {
    "legacy": _registry_legacy.KINDS,
    "tensor": _registry_tensor.KINDS,
    "elementwise": _registry_elementwise.KINDS,
    "sequence": _registry_sequence.KINDS,
    "control": _registry_control.KINDS,
}


def _merged(families: dict[str, dict[str, str]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for family, kinds in families.items():
        for oneof, module in kinds.items():
            if oneof in merged:
                raise ImportError(
                    f"layer kind '{oneof}' is registered twice: family '{family}' names "
                    f"{module}, an earlier family {merged[oneof]}; keep one"
                )
            merged[oneof] = module
    return merged


REGISTRY: dict[str, str] = _merged(FAMILIES)

__all__ = [
    "CHW",
    "FAMILIES",
    "ND",
    "REGISTRY",
    "Built",
    "CoreMLShape",
    "LayerKind",
    "Shape",
    "Step",
    "get_kind",
    "supported_kinds",
]


def supported_kinds() -> list[str]:
    """The layer oneof names the runtime can execute, sorted."""
    return sorted(REGISTRY)


def get_kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` for a oneof name; ``KeyError`` if unsupported."""
    return importlib.import_module(REGISTRY[oneof]).KIND
