"""Spec side, editing layer: pipelines that put a frozen feature extractor in front of an updatable
head.

The pattern of Apple's updatable drawing classifier (coremltools docs, "Pipeline
Classifier"): model 0 turns the input (a 28x28 drawing) into an embedding, model 1 is an
updatable kNN (or a small updatable neural network) on that embedding. Core ML lets only the
last model of a pipeline be updatable (rules P1-P3) and the pipeline itself needs version 4
(rule G4, which coremltools' ``Pipeline.make_updatable`` leaves at 1). The extractor may also
be a :func:`make_linked_model` that points at a compiled model shipped beside the app.
"""

from __future__ import annotations

from typing import Any

from updatable import proto
from updatable.edit.nested import KNN_TYPES
from updatable.errors import ParameterError, SurgeryError, UnsupportedModelError
from updatable.spec import NEURAL_NETWORK_TYPES, PIPELINE_TYPES, ModelSource, as_spec, model_type

HEAD_TYPES = (*KNN_TYPES, *NEURAL_NETWORK_TYPES)
# Core ML's minimum version for updatable models and for linked models (coremltools
# _MINIMUM_UPDATABLE_SPEC_VERSION, _MINIMUM_LINKED_MODELS_SPEC_VERSION).
MIN_VERSION = 4


def make_pipeline(feature_extractor: ModelSource, head: ModelSource) -> proto.Model:
    """A new pipeline ``[feature_extractor, head]``; the arguments are copied, not changed.

    Each argument is a ``Model`` message, a coremltools ``MLModel`` (e.g. what ``ct.convert``
    returns) or the path of a ``.mlmodel`` file.

    * Type: ``pipelineClassifier`` when the head is a classifier (kNN or NN classifier),
      ``pipelineRegressor`` for an NN regressor, ``pipeline`` otherwise.
    * Wiring: when the head has one input and the extractor one output, the head reads that
      output; under another name (``input`` vs ``embedding``) the head's input is renamed, in
      its description, training inputs and layers. Otherwise every head input must be an
      extractor output or a pipeline input of the same name. A head input takes the exact type
      of what feeds it (Core ML compares them, e.g. FLOAT32 against DOUBLE) once the shapes
      are checked to agree.
    * Description: the extractor's inputs, the head's outputs and predicted feature names, and
      ``trainingInput`` = the pipeline inputs plus the head's training targets (for a kNN,
      the label).
    * Updatable if the head is; then the head and the pipeline get version >= 4. The pipeline's
      version is at least every sub-model's.

    Raises:
        UnsupportedModelError: the head is not a kNN or neural network.
        SurgeryError: the extractor is updatable, or the stages cannot be wired.
    """
    feature_extractor = as_spec(feature_extractor, "feature_extractor")
    head = as_spec(head, "head")
    if feature_extractor.isUpdatable:
        raise SurgeryError(
            "the feature extractor is marked updatable; only the last model of a pipeline can "
            "be updatable (Core ML rule P1): clear its isUpdatable first"
        )
    kind = model_type(head)
    if kind not in HEAD_TYPES:
        raise UnsupportedModelError(f"the head must be one of {list(HEAD_TYPES)}; got {kind}")
    extractor = proto.Model()
    extractor.CopyFrom(feature_extractor)
    stage = proto.Model()
    stage.CopyFrom(head)
    _wire(extractor, stage)

    if kind in ("kNearestNeighborsClassifier", "neuralNetworkClassifier"):
        pipeline_kind = "pipelineClassifier"
    elif kind == "neuralNetworkRegressor":
        pipeline_kind = "pipelineRegressor"
    else:
        pipeline_kind = "pipeline"
    spec = proto.Model(isUpdatable=stage.isUpdatable)
    if stage.isUpdatable:
        stage.specificationVersion = max(stage.specificationVersion, MIN_VERSION)
    spec.specificationVersion = max(
        extractor.specificationVersion,
        stage.specificationVersion,
        MIN_VERSION if stage.isUpdatable else 1,
    )
    description = spec.description
    description.input.extend(extractor.description.input)
    description.output.extend(stage.description.output)
    description.predictedFeatureName = stage.description.predictedFeatureName
    description.predictedProbabilitiesName = stage.description.predictedProbabilitiesName
    head_inputs = {feature.name for feature in stage.description.input}
    targets = [f for f in stage.description.trainingInput if f.name not in head_inputs]
    if targets:
        description.trainingInput.extend([*extractor.description.input, *targets])
    holder = spec.pipeline if pipeline_kind == "pipeline" else getattr(spec, pipeline_kind).pipeline
    holder.models.add().CopyFrom(extractor)
    holder.models.add().CopyFrom(stage)
    return spec


def make_linked_model(
    model: ModelSource, file_name: str, search_path: str = ".:$BUNDLE_MAIN"
) -> proto.Model:
    """A ``LinkedModel`` (version 4) standing for ``model`` compiled to ``file_name``.

    The description (inputs and outputs) is copied from ``model``, so the link can take its
    place in :func:`make_pipeline`. ``file_name`` is a name such as
    ``"TinyDrawingEmbedding.mlmodelc"``; ``search_path`` is ``:``-separated directories,
    relative to the model or absolute, where ``$BUNDLE_MAIN`` is the app bundle
    (``LinkedModel.proto``). A linked model can never be updatable. ``model`` is a ``Model``
    message, a coremltools ``MLModel`` or a ``.mlmodel`` path.
    """
    model = as_spec(model)
    if not isinstance(file_name, str) or not file_name.strip():
        raise ParameterError(
            "the linked model file name must not be empty (Core ML: "
            "linkedModelFileName.defaultValue cannot be empty)"
        )
    if "/" in file_name:
        raise ParameterError(
            f"the linked model file name must be a name, not a path; got {file_name!r}: put "
            "directories in search_path"
        )
    if not isinstance(search_path, str):
        raise ParameterError(f"search_path must be a string; got {search_path!r}")
    spec = proto.Model(specificationVersion=MIN_VERSION)
    spec.description.input.extend(model.description.input)
    spec.description.output.extend(model.description.output)
    link = spec.linkedModel.linkedModelFile
    link.linkedModelFileName.defaultValue = file_name
    link.linkedModelSearchPath.defaultValue = search_path
    return spec


def _wire(extractor: proto.Model, head: proto.Model) -> None:
    """Match the head's inputs to the extractor's outputs (renaming one if needed)."""
    produced = {f.name: f for f in extractor.description.output}
    available = {f.name: f for f in extractor.description.input} | produced
    head_inputs = list(head.description.input)
    if len(head_inputs) == 1 and len(produced) == 1:
        # One embedding into one head input: that is the wiring, whatever the names.
        embedding = next(iter(produced))
        if head_inputs[0].name != embedding:
            _rename_input(head, head_inputs[0].name, embedding)
        available = produced
    missing = [f.name for f in head_inputs if f.name not in available]
    if missing:
        raise SurgeryError(
            f"the head's input(s) {missing} are neither outputs of the feature extractor "
            f"{list(produced)} nor its inputs {[f.name for f in extractor.description.input]}"
        )
    for feature in head.description.input:
        source = available[feature.name]
        _adopt_type(head, feature, source)


def _adopt_type(head: proto.Model, feature: proto.FeatureDescription, source: Any) -> None:
    ours, theirs = feature.type, source.type
    if ours.WhichOneof("Type") != theirs.WhichOneof("Type"):
        raise SurgeryError(
            f"the head's input '{feature.name}' is {ours.WhichOneof('Type')} but the feature "
            f"extractor provides {theirs.WhichOneof('Type')}"
        )
    if ours.WhichOneof("Type") == "multiArrayType":
        shape, provided = list(ours.multiArrayType.shape), list(theirs.multiArrayType.shape)
        if shape and provided and shape != provided:
            raise SurgeryError(
                f"the head's input '{feature.name}' has shape {shape} but the feature extractor "
                f"provides {provided}"
            )
    for entry in [feature, *(f for f in head.description.trainingInput if f.name == feature.name)]:
        entry.type.CopyFrom(theirs)


def _rename_input(head: proto.Model, old: str, new: str) -> None:
    description = head.description
    for feature in [*description.input, *description.trainingInput]:
        if feature.name == old:
            feature.name = new
    kind = model_type(head)
    if kind in PIPELINE_TYPES:
        raise SurgeryError(f"cannot rename the input '{old}' of a nested pipeline head")
    if kind in NEURAL_NETWORK_TYPES:
        nn = getattr(head, kind)
        for layer in nn.layers:
            for i, blob in enumerate(layer.input):
                if blob == old:
                    layer.input[i] = new
        for step in nn.preprocessing:
            if step.featureName == old:
                step.featureName = new
