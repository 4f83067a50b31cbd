"""Runtime, neural-network layer: registry family "sequence": recurrent layers and embeddings
(``runtime.nn.layers`` merges the families).

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {}
