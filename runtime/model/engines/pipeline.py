"""Runtime, model layer: the engine for pipeline, pipelineClassifier and pipelineRegressor models.

A pipeline (``Model.proto``, ``Pipeline``: ``models`` and optional ``names``) runs its
sub-models in order over one pool of named features: the pipeline's inputs first, then every
sub-model's outputs as they are produced. Each sub-model reads the features its own
description names and may read any input or earlier output. The pipeline returns the
features its description lists as outputs; a pipelineClassifier's label and probabilities
are simply the last classifier's outputs under those names.

A sub-model that cannot be compiled (a type the runtime cannot run, a model Core ML rejects,
features that do not fit) raises its error with its position in front: ``pipeline model 1
('extractor'): ...`` (nested pipelines give one position per level).

A ``linkedModel`` sub-model is resolved to a ``.mlmodel`` file through ``runtime.model.linked``
(search path relative to the pipeline's file; load-time ``linkedModelFileName`` /
``linkedModelSearchPath`` overrides, optionally scoped to the sub-model's name) and compiled
like any other sub-model. Load-time parameters scoped to a sub-model's name apply to that
sub-model as if unscoped; ``WEIGHTS`` / ``BIASES`` scoped to a layer go to the neural
network that has that layer; all other parameters pass through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runtime.model.engines.values import batch_size
from runtime.model.features import FeatureBatch
from runtime.model.linked import load_linked_file, resolve_linked
from updatable import proto
from updatable import spec as spec_io
from updatable.errors import (
    FeatureError,
    ParameterError,
    ShapeError,
    UnsupportedModelError,
    ValidationError,
)

# load-time parameters scoped to a layer rather than to a sub-model
LAYER_PARAMETERS = ("weights", "biases")


@dataclass
class Stage:
    """One compiled sub-model of a pipeline."""

    name: str | None  # Pipeline.names[i], when the pipeline names its models
    spec: proto.Model  # the sub-model (the resolved file for a linked model)
    engine: Any
    inputs: list[str]
    optional: frozenset[str]
    path: Path | None = None  # where a linked sub-model was loaded from


@dataclass
class PipelineEngine:
    """Runs the stages of a pipeline in order (see the module docstring)."""

    spec: proto.Model
    stages: list[Stage]

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None, compile_stage) -> PipelineEngine:
        """Compile every sub-model with ``compile_stage(spec, parameters=, base_dir=)``: the
        engine table's own ``compile_engine``, handed in by it (a pipeline holds any type)."""
        kind = spec_io.model_type(spec)
        if kind not in spec_io.PIPELINE_TYPES:
            raise UnsupportedModelError(f"expected a pipeline model; got '{kind}'")
        pipeline = spec_io.pipeline_of(spec)
        if not pipeline.models:
            raise UnsupportedModelError("Pipeline must contain one or more models.")
        parameters = dict(parameters or {})
        weight_keys = {
            k
            for k in parameters
            if getattr(k, "name", k) in LAYER_PARAMETERS and getattr(k, "scope", None) is not None
        }
        stages = []
        for position, sub in enumerate(pipeline.models):
            name = pipeline.names[position] if position < len(pipeline.names) else None
            sub_spec, sub_dir, path = sub, base_dir, None
            if spec_io.model_type(sub) == "linkedModel":
                path = resolve_linked(sub, base_dir=base_dir, parameters=parameters, scope=name)
                sub_spec, sub_dir = load_linked_file(path), path.parent
            # a layer-scoped weight reaches the sub-model that has that layer
            layers = _layer_names(sub_spec)
            own = {k: v for k, v in parameters.items() if k not in weight_keys or k.scope in layers}
            weight_keys -= {k for k in weight_keys if k.scope in layers}
            stage_parameters = _scoped_to(own, name)
            try:
                engine = compile_stage(sub_spec, parameters=stage_parameters, base_dir=sub_dir)
            except _STAGE_ERRORS as error:
                raise _at_position(error, position, name) from None
            stages.append(
                Stage(
                    name,
                    sub_spec,
                    engine,
                    [f.name for f in sub_spec.description.input],
                    frozenset(f.name for f in sub_spec.description.input if f.type.isOptional),
                    path,
                )
            )
        if weight_keys:
            raise ParameterError(
                f"parameters {sorted(map(str, weight_keys))} are scoped to layers that no "
                "neural network of the pipeline has"
            )
        _check_flow(spec, stages)
        return cls(spec, stages)

    def run(self, batch: dict) -> dict:
        """Feature batch of the pipeline's inputs -> batch of its outputs."""
        pool = dict(batch)
        count = batch_size(batch, "pipeline") if batch else getattr(batch, "count", None)
        for position, stage in enumerate(self.stages):
            selected = FeatureBatch(_select(pool, stage), count=count)
            try:
                pool.update(stage.engine.run(selected))
            except (FeatureError, ShapeError) as error:
                raise _at_position(error, position, stage.name) from None
        missing = [f.name for f in self.spec.description.output if f.name not in pool]
        if missing:  # declared by a sub-model that does not produce it (e.g. a kNN without
            # predictedProbabilitiesName still listing its probabilities output)
            raise FeatureError(
                f"the pipeline's outputs {missing} were not produced: the sub-model declaring "
                f"them does not compute them; produced: {sorted(pool)}"
            )
        return {f.name: pool[f.name] for f in self.spec.description.output}


# errors of a sub-model that the pipeline re-raises with the sub-model's position
_STAGE_ERRORS = (UnsupportedModelError, ValidationError, FeatureError, ShapeError)


def _at_position(error: Exception, position: int, name: str | None) -> Exception:
    """``error`` (same type, same issues) with the sub-model's position in front."""
    label = f" ('{name}')" if name else ""
    message = f"pipeline model {position}{label}: {error}"
    if isinstance(error, ValidationError):
        return type(error)(message, error.issues)
    return type(error)(message)


def _select(pool: dict, stage: Stage) -> dict:
    missing = [n for n in stage.inputs if n not in pool and n not in stage.optional]
    if missing:
        label = f"'{stage.name}'" if stage.name else "a sub-model"
        raise FeatureError(
            f"pipeline stage {label} needs the features {missing}; available: {sorted(pool)}"
        )
    return {name: pool[name] for name in stage.inputs if name in pool}


def _layer_names(spec) -> set[str]:
    if spec_io.model_type(spec) not in spec_io.NEURAL_NETWORK_TYPES:
        return set()
    return {layer.name for layer in spec_io.network(spec).layers}


def _scoped_to(parameters: dict, scope: str | None) -> dict:
    """Parameters for one sub-model: keys scoped to its name become unscoped (and win)."""
    if scope is None:
        return parameters
    result: dict[str, Any] = {}
    for key, value in parameters.items():
        if getattr(key, "scope", None) != scope:
            result.setdefault(key, value)
    for key, value in parameters.items():
        if getattr(key, "scope", None) == scope:
            result[replace(key, scope=None)] = value
    return result


def _check_flow(spec, stages: list[Stage]) -> None:
    """Every stage input is a pipeline input or an earlier output; every output is produced."""
    available = {f.name for f in spec.description.input}
    for position, stage in enumerate(stages):
        missing = [n for n in stage.inputs if n not in available and n not in stage.optional]
        if missing:
            label = f"'{stage.name}' " if stage.name else ""
            raise FeatureError(
                f"pipeline model {position} {label}reads {missing}, which neither the pipeline's "
                f"inputs nor an earlier model's outputs provide; available: {sorted(available)}"
            )
        available.update(f.name for f in stage.spec.description.output)
    missing = [f.name for f in spec.description.output if f.name not in available]
    if missing:
        raise FeatureError(
            f"the pipeline declares outputs {missing}, which no sub-model produces; produced: "
            f"{sorted(available)}"
        )


def split_at(engine, positions: list[int]):
    """The compiled model at ``positions`` (pipeline indices, as ``updatable.spec.trained_model``
    returns) inside ``engine``, and a function that runs the frozen stages in front of it.

    ``frozen_features(batch) -> pool`` runs, for every pipeline on the path, the stages before
    the one that leads on, and returns the batch extended with their outputs: what the model at
    ``positions`` reads. With no positions it is ``engine`` itself and the batch unchanged.
    """
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
