# SPDX-License-Identifier: BSD-2-Clause
import random

import pytest

from hw.sampler.lfsr import LFSR
from hw.sampler.lfsr_model import (
    MAX_WIDTH,
    MIN_WIDTH,
    TAPS,
    LFSRModel,
    apply_matrix,
    matrix_power,
    seed_state,
    taps_mask,
)
from tests.simutil import run


def _is_probable_prime(n):
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime_factors(n):
    factors = set()
    for p in range(2, 1000):
        while n % p == 0:
            factors.add(p)
            n //= p
    stack = [n] if n > 1 else []
    while stack:
        n = stack.pop()
        if _is_probable_prime(n):
            factors.add(n)
            continue
        rng = random.Random(n)
        while True:     # Pollard's rho
            x = y = rng.randrange(2, n)
            c = rng.randrange(1, n)
            d = 1
            while d == 1:
                x = (x * x + c) % n
                y = (y * y + c) % n
                y = (y * y + c) % n
                d = __import__("math").gcd(abs(x - y), n)
            if d != n:
                stack += [d, n // d]
                break
    return factors


def _polymulmod(a, b, mod, deg):
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if (a >> deg) & 1:
            a ^= mod
    return out


def _polypowmod(base, e, mod, deg):
    result = 1
    while e:
        if e & 1:
            result = _polymulmod(result, base, mod, deg)
        base = _polymulmod(base, base, mod, deg)
        e >>= 1
    return result


@pytest.mark.parametrize("width", sorted(TAPS))
def test_taps_are_primitive(width):
    # Feedback polynomial 1 + sum(x**t); its order must be 2**width - 1.
    poly = 1 | sum(1 << t for t in TAPS[width])
    order = (1 << width) - 1
    assert _polypowmod(2, order, poly, width) == 1
    for q in _prime_factors(order):
        assert _polypowmod(2, order // q, poly, width) != 1, f"x^(order/{q}) == 1"


@pytest.mark.parametrize("width", range(3, 17))
def test_model_period(width):
    lfsr = LFSRModel(width, seed=1)
    seen = {lfsr.state}
    for _ in range((1 << width) - 2):
        seen.add(lfsr.step())
    assert len(seen) == (1 << width) - 1
    assert 0 not in seen
    assert lfsr.step() == 1


def test_taps_table_covers_3_to_64():
    assert (MIN_WIDTH, MAX_WIDTH) == (3, 64)
    assert sorted(TAPS) == list(range(3, 65))
    assert all(TAPS[w][0] == w for w in TAPS)


@pytest.mark.parametrize("width,leap", [(3, 2), (16, 5), (31, 31), (64, 18), (64, 64), (7, 20)])
def test_leap_model_equals_steps(width, leap):
    fast = LFSRModel(width, seed=0x1234_5678_9abc_def0, leap=leap)
    slow = LFSRModel(width, seed=0x1234_5678_9abc_def0)
    for _ in range(50):
        fast.next()
        for _ in range(leap):
            slow.step()
        assert fast.state == slow.state


def test_matrix_power_matches_steps():
    lfsr = LFSRModel(20, seed=0xabcde)
    start = lfsr.state
    for _ in range(77):
        lfsr.step()
    assert apply_matrix(matrix_power(20, 77), start) == lfsr.state


def test_zero_seed_never_locks():
    assert seed_state(0, 8) == 1
    assert seed_state(0x100, 8) == 1
    assert LFSRModel(8, seed=0).state == 1


@pytest.mark.parametrize("width", [2, 65, "8", 8.0])
def test_bad_width(width):
    with pytest.raises(ValueError, match=r"LFSR width must be an integer from 3 to 64, not"):
        LFSR(width)
    with pytest.raises(ValueError, match=r"LFSR width must be an integer from 3 to 64, not"):
        taps_mask(width)


def test_bad_leap():
    with pytest.raises(ValueError, match=r"LFSR leap must be a positive integer, not 0"):
        LFSR(8, leap=0)


# (12, 5) and (5, 4) take the matrix path: a tap is closer than the leap.
@pytest.mark.parametrize("width,leap", [(4, 1), (12, 1), (16, 3), (64, 18), (12, 5), (5, 4)])
def test_gateware_matches_model(width, leap):
    dut = LFSR(width, leap=leap)
    seeds = [0, 0x5a5a_5a5a_5a5a_5a5a & ((1 << width) - 1) or 3]

    async def testbench(ctx):
        for seed in seeds:
            model = LFSRModel(width, seed=seed, leap=leap)
            ctx.set(dut.seed, seed)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            assert ctx.get(dut.state) == model.state
            for i in range(300):
                enable = i % 7 != 3
                ctx.set(dut.en, enable)
                peek = LFSRModel(width, seed=model.state, leap=leap).next()
                assert ctx.get(dut.next_state) == peek
                await ctx.tick()
                if enable:
                    model.next()
                assert ctx.get(dut.state) == model.state
                assert ctx.get(dut.state) != 0

    run(dut, testbench, name=f"lfsr_{width}_{leap}")


def test_gateware_full_period():
    dut = LFSR(6)

    async def testbench(ctx):
        ctx.set(dut.en, 1)
        seen = set()
        for _ in range(63):
            seen.add(ctx.get(dut.state))
            await ctx.tick()
        assert len(seen) == 63
        assert ctx.get(dut.state) == 1

    run(dut, testbench, name="lfsr_period")
