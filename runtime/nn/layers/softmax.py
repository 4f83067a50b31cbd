"""Runtime, neural-network layer: Core ML ``softmax`` layer: ``y_c = e^(x_c) / sum_k e^(x_k)``
along the channel axis.

``SoftmaxLayerParams`` (NeuralNetwork.proto) normalises along axis -3 (C), independently at
every spatial position; C is the last axis of a runtime blob, so each ``(n, h, w)`` row is
one softmax. No backward: Core ML cannot backpropagate through a softmax, except the one that
feeds a cross-entropy loss, which the loss handles fused (``kernels.softmax.
softmax_cross_entropy``: ``dlogits = (p - onehot) / N``).
"""

from __future__ import annotations

import numpy as np

from runtime.kernels import softmax as kernels

from ._common import expect_inputs
from ._fused import rows
from .base import Built, LayerKind, Shape


def build(layer, in_shapes: list[Shape]) -> Built:
    expect_inputs(layer, in_shapes)
    del layer
    shape = tuple(int(v) for v in in_shapes[0])
    return Built(None, {}, [shape])


def forward(attrs, params, xs, keep=False, out=None):
    """Softmax over C, written into ``out[0]`` when given."""
    del attrs, params, keep
    x = xs[0]
    y = out[0] if out is not None and out[0] is not None else np.empty(x.shape, x.dtype)
    kernels.softmax(rows(np.ascontiguousarray(x)), rows(y))
    return [y], None


KIND = LayerKind(oneof="softmax", build=build, forward=forward)
