"""Runtime, neural-network layer: Core ML ``categoricalDistribution``: class indices drawn from the
distributions along the last axis.

``CategoricalDistributionLayerParams`` (NeuralNetwork.proto, Core ML 3): an input of shape
``[D1, .., D(R-1), C]`` holds one distribution over ``C`` classes per leading position, as
logits (``isLogits``) or probabilities; the output ``[D1, .., D(R-1), numSamples]`` holds that
many independent draws (with replacement) per distribution, as floats holding class indices::

    p = softmax(x / temperature)                 isLogits
    p = softmax(log(x + eps) / temperature)      probabilities

The probabilities form is the logits form of their logarithm (coremltools lowers "probs" to a
log before this layer); ``eps`` defaults to 1e-10 and ``temperature`` to 1.0 when unset or 0,
as the proto gives those defaults. Draws: inverse CDF on uniforms from numpy's generator, not
bit-equal to a device's; seeds and batches as for the other random kinds
(``runtime.nn.layers._elementwise_random``: a seed >= 0 repeats the same uniforms at every
prediction and for every example).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import or_default, where
from ._elementwise_values import check_count
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class CategoricalAttrs:
    seed: int | None  # None: fresh entropy at every run
    samples: int
    logits: bool
    eps: float
    temperature: float


def build(layer, in_shapes: list[CoreMLShape]) -> Built:
    input_count(layer, in_shapes, 1)
    p = layer.categoricalDistribution
    shape = tuple(in_shapes[0])
    if p.numSamples < 1:
        raise ShapeError(f"{where(layer)}: numSamples {p.numSamples} must be at least 1")
    check_count(layer, math.prod(shape[:-1]) * int(p.numSamples), "numSamples")
    temperature = or_default(p.temperature, 1.0)
    if temperature < 0:
        raise ShapeError(f"{where(layer)}: temperature {temperature:g} must be positive")
    attrs = CategoricalAttrs(
        int(p.seed) if p.seed >= 0 else None,
        int(p.numSamples),
        bool(p.isLogits),
        or_default(p.eps, 1e-10),
        temperature,
    )
    return Built(attrs, {}, [(*shape[:-1], int(p.numSamples))])


def probabilities(attrs: CategoricalAttrs, x: np.ndarray) -> np.ndarray:
    """The class probabilities along the last axis (float64)."""
    logits = x.astype(np.float64) if attrs.logits else np.log(x.astype(np.float64) + attrs.eps)
    scaled = logits / attrs.temperature
    e = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def forward(attrs: CategoricalAttrs, params, xs, keep=False, out=None):
    """``numSamples`` class indices per distribution, by inverse CDF."""
    del params, keep, out
    x = xs[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf = np.cumsum(probabilities(attrs, x), axis=-1)
    lead = x.shape[1:-1]
    if attrs.seed is None:
        uniforms = np.random.default_rng().random((x.shape[0], *lead, attrs.samples))
    else:
        one = np.random.default_rng(attrs.seed).random((*lead, attrs.samples))
        uniforms = np.broadcast_to(one, (x.shape[0], *lead, attrs.samples))
    # the first class whose cumulative probability exceeds the uniform draw
    below = (uniforms[..., :, None] >= cdf[..., None, :]).sum(axis=-1)
    chosen = np.minimum(below, x.shape[-1] - 1)
    return [np.ascontiguousarray(chosen, dtype=x.dtype)], None


KIND = LayerKind("categoricalDistribution", build, forward, layouts=(ND,))
