"""Runtime, neural-network layer: Core ML ``expandDims`` layer: see ``runtime.nn.layers.squeeze``,
which runs both."""

from .squeeze import EXPAND_DIMS as KIND

__all__ = ["KIND"]
