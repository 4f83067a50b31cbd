"""Runtime, neural-network layer: Core ML ``loopContinue`` layer: ends the current iteration of
the loop that holds it; the layers after it in the body are skipped, the iteration counts, and
the condition is evaluated again.

``LoopContinueLayerParams`` (NeuralNetwork.proto, Core ML 3): no inputs, no outputs; "it should
always reside in the bodyNetwork of the loop layer", directly or inside a branch there. Its
step raises the signal the running loop catches (``runtime.nn.layers._control_nested``);
blobs made earlier in the iteration keep their new values.
"""

from __future__ import annotations

from ._control_nested import ContinueLoop, build_loop_signal
from .base import LayerKind


def forward(attrs, params, xs, keep=False, out=None):
    """Raise the signal (module docstring)."""
    del attrs, params, xs, keep, out
    raise ContinueLoop


KIND = LayerKind("loopContinue", build_loop_signal, forward, scoped=True)
