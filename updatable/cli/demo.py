"""Command line: ``updatable demo``: on-device personalisation of a digit classifier, start to
finish."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from updatable.cli._common import EXIT_OK, add_out_option, print_json, verb_parser

DEMO_INSTALL = "pip install 'coreml-updatable[demo]'"

EXAMPLES = """
  updatable demo                       # writes ./demo-output (models, loss-curve.png, report.md)
  updatable demo -o /tmp/demo --optimizer adam
  updatable demo --quick --json > demo.json   # the files and accuracies as JSON
  updatable demo --quick               # fewer digits and epochs: a few seconds
  updatable demo --rebuild-base        # train the base model again instead of reusing it
"""

DESCRIPTION = (
    "Tell the whole story of an updatable model on 5,000 real MNIST digits: an app's "
    "classifier for 0..6 (trained here, every layer, with an UpdateTask), surgery that widens "
    "it for the user's digits 7, 8 and 9 and makes it updatable (validated with Core ML's "
    "rules), then two on-device updates from a simulated user's 36 drawings in their own hand "
    "(a fine-tuned network head, and a feature extractor + kNN pipeline), and accuracy per "
    "class before and after on held-out digits. Writes the models, a loss-curve PNG and a "
    "Markdown report to -o/--out. The digits ship with the package. The plot needs matplotlib "
    "and the progress bars rich (pip install 'coreml-updatable[demo]'); without them the "
    "demo says so at the start and still runs."
)


def add_parser(subparsers: Any) -> None:
    """Register the ``demo`` verb."""
    parser = verb_parser(
        subparsers,
        "demo",
        "run the on-device personalisation demo",
        DESCRIPTION,
        EXAMPLES,
        exit_codes={1: "a step of the demo failed (the message says which)"},
    )
    add_out_option(
        parser,
        "output directory (default ./demo-output; created if needed)",
        type=Path,
        default=Path("demo-output"),
        metavar="DIR",
    )
    parser.add_argument("--quick", action="store_true", help="reduced run (fewer digits, epochs)")
    parser.add_argument(
        "--rebuild-base",
        action="store_true",
        help="train the base model even if --out holds one from an earlier run",
    )
    parser.add_argument(
        "--optimizer",
        choices=("sgd", "adam"),
        default="sgd",
        help="optimizer of the fine-tuned head (default sgd)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data split and shuffles")
    parser.add_argument(
        "--digits",
        choices=("auto", "mnist", "sklearn"),
        default="auto",
        help="digits source (default and 'mnist': the MNIST digits shipped with the package; "
        "'sklearn': scikit-learn's 8x8 digits, resized)",
    )
    parser.add_argument("--plain", action="store_true", help="plain text output, no colours")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the files and accuracies as JSON on stdout (docs/cli-json.md); the story "
        "goes to stderr",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo, rendering its events as they come."""
    from runtime.demo import DemoOptions, run_demo
    from updatable.cli._progress import Output

    # with --json, stdout is the JSON document alone: the story goes to stderr
    output = Output(plain=True if args.plain else None, stream=sys.stderr if args.json else None)
    if not args.plain and output.plain_for_want_of_rich:
        output.line(f"Plain output: progress bars need rich ({DEMO_INSTALL}).")
    renderer = DemoRenderer(output)
    options = DemoOptions(
        out=args.out,
        quick=args.quick,
        rebuild_base=args.rebuild_base,
        optimizer=args.optimizer,
        seed=args.seed,
        source=args.digits,
    )
    try:
        run_demo(options, renderer)
    finally:
        renderer.close()
    if args.json:
        print_json(renderer.document())
    return EXIT_OK


class DemoRenderer:
    """Turns the demo's events (:mod:`runtime.demo.events`) into terminal output."""

    def __init__(self, output: Any) -> None:
        self.output = output
        self.display: Any = None
        self.with_accuracy = False
        # what --json reports (docs/cli-json.md, "demo")
        self.accuracy: dict[str, dict[str, float]] = {}
        self.finished: Any = None

    def document(self) -> dict[str, Any]:
        """The ``--json`` document: the output directory, its files and the accuracies."""
        finished = self.finished
        return {
            "out": str(finished.out) if finished else None,
            "seconds": finished.seconds if finished else None,
            "files": {key: str(path) for key, path in finished.files.items()} if finished else {},
            "accuracy": self.accuracy,
        }

    def __call__(self, event: Any) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def close(self) -> None:
        if self.display is not None:
            self.display.__exit__(None, None, None)
            self.display = None

    def _on_Step(self, event: Any) -> None:
        self.output.heading(f"{event.number}/{event.total}  {event.title}", event.detail)

    def _on_Note(self, event: Any) -> None:
        self.output.line(event.text)

    def _on_TrainingStarted(self, event: Any) -> None:
        if event.epochs == 0:
            self.output.line(f"Adding {event.examples} examples to the kNN (one pass)...")
            return
        values = event.hyperparameters
        settings = ", ".join(
            f"{key} {values[key]:g}" if isinstance(values[key], float) else f"{key} {values[key]}"
            for key in ("learningRate", "miniBatchSize", "momentum", "epochs", "seed")
            if key in values
        )
        self.output.line(f"UpdateTask resumed: {event.examples} examples; {settings}", "dim")
        self.with_accuracy = event.flow == "base"
        columns = ["epoch", "loss", "mean loss"] + (["val. acc."] if self.with_accuracy else [])
        title = "base model" if event.flow == "base" else "fine-tuning"
        self.display = self.output.training(
            title, event.epochs * event.batches, "mini-batches", columns
        ).__enter__()

    def _on_MiniBatchEnd(self, event: Any) -> None:
        if self.display is not None:
            self.display.advance()

    def _on_EpochEnd(self, event: Any) -> None:
        from updatable.cli._progress import fmt_loss, fmt_percent

        row = [f"{event.epoch + 1}/{event.epochs}", fmt_loss(event.loss), fmt_loss(event.mean_loss)]
        if self.with_accuracy:
            row.append(fmt_percent(event.validation_accuracy))
        if self.display is not None:
            self.display.row(row)

    def _on_TrainingFinished(self, event: Any) -> None:
        self.close()
        what = "kNN updated" if event.final_loss is None else "completed"
        self.output.line(f"Task {what} in {event.seconds:.2f} s.", "green")

    def _on_Validation(self, event: Any) -> None:
        verdict = "valid" if not event.errors else "INVALID"
        self.output.line(
            f"updatable.validate({event.model}): {verdict} "
            f"({len(event.errors)} errors, {len(event.warnings)} warnings)",
            "green" if not event.errors else "bold red",
        )
        for message in (*event.errors, *event.warnings):
            self.output.line(f"  {message}", "yellow")

    def _on_AccuracyTable(self, event: Any) -> None:
        from updatable.cli._progress import fmt_percent

        self.accuracy[event.title] = {name: float(v) for name, v in event.overall.items()}
        names = list(event.columns)
        rows = []
        for label in event.classes:
            mark = "  (new)" if label in event.new_classes else ""
            cells = [fmt_percent(event.columns[n].get(label), 0) for n in names]
            rows.append([f"{label}{mark}", str(event.counts.get(label, 0)), *cells])
        new_total = sum(event.counts.get(c, 0) for c in event.new_classes)

        def new_accuracy(name: str) -> float:
            hits = sum(
                event.columns[name].get(c, 0.0) * event.counts.get(c, 0) for c in event.new_classes
            )
            return hits / new_total if new_total else 0.0

        rows.append(
            ["new digits", str(new_total), *(fmt_percent(new_accuracy(n), 0) for n in names)]
        )
        rows.append(
            [
                "all",
                str(sum(event.counts.values())),
                *(fmt_percent(event.overall[n], 0) for n in names),
            ]
        )
        self.output.table(
            event.title,
            ["digit", "examples", *names],
            rows,
            bold_rows=(len(rows) - 2, len(rows) - 1),
        )

    def _on_Finished(self, event: Any) -> None:
        self.finished = event
        labels = {
            "base": "base model (0..6)",
            "classifier": "updatable classifier, before the update",
            "knn": "extractor + kNN pipeline, before the update",
            "updated_classifier": "fine-tuned classifier",
            "updated_knn": "kNN pipeline with the user's digits",
            "plot": "loss curves",
            "report": "report",
            "drawings": "the user's drawings, as label folders (for updatable train)",
            "held_out": "held-out digits, as label folders (for updatable evaluate)",
        }
        self.output.heading("Files", f"in {event.out}")
        for key, path in event.files.items():
            self.output.line(f"  {path!s:<45} {labels.get(key, '')}")
        self.output.line("")
        self.output.line(
            f"Done in {event.seconds:.1f} s. Read {event.files.get('report')} for the story, "
            f"or try: updatable inspect {event.files.get('updated_knn')}",
            "bold",
        )
