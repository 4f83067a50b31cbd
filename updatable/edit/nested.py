"""Spec side, editing layer: find the model an edit applies to: the model itself, or the last model
of a pipeline.

Core ML lets only the last model of a pipeline be updatable (``PipelineValidator.cpp``), and
pipelines nest, so "the model to prepare" inside ``pipeline[..., pipeline[..., nn]]`` is found
by following the last model down. Every mutator goes through :func:`locate`, so each one works
the same on a bare model and on a pipeline built around it.
"""

from __future__ import annotations

from updatable import proto
from updatable.errors import SurgeryError, UnsupportedModelError
from updatable.spec import (
    NEURAL_NETWORK_TYPES,
    PIPELINE_TYPES,
    model_type,
    pipeline_models,
    sub_model,
    trained_model,
)

KNN_TYPES = ("kNearestNeighborsClassifier",)

# Why a model type cannot be prepared, for the error message.
_HINTS = {
    "mlProgram": "ML Programs cannot be updatable; put the ML Program in a pipeline in front "
    "of a small neural-network head (updatable.make_pipeline)",
    "linkedModel": "a linked model only points at a compiled model and cannot be updatable",
    "kNearestNeighborsClassifier": "a kNN classifier is updatable as a whole "
    "(updatable.make_knn_classifier); it has no layers",
}
_HEAD_WAY_OUT = (
    "keep the features in front and give them a head that can be: a kNN classifier "
    "(updatable.make_knn_classifier) or a neural-network classifier "
    "(updatable.make_pipeline(features, head))"
)
for _kind in (
    "glmClassifier",
    "glmRegressor",
    "supportVectorClassifier",
    "supportVectorRegressor",
    "treeEnsembleClassifier",
    "treeEnsembleRegressor",
):
    _HINTS[_kind] = (
        f"a {_kind} head cannot be updatable (Core ML updates neural networks and kNN "
        f"classifiers only); {_HEAD_WAY_OUT}"
    )
_HINTS["visionFeaturePrint"] = (
    "visionFeaturePrint is a feature extractor built into the OS: its weights are not in the "
    "file and cannot be trained; put an updatable head after the features it extracts "
    "(a kNN classifier: updatable.make_knn_classifier, or a neural-network head: "
    "updatable.make_pipeline)"
)


def locate(
    spec: proto.Model, kinds: tuple[str, ...] = NEURAL_NETWORK_TYPES, action: str = "this edit"
) -> tuple[proto.Model, list[proto.Model]]:
    """The model of one of ``kinds`` that ``action`` applies to, and its enclosing pipelines.

    Returns ``(model, pipelines)`` where ``pipelines`` runs from the outermost pipeline to the
    one holding ``model`` (empty when ``spec`` itself is of a wanted kind).

    Raises:
        UnsupportedModelError: ``spec`` (or the last model of its pipelines) is of another kind,
            or a pipeline is empty.
    """
    if not isinstance(spec, proto.Model):
        hint = ""
        if callable(getattr(spec, "get_spec", None)):
            # an MLModel hands out copies of its spec: an edit in place would be lost
            hint = (
                ": it edits the message in place, and an MLModel only hands out copies; take "
                "spec = updatable.load(mlmodel), edit it, then save it or wrap it in "
                "ct.models.MLModel(spec)"
            )
        raise TypeError(
            f"{action} expects a Core ML Model message; got {type(spec).__name__}{hint}"
        )
    current, positions = trained_model(spec)
    pipelines = [sub_model(spec, positions[:depth]) for depth in range(len(positions))]
    if model_type(current) in PIPELINE_TYPES:  # the walk ended at an empty pipeline
        raise UnsupportedModelError(f"{action}: the pipeline has no models")
    kind = model_type(current)
    if kind not in kinds:
        where = "the last model of the pipeline is" if pipelines else "the model is"
        hint = _HINTS.get(kind) or ""
        raise UnsupportedModelError(
            f"{action} needs one of {list(kinds)} (or a pipeline ending in one); {where} "
            f"{kind or 'of no type'}" + (f": {hint}" if hint else "") + _frozen_note(spec)
        )
    return current, pipelines


def _frozen_note(spec: proto.Model) -> str:
    """A sentence about an OS-provided feature extractor in front, if the pipeline has one."""
    if model_type(spec) not in PIPELINE_TYPES:
        return ""
    front = [model_type(m) for m in pipeline_models(spec)[:-1]]
    if "visionFeaturePrint" not in front:
        return ""
    return (
        ". The visionFeaturePrint in front is built into the OS (its weights are not in the "
        "file) and stays frozen: only a head after it can learn"
    )


def check_only_last_updatable(pipelines: list[proto.Model]) -> None:
    """Refuse pipelines where a model other than the last is updatable (Core ML rule P1)."""
    for depth, pipeline in enumerate(pipelines):
        models = pipeline_models(pipeline)
        flagged = [i for i in range(len(models) - 1) if models[i].isUpdatable]
        if flagged:
            where = "the pipeline" if depth == 0 else f"the pipeline nested at depth {depth}"
            raise SurgeryError(
                f"{where} has updatable model(s) at position(s) {flagged}; only the last model "
                "of a pipeline can be updatable: clear isUpdatable on the others first"
            )


def mark_updatable(model: proto.Model, pipelines: list[proto.Model], version: int = 4) -> None:
    """Set ``isUpdatable`` and raise ``specificationVersion`` to ``version`` on ``model`` and
    on every enclosing pipeline (coremltools' pipeline helper leaves the pipeline at 1)."""
    for target in [*pipelines, model]:
        target.isUpdatable = True
        target.specificationVersion = max(target.specificationVersion, version)
