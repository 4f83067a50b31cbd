"""Spec side, validation layer: Core ML's validator as tables of rule functions, plus our lint.

``validate(spec)`` answers two questions about a ``.mlmodel`` before any device sees it:

1. **Would Core ML reject it, and with which message?** The Core ML rules reproduce the
   validator in coremltools' ``mlmodel/src`` (``Model.cpp``, ``Validation/*.cpp``) in its check
   order, with its exact messages (typos, missing periods and unbalanced quotes included) and
   its result type names. Core ML stops at the first failure and so do we: at most one Core ML
   issue is reported, and it is the one Core ML would report.
2. **Will it probably not train?** Our own lint rules (codes ``X1``...) cover what Core ML
   leaves unchecked (docs/mlmodel-format.md §3). They always run, on every model of a pipeline, and
   are appended after the Core ML issue; their ``result_type`` is empty.

Why stop the Core ML rules at the first error: after a structural failure (a missing blob, a
second loss layer) the later Core ML checks would read a model Core ML never accepts, and their
messages would be follow-on noise. The lint checks are independent of each other and of Core
ML's order, so they are safe to report together. One Core ML result is not an error: the
shape pass of rank-5 networks (Y8) returns ``POTENTIALLY_INVALID_NEURAL_NETWORK_SHAPES``,
which Core ML accepts; it is reported as a warning, the checks after it still run (and an
error among them replaces it), and the updatable checks it skips stay skipped.

Rule ids (``Issue.code``), in Core ML's order per model type:

====== ====================================================================================
G1-G7  every model: version present, not too new, description (``features``),
       updatable version >= 4, updatable model type, optional features, a model type
       (``generic``)
N1-N7  neural networks: interface, inputs (``nn``)
Y1-Y7  neural networks, for each layer in order (nested networks of loops and branches
       included), with N8 (inputs exist) and N9 (outputs are new) after each layer's own
       checks (``layer_rules``, one module per family of layer kinds):
       Y1 the ranks the layer declares (``inputTensor`` / ``outputTensor``);
       Y2 its input / output counts; Y3 rank rules of N-d networks; Y4 weights and
       constants (value types, precision, sizes, quantization); Y5 other parameters
       (padding types, kernels, strides, axes, shapes, activation types...); Y6 control
       flow (branch, loop, loopBreak / loopContinue) and copy; Y7 an unknown layer kind
Y8     rank-5 networks: the blob shape pass (``shapes``); a warning (see above)
Y9     our message where Core ML's validator has undefined behaviour (an error)
N10    classifier probabilities blob; N11 outputs produced (``nn``)
A1-A4  updatable layers; B1 layer / loss names; D1-D5 training inputs (``nn``)
C1-C7  loss layers; C17-C18 backpropagation reachability (``backprop``)
C8-C16 optimizer, epochs and seed parameters (``hyperparameters``)
K1-K11 k-nearest-neighbours classifier (``knn``)
P0-P9  pipelines, with recursion into sub-models; L1-L3 linked models (``pipeline``)
GR1-5  GLM regressor; GC1-GC9 GLM classifier (``linear_models``)
SV1-9  support vector classifier; SR1-SR5 support vector regressor (``svm``)
TE1    tree ensembles, classifier and regressor: one collected message (``tree_ensemble``)
FV1-3  featureVectorizer; OH1-OH3 oneHotEncoder; AE1-AE3 arrayFeatureExtractor;
       DV1-DV3 dictVectorizer; CM1-CM4 categoricalMapping (``encoders``)
NO1-3  normalizer; SC1-SC4 scaler; IM1-IM5 imputer (``preprocessors``)
X1-X14 our lint (``lint``, ``lint_versions``)
====== ====================================================================================

A rule is a function ``rule(model, at) -> Iterator[Issue]``; ``at`` says where ``model`` sits
(``models[1]/`` inside a pipeline). Rules are data: each model type maps to a tuple of rules
that a small driver runs in order.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator

from updatable import proto
from updatable.errors import ValidationError
from updatable.spec import pipeline_models
from updatable.validation import backprop as bp
from updatable.validation import encoders as enc
from updatable.validation import generic as g
from updatable.validation import knn, nn, svm
from updatable.validation import linear_models as glm
from updatable.validation import lint as x
from updatable.validation import pipeline as pipe
from updatable.validation import preprocessors as pre
from updatable.validation.hyperparameters import epochs_and_seed_valid, optimizer_valid
from updatable.validation.issues import TOP, At, Issue, Rule
from updatable.validation.layer_rules import walk
from updatable.validation.lint_versions import features_fit_the_version
from updatable.validation.shapes.propagate import shapes_then_updatable
from updatable.validation.tree_ensemble import TREE_ENSEMBLE


def _when_updatable(rule: Rule) -> Rule:
    """``rule``, run only when the model is marked updatable."""

    @functools.wraps(rule)
    def run(model: proto.Model, at: At) -> Iterator[Issue]:
        if model.isUpdatable:
            yield from rule(model, at)

    return run


# Model::validateGeneric, for every model
GENERIC: tuple[Rule, ...] = (
    g.version_present,
    g.version_supported,
    g.description_valid,
    g.updatable_version,
    g.updatable_type,
    g.optional_features,
)
# validateUpdatableNeuralNetwork (A, B, C), then validateTrainingInputs (D)
UPDATABLE_NETWORK: tuple[Rule, ...] = tuple(
    _when_updatable(rule)
    for rule in (
        nn.layers_support_update,
        nn.names_unique,
        bp.single_loss,
        bp.loss_layers_valid,
        optimizer_valid,
        epochs_and_seed_valid,
        bp.backprop_reachable,
        nn.training_inputs_valid,
    )
)
# validateNeuralNetworkTopLevel: interface, the walk over the layers, the rank-5 shape pass
# (whose result, a warning, replaces the updatable checks), the updatable checks
NETWORK_TOP_LEVEL: tuple[Rule, ...] = (
    nn.shape_mappings,
    nn.interface_present,
    nn.input_types,
    nn.input_shapes,
    walk.layers_valid,
    shapes_then_updatable(UPDATABLE_NETWORK),
)
KNN: tuple[Rule, ...] = (
    knn.neighbours_valid,
    knn.weighting_set,
    knn.default_label_valid,
    knn.classifier_interface,
    knn.index_valid,
)


@functools.cache
def _core_ml_rules() -> dict[str, tuple[Rule, ...]]:
    """The ordered Core ML rules of each model type (``"*"``: any other type)."""
    # a pipeline validates each sub-model with the whole table: it gets this module's entry
    pipeline = (
        pipe.models_present,
        pipe.sub_models_valid(core_ml_issue),
        pipe.updatable_position,
        pipe.names_valid,
    )
    return {
        "*": GENERIC,
        "": (*GENERIC, g.model_type_set),
        "neuralNetwork": (*GENERIC, nn.output_types, *NETWORK_TOP_LEVEL, nn.outputs_produced),
        "neuralNetworkClassifier": (
            *GENERIC,
            nn.classifier_interface,
            *NETWORK_TOP_LEVEL,
            nn.probability_layer_found,
            nn.classifier_outputs_produced,
        ),
        "neuralNetworkRegressor": (*GENERIC, nn.regressor_interface, *NETWORK_TOP_LEVEL),
        "kNearestNeighborsClassifier": (*GENERIC, *KNN),
        "pipeline": GENERIC + pipeline,
        "pipelineClassifier": GENERIC + pipeline,
        "pipelineRegressor": GENERIC + pipeline,
        "linkedModel": (*GENERIC, pipe.linked_model_valid),
        "glmRegressor": (*GENERIC, *glm.GLM_REGRESSOR),
        "glmClassifier": (*GENERIC, *glm.GLM_CLASSIFIER),
        "supportVectorRegressor": (*GENERIC, *svm.SUPPORT_VECTOR_REGRESSOR),
        "supportVectorClassifier": (*GENERIC, *svm.SUPPORT_VECTOR_CLASSIFIER),
        "treeEnsembleRegressor": (*GENERIC, *TREE_ENSEMBLE),
        "treeEnsembleClassifier": (*GENERIC, *TREE_ENSEMBLE),
        "featureVectorizer": (*GENERIC, *enc.FEATURE_VECTORIZER),
        "oneHotEncoder": (*GENERIC, *enc.ONE_HOT_ENCODER),
        "arrayFeatureExtractor": (*GENERIC, *enc.ARRAY_FEATURE_EXTRACTOR),
        "dictVectorizer": (*GENERIC, *enc.DICT_VECTORIZER),
        "categoricalMapping": (*GENERIC, *enc.CATEGORICAL_MAPPING),
        "normalizer": (*GENERIC, *pre.NORMALIZER),
        "scaler": (*GENERIC, *pre.SCALER),
        "imputer": (*GENERIC, *pre.IMPUTER),
        "identity": GENERIC,  # "all identities are valid"
    }


def core_ml_issue(model: proto.Model, at: At = TOP) -> Issue | None:
    """The result Core ML's validator reports for ``model``: its first error, a warning (Y8:
    Core ML accepts the model with ``POTENTIALLY_INVALID_NEURAL_NETWORK_SHAPES``), or ``None``
    when it accepts the model without remark.

    The classic model types (GLMs, SVMs, tree ensembles, the feature-engineering models) get
    their own Core ML checks after G1-G6. The other types (Apple's proprietary models, ML
    Programs, custom models...) get the generic checks only: their type-specific Core ML checks
    are not reproduced. A model without a type gets G7.
    """
    table = _core_ml_rules()
    rules = table.get(model.WhichOneof("Type") or "", table["*"])
    warning = None
    for rule in rules:
        for issue in rule(model, at):
            if issue.severity == "error":
                return issue  # Core ML returns the first failure only
            warning = warning or issue  # a good result: the next checks still run
            break
    return warning


@functools.cache
def _lint_rules() -> tuple[Rule, ...]:
    """Our own rules, run on every model (``lint`` documents each id)."""
    return (
        x.loss_present,
        x.no_half_precision,
        x.layer_kinds_portable,
        x.hyperparameters_plausible,
        x.loss_target_types,
        x.training_inputs_listed,
        x.int64_sets_clean,
        x.feature_names_unique,
        features_fit_the_version,
    )


def lint_issues(model: proto.Model, at: At = TOP) -> Iterator[Issue]:
    """Every finding of our own lint rules, for ``model`` and each model of a pipeline."""
    for rule in _lint_rules():
        yield from rule(model, at)
    for index, sub_model in enumerate(pipeline_models(model)):
        yield from lint_issues(sub_model, at.sub(index))


def validate(spec: proto.Model | str | os.PathLike[str], *, lint: bool = True) -> list[Issue]:
    """Validate a model the way Core ML does, then run our own lint.

    Args:
        spec: a ``Model`` protobuf message, or the path of a ``.mlmodel`` file.
        lint: also run the lint rules (``X*``).

    Returns:
        Core ML's first error (if any) followed by every lint finding. An empty list means
        that Core ML accepts the model and the lint found nothing.
    """
    if not isinstance(spec, proto.Model):
        from updatable.spec import load

        spec = load(spec)
    issues: list[Issue] = []
    first = core_ml_issue(spec)
    if first is not None:
        issues.append(first)
    if lint:
        issues.extend(lint_issues(spec))
    return issues


def check(spec: proto.Model | str | os.PathLike[str], *, lint: bool = True) -> list[Issue]:
    """Like :func:`validate`, but raise when any issue is an error.

    Raises:
        ValidationError: its message is the first error's code and message, e.g.
            ``"C11: SGD optimizer should include miniBatchSize parameter."``; ``.issues``
            holds every issue found, warnings included.

    Returns:
        The warnings, when there is no error.
    """
    issues = validate(spec, lint=lint)
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        raise ValidationError(f"{errors[0].code}: {errors[0].message}", issues)
    return issues
