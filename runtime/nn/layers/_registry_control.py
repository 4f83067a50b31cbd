"""Runtime, neural-network layer: registry family "control": control flow (loop, branch,
loopBreak, loopContinue), custom layers, and the image and volume kinds of Core ML 3-4
(resizing, cropping, padding, 3-D convolution and pooling, non-maximum suppression);
``runtime.nn.layers`` merges the families.

Oneof name -> module defining ``KIND``, one kind per module.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "NonMaximumSuppression": "runtime.nn.layers.NonMaximumSuppression",
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
