"""Runtime, neural-network layer: registry family "elementwise": elementwise and indexing kinds of
Core ML 3: comparisons, logical ops, unary math, where, gather/scatter, topK,
fill/range/broadcastTo, random (``runtime.nn.layers`` merges the families).

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {}
