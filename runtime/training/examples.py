"""Runtime, training layer: examples read from a batch provider, turned into mini-batches.

A :class:`TrainingSource` reads ``features(i)`` from a provider for a network's inputs and
loss target, and names the example index in every error, as Core ML's "Error in getting
feature at index N" does; ``fetch(indices)`` gives the :class:`TrainingBatch` the loop trains
on (model-input features, loss targets and the provider indices). An example may leave out
an optional input: the network then reads zeros there, as ``runtime.nn.engine`` feeds an
optional input that a batch leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.model import features
from runtime.training import interrupt
from runtime.training.loop import TrainingError
from updatable.errors import FeatureError


@dataclass
class TrainingBatch:
    """A mini-batch: model-input features, loss targets and the provider indices."""

    features: dict
    target: np.ndarray
    indices: list[int]


class ExampleError(TrainingError):
    """An example the provider returned (or failed to return) cannot be used."""


class TrainingSource:
    """Reads examples ``features(i)`` from a provider for a network's training inputs.

    ``inputs`` are the model input descriptions the network reads; ``target_names`` the
    feature names that may carry the loss target, in order of preference (the loss layer's
    ``target``, then, for a classifier trained on its probabilities, ``predictedFeatureName``);
    ``labels`` maps a class label to its index for a classifier; ``target_shape`` is the MSE
    target shape, or ``None`` for cross-entropy.
    """

    def __init__(self, provider, inputs, target_names, labels, target_shape):
        self.provider = provider
        self.inputs = list(inputs)
        self.target_names = list(target_names)
        self.label_index = None if labels is None else {label: i for i, label in enumerate(labels)}
        self.labels = labels
        self.target_shape = target_shape
        self.count = int(provider.count)

    def example(self, index: int):
        try:
            example = self.provider.features(index)
        except Exception as exc:  # a provider's own failure, reported with its index
            raise ExampleError(
                f"Error in getting feature at index {index}: {type(exc).__name__}: {exc}"
            ) from exc
        if example is None:
            raise ExampleError(f"Received nil feature provider for index {index}")
        if not hasattr(example, "keys") or not hasattr(example, "__getitem__"):
            raise ExampleError(
                f"Error in getting feature at index {index}: expected a dict of features, "
                f"got {type(example).__name__}"
            )
        return example

    def inputs_of(self, index: int, example) -> list:
        """The example's input values; ``None`` for an optional input it leaves out."""
        values: list[Any] = []
        for feature in self.inputs:
            if feature.name not in example and feature.type.isOptional:
                values.append(None)
                continue
            if feature.name not in example:
                raise ExampleError(
                    f"Unable to get training input '{feature.name}' for example index {index}; "
                    f"the example has {sorted(example.keys())}"
                )
            try:
                values.append(features.convert(feature, example[feature.name]))
            except FeatureError as exc:
                raise ExampleError(f"example index {index}: {exc}") from None
        return values

    def target_of(self, index: int, example):
        name = next((n for n in self.target_names if n in example), None)
        if name is None:
            raise ExampleError(
                f"Unable to get training input for example index {index}: no target feature "
                f"{' or '.join(repr(n) for n in self.target_names)}; the example has "
                f"{sorted(example.keys())}"
            )
        value = example[name]
        if self.target_shape is not None:  # MSE: an array of the loss input's shape
            height, width, channels = self.target_shape
            array = np.asarray(value, dtype=np.float32)
            if array.size != height * width * channels:
                core_ml = [channels, height, width] if height * width > 1 else [channels]
                raise ExampleError(
                    f"example index {index}: target '{name}' must have "
                    f"{height * width * channels} values (shape {core_ml}); got shape "
                    f"{list(array.shape)}"
                )
            # Core ML order [C, H, W] -> the runtime's (H, W, C) blob layout
            return array.reshape(channels, height, width).transpose(1, 2, 0)
        if self.label_index is not None and not isinstance(value, np.ndarray | list):
            if isinstance(value, np.generic):
                value = value.item()
            if value not in self.label_index:
                raise ExampleError(
                    f"example index {index}: label {value!r} is not one of the classifier's "
                    f"labels {self.labels}"
                )
            return self.label_index[value]
        array = np.asarray(value).reshape(-1)  # a class index, e.g. an INT32 [1] multiArray
        if array.size != 1 or not np.isfinite(array[0]) or array[0] != int(array[0]):
            raise ExampleError(
                f"example index {index}: target '{name}' must be a class index; got {value!r}"
            )
        return int(array[0])

    def fetch(self, indices: list[int]) -> TrainingBatch:
        columns: list[list[Any]] = [[] for _ in self.inputs]
        targets = []
        for position, index in enumerate(indices):
            if position % interrupt.POLL_EVERY == 0:
                interrupt.poll()  # a cancel is seen within a huge mini-batch too
            example = self.example(index)
            for column, value in zip(columns, self.inputs_of(index, example), strict=True):
                column.append(value)
            targets.append(self.target_of(index, example))
        batch = {
            f.name: features.stack(f, _filled(column))
            for f, column in zip(self.inputs, columns, strict=True)
            if any(v is not None for v in column)
        }
        target = (
            np.stack(targets)
            if self.target_shape is not None
            else np.asarray(targets, dtype=np.int64)
        )
        return TrainingBatch(batch, target, list(indices))


def _filled(column: list) -> list:
    """An optional input's column with the examples that leave it out given zeros (what the
    network engine feeds when every example leaves it out)."""
    present = next(v for v in column if v is not None)
    return [np.zeros_like(present) if v is None else v for v in column]
