"""Runtime, neural-network layer: Core ML ``whereNonZero``: the multi-indices of the non-zero
values of a tensor (``numpy.argwhere``).

``WhereNonZeroLayerParams`` (NeuralNetwork.proto, Core ML 3): 1 input of rank ``R``; the output
has rank 2, shape ``(count, R)``: one row per non-zero value (NaN counts as non-zero), in
row-major order, holding its index as floats (``[0, 1, 0, 2]`` gives ``[[1], [3]]``).

``count`` depends on the input's values. When the compiler knows them (an input computed from
constants) the shape is static; when a model input feeds them, ``runtime.Model`` compiles the
network once per set of input values (the core's ``runtime.nn.dynamic``): an example runs
with its own count, and the examples of one batch share a run only when their counts agree. A
tensor without a non-zero value would make an empty output, which a runtime blob cannot hold:
it is refused when the prediction runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import FeatureError, ShapeError

from ._common import where
from ._elementwise_values import unknown
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class WhereNonZeroAttrs:
    label: str  # the layer, for run-time errors
    count: int  # non-zero values per example


def found(label: str, x: np.ndarray, error=FeatureError) -> np.ndarray:
    """``argwhere(x)`` of one example's tensor, refusing an all-zero one with ``error``."""
    rows = np.argwhere(x != 0)
    if not len(rows):
        raise error(
            f"{label}: the input of shape {list(x.shape)} holds no non-zero value, so the "
            "output would be empty; Core ML tensors hold at least one value"
        )
    return rows


def build(layer, in_shapes: list[CoreMLShape], values) -> Built:
    input_count(layer, in_shapes, 1)
    if values[0] is None:
        raise unknown(layer, "input")
    rows = found(where(layer), np.asarray(values[0]).reshape(in_shapes[0]), ShapeError)
    return Built(WhereNonZeroAttrs(where(layer), len(rows)), {}, [(len(rows), len(in_shapes[0]))])


def forward(attrs: WhereNonZeroAttrs, params, xs, keep=False, out=None):
    """The indices of every example's non-zero values, ``(N, count, R)``."""
    del params, keep, out
    x = xs[0]
    rows = [found(attrs.label, example) for example in x]
    for n, got in enumerate(rows):
        if len(got) != attrs.count:
            raise FeatureError(
                f"{attrs.label}: example {n} holds {len(got)} non-zero values where the "
                f"compiled shape has {attrs.count}; the runtime batches examples of one shape"
            )
    return [np.stack(rows).astype(x.dtype)], None


KIND = LayerKind("whereNonZero", build, forward, layouts=(ND,), value_inputs=(0,))
