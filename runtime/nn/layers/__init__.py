"""Runtime, neural-network layer: registry of layer kinds, keyed by the Core ML
``NeuralNetworkLayer.layer`` oneof name.

Each entry names the module that defines ``KIND``; modules are imported on first use so that
loading a model only compiles the kernels it needs.
"""

from __future__ import annotations

import importlib

from runtime.nn.layers.base import Built, LayerKind, Shape, Step

REGISTRY: dict[str, str] = {
    "activation": "runtime.nn.layers.activation",
    "add": "runtime.nn.layers.add",
    "average": "runtime.nn.layers.average",
    "batchnorm": "runtime.nn.layers.batchnorm",
    "bias": "runtime.nn.layers.bias",
    "clip": "runtime.nn.layers.clip",
    "concat": "runtime.nn.layers.concat",
    "convolution": "runtime.nn.layers.convolution",
    "copy": "runtime.nn.layers.copy",
    "crop": "runtime.nn.layers.crop",
    "dot": "runtime.nn.layers.dot",
    "expandDims": "runtime.nn.layers.expand_dims",
    "flatten": "runtime.nn.layers.flatten",
    "innerProduct": "runtime.nn.layers.innerProduct",
    "l2normalize": "runtime.nn.layers.l2normalize",
    "loadConstant": "runtime.nn.layers.loadConstant",
    "lrn": "runtime.nn.layers.lrn",
    "max": "runtime.nn.layers.max",
    "min": "runtime.nn.layers.min",
    "multiply": "runtime.nn.layers.multiply",
    "padding": "runtime.nn.layers.padding",
    "permute": "runtime.nn.layers.permute",
    "pooling": "runtime.nn.layers.pooling",
    "reduce": "runtime.nn.layers.reduce",
    "reshape": "runtime.nn.layers.reshape",
    "scale": "runtime.nn.layers.scale",
    "slice": "runtime.nn.layers.slice",
    "softmax": "runtime.nn.layers.softmax",
    "split": "runtime.nn.layers.split",
    "squeeze": "runtime.nn.layers.squeeze",
    "unary": "runtime.nn.layers.unary",
    "upsample": "runtime.nn.layers.upsample",
}

__all__ = ["REGISTRY", "Built", "LayerKind", "Shape", "Step", "get_kind", "supported_kinds"]


def supported_kinds() -> list[str]:
    """The layer oneof names the runtime can execute, sorted."""
    return sorted(REGISTRY)


def get_kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` for a oneof name; ``KeyError`` if unsupported."""
    return importlib.import_module(REGISTRY[oneof]).KIND
