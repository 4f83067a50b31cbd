"""Runtime, demo layer: the simulated user of the demo: how they write, and which digits each part
of the story sees.

The story (Apple's updatable-MNIST scenario): an app ships a digit classifier that knows
0..6; a user adds 7, 8 and 9 with a handful of drawings each, and writes in their own hand
(thicker strokes, a slant). Every part of the story reads disjoint examples of the same data:

* the **base** classifier trains (and is validated) on clean digits 0..6;
* the **user** draws a few examples of every new class, and a few of the known classes too:
  an update task sees only the user's data, so known classes must appear in it or the
  network forgets them;
* the **held-out** digits, of all ten classes and in the user's hand, measure accuracy
  before and after the update; no model ever trains on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.tools.datasets import Digits
from updatable.errors import ParameterError

KNOWN_CLASSES = (0, 1, 2, 3, 4, 5, 6)
NEW_CLASSES = (7, 8, 9)


@dataclass(frozen=True)
class UserStyle:
    """How the simulated user writes.

    ``thickness`` grows each stroke by that many pixels on every side (a grey-level dilation:
    pillow's ``MaxFilter`` of size ``2 * thickness + 1``; a negative value thins with
    ``MinFilter``). ``rotation`` is the user's constant slant in degrees (counter-clockwise),
    and each drawing varies around it by up to ``jitter`` degrees.
    """

    thickness: int = 1
    rotation: float = 12.0
    jitter: float = 4.0

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(N, 28, 28)`` uint8 digits as this user would draw them (a new array)."""
        from PIL import Image, ImageFilter

        size = 2 * abs(self.thickness) + 1
        stroke: ImageFilter.Filter | None = None
        if self.thickness > 0:
            stroke = ImageFilter.MaxFilter(size)
        elif self.thickness < 0:
            stroke = ImageFilter.MinFilter(size)
        drawn = np.empty_like(images, dtype=np.uint8)
        for i, pixels in enumerate(images):
            image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
            if stroke is not None:
                image = image.filter(stroke)
            angle = self.rotation + rng.uniform(-self.jitter, self.jitter)
            # rotate about the centre; corners brought in are black, like the background
            image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0)
            drawn[i] = np.asarray(image)
        return drawn


@dataclass(frozen=True)
class Split:
    """Indices into a :class:`~runtime.tools.datasets.Digits` for each part of the story."""

    base_train: np.ndarray
    base_validation: np.ndarray
    user: np.ndarray
    held_out: np.ndarray


@dataclass(frozen=True)
class SplitSizes:
    """How many examples each part takes, per class."""

    user_new: int = 5  # drawings of each new class
    user_known: int = 3  # drawings of each known class
    held_out: int = 40  # held-out digits per class (all ten)
    base_validation: int = 30  # per known class
    base_train: int = 380  # per known class, at most (fewer if the data has fewer)


QUICK_SIZES = SplitSizes(held_out=15, base_validation=15, base_train=120)


def split(
    digits: Digits,
    sizes: SplitSizes = SplitSizes(),
    seed: int = 0,
    known: tuple[int, ...] = KNOWN_CLASSES,
    new: tuple[int, ...] = NEW_CLASSES,
) -> Split:
    """Disjoint, class-balanced parts of ``digits``, drawn with a seeded permutation.

    Per class, in permutation order: the held-out digits first, then the user's drawings,
    then (known classes only) base validation and base training examples.

    Raises:
        ParameterError: a class has too few examples for the held-out and user parts.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in Split.__dataclass_fields__}
    for digit in (*known, *new):
        indices = rng.permutation(digits.of_class(digit))
        is_new = digit in new
        user = sizes.user_new if is_new else sizes.user_known
        needed = sizes.held_out + user + (0 if is_new else sizes.base_validation + 1)
        if len(indices) < needed:
            raise ParameterError(
                f"digit {digit} has {len(indices)} examples in {digits.source}; the demo "
                f"needs at least {needed} (held-out {sizes.held_out}, user {user}"
                + ("" if is_new else f", base validation {sizes.base_validation}, training 1+")
                + ")"
            )
        cuts = np.cumsum([sizes.held_out, user, 0 if is_new else sizes.base_validation])
        parts["held_out"].append(indices[: cuts[0]])
        parts["user"].append(indices[cuts[0] : cuts[1]])
        if not is_new:
            parts["base_validation"].append(indices[cuts[1] : cuts[2]])
            parts["base_train"].append(indices[cuts[2] : cuts[2] + sizes.base_train])
    # shuffle across classes so that a provider read in order is not sorted by class
    return Split(
        **{name: rng.permutation(np.concatenate(chunks)) for name, chunks in parts.items()}
    )


def write_image_folders(images: np.ndarray, labels, directory: Path, names=None) -> Path:
    """Save ``images`` as PNG files in ``directory/<label>/<name>.png`` (the layout
    ``updatable train --data`` reads); earlier PNGs in those label folders are replaced.

    ``names`` (default: the positions) name the files; each is written atomically.
    """
    import io

    from PIL import Image

    from updatable.spec import write_atomic

    directory = Path(directory)
    labels = [str(label) for label in labels]
    for label in sorted(set(labels)):
        folder = directory / label
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.png"):  # a run with another seed drew other digits
            stale.unlink()
    names = range(len(labels)) if names is None else names
    for image, label, name in zip(images, labels, names, strict=True):
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        write_atomic(buffer.getvalue(), directory / label / f"{name}.png")
    return directory
