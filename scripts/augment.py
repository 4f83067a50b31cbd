"""Data augmentation inside a batch provider: new random variants every epoch.

Core ML asks the batch provider for each example (``features(at:)``) every epoch, batch by
batch (docs/update-task-semantics.md §5), so a provider that transforms the image it returns
gives the update a fresh variant each time; Hollemans' ``TrainingBatchProvider`` augments this
way. :class:`AugmentingProvider` wraps any provider and, with pillow, rotates each image by a
random angle and optionally flips it (flips suit symmetric classes, not digits, so they are
off by default).

The script personalises the demo's classifier (ten digits, the last two layers updatable) on
a simulated user's few drawings twice, without and with augmentation, and compares accuracy
on the same held-out digits. It trains a quick base model first unless ``--base`` gives one
(e.g. ``demo-output/MNISTBase.mlmodel`` from ``updatable demo``).

    python scripts/augment.py
    python scripts/augment.py --base demo-output/MNISTBase.mlmodel --rotation 20 --flip 0.5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from runtime.training.providers import BatchProvider
from updatable.errors import UpdatableError


class AugmentingProvider(BatchProvider):
    """``provider``'s examples with the image feature ``image`` randomly transformed.

    Each call of ``features(index)`` rotates the image by an angle drawn uniformly from
    ``[-rotation, rotation]`` degrees (bilinear, black fill) and flips it left-right with
    probability ``flip``; draws come from ``numpy.random.default_rng(seed)``, so a run is
    reproducible. Images may be pillow images or ``(H, W)`` / ``(H, W, C)`` uint8 arrays.
    """

    def __init__(
        self,
        provider,
        image: str = "image",
        rotation: float = 15.0,
        flip: float = 0.0,
        seed: int = 0,
    ):
        self.provider, self.image = provider, image
        self.rotation, self.flip = float(rotation), float(flip)
        self.rng = np.random.default_rng(seed)

    @property
    def count(self) -> int:
        return self.provider.count

    def features(self, index: int):
        from PIL import Image

        example = dict(self.provider.features(index))
        value = example[self.image]
        image = value if isinstance(value, Image.Image) else Image.fromarray(np.asarray(value))
        angle = self.rng.uniform(-self.rotation, self.rotation)
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR, fillcolor=0)
        if self.rng.random() < self.flip:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        example[self.image] = np.asarray(image)
        return example


def _base_model(args, digits, parts):
    """The demo's base model: ``--base``, or a quick one trained on the digits 0..6."""
    import updatable
    from runtime.demo import base

    if args.base is not None:
        return updatable.load(args.base)
    print("training a quick base model (digits 0..6)...", flush=True)
    base_spec, _, _ = base.train_base(
        digits.images[parts.base_train],
        digits.labels[parts.base_train],
        digits.images[parts.base_validation],
        digits.labels[parts.base_validation],
        epochs=2,
        source=digits.source,
        seed=args.seed,
        emit=lambda event: None,
    )
    return base_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="the demo's base model (default: train one)")
    parser.add_argument("--rotation", type=float, default=15.0, help="max rotation in degrees")
    parser.add_argument("--flip", type=float, default=0.0, help="probability of a flip")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of each update")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import runtime
    from runtime.demo import surgery, user
    from runtime.demo.flows import image_provider, run_update
    from runtime.tools.datasets import load_digits
    from runtime.tools.evaluation import evaluate

    try:
        digits = load_digits()
        parts = user.split(digits, user.QUICK_SIZES, args.seed)
        base_spec = _base_model(args, digits, parts)
        style, rng = user.UserStyle(), np.random.default_rng(args.seed + 1)
        drawings = style.apply(digits.images[parts.user], rng)
        labels = [str(v) for v in digits.labels[parts.user]]
        held_out = [{"image": image} for image in style.apply(digits.images[parts.held_out], rng)]
        truth = [str(v) for v in digits.labels[parts.held_out]]
        classifier = surgery.personalizable_classifier(
            base_spec, ("7", "8", "9"), "sgd", args.epochs, args.seed
        )
        plain = image_provider(drawings, labels)
        providers = {
            "without augmentation": plain,
            "with augmentation": AugmentingProvider(
                plain, "image", args.rotation, args.flip, args.seed
            ),
        }
        for name, provider in providers.items():
            outcome = run_update(classifier, provider, name, lambda event: None)
            result = evaluate(runtime.Model.load(outcome.spec), held_out, truth)
            new = np.mean([result.class_accuracy().get(c, 0.0) for c in ("7", "8", "9")])
            print(
                f"{name:>22}: held-out accuracy {result.accuracy:.1%} (new digits {new:.1%}), "
                f"last epoch loss {outcome.epoch_losses[-1]:.4f}",
                flush=True,
            )
    except UpdatableError as exc:
        print(f"augment: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
