"""Runtime, jobs layer: content keys of training examples, and a source that converts only what the
cache misses.

A key is a SHA-1 over, for every model input in name order, the input's name, its dtype and
per-example shape, and the 128-bit digest of its bytes (:mod:`runtime.kernels.digest`), or
the ``repr`` of a non-array value. Equal keys mean equal bytes (up to digest collisions,
about 2^-128 by accident), so a key stands for the frozen features of its example.

:func:`content_keys` keys converted feature batches. :class:`KeyedSource` keys the values the
batch provider returned, *before* conversion, when they are numeric arrays: conversion is a
deterministic function of those bytes, dtype and shape, so a cached example needs neither
its conversion nor its stacking into the batch, only its target. It reads the provider
exactly as :class:`~runtime.training.examples.TrainingSource` does (one ``features(i)`` per
index, in batch order), so a provider that augments on the fly draws the same augmentations
with the cache on or off. Raw-value keys carry the tag ``raw`` and never equal a converted key.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from runtime.kernels import digest, parallel
from runtime.model import features as feature_values
from runtime.training import interrupt

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats


def row_words(rows: np.ndarray) -> np.ndarray:
    """The bytes of each example as 32-bit words ``(N, W)``: a view for 4-byte-aligned rows
    (float32 features), else a zero-padded copy."""
    flat = np.ascontiguousarray(rows).reshape(len(rows), -1).view(np.uint8)
    if flat.shape[1] % 4 == 0 and flat.ctypes.data % 4 == 0:
        return flat.view(np.uint32)
    padded = np.zeros((len(rows), -(-flat.shape[1] // 4) * 4), np.uint8)
    padded[:, : flat.shape[1]] = flat
    return padded.view(np.uint32)


def _lanes(rows: np.ndarray) -> np.ndarray:
    lanes = np.empty((len(rows), 2), np.uint64)
    digest.digest_rows(row_words(rows), lanes)
    return lanes


def _key(parts: list[bytes]) -> bytes:
    return hashlib.sha1(b"".join(parts), usedforsecurity=False).digest()


def content_keys(features: dict, count: int) -> list[bytes]:
    """One key per example of a (converted) feature batch."""
    parts: list[list[bytes]] = [[] for _ in range(count)]
    for name in sorted(features):
        value = features[name]
        if isinstance(value, np.ndarray) and value.dtype != object:
            header = f"{name}|{value.dtype.str}|{value.shape[1:]}|".encode()
            for part, lane in zip(parts, _lanes(value), strict=True):
                part += (header, lane.tobytes())
        else:
            for part, item in zip(parts, value, strict=True):
                part.append(f"{name}|{item!r}|".encode())
    return [_key(part) for part in parts]


def raw_key(example, names: list[str]) -> bytes | None:
    """Key of an example from the provider's own values of the inputs ``names``; ``None``
    unless every one is a numeric ndarray (then the example is keyed after conversion)."""
    parts: list[bytes] = []
    for name in sorted(names):
        value = example[name] if name in example else None
        if not isinstance(value, np.ndarray) or value.dtype.kind not in NUMERIC_KINDS:
            return None
        header = f"{name}|raw|{value.dtype.str}|{value.shape}|".encode()
        parts += (header, _lanes(value.reshape(1, -1))[0].tobytes())
    return _key(parts)


class KeyedBatch:
    """A mini-batch whose inputs are converted on demand: ``keys()``, ``target``,
    ``indices``, ``features_of(positions)`` and, for code that wants them all, ``features``."""

    def __init__(self, source, examples: list, indices: list[int], target: np.ndarray):
        self.source = source
        self.examples = examples
        self.indices = indices
        self.target = target

    def keys(self) -> list[bytes]:
        names = [f.name for f in self.source.inputs]
        keys: list[bytes | None] = [None] * len(self.examples)

        def key_examples(lo: int, hi: int) -> None:
            for position in range(lo, hi):
                keys[position] = raw_key(self.examples[position], names)

        # the digest kernel releases the GIL: both chunk threads key half the batch each (a
        # 227x227x3 image takes about 0.1 ms, every example of every epoch)
        parallel.each_chunk(key_examples, len(self.examples))
        unkeyed = [p for p, key in enumerate(keys) if key is None]
        if unkeyed:
            converted = content_keys(self.features_of(unkeyed), len(unkeyed))
            for position, key in zip(unkeyed, converted, strict=True):
                keys[position] = key
        done = [key for key in keys if key is not None]
        assert len(done) == len(keys), "every example is keyed by now"
        return done

    def features_of(self, positions: list[int]) -> dict:
        """The converted feature batch of the examples at ``positions``; a bad value raises
        the source's error naming its example index."""
        columns: list[list[Any]] = [[] for _ in self.source.inputs]
        for position in positions:
            index, example = self.indices[position], self.examples[position]
            for column, value in zip(columns, self.source.inputs_of(index, example), strict=True):
                column.append(value)
        return {
            f.name: feature_values.stack(f, column)
            for f, column in zip(self.source.inputs, columns, strict=True)
        }

    @property
    def features(self) -> dict:
        return self.features_of(list(range(len(self.indices))))


class KeyedSource:
    """A :class:`~runtime.training.examples.TrainingSource` read for a cache: ``fetch`` reads every
    example and converts its target at once, and its inputs only when asked."""

    def __init__(self, source):
        self.source = source
        self.count = source.count

    def fetch(self, indices: list[int]) -> KeyedBatch:
        examples, targets = [], []
        for position, index in enumerate(indices):
            if position % interrupt.POLL_EVERY == 0:
                interrupt.poll()  # a cancel is seen within a huge mini-batch too
            example = self.source.example(index)
            examples.append(example)
            targets.append(self.source.target_of(index, example))
        if self.source.target_shape is not None:
            target = np.stack(targets)
        else:
            target = np.asarray(targets, dtype=np.int64)
        return KeyedBatch(self.source, examples, list(indices), target)
