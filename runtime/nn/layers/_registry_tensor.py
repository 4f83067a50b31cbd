"""Runtime, neural-network layer: registry family "tensor": the tensor-shaped kinds of Core ML 3
(reshapes, transpose, concat/split/stack/tile, slices, constants, getShape, batched matmul,
softmaxND, the reduce family, broadcastable arithmetic, gelu/erf, mvn); ``runtime.nn.layers``
merges the families.

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "softmaxND": "runtime.nn.layers.softmaxND",
    "reshapeStatic": "runtime.nn.layers.reshapeStatic",
}
