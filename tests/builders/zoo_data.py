"""Realistic inputs for the model zoo, made offline: real digits, and deterministic signals.

Every generator takes ``(count, seed)`` and returns ``(batch, labels)``: ``batch`` is a
float32, int32 or uint8 array whose first axis counts the examples (one example is what the
converted model's input takes, without its leading batch axis of 1), ``labels`` an int64 array
of the class each example was made from (what a well-trained model would predict; with the
zoo's random weights it is only a reference point).
"""

from __future__ import annotations

import numpy as np

import runtime

ACTIVITIES = ("walk", "run", "sit", "stand")
SENTIMENTS = ("negative", "neutral", "positive")
KEYWORDS = ("yes", "no", "up", "down", "stop")
# CIFAR-10's classes: the colour image classifiers' labels
OBJECTS = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DIGITS = tuple(str(d) for d in range(10))

# a tiny vocabulary: id 0 pads, the words of each sentiment follow
_WORDS = (
    "<pad>",
    "bad",
    "awful",
    "boring",
    "poor",
    "dull",
    "okay",
    "fine",
    "plain",
    "average",
    "fair",
    "good",
    "great",
    "lovely",
    "superb",
    "fun",
    "the",
    "film",
    "was",
    "very",
    "a",
    "plot",
    "and",
    "acting",
    "story",
)


def _pick(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    digits = runtime.load_digits()
    rows = np.random.default_rng(seed).choice(len(digits), count, replace=False)
    return digits.images[rows], digits.labels[rows]


def digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Real 28x28 digits as uint8 ``(count, 28, 28)`` (white on black)."""
    images, labels = _pick(count, seed)
    return images.copy(), labels


def digit_tensors(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Real digits as float32 ``(count, 1, 28, 28)`` in 0..1."""
    images, labels = _pick(count, seed)
    return (images[:, None] / np.float32(255)).astype(np.float32), labels


def padded_digits(size: int):
    """A generator of digits zero-padded (centred) to ``size`` x ``size``, float32 in 0..1,
    ``(count, 1, size, size)``."""

    def make(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        x, labels = digit_tensors(count, seed)
        before = (size - 28) // 2
        pads = ((0, 0), (0, 0), (before, size - 28 - before), (before, size - 28 - before))
        return np.pad(x, pads), labels

    return make


def colour_digits(size: int, as_uint8: bool = False):
    """A generator of RGB images: a real digit resized to ``size`` x ``size`` and tinted with a
    colour drawn per image over a darker complementary background (float32 0..1
    ``(count, 3, size, size)``, or uint8 ``(count, size, size, 3)`` for image inputs)."""

    def make(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        images, labels = _pick(count, seed)
        rng = np.random.default_rng(seed + 1)
        out = np.empty((count, size, size, 3), np.float32)
        for i, image in enumerate(images):
            big = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
            ink = big[..., None] / np.float32(255)
            colour = rng.uniform(0.4, 1.0, 3).astype(np.float32)
            out[i] = ink * colour + (1 - ink) * (1 - colour) * 0.3
        if as_uint8:
            return np.rint(out * 255).astype(np.uint8), labels
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2)), labels

    return make


def sensor_sequences(steps: int, channels: int):
    """A generator of multichannel sequences ``(count, steps, channels)`` float32: activity
    class ``k`` is a sinusoid of frequency ``k + 1`` cycles per window on every channel, each
    channel with its own phase and gain, plus noise (an accelerometer-like signal)."""

    def make(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, len(ACTIVITIES), count)
        t = np.arange(steps) / steps
        phase = rng.uniform(0, 2 * np.pi, (count, 1, channels))
        gain = rng.uniform(0.5, 1.5, (count, 1, channels))
        freq = (labels + 1)[:, None, None]
        x = gain * np.sin(2 * np.pi * freq * t[None, :, None] + phase)
        x += 0.1 * rng.standard_normal(x.shape)
        return x.astype(np.float32), labels.astype(np.int64)

    return make


def waveforms(samples: int, rate: int = 16000):
    """A generator of 1-D audio clips ``(count, 1, samples)`` float32: keyword ``k`` is a tone
    burst at ``300 * (k + 1)`` Hz with a Hann envelope, in white noise."""

    def make(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, len(KEYWORDS), count)
        t = np.arange(samples) / rate
        tone = np.sin(2 * np.pi * (300.0 * (labels + 1))[:, None] * t[None, :])
        x = 0.5 * tone * np.hanning(samples)[None, :] + 0.05 * rng.standard_normal((count, samples))
        return x[:, None, :].astype(np.float32), labels.astype(np.int64)

    return make


def sentences(length: int):
    """A generator of token-id sequences ``(count, length)`` int32 (vocabulary of 25 words,
    id 0 pads on the left): template reviews whose sentiment word decides the class."""

    def make(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        labels = rng.integers(0, len(SENTIMENTS), count)
        filler = [
            _WORDS.index(w)
            for w in ("the", "film", "was", "very", "a", "plot", "and", "acting", "story")
        ]
        out = np.zeros((count, length), np.int32)
        for i, label in enumerate(labels):
            words = list(rng.choice(filler, rng.integers(3, length - 2)))
            for _ in range(2):  # two words of the class's sentiment at random places
                words.insert(rng.integers(0, len(words) + 1), 1 + 5 * label + rng.integers(0, 5))
            out[i, length - len(words) :] = words
        return out, labels.astype(np.int64)

    return make


def wine_table(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows of scikit-learn's bundled wine data set (13 features, 3 cultivars), standardised,
    ``(count, 13)`` float32; a deterministic Gaussian mixture of the same shape when
    scikit-learn is not installed."""
    rng = np.random.default_rng(seed)
    try:
        from sklearn.datasets import load_wine
    except ImportError:
        labels = rng.integers(0, 3, count)
        centres = np.random.default_rng(13).standard_normal((3, 13))
        x = centres[labels] + 0.5 * rng.standard_normal((count, 13))
        return x.astype(np.float32), labels.astype(np.int64)
    data = load_wine()
    x = (data.data - data.data.mean(0)) / data.data.std(0)
    rows = rng.choice(len(x), count, replace=count > len(x))
    return x[rows].astype(np.float32), data.target[rows].astype(np.int64)
