"""Spec side, validation layer: generalized linear models, rules GR1-GR5 (``glmRegressor``) and
GC1-GC9 (``glmClassifier``).

Source: coremltools ``mlmodel/src/Validation/LinearModelValidator.cpp``, in its order and with
its messages. The regressor checks its interface first, then the input and output types; the
classifier checks its interface, then that its inputs are vectorizable, then its parameters.
Neither checks that the weight vectors are as long as the vectorized input (the runtime does,
when it compiles the model).
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.validation.generic import classifier_problem, regressor_problem
from updatable.validation.issues import MODEL_PARAMS, At, Issue
from updatable.validation.schema import type_problem, vectorizable_problem

_GLM = proto.Model_pb2.GLMClassifier


def regressor_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """GR1: a regressor interface (``predictedFeatureName`` a Double or multiArray output)."""
    problem = regressor_problem(model)
    if problem is not None:
        yield at.error("GR1", "description", *problem)


def regressor_feature_types(model: proto.Model, at: At) -> Iterator[Issue]:
    """GR2 / GR3: every input a Double, multiArray or Int64; every output a Double."""
    description = model.description
    for i, feature in enumerate(description.input):
        problem = type_problem(feature, ("doubleType", "multiArrayType", "int64Type"))
        if problem is not None:
            yield at.error("GR2", f"description.input[{i}]", *problem)
            return
    for i, feature in enumerate(description.output):
        problem = type_problem(feature, ("doubleType",))
        if problem is not None:
            yield at.error("GR3", f"description.output[{i}]", *problem)
            return


def regressor_weights(model: proto.Model, at: At) -> Iterator[Issue]:
    """GR4 / GR5: one offset per weight vector; every weight vector of the same length."""
    glm = model.glmRegressor
    if len(glm.weights) != len(glm.offset):
        message = "Weights and offsets must be the same size."
        yield at.error("GR4", "glmRegressor.offset", message, MODEL_PARAMS)
        return
    if any(len(w.value) != len(glm.weights[0].value) for w in glm.weights):
        message = "All weight coefficients must be the same size."
        yield at.error("GR5", "glmRegressor.weights", message, MODEL_PARAMS)


def classifier_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """GC1: the classifier interface (class labels, label and probability outputs)."""
    problem = classifier_problem(model, model.glmClassifier)
    if problem is not None:
        yield at.error("GC1", "description", *problem)


def classifier_inputs(model: proto.Model, at: At) -> Iterator[Issue]:
    """GC2: every input a Double, Int64 or multiArray."""
    for i, feature in enumerate(model.description.input):
        problem = vectorizable_problem([feature])
        if problem is not None:
            yield at.error("GC2", f"description.input[{i}]", *problem)
            return


def classifier_enums(model: proto.Model, at: At) -> Iterator[Issue]:
    """GC3 / GC4: the transform is Logit or Probit; the encoding ReferenceClass or OneVsRest
    (an unknown enum number fails)."""
    glm = model.glmClassifier
    if glm.postEvaluationTransform not in (_GLM.Logit, _GLM.Probit):
        message = "Invalid post evaluation transform"
        yield at.error("GC3", "glmClassifier.postEvaluationTransform", message, MODEL_PARAMS)
    elif glm.classEncoding not in (_GLM.ReferenceClass, _GLM.OneVsRest):
        yield at.error("GC4", "glmClassifier.classEncoding", "Invalid class encoding", MODEL_PARAMS)


def _class_count(glm: proto.Message) -> int:
    which = glm.WhichOneof("ClassLabels")
    return len(getattr(glm, which).vector) if which else -1


def classifier_weights(model: proto.Model, at: At) -> Iterator[Issue]:
    """GC5-GC9: weight vectors present (GC5), one offset each (GC6), as many as the encoding
    needs for the class count (GC7), probit only for two classes (GC8), of one nonzero length
    (GC9)."""
    glm, where = model.glmClassifier, "glmClassifier.weights"
    count, classes = len(glm.weights), _class_count(glm)
    if count == 0:
        message = "The number of DoubleArrays in weights must be greater than zero"
        yield at.error("GC5", where, message, MODEL_PARAMS)
        return
    if count != len(glm.offset):
        message = "The number of DoubleArrays in weights must match number of offsets"
        yield at.error("GC6", "glmClassifier.offset", message, MODEL_PARAMS)
        return
    encoding = _encoding_problem(glm.classEncoding, count, classes)
    if encoding is not None:
        yield at.error("GC7", where, encoding, MODEL_PARAMS)
        return
    if classes > 2 and glm.postEvaluationTransform == _GLM.Probit:
        message = "Probit post evaluation transform is only supported for binary classification"
        yield at.error("GC8", "glmClassifier.postEvaluationTransform", message, MODEL_PARAMS)
        return
    if len(glm.weights[0].value) == 0:
        yield at.error("GC9", where, "Weight DoubleArrays must have nonzero length", MODEL_PARAMS)
    elif any(len(w.value) != len(glm.weights[0].value) for w in glm.weights):
        yield at.error("GC9", where, "Weight DoubleArrays must have the same length", MODEL_PARAMS)


def _encoding_problem(encoding: int, count: int, classes: int) -> str | None:
    """The weight-vector count an encoding needs: K - 1 (ReferenceClass); 1 for two classes,
    else K (OneVsRest). ``classes`` is -1 without labels (then any count passes)."""
    if encoding == _GLM.ReferenceClass:
        if classes != -1 and count != classes - 1:
            return (
                "With ReferenceClass encoding the number of DoubleArrays in weights must be one "
                "less than number of classes"
            )
    elif classes == 2:
        if count != 1:
            return (
                "When using OneVsRest encoding for only two classes, the number of DoubleArrays "
                "in weights must be one"
            )
    elif classes != -1 and count != classes:
        return (
            "With OneVsRest encoding the number of DoubleArrays in weights must equal the number "
            "of classes"
        )
    return None


GLM_REGRESSOR = (regressor_interface, regressor_feature_types, regressor_weights)
GLM_CLASSIFIER = (classifier_interface, classifier_inputs, classifier_enums, classifier_weights)
