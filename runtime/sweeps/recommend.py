"""Runtime, sweeps layer: A tighter constraint set that keeps only combinations that trained well,
and ``--apply``.

The recommendation is the largest sub-grid of the swept values (most combinations kept) in
which no combination is flagged bad (diverged, failed or underperforming; see
:mod:`runtime.sweeps.summary`); among equally large ones, the one keeping the most defaults. A
range may only shrink to a contiguous part of its grid, so it stays a range: ``learningRate``
``[0, 1]`` may become ``[0, 0.01]``; a set may lose any elements. The new bounds are grid
values that were tested, never interpolated. A default that is no longer allowed moves to the
nearest retained value. Small grids are searched exhaustively; beyond ``EXACT_LIMIT``
candidate sub-grids the values are dropped greedily, one at a time.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from runtime.sweeps.space import Dimension, SweepSpace, combination_key
from runtime.sweeps.summary import CombinationSummary
from updatable import proto
from updatable.params import DoubleParam, IntParam

EXACT_LIMIT = 50_000  # candidate sub-grids searched exhaustively
MAX_SET_SEARCH = 12  # a larger allowed set is tightened greedily
POSITIVE = frozenset({"miniBatchSize", "epochs", "numberOfNeighbors"})
_FIELDS = {  # Core ML name -> set_optimizer argument
    "learningRate": "learning_rate",
    "miniBatchSize": "mini_batch_size",
    "momentum": "momentum",
    "beta1": "beta1",
    "beta2": "beta2",
    "eps": "eps",
}


@dataclass
class Recommendation:
    """What to change: new constraints by parameter name, readable lines, and leftovers.

    ``constraints`` holds an :class:`IntParam` / :class:`DoubleParam` for every parameter
    whose allowed values should change; ``unresolved`` lists bad combinations no tightening
    removes (every swept parameter is down to one value).
    """

    constraints: dict[str, IntParam | DoubleParam] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    summary: str = ""
    unresolved: list[str] = field(default_factory=list)

    def apply(self, spec: proto.Model) -> proto.Model:
        """A validated copy of ``spec`` with the recommended constraints.

        Raises:
            ValidationError: the result would not pass Core ML's validator.
        """
        import updatable
        from updatable.edit.nested import KNN_TYPES, locate
        from updatable.spec import NEURAL_NETWORK_TYPES, model_type, network

        result = proto.Model()
        result.CopyFrom(spec)
        head, _ = locate(result, NEURAL_NETWORK_TYPES + KNN_TYPES, "apply")
        if model_type(head) in KNN_TYPES:
            if "numberOfNeighbors" in self.constraints:
                updatable.set_number_of_neighbors(result, self.constraints["numberOfNeighbors"])
        else:
            update = network(head).updateParams
            which = update.optimizer.WhichOneof("OptimizerType")
            current = getattr(update.optimizer, which)
            arguments = {}
            for name, argument in _FIELDS.items():
                if not any(f.name == name for f in current.DESCRIPTOR.fields):
                    continue
                message = getattr(current, name)
                arguments[argument] = self.constraints.get(name) or (
                    IntParam.from_proto(message, name=name, positive=True)
                    if name == "miniBatchSize"
                    else DoubleParam.from_proto(message, name=name)
                )
            updatable.set_optimizer(result, which.removesuffix("Optimizer"), **arguments)
            if "epochs" in self.constraints:
                updatable.set_epochs(result, self.constraints["epochs"])
        updatable.check(result)
        return result


def recommend(space: SweepSpace, summaries: list[CombinationSummary]) -> Recommendation:
    """The widest constraint set within the swept grid whose combinations all trained well."""
    status = {s.key: s for s in summaries}
    retained = _search(space, status)
    dropped: dict[str, list[tuple]] = {}
    for dimension in space.swept:
        for value in dimension.values:
            if value not in retained[dimension.name]:
                holding = [s for s in summaries if s.combination[dimension.name] == value]
                dropped.setdefault(dimension.name, []).append((value, _reason(holding)))
    unresolved = [k for k in _retained(space, retained) if k in status and status[k].bad]
    result = Recommendation(unresolved=unresolved)
    parts = []
    for dimension in space.swept:
        if dimension.name not in dropped:
            result.lines.append(
                f"{dimension.name}: keep {dimension.allowed_text()} "
                f"(every swept value trained well)"
            )
            continue
        constraint = _constraint(
            dimension, retained[dimension.name], [v for v, _ in dropped[dimension.name]]
        )
        result.constraints[dimension.name] = constraint
        why = "; ".join(f"{v!r}: {reason}" for v, reason in sorted(dropped[dimension.name]))
        result.lines.append(
            f"{dimension.name}: {dimension.allowed_text()} -> "
            f"{_allowed_text(constraint)}, default {constraint.default!r} "
            f"(dropped {why})"
        )
        if constraint.range is not None:
            parts.append(
                f"{dimension.name} range [{constraint.range[0]:g}, {constraint.range[1]:g}]"
            )
        else:
            gone = sorted(set(_set_values(dimension)) - set(getattr(constraint, "choices", ())))
            parts.append(f"drop {dimension.name} {', '.join(str(v) for v in gone)}")
        if constraint.default != dimension.default:
            parts.append(f"default {dimension.name} {constraint.default!r}")
    for dimension in space.held:
        result.lines.append(
            f"{dimension.name}: not swept (held at {dimension.default!r}; "
            f"allowed {dimension.allowed_text()})"
        )
    if result.unresolved:
        result.lines.append(f"still bad with one value left per parameter: {result.unresolved}")
    result.summary = "; ".join(parts) if parts else "keep the model's constraints"
    return result


def _search(space: SweepSpace, status: dict) -> dict[str, list]:
    """Retained values per swept parameter: the largest sub-grid (ranges stay contiguous)
    with no bad combination, preferring sub-grids that keep the defaults; searched
    exhaustively when small enough, else greedily."""
    dimensions = space.swept
    found = [_options(d) for d in dimensions]
    options = [o for o in found if o is not None]
    if len(options) == len(found) and math.prod(map(len, options)) <= EXACT_LIMIT:
        bad = [tuple(s.combination[d.name] for d in dimensions) for s in status.values() if s.bad]
        choices = sorted(
            itertools.product(*options),
            key=lambda choice: (
                -math.prod(map(len, choice)),
                -sum(d.default in c for d, c in zip(dimensions, choice, strict=True)),
            ),
        )
        for choice in choices:
            kept = [set(c) for c in choice]
            if not any(all(v in k for v, k in zip(b, kept, strict=True)) for b in bad):
                return {d.name: list(c) for d, c in zip(dimensions, choice, strict=True)}
        return {d.name: list(d.values) for d in dimensions}  # nothing is clean
    return _greedy(space, status)


def _options(dimension: Dimension) -> list[tuple] | None:
    """Candidate retained values: sub-intervals of a range's grid, subsets of a set (None
    when a set is too large to enumerate)."""
    values = list(dimension.values)
    if dimension.set_values:
        if len(values) > MAX_SET_SEARCH:
            return None
        return [
            c for size in range(1, len(values) + 1) for c in itertools.combinations(values, size)
        ]
    return [tuple(values[i : j + 1]) for i in range(len(values)) for j in range(i, len(values))]


def _greedy(space: SweepSpace, status: dict) -> dict[str, list]:
    """Drop one value at a time, the one with the largest share of bad combinations among
    the retained ones holding it (ties: more bad ones, not the default, farther from it)."""
    retained = {d.name: list(d.values) for d in space.swept}
    while True:
        current = _retained(space, retained)
        bad = {k for k in current if k in status and status[k].bad}
        candidates = []
        for dimension in space.swept:
            values = retained[dimension.name]
            if len(values) < 2 or not bad:
                continue
            ends = values if dimension.set_values else [values[0], values[-1]]
            for value in dict.fromkeys(ends):
                keys = [k for k, c in current.items() if c[dimension.name] == value]
                bad_here = sum(k in bad for k in keys)
                if bad_here:
                    candidates.append(
                        (
                            bad_here / len(keys),
                            bad_here,
                            value != dimension.default,
                            _distance(value, dimension.default),
                            dimension.name,
                            value,
                        )
                    )
        if not candidates:
            return retained
        best = max(candidates, key=lambda c: c[:4])
        retained[best[4]].remove(best[5])


def _retained(space: SweepSpace, retained: dict[str, list]) -> dict[str, dict]:
    """Combinations whose every value is still retained, by key."""
    return {
        combination_key(combination): combination
        for combination in space.combinations()
        if all(combination[name] in values for name, values in retained.items())
    }


def _distance(value, default) -> float:
    if value > 0 and default > 0:
        return abs(math.log(value) - math.log(default))
    return abs(value - default)


def _reason(holding: list[CombinationSummary]) -> str:
    """Why a value went, from every combination holding it."""
    users = sum(s.users for s in holding)
    diverged = sum(s.diverged for s in holding)
    failed = sum(s.failed for s in holding)
    under = sum("underperforming" in s.flags for s in holding)
    parts = [
        f"diverged in {diverged} of {users} user updates" if diverged else "",
        f"failed in {failed} of {users} user updates" if failed else "",
        f"underperforming in {under} of {len(holding)} combinations" if under else "",
    ]
    return ", ".join(p for p in parts if p) or "only in combinations with other bad values"


def _constraint(dimension: Dimension, kept: list, gone: list) -> IntParam | DoubleParam:
    default = dimension.default
    name = dimension.name
    if dimension.set_values:
        values = [v for v in _set_values(dimension) if v not in gone]
        if default not in values:
            default = min(kept, key=lambda v: _distance(v, dimension.default))
        return IntParam(int(default), choices=tuple(values), positive=name in POSITIVE, name=name)
    low, high = min(kept), max(kept)
    if not low <= default <= high:
        default = min(kept, key=lambda v: _distance(v, dimension.default))
    if dimension.kind is int:
        return IntParam(int(default), range=(low, high), positive=name in POSITIVE, name=name)
    return DoubleParam(default, range=(low, high), name=name)


def _set_values(dimension: Dimension) -> list:
    """A set parameter's allowed values (untested ones too, when values were explicit)."""
    return [dimension.kind(v) for v in dimension.set_values] or list(dimension.values)


def _allowed_text(param: IntParam | DoubleParam) -> str:
    if param.range is not None:
        return f"range [{param.range[0]:g}, {param.range[1]:g}]"
    return "set {" + ", ".join(str(v) for v in getattr(param, "choices", ())) + "}"
