"""GLM rules GR1-GR5 / GC1-GC9 and SVM rules SV1-SV9 / SR1-SR5: each check breaks one field
of a model Core ML accepts and expects Core ML's exact message (LinearModelValidator.cpp,
SVMValidator.cpp)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.builders import classic
from tests.builders._common import datatypes
from tests.issue_checks import expect_issue as expect
from updatable.validation import core_ml_issue

PARAMS = "INVALID_MODEL_PARAMETERS"
FEATURE_TYPE = "UNSUPPORTED_FEATURE_TYPE_FOR_MODEL_TYPE"
INTERFACE = "INVALID_MODEL_INTERFACE"
NAME_MISMATCH = "INTERFACE_FEATURE_NAME_MISMATCH"
RNG = np.random.default_rng(5)


def glm_classifier(classes=3, **kwargs):
    labels = [f"c{i}" for i in range(classes)]
    rows = 1 if classes == 2 else classes
    return classic.glm_classifier(RNG.normal(size=(rows, 4)), np.zeros(rows), labels, **kwargs)


def glm_regressor(**kwargs):
    return classic.glm_regressor(RNG.normal(size=4), 0.5, **kwargs)


def _string_input(spec):
    spec.description.input[0].type.stringType.SetInParent()
    return spec


def _drop_weight_value(spec, kind):
    getattr(spec, kind).weights[1].value.pop()
    return spec


def _add_weight_row(spec, kind):
    getattr(spec, kind).weights.add().value.extend([1.0, 2.0, 3.0, 4.0])
    return spec


def _glm_regressor_two_rows():
    spec = glm_regressor()
    spec.glmRegressor.weights.add().value.extend([1.0, 2.0, 3.0])
    spec.glmRegressor.offset.append(0.0)
    return spec


GLM_REGRESSOR_CASES = {
    "GR1 no predicted feature": (
        lambda: _set(glm_regressor(), "description.predictedFeatureName", ""),
        "GR1",
        "Specification is missing regressor predictedFeatureName.",
        INTERFACE,
    ),
    "GR1 predicted feature missing": (
        lambda: _set(glm_regressor(), "description.predictedFeatureName", "nope"),
        "GR1",
        "Expected feature 'nope' to the model is not present in the model description.",
        NAME_MISMATCH,
    ),
    "GR2 string input": (
        lambda: _string_input(glm_regressor()),
        "GR2",
        'Unsupported type "MLFeatureTypeType_stringType" for feature "features". Should be one '
        "of: MLFeatureTypeType_doubleType, MLFeatureTypeType_multiArrayType, "
        "MLFeatureTypeType_int64Type.",
        FEATURE_TYPE,
    ),
    "GR3 array output": (
        lambda: _array_output(glm_regressor()),
        "GR3",
        'Unsupported type "MLFeatureTypeType_multiArrayType" for feature "value". Should be one '
        "of: MLFeatureTypeType_doubleType.",
        FEATURE_TYPE,
    ),
    "GR4 offsets": (
        lambda: _add_weight_row(glm_regressor(), "glmRegressor"),
        "GR4",
        "Weights and offsets must be the same size.",
        PARAMS,
    ),
    "GR5 lengths": (
        _glm_regressor_two_rows,
        "GR5",
        "All weight coefficients must be the same size.",
        PARAMS,
    ),
}


def _set(spec, path, value):
    *parents, leaf = path.split(".")
    target = spec
    for name in parents:
        target = getattr(target, name)
    setattr(target, leaf, value)
    return spec


def _array_output(spec):
    output = spec.description.output[0].type
    output.multiArrayType.shape.append(1)
    output.multiArrayType.dataType = classic.M.ArrayFeatureType.DOUBLE
    return spec


def _glm_clear(field):
    def build():
        spec = glm_classifier()
        spec.glmClassifier.ClearField(field)
        return spec

    return build


GLM_CLASSIFIER_CASES = {
    "GC1 no labels": (
        lambda: _clear_labels(glm_classifier(), "glmClassifier"),
        "GC1",
        "Classifier models must provide class labels.",
        PARAMS,
    ),
    "GC1 int64 label output for string labels": (
        lambda: _int64_label_output(glm_classifier()),
        "GC1",
        'Unsupported type "MLFeatureTypeType_int64Type" for feature "classLabel". Should be one '
        "of: MLFeatureTypeType_stringType.",
        FEATURE_TYPE,
    ),
    "GC2 string input": (
        lambda: _string_input(glm_classifier()),
        "GC2",
        'Unsupported type "MLFeatureTypeType_stringType" for feature "features". Should be one '
        "of: MLFeatureTypeType_doubleType, MLFeatureTypeType_int64Type, "
        "MLFeatureTypeType_multiArrayType.",
        FEATURE_TYPE,
    ),
    "GC3 transform": (
        lambda: _set(glm_classifier(), "glmClassifier.postEvaluationTransform", 7),
        "GC3",
        "Invalid post evaluation transform",
        PARAMS,
    ),
    "GC4 encoding": (
        lambda: _set(glm_classifier(), "glmClassifier.classEncoding", 5),
        "GC4",
        "Invalid class encoding",
        PARAMS,
    ),
    "GC5 no weights": (
        _glm_clear("weights"),
        "GC5",
        "The number of DoubleArrays in weights must be greater than zero",
        PARAMS,
    ),
    "GC6 offsets": (
        _glm_clear("offset"),
        "GC6",
        "The number of DoubleArrays in weights must match number of offsets",
        PARAMS,
    ),
    "GC7 reference class count": (
        lambda: glm_classifier(encoding="ReferenceClass"),
        "GC7",
        "With ReferenceClass encoding the number of DoubleArrays in weights must be one less "
        "than number of classes",
        PARAMS,
    ),
    "GC7 one vs rest binary": (
        lambda: classic.glm_classifier(np.ones((2, 4)), [0, 0], ["a", "b"]),
        "GC7",
        "When using OneVsRest encoding for only two classes, the number of DoubleArrays in "
        "weights must be one",
        PARAMS,
    ),
    "GC7 one vs rest count": (
        lambda: classic.glm_classifier(np.ones((2, 4)), [0, 0], ["a", "b", "c"]),
        "GC7",
        "With OneVsRest encoding the number of DoubleArrays in weights must equal the number of "
        "classes",
        PARAMS,
    ),
    "GC8 probit multiclass": (
        lambda: glm_classifier(transform="Probit"),
        "GC8",
        "Probit post evaluation transform is only supported for binary classification",
        PARAMS,
    ),
    "GC9 empty rows": (
        lambda: classic.glm_classifier(np.ones((3, 0)), [0, 0, 0], ["a", "b", "c"]),
        "GC9",
        "Weight DoubleArrays must have nonzero length",
        PARAMS,
    ),
    "GC9 ragged rows": (
        lambda: _drop_weight_value(glm_classifier(), "glmClassifier"),
        "GC9",
        "Weight DoubleArrays must have the same length",
        PARAMS,
    ),
}


def _clear_labels(spec, kind):
    getattr(spec, kind).ClearField(getattr(spec, kind).WhichOneof("ClassLabels"))
    return spec


def _int64_label_output(spec):
    spec.description.output[0].type.int64Type.SetInParent()
    return spec


@pytest.mark.parametrize(
    ("build", "code", "message", "result"),
    list(GLM_REGRESSOR_CASES.values()) + list(GLM_CLASSIFIER_CASES.values()),
    ids=list(GLM_REGRESSOR_CASES) + list(GLM_CLASSIFIER_CASES),
)
def test_glm_rules(build, code, message, result):
    expect(build(), code, message, result)


@pytest.mark.parametrize("encoding", ["ReferenceClass", "OneVsRest"])
@pytest.mark.parametrize("transform", ["Logit", "Probit"])
def test_binary_glm_classifiers_of_every_setting_are_valid(encoding, transform):
    spec = classic.glm_classifier(
        np.ones((1, 4)), [0.0], [3, 9], encoding=encoding, transform=transform
    )
    assert core_ml_issue(spec) is None


def test_glm_regressor_reads_doubles_and_int64s_and_may_output_several_doubles():
    inputs = [("a", datatypes.Double()), ("b", datatypes.Int64()), ("c", datatypes.Array(2))]
    spec = classic.glm_regressor(np.ones(4), 0.0, inputs=inputs, transform="Probit")
    assert core_ml_issue(spec) is None


def svc(**kwargs):
    spec, _ = classic.svm_classifier(np.random.default_rng(1), width=3, labels=[1, 2, 3], **kwargs)
    return spec


def svr(**kwargs):
    spec, _ = classic.svm_regressor(np.random.default_rng(1), width=3, **kwargs)
    return spec


def _edit(build, edit):
    def make():
        spec = build()
        edit(spec)
        return spec

    return make


def _svc(edit):
    return _edit(svc, lambda spec: edit(spec.supportVectorClassifier))


def _svr(edit):
    return _edit(svr, lambda spec: edit(spec.supportVectorRegressor))


SVM_CASES = {
    "SV1 string input": (
        _edit(svc, _string_input),
        "SV1",
        'Unsupported type "MLFeatureTypeType_stringType" for feature "features". Should be one '
        "of: MLFeatureTypeType_doubleType, MLFeatureTypeType_int64Type, "
        "MLFeatureTypeType_multiArrayType.",
        FEATURE_TYPE,
    ),
    "SV2 no labels": (
        _edit(svc, lambda spec: _clear_labels(spec, "supportVectorClassifier")),
        "SV2",
        "Classifier models must provide class labels.",
        PARAMS,
    ),
    "SV3 no kernel": (
        _svc(lambda svm: svm.ClearField("kernel")),
        "SV3",
        "You must specify a supported kernel type",
        PARAMS,
    ),
    "SV3 negative rbf gamma": (
        _svc(lambda svm: setattr(svm.kernel.rbfKernel, "gamma", -1.0)),
        "SV3",
        "Gamma must be greater than or equal to zero",
        PARAMS,
    ),
    "SV3 negative poly degree": (
        _edit(
            lambda: svc(kernel="poly"),
            lambda s: setattr(s.supportVectorClassifier.kernel.polyKernel, "degree", -2),
        ),
        "SV3",
        "Degree must be greater than or equal to zero",
        PARAMS,
    ),
    "SV3 negative sigmoid gamma": (
        _edit(
            lambda: svc(kernel="sigmoid"),
            lambda s: setattr(s.supportVectorClassifier.kernel.sigmoidKernel, "gamma", -0.5),
        ),
        "SV3",
        "Gamma must be greater than or equal to zero",
        PARAMS,
    ),
    "SV4 coefficient rows": (
        _svc(lambda svm: svm.coefficients.pop()),
        "SV4",
        "coefficient array must be size numberOfClasses - 1 (2). Instead it is size 1",
        PARAMS,
    ),
    "SV5 no support vectors": (
        _svc(lambda svm: svm.ClearField("denseSupportVectors")),
        "SV5",
        "Must specify sparse or dense support vectors",
        PARAMS,
    ),
    "SV6 per-class counts": (
        _svc(lambda svm: svm.numberOfSupportVectorsPerClass.pop()),
        "SV6",
        "numberOfSupportVectoresPerClass array must be size numberOfClasses 3 instead it is size 2",
        PARAMS,
    ),
    "SV7 per-class sum": (
        _svc(lambda svm: svm.numberOfSupportVectorsPerClass.__setitem__(0, 9)),
        "SV7",
        None,
        PARAMS,
    ),
    "SV8 alphas": (
        _svc(lambda svm: svm.coefficients[1].alpha.pop()),
        "SV8",
        None,
        PARAMS,
    ),
    "SV9 probA and probB sizes": (
        _svc(lambda svm: svm.probB.pop()),
        "SV9",
        "probA and probB must be same size",
        PARAMS,
    ),
    "SV9 pair count": (
        _svc(lambda svm: (svm.probA.pop(), svm.probB.pop())),
        "SV9",
        "Expected length of probA is number of class pairs: 3",
        PARAMS,
    ),
    "SR1 string input": (
        _edit(svr, _string_input),
        "SR1",
        'Unsupported type "MLFeatureTypeType_stringType" for feature "features". Should be one '
        "of: MLFeatureTypeType_doubleType, MLFeatureTypeType_int64Type, "
        "MLFeatureTypeType_multiArrayType.",
        FEATURE_TYPE,
    ),
    "SR2 no predicted feature": (
        _edit(svr, lambda spec: setattr(spec.description, "predictedFeatureName", "")),
        "SR2",
        "Specification is missing regressor predictedFeatureName.",
        INTERFACE,
    ),
    "SR3 kernel": (
        _svr(lambda svm: svm.ClearField("kernel")),
        "SR3",
        "You must specify a supported kernel type",
        PARAMS,
    ),
    "SR4 no support vectors": (
        _svr(lambda svm: svm.ClearField("denseSupportVectors")),
        "SR4",
        "Must specify sparse or dense support vectors",
        PARAMS,
    ),
    "SR5 coefficients": (
        _svr(lambda svm: svm.coefficients.alpha.append(1.0)),
        "SR5",
        "The number of coefficients must match the number of support vectors.",
        PARAMS,
    ),
}


@pytest.mark.parametrize(("build", "code", "message", "result"), SVM_CASES.values(), ids=SVM_CASES)
def test_svm_rules(build, code, message, result):
    spec = build()
    if message is None:  # the counts depend on the random support vectors: computed here
        svm = spec.supportVectorClassifier
        total = len(svm.denseSupportVectors.vectors)
        counted = sum(svm.numberOfSupportVectorsPerClass)
        message = {
            "SV7": f"sum of numberOfSupportVectorsPerClass {counted} must sum to total number "
            f"of support vectors {total}",
            "SV8": f"Incorrect number of coefficients: There should be {total} not {total - 1}",
        }[code]
    expect(spec, code, message, result)


def test_svm_inputs_are_checked_before_the_classifier_interface():
    spec = svc()
    _string_input(spec)
    _clear_labels(spec, "supportVectorClassifier")
    assert core_ml_issue(spec).code == "SV1"


def test_glm_interface_is_checked_before_its_inputs():
    spec = glm_classifier()
    _string_input(spec)
    _clear_labels(spec, "glmClassifier")
    assert core_ml_issue(spec).code == "GC1"


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly", "sigmoid"])
def test_svms_of_every_kernel_dense_or_sparse_are_valid(kernel):
    for sparse in (False, True):
        assert core_ml_issue(svc(kernel=kernel, sparse=sparse)) is None
        assert core_ml_issue(svr(kernel=kernel, sparse=sparse)) is None
        assert core_ml_issue(svc(kernel=kernel, probability=False)) is None


def test_poly_kernel_falls_through_to_the_rbf_gamma_which_is_unset():
    """Core ML's poly case continues into the RBF case and reads the RBF gamma (0): a poly
    kernel with a valid gamma and degree passes whatever it holds."""
    spec = svc(kernel="poly")
    spec.supportVectorClassifier.kernel.polyKernel.degree = 0
    assert core_ml_issue(spec) is None
