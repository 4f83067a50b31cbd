"""The heat map of a sweep: one column per value of the first swept parameter (the learning
rate, or k for a kNN), one row per combination of the others, two panels (the median user and
the worst user). Cells are coloured by held-out accuracy (or loss, for models without
accuracy) and marked with their flags: DIV diverged, FAIL failed, LOW underperforming, dom
dominated."""

from __future__ import annotations

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
    swept = table.space.swept
    if not swept or not table.summaries:
        return None
    columns_dim, row_dims = swept[0], swept[1:]
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
    height = 1.2 + 0.42 * len(row_keys)
    figure, axes = plt.subplots(1, 2, figsize=(3 + 1.4 * len(columns) * 2, height), squeeze=False)
    cmap = "viridis" if accuracy else "viridis_r"
    finite = np.concatenate([median[np.isfinite(median)], worst[np.isfinite(worst)]])
    limits = (0.0, 1.0) if accuracy or not finite.size else (finite.min(), finite.max())
    for axis, values, title in (
        (axes[0, 0], median, "median user"),
        (axes[0, 1], worst, "worst user"),
    ):
        image = axis.imshow(values, cmap=cmap, vmin=limits[0], vmax=limits[1], aspect="auto")
        axis.set_xticks(range(len(columns)), [f"{v:g}" for v in columns], rotation=45)
        axis.set_yticks(range(len(row_keys)), labels)
        axis.set_xlabel(columns_dim.name)
        metric = "held-out accuracy" if accuracy else "held-out loss"
        axis.set_title(f"{metric}, {title}")
        for r in range(len(row_keys)):
            for c in range(len(columns)):
                value = values[r, c]
                text = "" if np.isnan(value) else f"{value:.2f}"
                # dark text on the bright end of viridis, light text elsewhere
                share = (value - limits[0]) / ((limits[1] - limits[0]) or 1.0)
                bright = not np.isnan(value) and (share > 0.6 if accuracy else share < 0.4)
                axis.text(
                    c,
                    r,
                    f"{text}\n{marks[r][c]}".strip(),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if bright or np.isnan(value) else "white",
                )
        figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    write_atomic(buffer.getvalue(), path)
    return path
