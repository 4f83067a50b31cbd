"""Runtime, tools layer: how well a classifier does on labelled examples: accuracy, per class,
confusion, loss.

Core ML reports only the training loss of an update; apps measure accuracy themselves by
running predictions on held-out data, which is what :func:`evaluate` does with any model that
has ``predict_batch`` (a :class:`runtime.Model`, or ``context.model`` inside an update
handler). It works for neural-network classifiers, kNN classifiers and pipelines ending in
either: it reads the model's ``predictedFeatureName`` and, when present, its
``predictedProbabilitiesName`` dictionary.

The loss is the mean cross-entropy ``-log(max(p_true, 1e-7))`` over the examples, the
validation loss Hollemans computes beside Core ML's update (docs/update-task-semantics.md §8),
with the probability floored at Keras' epsilon so that a class the model cannot predict costs
16.1 rather than infinity. It is ``None`` for a model without a probability output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from updatable.errors import FeatureError, UnsupportedModelError

PROBABILITY_FLOOR = 1e-7


def label_order(labels) -> tuple:
    """Labels sorted naturally: integers (and digit strings) by value, then other strings."""

    def key(label):
        text = str(label)
        return (0, int(text), "") if text.lstrip("-").isdigit() else (1, 0, text)

    return tuple(sorted(set(labels), key=key))


@dataclass(frozen=True)
class Evaluation:
    """Predictions of a classifier against the truth.

    ``classes`` lists every label seen in the truth or the predictions (natural order);
    ``confusion[i, j]`` counts examples of class ``classes[i]`` predicted as ``classes[j]``.
    """

    classes: tuple
    truth: tuple
    predicted: tuple
    confusion: np.ndarray
    loss: float | None

    @property
    def count(self) -> int:
        return len(self.truth)

    @property
    def accuracy(self) -> float:
        """The fraction of examples whose predicted label is the truth."""
        return float(np.trace(self.confusion) / self.count) if self.count else 0.0

    def class_counts(self) -> dict:
        """Examples per true class (classes that occur in the truth only)."""
        totals = self.confusion.sum(axis=1)
        return {c: int(n) for c, n in zip(self.classes, totals, strict=True) if n}

    def class_accuracy(self) -> dict:
        """Per true class, the fraction predicted correctly (recall)."""
        totals = self.confusion.sum(axis=1)
        return {
            c: float(self.confusion[i, i] / totals[i])
            for i, c in enumerate(self.classes)
            if totals[i]
        }


def _description(model):
    spec = model.spec() if callable(getattr(model, "spec", None)) else model.spec
    return spec.description


def evaluate(
    model, examples: Sequence[Mapping], truth: Sequence, *, batch_size: int = 64
) -> Evaluation:
    """Predict ``examples`` (dicts of input features) with ``model`` and compare the
    predicted labels with ``truth`` (one label per example, of the model's label type).

    Raises:
        UnsupportedModelError: the model predicts no label (not a classifier).
        FeatureError: ``examples`` and ``truth`` differ in length.
    """
    description = _description(model)
    label_name = description.predictedFeatureName
    if not label_name:
        raise UnsupportedModelError(
            "evaluate needs a classifier (a model with a predictedFeatureName); this model "
            f"has outputs {[f.name for f in description.output]}"
        )
    truth = tuple(truth)
    if len(examples) != len(truth):
        raise FeatureError(f"evaluate got {len(examples)} examples but {len(truth)} true labels")
    probabilities_name = description.predictedProbabilitiesName or None
    predicted, losses = [], []
    for first in range(0, len(examples), batch_size):
        chunk = list(examples[first : first + batch_size])
        for offset, output in enumerate(model.predict_batch(chunk)):
            predicted.append(output[label_name])
            scores = output.get(probabilities_name) if probabilities_name else None
            if isinstance(scores, Mapping):
                p_true = float(scores.get(truth[first + offset], 0.0))
                losses.append(-math.log(max(p_true, PROBABILITY_FLOOR)))
    classes = label_order([*truth, *predicted])
    position = {label: i for i, label in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for actual, guess in zip(truth, predicted, strict=True):
        confusion[position[actual], position[guess]] += 1
    loss = float(np.mean(losses)) if losses and len(losses) == len(truth) else None
    return Evaluation(classes, truth, tuple(predicted), confusion, loss)
