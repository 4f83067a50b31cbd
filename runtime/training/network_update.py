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

from runtime.model.configuration import ModelConfiguration, ParameterKey
from runtime.model.engines.pipeline import split_at
from runtime.model.hyperparameters import Hyperparameter, network_hyperparameters, resolve
from runtime.model.mlmodel import Model
from runtime.training import backprop, bounds, optim
from runtime.training.backend import NumbaBackend
from runtime.training.divergence import WeightWatch
from runtime.training.events import Event, MetricKey
from runtime.training.examples import TrainingSource
from runtime.training.loop import Hooks, LoopState, loop_settings, run_epoch
from runtime.training.updatable_model import UpdatableModel
from runtime.training.writeback import spec_with_weights
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import ParameterError


class TaskHooks(Hooks):
    """The loop's callbacks during an update task: cancel checks and progress events.

    The learning rate is the base class's ``current_learning_rate``, which the update changes
    when a handler resumes the task with a new one."""

    def __init__(self, task, update: NeuralNetworkUpdate):
        super().__init__(update.learning_rate)
        self.task, self.update = task, update

    def check_stop(self) -> None:
        self.task.check_stop()

    def mini_batch_end(self, batch_index: int, loss: float) -> None:
        self.task.notify(
            Event.MINI_BATCH_END,
            {MetricKey.MINI_BATCH_INDEX: batch_index, MetricKey.LOSS_VALUE: loss},
        )

    def epoch_end(self, epoch_index: int, loss: float) -> None:
        self.update.last_epoch_loss = loss
        self.task.notify(
            Event.EPOCH_END, {MetricKey.EPOCH_INDEX: epoch_index, MetricKey.LOSS_VALUE: loss}
        )


class NeuralNetworkUpdate:
    """A neural network (alone, or the last model of a pipeline) prepared for training.

    Args:
        opened: the model, opened with :func:`~runtime.training.updatable_model.load_for_update`.
        provider: the training data (``count``, ``features(i)``).
        configuration: the ``ModelConfiguration`` whose overrides apply.
        events: the progress events the task delivers (``epochEnd`` changes the shuffling).
        backend: a name of :data:`BACKENDS`.
    """

    def __init__(
        self,
        opened: UpdatableModel,
        provider,
        configuration: ModelConfiguration,
        events: Event,
        backend: str = "numba",
    ):
        self.spec, self.path, self.positions = opened.spec, opened.path, opened.positions
        self.configuration = configuration
        self.model = Model.compile(opened.spec, configuration, path=opened.path)
        network = spec_io.network(opened.trained)
        self.table = declared_hyperparameters(network.updateParams)
        self.values = resolve(
            self.table, configuration.normalized_parameters(), "this neural network"
        )
        self.learning_rate = float(self.values["learningRate"])
        self.last_epoch_loss: float | None = None
        self.network_engine, frozen_features = split_at(self.model.engine, self.positions)
        self.cut = training_slice(network, self.network_engine)
        self.optimizer = optimizer_for(self.values)
        self.source = training_source(opened, self.network_engine, self.cut, provider)
        engine = self.network_engine
        self.to_blobs = (
            engine.to_blobs
            if not self.positions
            else lambda batch: engine.to_blobs(frozen_features(batch))
        )
        self.backend = _backend_factory(backend)(self)
        self.watch = WeightWatch(self.backend.weights(), configuration.divergence.weight_growth)
        self.settings = loop_settings(
            self.values, bool(events & Event.EPOCH_END), configuration.train_with_ml_compute
        )
        bounds.check_update(engine.network, self.cut, self.settings, self.source.count)
        self.state = LoopState.start(self.source.count, self.settings)
        self.hooks: TaskHooks | None = None

    # -- driven by UpdateTask ------------------------------------------------------------
    def run(self, task) -> float | None:
        """Train every epoch the settings ask for, reporting to ``task``; the last epoch's loss."""
        self.hooks = hooks = TaskHooks(task, self)
        try:
            task.notify(Event.TRAINING_BEGIN, {})
            if self.source.count == 0:
                raise ParameterError("the training data is empty (the batch provider's count is 0)")
            while self.state.epoch < self.settings.epochs:
                task.check_stop()
                run_epoch(
                    self.backend, self.source, self.settings, hooks, self.state, self.check_weights
                )
        finally:
            self.hooks = None  # hooks and update refer to each other: free the network at once
        return self.last_epoch_loss

    def check_weights(self, epoch: int) -> None:
        """Fail on weights that became non-finite or grew by orders of magnitude."""
        self.watch.check(self.backend.weights(), epoch)

    def set_parameters(self, parameters: dict) -> None:
        """``resume(withParameters:)``: only the learning rate is read (Core ML ignores the
        other keys); it is checked against the model's allowed range."""
        for key, value in parameters.items():
            if key.name == "learningRate" and key.scope is None:
                self.learning_rate = self.table["learningRate"].check(value)
                if self.hooks is not None:
                    self.hooks.current_learning_rate = self.learning_rate

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
                f"scoped parameter '{key}' is not readable; use WEIGHTS or BIASES scoped to a layer"
            )
        trained = self.backend.weights()
        arrays = trained.get(key.scope)
        if arrays is None:
            step = next((s for s in self.network_engine.network.steps if s.name == key.scope), None)
            if step is None or step.kind.export is None:
                names = [
                    s.name for s in self.network_engine.network.steps if s.kind.export is not None
                ]
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


def declared_hyperparameters(update_params) -> dict[str, Hyperparameter]:
    """The network's hyperparameters; without a seed in the model any Int64 may be given."""
    table = network_hyperparameters(update_params)
    table.setdefault("seed", Hyperparameter("seed", None, int))
    return table


def training_slice(network, engine) -> backprop.TrainingSlice:
    """The compiled network cut at its earliest updatable layer for its (first) loss layer."""
    if not network.updateParams.lossLayers:
        raise ParameterError("the model has no loss layer; add one with set_loss()")
    updatable = {layer.name for layer in network.layers if layer.isUpdatable}
    loss_layer = network.updateParams.lossLayers[0]
    return backprop.build_slice(engine.network.steps, updatable, loss_layer)


def optimizer_for(values: dict) -> optim.Optimizer:
    """SGD when the model's optimizer has a momentum, Adam otherwise, with its values."""
    if "momentum" in values:
        return optim.sgd(values["momentum"])
    return optim.adam(values["beta1"], values["beta2"], values["eps"])


def training_source(opened: UpdatableModel, engine, cut, provider) -> TrainingSource:
    """Reads the network's inputs and loss target from ``provider`` as the model names them.

    A pipeline's examples hold its own (non-optional) inputs; a cross-entropy target is the
    loss layer's ``target`` or, for a classifier, its predicted label; an MSE target has the
    loss input's shape.
    """
    description = opened.spec.description
    if opened.positions:
        inputs = [f for f in description.input if not f.type.isOptional]
    else:
        inputs = [f for f in description.input if f.name in engine.network.inputs]
    loss = getattr(opened.trained, opened.kind).updateParams.lossLayers[0]
    names, labels, shape = [getattr(loss, loss.WhichOneof("LossLayerType")).target], None, None
    if cut.loss_kind == "categoricalCrossEntropyLossLayer":
        if engine.labels is not None:
            labels = engine.labels
            names.append(opened.trained.description.predictedFeatureName)
            if description.predictedFeatureName not in names:
                names.append(description.predictedFeatureName)
    else:
        shape = engine.network.shapes[cut.loss_blob]
    return TrainingSource(provider, inputs, names, labels, shape)


def _onnxruntime_backend(update):
    """The ONNX Runtime backend, imported only when asked for: onnx and onnxruntime-training
    are the optional ``ort`` extra, and a plain install must train without them."""
    from runtime.ort.backend import OrtTaskBackend

    return OrtTaskBackend.for_update(update)


# training backend name -> factory(update) of a backend with step, evaluate and weights
BACKENDS = {"numba": NumbaBackend.for_update, "onnxruntime": _onnxruntime_backend}


def _backend_factory(name: str):
    if name not in BACKENDS:
        raise ParameterError(
            f"unknown training backend '{name}'; choose one of {', '.join(sorted(BACKENDS))}"
        )
    return BACKENDS[name]
