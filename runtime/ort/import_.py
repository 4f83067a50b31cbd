"""Runtime, ONNX layer: write the weights of an ONNX Runtime training checkpoint back into a Core
ML model.

A model exported with :func:`runtime.ort.write_artifacts` and personalised with ORT's training
API on any platform (Android, Windows, a server...) comes back as a ``checkpoint``; this
module copies its trained weights into the ``.mlmodel`` the artifacts were made from, so the
personalised model runs in Core ML (and in :class:`runtime.Model`) again.

The checkpoint's ``coreml.parameters`` property maps each ONNX parameter to its layer and
field; a checkpoint written by other tools falls back to the exporter's naming,
``"<layer>.weights"`` / ``"<layer>.bias"``. Only trainable parameters (``requires_grad``) are
imported: frozen weights never change in training. Every parameter must name an existing
convolution or inner-product layer and have that layer's number of values; otherwise nothing
is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from runtime.ort import deps
from runtime.ort import weights as wp
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import CheckpointError, UnsupportedLayerError

FIELDS = ("weights", "bias")
WEIGHTED_KINDS = ("convolution", "innerProduct")


def read_checkpoint(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """The trainable weights of an ORT checkpoint as ``{layer: {"weights", "bias"}}``."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    api = deps.training_api("reading an ONNX Runtime checkpoint").api
    try:
        state = api.CheckpointState.load_checkpoint(str(path))
    except Exception as exc:  # ORT raises RuntimeError / its own fail types from native code
        raise CheckpointError(f"{path}: not a readable ONNX Runtime checkpoint ({exc})") from None
    mapping = {}
    if "coreml.parameters" in state.properties:
        mapping = json.loads(state.properties["coreml.parameters"])
    layers: dict[str, dict[str, np.ndarray]] = {}
    for name, parameter in state.parameters:
        if not parameter.requires_grad:
            continue
        layer, field = mapping.get(name) or _split_name(name, path)
        layers.setdefault(layer, {})[field] = np.array(parameter.data, dtype=np.float32)
    if not layers:
        raise CheckpointError(f"{path}: the checkpoint holds no trainable parameters")
    return layers


def _split_name(name: str, path: Path) -> tuple[str, str]:
    layer, _, field = name.rpartition(".")
    if not layer or field not in FIELDS:
        raise CheckpointError(
            f"{path}: parameter '{name}' has no 'coreml.parameters' entry and does not follow "
            "the '<layer>.weights' / '<layer>.bias' naming; cannot tell which layer it belongs to"
        )
    return layer, field


def apply_weights(spec, weights: Mapping[str, Mapping[str, np.ndarray]]) -> proto.Model:
    """A copy of ``spec`` with ``{layer: {"weights": W, "bias": b}}`` written in (Core ML
    layout, any shape with the right number of values). The input spec is not modified."""
    updated = proto.Model()
    updated.CopyFrom(spec)
    for layer_name, fields in weights.items():
        layer = spec_io.find_layer(updated, layer_name)
        kind = spec_io.layer_kind(layer)
        if kind not in WEIGHTED_KINDS:
            raise UnsupportedLayerError(
                f"layer '{layer_name}' has kind '{kind}'; trained weights can only go into "
                f"{list(WEIGHTED_KINDS)} layers"
            )
        params = getattr(layer, kind)
        for field, values in fields.items():
            if field not in FIELDS or (field == "bias" and not params.hasBias):
                raise CheckpointError(
                    f"layer '{layer_name}' has no '{field}' to import into; it has "
                    f"{['weights', 'bias'] if params.hasBias else ['weights']}"
                )
            expected = _stored_count(getattr(params, field))
            if np.size(values) != expected:
                raise CheckpointError(
                    f"the {field} of layer '{layer_name}' hold {expected} values; the "
                    f"checkpoint has {np.size(values)} (shape {list(np.shape(values))}): it "
                    "was not made from this model"
                )
            wp.write(getattr(params, field), np.asarray(values, np.float32))
    return updated


def _stored_count(weights) -> int:
    if len(weights.floatValue):
        return len(weights.floatValue)
    if weights.float16Value:
        return len(weights.float16Value) // 2
    return len(weights.rawValue) // 4


def import_checkpoint(spec, checkpoint: str | os.PathLike) -> proto.Model:
    """A copy of ``spec`` (a ``Model``, a path or a coremltools ``MLModel``) with the
    checkpoint's trained weights."""
    spec = spec_io.as_spec(spec, "import_checkpoint")
    return apply_weights(spec, read_checkpoint(checkpoint))


def import_into_file(
    model: spec_io.ModelSource,
    checkpoint: str | os.PathLike,
    output: str | os.PathLike | None = None,
) -> Path:
    """Read ``model``, import ``checkpoint`` and write the result atomically to ``output``
    (default: over ``model``, which must then be a path). Returns the path written."""
    if output is not None:
        target = Path(output)
    elif isinstance(model, str | os.PathLike):
        target = Path(model)
    else:
        raise TypeError(
            f"import_into_file: the model is a {type(model).__name__}, not a file to write "
            "over; pass output= the .mlmodel path to write"
        )
    updated = import_checkpoint(model, checkpoint)
    spec_io.save(updated, target)
    return target
