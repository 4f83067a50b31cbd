"""The frozen-feature cache: identical results on or off, misses under augmentation,
eviction, persistence and reuse, batch independence."""

from __future__ import annotations

import numpy as np
import pytest

import runtime
from runtime.jobs import feature_cache
from runtime.jobs.feature_cache import FeatureCache, FeatureCacheSettings, FrozenFeatures
from runtime.jobs.feature_keys import content_keys
from runtime.training.examples import TrainingBatch
from runtime.training.providers import ArrayBatchProvider
from tests.test_session_fixtures import (
    Augmenting,
    assert_same_weights,
    digits,
    mnist_model,
    provider,
    run,
    session,
    training_reports,
)
from updatable.errors import SessionMismatchError

PARAMS = runtime.TrainingSessionParameters(report_interval=1, iterations=5)
ENTRY_BYTES = 2304 * 4  # one example's boundary: the flattened 16x12x12 conv features


def _validation():
    x, labels = digits(12, seed=4)
    return ArrayBatchProvider({"image": x, "digit": labels})


def test_on_and_off_give_bitwise_the_same_training():
    cached, cached_events = run(mnist_model(), provider(), _validation(), PARAMS)
    plain, plain_events = run(mnist_model(), provider(), _validation(), PARAMS, feature_cache=False)
    assert_same_weights(cached.spec, plain.spec)
    assert [p.metrics for p in training_reports(cached_events)] == [
        p.metrics for p in training_reports(plain_events)
    ]
    # 36 training and 12 validation examples computed once; every later use is a hit
    stats = cached.cache
    assert (stats.misses, stats.entries, stats.evictions) == (48, 48, 0)
    assert stats.hits == 5 * 40 + 5 * 12 - 36 - 12  # 5 padded batches of 8, 5 evaluations
    assert stats.bytes == 48 * ENTRY_BYTES
    assert plain.cache is None


def test_an_augmenting_provider_misses_every_epoch():
    cached_data, plain_data = Augmenting(), Augmenting()
    cached, _ = run(mnist_model(), cached_data, params=PARAMS)
    plain, _ = run(mnist_model(), plain_data, params=PARAMS, feature_cache=False)
    assert cached_data.calls == plain_data.calls == 5 * 24  # 3 full batches per epoch
    assert cached.cache.misses == 5 * 24 and cached.cache.hits == 0
    assert_same_weights(cached.spec, plain.spec)  # new bytes are never served stale features


def test_a_small_budget_evicts_and_changes_nothing():
    budget = 10 * ENTRY_BYTES
    small, _ = run(
        mnist_model(),
        provider(),
        params=PARAMS,
        feature_cache=FeatureCacheSettings(memory_budget=budget),
    )
    plain, _ = run(mnist_model(), provider(), params=PARAMS, feature_cache=False)
    stats = small.cache
    assert stats.entries <= 10 and stats.bytes <= budget and stats.evictions > 0
    assert stats.misses > 36  # evicted examples are extracted again
    assert_same_weights(small.spec, plain.spec)


def test_lru_eviction_order():
    cache = FeatureCache(3 * 8, "fingerprint")
    rows = {key: {"b": np.full((1, 2), i, np.float32)} for i, key in enumerate(b"abcd")}
    for key in (b"a", b"b", b"c"):
        cache.put(bytes([key[0]]), rows[key[0]])
    assert cache.get(b"a") is rows[ord("a")]  # a becomes the most recently used
    cache.put(b"d", rows[ord("d")])  # evicts b, the least recently used
    assert cache.get(b"b") is None and cache.get(b"c") is not None
    assert (cache.stats.evictions, cache.stats.entries, cache.stats.bytes) == (1, 3, 24)


def test_persisted_features_serve_a_second_session(tmp_path):
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    persist = FeatureCacheSettings(persist=True)
    run(mnist_model(), provider(), params=session(first_dir, iterations=3), feature_cache=persist)
    assert len(list((first_dir / "features").glob("*.npz"))) == 36
    first_session = runtime.restore_training_session(session(first_dir))
    reused, events = run(
        mnist_model(lr=0.02),
        provider(),
        params=session(second_dir, iterations=3),
        reuse_extracted_features=first_session,
    )
    assert reused.cache.disk_hits == 36 and reused.cache.misses == 0
    assert [e for e in events if isinstance(e, runtime.Phase)] == ["initialized", "training"]
    plain, _ = run(mnist_model(lr=0.02), provider(), params=PARAMS, feature_cache=False)
    three, _ = run(
        mnist_model(lr=0.02),
        provider(),
        params=runtime.TrainingSessionParameters(iterations=3),
        feature_cache=False,
    )
    assert_same_weights(reused.spec, three.spec)
    del plain

    # a resumed session reads its own persisted features: no extraction at all
    resumed = runtime.resume(
        runtime.restore_training_session(session(first_dir, iterations=5)),
        provider(),
        feature_cache=persist,
    ).wait()
    assert resumed.cache.misses == 0 and resumed.cache.disk_hits == 36


def test_features_of_another_frozen_network_are_refused(tmp_path):
    run(
        mnist_model(),
        provider(),
        params=session(tmp_path / "a", iterations=1),
        feature_cache=FeatureCacheSettings(persist=True),
    )
    other = mnist_model()
    layers = other.neuralNetworkClassifier.layers
    conv = next(layer for layer in layers if layer.name == "conv1").convolution
    conv.bias.floatValue[0] += 1.0  # a frozen weight: other features
    with pytest.raises(SessionMismatchError, match="different frozen network"):
        runtime.train(other, provider(), reuse_extracted_features=tmp_path / "a")
    with pytest.raises(SessionMismatchError, match="holds no extracted features"):
        runtime.train(mnist_model(), provider(), reuse_extracted_features=tmp_path / "none")


def test_content_keys_follow_the_bytes():
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    keys = content_keys({"a": x}, 4)
    assert len(set(keys)) == 4
    assert content_keys({"a": x[[2, 0]]}, 2) == [keys[2], keys[0]]
    assert content_keys({"b": x}, 4)[0] != keys[0]  # the feature name counts
    assert content_keys({"a": x.astype(np.float64)}, 4)[0] != keys[0]  # and the dtype
    assert content_keys({"a": x.reshape(4, 2, 3)}, 4)[0] != keys[0]  # and the shape
    changed = x.copy()
    changed[1, 5] = np.nextafter(changed[1, 5], 100)
    assert content_keys({"a": changed}, 4)[1] != keys[1]
    odd = np.arange(10, dtype=np.uint8).reshape(2, 5)  # rows of 5 bytes: padded words
    assert content_keys({"a": odd}, 2) == content_keys({"a": odd.copy()}, 2)
    assert len(set(content_keys({"a": odd}, 2))) == 2
    labels = np.array(["cat", "dog"], dtype=object)
    assert content_keys({"l": labels}, 2)[0] != content_keys({"l": labels[::-1].copy()}, 2)[0]


def _batch(x):
    return TrainingBatch({"a": x}, np.zeros(len(x)), list(range(len(x))))


def test_without_the_compiled_products_rows_that_depend_on_their_batch_run_one_by_one(
    monkeypatch,
):
    monkeypatch.setattr(feature_cache, "reproducible_products", lambda: False)

    def batch_dependent(batch):  # a BLAS whose result depends on the batch size
        x = batch.features["a"]
        return {"out": x * 2 + np.float32(1e-3) * (len(x) - 1)}

    frozen = FrozenFeatures(batch_dependent, FeatureCache(1 << 20, "f"))
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    out = frozen(_batch(x))
    assert frozen.per_example is True
    np.testing.assert_array_equal(out["out"], x * 2)  # as if each example ran alone
    np.testing.assert_array_equal(frozen(_batch(x[[3, 1]]))["out"], x[[3, 1]] * 2)

    independent = FrozenFeatures(
        lambda batch: {"out": batch.features["a"] * 2}, FeatureCache(1 << 20, "f")
    )
    independent(_batch(x))
    assert independent.per_example is False


def test_with_the_compiled_products_rows_are_trusted_without_a_check(monkeypatch):
    monkeypatch.setattr(feature_cache, "reproducible_products", lambda: True)
    calls = []

    def frozen_part(batch):
        calls.append(len(batch.indices))
        return {"out": batch.features["a"] * 2}

    frozen = FrozenFeatures(frozen_part, FeatureCache(1 << 20, "f"))
    frozen(_batch(np.arange(12, dtype=np.float32).reshape(4, 3)))
    assert frozen.per_example is False and calls == [4]  # no example recomputed alone


def test_repeated_examples_of_the_padded_batch_are_extracted_once():
    calls = []

    def frozen_part(batch):
        calls.append(len(batch.indices))
        return {"out": batch.features["a"] + 1}

    frozen = FrozenFeatures(frozen_part, FeatureCache(1 << 20, "f"), per_example=False)
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    out = frozen(_batch(x[[0, 1, 2, 0, 1]]))
    assert calls == [3] and frozen.extracted == 3
    np.testing.assert_array_equal(out["out"], x[[0, 1, 2, 0, 1]] + 1)
    frozen(_batch(x[[2, 1]]))
    assert calls == [3]  # all hits


@pytest.mark.parametrize("width", [1, 2, 7, 64, 1001])
def test_digest_kernel_matches_its_numpy_twin(width):
    from runtime.kernels import digest

    words = np.random.default_rng(width).integers(0, 2**32, (3, width), dtype=np.uint64)
    words = words.astype(np.uint32)
    jit, twin = np.zeros((3, 2), np.uint64), np.zeros((3, 2), np.uint64)
    digest.JIT["row_digests"](words, jit)
    digest.NUMPY["row_digests"](words, twin)
    np.testing.assert_array_equal(jit, twin, err_msg=f"row_digests, width {width}")
    flipped = words.copy()
    flipped[1, width // 2] ^= np.uint32(1 << 31)
    changed = np.zeros((3, 2), np.uint64)
    digest.JIT["row_digests"](flipped, changed)
    assert (changed[1] != jit[1]).all() and (changed[[0, 2]] == jit[[0, 2]]).all()


def test_inputs_that_are_not_arrays_are_keyed_after_conversion():
    x, labels = digits(20, seed=3)
    as_lists = ArrayBatchProvider(
        [{"image": image.tolist(), "digit": label} for image, label in zip(x, labels, strict=True)]
    )
    as_arrays = ArrayBatchProvider({"image": x, "digit": labels})
    listed, _ = run(mnist_model(), as_lists, params=PARAMS)
    arrayed, _ = run(mnist_model(), as_arrays, params=PARAMS)
    assert listed.cache.misses == 20 and listed.cache.hits == 5 * 24 - 20
    assert_same_weights(listed.spec, arrayed.spec)


def test_a_keyed_batch_converts_only_the_examples_asked_for():
    from runtime.jobs.feature_keys import KeyedSource

    data = provider(count=5)
    update = _update(data)
    keyed = KeyedSource(update.source).fetch([4, 0, 4])
    plain = update.source.fetch([4, 0, 4])
    np.testing.assert_array_equal(keyed.target, plain.target)
    np.testing.assert_array_equal(keyed.features["image"], plain.features["image"])
    np.testing.assert_array_equal(keyed.features_of([1])["image"], plain.features["image"][1:2])
    keys = keyed.keys()
    assert keys[0] == keys[2] != keys[1]


def _update(data):
    from runtime.jobs.setup import open_job_update
    from runtime.model.configuration import ModelConfiguration

    return open_job_update(mnist_model(), data, ModelConfiguration())
