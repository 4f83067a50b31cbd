"""Spec side, validation layer: support vector machines, rules SV1-SV9
(``supportVectorClassifier``) and SR1-SR5 (``supportVectorRegressor``).

Source: coremltools ``mlmodel/src/Validation/SVMValidator.cpp``, in its order and with its
messages ("SupportVectoresPerClass" included). Both check that the inputs are vectorizable
*before* their classifier / regressor interface. ``validateKernel``'s polynomial case falls
through to the RBF case, which then reads the (unset, so zero) RBF gamma and never fails; the
sigmoid case falls through to the linear one. Neither model type is checked against the width
of its vectorized input (the runtime does that when it compiles the model).
"""

from __future__ import annotations

from collections.abc import Iterator

from updatable import proto
from updatable.validation.generic import classifier_problem, regressor_problem
from updatable.validation.issues import MODEL_PARAMS, At, Issue
from updatable.validation.schema import vectorizable_problem


def _inputs(model: proto.Model, at: At, code: str) -> Iterator[Issue]:
    for i, feature in enumerate(model.description.input):
        problem = vectorizable_problem([feature])
        if problem is not None:
            yield at.error(code, f"description.input[{i}]", *problem)
            return


def kernel_problem(kernel: proto.Message) -> str | None:
    """``validateKernel``: a kernel is set, and its gamma (and a polynomial's degree) is not
    negative."""
    kind = kernel.WhichOneof("kernel")
    if kind is None:
        return "You must specify a supported kernel type"
    if kind in ("polyKernel", "rbfKernel", "sigmoidKernel") and getattr(kernel, kind).gamma < 0:
        return "Gamma must be greater than or equal to zero"
    if kind == "polyKernel" and kernel.polyKernel.degree < 0:
        return "Degree must be greater than or equal to zero"
    return None


def _support_vector_count(params: proto.Message) -> int | None:
    kind = params.WhichOneof("supportVectors")
    return None if kind is None else len(getattr(params, kind).vectors)


def classifier_inputs(model: proto.Model, at: At) -> Iterator[Issue]:
    """SV1: every input a Double, Int64 or multiArray."""
    yield from _inputs(model, at, "SV1")


def classifier_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """SV2: the classifier interface (class labels, label and probability outputs)."""
    problem = classifier_problem(model, model.supportVectorClassifier)
    if problem is not None:
        yield at.error("SV2", "description", *problem)


def classifier_kernel(model: proto.Model, at: At) -> Iterator[Issue]:
    """SV3: a valid kernel."""
    message = kernel_problem(model.supportVectorClassifier.kernel)
    if message is not None:
        yield at.error("SV3", "supportVectorClassifier.kernel", message, MODEL_PARAMS)


def classifier_parameters(model: proto.Model, at: At) -> Iterator[Issue]:
    """SV4-SV9: K-1 coefficient rows (SV4); support vectors set (SV5); K per-class counts
    (SV6) summing to the number of support vectors (SV7); one coefficient per support vector in
    every row (SV8); probA / probB both empty or both K(K-1)/2 long (SV9)."""
    svm = model.supportVectorClassifier
    # SV2 already required class labels
    classes = len(getattr(svm, svm.WhichOneof("ClassLabels")).vector)
    where = "supportVectorClassifier"
    if len(svm.coefficients) != classes - 1:
        message = (
            f"coefficient array must be size numberOfClasses - 1 ({classes - 1}). Instead it is "
            f"size {len(svm.coefficients)}"
        )
        yield at.error("SV4", f"{where}.coefficients", message, MODEL_PARAMS)
        return
    total = _support_vector_count(svm)
    if total is None:
        message = "Must specify sparse or dense support vectors"
        yield at.error("SV5", f"{where}.supportVectors", message, MODEL_PARAMS)
        return
    per_class = list(svm.numberOfSupportVectorsPerClass)
    if len(per_class) != classes:
        message = (
            f"numberOfSupportVectoresPerClass array must be size numberOfClasses {classes} "
            f"instead it is size {len(per_class)}"
        )
        yield at.error("SV6", f"{where}.numberOfSupportVectorsPerClass", message, MODEL_PARAMS)
        return
    if sum(per_class) != total:
        message = (
            f"sum of numberOfSupportVectorsPerClass {sum(per_class)} must sum to total number of "
            f"support vectors {total}"
        )
        yield at.error("SV7", f"{where}.numberOfSupportVectorsPerClass", message, MODEL_PARAMS)
        return
    for i, row in enumerate(svm.coefficients):
        if len(row.alpha) != total:
            message = (
                f"Incorrect number of coefficients: There should be {total} not {len(row.alpha)}"
            )
            yield at.error("SV8", f"{where}.coefficients[{i}]", message, MODEL_PARAMS)
            return
    yield from _probability_pairs(svm, classes, at)


def _probability_pairs(svm: proto.Message, classes: int, at: At) -> Iterator[Issue]:
    if not (len(svm.probA) or len(svm.probB)):
        return
    pairs = classes * (classes - 1) // 2
    if len(svm.probA) != len(svm.probB):
        message = "probA and probB must be same size"
        yield at.error("SV9", "supportVectorClassifier.probB", message, MODEL_PARAMS)
    elif len(svm.probA) != pairs:
        message = f"Expected length of probA is number of class pairs: {pairs}"
        yield at.error("SV9", "supportVectorClassifier.probA", message, MODEL_PARAMS)


def regressor_inputs(model: proto.Model, at: At) -> Iterator[Issue]:
    """SR1: every input a Double, Int64 or multiArray."""
    yield from _inputs(model, at, "SR1")


def regressor_interface(model: proto.Model, at: At) -> Iterator[Issue]:
    """SR2: the regressor interface."""
    problem = regressor_problem(model)
    if problem is not None:
        yield at.error("SR2", "description", *problem)


def regressor_parameters(model: proto.Model, at: At) -> Iterator[Issue]:
    """SR3-SR5: a valid kernel (SR3); support vectors set (SR4); one coefficient per support
    vector (SR5)."""
    svm, where = model.supportVectorRegressor, "supportVectorRegressor"
    message = kernel_problem(svm.kernel)
    if message is not None:
        yield at.error("SR3", f"{where}.kernel", message, MODEL_PARAMS)
        return
    total = _support_vector_count(svm)
    if total is None:
        message = "Must specify sparse or dense support vectors"
        yield at.error("SR4", f"{where}.supportVectors", message, MODEL_PARAMS)
    elif len(svm.coefficients.alpha) != total:
        message = "The number of coefficients must match the number of support vectors."
        yield at.error("SR5", f"{where}.coefficients", message, MODEL_PARAMS)


SUPPORT_VECTOR_CLASSIFIER = (
    classifier_inputs,
    classifier_interface,
    classifier_kernel,
    classifier_parameters,
)
SUPPORT_VECTOR_REGRESSOR = (regressor_inputs, regressor_interface, regressor_parameters)
