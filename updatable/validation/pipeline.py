"""Spec side, validation layer: pipeline rules (P0-P9, with recursion into every sub-model) and
linked models (L1-L3).

Source: coremltools ``mlmodel/src/Validation/PipelineValidator.cpp`` and
``LinkedModelValidator.cpp``. Order: P0; then for each sub-model, its inputs are type-checked
against the pipeline inputs and earlier outputs (P4, P5) and the sub-model is validated in full
(any rule, reported at ``models[i]/...``); then the pipeline outputs (P6, P7); only then the
updatable rules P1-P3 and the model names (P8, P9).

"Updatable" means only a sub-model's ``Model.isUpdatable``: a sub-model that is not
updatable may keep layer-level flags. Pipelines never check ``trainingInput``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from updatable import proto
from updatable.spec import pipeline_models, pipeline_of
from updatable.validation.generic import is_equivalent
from updatable.validation.issues import MODEL_PARAMS, TYPE_MISMATCH, UPD_CONFIG, At, Issue, Rule

# What Core ML prints for "model" in P4 / P5: the protobuf type name of the description.
_DESCRIPTION_TYPE = "CoreML.Specification.ModelDescription"


def models_present(model: proto.Model, at: At) -> Iterator[Issue]:
    """P0: a pipeline holds at least one model."""
    if not pipeline_models(model):
        message = "Pipeline must contain one or more models."
        yield at.error("P0", "models", message, MODEL_PARAMS)


def sub_models_valid(model_issue: Callable[[proto.Model, At], Issue | None]) -> Rule:
    """P4 / P5 and every rule of each sub-model, model by model; then P6 / P7 for the pipeline
    outputs. P4-P5 print the description's protobuf type name where a model name would be.

    ``model_issue`` is the validator's entry point (``core_ml_issue``), handed in by the
    validator's rule table so that a rule module never imports the validator."""

    def rule(model: proto.Model, at: At) -> Iterator[Issue]:
        table = {f.name: f for f in model.description.input}  # pipeline inputs, then outputs
        for index, sub_model in enumerate(pipeline_models(model)):
            for feature in sub_model.description.input:
                known = table.get(feature.name)
                if known is None:
                    message = (
                        f"Pipeline: the input '{feature.name}' of model '{_DESCRIPTION_TYPE}' does "
                        "not present in pipeline input or previous model."
                    )
                    yield at.error("P4", f"models[{index}]", message, MODEL_PARAMS)
                    return
                if not is_equivalent(feature, known):
                    message = (
                        f"Pipeline: the input '{feature.name}' of model '{_DESCRIPTION_TYPE}' does "
                        "not match the type previously specified by the pipeline input or the "
                        "output of a previous model. For the second case, make sure the input and "
                        "previous model's output has the matching name and shapes."
                    )
                    yield at.error("P5", f"models[{index}]", message, TYPE_MISMATCH)
                    return
            issue = model_issue(sub_model, at.sub(index))
            if issue is not None and issue.severity == "error":
                yield issue  # a warning (Y8) is a good result: Core ML carries on
                return
            for output in sub_model.description.output:
                table[output.name] = output
        yield from _outputs_valid(model, at, table)

    return rule


def _outputs_valid(model: proto.Model, at: At, table: dict[str, Any]) -> Iterator[Issue]:
    for i, output in enumerate(model.description.output):
        known = table.get(output.name)
        if known is None:
            message = (
                f"Pipeline output '{output.name}' not present in pipeline input or a contained "
                "model."
            )
            yield at.error("P6", f"description.output[{i}]", message, MODEL_PARAMS)
            return
        if not is_equivalent(output, known):
            message = (
                f"Type of pipeline output '{output.name}' does not match type produced in "
                "pipeline input."
            )
            yield at.error("P7", f"description.output[{i}]", message, TYPE_MISMATCH)
            return


def updatable_position(model: proto.Model, at: At) -> Iterator[Issue]:
    """P1-P3: an updatable pipeline has exactly its last model updatable (P1 names the first
    earlier one, P2 the last); a pipeline that is not updatable contains none (P3)."""
    models = pipeline_models(model)
    if model.isUpdatable:
        for index, sub_model in enumerate(models[:-1]):
            if sub_model.isUpdatable:
                message = (
                    "Only the last model in the pipeline can be updatable. Model at position "
                    f"'{index}' is marked as updatable."
                )
                yield at.error("P1", f"models[{index}]", message, UPD_CONFIG)
                return
        if not models[-1].isUpdatable:
            message = "Last model in an updatable pipeline model should be marked as updatable."
            yield at.error("P2", f"models[{len(models) - 1}]", message, UPD_CONFIG)
    else:
        for index, sub_model in enumerate(models):
            if sub_model.isUpdatable:
                message = f"Found an updatable model at '{index}' inside a non-updatable pipeline."
                yield at.error("P3", f"models[{index}]", message, UPD_CONFIG)
                return


def names_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """P8 / P9: optional model names, one per model, unique."""
    names, count = list(pipeline_of(model).names), len(pipeline_models(model))
    if not names:
        return
    if len(names) != count:
        message = (
            f"The number of pipeline model names '{len(names)}' doesn't match the number of "
            f"models '{count}'"
        )
        yield at.error("P8", "names", message, MODEL_PARAMS)
        return
    for index, name in enumerate(names):
        if name in names[:index]:
            # The unbalanced quote is Core ML's.
            message = (
                f"Pipeline model name '{name}' at index '{index} has already been used for "
                "previous models"
            )
            yield at.error("P9", f"names[{index}]", message, MODEL_PARAMS)
            return


def linked_model_valid(model: proto.Model, at: At) -> Iterator[Issue]:
    """L1-L3: a linked model is not updatable (unreachable: G5 fires first), has a link type,
    and names the linked file."""
    if model.isUpdatable:
        message = "LinkedModel cannot be marked as updatable"
        yield at.error("L1", "isUpdatable", message, MODEL_PARAMS)
        return
    linked = model.linkedModel
    if linked.WhichOneof("LinkType") is None:
        yield at.error("L2", "linkedModel", "LinkedModel.LinkType not set.", MODEL_PARAMS)
        return
    if not linked.linkedModelFile.linkedModelFileName.defaultValue:
        # "linkedModeFileName" is Core ML's spelling.
        message = "LinkedModel.linkedModelFile.linkedModeFileName.defaultValue cannot be empty."
        yield at.error("L3", "linkedModel.linkedModelFile", message, MODEL_PARAMS)
