"""Runtime, neural-network layer: Core ML ``NonMaximumSuppression`` layer: greedy selection of
boxes by score, dropping boxes that overlap a selected one.

``NonMaximumSuppressionLayerParams`` (NeuralNetwork.proto, Core ML 3): inputs ``boxes [B, N,
4]`` (centre x, centre y, width, height), ``scores [B, N, C]``, and optionally scalars that
replace ``iouThreshold``, ``scoreThreshold`` and ``maxBoxes``; outputs ``[B, maxBoxes, 4]``
boxes, ``[B, maxBoxes, C]`` scores, ``[B, maxBoxes]`` indices and ``[B]`` counts. Per batch
entry ``b`` (and per example of the runtime's batch):

1. a box's score is the maximum of its ``C`` class scores, its class their argmax;
2. boxes whose score is not above ``scoreThreshold`` are rejected;
3. the rest, by decreasing score (equal scores: lower index first), are kept unless their
   intersection over union with a kept box (of the same class, with
   ``perClassSuppression``) is above ``iouThreshold``, until ``maxBoxes`` are kept;
4. outputs list the kept boxes in that order, padded with 0 (boxes, scores) and -1
   (indices); when no box survives, the box with the highest score is the one output (the
   proto's rule "to avoid generating an empty output").

"Above" is strict in both tests, as in TensorFlow's ``non_max_suppression``, the reference
coremltools checks this layer against. A ``maxBoxes`` input must be known at load (the
runtime compiles static shapes); threshold inputs may be data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from updatable.errors import ShapeError, UnsupportedLayerError

from ._common import where
from ._nd_axes import input_count
from .base import ND, Built, CoreMLShape, LayerKind


@dataclass(frozen=True)
class NMSAttrs:
    iou: float
    score: float
    max_boxes: int
    per_class: bool


def build(layer, in_shapes: list[CoreMLShape], values=None) -> Built:
    input_count(layer, in_shapes, 2, 5)
    boxes, scores = (tuple(s) for s in in_shapes[:2])
    if len(boxes) != 3 or boxes[2] != 4 or len(scores) != 3 or scores[:2] != boxes[:2]:
        raise ShapeError(
            f"{where(layer)}: expects boxes [B, N, 4] and scores [B, N, C]; got "
            f"{list(boxes)} and {list(scores)}"
        )
    if any(int(np.prod(s)) != 1 for s in in_shapes[2:]):
        raise ShapeError(
            f"{where(layer)}: threshold and maxBoxes inputs must be scalars; got "
            f"{[list(s) for s in in_shapes[2:]]}"
        )
    params = layer.NonMaximumSuppression
    max_boxes = int(params.maxBoxes)
    if len(in_shapes) == 5:
        if values is None or values[4] is None:
            raise UnsupportedLayerError(
                f"{where(layer)}: its maxBoxes input '{layer.input[4]}' depends on the model "
                "inputs; the runtime compiles static shapes, so maxBoxes must be known at load"
            )
        max_boxes = int(np.asarray(values[4]).ravel()[0])
    if max_boxes < 1:
        raise ShapeError(f"{where(layer)}: maxBoxes must be at least 1; got {max_boxes}")
    batch = boxes[0]
    attrs = NMSAttrs(
        float(params.iouThreshold),
        float(params.scoreThreshold),
        max_boxes,
        bool(params.perClassSuppression),
    )
    out = [(batch, max_boxes, 4), (batch, max_boxes, scores[2]), (batch, max_boxes), (batch,)]
    return Built(attrs, {}, out)


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one centre-size box with each of ``others`` (0 when the
    union is empty)."""
    low = np.maximum(box[:2] - box[2:] / 2, others[:, :2] - others[:, 2:] / 2)
    high = np.minimum(box[:2] + box[2:] / 2, others[:, :2] + others[:, 2:] / 2)
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    union = np.prod(box[2:]) + np.prod(others[:, 2:], axis=1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def select(boxes, scores, iou_limit: float, score_limit: float, attrs: NMSAttrs) -> list[int]:
    """Indices kept for one batch entry (module docstring, steps 1-3)."""
    best, label = scores.max(axis=1), scores.argmax(axis=1)
    order = [int(i) for i in np.argsort(-best, kind="stable") if best[i] > score_limit]
    kept: list[int] = []
    for i in order:
        rivals = [j for j in kept if not attrs.per_class or label[j] == label[i]]
        if rivals and (iou(boxes[i], boxes[rivals]) > iou_limit).any():
            continue
        kept.append(i)
        if len(kept) == attrs.max_boxes:
            break
    return kept or [int(np.argmax(best))]


def forward(attrs: NMSAttrs, params, xs, keep=False, out=None):
    """Selection per example and batch entry, outputs padded to ``maxBoxes``."""
    del params, keep, out
    boxes, scores = xs[0], xs[1]
    examples, batch = boxes.shape[:2]
    limits = [attrs.iou, attrs.score]
    per_example = [xs[2 + k].reshape(examples) if len(xs) > 2 + k else None for k in range(2)]
    dtype = boxes.dtype
    kept_boxes = np.zeros((examples, batch, attrs.max_boxes, 4), dtype)
    kept_scores = np.zeros((examples, batch, attrs.max_boxes, scores.shape[-1]), dtype)
    indices = np.full((examples, batch, attrs.max_boxes), -1, dtype)
    counts = np.zeros((examples, batch), dtype)
    for e in range(examples):
        iou_limit, score_limit = (
            limits[k] if (given := per_example[k]) is None else float(given[e]) for k in range(2)
        )
        for b in range(batch):
            kept = select(boxes[e, b], scores[e, b], iou_limit, score_limit, attrs)
            kept_boxes[e, b, : len(kept)] = boxes[e, b, kept]
            kept_scores[e, b, : len(kept)] = scores[e, b, kept]
            indices[e, b, : len(kept)] = kept
            counts[e, b] = len(kept)
    return [kept_boxes, kept_scores, indices, counts], None


KIND = LayerKind("NonMaximumSuppression", build, forward, layouts=(ND,), value_inputs=(4,))
