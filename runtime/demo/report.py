"""Runtime, demo layer: what the demo leaves behind besides the models: a loss-curve PNG and a
Markdown report."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.model.hyperparameters import describe
from runtime.tools.plots import Curve, Panel, save_loss_curves

if TYPE_CHECKING:
    from runtime.demo.flows import UpdateOutcome
    from runtime.demo.records import DemoResult


def _epoch_curves(outcome: UpdateOutcome, with_batches: bool) -> list[Curve]:
    epochs = list(range(1, len(outcome.epoch_losses) + 1))
    curves = []
    if with_batches and outcome.batch_losses:
        per_epoch = len(outcome.batch_losses) / max(1, len(epochs))
        x = [(i + 1) / per_epoch for i in range(len(outcome.batch_losses))]
        curves.append(Curve("mini-batch loss", x, outcome.batch_losses, "faint", color="grey"))
    curves.append(
        Curve(
            "epoch loss (Core ML: last mini-batch)",
            epochs,
            outcome.epoch_losses,
            color="tab:orange",
        )
    )
    curves.append(
        Curve(
            "mean mini-batch loss of the epoch", epochs, outcome.epoch_mean_losses, color="tab:blue"
        )
    )
    return curves


def write_plot(result: DemoResult, path: Path) -> Path:
    """The base model's training (when this run trained it) and the head's fine-tuning."""
    panels = []
    base = result.base_outcome
    if base is not None:
        curves = _epoch_curves(base, with_batches=False)
        if base.validation_accuracy:
            epochs = list(range(1, len(base.validation_accuracy) + 1))
            curves.append(
                Curve(
                    "validation accuracy",
                    epochs,
                    base.validation_accuracy,
                    "dashed",
                    axis="right",
                    color="tab:green",
                )
            )
        panels.append(Panel("Base model: every layer, digits 0..6", curves))
    if result.head is not None:
        panels.append(
            Panel(
                "Fine-tuning the head on the user's drawings",
                _epoch_curves(result.head, with_batches=True),
            )
        )
    return save_loss_curves(path, panels, "coreml-updatable demo: UpdateTask losses")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def accuracy_markdown(table) -> list[str]:
    """The accuracy table as Markdown rows (a class per row, a model per column)."""
    names = list(table.columns)
    lines = [
        "| digit | examples | " + " | ".join(names) + " |",
        "|---|---:|" + "---:|" * len(names),
    ]
    for label in table.classes:
        mark = " (new)" if label in table.new_classes else ""
        cells = [_percent(table.columns[n].get(label)) for n in names]
        lines.append(
            f"| {label}{mark} | {table.counts.get(label, 0)} | " + " | ".join(cells) + " |"
        )
    new_total = sum(table.counts.get(c, 0) for c in table.new_classes)
    new_cells = []
    for name in names:
        correct = sum(
            table.columns[name].get(c, 0.0) * table.counts.get(c, 0) for c in table.new_classes
        )
        new_cells.append(_percent(correct / new_total if new_total else None))
    lines.append(f"| **new digits** | {new_total} | " + " | ".join(new_cells) + " |")
    lines.append(
        f"| **all** | {sum(table.counts.values())} | "
        + " | ".join(f"**{_percent(table.overall[n])}**" for n in names)
        + " |"
    )
    return lines


def _hyperparameters(outcome: UpdateOutcome) -> str:
    return describe(outcome.hyperparameters)


def write_report(result: DemoResult, path: Path) -> Path:
    """A Markdown report of the run beside the files it describes."""
    from updatable import __version__
    from updatable.spec import write_atomic

    options, sizes = result.options, result.split_sizes
    style = options.style
    files = {key: Path(value).name for key, value in result.files.items()}
    lines = [
        "# On-device personalization, simulated",
        "",
        f"coreml-updatable {__version__}, {datetime.now():%Y-%m-%d %H:%M}; "
        f"{'quick mode; ' if options.quick else ''}the run took {result.seconds:.1f} s.",
        "",
        "An app ships a digit classifier that knows 0..6. A user teaches it 7, 8 and 9 with "
        "a few drawings each, in their own hand, and the app updates the model on the device. "
        "This run did every step with Core ML's update-task semantics on the CPU.",
        "",
        "## Data",
        "",
        f"- Source: {result.source}.",
        f"- Base model: {sizes['base_train']:,} clean digits 0..6 for training, "
        f"{sizes['base_validation']} for validation.",
        f"- The user: strokes {style.thickness:+d} px, slant {style.rotation:g}° "
        f"(±{style.jitter:g}°); {sizes['user']} drawings ({options.sizes.user_new} per new "
        f"digit, {options.sizes.user_known} per known digit).",
        f"- Held out: {sizes['held_out']} digits in the user's hand, never trained on.",
        f"- Both are saved as label folders ({files['drawings']}/, {files['held_out']}/), ready "
        "for `updatable train --data` and `updatable evaluate --data`.",
        "",
        "## Accuracy on the held-out digits",
        "",
        *accuracy_markdown(result.table),
        "",
        "An update task sees only the user's data: the new digits are learnt from a few "
        "drawings, and a known digit the user drew only a few times may lose accuracy (the "
        "network forgets what no example reminds it of). The kNN knows only what the user "
        "showed it.",
        "",
        *([f"![losses]({files['plot']})", ""] if "plot" in files else []),
        *_what_happened(result, files),
    ]
    write_atomic("\n".join(lines).encode(), path)
    return path


def _what_happened(result: DemoResult, files: dict[str, str]) -> list[str]:
    """The report's story of the run, step by step, and its note on fidelity."""
    lines = ["## What happened", ""]
    if result.base_outcome is not None:
        base = result.base_outcome
        lines.append(
            f"1. **Base model** ({files['base']}): every layer trained by an UpdateTask "
            f"in {base.seconds:.1f} s ({_hyperparameters(base)}); validation "
            f"accuracy {base.validation_accuracy[-1]:.1%}."
        )
    else:
        lines.append(f"1. **Base model** ({files['base']}): reused from an earlier run.")
    head, knn = result.head, result.knn
    assert head is not None and knn is not None, "the report follows both updates"
    lines += [
        f"2. **Surgery**: {files['classifier']} (the classifier widened to 10 classes, last two "
        f"layers updatable) and {files['knn']} (feature extractor + empty kNN). Validation "
        "with Core ML's rules: "
        + "; ".join(
            f"{v.model}: {len(v.errors)} errors, {len(v.warnings)} warnings"
            for v in result.validations
        )
        + ".",
        f"3. **Fine-tuned head** ({files['updated_classifier']}): {len(head.epoch_losses)} "
        f"epochs in {head.seconds:.2f} s ({_hyperparameters(head)}); last epoch loss "
        f"{head.epoch_losses[-1]:.4f}.",
        f"4. **kNN** ({files['updated_knn']}): {result.split_sizes['user']} drawings embedded "
        f"and added in {knn.seconds:.2f} s.",
        "",
        "## Fidelity",
        "",
        "The updates follow Core ML's `MLUpdateTask`: the model's own hyperparameters, "
        "mini-batches padded to full size, the shuffle order of Core ML's engine, and an "
        "epoch loss that is the last mini-batch's loss (hence the noisy curve; the mean is "
        "drawn beside it). The accuracy columns are measured the way an app would, by "
        "predicting the held-out digits with each model.",
        "",
    ]
    return lines
