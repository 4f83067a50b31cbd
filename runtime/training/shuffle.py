"""Runtime, training layer: Core ML's exact shuffle order: ``std::minstd_rand`` seeded through
``std::seed_seq`` and libc++'s ``std::shuffle``.

Source: docs/update-task-semantics.md §6, checked bit for bit against the orders in
``tests/data/coreml_shuffle_vectors.json`` (real libc++ output, tests/test_shuffle.py).

* Engine: x <- 48271 * x mod (2^31 - 1), output the new x; range [1, 2^31 - 2].
* No seed: the default-constructed engine, x = 1 (so the order is deterministic anyway).
  Seed s: v = s mod 2^32; ``seed_seq{v}.generate`` fills 4 words b; x = b[3] mod (2^31 - 1),
  and 1 if that is 0.
* ``uniform_int(0, d)``: w = ceil(log2(d + 1)) bits; draw ``u = g() - 1`` until
  ``u < floor(R / 2^w) * 2^w`` (R = 2^31 - 2), keep the low w bits; repeat until < d + 1.
* ``shuffle``: for i = 0 .. n-2: j = uniform_int(0, n-1-i); swap order[i], order[i+j] if j.

The order is shuffled once when the task is created (epoch 0 is already shuffled) and again,
in place and continuing the same engine stream, after each epoch end.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from dataclasses import dataclass

_MODULUS = 2147483647  # 2^31 - 1
_MULTIPLIER = 48271
_RANGE = _MODULUS - 1  # number of distinct outputs, min 1 .. max 2^31 - 2
_MASK32 = 0xFFFFFFFF


def seed_seq_generate(value: int, count: int = 4) -> list[int]:
    """``std::seed_seq{value}.generate`` for ``count`` (>= 4... here 4) 32-bit words.

    The C++ standard's algorithm with n = 4, s = 1: t = (n - 1) / 2 = 1, p = (n - t) / 2 = 1,
    q = p + t = 2, m = max(s + 1, n) = 4; T(z) = z xor (z >> 27); arithmetic mod 2^32.
    """
    if count != 4:
        raise ValueError(f"seed_seq_generate supports 4 output words, got {count}")
    n = 4
    b = [0x8B8B8B8B] * n
    v = value & _MASK32

    def t(z: int) -> int:
        return z ^ (z >> 27)

    for k in range(n):  # first pass: add the seed material
        r1 = (1664525 * t(b[k % n] ^ b[(k + 1) % n] ^ b[(k - 1) % n])) & _MASK32
        if k == 0:
            r2 = r1 + 1
        elif k == 1:
            r2 = r1 + 1 + v
        else:
            r2 = r1 + k
        r2 &= _MASK32
        b[(k + 1) % n] = (b[(k + 1) % n] + r1) & _MASK32
        b[(k + 2) % n] = (b[(k + 2) % n] + r2) & _MASK32
        b[k % n] = r2
    for k in range(n, 2 * n):  # second pass: mix
        r3 = (1566083941 * t((b[k % n] + b[(k + 1) % n] + b[(k - 1) % n]) & _MASK32)) & _MASK32
        r4 = (r3 - (k % n)) & _MASK32
        b[(k + 1) % n] ^= r3
        b[(k + 2) % n] ^= r4
        b[k % n] = r4
    return b


@dataclass
class MinstdRand:
    """``std::minstd_rand`` (Lehmer generator, multiplier 48271). ``state`` is the engine x."""

    state: int = 1

    @classmethod
    def from_seed(cls, seed: int | None) -> MinstdRand:
        """The engine Core ML uses: default-constructed without a seed, else via seed_seq."""
        if seed is None:
            return cls(1)
        x = seed_seq_generate(int(seed) & _MASK32)[3] % _MODULUS
        return cls(x if x != 0 else 1)

    def __call__(self) -> int:
        self.state = (_MULTIPLIER * self.state) % _MODULUS
        return self.state

    def uniform_int(self, high: int) -> int:
        """libc++ ``uniform_int_distribution(0, high)(*this)``."""
        span = high + 1
        if span <= 1:
            return 0
        bits = span.bit_length() - 1
        if span & (span - 1):  # not a power of two: one more bit
            bits += 1
        # libc++'s __independent_bits_engine with one word per draw (bits <= 30 here).
        limit = (_RANGE >> bits) << bits
        mask = (1 << bits) - 1
        while True:
            u = self() - 1
            while u >= limit:
                u = self() - 1
            result = u & mask
            if result < span:
                return result

    def shuffle(self, order: MutableSequence[int]) -> None:
        """libc++ ``std::shuffle(order.begin(), order.end(), *this)``, in place."""
        n = len(order)
        for i in range(n - 1):
            j = self.uniform_int(n - 1 - i)
            if j:
                order[i], order[i + j] = order[i + j], order[i]


class ShuffleOrder:
    """The epoch order of a Core ML update task.

    ``ShuffleOrder(n, seed, enabled)``: ``order`` is the current epoch's order (already
    shuffled once at construction when enabled); ``reshuffle()`` shuffles it again in place
    (Core ML calls it after each epoch end). ``state()`` / ``from_state`` capture everything
    needed to continue the exact sequence (used by training-session checkpoints).
    """

    def __init__(self, n: int, seed: int | None = None, enabled: bool = True):
        self.enabled = enabled
        self.engine = MinstdRand.from_seed(seed)
        self.order = list(range(n))
        if enabled:
            self.engine.shuffle(self.order)

    def reshuffle(self) -> None:
        if self.enabled:
            self.engine.shuffle(self.order)

    def state(self) -> dict:
        return {"enabled": self.enabled, "engine": self.engine.state, "order": list(self.order)}

    @classmethod
    def from_state(cls, state: dict) -> ShuffleOrder:
        restored = cls.__new__(cls)
        restored.enabled = bool(state["enabled"])
        restored.engine = MinstdRand(int(state["engine"]))
        restored.order = [int(i) for i in state["order"]]
        return restored
