"""Runtime, model layer: which parts of a model the runtime cannot run, found before anything
runs (``updatable inspect`` reports them).

A model runs when its type has an engine and, for a neural network, when every layer has a
unit. Three things stop it, each reported with the place it sits and one line of why:

* a model type without an engine (Apple's proprietary models, ML Programs, custom models...;
  the reason is the runtime's own refusal, ``runtime.model.engines.unsupported``);
* a layer whose kind has no unit in ``runtime.nn.layers.REGISTRY`` (or no kind at all: a kind
  newer than this toolkit's ``NeuralNetwork.proto`` reads as unset);
* a ``custom`` layer whose class has no implementation registered in this process
  (``runtime.register_custom_layer``), as Core ML needs the app's class.

The walk covers the sub-models of pipelines (nested pipelines included) and the networks
nested in layers (loop condition and body, branch if and else). A linked sub-model runs
through its pipeline, which resolves the file; the file itself is not opened here. The check
reads the spec only: it imports no kernel, so it is cheap enough for ``inspect``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from runtime.nn.layers import REGISTRY
from runtime.nn.layers.custom import registered_custom_layers
from updatable import proto
from updatable import spec as spec_io
from updatable.model_types import MODEL_TYPES


class Unsupported(NamedTuple):
    """One part of a model the runtime cannot run.

    ``where``: the path to it (``models[1]/layers['loop'].loop.bodyNetwork/layers['x']``);
    ``layer``: the layer's name (``None`` for a model type); ``kind``: the layer kind or model
    type (``""`` when unset); ``reason``: one line.
    """

    where: str
    layer: str | None
    kind: str
    reason: str

    def as_dict(self) -> dict:
        return self._asdict()


def unsupported_parts(spec: proto.Model) -> list[Unsupported]:
    """Every part of ``spec`` the runtime cannot run, in model order (empty: it all runs)."""
    return list(_model(spec, "", in_pipeline=False))


def _model(spec: proto.Model, at: str, *, in_pipeline: bool) -> Iterator[Unsupported]:
    kind = spec_io.model_type(spec)
    if kind in spec_io.PIPELINE_TYPES:
        for index, sub in enumerate(spec_io.pipeline_models(spec)):
            yield from _model(sub, f"{at}models[{index}]/", in_pipeline=True)
    elif kind in spec_io.NEURAL_NETWORK_TYPES:
        yield from _network(getattr(spec, kind), at)
    elif kind == "linkedModel" and in_pipeline:
        return  # the pipeline loads the linked file and checks it then
    elif not (kind in MODEL_TYPES and MODEL_TYPES[kind].runs):
        from runtime.model.engines.unsupported import refusal  # the engines, only when needed

        yield Unsupported(at.rstrip("/") or "model", None, kind, refusal(kind))


def _network(network, at: str) -> Iterator[Unsupported]:
    for layer in network.layers:
        here = f"{at}layers['{layer.name}']"
        kind = spec_io.layer_kind(layer)
        reason = _layer_reason(layer, kind)
        if reason:
            yield Unsupported(here, layer.name, kind, reason)
        if kind:
            yield from _nested(getattr(layer, kind), f"{here}.{kind}")


def _nested(params, at: str) -> Iterator[Unsupported]:
    """The networks a layer holds (loop, branch), each walked like the top-level one."""
    for field in params.DESCRIPTOR.fields:
        message = field.message_type
        if message is not None and message.name == "NeuralNetwork" and params.HasField(field.name):
            yield from _network(getattr(params, field.name), f"{at}.{field.name}/")


def _layer_reason(layer, kind: str) -> str:
    if not kind:
        return (
            "the layer has no kind: none is set, or it is a kind newer than the "
            "NeuralNetwork.proto this toolkit reads"
        )
    if kind not in REGISTRY:
        return f"layer kind '{kind}' has no implementation in the runtime"
    if kind == "custom" and layer.custom.className not in registered_custom_layers():
        name = layer.custom.className
        return (
            f"custom layer class '{name}' has no implementation; Core ML runs it with the "
            f"app's own code: register a Python one with runtime.register_custom_layer("
            f"{name!r}, forward)"
        )
    return ""
