"""Runtime, demo layer: the personalisation story, start to finish: :func:`run_demo`.

1. **Data**: real MNIST digits, split into base, user and held-out parts; the user's and the
   held-out digits are redrawn in the user's hand (:mod:`runtime.demo.user`).
2. **Base model**: a classifier for 0..6 trained with an ``UpdateTask`` over every layer
   (:mod:`runtime.demo.base`), kept in the output directory and reused by later runs.
3. **Surgery**: widened to ten classes with its last layers updatable, and cut into a
   feature extractor + empty kNN pipeline; both validated with Core ML's rules
   (:mod:`runtime.demo.surgery`).
4. **Update 1**: the network head fine-tuned on the user's drawings, events streaming.
5. **Update 2**: the user's drawings added to the kNN.
6. **Results**: accuracy per class before and after on the held-out digits; the models,
   a loss-curve PNG (when matplotlib is installed: checked before any work, the plot is
   skipped with a note otherwise) and a Markdown report in the output directory.

Nothing here prints: every step is reported through ``emit`` (:mod:`runtime.demo.events`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from runtime.demo import base as base_model
from runtime.demo import surgery, user
from runtime.demo.events import AccuracyTable, Finished, Note, Step, Validation
from runtime.demo.flows import Emit, image_provider, run_update, update_knn
from runtime.demo.records import DEFAULT_OPTIONS, DemoOptions, DemoResult
from updatable import proto

STEPS = 6
FILES = {
    "base": "MNISTBase.mlmodel",
    "classifier": "PersonalizableClassifier.mlmodel",
    "knn": "PersonalizableKNN.mlmodel",
    "updated_classifier": "UpdatedClassifier.mlmodel",
    "updated_knn": "UpdatedKNN.mlmodel",
    "plot": "loss-curve.png",
    "report": "report.md",
    "drawings": "drawings",
    "held_out": "held-out",
}
COLUMNS = ("base model", "fine-tuned head", "kNN")
NEW = tuple(str(d) for d in user.NEW_CLASSES)  # the digits the user teaches

if TYPE_CHECKING:
    from runtime.tools.datasets import Digits


def _validate(spec: proto.Model, name: str, emit: Emit) -> Validation:
    import updatable

    issues = updatable.validate(spec)
    result = Validation(
        name,
        tuple(f"{i.code} {i.where}: {i.message}" for i in issues if i.severity == "error"),
        tuple(f"{i.code} {i.where}: {i.message}" for i in issues if i.severity != "error"),
    )
    emit(result)
    if result.errors:  # the demo's own surgery must give valid models
        updatable.check(spec)
    return result


def _base(options: DemoOptions, digits, parts, emit: Emit):
    """The cached base model if its recipe matches, else a newly trained one."""
    import updatable

    path = options.out / FILES["base"]
    train = parts.base_train
    wanted = base_model.recipe(digits.source, options.base_epochs, len(train), options.seed)
    if path.exists() and not options.rebuild_base:
        cached = updatable.load(path)
        if base_model.recipe_of(cached) == wanted:
            emit(
                Note(
                    f"Reusing the base model in {path} (trained by an earlier run; "
                    "--rebuild-base trains it again)."
                )
            )
            return cached, None, True
    emit(
        Note(
            f"Training every layer on {len(train):,} clean digits 0..6 with an UpdateTask "
            f"({options.base_epochs} epochs, Adam); accuracy on {len(parts.base_validation)} "
            "validation digits after each epoch."
        )
    )
    spec, outcome, _ = base_model.train_base(
        digits.images[train],
        digits.labels[train],
        digits.images[parts.base_validation],
        digits.labels[parts.base_validation],
        epochs=options.base_epochs,
        source=digits.source,
        seed=options.seed,
        emit=emit,
    )
    updatable.save(spec, path)
    return spec, outcome, False


def _accuracy_table(models: dict, images, truth, new: tuple[str, ...]) -> AccuracyTable:
    from runtime.tools.evaluation import evaluate, label_order

    examples = [{base_model.IMAGE: image} for image in images]
    columns, overall, counts = {}, {}, {}
    for name, model in models.items():
        result = evaluate(model, examples, truth)
        columns[name], overall[name] = result.class_accuracy(), result.accuracy
        counts = result.class_counts()
    classes = label_order(truth)
    return AccuracyTable(
        "Accuracy on held-out digits in the user's hand", classes, columns, counts, new, overall
    )


def run_demo(options: DemoOptions = DEFAULT_OPTIONS, emit: Emit = lambda event: None) -> DemoResult:
    """Run the whole story (see the module docstring) and return what it measured.

    Raises:
        MissingDependencyError: ``source`` is ``"sklearn"`` and scikit-learn is not installed.
        ModelFileError: the output directory cannot be written.
    """
    from runtime.demo.report import write_plot, write_report
    from runtime.model.mlmodel import Model
    from runtime.tools.plots import missing_plot_dependency

    started = time.perf_counter()
    surgery.optimizer_settings(options.optimizer)  # refuse a bad optimizer before any work
    options.out.mkdir(parents=True, exist_ok=True)

    # the plot is the one optional output: say so now, not after the training
    no_plot = missing_plot_dependency()
    if no_plot is not None:
        emit(Note(f"No {FILES['plot']} this run: {no_plot}."))
    emit(Step(1, STEPS, "The data", "Real handwritten digits, and a simulated user"))
    data = _the_data(options, emit)
    emit(Step(2, STEPS, "The app's model", "A classifier for the digits 0..6"))
    base, base_outcome, reused = _base(options, data.digits, data.parts, emit)
    parts = data.parts
    result = DemoResult(
        options,
        data.digits.source,
        {k: len(getattr(parts, k)) for k in ("base_train", "base_validation", "user", "held_out")},
        not reused,
        base_outcome,
    )
    for key in ("base", "drawings", "held_out"):
        result.files[key] = options.out / FILES[key]

    emit(Step(3, STEPS, "Surgery", "Make room for the user's digits, and make it learn"))
    classifier, knn = _surgery(options, base, result, emit)
    _updates(data, (classifier, knn), result, emit)

    emit(Step(6, STEPS, "Results", "Accuracy per class, before and after the updates"))
    assert result.head is not None and result.knn is not None, "both updates ran"
    models = {
        COLUMNS[0]: Model.load(base),
        COLUMNS[1]: Model.load(result.head.spec),
        COLUMNS[2]: Model.load(result.knn.spec),
    }
    result.table = _accuracy_table(models, data.held_images, data.held_truth, NEW)
    emit(result.table)
    if no_plot is None:
        result.files["plot"] = write_plot(result, options.out / FILES["plot"])
    result.seconds = time.perf_counter() - started
    result.files["report"] = write_report(result, options.out / FILES["report"])
    emit(Finished(options.out, dict(result.files), result.seconds))
    return result


@dataclass
class _Data:
    """The digits, their split, and the user's drawings and held-out digits in their hand."""

    digits: Digits
    parts: user.Split
    user_images: np.ndarray
    user_labels: list[str]
    held_images: np.ndarray
    held_truth: list[str]


def _the_data(options: DemoOptions, emit: Emit) -> _Data:
    """Step 1: the digits, the simulated user's drawings and held-out digits, saved as label
    folders."""
    from runtime.tools.datasets import load_digits

    digits = load_digits(options.source)
    parts = user.split(digits, options.sizes, options.seed)
    rng = np.random.default_rng(options.seed + 1)
    user_images = options.style.apply(digits.images[parts.user], rng)
    held_images = options.style.apply(digits.images[parts.held_out], rng)
    user_labels = [str(v) for v in digits.labels[parts.user]]
    held_truth = [str(v) for v in digits.labels[parts.held_out]]
    for key, images, indices in (
        ("drawings", user_images, parts.user),
        ("held_out", held_images, parts.held_out),
    ):
        folder = options.out / FILES[key]
        user.write_image_folders(images, digits.labels[indices], folder, indices)
    emit(Note(f"{digits.source}."))
    emit(
        Note(
            f"The user writes with strokes {options.style.thickness:+d} px thicker and a "
            f"{options.style.rotation:g}° slant (±{options.style.jitter:g}°). They draw "
            f"{options.sizes.user_new} of each new digit ({', '.join(NEW)}) and "
            f"{options.sizes.user_known} of each known one: {len(user_labels)} drawings."
        )
    )
    emit(
        Note(
            f"{len(held_truth)} held-out digits ({options.sizes.held_out} per class, in the "
            "user's hand) measure accuracy; no model trains on them."
        )
    )
    return _Data(digits, parts, user_images, user_labels, held_images, held_truth)


def _surgery(options: DemoOptions, base, result: DemoResult, emit: Emit):
    """Step 3: the personalizable classifier and the kNN pipeline, validated and saved."""
    import updatable

    classifier = surgery.personalizable_classifier(
        base, NEW, options.optimizer, options.head_epochs, options.seed
    )
    knn = surgery.knn_pipeline(base)
    emit(
        Note(
            f"Widened '{base_model.HEAD}' to 10 classes (new weights zero), made "
            f"{' and '.join(surgery.HEAD_LAYERS)} updatable: cross-entropy, "
            f"{options.optimizer.upper()}, {options.head_epochs} epochs."
        )
    )
    result.validations.append(_validate(classifier, FILES["classifier"], emit))
    emit(
        Note(
            f"Cut the network at its {base_model.HIDDEN}-d penultimate layer and added an "
            f"empty updatable {surgery.KNN_NEIGHBORS}-nearest-neighbours classifier."
        )
    )
    result.validations.append(_validate(knn, FILES["knn"], emit))
    for key, spec in (("classifier", classifier), ("knn", knn)):
        updatable.save(spec, options.out / FILES[key])
        result.files[key] = options.out / FILES[key]
    return classifier, knn


def _updates(data: _Data, models: tuple, result: DemoResult, emit: Emit) -> None:
    """Steps 4 and 5: the two update tasks on the user's drawings, their models saved."""
    import updatable

    classifier, knn = models
    emit(
        Step(
            4,
            STEPS,
            "Update 1: fine-tune the network head",
            f"An UpdateTask on the user's {len(data.user_labels)} drawings",
        )
    )
    drawings = image_provider(data.user_images, data.user_labels)
    result.head = run_update(classifier, drawings, "head", emit)
    emit(
        Step(
            5,
            STEPS,
            "Update 2: teach the kNN",
            "The same drawings through the feature extractor into the kNN (one pass)",
        )
    )
    drawings = image_provider(data.user_images, data.user_labels)
    result.knn = update_knn(knn, drawings, "knn", emit)
    for key, outcome in (("updated_classifier", result.head), ("updated_knn", result.knn)):
        updatable.save(outcome.spec, result.options.out / FILES[key])
        result.files[key] = result.options.out / FILES[key]
