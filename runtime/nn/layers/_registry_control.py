"""Runtime, neural-network layer: registry family "control": control flow (loop, branch, ...) and
image ops (``runtime.nn.layers`` merges the families).

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "branch": "runtime.nn.layers.branch",
    "constantPad": "runtime.nn.layers.constantPad",
    "convolution3d": "runtime.nn.layers.convolution3d",
    "cropResize": "runtime.nn.layers.cropResize",
    "custom": "runtime.nn.layers.custom",
    "globalPooling3d": "runtime.nn.layers.globalPooling3d",
    "loop": "runtime.nn.layers.loop",
    "loopBreak": "runtime.nn.layers.loopBreak",
    "loopContinue": "runtime.nn.layers.loopContinue",
    "pooling3d": "runtime.nn.layers.pooling3d",
    "reorganizeData": "runtime.nn.layers.reorganizeData",
    "resizeBilinear": "runtime.nn.layers.resizeBilinear",
}
