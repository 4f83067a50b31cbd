"""Runtime, model layer: the engine of ``treeEnsembleClassifier`` and ``treeEnsembleRegressor``
models (decision trees, random forests, gradient-boosted trees).

The raw prediction ``r`` (``D = numPredictionDimensions`` values per example) is the base
prediction plus every tree's leaf values (``tree_arrays``); the post-evaluation transform then
gives ``t``:

* ``NoTransform``: ``t = r``;
* ``Classification_SoftMax``: ``t = softmax(r)`` (XGBoost's multiclass output);
* ``Regression_Logistic``: ``t_i = 1 / (1 + exp(-r_i))`` (binary boosting);
* ``Classification_SoftMaxWithZeroClassReference``: a softmax in which the first class scores 0.
  With one dimension, ``t = softmax(0, r)[1] = 1 / (1 + exp(-r))``; with D dimensions,
  ``t = softmax(0, r_1, ..., r_{D-1})``. Core ML documents no formula for this transform;
  this is its name read literally, as coremltools' users read it for binary models.

A **regressor** outputs ``t`` as its Double (D = 1) or multiArray ``[D]`` prediction. A
**classifier** works as Core ML's validator sets it up: with one dimension and two classes
(no labels: the classes 0 and 1) it is *binary*, ``p(labels[1]) = t_0`` and
``p(labels[0]) = 1 - t_0``; with D dimensions and D labels (no labels: 0 ... D-1) it is
*multiclass*, ``p = t``. The label is the class with the highest probability, the first in
label order on a tie. Inputs are vectorized (``values``); an absent optional input is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.engines.classes import ClassOutputs, class_labels
from runtime.model.engines.links import logistic, softmax
from runtime.model.engines.tree_arrays import TreeArrays
from runtime.model.engines.values import (
    Vectorizer,
    output_value,
    require_size,
    require_valid,
)
from runtime.model.features import type_name
from updatable import proto
from updatable.errors import FeatureError, UnsupportedModelError, ValidationError

_TRANSFORM = proto.Model_pb2.TreeEnsemblePostEvaluationTransform
_LEAF = proto.Model_pb2.TreeEnsembleParameters.TreeNode.LeafNode


def _zero_class_reference(raw: NDArray) -> NDArray:
    if raw.shape[1] == 1:
        return logistic(raw)
    return softmax(np.concatenate([np.zeros((len(raw), 1)), raw[:, 1:]], axis=1))


TRANSFORMS = {
    _TRANSFORM.Value("NoTransform"): lambda raw: raw,
    _TRANSFORM.Value("Classification_SoftMax"): softmax,
    _TRANSFORM.Value("Regression_Logistic"): logistic,
    _TRANSFORM.Value("Classification_SoftMaxWithZeroClassReference"): _zero_class_reference,
}


@dataclass(frozen=True)
class TreeEnsembleEngine:
    """A compiled tree ensemble: its trees as arrays, the transform and the outputs."""

    kind: str
    inputs: Vectorizer
    trees: TreeArrays
    transform: Callable[[NDArray[np.float64]], NDArray[np.float64]]
    outputs: ClassOutputs | None  # a classifier's; None for a regressor
    prediction: proto.FeatureDescription | None  # a regressor's output FeatureDescription

    @classmethod
    def compile(cls, spec, *, parameters=None, base_dir=None) -> TreeEnsembleEngine:
        """Read a tree ensemble Core ML accepts (rule TE1).

        Raises:
            ValidationError: Core ML rejects the model, or a branch reads a feature beyond the
                vectorized inputs.
            UnsupportedModelError: an unknown transform, or outputs the model does not produce.
        """
        del parameters, base_dir  # a tree ensemble has no load-time parameters
        kind = spec.WhichOneof("Type")
        require_valid(spec, kind)
        params = getattr(spec, kind)
        if params.postEvaluationTransform not in TRANSFORMS:
            raise UnsupportedModelError(
                f"{kind}: postEvaluationTransform {params.postEvaluationTransform} is not one of "
                f"{sorted(_TRANSFORM.keys())}"
            )
        ensemble = params.treeEnsemble
        dims = int(ensemble.numPredictionDimensions)
        require_size(dims * max(len(ensemble.nodes), 1), "output dimensions x nodes", kind)
        inputs = Vectorizer.of(spec.description, kind)
        read = max(
            (n.branchFeatureIndex for n in ensemble.nodes if n.nodeBehavior != _LEAF), default=-1
        )
        if inputs.width is not None and read >= inputs.width:
            raise ValidationError(
                f"{kind}: a branch reads feature index {read}, but its inputs "
                f"{list(inputs.names)} hold {inputs.width} values per example"
            )
        trees = TreeArrays.of(ensemble)
        outputs = prediction = None
        if kind == "treeEnsembleClassifier":
            outputs = _class_outputs(spec, params, len(trees.base))
        else:
            prediction = _prediction(spec, len(trees.base))
        return cls(
            kind, inputs, trees, TRANSFORMS[params.postEvaluationTransform], outputs, prediction
        )

    def transformed(self, rows: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(N, F)`` rows -> ``(N, D)`` transformed predictions."""
        if rows.shape[1] < self.trees.features_read:
            raise FeatureError(
                f"{self.kind}: the inputs hold {rows.shape[1]} values per example; its branches "
                f"read up to feature index {self.trees.features_read - 1}"
            )
        return self.transform(self.trees.raw(rows))

    def run(self, batch: dict) -> dict:
        """Feature batch in; the prediction, or the label and probabilities, out."""
        values = self.transformed(self.inputs.rows(batch))
        if self.outputs is None:
            assert self.prediction is not None, "a regressor has its prediction output"
            return {self.prediction.name: output_value(self.prediction, values)}
        if values.shape[1] == 1 and len(self.outputs.labels) == 2:
            values = np.concatenate([1.0 - values, values], axis=1)
        return self.outputs.write(values)


def _class_outputs(spec, params, dims: int) -> ClassOutputs:
    labels = class_labels(params) or list(range(2 if dims == 1 else dims))
    name = spec.description.predictedFeatureName
    label = next((f for f in spec.description.output if f.name == name), None)
    expected = "stringType" if isinstance(labels[0], str) else "int64Type"
    if label is None or label.type.WhichOneof("Type") != expected:
        raise UnsupportedModelError(
            f"treeEnsembleClassifier: the predicted label '{name}' must be an output of the "
            f"labels' type ({expected}); got "
            f"{type_name(label) if label is not None else 'no such output'}"
        )
    return ClassOutputs.of(spec, labels, "treeEnsembleClassifier")


def _prediction(spec, dims: int):
    """A regressor's output: a Double for one dimension, else a multiArray of D values."""
    name = spec.description.predictedFeatureName
    outputs = spec.description.output
    feature = next((f for f in outputs if f.name == name), None)
    kind = feature.type.WhichOneof("Type") if feature is not None else None
    fits = kind == "doubleType" and dims == 1
    if feature is not None and kind == "multiArrayType":
        shape = [int(d) for d in feature.type.multiArrayType.shape]
        fits = not shape or int(np.prod(shape)) == dims
    if len(outputs) != 1 or not fits:
        raise UnsupportedModelError(
            f"treeEnsembleRegressor: it predicts {dims} value(s) per example into "
            f"predictedFeatureName '{name}' (a Double for one value, else a multiArray); the "
            f"description declares {[f'{f.name}: {type_name(f)}' for f in outputs]}"
        )
    return feature
