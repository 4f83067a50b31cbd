"""Runtime, neural-network layer: registry family "legacy": the layer kinds of Core ML's rank-5
networks (spec 1-3), plus squeeze and expandDims (``runtime.nn.layers`` merges the families).

Oneof name -> module defining ``KIND``. Most read ``chw`` blobs; the ones whose math does not
care about the layout (elementwise, copy, innerProduct...) list both in their ``layouts``.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
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
