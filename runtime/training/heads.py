"""Finding the model that trains inside a spec, and the frozen stages in front of it.

Core ML trains only the last model of an updatable pipeline (pipelines may nest); the models
before it are frozen and feed it. These helpers are shared by update tasks, training jobs,
the ONNX Runtime backend and the CLI.
"""

from __future__ import annotations

from pathlib import Path

from updatable import proto
from updatable import spec as spec_io
from updatable.errors import UnsupportedModelError


def load_for_update(model) -> tuple[proto.Model, Path | None]:
    """The spec (a private copy) and its file path; validated with Core ML's rules."""
    import updatable

    if isinstance(model, proto.Model):
        spec, path = proto.Model(), None
        spec.CopyFrom(model)
    else:
        path = Path(model)
        spec = spec_io.load(path)
    updatable.check(spec)
    if not spec.isUpdatable:
        raise UnsupportedModelError(
            f"{path or 'the model'} is not updatable (Model.isUpdatable is false); prepare it "
            "with `updatable make-updatable` or updatable.make_updatable()"
        )
    return spec, path


def head_of(spec) -> tuple[proto.Model, list[int]]:
    """The model that trains (the spec, or the last model of nested pipelines) and its path
    of pipeline positions."""
    path, model = [], spec
    while spec_io.model_type(model) in spec_io.PIPELINE_TYPES:
        container = getattr(model, spec_io.model_type(model))
        pipeline = container if spec_io.model_type(model) == "pipeline" else container.pipeline
        path.append(len(pipeline.models) - 1)
        model = pipeline.models[-1]
    return model, path


def sub_model(spec, positions: list[int]):
    """The sub-model at ``positions`` (a path of pipeline indices, as ``head_of`` returns)."""
    model = spec
    for position in positions:
        container = getattr(model, spec_io.model_type(model))
        pipeline = container if spec_io.model_type(model) == "pipeline" else container.pipeline
        model = pipeline.models[position]
    return model


def head_engine(engine, positions: list[int]):
    """The compiled head and a function running the frozen stages in front of it."""
    prefixes = []
    for position in positions:
        prefixes.append((engine, position))
        engine = engine.stages[position].engine

    def frozen_features(batch: dict) -> dict:
        pool = dict(batch)
        for pipeline_engine, position in prefixes:
            for stage in pipeline_engine.stages[:position]:
                pool.update(stage.engine.run({n: pool[n] for n in stage.inputs if n in pool}))
        return pool

    return engine, frozen_features
