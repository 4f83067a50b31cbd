"""Runtime, neural-network layer: Core ML ``upperTriangular``: zero every entry below diagonal
``k`` of the innermost matrices (``numpy.triu``).

``UpperTriangularLayerParams`` (NeuralNetwork.proto, Core ML 3): ``output[.., m, n] = input[..,
m, n]`` where ``n - m >= k``, else 0, on a tensor of rank 2 or more; ``k = 0`` is the main
diagonal, ``k < 0`` below it, ``k > 0`` above. Shared with the other band kinds:
``runtime.nn.layers._elementwise_band``.
"""

from __future__ import annotations

from . import _elementwise_band

KIND = _elementwise_band.kind("upperTriangular")
