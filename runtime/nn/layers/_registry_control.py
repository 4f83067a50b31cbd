"""Runtime, neural-network layer: registry family "control": control flow (loop, branch, ...) and
image ops (``runtime.nn.layers`` merges the families).

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "branch": "runtime.nn.layers.branch",
    "cropResize": "runtime.nn.layers.cropResize",
    "custom": "runtime.nn.layers.custom",
    "loop": "runtime.nn.layers.loop",
    "loopBreak": "runtime.nn.layers.loopBreak",
    "loopContinue": "runtime.nn.layers.loopContinue",
    "resizeBilinear": "runtime.nn.layers.resizeBilinear",
}
