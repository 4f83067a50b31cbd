"""Runtime, neural-network layer: Core ML ``randomUniformStatic``: ``y ~ U(minVal, maxVal)``,
elementwise.

``RandomUniformStaticLayerParams`` (NeuralNetwork.proto, Core ML 3): ``seed``, ``minVal``,
``maxVal``; no input: the output has the shape ``outputShape``. Draws come from numpy's
generator, not bit-equal to a device's; seeds, batches and the checks on the parameters are
described in ``runtime.nn.layers._elementwise_random``.
"""

from __future__ import annotations

from . import _elementwise_random

KIND = _elementwise_random.kind("randomUniformStatic")
