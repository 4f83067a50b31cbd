"""Runtime, model layer: ``runtime.Model``: load a Core ML model and run predictions, like
``MLModel``.

``Model.load(path_or_spec, configuration=None)`` compiles the model once through the engine
for its type (the explicit table :data:`runtime.model.engines.ENGINES`);
``predict`` takes and returns single examples, ``predict_batch`` many at once through the
batched kernels (docs/ARCHITECTURE.md, "Engines").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from runtime.model import features
from runtime.model.configuration import as_key
from runtime.model.engines import compile_engine
from updatable import spec as spec_io

# examples per engine call in predict_batch: large enough to fill the GEMMs, small enough to
# bound the memory of wide activations (a 227x227 image gives SqueezeNet 3 MB blobs)
DEFAULT_BATCH_SIZE = 64


class Model:
    """A loaded, compiled Core ML model.

    Attributes:
        spec: the ``Model`` protobuf (a private copy when a spec was passed in).
        engine: the compiled engine (``run(batch) -> batch`` over feature batches).
        path: the file it was loaded from, or ``None``.
        configuration: the ``ModelConfiguration`` given at load, or ``None``.
    """

    def __init__(self, spec, engine, path: Path | None = None, configuration=None):
        self.spec = spec
        self.engine = engine
        self.path = path
        self.configuration = configuration

    @classmethod
    def load(cls, path_or_spec: spec_io.ModelSource, configuration=None) -> Model:
        """Load a ``.mlmodel`` file (or take a ``Model`` protobuf or a coremltools ``MLModel``,
        copied) and compile it.

        ``configuration`` is a ``runtime.ModelConfiguration``; its ``parameters`` are the
        load-time overrides (``numberOfNeighbors``, linked-model file name and search path,
        ``WEIGHTS.scoped(layer)``...). Linked models resolve relative to the file's directory.
        """
        spec, path = spec_io.open_model(path_or_spec, "Model.load")
        return cls.compile(spec, configuration, path=path)

    @classmethod
    def compile(cls, spec, configuration=None, *, path: Path | None = None) -> Model:
        """Compile ``spec`` (taken as it is, not copied) with the load-time parameters of
        ``configuration``; linked models resolve beside ``path``, the file it came from."""
        base_dir = path.parent if path is not None else None
        engine = compile_engine(spec, parameters=_parameters(configuration), base_dir=base_dir)
        return cls(spec, engine, path, configuration)

    @property
    def description(self):
        """The ``ModelDescription`` (inputs, outputs, predicted feature names)."""
        return self.spec.description

    def predict(self, inputs: Mapping) -> dict:
        """One example in (feature name -> value), one dict of outputs out."""
        if not isinstance(inputs, Mapping):
            raise TypeError(
                f"predict expects a dict of input features; got {type(inputs).__name__} "
                "(use predict_batch for many examples)"
            )
        return self.predict_batch([inputs])[0]

    def predict_batch(
        self,
        examples: Sequence[Mapping] | Mapping[str, Sequence],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[dict]:
        """Many examples, as a list of dicts or a dict of equally long columns.

        The examples run through the engine ``batch_size`` at a time (batched kernels, not a
        loop over examples); results come back in order, one dict per example.
        """
        if isinstance(examples, Mapping):
            examples = features.columns_to_examples(examples)
        examples = list(examples)
        inputs, outputs = self.spec.description.input, self.spec.description.output
        results: list[dict] = []
        for first in range(0, len(examples), max(1, batch_size)):
            chunk = examples[first : first + max(1, batch_size)]
            batch = features.to_batch(inputs, chunk)
            with np.errstate(all="ignore"):  # an overflow shows in the outputs (inf, nan)
                results += features.from_batch(outputs, self.engine.run(batch))
        return results

    def __repr__(self) -> str:
        source = str(self.path) if self.path is not None else "<spec>"
        return f"Model({source}, type={spec_io.model_type(self.spec)})"


def _parameters(configuration) -> dict:
    """Load-time parameters of a ``ModelConfiguration`` (or a plain mapping), keys normalised."""
    if configuration is None:
        return {}
    if isinstance(configuration, Mapping):
        raw = configuration
    else:
        normalized = getattr(configuration, "normalized_parameters", None)
        if normalized is not None:
            return dict(normalized())
        raw = getattr(configuration, "parameters", None) or {}
    return {as_key(key): value for key, value in raw.items()}
