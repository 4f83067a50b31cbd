"""Runtime, training layer: what an ``UpdateTask`` runs for a neural network.

:class:`NeuralNetworkUpdate` is the update :func:`~runtime.training.updates.open_update` prepares
for a neural network (alone, or the last model of a pipeline, fed by the frozen models before
it): hyperparameters resolved against the configuration's overrides (an invalid value raises,
as Core ML's initializer throws), the trainable slice cut, the backend chosen. The task drives
it through ``run(task)``, ``set_parameters``, ``parameters_snapshot``, ``parameter_value``,
``updated_spec`` and ``updated_model``.
"""

from __future__ import annotations

import numpy as np

from runtime.model.configuration import ParameterKey
from runtime.model.engines.pipeline import split_at
from runtime.model.hyperparameters import Hyperparameter, network_hyperparameters, resolve
from runtime.model.mlmodel import Model
from runtime.training import backprop, optim
from runtime.training.backend import NumbaBackend
from runtime.training.events import Event, MetricKey
from runtime.training.examples import TrainingSource
from runtime.training.loop import Hooks, LoopState, loop_settings, run_epoch
from runtime.training.writeback import spec_with_weights
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import ParameterError


class _TaskHooks(Hooks):
    def __init__(self, task, update):
        super().__init__(update.learning_rate)
        self.task, self.update = task, update

    def learning_rate(self) -> float:
        return self.update.learning_rate

    def check_stop(self) -> None:
        self.task.check_stop()

    def mini_batch_end(self, batch_index: int, loss: float) -> None:
        self.task.notify(Event.MINI_BATCH_END,
                         {MetricKey.MINI_BATCH_INDEX: batch_index, MetricKey.LOSS_VALUE: loss})

    def epoch_end(self, epoch_index: int, loss: float) -> None:
        self.update.last_epoch_loss = loss
        self.task.notify(Event.EPOCH_END,
                         {MetricKey.EPOCH_INDEX: epoch_index, MetricKey.LOSS_VALUE: loss})


class NeuralNetworkUpdate:
    """A neural network (or pipeline ending in one) prepared for training."""

    def __init__(self, spec, path, positions, provider, configuration, events, backend):
        self.spec, self.path, self.positions = spec, path, positions
        overrides = configuration.normalized_parameters()
        self.configuration = configuration
        self.model = Model.compile(spec, configuration, path=path)
        head = spec_io.sub_model(spec, positions)
        network = spec_io.network(head)
        self.table: dict[str, Hyperparameter] = network_hyperparameters(network.updateParams)
        if "seed" not in self.table:  # without a seed in the model any Int64 may be given
            self.table["seed"] = Hyperparameter("seed", None, int)
        self.values = resolve(self.table, overrides, "this neural network")
        if self.values.get("seed") is None:
            self.values.pop("seed")
        self.learning_rate = float(self.values["learningRate"])
        self.last_epoch_loss: float | None = None

        compiled_head, frozen_features = split_at(self.model.engine, positions)
        self.head_engine = compiled_head
        if not network.updateParams.lossLayers:
            raise ParameterError("the model has no loss layer; add one with set_loss()")
        loss_layer = network.updateParams.lossLayers[0]
        updatable = {layer.name for layer in network.layers if layer.isUpdatable}
        self.cut = backprop.build_slice(compiled_head.network.steps, updatable, loss_layer)
        self.optimizer = (
            optim.sgd(self.values["momentum"]) if "momentum" in self.values
            else optim.adam(self.values["beta1"], self.values["beta2"], self.values["eps"])
        )
        self.source = self._source(head, compiled_head, loss_layer, provider)
        to_blobs = (compiled_head.to_blobs if not positions
                    else lambda batch: compiled_head.to_blobs(frozen_features(batch)))
        self.backend = self._backend(backend, to_blobs)
        self.settings = loop_settings(self.values, bool(events & Event.EPOCH_END),
                                      configuration.train_with_ml_compute)
        self.state = LoopState.start(self.source.count, self.settings)

    def _source(self, head, head_engine, loss_layer, provider) -> TrainingSource:
        description = self.spec.description
        if self.positions:
            inputs = [f for f in description.input if not f.type.isOptional]
        else:
            inputs = [f for f in description.input if f.name in head_engine.network.inputs]
        loss = getattr(loss_layer, loss_layer.WhichOneof("LossLayerType"))
        names, labels, shape = [loss.target], None, None
        if loss_layer.WhichOneof("LossLayerType") == "categoricalCrossEntropyLossLayer":
            if head_engine.labels is not None:
                labels = head_engine.labels
                names.append(head.description.predictedFeatureName)
                if description.predictedFeatureName not in names:
                    names.append(description.predictedFeatureName)
        else:
            shape = head_engine.network.shapes[self.cut.loss_blob]
        return TrainingSource(provider, inputs, names, labels, shape)

    def _backend(self, name: str, to_blobs):
        if name == "numba":
            return NumbaBackend(self.cut, self.optimizer, to_blobs)
        if name == "onnxruntime":
            from runtime.ort.backend import OrtTaskBackend

            return OrtTaskBackend.for_update(self)
        raise ParameterError(f"unknown training backend '{name}'; choose 'numba' or 'onnxruntime'")

    # -- driven by UpdateTask ------------------------------------------------------------
    def run(self, task) -> float:
        hooks = _TaskHooks(task, self)
        task.notify(Event.TRAINING_BEGIN, {})
        if self.source.count == 0:
            raise ParameterError("the training data is empty (the batch provider's count is 0)")
        while self.state.epoch < self.settings.epochs:
            task.check_stop()
            run_epoch(self.backend, self.source, self.settings, hooks, self.state)
        return self.last_epoch_loss

    def set_parameters(self, parameters: dict) -> None:
        """``resume(withParameters:)``: only the learning rate is read (Core ML ignores the
        other keys); it is checked against the model's allowed range."""
        for key, value in parameters.items():
            if key.name == "learningRate" and key.scope is None:
                self.learning_rate = self.table["learningRate"].check(value)

    def parameters_snapshot(self) -> dict:
        snapshot = {ParameterKey(name): value for name, value in self.values.items()}
        snapshot[ParameterKey.LEARNING_RATE] = self.learning_rate
        return snapshot

    def parameter_value(self, key: ParameterKey):
        if key.scope is None:
            snapshot = self.parameters_snapshot()
            if key not in snapshot:
                raise ParameterError(
                    f"the model has no parameter '{key.name}'; it has {sorted(self.values)}"
                )
            return snapshot[key]
        field = {"weights": "weights", "biases": "bias"}.get(key.name)
        if field is None:
            raise ParameterError(
                f"scoped parameter '{key}' is not readable; use WEIGHTS or BIASES scoped to a "
                "layer"
            )
        trained = self.backend.weights()
        arrays = trained.get(key.scope)
        if arrays is None:
            step = next((s for s in self.head_engine.network.steps if s.name == key.scope), None)
            if step is None or step.kind.export is None:
                names = [s.name for s in self.head_engine.network.steps
                         if s.kind.export is not None]
                raise ParameterError(
                    f"no layer '{key.scope}' with weights; layers with weights: {names}"
                )
            arrays = step.kind.export(step.attrs, step.params)
        if field not in arrays:
            raise ParameterError(f"layer '{key.scope}' has no {field}")
        return np.array(arrays[field], dtype=np.float32, copy=True)

    def updated_spec(self) -> proto.Model:
        return spec_with_weights(self.spec, self.backend.weights())

    def updated_model(self) -> Model:
        return Model.compile(self.updated_spec(), self.configuration, path=self.path)
