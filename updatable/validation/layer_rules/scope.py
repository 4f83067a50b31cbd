"""Spec side, validation layer: what the per-layer rules read and share: the scope of the
network walk, the count and rank checks most layer kinds start with, and C++ integer casts.

Source: coremltools ``mlmodel/src/Validation/NeuralNetwork/NeuralNetworkValidator.hpp`` (the
validator's state) and ``NeuralNetworkValidatorUtils.hpp`` (``validateInputCount``,
``validateOutputCount``, ``checkRank``, ``validateRankCount``,
``validateInputOutputRankEquality``, ``validateRankExists``), whose message templates are
reproduced here verbatim. A count message names the layer kind by its field number in
``NeuralNetworkLayer`` (``layer_case()``), e.g. ``of type 140`` for ``innerProduct``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from updatable import proto
from updatable.validation.issues import MODEL_PARAMS, At, Issue

_U64 = (1 << 64) - 1
_FIELD_NUMBERS: dict[str, int] = {
    f.name: f.number
    for f in proto.NeuralNetwork_pb2.NeuralNetworkLayer.DESCRIPTOR.oneofs_by_name["layer"].fields
}


def int32(value: int) -> int:
    """``static_cast<int>(value)``: the low 32 bits read as a signed integer."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def uint64(value: int) -> int:
    """``static_cast<uint64_t>(value)`` / ``size_t`` arithmetic: the value modulo 2**64."""
    return value & _U64


def field_number(kind: str) -> int:
    """``layer.layer_case()`` of a layer of ``kind``: its field number in the ``layer`` oneof."""
    return _FIELD_NUMBERS.get(kind, 0)


def kind_of(layer: proto.NeuralNetworkLayer) -> str:
    return layer.WhichOneof("layer") or ""


@dataclass
class Scope:
    """The state of Core ML's ``NeuralNetworkSpecValidator`` while it walks one network.

    Attributes:
        at: where the model sits (pipelines).
        nd: ``ndArrayInterpretation``: the network is N-d (a layer newer than iOS 12, or a
            non-default shape mapping), so rank rules apply.
        blobs: blob name -> names of the layers producing it (``"__input"`` for a model input).
        io_ranks: rank of each model input / output (``ModelIOBlobNameToRank``).
        ranks: rank of every blob known so far (``blobNameToRank``): model I/O ranks plus the
            ranks that layers declare in ``inputTensor`` / ``outputTensor``.
        loop_depth: how many loop bodies enclose this network (``loopStackDepth``).
        prefix: the path of this network's layers, e.g. ``"layers['loop'].loop.bodyNetwork."``.
        walk: validates a nested network's layers in a nested scope (``validateNeuralNetwork``);
            the control-flow rules call it, and the walk module supplies it.
    """

    at: At
    nd: bool
    blobs: dict[str, set[str]]
    io_ranks: dict[str, int]
    ranks: dict[str, int] = field(default_factory=dict)
    loop_depth: int = 0
    prefix: str = ""
    walk: Callable[[Any, Scope], Iterator[Issue]] | None = None

    def nested(self, prefix: str, *, loop_depth: int | None = None) -> Scope:
        """A validator for a nested network: copies of the blobs and ranks, as Core ML makes."""
        return Scope(
            at=self.at,
            nd=self.nd,
            blobs={name: set(producers) for name, producers in self.blobs.items()},
            io_ranks=self.io_ranks,
            ranks=dict(self.ranks),
            loop_depth=self.loop_depth if loop_depth is None else loop_depth,
            prefix=prefix,
            walk=self.walk,
        )

    def item(self, layer: proto.NeuralNetworkLayer) -> str:
        return f"{self.prefix}layers['{layer.name}']"

    def error(self, code: str, layer: proto.NeuralNetworkLayer, message: str) -> Issue:
        """A Core ML error about ``layer`` (every per-layer error is INVALID_MODEL_PARAMETERS)."""
        return self.at.error(code, self.item(layer), message, MODEL_PARAMS)


LayerRule = Callable[[proto.NeuralNetworkLayer, Scope], Iterator[Issue]]


# --- validateInputCount / validateOutputCount (Y2) -------------------------------------------


def count_problem(layer: proto.NeuralNetworkLayer, what: str, lo: int, hi: int) -> str | None:
    """The message of ``validateInputCount`` (``what="inputs"``) or ``validateOutputCount``;
    a negative bound is no bound, and ``(0, 0)`` checks nothing (Core ML's ``max > 0``)."""
    n = len(layer.input) if what == "inputs" else len(layer.output)
    if hi > 0 and hi == lo and n != hi:
        words = f"exactly {lo}"
    elif lo > 0 and n < lo:
        words = f"at least {lo}"
    elif hi > 0 and n > hi:
        words = f"at most {hi}"
    else:
        return None
    kind = field_number(kind_of(layer))
    return f"Layer '{layer.name}' of type {kind} has {n} {what} but expects {words}."


# each rule made by counts() -> the (low, high) count of inputs it checks
COUNTED_INPUTS: dict[LayerRule, tuple[int, int]] = {}


def counts(lo_in: int, hi_in: int, lo_out: int = 1, hi_out: int = 1) -> LayerRule:
    """Y2: the layer has ``lo_in..hi_in`` inputs, then ``lo_out..hi_out`` outputs."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        message = count_problem(layer, "inputs", lo_in, hi_in) or count_problem(
            layer, "outputs", lo_out, hi_out
        )
        if message:
            yield scope.error("Y2", layer, message)

    COUNTED_INPUTS[rule] = lo_in, hi_in  # read by input_bounds(): the runtime's own check
    return rule


# --- ranks (Y3) -------------------------------------------------------------------------------


def check_rank(
    layer: proto.NeuralNetworkLayer, layer_type: str, bounds: tuple[int, int], blob: str, rank: int
) -> str | None:
    """``checkRank``: ``rank`` of the ``blob`` ("input" / "output") within ``bounds``."""
    lo, hi = bounds
    head = f"Layer '{layer.name}' of type '{layer_type}' has {blob} rank {rank} but expects rank"
    if hi > 0 and hi == lo and rank != hi:
        return f"{head} exactly {lo}."
    if lo > 0 and rank < lo:
        return f"{head} at least {lo}."
    if hi > 0 and rank > hi:
        return f"{head} at most {hi}."
    return None


def rank_count_problem(
    layer: proto.NeuralNetworkLayer, scope: Scope, layer_type: str, lo: int, hi: int
) -> str | None:
    """``validateRankCount``: the known ranks of the first input, then the first output."""
    if layer.input[0] in scope.ranks:
        problem = check_rank(layer, layer_type, (lo, hi), "input", scope.ranks[layer.input[0]])
        if problem:
            return problem
    if layer.output[0] in scope.ranks:
        return check_rank(layer, layer_type, (lo, hi), "output", scope.ranks[layer.output[0]])
    return None


def rank_equality_problem(
    layer: proto.NeuralNetworkLayer, scope: Scope, layer_type: str
) -> str | None:
    """``validateInputOutputRankEquality`` on the first input and output, when both are known."""
    first_in, first_out = layer.input[0], layer.output[0]
    if first_in in scope.ranks and first_out in scope.ranks:
        if scope.ranks[first_in] != scope.ranks[first_out]:
            return (
                f"Layer '{layer.name}' of type '{layer_type}' expects equal ranks for its input "
                "and output, but they are not equal."
            )
    return None


def nd_ranks(layer_type: str, lo: int, hi: int) -> LayerRule:
    """Y3, N-d networks only: equal input / output ranks, then ranks within ``lo..hi``."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        if scope.nd:
            message = rank_equality_problem(layer, scope, layer_type) or rank_count_problem(
                layer, scope, layer_type, lo, hi
            )
            if message:
                yield scope.error("Y3", layer, message)

    return rule


def nd_rank_equality(layer_type: str) -> LayerRule:
    """Y3, N-d networks only: equal input / output ranks."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        if scope.nd:
            message = rank_equality_problem(layer, scope, layer_type)
            if message:
                yield scope.error("Y3", layer, message)

    return rule


def rank_equality(layer_type: str) -> LayerRule:
    """Y3 in any network (kinds whose validator does not test ``ndArrayInterpretation``)."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        message = rank_equality_problem(layer, scope, layer_type)
        if message:
            yield scope.error("Y3", layer, message)

    return rule


def same_ranks_problem(
    layer: proto.NeuralNetworkLayer, scope: Scope, blobs: Any, message: str
) -> str | None:
    """Every blob of ``blobs`` whose rank is known has the rank of the first, if that is known."""
    if blobs[0] not in scope.ranks:
        return None
    first = scope.ranks[blobs[0]]
    if any(blob in scope.ranks and scope.ranks[blob] != first for blob in blobs):
        return message
    return None


def two_input_ranks(layer_type: str, lo: int) -> LayerRule:
    """Y3 (N-d): equal input / output ranks, rank >= ``lo``, equal ranks of both inputs."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        if not scope.nd:
            return
        message = rank_equality_problem(layer, scope, layer_type) or rank_count_problem(
            layer, scope, layer_type, lo, -1
        )
        if not message and len(layer.input) > 1:
            same = (
                f"Layer '{layer.name}' of type '{layer_type}' expects equal ranks for its inputs, "
                "but they are not equal."
            )
            message = same_ranks_problem(layer, scope, list(layer.input[:2]), same)
        if message:
            yield scope.error("Y3", layer, message)

    return rule


def axis_in_range(get_axis: Callable[[proto.NeuralNetworkLayer], int]) -> LayerRule:
    """Y5: ``-rank <= axis < rank`` for the rank the layer declares for its first input."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        if len(layer.inputTensor):
            rank = int32(layer.inputTensor[0].rank)
            axis = get_axis(layer)
            if axis < -rank or axis >= rank:
                message = (
                    "Value of axis must be in the range [-rank(tensor), rank(tensor)) for "
                    f"'{layer.name}' layer."
                )
                yield scope.error("Y5", layer, message)

    return rule


def required(
    get_size: Callable[[proto.NeuralNetworkLayer], int], message: str, code: str = "Y5"
) -> LayerRule:
    """A required repeated parameter: ``message`` (with ``{name}``) when it is empty."""

    def rule(layer: proto.NeuralNetworkLayer, scope: Scope) -> Iterator[Issue]:
        if not get_size(layer):
            yield scope.error(code, layer, message.format(name=layer.name))

    return rule


def target_shape_required(get_size: Callable[[proto.NeuralNetworkLayer], int]) -> LayerRule:
    """Y5: "Target shape is required parameter for '<layer>' layer." when it is empty."""
    return required(get_size, "Target shape is required parameter for '{name}' layer.")
