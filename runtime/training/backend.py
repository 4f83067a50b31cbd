"""Runtime, training layer: the default training backend, one mini-batch at a time on the CPU.

:class:`NumbaBackend` runs the frozen part of the network forward, the trainable slice
forward and backward, and the optimizer update (``step(batch, learning_rate) -> loss``); it
also evaluates without updating, reports the trained weights in Core ML layout and saves or
restores its state for checkpoints. The ONNX Runtime backend (``runtime.ort.backend``) offers
the same methods.
"""

from __future__ import annotations

import numpy as np

from runtime.training import backprop, optim
from runtime.training.examples import TrainingBatch
from updatable.errors import UpdatableError


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

    @classmethod
    def for_update(cls, update) -> NumbaBackend:
        """The backend of a prepared neural-network update (its cut, optimizer and inputs)."""
        return cls(update.cut, update.optimizer, update.to_blobs)

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
        loss, _, output = backprop.loss_and_gradients(self.cut, self.boundary(batch), batch.target)
        return loss, output.reshape(output.shape[0], -1)

    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        """Trained layers' weights in Core ML layout: ``{layer: {"weights", "bias"}}``."""
        weights = {}
        for step in self.cut.train_steps:
            if step.name in self.cut.updatable:
                export = step.kind.export
                assert export is not None, f"{step.name} is trained, so its kind exports"
                weights[step.name] = export(step.attrs, step.params)
        return weights

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
