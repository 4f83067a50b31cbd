"""Runtime, sweeps layer: the heat map of a sweep: one column per value of the first swept
parameter (the learning rate, or k for a kNN), one row per combination of the others, two panels
(the median user and the worst user). Cells are coloured by held-out accuracy (or loss, for models
without accuracy) and marked with their flags: DIV diverged, FAIL failed, LOW underperforming, dom
dominated."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.sweeps.summary import FLAG_MARKS
from updatable.spec import write_atomic


def write_heatmap(table, path: Path) -> Path | None:
    """Draw the heat map of ``table`` into ``path`` (atomically); ``None`` without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never open a window
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    if not table.space.swept or not table.summaries:
        return None
    grid = _Grid.of(table)
    height = 1.2 + 0.42 * len(grid.row_keys)
    figure, axes = plt.subplots(
        1, 2, figsize=(3 + 1.4 * len(grid.columns) * 2, height), squeeze=False
    )
    finite = np.concatenate(
        [grid.median[np.isfinite(grid.median)], grid.worst[np.isfinite(grid.worst)]]
    )
    limits = (0.0, 1.0) if grid.accuracy or not finite.size else (finite.min(), finite.max())
    for axis, values, title in (
        (axes[0, 0], grid.median, "median user"),
        (axes[0, 1], grid.worst, "worst user"),
    ):
        image = _panel(axis, grid, values, limits)
        metric = "held-out accuracy" if grid.accuracy else "held-out loss"
        axis.set_title(f"{metric}, {title}")
        figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_atomic(buffer.getvalue(), path)
    return path


@dataclass
class _Grid:
    """The summaries laid out as cells: the first swept parameter across, the others down."""

    columns_name: str
    columns: list
    row_keys: list[tuple]
    labels: list[str]
    median: np.ndarray
    worst: np.ndarray
    marks: list[list[str]]
    accuracy: bool  # cells hold held-out accuracy (else held-out loss)

    @classmethod
    def of(cls, table) -> _Grid:
        columns_dim, row_dims = table.space.swept[0], table.space.swept[1:]
        columns = list(columns_dim.values)
        row_keys = list(
            dict.fromkeys(tuple(s.combination[d.name] for d in row_dims) for s in table.summaries)
        )
        accuracy = any(s.test_accuracy is not None for s in table.summaries)
        median = np.full((len(row_keys), len(columns)), np.nan)
        worst = np.full_like(median, np.nan)
        marks = [["" for _ in columns] for _ in row_keys]
        for s in table.summaries:
            r = row_keys.index(tuple(s.combination[d.name] for d in row_dims))
            c = columns.index(s.combination[columns_dim.name])
            stats = s.test_accuracy if accuracy else s.test_loss
            if stats is not None:
                median[r, c] = stats.median
                worst[r, c] = stats.min if accuracy else stats.max
            marks[r][c] = " ".join(FLAG_MARKS[f] for f in s.flags)
        labels = [
            ", ".join(f"{d.name}={v:g}" for d, v in zip(row_dims, key, strict=True)) or "all"
            for key in row_keys
        ]
        return cls(columns_dim.name, columns, row_keys, labels, median, worst, marks, accuracy)


def _panel(axis, grid: _Grid, values: np.ndarray, limits: tuple):
    """One heat map: the cells' values with their flags written in them."""
    cmap = "viridis" if grid.accuracy else "viridis_r"
    image = axis.imshow(values, cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto")
    axis.set_xticks(range(len(grid.columns)), [f"{v:g}" for v in grid.columns], rotation=45)
    axis.set_yticks(range(len(grid.row_keys)), grid.labels)
    axis.set_xlabel(grid.columns_name)
    for r in range(len(grid.row_keys)):
        for c in range(len(grid.columns)):
            value = values[r, c]
            text = "" if np.isnan(value) else f"{value:.2f}"
            # dark text on the bright end of viridis, light text elsewhere
            share = (value - limits[0]) / ((limits[1] - limits[0]) or 1.0)
            bright = not np.isnan(value) and (share > 0.6 if grid.accuracy else share < 0.4)
            axis.text(
                c,
                r,
                f"{text}\n{grid.marks[r][c]}".strip(),
                ha="center",
                va="center",
                fontsize=7,
                color="black" if bright or np.isnan(value) else "white",
            )
    return image
