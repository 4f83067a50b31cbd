"""The shuffle order reproduces real libc++ std::shuffle + minstd_rand + seed_seq output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.training.shuffle import MinstdRand, ShuffleOrder, seed_seq_generate

# Index orders produced by real libc++ std::shuffle (see the file's description field).
VECTORS = Path(__file__).resolve().parent / "data" / "coreml_shuffle_vectors.json"

CASES = json.loads(VECTORS.read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed={c['seed']}-n={c['n']}")
def test_every_vector_is_reproduced_exactly(case):
    shuffle = ShuffleOrder(case["n"], case["seed"])
    for k, expected in enumerate(case["epoch_orders"]):
        if k:
            shuffle.reshuffle()
        assert shuffle.order == expected, f"epoch order {k}"


def test_minstd_rand_matches_the_standard_10000th_value():
    # [rand.predef]: the 10000th consecutive invocation of a default-constructed
    # minstd_rand produces 399268537.
    engine = MinstdRand()
    for _ in range(9999):
        engine()
    assert engine() == 399268537


def test_seed_seq_is_deterministic_and_truncates_negative_seeds():
    assert seed_seq_generate(5) == seed_seq_generate(5)
    assert MinstdRand.from_seed(-1).state == MinstdRand.from_seed(2**32 - 1).state
    assert MinstdRand.from_seed(None).state == 1


def test_state_round_trip_continues_the_same_stream():
    a = ShuffleOrder(50, seed=42)
    a.reshuffle()
    b = ShuffleOrder.from_state(a.state())
    a.reshuffle()
    b.reshuffle()
    assert a.order == b.order


def test_disabled_shuffle_keeps_provider_order():
    s = ShuffleOrder(6, seed=3, enabled=False)
    s.reshuffle()
    assert s.order == list(range(6))
