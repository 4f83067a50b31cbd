"""Runtime, training layer: the resource bounds of a neural-network update, checked before it
starts.

A model file decides its own mini-batch size and epochs (within the ranges it declares), and
Core ML's validator accepts any positive values; a model whose ``miniBatchSize`` is 1e9 would
otherwise build a billion-row batch and fail minutes later with an empty ``MemoryError``.

* **Memory of one mini-batch.** Core ML's default engine fills every mini-batch to its full
  size (``runtime.training.loop``), so a batch holds ``miniBatchSize`` rows even when that is
  more than the training examples; the ML Compute engine holds at most the examples. The
  estimate per row is the float32 blobs the trainable slice keeps (activations, backward
  caches and gradients: three copies), the boundary blobs it reads, the model inputs as
  converted features and blobs, and a fixed allowance for the row's index and feature dict;
  the frozen part runs in chunks of :data:`FROZEN_CHUNK` examples
  (``runtime.training.backprop``), so its blobs count once per chunk, not per row. A batch
  over the memory bound (:mod:`runtime.kernels.memory`) is **refused**, not clamped: a smaller
  batch would train a different model than the device does.
* **Total work.** ``epochs x rows per epoch`` over :data:`MAX_EXAMPLE_PASSES` is refused: at a
  million examples a second that is more than eleven days of computing, which no run of this
  toolkit reaches, so such a value is a mistake (an epochs field of 2**62, say).
"""

from __future__ import annotations

import math

from runtime.kernels import memory
from runtime.training.backprop import FROZEN_CHUNK
from updatable.errors import ResourceLimitError

ROW_ALLOWANCE = 256  # bytes per row for its index, feature dict and column entries
MAX_EXAMPLE_PASSES = 10**12


def _size(shape) -> int:
    return math.prod(int(d) for d in shape)


def row_bytes(network, cut) -> int:
    """Estimated bytes one mini-batch row holds while a step runs (see the module doc)."""
    shapes = network.shapes
    in_slice = {b for step in cut.train_steps for b in (*step.inputs, *step.outputs)}
    slice_values = sum(_size(shapes[b]) for b in in_slice if b in shapes)
    boundary_values = sum(_size(shapes[b]) for b in cut.boundary if b in shapes)
    input_values = sum(_size(shape) for shape in network.inputs.values())
    return 4 * (boundary_values + 3 * slice_values) + 12 * input_values + ROW_ALLOWANCE


def frozen_bytes(network, cut) -> int:
    """Estimated bytes of one frozen-forward chunk (every frozen blob at once: an upper
    estimate, as the plan frees blobs after their last use)."""
    shapes = network.shapes
    blobs = {b for step in cut.frozen_steps for b in (*step.inputs, *step.outputs)}
    return 4 * FROZEN_CHUNK * sum(_size(shapes[b]) for b in blobs if b in shapes)


def rows_per_batch(batch_size: int, count: int, partial_last_batch: bool) -> int:
    return min(batch_size, count) if partial_last_batch else batch_size


def check_update(network, cut, settings, count: int, epochs: int | None = None) -> None:
    """Refuse a mini-batch over the memory bound or a run over :data:`MAX_EXAMPLE_PASSES`.

    ``settings`` are the loop's (batch size, epochs, engine); ``epochs`` overrides the
    settings' epochs (a training job runs its own number of iterations).

    Raises:
        ResourceLimitError: naming the bound, the estimate and the largest allowed value.
    """
    batch = settings.batch_size
    rows = rows_per_batch(batch, count, settings.partial_last_batch)
    per_row = row_bytes(network, cut)
    fixed = frozen_bytes(network, cut)
    padded = (
        f"; Core ML fills every mini-batch to its full size, so it holds {rows} rows for "
        f"{count} training examples"
        if rows > count
        else ""
    )
    memory.check(
        f"a mini-batch of {rows} examples (miniBatchSize {batch}, about "
        f"{memory.format_bytes(per_row)} per example{padded})",
        fixed + rows * per_row,
        "lower miniBatchSize to at most {largest}",
        parameter="miniBatchSize",
        per_unit=per_row,
    )
    epochs = settings.epochs if epochs is None else epochs
    batches = math.ceil(count / batch) if count else 0
    per_epoch = count if settings.partial_last_batch else batches * batch
    total = epochs * per_epoch
    if total > MAX_EXAMPLE_PASSES:
        raise ResourceLimitError(
            f"{epochs} epochs of {per_epoch} examples is {total:.3g} example passes, more "
            f"than the bound of {MAX_EXAMPLE_PASSES:.0e} (over eleven days at a million "
            f"examples a second); lower epochs to at most {MAX_EXAMPLE_PASSES // per_epoch}",
            "epochs",
            MAX_EXAMPLE_PASSES // per_epoch,
        )
