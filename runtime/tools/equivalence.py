"""Runtime, tools layer: what the spec-side repairs (``updatable.edit.repair``) need from a
forward pass: the Core ML shape of every blob, and a check that two versions of a model give
the same outputs.

The spec side never imports the runtime, so ``updatable.repair`` takes both as
arguments; the ``make-updatable`` command and :func:`repair` here pass these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from runtime.model.images import image_channels
from runtime.model.mlmodel import Model
from runtime.nn.graph import compile_network
from updatable import proto
from updatable.edit.repair import repair as repair_network
from updatable.errors import SurgeryError, UpdatableError
from updatable.spec import trained_model

EXAMPLES = 8
# float32 rewrites may reorder a sum (a global average pooling for a mean over H, W); anything
# beyond rounding is a different model
RTOL, ATOL = 1e-5, 1e-6


def blob_shapes(spec: proto.Model) -> dict[str, tuple[int, ...]]:
    """Blob name -> Core ML shape (one prediction, full rank) of the network of ``spec`` (the
    last model of a pipeline)."""
    model, _ = trained_model(spec)
    network = compile_network(model, fuse=False)
    return {name: tuple(tensor.shape) for name, tensor in network.tensors.items()}


def random_examples(description, count: int = EXAMPLES, seed: int = 0, *, indices=False):
    """``count`` examples for ``description``'s inputs: standard normal multiArrays (integers
    0 and 1 when ``indices``, for inputs that are embedding ids), images of uniform random
    pixels."""
    rng = np.random.default_rng(seed)
    examples: list[dict[str, Any]] = [{} for _ in range(count)]
    for feature in description.input:
        kind = feature.type.WhichOneof("Type")
        for example in examples:
            if kind == "imageType":
                image = feature.type.imageType
                shape = (image.height, image.width, image_channels(image)[1])
                example[feature.name] = rng.integers(0, 256, shape).astype(np.float32)
            elif kind == "multiArrayType":
                array = feature.type.multiArrayType
                shape = tuple(array.shape) or tuple(
                    array.enumeratedShapes.shapes[0].shape
                    if array.enumeratedShapes.shapes
                    else [r.lowerBound for r in array.shapeRange.sizeRanges]
                )
                values = rng.integers(0, 2, shape) if indices else rng.standard_normal(shape)
                example[feature.name] = values.astype(np.float32)
            else:
                raise SurgeryError(
                    f"input '{feature.name}' is a {kind}; the equivalence check draws random "
                    "images and multiArrays only"
                )
    return examples


def _predict(spec, examples):
    return Model.compile(spec).predict_batch(examples)


def _numbers(outputs: dict) -> dict[str, np.ndarray]:
    values = {}
    for name, value in outputs.items():
        if isinstance(value, dict):
            keys = sorted(value, key=str)
            values[name] = np.array([value[k] for k in keys], np.float64)
        elif isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
            values[name] = np.asarray(value, np.float64).ravel()
    return values


def check_equivalent(before: proto.Model, after: proto.Model, *, count=EXAMPLES, seed=0) -> str:
    """Run both models on the same ``count`` random inputs and compare every numeric output
    (probability dictionaries included) to ``|a - b| <= ATOL + RTOL * |b|``.

    Returns the evidence line, e.g. ``"outputs equal on 8 random inputs (max |difference|
    2.4e-08)"``. Raises ``SurgeryError`` naming the output and the difference otherwise.
    """
    try:
        examples = random_examples(before.description, count, seed)
        reference = _predict(before, examples)
    except UpdatableError:
        # inputs that are indices (an embedding's ids) refuse normal draws
        examples = random_examples(before.description, count, seed, indices=True)
        reference = _predict(before, examples)
    outputs = _predict(after, examples)
    worst = 0.0
    for old, new in zip(reference, outputs, strict=True):
        old_values, new_values = _numbers(old), _numbers(new)
        for name, expected in old_values.items():
            got = new_values.get(name)
            if got is None or got.shape != expected.shape:
                raise SurgeryError(f"output '{name}' changed shape or disappeared after the repair")
            difference = np.abs(got - expected)
            if not np.all(difference <= ATOL + RTOL * np.abs(expected)):
                raise SurgeryError(
                    f"output '{name}' differs after the repair by up to {difference.max():.3g} "
                    f"on random inputs; the rewrite is not equivalent"
                )
            worst = max(worst, float(difference.max(initial=0.0)))
    return f"outputs equal on {count} random inputs (max |difference| {worst:.1e})"


def repair(spec: proto.Model) -> list:
    """``updatable.repair`` with the runtime's shapes and forward check: rewrite ``spec`` (in
    place) into layer kinds Core ML trains through, each rewrite proven on random inputs.
    Returns the :class:`updatable.Repair` list (each prints as ``message: evidence``)."""
    return repair_network(spec, shapes=blob_shapes, check=check_equivalent)
