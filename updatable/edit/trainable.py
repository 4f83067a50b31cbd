"""Spec side, editing layer: which layers stand between an updatable layer and the loss and stop
Core ML from training it, said in terms of what to do.

Core ML backpropagates only through the kinds of ``updatable.validation.backprop``
(``isLayerSupportedForBackprop``); its validator reports a blocked path as a rule message
about the graph. :func:`training_blockers` finds the blocking layer itself and the layers that
could be trained instead (the updatable kinds whose path to the loss is clear).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from updatable import proto
from updatable.edit.nested import locate
from updatable.spec import NEURAL_NETWORK_TYPES, layer_kind, network
from updatable.validation.backprop import supports_backprop

_TRAINABLE_KINDS = ("convolution", "innerProduct")


@dataclass(frozen=True)
class Blocker:
    """``layer`` (of ``kind``) lies between the updatable ``trained`` and the loss."""

    trained: str
    layer: str
    kind: str
    alternatives: tuple[str, ...]  # layers after every blocker that could be trained instead

    def message(self, option: str = "layers=") -> str:
        """One line: the blocking layer, Core ML's rule, the way out (``option`` spells how
        to choose layers: ``"--layers "`` on the command line)."""
        way_out = (
            f"train only layers after it ({option}{','.join(self.alternatives)})"
            if self.alternatives
            else "no layer after it can be trained either"
        )
        return (
            f"layer '{self.layer}' ({self.kind}) lies between updatable layer '{self.trained}' "
            f"and the loss, and Core ML cannot backpropagate through {self.kind} (rule C17; "
            "it trains "
            "through convolution, innerProduct, flatten, pooling, batchnorm, "
            f"uniDirectionalLSTM and ReLU/sigmoid/tanh activations only): {way_out}"
        )


def _describe(layer: Any) -> str:
    kind = layer_kind(layer)
    if kind == "activation":
        return f"activation {layer.activation.WhichOneof('NonlinearityType')}"
    return kind


def training_blockers(spec: proto.Model, layers: Any, loss_input: str) -> list[Blocker]:
    """For each layer of ``layers``: the first layer on its way to ``loss_input`` that Core ML
    cannot backpropagate through (the softmax producing a cross-entropy input is exempt, as in
    Core ML). Empty when every named layer can train."""
    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "training_blockers")
    nodes = list(network(model).layers)
    producer: dict[str, int] = {}
    parents: list[list[int]] = []
    for index, layer in enumerate(nodes):
        parents.append([producer[b] for b in layer.input if b in producer])
        for blob in layer.output:
            producer[blob] = index
    if loss_input not in producer:
        return []
    loss_end = producer[loss_input]
    above = _ancestors(parents, loss_end)
    exempt = {loss_end} if layer_kind(nodes[loss_end]) == "softmax" else set()

    def blocking(index: int) -> list[int]:
        between = _descendants(parents, index) & above
        return sorted(i for i in between - {index} - exempt if not supports_backprop(nodes[i]))

    alternatives = tuple(
        nodes[i].name
        for i in sorted(above)
        if layer_kind(nodes[i]) in _TRAINABLE_KINDS and not blocking(i)
    )
    found = []
    names = {layer.name: i for i, layer in enumerate(nodes)}
    for name in layers:
        position = names.get(name)
        if position is None or position not in above:
            continue
        stops = blocking(position)
        if stops:
            last = nodes[stops[-1]]  # the blocker nearest the loss: train after it
            after = tuple(a for a in alternatives if names[a] > stops[-1])
            found.append(Blocker(name, last.name, _describe(last), after))
    return found


def _ancestors(parents: Any, start: int) -> set[int]:
    seen, pending = set(), [start]
    while pending:
        index = pending.pop()
        if index not in seen:
            seen.add(index)
            pending.extend(parents[index])
    return seen


def _descendants(parents: Any, start: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for child, ups in enumerate(parents):
        for up in ups:
            children.setdefault(up, []).append(child)
    seen, pending = set(), [start]
    while pending:
        index = pending.pop()
        if index not in seen:
            seen.add(index)
            pending.extend(children.get(index, []))
    return seen
