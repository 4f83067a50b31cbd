"""Runtime, training layer: writing trained weights back into a neural network's protobuf.

Only the ``WeightParams`` of the trained layers change: their values are replaced by float32
``floatValue`` arrays (any ``float16Value`` / ``rawValue`` encoding is cleared); the layer's
flags, every other layer and every other field stay as they were, so the written model is
the original with new weights, as Core ML's ``write(to:)`` produces.
"""

from __future__ import annotations

import numpy as np

from updatable import proto
from updatable import spec as spec_io
from updatable.errors import LayerNotFoundError

# runtime export key -> field of the layer params holding that WeightParams; any other key
# is the field's path below the layer params, dotted ("weightParams.inputGateWeightMatrix"
# for an LSTM, whose weights sit in a sub-message)
FIELDS = {"weights": "weights", "bias": "bias"}


def weights_field(params, key: str):
    """The ``WeightParams`` of ``params`` (a layer's params message) that export key ``key``
    names (see :data:`FIELDS`)."""
    target = params
    for part in FIELDS.get(key, key).split("."):
        target = getattr(target, part)
    return target


def set_weight_values(weights, values: np.ndarray) -> None:
    """Replace a ``WeightParams``' values with ``values`` as float32 ``floatValue``."""
    weights.ClearField("floatValue")
    weights.ClearField("float16Value")
    weights.ClearField("rawValue")
    weights.floatValue.extend(np.asarray(values, dtype=np.float32).ravel().tolist())


def write_weights(model_spec, trained: dict[str, dict[str, np.ndarray]]) -> None:
    """Install ``{layer: {"weights": W, "bias": b}}`` (Core ML layout; other keys name their
    field, see :data:`FIELDS`) into ``model_spec``."""
    layers = {layer.name: layer for layer in spec_io.network(model_spec).layers}
    for name, arrays in trained.items():
        layer = layers.get(name)
        if layer is None:
            raise LayerNotFoundError(
                f"no layer named '{name}' to write weights into; layers: {sorted(layers)}"
            )
        params = getattr(layer, spec_io.layer_kind(layer))
        for key, values in arrays.items():
            set_weight_values(weights_field(params, key), values)


def spec_with_weights(spec: proto.Model, weights: dict[str, dict[str, np.ndarray]]) -> proto.Model:
    """A copy of ``spec`` whose trained model (the network, or the last model of nested
    pipelines) holds ``weights`` (``{layer: {"weights", "bias"}}``, Core ML layout)."""
    copy = proto.Model()
    copy.CopyFrom(spec)
    trained, _ = spec_io.trained_model(copy)
    write_weights(trained, weights)
    return copy
