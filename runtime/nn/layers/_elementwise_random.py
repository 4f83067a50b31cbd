"""Runtime, neural-network layer: the random kinds (``randomNormal*``, ``randomUniform*``,
``randomBernoulli*``, each ``Like``, ``Static`` or ``Dynamic``): one build, one forward.

NeuralNetwork.proto (``RandomNormalLikeLayerParams`` .. ``RandomBernoulliDynamicLayerParams``,
Core ML 3): a tensor of independent draws from N(``mean``, ``stdDev``), U(``minVal``,
``maxVal``) or Bernoulli(``prob``) (1.0 with probability ``prob``, else 0.0). Its shape is the
input's (``Like``: the values are ignored), ``outputShape`` (``Static``: no input) or the value
of the input, a rank-1 tensor (``Dynamic``: known when the model loads, see
``runtime.nn.layers._elementwise_values``).

Draws come from numpy's ``Generator`` (PCG64), which is **not** the generator of a device:
the same seed gives other numbers on an iPhone, with the same distribution. ``seed >= 0``: the
generator is seeded with it at every prediction, so a model gives the same values on every
call, and every example of a batch the values one prediction gets (a seed makes the layer
reproducible, as coremltools describes it: "a reproducible sequence of values across multiple
invokes"). A negative seed (converters write -1): fresh entropy at every run, every example
drawing its own values (a layer without input draws once per run). Core ML's validator
refuses ``minVal > maxVal`` and ``prob`` outside ``[0, 1]``; the runtime also refuses a
negative ``stdDev``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError

from ._common import where
from ._elementwise_values import positive_shape, shape_from
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind

FORMS = ("Like", "Static", "Dynamic")


@dataclass(frozen=True)
class RandomAttrs:
    distribution: str  # "Normal", "Uniform" or "Bernoulli"
    seed: int | None  # None: fresh entropy at every run
    first: float  # mean, minVal or prob
    second: float  # stdDev, maxVal or 0
    shape: CoreMLShape
    per_run: bool  # no input: one draw for the whole run


def split(oneof: str) -> tuple[str, str]:
    """``"randomNormalLike"`` -> ``("Normal", "Like")``."""
    body = oneof.removeprefix("random")
    form = next(f for f in FORMS if body.endswith(f))
    return body.removesuffix(form), form


def parameters(layer, distribution: str, p) -> tuple[float, float]:
    """The distribution's two parameters, checked."""
    if distribution == "Normal":
        first, second = float(p.mean), float(p.stdDev)
        if second < 0:
            raise ShapeError(f"{where(layer)}: stdDev {second:g} must not be negative")
    elif distribution == "Uniform":
        first, second = float(p.minVal), float(p.maxVal)
        if first > second:
            raise ShapeError(f"{where(layer)}: minVal {first:g} is greater than maxVal {second:g}")
    else:
        first, second = float(p.prob), 0.0
        if not 0.0 <= first <= 1.0:
            raise ShapeError(f"{where(layer)}: prob {first:g} must lie in [0, 1]")
    return first, second


def build(layer, in_shapes: list[CoreMLShape], values=None) -> Built:
    oneof = layer.WhichOneof("layer")
    distribution, form = split(oneof)
    p = getattr(layer, oneof)
    if form == "Static":
        input_count(layer, in_shapes, 0)
        shape = positive_shape(layer, p.outputShape, "outputShape")
    elif form == "Like":
        input_count(layer, in_shapes, 1)
        shape = tuple(in_shapes[0])
    else:
        input_count(layer, in_shapes, 1)
        shape = shape_from(layer, values[0], "input (the output shape)")
    first, second = parameters(layer, distribution, p)
    seed = int(p.seed) if p.seed >= 0 else None
    attrs = RandomAttrs(distribution, seed, first, second, shape, form == "Static")
    return Built(attrs, {}, [shape])


def draw(attrs: RandomAttrs, rng: np.random.Generator, size) -> np.ndarray:
    """``size`` float64 draws of the layer's distribution."""
    if attrs.distribution == "Normal":
        return rng.normal(attrs.first, attrs.second, size)
    if attrs.distribution == "Uniform":
        return rng.uniform(attrs.first, attrs.second, size)
    return (rng.random(size) < attrs.first).astype(np.float64)


def forward(attrs: RandomAttrs, params, xs, keep=False, out=None):
    """Draws of ``(N, *shape)`` (module docstring: seeds, examples, runs)."""
    del params, keep, out
    count = 1 if attrs.per_run else xs[0].shape[0]
    dtype = np.float32 if attrs.per_run else xs[0].dtype
    if attrs.seed is None:
        values = draw(attrs, np.random.default_rng(), (count, *attrs.shape))
    else:
        one = draw(attrs, np.random.default_rng(attrs.seed), attrs.shape)
        values = np.broadcast_to(one, (count, *attrs.shape))
    return [np.ascontiguousarray(values, dtype=dtype)], None


def kind(oneof: str) -> LayerKind:
    """The ``LayerKind`` of one random layer (each unit makes its own)."""
    dynamic = split(oneof)[1] == "Dynamic"
    return LayerKind(oneof, build, forward, layouts=(ND,), value_inputs=(0,) if dynamic else ())
