"""Command line: one line on the parameters of a classic (non-network) model, for ``updatable
inspect``: the encoding and transform of a GLM, the kernel and support vectors of an SVM, the
trees of an ensemble, what a feature-engineering model maps to what.

It reads any spec, valid or not, so every count is taken as stored.
"""

from __future__ import annotations

from typing import Any

from updatable import proto

_M = proto.Model_pb2


def _name(enum: Any, value: int) -> str:
    """An enum value's name (its number when the file holds one the enum lacks)."""
    try:
        return str(enum.Name(value))
    except ValueError:
        return str(value)


def _labels(params: proto.Message) -> str:
    which = params.WhichOneof("ClassLabels") if hasattr(params, "stringClassLabels") else None
    if not which:
        return "no class labels"
    labels = list(getattr(params, which).vector)
    shown = ", ".join(str(label) for label in labels[:6]) + (", ..." if len(labels) > 6 else "")
    return f"{len(labels)} classes ({shown})"


def _glm_classifier(glm: proto.Message) -> str:
    encoding = _name(_M.GLMClassifier.ClassEncoding, glm.classEncoding)
    transform = _name(_M.GLMClassifier.PostEvaluationTransform, glm.postEvaluationTransform)
    width = len(glm.weights[0].value) if len(glm.weights) else 0
    return f"{encoding}, {transform}: {len(glm.weights)} weight rows of {width}; {_labels(glm)}"


def _glm_regressor(glm: proto.Message) -> str:
    transform = _name(_M.GLMRegressor.PostEvaluationTransform, glm.postEvaluationTransform)
    width = len(glm.weights[0].value) if len(glm.weights) else 0
    return f"{transform}: {len(glm.weights)} weight vector(s) of {width}"


def _kernel(kernel: proto.Message) -> str:
    kind = kernel.WhichOneof("kernel")
    if kind is None:
        return "no kernel"
    params = getattr(kernel, kind)
    text = kind.replace("Kernel", "")
    if kind != "linearKernel":
        text += f" (gamma {params.gamma:g}"
        text += f", c {params.c:g}" if hasattr(params, "c") else ""
        text += f", degree {params.degree}" if hasattr(params, "degree") else ""
        text += ")"
    return f"{text} kernel"


def _vectors(svm: proto.Message) -> str:
    which = svm.WhichOneof("supportVectors")
    count = len(getattr(svm, which).vectors) if which else 0
    return f"{count} {'sparse' if which == 'sparseSupportVectors' else 'dense'} support vectors"


def _svc(svm: proto.Message) -> str:
    probabilities = "Platt probabilities" if len(svm.probA) else "no probabilities"
    return f"{_kernel(svm.kernel)}, {_vectors(svm)}, {_labels(svm)}, {probabilities}"


def _svr(svm: proto.Message) -> str:
    return f"{_kernel(svm.kernel)}, {_vectors(svm)}"


def _trees(params: proto.Message) -> str:
    ensemble = params.treeEnsemble
    trees = len({node.treeId for node in ensemble.nodes})
    transform = _name(_M.TreeEnsemblePostEvaluationTransform, params.postEvaluationTransform)
    text = (
        f"{trees} trees, {len(ensemble.nodes)} nodes, {ensemble.numPredictionDimensions} "
        f"dimension(s), {transform}"
    )
    return text + (f"; {_labels(params)}" if hasattr(params, "stringClassLabels") else "")


def _vectorizer(fv: proto.Message) -> str:
    columns = [f"{c.inputColumn} ({c.inputDimensions})" for c in fv.inputList]
    return f"{' + '.join(columns)} -> {sum(c.inputDimensions for c in fv.inputList)} values"


def _one_hot(encoder: proto.Message) -> str:
    which = encoder.WhichOneof("CategoryType")
    count = len(getattr(encoder, which).vector) if which else 0
    kind = "string" if which == "stringCategories" else "int64"
    unknown = "ignored" if encoder.handleUnknown == _M.OneHotEncoder.IgnoreUnknown else "an error"
    form = "sparse dictionary" if encoder.outputSparse else "dense array"
    return f"{count} {kind} categories -> {form}; an unknown category is {unknown}"


def _imputer(imputer: proto.Message) -> str:
    imputed, replace = imputer.WhichOneof("ImputedValue"), imputer.WhichOneof("ReplaceValue")
    where = f"equal to {getattr(imputer, replace)!r}" if replace else "missing"
    return f"{imputed or 'nothing'} for values {where}"


def _mapping(mapping: Any) -> str:
    which = mapping.WhichOneof("MappingType")
    count = len(getattr(mapping, which).map) if which else 0
    default = mapping.WhichOneof("ValueOnUnknown")
    unknown = f"unknown -> {getattr(mapping, default)!r}" if default else "unknown: an error"
    direction = {"stringToInt64Map": "String -> Int64", "int64ToStringMap": "Int64 -> String"}
    return f"{direction.get(which, 'no mapping')}, {count} entries, {unknown}"


def _dict_vectorizer(vectorizer: Any) -> str:
    which = vectorizer.WhichOneof("Map")
    count = len(getattr(vectorizer, which).vector) if which else 0
    return f"{count} {'string' if which == 'stringToIndex' else 'int64'} keys -> positions"


DETAILS = {
    "glmClassifier": _glm_classifier,
    "glmRegressor": _glm_regressor,
    "supportVectorClassifier": _svc,
    "supportVectorRegressor": _svr,
    "treeEnsembleClassifier": _trees,
    "treeEnsembleRegressor": _trees,
    "featureVectorizer": _vectorizer,
    "oneHotEncoder": _one_hot,
    "normalizer": lambda n: f"{_name(_M.Normalizer.NormType, n.normType)} norm",
    "scaler": lambda s: f"{len(s.shiftValue)} shift and {len(s.scaleValue)} scale values",
    "imputer": _imputer,
    "arrayFeatureExtractor": lambda a: f"indexes {list(a.extractIndex)}",
    "dictVectorizer": _dict_vectorizer,
    "categoricalMapping": _mapping,
}


def model_details(spec: proto.Model) -> str | None:
    """The parameter line of a classic model, or ``None`` for other types."""
    kind = spec.WhichOneof("Type")
    describe = DETAILS.get(kind or "")
    return describe(getattr(spec, kind)) if describe else None
