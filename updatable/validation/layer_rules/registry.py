"""Spec side, validation layer: the explicit table of Core ML's per-layer rules, keyed by the
``NeuralNetworkLayer.layer`` oneof name: each kind maps to the tuple of rule functions Core
ML's ``validate<Kind>Layer`` runs, in its order (the first message found is Core ML's).

Every one of the 158 kinds of ``NeuralNetwork.proto`` has an entry (a test holds the table
to the proto); a layer whose kind is unset or unknown gets Y7 from the walk.
"""

from __future__ import annotations

from updatable.validation.layer_rules import (
    control_flow,
    legacy,
    nd_math,
    nd_tensor,
    recurrent,
    spatial,
    volumetric,
    weighted,
)
from updatable.validation.layer_rules.scope import COUNTED_INPUTS, LayerRule

# the families, each an explicit dict in its own module
FAMILIES: dict[str, dict[str, tuple[LayerRule, ...]]] = {
    "spatial": spatial.RULES,
    "volumetric": volumetric.RULES,
    "weighted": weighted.RULES,
    "recurrent": recurrent.RULES,
    "legacy": legacy.RULES,
    "nd_tensor": nd_tensor.RULES,
    "nd_math": nd_math.RULES,
    "control_flow": control_flow.RULES,
}

LAYER_RULES: dict[str, tuple[LayerRule, ...]] = {
    **spatial.RULES,
    **volumetric.RULES,
    **weighted.RULES,
    **recurrent.RULES,
    **legacy.RULES,
    **nd_tensor.RULES,
    **nd_math.RULES,
    **control_flow.RULES,
}


def input_bounds(kind: str) -> tuple[int, int | None] | None:
    """How many inputs Core ML's validator lets a layer of ``kind`` have, as ``(low, high)``
    with ``high`` ``None`` for no maximum; ``None`` when the kind's rules do not count inputs.
    The runtime checks a layer against these before building it, so a model loaded without
    validation fails in one line naming the layer instead of deep inside its unit."""
    for rule in LAYER_RULES.get(kind, ()):
        bounds = COUNTED_INPUTS.get(rule)
        if bounds is not None:
            low, high = bounds
            if low <= 0 and high <= 0:  # Core ML's (0, 0): nothing checked
                return None
            return max(low, 0), (high if high > 0 else None)
    return None
