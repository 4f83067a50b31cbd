"""Registry of layer kinds, keyed by the Core ML ``NeuralNetworkLayer.layer`` oneof name.

Each entry names the module that defines ``KIND``; modules are imported on first use so that
loading a model only compiles the kernels it needs.
"""

from __future__ import annotations

import importlib

from runtime.layers.base import Built, LayerKind, Shape, Step

REGISTRY: dict[str, str] = {
    "activation": "runtime.layers.activation",
    "add": "runtime.layers.add",
    "average": "runtime.layers.average",
    "batchnorm": "runtime.layers.batchnorm",
    "bias": "runtime.layers.bias",
    "clip": "runtime.layers.clip",
    "concat": "runtime.layers.concat",
    "convolution": "runtime.layers.convolution",
    "copy": "runtime.layers.copy",
    "crop": "runtime.layers.crop",
    "dot": "runtime.layers.dot",
    "expandDims": "runtime.layers.expand_dims",
    "flatten": "runtime.layers.flatten",
    "innerProduct": "runtime.layers.innerProduct",
    "l2normalize": "runtime.layers.l2normalize",
    "loadConstant": "runtime.layers.loadConstant",
    "lrn": "runtime.layers.lrn",
    "max": "runtime.layers.max",
    "min": "runtime.layers.min",
    "multiply": "runtime.layers.multiply",
    "padding": "runtime.layers.padding",
    "permute": "runtime.layers.permute",
    "pooling": "runtime.layers.pooling",
    "reduce": "runtime.layers.reduce",
    "reshape": "runtime.layers.reshape",
    "scale": "runtime.layers.scale",
    "slice": "runtime.layers.slice",
    "softmax": "runtime.layers.softmax",
    "split": "runtime.layers.split",
    "squeeze": "runtime.layers.squeeze",
    "unary": "runtime.layers.unary",
    "upsample": "runtime.layers.upsample",
}

__all__ = ["REGISTRY", "Built", "LayerKind", "Shape", "Step", "get_kind", "supported_kinds"]


def supported_kinds() -> list[str]:
    """The layer oneof names the runtime can execute, sorted."""
    return sorted(REGISTRY)


def get_kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` for a oneof name; ``KeyError`` if unsupported."""
    return importlib.import_module(REGISTRY[oneof]).KIND
