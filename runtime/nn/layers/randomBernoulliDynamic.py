"""Runtime, neural-network layer: Core ML ``randomBernoulliDynamic``: ``y ~ Bernoulli(prob)``, 1.0
or 0.0.

``RandomBernoulliDynamicLayerParams`` (NeuralNetwork.proto, Core ML 3): ``seed``, ``prob``; 1
input, a rank-1 tensor holding the output's shape (known when the model loads). Draws come from
numpy's generator, not bit-equal to a device's; seeds, batches and the checks on the parameters
are described in ``runtime.nn.layers._elementwise_random``.
"""

from __future__ import annotations

from . import _elementwise_random

KIND = _elementwise_random.kind("randomBernoulliDynamic")
