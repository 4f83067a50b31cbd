"""What an ``UpdateTask`` runs for a kNN classifier (alone or at the end of a pipeline).

Core ML's kNN update (update-task-semantics.md §A.9): ``trainingBegin`` with empty metrics
and parameters, then every example is read and checked, then all are appended (or none, if
any is bad), then the completion with empty metrics. There are no epochs, batches or losses;
``cancel`` and ``resume(parameters)`` have nothing to act on once the single pass started.

In a feature-extractor + kNN pipeline the frozen models before the kNN run once per example,
in batches, to produce the embeddings that are appended.
"""

from __future__ import annotations

from runtime.model import features
from runtime.model.configuration import ParameterKey
from runtime.model.mlmodel import Model, compile_engine
from runtime.training import knn_update
from runtime.training.heads import head_engine
from runtime.training.task import Event
from updatable import proto
from updatable.errors import KnnUpdateError, ParameterError

EMBEDDING_BATCH = 64  # examples per frozen-stage call when a pipeline computes embeddings


class _Embedded:
    """A provider view whose examples carry the kNN input computed by the frozen stages."""

    def __init__(self, provider, inputs, run_frozen, input_name, label_names):
        self.provider, self.inputs, self.run_frozen = provider, inputs, run_frozen
        self.input_name, self.label_names = input_name, label_names
        self.count = int(provider.count)
        self._rows: list = []

    def prepare(self) -> None:
        examples = []
        for index in range(self.count):
            example = self.provider.features(index)
            if example is None:
                raise KnnUpdateError(f"Received nil MLFeatureProvider for index {index}", index)
            examples.append(example)
        for first in range(0, self.count, EMBEDDING_BATCH):
            chunk = examples[first:first + EMBEDDING_BATCH]
            try:
                batch = features.to_batch(self.inputs, chunk)
            except Exception as exc:
                raise KnnUpdateError(
                    f"examples {first}..{first + len(chunk) - 1}: {exc}", first) from None
            embedded = self.run_frozen(batch)[self.input_name]
            for offset, example in enumerate(chunk):
                label = next((example[n] for n in self.label_names if n in example), None)
                self._rows.append({self.input_name: embedded[offset].reshape(-1),
                                   self.label_names[0]: label})

    def features(self, index: int):
        return self._rows[index]


class KnnUpdate:
    """A kNN classifier (or pipeline ending in one) prepared for an update task."""

    def __init__(self, spec, path, positions, provider, configuration):
        self.spec, self.path, self.positions = spec, path, positions
        self.configuration = configuration
        base_dir = path.parent if path is not None else None
        self.model = Model(spec, compile_engine(
            spec, parameters=configuration.normalized_parameters(), base_dir=base_dir),
            path, configuration)
        self.engine, run_frozen = head_engine(self.model.engine, positions)
        info = self.engine.training_info
        if positions:
            labels = [info.label_name, spec.description.predictedFeatureName]
            inputs = [f for f in spec.description.input if not f.type.isOptional]
            self.provider = _Embedded(provider, inputs, run_frozen, info.input_name, labels)
        else:
            self.provider = provider

    def run(self, task) -> None:
        task.notify(Event.TRAINING_BEGIN, {})
        task.check_stop()
        if isinstance(self.provider, _Embedded):
            self.provider.prepare()
        points, labels = knn_update.collect_examples(self.provider, self.engine)
        knn_update.apply(self.engine, points, labels)
        return None

    def set_parameters(self, parameters) -> None:
        del parameters  # nothing is adjustable during a kNN update

    def parameters_snapshot(self) -> dict:
        return {}

    def parameter_value(self, key: ParameterKey):
        if key == ParameterKey.NUMBER_OF_NEIGHBORS:
            return self.engine.k
        raise ParameterError(f"a kNN classifier has no readable parameter '{key}'")

    def updated_spec(self) -> proto.Model:
        return knn_update.write_samples(self.spec, self.engine)

    def updated_model(self) -> Model:
        spec = self.updated_spec()
        base_dir = self.path.parent if self.path is not None else None
        engine = compile_engine(spec, parameters=self.configuration.normalized_parameters(),
                                base_dir=base_dir)
        return Model(spec, engine, self.path, self.configuration)
