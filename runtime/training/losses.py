"""Runtime, training layer: Core ML's two training losses, forward and gradient, averaged over the
mini-batch.

* Categorical cross-entropy (``categoricalCrossEntropyLossLayer``): Core ML defines it on the
  output p of a softmax, ``-log p[target]`` with the target a class index
  (NeuralNetwork.proto). We evaluate it from the softmax's *input* z, which is the same
  quantity computed stably: ``logsumexp(z) - z[target]``, and its gradient with respect to z
  is ``(softmax(z) - onehot(target)) / N``. So the softmax that feeds the loss never runs a
  backward of its own (Core ML exempts exactly that softmax from its backprop rules).
* Mean squared error (``meanSquaredErrorLossLayer``): ``mean((y - t)^2)`` over every element of
  the batch, gradient ``2 (y - t) / size``. Core ML does not document the reduction
  (docs/update-task-semantics.md §8); the mean over all elements is PyTorch's ``MSELoss`` default
  and Keras' ``mean_squared_error`` for equal-sized examples.
"""

from __future__ import annotations

import numpy as np


def cross_entropy(logits: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean CCE of ``softmax(logits)`` against class indices, and d loss / d logits.

    Args:
        logits: ``(N, K)`` softmax inputs.
        target: ``(N,)`` integer class indices in ``[0, K)``.
    """
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    losses = np.log(total[:, 0]) - shifted[rows, target]
    grad = exp / total
    grad[rows, target] -= 1
    grad /= n
    return float(losses.astype(np.float64).mean()), grad.astype(logits.dtype, copy=False)


def mean_squared_error(output: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of ``(output - target)^2`` over all elements, and d loss / d output."""
    diff = output - target.astype(output.dtype, copy=False).reshape(output.shape)
    loss = float(np.mean(np.square(diff, dtype=np.float64)))
    return loss, (2.0 / diff.size) * diff


LOSSES = {
    "categoricalCrossEntropyLossLayer": cross_entropy,
    "meanSquaredErrorLossLayer": mean_squared_error,
}
