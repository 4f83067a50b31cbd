"""Runtime, model layer: the outputs of the classic classifiers (GLM, SVM, tree ensemble): the
predicted label and the ``{label: probability}`` dictionary.

The label is ``predictedFeatureName`` (String or Int64, like the class labels); the
probabilities, when the description names ``predictedProbabilitiesName``, a dictionary per
example keyed by every class label, in label order. Unless the engine picks the label itself,
it is the class with the highest probability, the first in label order on a tie (Core ML does
not document its tie rule; this is the rule of every classifier in this runtime).

A probabilities output declared as a multiArray is refused: Core ML's validator allows it, but
no source says in which order its entries follow the labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from runtime.model.features import type_name
from updatable.errors import UnsupportedModelError


def class_labels(params) -> list:
    """The ``ClassLabels`` oneof of a classifier's parameters, as a list (empty when unset)."""
    which = params.WhichOneof("ClassLabels")
    return list(getattr(params, which).vector) if which else []


@dataclass(frozen=True)
class ClassOutputs:
    """Writes a classifier's label and probability outputs."""

    labels: tuple
    label_name: str
    probabilities_name: str | None

    @classmethod
    def of(cls, spec, labels: list, kind: str) -> ClassOutputs:
        """The label and probability outputs of ``spec``; refuses any other declared output.

        Raises:
            UnsupportedModelError: the description declares an output the classifier does not
                produce, or probabilities as a multiArray.
        """
        description = spec.description
        label, probabilities = (
            description.predictedFeatureName,
            description.predictedProbabilitiesName,
        )
        for feature in description.output:
            if (
                feature.name == probabilities
                and feature.type.WhichOneof("Type") != "dictionaryType"
            ):
                raise UnsupportedModelError(
                    f"{kind}: probabilities output '{probabilities}' is {type_name(feature)}; "
                    "supported: a dictionary keyed by class label"
                )
            if feature.name not in (label, probabilities):
                raise UnsupportedModelError(
                    f"{kind}: output '{feature.name}' is neither the predicted label "
                    f"('{label}') nor the probabilities ('{probabilities or 'none declared'}'); "
                    "a classifier produces only those two"
                )
        declared = {f.name for f in description.output}
        return cls(tuple(labels), label, probabilities if probabilities in declared else None)

    def write(self, probabilities: NDArray, chosen: NDArray | None = None) -> dict:
        """``probabilities`` ``(N, K)`` in label order -> the label and dictionary outputs;
        ``chosen`` ``(N,)``: the class index of each label, when not the highest probability."""
        if chosen is None:
            chosen = np.argmax(probabilities, axis=1)  # the first maximum on a tie
        strings = bool(self.labels) and isinstance(self.labels[0], str)
        if strings:
            names = np.empty(len(self.labels), dtype=object)
            names[:] = self.labels
        else:
            names = np.asarray(self.labels, dtype=np.int64)
        batch: dict = {self.label_name: names[chosen]}
        if self.probabilities_name:
            batch[self.probabilities_name] = [
                dict(zip(self.labels, row, strict=True)) for row in probabilities.tolist()
            ]
        return batch
