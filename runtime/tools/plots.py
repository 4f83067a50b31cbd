"""Runtime, tools layer: loss curves as PNG files (matplotlib, drawn off-screen).

A figure is built with matplotlib's object API on the Agg canvas, so nothing touches the
global ``pyplot`` state or needs a display, and the PNG is written atomically. matplotlib is
an optional dependency (the ``demo`` extra): callers ask :func:`missing_plot_dependency`
before any work starts (the demo then skips its plot, ``updatable train --plot`` refuses to
start), and without it :func:`save_loss_curves` raises
:class:`~updatable.errors.MissingDependencyError` saying how to install it.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from updatable.errors import MissingDependencyError

STYLES = ("line", "faint", "dashed", "points")
PLOT_INSTALL = "pip install 'coreml-updatable[demo]'"
MISSING_MATPLOTLIB = (
    f"plots need matplotlib, which is not installed; install it with `{PLOT_INSTALL}` "
    "(or `pip install matplotlib`)"
)


def missing_plot_dependency() -> str | None:
    """Why plots cannot be drawn here (matplotlib is not installed), or ``None`` when they can.

    Looks the package up without importing it, so asking costs nothing before a long run.
    """
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken install or a stubbed sys.modules entry
        found = False
    return None if found else MISSING_MATPLOTLIB


@dataclass(frozen=True)
class Curve:
    """One series: ``label``, ``x`` and ``y`` values, and a ``style`` from :data:`STYLES`
    (``faint`` for noisy mini-batch losses under the epoch curves). ``axis="right"`` draws
    it against a second y axis (e.g. an accuracy beside a loss)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    style: str = "line"
    axis: str = "left"
    color: str | None = None  # a matplotlib colour; default: the next of the cycle


@dataclass(frozen=True)
class Panel:
    """One chart of a figure."""

    title: str
    curves: Sequence[Curve]
    xlabel: str = "epoch"
    ylabel: str = "loss"
    right_label: str = "accuracy"
    log_scale: bool = False


def _draw(axes, panel: Panel) -> None:
    from matplotlib.ticker import MaxNLocator

    right = None
    for curve in panel.curves:
        target = axes
        if curve.axis == "right":
            right = right or axes.twinx()
            target = right
        # the right axis has its own colour cycle: explicit colours keep curves apart
        color = {"color": curve.color} if curve.color else {}
        if curve.style == "faint":
            target.plot(curve.x, curve.y, linewidth=0.8, alpha=0.4, label=curve.label, **color)
        elif curve.style == "points":
            target.plot(curve.x, curve.y, "o", markersize=4, label=curve.label, **color)
        else:
            line = "--" if curve.style == "dashed" else "-"
            target.plot(
                curve.x, curve.y, line, linewidth=1.8, marker=".", label=curve.label, **color
            )
    axes.set_title(panel.title, fontsize=10)
    axes.set_xlabel(panel.xlabel)
    axes.set_ylabel(panel.ylabel)
    if panel.log_scale:
        axes.set_yscale("log")
    else:
        axes.set_ylim(bottom=0)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    if right is not None:
        right.set_ylabel(panel.right_label)
        extra_handles, extra_labels = right.get_legend_handles_labels()
        handles, labels = handles + extra_handles, labels + extra_labels
    if handles:
        axes.legend(handles, labels, fontsize=8, loc="best")


def render_png(panels: Sequence[Panel], title: str = "") -> bytes:
    """The panels side by side as PNG bytes."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(MISSING_MATPLOTLIB) from None
    figure = Figure(figsize=(5.2 * len(panels), 3.8), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    for index, panel in enumerate(panels, start=1):
        _draw(figure.add_subplot(1, len(panels), index), panel)
    if title:
        figure.suptitle(title, fontsize=11)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def save_loss_curves(path: str | Path, panels: Sequence[Panel], title: str = "") -> Path:
    """Draw ``panels`` and write them to ``path`` as a PNG (atomically); returns the path."""
    from updatable.spec import write_atomic

    path = Path(path)
    write_atomic(render_png(panels, title), path)
    return path
