"""Runtime, neural-network layer: the contract every layer unit fulfils (see docs/ARCHITECTURE.md,
"Layer units")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# A per-example blob shape inside the runtime: (H, W, C). Core ML writes it [C, H, W].
Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Built:
    """What ``LayerKind.build`` returns for one layer of a spec."""

    attrs: Any
    params: dict[str, np.ndarray]
    out_shapes: list[Shape]


@dataclass(frozen=True)
class LayerKind:
    """One Core ML layer kind: build from the proto, forward, and (optionally) backward."""

    oneof: str
    build: Callable[[Any, list[Shape]], Built]
    forward: Callable[..., tuple[list[np.ndarray], Any]]
    backward: Callable[..., tuple[list[np.ndarray | None], dict[str, np.ndarray]]] | None = None
    export: Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    import_: Callable[[Any, dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    # for the kinds that change a tensor's rank (squeeze, expandDims): ``(layer, in_shapes,
    # in_ranks) -> (Built, out_ranks)``; every other kind keeps its first input's rank
    ranked_build: Callable[[Any, list[Shape], list[int]], tuple[Built, list[int]]] | None = None


@dataclass
class Step:
    """A compiled layer in a network plan; ``params`` is replaced by training, never mutated."""

    name: str
    kind: LayerKind
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: Any
    params: dict[str, np.ndarray] = field(default_factory=dict)
