"""Classic (non-network) Core ML models, built with coremltools' interface helpers and builders
(tree ensembles, feature vectorizers, array feature extractors) or protobuf directly where
coremltools has no builder (GLMs, SVMs, encoders, scalers, imputers).

Every builder returns a model Core ML's validator accepts; the validator tests break one field
at a time. Inputs default to one DOUBLE multiArray ``features``; classifiers write
``classLabel`` and the ``classProbability`` dictionary, like coremltools' converters.
"""

from __future__ import annotations

import warnings

import numpy as np

from tests.builders._common import datatypes
from updatable import proto

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from coremltools.models._interface_management import (
        set_classifier_interface_params,
        set_regressor_interface_params,
        set_transform_interface_params,
    )
    from coremltools.models.array_feature_extractor import create_array_feature_extractor
    from coremltools.models.feature_vectorizer import create_feature_vectorizer
    from coremltools.models.tree_ensemble import TreeEnsembleClassifier, TreeEnsembleRegressor

M = proto.Model_pb2
BRANCH_MODES = (
    "BranchOnValueLessThanEqual",
    "BranchOnValueLessThan",
    "BranchOnValueGreaterThanEqual",
    "BranchOnValueGreaterThan",
    "BranchOnValueEqual",
    "BranchOnValueNotEqual",
)


def _spec() -> proto.Model:
    spec = proto.Model()
    spec.specificationVersion = 1
    return spec


def _inputs(width: int, inputs):
    return inputs if inputs is not None else [("features", datatypes.Array(width))]


def glm_classifier(
    weights, offsets, labels, *, encoding="OneVsRest", transform="Logit", inputs=None
):
    """A ``glmClassifier``: one weight row (and offset) per score."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    spec = _spec()
    set_classifier_interface_params(
        spec, _inputs(weights.shape[1], inputs), list(labels), "glmClassifier"
    )
    glm = spec.glmClassifier
    glm.classEncoding = M.GLMClassifier.ClassEncoding.Value(encoding)
    glm.postEvaluationTransform = M.GLMClassifier.PostEvaluationTransform.Value(transform)
    for row, offset in zip(weights, np.atleast_1d(offsets), strict=True):
        glm.weights.add().value.extend(row.tolist())
        glm.offset.append(float(offset))
    return spec


def glm_regressor(weights, offset, *, transform="NoTransform", inputs=None, output="value"):
    """A ``glmRegressor`` with one weight vector and a Double output."""
    weights = np.asarray(weights, dtype=float)
    spec = _spec()
    set_regressor_interface_params(spec, _inputs(len(weights), inputs), output)
    glm = spec.glmRegressor
    glm.postEvaluationTransform = M.GLMRegressor.PostEvaluationTransform.Value(transform)
    glm.weights.add().value.extend(weights.tolist())
    glm.offset.append(float(offset))
    return spec


def transform(kind: str, inputs, outputs) -> proto.Model:
    """A feature-engineering model of oneof ``kind`` with these ``(name, datatype)`` features."""
    spec = _spec()
    set_transform_interface_params(spec, inputs, outputs)
    getattr(spec, kind).SetInParent()
    return spec


def feature_vectorizer(inputs, output="features"):
    """``inputs``: ``(name, datatype)``; a dictionary input needs its width: ``(name, datatype,
    width)``."""
    widths = {item[0]: item[2] for item in inputs if len(item) == 3}
    spec, _ = create_feature_vectorizer([item[:2] for item in inputs], output, widths)
    return spec


def one_hot_encoder(categories, *, sparse=False, unknown="ErrorOnUnknown", name="category"):
    """String or int64 ``categories``; the output is named ``encoded``."""
    strings = isinstance(categories[0], str)
    source = datatypes.String() if strings else datatypes.Int64()
    target = datatypes.Dictionary(datatypes.Int64()) if sparse else datatypes.Array(len(categories))
    spec = transform("oneHotEncoder", [(name, source)], [("encoded", target)])
    encoder = spec.oneHotEncoder
    (encoder.stringCategories if strings else encoder.int64Categories).vector.extend(categories)
    encoder.outputSparse = sparse
    encoder.handleUnknown = M.OneHotEncoder.HandleUnknown.Value(unknown)
    return spec


def normalizer(norm: str, width: int):
    spec = transform(
        "normalizer",
        [("features", datatypes.Array(width))],
        [("normalized", datatypes.Array(width))],
    )
    spec.normalizer.normType = M.Normalizer.NormType.Value(norm)
    return spec


def scaler(shift, scale, width: int | None = None, *, source=None, target=None):
    """An array scaler of ``width`` values, or a scalar one (``source`` / ``target`` types)."""
    source = source or datatypes.Array(width)
    spec = transform("scaler", [("features", source)], [("scaled", target or source)])
    spec.scaler.shiftValue.extend(np.atleast_1d(shift).tolist() if shift is not None else [])
    spec.scaler.scaleValue.extend(np.atleast_1d(scale).tolist() if scale is not None else [])
    return spec


def imputer(source, imputed: str, value, replace: tuple | None = None):
    """``imputed``: the ImputedValue oneof name; ``replace``: ``(oneof name, value)``."""
    spec = transform("imputer", [("raw", source)], [("imputed", source)])
    spec.description.input[0].type.isOptional = True
    target = spec.imputer
    if imputed.endswith(("Array",)):
        getattr(target, imputed).vector.extend(value)
    elif imputed.endswith("Dictionary"):
        getattr(target, imputed).map.update(value)
    else:
        setattr(target, imputed, value)
    if replace is not None:
        setattr(target, replace[0], replace[1])
    return spec


def array_feature_extractor(width: int, indices, output_type="Array"):
    """Extracts ``indices`` from a ``features`` array of ``width`` values into ``extracted``:
    a multiArray (``"Array"``), or one ``"Double"`` or ``"Int64"``."""
    scalar = {"Double": datatypes.Double(), "Int64": datatypes.Int64()}.get(output_type)
    return create_array_feature_extractor(
        [("features", datatypes.Array(width))],
        "extracted",
        int(indices[0]) if scalar is not None else [int(i) for i in indices],
        output_type=scalar,
    )


def dict_vectorizer(keys):
    """String or int64 ``keys`` -> a sparse ``{index: value}`` dictionary ``indexed``."""
    source = datatypes.Dictionary(
        datatypes.String() if isinstance(keys[0], str) else datatypes.Int64()
    )
    spec = transform(
        "dictVectorizer", [("dict", source)], [("indexed", datatypes.Dictionary(datatypes.Int64()))]
    )
    vectorizer = spec.dictVectorizer
    (
        vectorizer.stringToIndex if isinstance(keys[0], str) else vectorizer.int64ToIndex
    ).vector.extend(keys)
    return spec


def categorical_mapping(mapping: dict, default=None):
    """String -> int64 or int64 -> string, with an optional value for unknown inputs."""
    to_int = isinstance(next(iter(mapping)), str)
    source, target = (
        (datatypes.String(), datatypes.Int64())
        if to_int
        else (datatypes.Int64(), datatypes.String())
    )
    spec = transform("categoricalMapping", [("category", source)], [("mapped", target)])
    table = (
        spec.categoricalMapping.stringToInt64Map
        if to_int
        else spec.categoricalMapping.int64ToStringMap
    )
    table.map.update(mapping)
    if default is not None:
        setattr(spec.categoricalMapping, "int64Value" if to_int else "strValue", default)
    return spec


def random_tree_ensemble(
    rng, *, width, dims, trees=3, depth=3, labels=None, modes=BRANCH_MODES, missing=True
):
    """Random trees over ``width`` inputs, ``dims`` output dimensions: a classifier when
    ``labels`` are given, else a regressor. Thresholds are small integers so that the equality
    modes take both branches on integer-valued inputs."""
    features = [("features", datatypes.Array(width))]
    if labels is None:
        builder = TreeEnsembleRegressor(features, "value")
        if dims > 1:
            output = builder.spec.description.output[0].type
            output.multiArrayType.shape.append(dims)
            output.multiArrayType.dataType = M.ArrayFeatureType.DOUBLE
    else:
        builder = TreeEnsembleClassifier(features, list(labels), "classLabel")
    builder.set_default_prediction_value(rng.normal(size=dims).tolist())
    for tree in range(trees):
        _grow(builder, rng, tree, (0, depth), width=width, dims=dims, modes=modes, missing=missing)
    return builder.spec


def _grow(builder, rng, tree, at, *, width, dims, modes, missing, next_id=None):
    node, depth = at
    next_id = next_id if next_id is not None else [1]
    if depth == 0 or rng.random() < 0.15:
        values = {
            int(i): float(rng.normal())
            for i in rng.choice(dims, rng.integers(1, dims + 1), replace=False)
        }
        builder.add_leaf_node(tree, node, values)
        return
    true_id, false_id = next_id[0], next_id[0] + 1
    next_id[0] += 2
    builder.add_branch_node(
        tree,
        node,
        int(rng.integers(width)),
        float(rng.integers(-2, 3)),
        str(rng.choice(modes)),
        true_id,
        false_id,
        missing_value_tracks_true_child=bool(missing and rng.random() < 0.5),
    )
    for child in (true_id, false_id):
        _grow(
            builder,
            rng,
            tree,
            (child, depth - 1),
            width=width,
            dims=dims,
            modes=modes,
            missing=missing,
            next_id=next_id,
        )


def svm_classifier(
    rng, *, width, labels, kernel="rbf", per_class=None, probability=True, sparse=False
):
    """A ``supportVectorClassifier`` with random support vectors, coefficients and rho."""
    spec = _spec()
    set_classifier_interface_params(
        spec, [("features", datatypes.Array(width))], list(labels), "supportVectorClassifier"
    )
    svm = spec.supportVectorClassifier
    set_kernel(svm.kernel, kernel, rng)
    per_class = per_class or [int(n) for n in rng.integers(1, 4, len(labels))]
    svm.numberOfSupportVectorsPerClass.extend(per_class)
    vectors = _add_vectors(svm, rng.normal(size=(sum(per_class), width)), sparse)
    for _ in range(len(labels) - 1):
        svm.coefficients.add().alpha.extend(rng.normal(size=sum(per_class)).tolist())
    pairs = len(labels) * (len(labels) - 1) // 2
    svm.rho.extend(rng.normal(size=pairs).tolist())
    if probability:
        svm.probA.extend((-rng.uniform(0.5, 2, pairs)).tolist())
        svm.probB.extend(rng.normal(scale=0.2, size=pairs).tolist())
    return spec, vectors


def svm_regressor(rng, *, width, count=5, kernel="rbf", sparse=False):
    spec = _spec()
    set_regressor_interface_params(spec, [("features", datatypes.Array(width))], "value")
    svm = spec.supportVectorRegressor
    set_kernel(svm.kernel, kernel, rng)
    vectors = _add_vectors(svm, rng.normal(size=(count, width)), sparse)
    svm.coefficients.alpha.extend(rng.normal(size=count).tolist())
    svm.rho = float(rng.normal())
    return spec, vectors


def set_kernel(kernel, kind: str, rng) -> None:
    if kind == "linear":
        kernel.linearKernel.SetInParent()
    elif kind == "rbf":
        kernel.rbfKernel.gamma = float(rng.uniform(0.1, 1))
    elif kind == "poly":
        kernel.polyKernel.gamma = float(rng.uniform(0.1, 1))
        kernel.polyKernel.c = float(rng.uniform(-1, 1))
        kernel.polyKernel.degree = int(rng.integers(0, 4))
    else:
        kernel.sigmoidKernel.gamma = float(rng.uniform(0.1, 1))
        kernel.sigmoidKernel.c = float(rng.uniform(-1, 1))


def _add_vectors(svm, vectors, sparse: bool):
    """Store ``vectors``; a sparse store leaves out the entries below -0.5 (its zeros). Returns
    the vectors as stored, dense."""
    if sparse:
        vectors = np.where(vectors > -0.5, vectors, 0.0)
    for vector in vectors:
        if sparse:
            target = svm.sparseSupportVectors.vectors.add()
            for index in np.flatnonzero(vector):
                node = target.nodes.add()
                node.index, node.value = int(index) + 1, float(vector[index])  # 1-based
        else:
            svm.denseSupportVectors.vectors.add().values.extend(vector.tolist())
    return vectors
