"""Runtime, sweeps layer: the hyperparameter space a model allows an app to choose from, as a
finite grid.

Core ML lets an app override a model's training parameters at load time, within the allowed
values the model stores (docs/update-task-semantics.md §4; docs/mlmodel-format.md §1.3-1.5): an
``Int64Parameter`` has a ``range`` or a ``set``, a ``DoubleParameter`` only a ``range``, and a
parameter with neither accepts any value. A sweep turns that into a grid:

* a **set** contributes every element;
* a **double range** ``[lo, hi]`` contributes ``points`` log-spaced values including both ends
  (``numpy.geomspace``; inner values rounded to 3 significant digits). A range that **starts
  at 0** cannot be log-spaced from its end, so it contributes 0 followed by ``points - 1``
  values one decade apart ending at ``hi``: ``[0, 1]`` with 5 points is
  ``0, 0.001, 0.01, 0.1, 1``. A range that reaches below 0 (Core ML does not forbid it) is
  spaced linearly;
* an **integer range** contributes every integer when it has at most ``points`` of them, else
  ``points`` log-spaced integers including both ends (linear when it starts below 1);
* the model's **default** is always added, since it is what most apps will run.

Which parameters are swept: ``learningRate``, ``miniBatchSize`` and ``epochs`` of a neural
network and ``numberOfNeighbors`` of a kNN classifier always, and each of SGD's ``momentum`` or
Adam's ``beta1``, ``beta2``, ``eps`` that has a range. ``params=`` restricts the sweep to the
named ones (the others stay at their defaults). A swept parameter without allowed values is
refused with advice on how to add them, unless ``values=`` gives explicit values for it.
``shuffle`` and ``seed`` are never swept: they change the order, not whether training works.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from runtime.model.hyperparameters import Hyperparameter, network_hyperparameters
from updatable import proto
from updatable.edit.nested import KNN_TYPES, locate
from updatable.errors import ParameterError
from updatable.params import DoubleParam, IntParam
from updatable.spec import NEURAL_NETWORK_TYPES, model_type, network

# every parameter a sweep can vary, in the order combinations are listed
SWEEPABLE = (
    "learningRate",
    "miniBatchSize",
    "epochs",
    "momentum",
    "beta1",
    "beta2",
    "eps",
    "numberOfNeighbors",
)
# swept by default, and refused when the model gives them no allowed values
PRIMARY = frozenset({"learningRate", "miniBatchSize", "epochs", "numberOfNeighbors"})

# How to give a parameter allowed values; {opt} is the model's optimizer ("sgd" or "adam").
ADVICE = {
    "learningRate": "`updatable make-updatable ... --lr 0.01 --lr-range 0,0.1` or "
    "updatable.set_optimizer(spec, '{opt}', learning_rate=DoubleParam(0.01, range=(0.0, 0.1)))",
    "miniBatchSize": "`updatable make-updatable ... --batch 8 --batch-allowed 1,8,32` or "
    "updatable.set_optimizer(spec, '{opt}', mini_batch_size=IntParam(8, choices=(1, 8, 32), "
    "positive=True))",
    "epochs": "`updatable make-updatable ... --epochs 10 --epochs-allowed 1,10,50` or "
    "updatable.set_epochs(spec, IntParam(10, choices=(1, 10, 50), positive=True))",
    "momentum": "`updatable make-updatable ... --momentum 0.9 --momentum-range 0,0.99` or "
    "updatable.set_optimizer(spec, 'sgd', momentum=DoubleParam(0.9, range=(0.0, 0.99)))",
    "beta1": "updatable.set_optimizer(spec, 'adam', beta1=DoubleParam(0.9, range=(0.8, 0.99)))",
    "beta2": "updatable.set_optimizer(spec, 'adam', beta2=DoubleParam(0.999, "
    "range=(0.99, 0.9999)))",
    "eps": "updatable.set_optimizer(spec, 'adam', eps=DoubleParam(1e-8, range=(1e-8, 1e-4)))",
    "numberOfNeighbors": "updatable.set_number_of_neighbors(spec, IntParam(5, range=(1, 20), "
    "positive=True))",
}


@dataclass(frozen=True)
class Dimension:
    """One training parameter of the sweep: what the model allows and the values tried.

    ``values`` holds the swept values in increasing order, or only the default when the
    parameter is held fixed (``swept`` false). ``origin`` says where they came from: ``"set"``,
    ``"range"``, ``"explicit"`` or ``"default"``.
    """

    name: str
    kind: type  # int or float
    default: float | int
    allowed: IntParam | DoubleParam | None  # the model's constraint; None: any value
    values: tuple
    origin: str

    @property
    def swept(self) -> bool:
        return self.origin != "default"

    @property
    def set_values(self) -> tuple:
        """The allowed values of a set-constrained parameter; empty for a range or none."""
        return tuple(getattr(self.allowed, "choices", None) or ())

    def allowed_text(self) -> str:
        """``"range [0, 0.1]"``, ``"set {1, 8, 32}"`` or ``"any value"``."""
        if self.allowed is not None and self.allowed.range is not None:
            low, high = self.allowed.range
            return f"range [{low:g}, {high:g}]"
        if self.set_values:
            return "set {" + ", ".join(str(v) for v in self.set_values) + "}"
        return "any value"


@dataclass(frozen=True)
class SweepSpace:
    """The grid of a sweep: swept dimensions (their product) and parameters held at default.

    ``head`` is the Core ML type of the model that trains (``neuralNetworkClassifier``,
    ``kNearestNeighborsClassifier``...), ``optimizer`` ``"sgd"``/``"adam"`` for networks.
    """

    head: str
    optimizer: str | None
    dimensions: tuple[Dimension, ...]

    @property
    def swept(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dimensions if d.swept)

    @property
    def held(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dimensions if not d.swept)

    def dimension(self, name: str) -> Dimension:
        for dimension in self.dimensions:
            if dimension.name == name:
                return dimension
        raise KeyError(name)

    def combinations(self) -> list[dict[str, float | int]]:
        """Every combination of the swept values, in dimension order (the last varies
        fastest). Held parameters are not included: the model's defaults apply."""
        swept = self.swept
        return [
            {d.name: v for d, v in zip(swept, values, strict=True)}
            for values in itertools.product(*(d.values for d in swept))
        ]

    def __len__(self) -> int:
        return math.prod(len(d.values) for d in self.swept)


def combination_key(combination: Mapping[str, float | int]) -> str:
    """``"learningRate=0.01,miniBatchSize=8"``: stable (``repr`` of each value) and readable."""
    return ",".join(f"{name}={combination[name]!r}" for name in SWEEPABLE if name in combination)


def model_hyperparameters(spec: proto.Model) -> tuple[str, str | None, dict[str, Hyperparameter]]:
    """The trainable model's type, optimizer and sweepable parameters (default + constraint).

    A pipeline trains its last model (Core ML rule P1), so that is where the parameters live.
    """
    head, _ = locate(spec, NEURAL_NETWORK_TYPES + KNN_TYPES, "sweep")
    kind = model_type(head)
    if kind in KNN_TYPES:
        message = head.kNearestNeighborsClassifier.numberOfNeighbors
        k = Hyperparameter.of("numberOfNeighbors", message, int)
        return kind, None, {"numberOfNeighbors": k}
    update = network(head).updateParams
    optimizer = {"sgdOptimizer": "sgd", "adamOptimizer": "adam"}.get(
        update.optimizer.WhichOneof("OptimizerType")
    )
    table = network_hyperparameters(update)
    return kind, optimizer, {name: table[name] for name in SWEEPABLE if name in table}


def enumerate_space(
    spec: proto.Model,
    *,
    values: Mapping[str, Sequence[float | int]] | None = None,
    params: Sequence[str] | None = None,
    lr_grid: int = 5,
    grid: int = 3,
    int_grid: int = 5,
) -> SweepSpace:
    """The allowed hyperparameter space of ``spec`` as a grid (rules in the module docstring).

    Args:
        spec: an updatable neural network or kNN classifier, or a pipeline ending in one.
        values: explicit values per parameter name; each must be allowed by the model (Core ML
            would refuse the others at load). A parameter with explicit values is swept.
        params: sweep only these parameters (plus those in ``values``).
        lr_grid: points across the ``learningRate`` range.
        grid: points across any other double range (momentum, betas, eps).
        int_grid: most points across an integer range (e.g. ``numberOfNeighbors`` [1, 1000]).

    Raises:
        ParameterError: an unknown parameter name, a value the model does not allow, a grid of
            fewer than 2 points, or a swept parameter without allowed values (with advice).
    """
    kind, optimizer, table = model_hyperparameters(spec)
    values = dict(values or {})
    requested = None if params is None else list(params)
    for name in [*values, *(requested or [])]:
        if name not in table:
            raise ParameterError(
                f"cannot sweep '{name}': the model's parameters are {sorted(table)} "
                f"(sweepable: {list(SWEEPABLE)})"
            )
    for what, points in (("lr_grid", lr_grid), ("grid", grid), ("int_grid", int_grid)):
        if isinstance(points, bool) or not isinstance(points, int) or points < 2:
            raise ParameterError(
                f"{what} must be an integer >= 2 (a grid includes both ends of a range); "
                f"got {points!r}"
            )
    dimensions = []
    for name, parameter in table.items():
        if name in values:
            swept = _explicit(parameter, values[name])
            dimensions.append(_dimension(parameter, swept, "explicit"))
            continue
        wanted = (
            name in requested
            if requested is not None
            else (name in PRIMARY or parameter.allowed is not None)
        )
        if not wanted:
            dimensions.append(_dimension(parameter, (parameter.default,), "default"))
            continue
        if parameter.allowed is None:
            raise ParameterError(_missing_constraint(parameter, optimizer))
        points = lr_grid if name == "learningRate" else int_grid if parameter.kind is int else grid
        dimensions.append(
            _dimension(parameter, allowed_grid(parameter, points), _allowed_kind(parameter))
        )
    return SweepSpace(kind, optimizer, tuple(dimensions))


def allowed_grid(parameter: Hyperparameter, points: int) -> tuple:
    """The grid of one constrained parameter, its default included, in increasing order."""
    allowed: Any = parameter.allowed  # an IntParam set or either kind of range, by now
    if _allowed_kind(parameter) == "set":
        grid = [parameter.kind(v) for v in allowed.choices]
    elif parameter.kind is int:
        grid = int_range_grid(int(allowed.range[0]), int(allowed.range[1]), points)
    else:
        grid = double_range_grid(float(allowed.range[0]), float(allowed.range[1]), points)
    return tuple(sorted(set(grid) | {parameter.kind(parameter.default)}))


def double_range_grid(low: float, high: float, points: int) -> list[float]:
    """``points`` values across ``[low, high]``, both ends exact (see the module docstring)."""
    if low == high:
        return [low]
    inner: Any
    if low > 0:
        inner = np.geomspace(low, high, points)[1:-1]
    elif low == 0:
        # 0, then decades ending at high: the log grid a [0, hi] range would have from hi down
        inner = [high * 10.0 ** -(points - 2 - i) for i in range(points - 2)]
    else:
        inner = np.linspace(low, high, points)[1:-1]
    # inner points rounded to 3 significant digits read well in keys and reports (the
    # spacing stays log-even within 0.5%); the ends stay exact so they remain allowed
    return [low, *(float(f"{v:.3g}") for v in inner), high]


def int_range_grid(low: int, high: int, points: int) -> list[int]:
    """Every integer of ``[low, high]`` if few enough, else ``points`` spread values."""
    if high - low + 1 <= points:
        return list(range(low, high + 1))
    spread = np.geomspace(low, high, points) if low >= 1 else np.linspace(low, high, points)
    return sorted({low, high, *(round(float(v)) for v in spread)})


def _explicit(parameter: Hyperparameter, given: Sequence) -> tuple:
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence | np.ndarray):
        given = [given]
    if len(given) == 0:
        raise ParameterError(f"explicit values for '{parameter.name}' are empty")
    return tuple(sorted({parameter.check(value) for value in given}))


def _dimension(parameter: Hyperparameter, values: tuple, origin: str) -> Dimension:
    return Dimension(
        parameter.name,
        parameter.kind,
        parameter.kind(parameter.default),
        parameter.allowed,
        values,
        origin,
    )


def _allowed_kind(parameter: Hyperparameter) -> str:
    """``"range"`` or ``"set"``: the AllowedValues case of a constrained parameter."""
    return "set" if getattr(parameter.allowed, "choices", None) is not None else "range"


def _missing_constraint(parameter: Hyperparameter, optimizer: str | None) -> str:
    message = "DoubleParameter" if parameter.kind is float else "Int64Parameter"
    allowed = "range" if parameter.kind is float else "range or set"
    return (
        f"cannot sweep '{parameter.name}': the model gives it no allowed values (its {message} "
        f"has no AllowedValues), so Core ML accepts any value and there is no {allowed} to "
        f"enumerate. Add one with {ADVICE[parameter.name].format(opt=optimizer or 'sgd')}; or "
        f"pass explicit values (--values {parameter.name}=V1,V2 or "
        f"values={{'{parameter.name}': [...]}}); or leave it out of --params to keep its "
        f"default {parameter.default!r}"
    )
