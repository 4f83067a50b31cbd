"""Runtime, tools layer: the coverage table: what the toolkit does with every layer kind of
``NeuralNetwork.proto`` and every model type of ``Model.proto``, read from the registries.

Nothing here is written by hand. The rows are the cases of the proto's oneofs
(``NeuralNetworkLayer.layer``, ``Model.Type``, in field order), and each column asks the
table that decides it:

=================  ==========================================================================
forward            layer kinds: a unit in ``runtime.nn.layers.REGISTRY``; model types: an
                   engine (``updatable.model_types``, held to ``runtime.model.engines.ENGINES``
                   by a test), else the runtime's one-line refusal
backward           the unit's ``LayerKind.backward`` (the runtime's trainable path); model
                   types: what ``runtime.training.updates.open_update`` trains
Core ML update     Core ML's rules, run on a one-layer probe: rule A1 (``validation.nn``) says
                   whether the kind may be marked updatable, ``validation.backprop`` whether
                   gradients pass through it; model types: G5's ``UPDATABLE_TYPES``
ONNX export        ``runtime.ort.export.CONVERTERS`` (what ``updatable export-ort`` converts);
                   model types: the neural networks ``export_onnx`` takes
validator          the layer's rules in ``validation.layer_rules.LAYER_RULES``; model types:
                   the type's own checks in the validator's table, beyond the generic G1-G6
=================  ==========================================================================

``scripts/coverage_table.py`` writes :func:`markdown` to ``docs/supported-layers.md``, and a
test fails when the file differs from what the registries say now.
"""

from __future__ import annotations

from typing import NamedTuple

from runtime.nn.layers import REGISTRY, get_kind
from runtime.ort.export import CONVERTERS
from updatable import proto
from updatable.model_types import MODEL_TYPES
from updatable.spec import NEURAL_NETWORK_TYPES, PIPELINE_TYPES
from updatable.validation import backprop, validator
from updatable.validation import nn as nn_rules
from updatable.validation.generic import UPDATABLE_TYPES
from updatable.validation.issues import TOP
from updatable.validation.layer_rules.registry import LAYER_RULES

_NN = proto.NeuralNetwork_pb2
COMMAND = "python scripts/coverage_table.py"  # rewrites docs/supported-layers.md
CUSTOM_NOTE = "refused until `runtime.register_custom_layer(className, forward)` names its class"
RANDOM_NOTE = "runs; numpy's generator, seeded from `seed`: not bit-equal to a device"
# what runtime.training.updates.open_update prepares an update for (alone or last in a pipeline)
TRAINED_TYPES = frozenset({*NEURAL_NETWORK_TYPES, "kNearestNeighborsClassifier"})


class Row(NamedTuple):
    """One line of a table: the oneof name and a cell per column."""

    name: str
    forward: str
    backward: str
    update: str
    onnx: str
    validator: str


def layer_kinds() -> list[str]:
    """Every ``NeuralNetworkLayer.layer`` case, in the proto's field order."""
    return [f.name for f in _NN.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"].fields]


def model_types() -> list[str]:
    """Every ``Model.Type`` case, in the proto's field order."""
    return [f.name for f in proto.Model_pb2.Model.DESCRIPTOR.oneofs_by_name["Type"].fields]


def _probe(kind: str) -> proto.Model:
    """An updatable network holding one updatable layer of ``kind`` with updatable weights."""
    model = proto.Model(isUpdatable=True)
    layer = model.neuralNetwork.layers.add(name="probe", isUpdatable=True)
    params = getattr(layer, kind)
    params.SetInParent()
    for field in params.DESCRIPTOR.fields:
        value = getattr(params, field.name)
        if (
            field.message_type is not None
            and field.message_type.name == "WeightParams"
            and hasattr(value, "isUpdatable")
        ):  # not the repeated ones (custom layers')
            value.isUpdatable = True
    return model


def _core_ml_update(kind: str) -> str:
    """Whether Core ML lets a layer of ``kind`` be updatable, else whether gradients pass."""
    model = _probe(kind)
    if not any(i.code == "A1" for i in nn_rules.layers_support_update(model, TOP)):
        return "updatable"
    layer = model.neuralNetwork.layers[0]
    if backprop.supports_backprop(layer):
        return "gradients pass"
    params = getattr(layer, kind)
    passing = []  # a kind whose options differ (activation): the options that pass
    for oneof in params.DESCRIPTOR.oneofs:
        for field in oneof.fields:
            getattr(params, field.name).SetInParent()
            if backprop.supports_backprop(layer):
                passing.append(field.name)
    return f"gradients pass ({', '.join(passing)})" if passing else "blocks gradients"


def layer_row(kind: str) -> Row:
    """The coverage of one layer kind."""
    fields = _NN.NeuralNetworkLayer.DESCRIPTOR.fields_by_name[kind].message_type.fields_by_name
    if kind not in REGISTRY:
        forward = "no unit"
    elif kind == "custom":
        forward = CUSTOM_NOTE
    elif "seed" in fields:
        forward = RANDOM_NOTE
    else:
        forward = "runs"
    backward = "yes" if kind in REGISTRY and get_kind(kind).backward is not None else "-"
    rules = LAYER_RULES.get(kind, ())
    return Row(
        kind,
        forward,
        backward,
        _core_ml_update(kind),
        "converts" if kind in CONVERTERS else "-",
        f"{len(rules)} rule(s)" if rules else "-",
    )


def model_row(kind: str) -> Row:
    """The coverage of one model type."""
    if MODEL_TYPES[kind].runs:
        forward = "runs"
    else:
        from runtime.model.engines.unsupported import refusal

        forward = refusal(kind).replace(f"cannot run model type '{kind}', ", "refused: ")
    if kind in PIPELINE_TYPES:
        backward = "trains its last model"
    else:
        backward = "trains" if kind in TRAINED_TYPES else "-"
    # the validator's own table of rules per model type (private: no public view of it yet)
    rules = validator._core_ml_rules().get(kind, ())
    own = len(rules) - len(validator.GENERIC)
    return Row(
        kind,
        forward,
        backward,
        "updatable" if kind in UPDATABLE_TYPES else "-",
        "converts" if kind in NEURAL_NETWORK_TYPES else "-",
        f"{own} rule(s)" if own > 0 else "generic checks only",
    )


def counts(rows: list[Row]) -> dict[str, int]:
    """How many rows run forward, have a backward, may be updatable, export to ONNX."""
    return {
        "total": len(rows),
        "forward": sum(r.forward.startswith("runs") for r in rows),
        "backward": sum(r.backward != "-" for r in rows),
        "updatable": sum(r.update == "updatable" for r in rows),
        "onnx": sum(r.onnx == "converts" for r in rows),
        "validator": sum(
            r.validator != "-" and not r.validator.startswith("generic") for r in rows
        ),
    }


def _table(rows: list[Row], first: str) -> list[str]:
    lines = [
        f"| {first} | forward | backward | Core ML update | ONNX export | validator |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{r.name}` | {r.forward} | {r.backward} | {r.update} | {r.onnx} | {r.validator} |"
        for r in rows
    ]
    return lines


def _summary(what: str, rows: list[Row]) -> str:
    c = counts(rows)
    return (
        f"{c['total']} {what}: {c['forward']} run forward, {c['backward']} have a backward, "
        f"{c['updatable']} may be updatable, {c['onnx']} export to ONNX, {c['validator']} "
        "have Core ML's own checks ported."
    )


def markdown() -> str:
    """``docs/supported-layers.md``: both tables with their summary lines."""
    layers = [layer_row(kind) for kind in layer_kinds()]
    models = [model_row(kind) for kind in model_types()]
    lines = [
        "# Will my model run? Supported layers and model types",
        "",
        f"Generated from the proto and the toolkit's registries by `{COMMAND}`; do not edit",
        "(a test fails when this file is stale). `updatable inspect MODEL` names the parts of",
        "one model that cannot run, before anything runs.",
        "",
        "Columns: **forward**: the runtime runs it (`runtime.Model.load(...).predict`);",
        "**backward**: the runtime has a backward kernel (it can train through it);",
        "**Core ML update**: Core ML's rules: the kind may be marked updatable, or gradients",
        "pass through it towards an updatable layer, or it blocks them; **ONNX export**:",
        "`updatable export-ort` converts it; **validator**: Core ML's per-layer (per-type)",
        "checks are ported, with their messages (`updatable validate`).",
        "",
        "## Layer kinds (`NeuralNetworkLayer.layer`)",
        "",
        _summary("layer kinds", layers),
        "",
        *_table(layers, "layer kind"),
        "",
        "## Model types (`Model.Type`)",
        "",
        _summary("model types", models),
        "",
        *_table(models, "model type"),
        "",
    ]
    return "\n".join(lines)
