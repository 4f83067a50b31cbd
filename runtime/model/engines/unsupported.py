"""Runtime, model layer: the model types the runtime cannot run, and the one line it says about
each.

Apple's proprietary models (Vision and audio feature prints, Natural Language and Sound
Analysis models) hold no parameters in the file: the operating system's frameworks compute
them on the device, so no off-device implementation exists. A custom model's code is the
app's, and a serialized model is Apple's private format. The documented types the runtime does
not implement (ML Programs, item-similarity recommenders, Bayesian probit regressors, non-maximum
suppression, class confidence thresholding) are refused the same way, by name. Inside a
pipeline the pipeline engine adds the sub-model's position.
"""

from __future__ import annotations

from updatable.model_types import MODEL_TYPES, describe

# why the runtime cannot run a type, beyond what the type is (MODEL_TYPES)
_REASONS = {
    "customModel": "its code is the app's own; no off-device implementation exists",
    "linkedModel": (
        "a linked model runs inside a pipeline, which finds its file; load that file instead"
    ),
    "mlProgram": (
        "the runtime runs the NeuralNetwork format; convert the source model with "
        "convert_to='neuralnetwork' (ML Programs cannot be updatable either)"
    ),
}


def refusal(kind: str) -> str:
    """One line: which model type cannot run, what it is, and why."""
    if not kind:
        return "the model has no type (Model.Type is not set), so there is nothing to run"
    entry = MODEL_TYPES.get(kind)
    if entry is None:
        return f"cannot run model type '{kind}': a type this toolkit does not know"
    if kind in _REASONS:
        reason = _REASONS[kind]
    elif entry.proprietary:
        reason = "Apple's frameworks compute it on the device; no off-device implementation exists"
    else:
        reason = "the runtime has no implementation of this model type"
    return f"cannot run model type '{kind}', {describe(kind)}: {reason}"
