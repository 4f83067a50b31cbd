"""Runtime, neural-network layer: registry family "sequence": recurrent layers and embeddings
(``runtime.nn.layers`` merges the families).

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "simpleRecurrent": "runtime.nn.layers.simpleRecurrent",
    "gru": "runtime.nn.layers.gru",
    "uniDirectionalLSTM": "runtime.nn.layers.uniDirectionalLSTM",
    "biDirectionalLSTM": "runtime.nn.layers.biDirectionalLSTM",
    "embedding": "runtime.nn.layers.embedding",
    "embeddingND": "runtime.nn.layers.embeddingND",
    "sequenceRepeat": "runtime.nn.layers.sequenceRepeat",
    "reverseSeq": "runtime.nn.layers.reverseSeq",
}
