"""Runtime, neural-network layer: Core ML ``reduceMin``: the minimum over axes.

``ReduceMinLayerParams`` (NeuralNetwork.proto, Core ML 3): ``axes``, ``keepDims``, ``reduceAll``;
the rules and the computation are in ``runtime.nn.layers._nd_reduce``.
"""

from __future__ import annotations

from . import _nd_reduce

KIND = _nd_reduce.kind("reduceMin")
