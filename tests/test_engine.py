# SPDX-License-Identifier: BSD-2-Clause
"""The engine is correct whatever the store's latency: the host client against the engine with
a store behind random latency and stalls (:class:`hw.store.stalling.StallingStore`): the LEARN
write path, the CRC pass of COMMIT and CHECKSUM, and the record reader of SAMPLE and READ."""

import random

import pytest

from host.device import MemGen
from hw import protocol
from hw.protocol import Command, Mode, State, Status
from sim.pysim_link import STORES, SimulatedLink
from tests.helpers import session_crc

CAPACITY = 2048


def _client(store, serial_crc=False):
    link = SimulatedLink(capacity=CAPACITY, timeout=2e-4, frame_timeout=2000, store=store,
                         serial_crc=serial_crc, compact=serial_crc)
    return MemGen(link=link, timeout=5.0), link


@pytest.mark.parametrize("store, serial_crc", [*((store, False) for store in STORES),
                                               ("stalling", True)])
def test_train_commit_sample_read(store, serial_crc):
    """The whole protocol over every store; and built compact, with every CRC a bit per cycle
    and 16-bit counters (the iCEBreaker's), over a store that stalls."""
    client, _ = _client(store, serial_crc)
    size = 37
    data = random.Random(store).randbytes(40 * size)
    records = [data[i * size:(i + 1) * size] for i in range(40)]
    assert client.train(data, size, b"engine") == session_crc(data, size, header=b"engine")
    info = client.info()
    assert (info.state, info.learned) == (State.READY, 40)
    assert client.checksum() == (session_crc(data, size, header=b"engine"), len(data))
    for mode in Mode:
        client.seed(mode, 5)
        indices = client.predict(25, 40)
        assert client.sample(25) == b"".join(records[i] for i in indices)
    assert client.read(3, 30) == b"".join(records[3:33])


def test_truncated_learn_frame_leaves_the_learned_bytes():
    """A LEARN frame cut short after its offset: the store still gets the whole write it was
    promised (filler past the learned bytes), and the next frames land where they should."""
    client, link = _client("stalling")
    size = 50
    data = random.Random(1).randbytes(20 * size)
    client.begin(size, 20)
    client.learn(data[:300])
    key = client._exchange.key              # the link key the client's OPEN set
    frame = protocol.encode_frame(Command.LEARN, protocol.pack_fields(
        protocol.LEARN_FIELDS, offset=300) + data[300:700], tag=9, key=key)
    link.write(frame[:120])                 # the rest never comes: the frame times out
    replies = []
    decoder = protocol.FrameDecoder(key)
    for _ in range(1000):
        replies = decoder.feed(link.read(64))
        if replies:
            break
    assert replies[0].payload[0] == Status.TRUNCATED
    assert client.info().write_ptr == 300
    client.learn(data[300:], offset=300)
    assert client.commit(session_crc(data, size)) == session_crc(data, size)
    assert client.info().state == State.READY
    client.seed(Mode.RECITE, 0)
    assert client.sample(20) == data


def test_a_store_larger_than_a_session_is_refused():
    # INFO's capacity is 32 bits and BEGIN's size check saturates at 2**31: a store of 2**31
    # bytes or more could not be filled, and one of 2**32 would report a capacity of 0.
    from hw.engine.engine import Engine

    largest = protocol.MAX_STREAM_BYTES - 1
    assert Engine(capacity=largest, clk_freq=100_000_000, link_rate=0, timeout=100).capacity \
        == largest
    for capacity in (protocol.MAX_STREAM_BYTES, 1 << 32):
        with pytest.raises(ValueError, match=rf"Store capacity {capacity} is more than the "
                                             rf"protocol's sessions hold: at most {largest} "
                                             rf"bytes"):
            Engine(capacity=capacity, clk_freq=100_000_000, link_rate=0, timeout=100)
