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

CAPACITY = 2048


def _client(store):
    link = SimulatedLink(capacity=CAPACITY, timeout=2e-4, frame_timeout=2000, store=store)
    return MemGen(link=link, timeout=5.0), link


@pytest.mark.parametrize("store", STORES)
def test_train_commit_sample_read(store):
    client, _ = _client(store)
    size = 37
    data = random.Random(store).randbytes(40 * size)
    records = [data[i * size:(i + 1) * size] for i in range(40)]
    assert client.train(data, size, b"engine") == protocol.crc32(data)
    info = client.info()
    assert (info.state, info.learned) == (State.READY, 40)
    assert client.checksum() == (protocol.crc32(data), len(data))
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
    frame = protocol.encode_frame(Command.LEARN, protocol.pack_fields(
        protocol.LEARN_FIELDS, offset=300) + data[300:700], tag=9)
    link.write(frame[:120])                 # the rest never comes: the frame times out
    replies = []
    decoder = protocol.FrameDecoder()
    while not replies:
        replies = decoder.feed(link.read(64))
    assert replies[0].payload[0] == Status.TRUNCATED
    assert client.info().write_ptr == 300
    client.learn(data[300:], offset=300)
    assert client.commit(protocol.crc32(data)) == protocol.crc32(data)
    assert client.info().state == State.READY
    client.seed(Mode.RECITE, 0)
    assert client.sample(20) == data
