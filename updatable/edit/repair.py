"""Spec side, editing layer: repair converter output so that Core ML can train it, proving each
repair leaves the model's outputs unchanged.

``repair(spec, shapes=..., check=...)`` applies the rewrites of :mod:`updatable.edit.rewrites`
one at a time until none applies: ``batchedMatmul`` with constant weights -> ``innerProduct``,
constant bias adds folded into it, the classifier's ``softmaxND`` -> ``softmax`` with the
layers above it lifted to rank 4 (``reshapeStatic`` / ``flattenTo2D`` / ``squeeze`` ->
``flatten``, ``reduceMean`` over H, W -> global average ``pooling``).

The spec side cannot run a model, so the caller passes what needs a forward pass:

* ``shapes(spec)``: blob name -> Core ML shape (``runtime.tools.equivalence.blob_shapes``);
* ``check(before, after)``: runs both models on the same random inputs, returns the evidence
  line and raises ``SurgeryError`` when an output differs
  (``runtime.tools.equivalence.check_equivalent``).

``runtime.repair(spec)`` and ``updatable make-updatable`` pass both. Without ``check`` each
report line says the repair was not checked; it is never skipped silently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from updatable import proto
from updatable.edit import rewrites
from updatable.edit.nested import locate
from updatable.errors import SurgeryError
from updatable.spec import NEURAL_NETWORK_TYPES, layer_kind, network

Shapes = Callable[[proto.Model], Mapping[str, tuple[int, ...]]]
Check = Callable[[proto.Model, proto.Model], str]
NOT_CHECKED = "equivalence not checked: no forward pass was given (check=None)"
_REWRITTEN = ("softmaxND", "batchedMatmul", "addBroadcastable")
_MAX_STEPS = 1000  # every rewrite removes a kind the finders look for; this only guards


@dataclass(frozen=True)
class Repair:
    """One repair: what changed, and the evidence that the outputs did not."""

    message: str
    evidence: str

    def __str__(self) -> str:
        return f"{self.message}: {self.evidence}"


def repair(spec: proto.Model, *, shapes: Shapes, check: Check | None = None) -> list[Repair]:
    """Rewrite ``spec``'s network (the last model of a pipeline) into kinds Core ML trains
    through; return one :class:`Repair` per change (empty when nothing needed repair).

    Each rewrite is applied to a copy, ``check(before, after)`` runs on that copy, and ``spec``
    is replaced only when every rewrite passed.

    Raises:
        SurgeryError: a rewrite changed the outputs, or the classifier's ``softmaxND`` does
            not normalise the class axis; ``spec`` is unchanged.
    """
    work = proto.Model()
    work.CopyFrom(spec)
    done: list[Repair] = []
    for _ in range(_MAX_STEPS):
        rewrite = _next_rewrite(work, shapes)
        if rewrite is None:
            break
        before = proto.Model()
        before.CopyFrom(work)
        rewrite.apply()
        evidence = NOT_CHECKED
        if check is not None:
            try:
                evidence = check(before, work)
            except SurgeryError as error:
                raise SurgeryError(
                    f"repair refused: {rewrite.messages[-1]} would change the model: {error}; "
                    "nothing was changed"
                ) from None
        done += [Repair(message, evidence) for message in rewrite.messages]
    spec.CopyFrom(work)
    return done


def repairable(spec: proto.Model) -> bool:
    """Whether the network holds a kind a repair rewrites (a cheap test before the shapes,
    which need the runtime, are computed)."""
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "repair")
    return any(layer_kind(layer) in _REWRITTEN for layer in network(model).layers)


def needed_repairs(spec: proto.Model, *, shapes: Shapes) -> list[str]:
    """What :func:`repair` would change, without changing ``spec``."""
    work = proto.Model()
    work.CopyFrom(spec)
    return [str(r.message) for r in repair(work, shapes=shapes)]


def _next_rewrite(spec: proto.Model, shapes: Shapes) -> rewrites.Rewrite | None:
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "repair")
    nn = network(model)
    probabilities = _probabilities(model, nn)
    outputs = [feature.name for feature in model.description.output]
    graph = rewrites.Graph(nn, [*outputs, probabilities] if probabilities else outputs)
    current = shapes(spec)
    return (
        rewrites.dense_matmul(graph, current)
        or rewrites.bias_add(graph, current)
        or (rewrites.softmax_head(graph, current, probabilities) if probabilities else None)
    )


def _probabilities(model: Any, nn: Any) -> str:
    """The classifier's probability blob; for other networks the one model output that a
    softmaxND produces (the blob a cross-entropy loss would read)."""
    if model.WhichOneof("Type") == "neuralNetworkClassifier":
        return str(nn.labelProbabilityLayerName or model.description.predictedProbabilitiesName)
    producers = {blob: layer for layer in nn.layers for blob in layer.output}
    candidates = [
        feature.name
        for feature in model.description.output
        if feature.name in producers and layer_kind(producers[feature.name]) == "softmaxND"
    ]
    return candidates[0] if len(candidates) == 1 else ""
