"""Runtime, neural-network layer: Core ML ``randomNormalLike``: ``y ~ N(mean, stdDev^2)``,
elementwise.

``RandomNormalLikeLayerParams`` (NeuralNetwork.proto, Core ML 3): ``seed``, ``mean``,
``stdDev``; 1 input, whose values are ignored: the output has its shape. Draws come from
numpy's generator, not bit-equal to a device's; seeds, batches and the checks on the parameters
are described in ``runtime.nn.layers._elementwise_random``.
"""

from __future__ import annotations

from . import _elementwise_random

KIND = _elementwise_random.kind("randomNormalLike")
