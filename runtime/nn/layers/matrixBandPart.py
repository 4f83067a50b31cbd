"""Runtime, neural-network layer: Core ML ``matrixBandPart``: zero every entry of the innermost
matrices outside a band of diagonals.

``MatrixBandPartLayerParams`` (NeuralNetwork.proto, Core ML 3)::

    band(m, n) = (numLower < 0 or (m - n) <= numLower) and (numUpper < 0 or (n - m) <= numUpper)
    output[.., m, n] = band(m, n) * input[.., m, n]

on a tensor of rank 2 or more (TensorFlow's ``matrix_band_part``). Shared with the triangular
kinds: ``runtime.nn.layers._elementwise_band``.
"""

from __future__ import annotations

from . import _elementwise_band

KIND = _elementwise_band.kind("matrixBandPart")
