"""Runtime, sweeps layer: simulated users: each a small personal data set drawn from the sweep's
examples.

A users spec is a ``:``-separated list of settings, each ``<number><unit>`` or ``key=value``::

    20x3classes:5shots:10test:seed=0     20 users; each picks 3 classes, 5 training and 10
                                         held-out examples per class
    users=20:classes=3:shots=5           the same in key=value form (test 10, seed 0 by default)
    8users:40shots:20test                no class structure (e.g. regression): 40 training and
                                         20 held-out examples drawn from all of the data

Drawing is deterministic: user ``i`` uses its own random stream
``numpy.random.default_rng([seed, i])``, so a user is the same whatever the number of users,
the executor or the machine. A user's training and held-out examples never overlap; two users
may draw the same example, as two people may write the same digit alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from updatable.errors import SweepError

DEFAULTS = {"shots": 5, "test": 10, "seed": 0}
_UNITS = {  # accepted unit spellings -> setting
    "users": "users",
    "user": "users",
    "classes": "classes",
    "class": "classes",
    "shots": "shots",
    "shot": "shots",
    "test": "test",
}
_SETTINGS = ("users", "classes", "shots", "test", "seed")
_COUNT_X_CLASSES = re.compile(r"^(\d+)x(\d+)(?:classes|class)$")
_NUMBER_UNIT = re.compile(r"^(-?\d+)([a-z]+)$")


@dataclass(frozen=True)
class UsersSpec:
    """How many users there are and what each draws (see the module docstring).

    ``classes`` is ``None`` when users draw from all examples without class structure; then
    ``shots`` and ``test`` are totals instead of per-class counts.
    """

    users: int
    classes: int | None = None
    shots: int = DEFAULTS["shots"]
    test: int = DEFAULTS["test"]
    seed: int = DEFAULTS["seed"]

    def __post_init__(self) -> None:
        for name in ("users", "shots", "test"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SweepError(f"users spec: '{name}' must be a positive integer; got {value!r}")
        if self.classes is not None and (not isinstance(self.classes, int) or self.classes < 1):
            raise SweepError(
                f"users spec: 'classes' must be a positive integer; got {self.classes!r}"
            )

    @classmethod
    def parse(cls, text: str) -> UsersSpec:
        """Read ``"20x3classes:5shots:10test:seed=0"`` and the other forms above."""
        settings: dict[str, int] = {}
        for token in (t.strip().lower() for t in str(text).split(":")):
            if not token:
                continue
            pairs = _token_settings(token, text)
            for name, value in pairs:
                if name in settings:
                    raise SweepError(f"users spec {text!r}: '{name}' is given twice")
                settings[name] = value
        if "users" not in settings:
            raise SweepError(
                f"users spec {text!r} does not say how many users; start it with e.g. "
                "'20x3classes' or '20users' (or users=20)"
            )
        return cls(**settings)

    def __str__(self) -> str:
        head = f"{self.users}x{self.classes}classes" if self.classes else f"{self.users}users"
        return f"{head}:{self.shots}shots:{self.test}test:seed={self.seed}"


@dataclass(frozen=True)
class User:
    """One simulated user: its classes (empty without class structure) and example indices."""

    index: int
    classes: tuple
    train: tuple[int, ...]
    test: tuple[int, ...]


def draw_users(spec: UsersSpec, labels: np.ndarray) -> list[User]:
    """Draw every user of ``spec`` from a data set with these ``labels`` (one per example).

    Raises:
        SweepError: more classes asked than the data has, or a class with too few examples for
            ``shots + test``.
    """
    if spec.classes is None:
        return [_draw_unstructured(spec, i, len(labels)) for i in range(spec.users)]
    if labels.ndim != 1:
        raise SweepError(
            f"users spec {spec}: drawing by class needs one label per example; the data has "
            f"targets of shape {labels.shape[1:]}: use '{spec.users}users:...' without classes"
        )
    classes, counts = np.unique(labels, return_counts=True)
    if spec.classes > len(classes):
        raise SweepError(
            f"users spec {spec}: each user needs {spec.classes} classes but the data has only "
            f"{len(classes)}: {[_plain(c) for c in classes]}"
        )
    need = spec.shots + spec.test
    short = [(_plain(c), int(n)) for c, n in zip(classes, counts, strict=True) if n < need]
    if short:
        raise SweepError(
            f"users spec {spec}: every class needs {need} examples ({spec.shots} shots + "
            f"{spec.test} test); these have fewer: {short}"
        )
    members = {c: np.flatnonzero(labels == c) for c in classes.tolist()}
    return [_draw_by_class(spec, i, classes, members) for i in range(spec.users)]


def _draw_by_class(spec: UsersSpec, index: int, classes, members) -> User:
    rng = np.random.default_rng([spec.seed, index])
    chosen = sorted(rng.choice(len(classes), size=spec.classes, replace=False).tolist())
    train, test = [], []
    for position in chosen:
        pool = members[classes[position].item()]
        picked = rng.choice(pool, size=spec.shots + spec.test, replace=False)
        train += picked[: spec.shots].tolist()
        test += picked[spec.shots :].tolist()
    return User(index, tuple(_plain(classes[p]) for p in chosen), tuple(train), tuple(test))


def _draw_unstructured(spec: UsersSpec, index: int, count: int) -> User:
    if spec.shots + spec.test > count:
        raise SweepError(
            f"users spec {spec}: each user needs {spec.shots + spec.test} examples; the data "
            f"has {count}"
        )
    rng = np.random.default_rng([spec.seed, index])
    picked = rng.choice(count, size=spec.shots + spec.test, replace=False).tolist()
    return User(index, (), tuple(picked[: spec.shots]), tuple(picked[spec.shots :]))


def _token_settings(token: str, text: str) -> list[tuple[str, int]]:
    if "=" in token:
        name, _, value = token.partition("=")
        name = _UNITS.get(name.strip(), name.strip())
        if name not in _SETTINGS:
            raise SweepError(
                f"users spec {text!r}: unknown setting {name!r}; settings: {list(_SETTINGS)}"
            )
        return [(name, _integer(value, name, text))]
    match = _COUNT_X_CLASSES.match(token)
    if match:
        return [("users", int(match.group(1))), ("classes", int(match.group(2)))]
    match = _NUMBER_UNIT.match(token)
    if match and match.group(2) in _UNITS:
        return [(_UNITS[match.group(2)], int(match.group(1)))]
    raise SweepError(
        f"users spec {text!r}: cannot read {token!r}; expected e.g. '20x3classes', '20users', "
        "'5shots', '10test' or 'seed=0' (see `updatable sweep --help`)"
    )


def _integer(value: str, name: str, text: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise SweepError(
            f"users spec {text!r}: '{name}' must be an integer; got {value!r}"
        ) from None


def _plain(value):
    """A numpy scalar as the Python value (labels end up in JSON reports)."""
    return value.item() if isinstance(value, np.generic) else value
