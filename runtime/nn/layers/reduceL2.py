"""Runtime, neural-network layer: Core ML ``reduceL2``: the Euclidean norm over axes, ``sqrt(sum
x^2)``.

``ReduceL2LayerParams`` (NeuralNetwork.proto, Core ML 3): ``axes``, ``keepDims``, ``reduceAll``; the
rules and the computation are in ``runtime.nn.layers._nd_reduce``.
"""

from __future__ import annotations

from . import _nd_reduce

KIND = _nd_reduce.kind("reduceL2")
