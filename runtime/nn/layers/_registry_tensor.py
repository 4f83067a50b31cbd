"""Runtime, neural-network layer: registry family "tensor": the tensor-shaped kinds of Core ML 3
(reshapes, transpose, concat/split/stack/tile, slices, constants, getShape, batched matmul,
softmaxND, the reduce family, broadcastable arithmetic, gelu/erf, mvn); ``runtime.nn.layers``
merges the families.

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "addBroadcastable": "runtime.nn.layers.addBroadcastable",
    "batchedMatmul": "runtime.nn.layers.batchedMatmul",
    "concatND": "runtime.nn.layers.concatND",
    "divideBroadcastable": "runtime.nn.layers.divideBroadcastable",
    "erf": "runtime.nn.layers.erf",
    "flattenTo2D": "runtime.nn.layers.flattenTo2D",
    "floorDivBroadcastable": "runtime.nn.layers.floorDivBroadcastable",
    "gelu": "runtime.nn.layers.gelu",
    "getShape": "runtime.nn.layers.getShape",
    "loadConstantND": "runtime.nn.layers.loadConstantND",
    "maxBroadcastable": "runtime.nn.layers.maxBroadcastable",
    "minBroadcastable": "runtime.nn.layers.minBroadcastable",
    "modBroadcastable": "runtime.nn.layers.modBroadcastable",
    "multiplyBroadcastable": "runtime.nn.layers.multiplyBroadcastable",
    "mvn": "runtime.nn.layers.mvn",
    "powBroadcastable": "runtime.nn.layers.powBroadcastable",
    "rankPreservingReshape": "runtime.nn.layers.rankPreservingReshape",
    "reduceL1": "runtime.nn.layers.reduceL1",
    "reduceL2": "runtime.nn.layers.reduceL2",
    "reduceLogSum": "runtime.nn.layers.reduceLogSum",
    "reduceLogSumExp": "runtime.nn.layers.reduceLogSumExp",
    "reduceMax": "runtime.nn.layers.reduceMax",
    "reduceMean": "runtime.nn.layers.reduceMean",
    "reduceMin": "runtime.nn.layers.reduceMin",
    "reduceProd": "runtime.nn.layers.reduceProd",
    "reduceSum": "runtime.nn.layers.reduceSum",
    "reduceSumSquare": "runtime.nn.layers.reduceSumSquare",
    "reshapeDynamic": "runtime.nn.layers.reshapeDynamic",
    "reshapeLike": "runtime.nn.layers.reshapeLike",
    "reshapeStatic": "runtime.nn.layers.reshapeStatic",
    "sliceBySize": "runtime.nn.layers.sliceBySize",
    "sliceDynamic": "runtime.nn.layers.sliceDynamic",
    "sliceStatic": "runtime.nn.layers.sliceStatic",
    "softmaxND": "runtime.nn.layers.softmaxND",
    "splitND": "runtime.nn.layers.splitND",
    "stack": "runtime.nn.layers.stack",
    "subtractBroadcastable": "runtime.nn.layers.subtractBroadcastable",
    "tile": "runtime.nn.layers.tile",
    "transpose": "runtime.nn.layers.transpose",
}
