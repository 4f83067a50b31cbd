"""Updating a neural network (alone or as the last model of a pipeline) on the CPU.

Three parts, each replaceable: a :class:`TrainingSource` that reads examples from a batch
provider and turns them into a feature batch and loss targets (naming the example index in
every error, as Core ML's "Error in getting feature at index N"); a :class:`NumbaBackend` that
runs one mini-batch (frozen part forward, trainable slice forward + backward, optimizer
update); and :class:`NeuralNetworkUpdate`, which owns the hyperparameters, the loop state and
the write-back of the trained weights into a ``.mlmodel``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.model import features
from runtime.training import backprop, optim
from runtime.training.loop import LoopSettings, LoopState, TrainingError
from updatable.errors import FeatureError, UpdatableError


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
        values = []
        for feature in self.inputs:
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
        columns = [[] for _ in self.inputs]
        targets = []
        for index in indices:
            example = self.example(index)
            for column, value in zip(columns, self.inputs_of(index, example), strict=True):
                column.append(value)
            targets.append(self.target_of(index, example))
        batch = {f.name: features.stack(f, column) for f, column in
                 zip(self.inputs, columns, strict=True)}
        target = np.stack(targets) if self.target_shape is not None else np.asarray(
            targets, dtype=np.int64)
        return TrainingBatch(batch, target, list(indices))


class NumbaBackend:
    """One mini-batch at a time on the CPU: the default training backend.

    ``to_blobs(features) -> feeds`` turns a feature batch into the network's input blobs
    (for a pipeline it first runs the frozen earlier models). ``boundary`` computes the
    frozen part's outputs; training jobs may replace it with a cached version.
    """

    name = "numba"

    def __init__(self, cut: backprop.TrainingSlice, optimizer: optim.Optimizer, to_blobs):
        self.cut = cut
        self.optimizer = optimizer
        self.to_blobs = to_blobs
        self.opt_state = optimizer.init(backprop.trainable_params(cut))
        # A replacement for compute_boundary (training jobs install a cached one). Kept as a
        # separate attribute, not a bound method stored on self: that would be a reference
        # cycle holding the whole network until the cyclic garbage collector runs.
        self.boundary_source = None

    def compute_boundary(self, batch: TrainingBatch) -> dict[str, np.ndarray]:
        return backprop.frozen_forward(self.cut, self.to_blobs(batch.features))

    def boundary(self, batch: TrainingBatch) -> dict[str, np.ndarray]:
        """The frozen part's outputs for ``batch`` (through ``boundary_source`` if set)."""
        if self.boundary_source is not None:
            return self.boundary_source(batch)
        return self.compute_boundary(batch)

    def step(self, batch: TrainingBatch, learning_rate: float) -> float:
        loss, grads, _ = backprop.loss_and_gradients(self.cut, self.boundary(batch), batch.target)
        params = backprop.trainable_params(self.cut)
        new_params, self.opt_state = self.optimizer.update(
            grads, self.opt_state, params, learning_rate
        )
        backprop.assign_params(self.cut, new_params)
        return loss

    def evaluate(self, batch: TrainingBatch) -> tuple[float, np.ndarray]:
        """Loss and loss-input rows (logits for cross-entropy) without updating anything."""
        loss, _, output = backprop.loss_and_gradients(self.cut, self.boundary(batch),
                                                      batch.target)
        return loss, output.reshape(output.shape[0], -1)

    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        """Trained layers' weights in Core ML layout: ``{layer: {"weights", "bias"}}``."""
        return {step.name: step.kind.export(step.attrs, step.params)
                for step in self.cut.train_steps if step.name in self.cut.updatable}

    # checkpoints ---------------------------------------------------------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"param:{k}": v for k, v in backprop.trainable_params(self.cut).items()}
        arrays.update({f"opt:{k}": v for k, v in optim.state_to_arrays(self.opt_state).items()})
        return arrays

    def restore_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        params = backprop.trainable_params(self.cut)
        missing = [k for k in params if f"param:{k}" not in arrays]
        if missing:
            raise UpdatableError(f"checkpoint lacks the parameters {missing}")
        backprop.assign_params(self.cut, {k: arrays[f"param:{k}"].copy() for k in params})
        opt = {k[4:]: v for k, v in arrays.items() if k.startswith("opt:")}
        self.opt_state = optim.state_from_arrays(self.optimizer.init(params), opt)


def loop_settings(values: dict, events_epoch_end: bool, ml_compute: bool) -> LoopSettings:
    """Core ML's loop behaviour for these hyperparameter values (see ``runtime.training.loop``)."""
    return LoopSettings(
        epochs=int(values["epochs"]),
        batch_size=int(values["miniBatchSize"]),
        shuffle=bool(values["shuffle"]),
        seed=values.get("seed"),
        partial_last_batch=ml_compute,
        mean_epoch_loss=ml_compute,
        # the default engine reshuffles inside its epoch callback, which it installs only
        # when the app subscribed to epochEnd (update-task-semantics.md §A.6)
        reshuffle_each_epoch=ml_compute or events_epoch_end,
    )


def new_loop_state(count: int, settings: LoopSettings) -> LoopState:
    return LoopState.start(count, settings)
