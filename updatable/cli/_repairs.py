"""Command line: the helpers of ``make-updatable``: the repairs of converter output (checked
with the runtime's forward pass), the loss options spelled as options, and the layers that
block training said with the way out."""

from __future__ import annotations

import argparse

from updatable import proto

# Python argument of an edit -> the option that sets it here
OPTIONS = {"input": "--loss-input BLOB", "shape": "--loss-shape D,D,.."}


def repair_or_refuse(spec: proto.Model, refuse: bool) -> list[str]:
    """Rewrite converter output into kinds Core ML trains through (``updatable.repair``),
    each rewrite checked by running the model before and after on random inputs; with
    ``--no-repair``, refuse a model that needs any."""
    from updatable.edit.repair import needed_repairs, repair, repairable
    from updatable.errors import SurgeryError, UnsupportedLayerError

    if not repairable(spec):
        return []
    from runtime.tools.equivalence import blob_shapes, check_equivalent

    try:
        if refuse:
            needed = needed_repairs(spec, shapes=blob_shapes)
            if needed:
                raise SurgeryError(
                    "Core ML cannot train this model as it is: it needs "
                    + "; ".join(needed)
                    + ". Run without --no-repair to apply these rewrites (each is checked to "
                    "leave the outputs unchanged)"
                )
            return []
        return [str(done) for done in repair(spec, shapes=blob_shapes, check=check_equivalent)]
    except UnsupportedLayerError as error:
        raise SurgeryError(
            f"cannot check the repairs this model needs: the runtime cannot run it ({error}); "
            "pass --no-repair to prepare it without them"
        ) from None


def set_loss_with_options(spec: proto.Model, args: argparse.Namespace) -> None:
    import updatable
    from updatable.errors import ArgumentNeededError, SurgeryError

    try:
        updatable.set_loss(
            spec, args.loss, input=args.loss_input, name=args.loss_name, shape=args.loss_shape
        )
    except ArgumentNeededError as error:
        raise SurgeryError(error.spelled(OPTIONS[error.argument])) from None


def training_blockers(spec: proto.Model, layers: list[str]) -> list[str]:
    """One line per updatable layer that Core ML could not train: the layer in the way, the
    rule, and the layers to train instead (said after the validator's own messages)."""
    from updatable.edit.nested import locate
    from updatable.edit.trainable import training_blockers as find_blockers
    from updatable.spec import NEURAL_NETWORK_TYPES, network
    from updatable.validation.backprop import loss_input_and_target

    model, _ = locate(spec, NEURAL_NETWORK_TYPES, "make-updatable")
    losses = network(model).updateParams.lossLayers
    if not losses:
        return []
    loss_input, _ = loss_input_and_target(losses[0])
    return [b.message("--layers ") for b in find_blockers(spec, layers, loss_input)]
