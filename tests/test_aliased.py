# SPDX-License-Identifier: BSD-2-Clause
"""The aliased test memory (:mod:`hw.store.aliased`): a large address space over a small block
RAM, consistent for its image and telling a byte at a wrong window from a right one."""

import random

import pytest

from hw.store.aliased import AliasedRAM, aliased_image, fold
from hw.store.port import PortStore
from tests.simutil import run
from tests.test_store import _read, _write


def test_fold_sees_every_bit():
    assert fold(0) == 0 and fold(0x12_3456) == 0x12 ^ 0x34 ^ 0x56
    assert all(fold(1 << bit) != 0 for bit in range(40))


def test_the_image_reads_back_and_a_wrong_window_does_not():
    capacity, window = 4096, 256
    store = PortStore(AliasedRAM(capacity, window))
    rng = random.Random(3)
    image = aliased_image(rng.randbytes(window), capacity)
    assert len(image) == capacity and image[:window] != image[window:2 * window]

    async def testbench(ctx):
        await _write(ctx, store, 0, image, rng)
        assert await _read(ctx, store, 0, capacity, rng) == image
        # Bytes across a window's end, written and read where they belong.
        data = rng.randbytes(40)
        await _write(ctx, store, 3 * window - 20, data)
        assert await _read(ctx, store, 3 * window - 20, 40, rng) == data
        # The same cells read through another window come back changed.
        other = await _read(ctx, store, 7 * window - 20, 40)
        assert other == bytes(b ^ fold(2) ^ fold(6) for b in data[:20]) + \
            bytes(b ^ fold(3) ^ fold(7) for b in data[20:])
        assert other != data

    run(store, testbench, name="aliased")


@pytest.mark.parametrize("window", [0, 3, 8192])
def test_bad_windows(window):
    with pytest.raises(ValueError, match=rf"Window must be a power of two from 2 to the "
                                         rf"capacity 4096, not {window}"):
        AliasedRAM(4096, window)


@pytest.mark.parametrize("length", [0, 3, 8192])
def test_bad_images(length):
    with pytest.raises(ValueError, match=rf"power of two that divides the capacity 4096, not "
                                         rf"{length}"):
        aliased_image(bytes(length), 4096)
