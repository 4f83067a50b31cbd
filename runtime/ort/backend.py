"""Runtime, ONNX layer: training backends that run mini-batches in ONNX Runtime's on-device
training API.

:class:`OrtTrainingBackend` implements the training-backend interface::

    step(batch, target, learning_rate) -> loss     # forward, mean loss, backward, update
    evaluate(batch, target) -> (loss, outputs)     # no update
    weights() -> {layer: {"weights": W, "bias": b}}  # Core ML layout

``batch`` is a feature batch (docs/ARCHITECTURE.md) of the model inputs; ``target`` holds class
indices ``(N,)`` for cross-entropy or values ``(N, *shape)`` for MSE. ``outputs`` are the values
of the loss layer's input blob, ``(N, *shape)``: the softmax probabilities for cross-entropy.
:class:`OrtTaskBackend` adapts it to the update loop (``runtime.training.loop``), so
``UpdateTask(..., backend="onnxruntime")`` keeps Core ML's events, metrics, batching and
shuffle order and only swaps the arithmetic. SGD with momentum is refused (ORT's SGD has
none; see :mod:`runtime.ort.artifacts`).

The default ``split`` layout runs the frozen prefix in an inference session and trains only the
head (the fastest honest ORT configuration); ``whole`` trains one graph from the model inputs.
Both sessions are told not to spin their idle threads
(``session.intra_op.allow_spinning = 0``): two spinning pools used alternately steal each
other's cores.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from runtime.model.engines.pipeline import split_at
from runtime.ort import deps
from runtime.ort.artifacts import TrainingArtifacts, write_artifacts
from runtime.ort.plan import CROSS_ENTROPY
from updatable import spec as spec_io
from updatable.errors import FeatureError, ModelFileError


class OrtTrainingBackend:
    """ONNX Runtime trainer for one updatable neural network; build it with :meth:`create`."""

    def __init__(
        self, artifacts: TrainingArtifacts, state, module, optimizer, frozen, workdir: Path
    ):
        self.artifacts_ = artifacts
        self.state_ = state
        self.module_ = module
        self.optimizer_ = optimizer
        self.frozen_ = frozen
        self.inputs_ = module.input_names()
        # the artifact directory lives as long as the backend
        self._cleanup = weakref.finalize(self, shutil.rmtree, workdir, True)

    @classmethod
    def create(
        cls,
        spec,
        hyperparameters: Mapping[Any, Any] | None = None,
        *,
        layout: str = "split",
        threads: int = 0,
        prune_maxpool_indices: bool = True,
    ) -> OrtTrainingBackend:
        """Write training artifacts for ``spec`` into a private temporary directory and load them.

        Args:
            spec: an updatable neural-network ``Model`` (or a path to one, or a coremltools
                ``MLModel``).
            hyperparameters: values to train with (``{"beta1": 0.9, ...}``; keys are Core ML
                names or ``ParameterKey``s), checked against the model's allowed values;
                missing ones take the model's defaults. The learning rate is passed per step.
            layout: ``"split"`` or ``"whole"`` (see :func:`runtime.ort.write_artifacts`).
            threads: ORT intra-op threads per session (0: ORT's default, one per core).
            prune_maxpool_indices: ``False`` keeps the training graph as ORT generates it.
        """
        api = deps.training_api("the ONNX Runtime training backend").api
        import onnxruntime

        spec = spec_io.as_spec(spec, "OrtTrainingBackend.create")
        workdir = Path(tempfile.mkdtemp(prefix="coreml-updatable-ort-"))
        try:
            artifacts = write_artifacts(
                spec,
                workdir / "artifacts",
                layout=layout,
                hyperparameters=hyperparameters,
                prune_maxpool_indices=prune_maxpool_indices,
            )
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            # ORT warns on every load that the SGD block's [1]-shaped "updated" flag is
            # inferred as a scalar; errors still surface as exceptions.
            options.log_severity_level = 3
            state = api.CheckpointState.load_checkpoint(str(artifacts.path("checkpoint")))
            module = api.Module(
                str(artifacts.path("training_model")),
                state,
                str(artifacts.path("eval_model")),
                session_options=options,
            )
            optimizer = api.Optimizer(str(artifacts.path("optimizer_model")), module)
            frozen = None
            if artifacts.path("frozen_model").exists():
                frozen = onnxruntime.InferenceSession(
                    str(artifacts.path("frozen_model")),
                    options,
                    providers=["CPUExecutionProvider"],
                )
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return cls(artifacts, state, module, optimizer, frozen, workdir)

    # -- the training-backend interface ---------------------------------------------------
    def step(self, batch: Mapping[str, Any], target: np.ndarray, learning_rate: float) -> float:
        """One mini-batch: forward, mean loss, backward, optimizer update; returns the loss."""
        feeds = self._feeds(batch, target)
        self.module_.train()
        self.optimizer_.set_learning_rate(float(learning_rate))
        outputs = self.module_(*feeds)
        self.optimizer_.step()
        self.module_.lazy_reset_grad()
        return float(np.asarray(outputs[0] if isinstance(outputs, list | tuple) else outputs))

    def evaluate(self, batch: Mapping[str, Any], target: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss and the loss layer's input values for a batch, without updating anything."""
        loss, values = self.outputs(batch, target)[:2]
        return float(np.asarray(loss)), np.array(values)

    def outputs(self, batch: Mapping[str, Any], target: np.ndarray) -> list[np.ndarray]:
        """The eval model's outputs: the loss, the loss layer's input values and, for
        cross-entropy, the logits (the softmax's input)."""
        self.module_.eval()
        try:
            return list(self.module_(*self._feeds(batch, target)))
        finally:
            self.module_.train()

    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        """The trainable layers' current weights, ``{layer: {"weights": W, "bias": b}}``."""
        result: dict[str, dict[str, np.ndarray]] = {}
        for name, (layer, field) in self.artifacts_.plan.parameters.items():
            result.setdefault(layer, {})[field] = np.array(self.state_.parameters[name].data)
        return result

    # -- extras ---------------------------------------------------------------------------
    def save_checkpoint(self, path: str | os.PathLike) -> Path:
        """Write the current weights as an ORT checkpoint (atomically) for
        :func:`runtime.ort.import_checkpoint` or for further training elsewhere."""
        api = deps.training_api("saving an ONNX Runtime checkpoint").api
        path = Path(path)
        if not path.parent.is_dir():
            raise ModelFileError(f"{path}: cannot write: directory {path.parent} does not exist")
        partial = path.with_name(f".{path.name}.partial")
        try:
            api.CheckpointState.save_checkpoint(self.state_, str(partial))
            os.replace(partial, path)
        except Exception as exc:
            partial.unlink(missing_ok=True)
            raise ModelFileError(f"{path}: cannot write the checkpoint ({exc})") from None
        return path

    def close(self) -> None:
        """Delete the temporary artifact directory (also done when the backend is collected)."""
        self._cleanup()

    def _feeds(self, batch: Mapping[str, Any], target: np.ndarray) -> list[np.ndarray]:
        plan = self.artifacts_.plan
        values: dict[str, np.ndarray] = {}
        if self.frozen_ is not None:
            names = [i.name for i in self.frozen_.get_inputs()]
            boundary = self.frozen_.run(None, {n: _array(batch, n) for n in names})
            values.update(zip((o.name for o in self.frozen_.get_outputs()), boundary, strict=True))
        labels: np.ndarray
        if plan.loss == CROSS_ENTROPY:
            labels = np.asarray(target).astype(np.int64, copy=False).reshape(-1)
        else:
            labels = np.asarray(target, np.float32).reshape(-1, *plan.output_dims)
        values[plan.target] = labels
        return [values[n] if n in values else _array(batch, n) for n in self.inputs_]


class OrtTaskBackend:
    """The update loop's backend (``step(batch, learning_rate)`` on a training batch with
    ``features`` and ``target``) over :class:`OrtTrainingBackend`: what
    ``UpdateTask(..., backend="onnxruntime")`` runs. For a pipeline, the frozen models in front
    of the network run first, as with the numba backend."""

    name = "onnxruntime"

    def __init__(self, trainer: OrtTrainingBackend, head_features):
        self.trainer = trainer
        self.head_features = head_features  # feature batch -> the network's input features

    @classmethod
    def for_update(cls, update) -> OrtTaskBackend:
        """Build from a prepared neural-network update (``runtime.training.network_update``): its
        network (the last model of a pipeline), its resolved hyperparameters and its frozen
        stages."""
        head = spec_io.sub_model(update.spec, update.positions)
        _, frozen_features = split_at(update.model.engine, update.positions)
        trainer = OrtTrainingBackend.create(head, update.values)
        return cls(trainer, frozen_features if update.positions else dict)

    def step(self, batch, learning_rate: float) -> float:
        return self.trainer.step(self.head_features(batch.features), batch.target, learning_rate)

    def evaluate(self, batch) -> tuple[float, np.ndarray]:
        """Loss and the loss input's rows (the logits for cross-entropy), like the numba
        backend's ``evaluate``."""
        outputs = self.trainer.outputs(self.head_features(batch.features), batch.target)
        rows = outputs[-1]
        return float(np.asarray(outputs[0])), rows.reshape(rows.shape[0], -1)

    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        return self.trainer.weights()


def _array(batch: Mapping[str, Any], name: str) -> np.ndarray:
    if name not in batch:
        raise FeatureError(f"the training batch has no feature '{name}'; it has {sorted(batch)}")
    return np.ascontiguousarray(batch[name], dtype=np.float32)
