"""Runtime, training layer: training that diverges without a non-finite loss.

A learning rate inside the model's allowed range can blow the weights up to 1e19 while the
loss stays finite (a saturated softmax, a dead ReLU), or make the loss grow from 0.03 to
1102: Core ML would write such a model. Two checks, both set by
:class:`~runtime.model.configuration.DivergenceSettings`:

* :class:`WeightWatch` (an error): after every epoch, before its ``epochEnd`` is delivered,
  each trainable layer's largest weight magnitude is compared with its value before
  training; non-finite weights, or growth past ``weight_growth x max(start, 1)``, fail the
  update with :class:`DivergenceError` (a ``TrainingError``, like a NaN loss: nothing is
  written, a job keeps its last good epoch);
* :func:`loss_growth` / :func:`loss_growth_warning` (a warning): the ratio of an epoch's mean
  loss to the first epoch's, and the sentence the command line shows when it passes
  ``loss_growth``.
"""

from __future__ import annotations

import math

import numpy as np

from runtime.training.loop import TrainingError


class DivergenceError(TrainingError):
    """The weights became non-finite or grew by orders of magnitude."""


def _largest(arrays: dict[str, np.ndarray]) -> float:
    """The largest magnitude over a layer's arrays (``inf`` / ``nan`` if any is not finite)."""
    values = [np.abs(np.asarray(a, np.float64)).max(initial=0.0) for a in arrays.values()]
    return float(max(values, default=0.0))


class WeightWatch:
    """Checks the trainable layers' weights against their scale before training.

    Args:
        weights: ``{layer: {"weights": W, "bias": b}}`` before training (``backend.weights()``).
        growth: ``DivergenceSettings.weight_growth``; ``None`` checks finiteness only.
    """

    def __init__(self, weights: dict[str, dict[str, np.ndarray]], growth: float | None):
        self.start = {layer: _largest(arrays) for layer, arrays in weights.items()}
        self.growth = growth

    def check(self, weights: dict[str, dict[str, np.ndarray]], epoch: int) -> None:
        """Raise :class:`DivergenceError` naming the first layer out of bounds."""
        for layer, arrays in weights.items():
            largest = _largest(arrays)
            start = self.start.get(layer, 0.0)
            if not math.isfinite(largest):
                raise DivergenceError(
                    f"the weights of layer '{layer}' became {largest} during epoch {epoch}: "
                    "training diverged; lower the learning rate"
                )
            bound = None if self.growth is None else self.growth * max(start, 1.0)
            if bound is not None and largest > bound:
                raise DivergenceError(
                    f"the weights of layer '{layer}' grew from at most {start:.3g} to "
                    f"{largest:.3g} during epoch {epoch}, past {self.growth:.0e} times their "
                    "starting scale: training diverged; lower the learning rate"
                )


def loss_growth(first: float | None, loss: float) -> float | None:
    """``loss / first`` (``None`` before a first epoch or when its loss is 0)."""
    if first is None or not first > 0 or not math.isfinite(loss):
        return None
    return loss / first


def loss_growth_warning(
    first: float | None, loss: float, epoch: int, factor: float | None
) -> str | None:
    """The warning for epoch ``epoch`` (1-based) when its mean loss passed ``factor x`` the
    first epoch's, else ``None``."""
    ratio = loss_growth(first, loss)
    if factor is None or ratio is None or ratio <= factor:
        return None
    return (
        f"epoch {epoch}: the mean loss {loss:.4g} is {ratio:,.0f}x the first epoch's "
        f"{first:.4g}: training is diverging; lower the learning rate"
    )
