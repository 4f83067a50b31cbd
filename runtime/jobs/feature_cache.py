"""Runtime, jobs layer: the frozen-feature cache: boundary activations keyed by the content of the
input.

Everything below the earliest updatable layer, and every frozen model in front of the
trained one in a pipeline, is a pure function of the model inputs (docs/ARCHITECTURE.md,
"Training"). A training job therefore computes those *frozen features* once per distinct
input and serves later epochs from memory: epochs after the first run only the trainable
slice. The key is a digest of the example's input bytes (every input feature, with its name,
dtype and shape), so on-the-fly augmentation stays correct: new bytes are a new key, a miss.

* :class:`FeatureCache` holds entries in memory under a byte budget, evicting the least
  recently used, and optionally persists every entry in a directory (one ``.npz`` per
  example, written through a temporary file and a rename) so a resumed session, or another
  session on the same data and frozen network, skips extraction. A directory records the
  fingerprint of the frozen network it belongs to and refuses any other.
* :class:`FrozenFeatures` is the replacement for ``NumbaBackend.boundary``: it looks the
  examples of a mini-batch up, computes only the misses, and assembles the batch.

Batch independence. The cache is an optimisation only: training must give bitwise the same
weights with it on or off, yet with the cache a miss is computed in a sub-batch of whatever
examples missed, not in its mini-batch. That is exact because each example's features do not
depend on which other examples share its products: the runtime's float32 products compute
every element on its own (``runtime.kernels.matmul``; docs/reproducibility.md).
Only without the compiled kernels (numba missing or disabled) do products
go through numpy's BLAS, which may pick kernels or K-splittings by matrix size. There
:class:`FrozenFeatures` checks it on the real network at the first computation of two or
more examples: the last example is recomputed alone and compared bit for bit with its row of
the batched result. If they differ, every example's features are from then on computed on
their own, one example per call. ``per_example=True`` or ``False`` skips the check. With
the cache off a job uses the same object and policy, without storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.jobs.feature_keys import KeyedBatch, content_keys
from runtime.kernels.matmul import reproducible_products
from runtime.training.examples import TrainingBatch
from updatable import proto
from updatable.errors import SessionMismatchError

FORMAT = "coreml-updatable/frozen-features/1"
META = "meta.json"
Arrays = dict[str, np.ndarray]


@dataclass(frozen=True)
class FeatureCacheSettings:
    """How a job caches frozen features.

    Args:
        enabled: cache at all (``False``: compute the frozen part for every mini-batch).
        memory_budget: bytes of features kept in memory; least recently used entries are
            evicted beyond it (persisted ones can be read back from disk).
        persist: also store every entry in the session directory's ``features/``.
        per_example: ``None`` relies on the compiled products, or checks batch independence
            on the network without them (module docstring); ``True`` always computes frozen
            features one example at a time; ``False`` skips the check.
    """

    enabled: bool = True
    memory_budget: int = 512 * 2**20
    persist: bool = False
    per_example: bool | None = None


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    disk_hits: int = 0
    evictions: int = 0
    entries: int = 0
    bytes: int = 0


def frozen_fingerprint(spec: proto.Model, boundary: tuple[str, ...]) -> str:
    """Identity of a model's frozen part: SHA-256 of the model with its trainable weights and
    update parameters cleared (they do not change frozen features), plus the boundary."""
    from updatable import spec as spec_io

    copy = proto.Model()
    copy.CopyFrom(spec)
    head, _ = spec_io.trained_model(copy)
    network = spec_io.network(head)
    for layer in network.layers:
        if layer.isUpdatable:
            for _, weights in spec_io.weight_params(layer):
                weights.Clear()
    network.ClearField("updateParams")
    digest = hashlib.sha256(copy.SerializeToString(deterministic=True))
    digest.update("|".join(boundary).encode())
    return digest.hexdigest()


class FeatureCache:
    """Frozen features by content key, in memory (LRU under ``memory_budget`` bytes) and
    optionally on disk (``directory``; ``read_from``: further directories searched read-only,
    e.g. another session's features)."""

    def __init__(
        self,
        memory_budget: int,
        fingerprint: str,
        directory: Path | None = None,
        read_from: tuple[Path, ...] = (),
    ):
        self.memory_budget = int(memory_budget)
        self.fingerprint = fingerprint
        self.directory = None if directory is None else Path(directory)
        self.read_from = tuple(Path(d) for d in read_from)
        self.stats = CacheStats()
        self._entries: OrderedDict[bytes, Arrays] = OrderedDict()
        if self.directory is not None:
            self._open(self.directory, create=True)
            for torn in self.directory.glob(".tmp-*"):  # writes cut short by a killed process
                torn.unlink(missing_ok=True)
        for other in self.read_from:
            self._open(other, create=False)

    def _open(self, directory: Path, create: bool) -> None:
        meta_path = directory / META
        if meta_path.exists():
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError) as exc:
                raise SessionMismatchError(
                    f"{meta_path} is unreadable ({exc}); delete the features directory to "
                    "extract again"
                ) from None
            if meta.get("fingerprint") != self.fingerprint:
                raise SessionMismatchError(
                    f"the extracted features in {directory} come from a different frozen "
                    f"network (fingerprint {str(meta.get('fingerprint'))[:12]}..., this model "
                    f"{self.fingerprint[:12]}...); they cannot be reused for this model"
                )
        elif create:
            from updatable.spec import write_atomic

            directory.mkdir(parents=True, exist_ok=True)
            meta = {"format": FORMAT, "fingerprint": self.fingerprint}
            write_atomic(json.dumps(meta, indent=1).encode(), meta_path)
        else:
            raise SessionMismatchError(
                f"{directory} holds no extracted features ({META} not found); persist them "
                "with FeatureCacheSettings(persist=True) in the session that extracts them"
            )

    @staticmethod
    def _file(directory: Path, key: bytes) -> Path:
        return directory / f"{key.hex()}.npz"

    def get(self, key: bytes) -> Arrays | None:
        arrays = self._entries.get(key)
        if arrays is not None:
            self._entries.move_to_end(key)
            self.stats.hits += 1
            return arrays
        for directory in ((self.directory,) if self.directory else ()) + self.read_from:
            arrays = self._read(self._file(directory, key))
            if arrays is not None:
                self.stats.hits += 1
                self.stats.disk_hits += 1
                # a feature found in another session's directory joins this session's
                self._store(key, arrays, persist=directory != self.directory)
                return arrays
        self.stats.misses += 1
        return None

    def put(self, key: bytes, arrays: Arrays) -> None:
        self._store(key, arrays, persist=True)

    def _store(self, key: bytes, arrays: Arrays, persist: bool) -> None:
        size = sum(a.nbytes for a in arrays.values())
        if persist and self.directory is not None:
            self._write(self._file(self.directory, key), arrays)
        if size > self.memory_budget:
            return  # larger than the whole budget: never held in memory
        while self._entries and self.stats.bytes + size > self.memory_budget:
            _, evicted = self._entries.popitem(last=False)
            self.stats.bytes -= sum(a.nbytes for a in evicted.values())
            self.stats.evictions += 1
        self._entries[key] = arrays
        self.stats.bytes += size
        self.stats.entries = len(self._entries)

    @staticmethod
    def _read(path: Path) -> Arrays | None:
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, KeyError):
            return None  # a damaged entry is only a miss: the features are computed again

    @staticmethod
    def _write(path: Path, arrays: Arrays) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                # numpy's stubs read **arrays as its allow_pickle flag
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)  # a cache write that fails costs only speed


def _take(features: dict, positions: list[int]) -> dict:
    """The examples at ``positions`` of a feature batch."""
    return {
        name: value[positions] if isinstance(value, np.ndarray) else [value[p] for p in positions]
        for name, value in features.items()
    }


class FrozenFeatures:
    """A mini-batch's boundary blobs, through the cache when there is one.

    ``compute(batch) -> {blob: (n, ...) array}`` is the uncached frozen forward
    (``NumbaBackend.compute_boundary``); ``on_extract(n)`` is told how many examples' features
    were just computed (the job reports them as the ``extractingFeatures`` phase).
    """

    def __init__(
        self,
        compute: Callable[[TrainingBatch], Arrays],
        cache: FeatureCache | None,
        per_example: bool | None = None,
        on_extract: Callable[[int], None] | None = None,
    ):
        self.compute = compute
        self.cache = cache
        self.per_example = per_example
        self.on_extract = on_extract
        self.extracted = 0

    def __call__(self, batch: TrainingBatch) -> Arrays:
        count = len(batch.indices)
        if self.cache is None:
            return self._computed(batch.features, count)
        keyed = batch if isinstance(batch, KeyedBatch) else None  # converted only for misses
        keys = keyed.keys() if keyed is not None else content_keys(batch.features, count)
        rows: dict[bytes, Arrays] = {}
        missing: list[int] = []  # first position of each distinct key not in the cache
        seen: set[bytes] = set()
        for position, key in enumerate(keys):
            if key in seen:
                continue  # the padded last batch repeats examples
            seen.add(key)
            found = self.cache.get(key)
            if found is None:
                missing.append(position)
            else:
                rows[key] = found
        if missing:
            inputs = (
                keyed.features_of(missing) if keyed is not None else _take(batch.features, missing)
            )
            computed = self._computed(inputs, len(missing))
            for i, position in enumerate(missing):
                row = {name: np.array(blob[i : i + 1]) for name, blob in computed.items()}
                self.cache.put(keys[position], row)
                rows[keys[position]] = row
        names = list(rows[keys[0]])
        return {name: np.concatenate([rows[key][name] for key in keys]) for name in names}

    def _computed(self, features: dict, count: int) -> Arrays:
        """Frozen features of ``count`` examples under the batch-independence policy."""
        if self.per_example is None and reproducible_products():
            self.per_example = False  # rows independent of their batch by construction
        if count > 1 and self.per_example is None:
            together = self._run(features, count)
            alone = self._run(_take(features, [count - 1]), 1)
            self.per_example = not all(
                np.array_equal(together[name][-1:], alone[name]) for name in together
            )
            if not self.per_example:
                self._extracted(count)
                return together
        if count > 1 and self.per_example:
            parts = [self._run(_take(features, [i]), 1) for i in range(count)]
            self._extracted(count)
            return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        result = self._run(features, count)
        self._extracted(count)
        return result

    def _run(self, features: dict, count: int) -> Arrays:
        return self.compute(TrainingBatch(features, np.zeros(0), list(range(count))))

    def _extracted(self, count: int) -> None:
        self.extracted += count
        if self.on_extract is not None:
            self.on_extract(count)
