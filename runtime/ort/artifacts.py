"""Runtime, ONNX layer: ONNX Runtime on-device training artifacts for an updatable Core ML neural
network.

:func:`write_artifacts` writes a directory that ORT's training API (Python, C/C++, C#, Java,
Objective-C/Swift) loads as is::

    training_model.onnx   forward + loss + gradients of the trainable weights
    eval_model.onnx       forward + loss
    optimizer_model.onnx  the optimizer step
    checkpoint            the weights, plus the model's hyperparameters as properties
                          (doubles as exact decimal strings: ORT keeps floats in 32 bits)
    frozen_model.onnx     (split layout) the frozen prefix as an inference model
    coreml_training.json  sidecar (runtime.ort.sidecar): each input's name, dtype and shape,
                          the label as ORT takes it, Core ML's batching recipe, the
                          hyperparameters (float64) with their allowed values, the weight ->
                          layer map, the layout
    train_with_onnxruntime.py  a plain onnxruntime-training script that trains the artifacts
                          on an .npz in Core ML's batch order (runtime.ort.driver)

Frozen weights stay initializers inside the graphs; only the updatable layers' weights are
checkpoint parameters that require gradients. The loss is built as :mod:`runtime.ort.plan`
explains (cross-entropy from the softmax's input, MSE as is).

Optimizers. Core ML's SGD maps to ORT's ``SGDOptimizerV2`` (``w -= lr * g``), which has no
momentum: a model whose momentum is not 0 is refused. Core ML's Adam maps to ORT's AdamW
with weight decay 0 and ``adam_mode = 0`` (PyTorch's formula)::

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    w -= lr * m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)

which is the toolkit's Adam (:mod:`runtime.training.optim`): bias correction on both moments and eps
added outside the bias-corrected square root. ``generate_artifacts``' own AdamW uses
``adam_mode = 1`` (Hugging Face's), which folds the corrections into the step size,
``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``: eps then acts as
``eps / sqrt(1 - b2^t)``, and its default eps is 1e-6, so both are replaced. Beta1, beta2 and
eps are load-time parameters in Core ML and attributes of the optimizer model here; the
learning rate is an input of every step.

Known ORT 1.19 pitfalls, fixed here: the optimizer model carries the onnx package's newest IR
version, which ORT refuses, so it is rewritten to :data:`~runtime.ort.onnx_graph.IR_VERSION`;
the training graph gives every MaxPool an index output, frozen ones included, which makes them
about 15x slower, so unused index outputs are removed (``prune_maxpool_indices``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.model.configuration import ParameterKey, as_key
from runtime.model.hyperparameters import network_hyperparameters, resolve
from runtime.ort import deps, driver, sidecar
from runtime.ort.export import Fetch, convert_network
from runtime.ort.onnx_graph import IR_VERSION
from runtime.ort.plan import CROSS_ENTROPY, TrainingPlan, plan_training
from runtime.ort.sidecar import FORMAT
from updatable import spec as spec_io
from updatable.errors import ModelFileError, ParameterError, UnsupportedModelError

SIDECAR = "coreml_training.json"
LAYOUTS = ("split", "whole")
FILES = {
    "training_model": "training_model.onnx",
    "eval_model": "eval_model.onnx",
    "optimizer_model": "optimizer_model.onnx",
    "checkpoint": "checkpoint",
    "frozen_model": "frozen_model.onnx",
}


@dataclass(frozen=True)
class TrainingArtifacts:
    """A written artifact directory and what it holds."""

    directory: Path
    layout: str
    plan: TrainingPlan
    optimizer: str  # "sgdOptimizer" or "adamOptimizer"
    hyperparameters: dict[str, Any]

    def path(self, what: str) -> Path:
        """Path of ``training_model``, ``eval_model``, ``optimizer_model``, ``checkpoint``
        or ``frozen_model``."""
        return self.directory / FILES[what]


def resolve_hyperparameters(spec, overrides: Mapping | None = None):
    """The model's hyperparameter table and the values to use (defaults + checked overrides)."""
    table = network_hyperparameters(spec_io.network(spec).updateParams)
    keys = {as_key(getattr(k, "name", k)): v for k, v in (overrides or {}).items()}
    values = resolve(table, {k: v for k, v in keys.items() if k.name in table}, "this model")
    return table, values


def write_artifacts(
    spec,
    directory: str | os.PathLike,
    *,
    layout: str = "split",
    hyperparameters: Mapping[ParameterKey | str, Any] | None = None,
    prune_maxpool_indices: bool = True,
    overwrite: bool = False,
) -> TrainingArtifacts:
    """Write ORT on-device training artifacts for ``spec`` into ``directory``.

    Args:
        spec: an updatable neural-network ``Model`` (one loss layer, SGD or Adam), or its
            ``.mlmodel`` path or coremltools ``MLModel``.
        directory: created by this call; it must not exist unless ``overwrite``.
        layout: ``"split"`` (frozen prefix in ``frozen_model.onnx``, the training graph holds
            only the head; fastest) or ``"whole"`` (one training graph from the model inputs).
        hyperparameters: overrides of the model's defaults (``{"beta1": 0.8}``), checked
            against its allowed values.
        prune_maxpool_indices: remove unused MaxPool index outputs from the training graph.
        overwrite: replace an existing directory.

    The directory is assembled in a temporary sibling and renamed into place, so a failure
    leaves nothing behind and a reader never sees a half-written directory.

    Raises:
        ModelFileError: the parent directory is missing or not writable, or ``directory``
            exists and ``overwrite`` is false.
        ParameterError: a hyperparameter outside the model's allowed values, or SGD momentum
            other than 0 (ORT's SGD has none).
        UnsupportedModelError / UnsupportedLayerError: see :func:`plan_training` and
            :func:`~runtime.ort.export.export_onnx`.
        MissingDependencyError: the ``ort`` extra is not installed.
    """
    if layout not in LAYOUTS:
        raise ParameterError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    spec = spec_io.as_spec(spec, "write_artifacts")
    target = Path(directory)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise ModelFileError(f"{target}: cannot write artifacts: directory {parent} does not exist")
    if target.exists() and not overwrite:
        raise ModelFileError(
            f"{target}: already exists; choose a new directory or pass overwrite=True"
        )
    api = deps.training_api("writing ONNX Runtime training artifacts")
    table, values = resolve_hyperparameters(spec, hyperparameters)
    optimizer = spec_io.network(spec).updateParams.optimizer.WhichOneof("OptimizerType")
    if optimizer == "sgdOptimizer" and values.get("momentum", 0.0) != 0.0:
        raise ParameterError(
            f"SGD momentum is {values['momentum']}; ONNX Runtime's SGD optimizer has no "
            "momentum, so only momentum 0 can be exported (or use Adam)"
        )
    plan = plan_training(spec)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise ModelFileError(f"{target}: cannot write into {parent} ({exc.strerror})") from None
    try:
        result = TrainingArtifacts(staging, layout, plan, optimizer, values)
        _generate(api, spec, result, prune_maxpool_indices)
        _annotate_checkpoint(api, result, table)
        _write_sidecar(result, table, spec)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TrainingArtifacts(target, layout, plan, optimizer, values)


def _generate(api, spec, out: TrainingArtifacts, prune: bool) -> None:
    plan = out.plan
    feeds = plan.boundary if out.layout == "split" else {}
    base, _ = convert_network(spec, plan.fetches(), feeds=feeds, name="training_base")
    if out.optimizer == "adamOptimizer":
        v = out.hyperparameters
        optimizer = api.onnxblock.optim.AdamW(
            bias_correction=True, betas=(v["beta1"], v["beta2"]), eps=v["eps"], weight_decay=0.0
        )
    else:
        optimizer = api.artifacts.OptimType.SGD
    cce = plan.loss == CROSS_ENTROPY
    loss = api.artifacts.LossType.CrossEntropyLoss if cce else api.artifacts.LossType.MSELoss
    failure = None
    with deps.native_stderr_captured() as log:
        try:
            api.artifacts.generate_artifacts(
                base,
                requires_grad=sorted(plan.parameters),
                loss=loss,
                optimizer=optimizer,
                artifact_directory=str(out.directory),
                loss_input_names=[plan.logits, plan.target],
                additional_output_names=plan.extra_outputs(),
            )
        except Exception as exc:  # ORT raises bare RuntimeErrors from native code
            failure = exc
    if failure is not None:
        native = "".join(log).strip().splitlines()[-5:]
        raise UnsupportedModelError(
            f"ONNX Runtime could not build the training graph: {failure}"
            + ("\n" + "\n".join(native) if native else "")
        ) from failure
    _fix_models(out, prune)
    if out.layout == "split" and plan.boundary:
        frozen, _ = convert_network(
            spec, [Fetch(b, b) for b in plan.boundary], name="frozen_prefix"
        )
        _save(frozen, out.path("frozen_model"))


def _save(model, path: Path) -> None:
    import onnx

    onnx.save(model, str(path))


def _fix_models(out: TrainingArtifacts, prune: bool) -> None:
    """IR version for ORT 1.19, adam_mode 0, and (optionally) no unused MaxPool indices."""
    import onnx

    for what in ("training_model", "eval_model", "optimizer_model"):
        model = onnx.load(str(out.path(what)))
        model.ir_version = min(model.ir_version, IR_VERSION)
        for node in model.graph.node:
            if node.op_type == "AdamWOptimizer":
                for attribute in node.attribute:
                    if attribute.name == "adam_mode":
                        attribute.i = 0
        if prune and what == "training_model":
            prune_unused_maxpool_indices(model)
        _save(model, out.path(what))


def prune_unused_maxpool_indices(model) -> int:
    """Drop MaxPool index outputs that no node and no graph output reads; returns how many."""
    used = {name for node in model.graph.node for name in node.input}
    used.update(output.name for output in model.graph.output)
    pruned = 0
    for node in model.graph.node:
        if node.op_type == "MaxPool" and len(node.output) == 2 and node.output[1] not in used:
            del node.output[1]
            pruned += 1
    return pruned


def _annotate_checkpoint(api, out: TrainingArtifacts, table) -> None:
    """Store the hyperparameters (defaults and allowed values) and the weight -> layer map
    as checkpoint properties, so the checkpoint alone describes how to train and where its
    weights go back."""
    path = out.path("checkpoint")
    state = api.api.CheckpointState.load_checkpoint(str(path))
    for name, value in out.hyperparameters.items():
        state.properties[name] = sidecar.checkpoint_value(value)
    state.properties["coreml.format"] = FORMAT
    state.properties["coreml.values"] = json.dumps(out.hyperparameters)
    state.properties["coreml.hyperparameters"] = json.dumps(sidecar.hyperparameter_table(table))
    state.properties["coreml.parameters"] = json.dumps(out.plan.parameters)
    state.properties["coreml.optimizer"] = out.optimizer
    state.properties["coreml.loss"] = out.plan.loss
    annotated = path.with_name(path.name + ".annotated")
    api.api.CheckpointState.save_checkpoint(state, str(annotated))
    os.replace(annotated, path)


def _write_sidecar(out: TrainingArtifacts, table, spec) -> None:
    """``coreml_training.json`` and the driver script that reads it (runtime.ort.sidecar)."""
    import onnx

    training = onnx.load(str(out.path("training_model")), load_external_data=False)
    frozen_path = out.path("frozen_model")
    frozen = onnx.load(str(frozen_path), load_external_data=False) if frozen_path.exists() else None
    files = {k: v for k, v in FILES.items() if k != "frozen_model" or frozen is not None}
    document = sidecar.document(out, table, training, frozen, spec, files)
    sidecar.write(out.directory / SIDECAR, document)
    driver.write_driver(out.directory)


def _move_into_place(staging: Path, target: Path) -> None:
    os.chmod(staging, 0o755)  # mkdtemp creates 0o700
    if not target.exists():
        os.rename(staging, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rmdir(retired)
    os.rename(target, retired)
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(retired, target)
        raise
    if retired.is_dir():
        shutil.rmtree(retired, ignore_errors=True)
    else:
        retired.unlink(missing_ok=True)
