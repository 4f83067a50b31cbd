"""Runtime, ONNX layer: ``coreml_training.json``, what an ONNX Runtime user needs to train the
exported artifacts the way Core ML's ``MLUpdateTask`` trains the model.

The sidecar says, without reading any of our code:

* ``inputs``: each array the artifacts are fed, as ONNX Runtime wants it: name, dtype, shape
  (``"N"`` for the batch axis), and what it is in Core ML terms (a multiArray in its declared
  shape, or an image as ``(N, H, W, C)`` float pixel values 0..255 in its channel order; the
  network's image preprocessing runs inside the graphs);
* ``label``: the loss target as ONNX Runtime takes it (cross-entropy: the class index, int64 of
  shape ``(N,)``: the model's own ``INT32 [1]`` target is refused by ORT's native code with an
  opaque message; MSE: float32 of the loss input's shape), and which Core ML training input
  it comes from, with the classifier's labels in index order;
* ``batching``: Core ML's order of examples (docs/update-task-semantics.md §5, §6): the
  shuffle (``std::minstd_rand`` seeded through ``std::seed_seq``, libc++'s ``std::shuffle``),
  when it reshuffles, and the padded last mini-batch that wraps around;
* ``values``: the hyperparameters to train with, as float64 (ORT's checkpoint format keeps float
  properties in 32 bits, so the checkpoint stores doubles as exact decimal strings), with the
  model's defaults and allowed values in ``hyperparameters``;
* ``parameters``: which checkpoint parameter is which layer's weights or bias.

``train_with_onnxruntime.py`` (:mod:`runtime.ort.driver`), written beside it, reads it.
"""

from __future__ import annotations

import json
from typing import Any

from updatable import spec as spec_io

# ONNX TensorProto element types that the artifacts use -> numpy dtype names
_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 11: "float64"}
_COLOR_SPACES = {10: "GRAYSCALE", 20: "RGB", 30: "BGR"}
DRIVER = "train_with_onnxruntime.py"
FORMAT = "coreml-updatable/ort-training/2"  # 2: inputs, label, batching, float64 values


def hyperparameter_table(table) -> dict[str, dict]:
    """The model's hyperparameters: default, type and allowed range or set."""
    described = {}
    for name, parameter in table.items():
        entry: dict[str, Any] = {"default": parameter.default, "type": parameter.kind.__name__}
        allowed = parameter.allowed
        if allowed is not None and allowed.range is not None:
            entry["range"] = list(allowed.range)
        elif getattr(allowed, "choices", None) is not None:
            entry["set"] = list(allowed.choices)
        described[name] = entry
    return described


def checkpoint_value(value):
    """A hyperparameter as an ORT checkpoint property: ints as ints (booleans 0/1), doubles as
    their shortest exact decimal string (the format's float properties have 32 bits)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return repr(value)
    return value


def graph_inputs(model, skip=()) -> list[dict]:
    """``[{name, dtype, shape}]`` of an ONNX graph's inputs, ``"N"`` for symbolic axes; names
    in ``skip`` and ORT's optimizer buffers (``*.buffer``) left out."""
    found = []
    for item in model.graph.input:
        if item.name in skip or item.name.endswith(".buffer"):
            continue
        tensor = item.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else "N" for d in tensor.shape.dim]
        found.append(
            {"name": item.name, "dtype": _DTYPES.get(tensor.elem_type, str(tensor.elem_type)),
             "shape": shape}
        )  # fmt: skip
    return found


def describe_inputs(spec, feeds: list[dict]) -> list[dict]:
    """The model inputs among ``feeds`` (the arrays a user provides), with their Core ML kind."""
    described = {f.name: f for f in spec.description.input}
    inputs = []
    for feed in feeds:
        feature = described.get(feed["name"])
        if feature is None:
            continue
        entry = dict(feed)
        kind = feature.type.WhichOneof("Type")
        if kind == "imageType":
            image = feature.type.imageType
            entry["coreml"] = (
                f"image {image.width}x{image.height} "
                f"{_COLOR_SPACES.get(image.colorSpace, image.colorSpace)}: float pixel values "
                "0..255 as (N, H, W, C) in the image's channel order; the model's "
                "preprocessing runs inside the graphs"
            )
        else:
            shape = list(feature.type.multiArrayType.shape)
            entry["coreml"] = f"multiArray {shape}: (N, *shape) as Core ML declares it"
        inputs.append(entry)
    return inputs


def describe_label(spec, plan, feed: dict) -> dict:
    """The loss target as ORT takes it, and the Core ML training input it comes from."""
    network = spec_io.network(spec)
    description = spec.description
    training = [f.name for f in description.trainingInput]
    label: dict[str, Any] = {"name": plan.target, "dtype": feed["dtype"], "shape": feed["shape"]}
    if plan.loss == "categoricalCrossEntropyLossLayer":
        classes = None
        if spec_io.model_type(spec) == "neuralNetworkClassifier":
            which = network.WhichOneof("ClassLabels")
            classes = list(getattr(network, which).vector) if which else None
        sources = [plan.target] + ([description.predictedFeatureName] if classes else [])
        label["training_input"] = next((n for n in sources if n in training), plan.target)
        label["classes"] = classes
        label["meaning"] = (
            "the class index of each example: its label's position in 'classes'"
            if classes
            else "the class index of each example (Core ML's INT32 [1] target, as int64)"
        )
    else:
        label["training_input"] = plan.target
        label["meaning"] = "the MSE target, the loss input's shape per example"
    return label


def batching(values: dict) -> dict:
    """Core ML's mini-batches for these hyperparameters (docs/update-task-semantics.md §5, §6)."""
    return {
        "mini_batch_size": values.get("miniBatchSize"),
        "epochs": values.get("epochs"),
        "shuffle": bool(values.get("shuffle", False)),
        "seed": values.get("seed"),
        "batches_per_epoch": "ceil(N / mini_batch_size), N the number of training examples",
        "batch_b": "positions b*B .. b*B+B-1 of the epoch's order",
        "last_batch": "always full: position p reads order[p mod N] (wrap-around padding)",
        "order": (
            "[0..N-1] shuffled once before epoch 0 by libc++ std::shuffle with a "
            "std::minstd_rand engine seeded by std::seed_seq{uint32(seed)} (no seed: the "
            "default-constructed engine, state 1); unshuffled when shuffle is false"
        ),
        "reshuffle": (
            "after every epoch, in place, the engine continuing its stream; Core ML's default "
            "engine does so only when the app subscribes to epochEnd (else every epoch reuses "
            "the first order)"
        ),
        "epoch_loss": "the loss of the epoch's last mini-batch",
        "learning_rate": "passed to the optimizer before every step; the only value an app "
        "may change during training",
    }


def document(out, table, training_model, frozen_model, spec, files: dict) -> dict:
    """The sidecar of written artifacts ``out`` (a ``TrainingArtifacts``): ``training_model``
    and ``frozen_model`` (or ``None``) are the written ONNX graphs, ``files`` the file table."""
    plan = out.plan
    skip = {*plan.parameters, "lazy_reset_grad"}
    training_feeds = graph_inputs(training_model, skip)
    user_feeds = graph_inputs(frozen_model) if frozen_model is not None else training_feeds
    target_feed = next(f for f in training_feeds if f["name"] == plan.target)
    return {
        "format": FORMAT,
        "layout": out.layout,
        "files": files,
        "driver": DRIVER,
        "inputs": describe_inputs(spec, user_feeds),
        "label": describe_label(spec, plan, target_feed),
        "batching": batching(out.hyperparameters),
        "loss": {
            "type": plan.loss,
            "layer": plan.loss_layer,
            "input": plan.loss_input,
            "onnx_input": plan.logits,
            "target": plan.target,
        },
        "optimizer": {
            "type": out.optimizer,
            "onnx": "AdamWOptimizer(adam_mode=0, weight_decay=0)"
            if out.optimizer == "adamOptimizer"
            else "SGDOptimizerV2",
        },
        "hyperparameters": hyperparameter_table(table),
        "values": out.hyperparameters,
        "parameters": {name: list(where) for name, where in plan.parameters.items()},
        "training_inputs": [f["name"] for f in training_feeds],
        "outputs": [o.name for o in training_model.graph.output if not o.name.endswith(".out")],
        "output_shape": ["N", *plan.output_dims],
        "boundary": {blob: list(shape) for blob, shape in plan.boundary.items()}
        if out.layout == "split"
        else {},
    }


def write(path, doc: dict) -> None:
    """Write the sidecar as indented, sorted JSON."""
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
