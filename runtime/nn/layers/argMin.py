"""Runtime, neural-network layer: Core ML ``argMin``: ``y = argmin(x, axis)``, the index of the
smallest value along an axis.

``ArgMinLayerParams`` (NeuralNetwork.proto, Core ML 3): ``axis`` (negative counts from the
end) and ``removeDim``; the shape rules, ties (first index) and NaN handling are in
``runtime.nn.layers._elementwise_arg``.
"""

from __future__ import annotations

from . import _elementwise_arg

KIND = _elementwise_arg.kind("argMin")
