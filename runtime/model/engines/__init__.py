"""Runtime, model layer: the engine of each Core ML model type, in one explicit table.

An engine compiles a spec once, ``compile(spec, *, parameters, base_dir) -> engine``, and
then runs feature batches, ``engine.run(batch) -> batch`` (docs/ARCHITECTURE.md, "Engines").
``parameters`` are the load-time overrides of a ``ModelConfiguration``; ``base_dir`` is where
the model's file lives (linked models resolve beside it). The neural-network engine lives
with the networks (``runtime.nn.engine``); the others live here, one module or folder each
(``pipeline``, ``knn/``), and a new model type is one more module plus one row of
:data:`ENGINES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from runtime.model.engines.knn.engine import KnnEngine
from runtime.model.engines.pipeline import PipelineEngine
from runtime.nn.engine import NeuralNetworkEngine
from updatable import spec as spec_io
from updatable.errors import UnsupportedModelError


def _pipeline(spec, *, parameters, base_dir) -> PipelineEngine:
    # a pipeline compiles its sub-models, of any type, through this same table
    return PipelineEngine.compile(
        spec, parameters=parameters, base_dir=base_dir, compile_stage=compile_engine
    )


# Model.Type oneof name -> compile(spec, *, parameters, base_dir) of its engine
ENGINES: dict[str, Callable] = {
    "neuralNetwork": NeuralNetworkEngine.compile,
    "neuralNetworkClassifier": NeuralNetworkEngine.compile,
    "neuralNetworkRegressor": NeuralNetworkEngine.compile,
    "kNearestNeighborsClassifier": KnnEngine.compile,
    "pipeline": _pipeline,
    "pipelineClassifier": _pipeline,
    "pipelineRegressor": _pipeline,
}


def compile_engine(spec, *, parameters: Mapping | None = None, base_dir: Path | None = None):
    """Compile ``spec`` with the engine of its type (also used for pipeline sub-models).

    Raises:
        UnsupportedModelError: no engine runs this model type (the supported ones are listed).
    """
    model_type = spec_io.model_type(spec)
    compile_ = ENGINES.get(model_type)
    if compile_ is None:
        raise UnsupportedModelError(
            f"the runtime cannot run a model of type '{model_type or '(none)'}'; supported "
            f"types: {', '.join(sorted(ENGINES))}"
        )
    return compile_(spec, parameters=dict(parameters or {}), base_dir=base_dir)
