# SPDX-License-Identifier: BSD-2-Clause
"""The host client against the real command processor in the Amaranth simulator."""

import random
import time

import pytest

from host.device import (
    DeviceError,
    DeviceTimeout,
    EchoError,
    LinkError,
    MemGen,
    VersionMismatch,
)
from hw import protocol
from hw.protocol import Command, Mode, State, Status
from sim.fakeports import EchoingLink
from sim.pysim_link import SimulatedLink
from tests.helpers import (
    CHATTER,
    HEADER_BYTE,
    FaultLink,
    TricklingServer,
    newer_version,
    session_crc,
    simulated_link,
)

CAPACITY = 4096


def _client(**kwargs):
    link = SimulatedLink(capacity=CAPACITY, timeout=2e-4,
                         frame_timeout=kwargs.pop("frame_timeout", 2000))
    return MemGen(link=link, timeout=kwargs.pop("timeout", 5.0), **kwargs), link


def _data(n, size, seed=0):
    return random.Random(seed).randbytes(n * size)


def test_train_info_sample_read():
    client, _ = _client()
    data = _data(20, 33)
    header = b"MG-test-header"
    crc = client.train(data, 33, header)
    assert crc == session_crc(data, 33, header=header)
    info = client.info()
    assert info.state == State.READY
    assert (info.count, info.record_size, info.learned) == (20, 33, 20)
    assert info.header.rstrip(b"\0") == header
    records = [data[i * 33:(i + 1) * 33] for i in range(20)]
    for mode in Mode:
        client.seed(mode, 99)
        indices = client.predict(30, 20)
        samples = client.sample(30)
        assert samples == b"".join(records[i] for i in indices)
    assert client.read(5, 3) == b"".join(records[5:8])


def test_sample_with_mode_is_reproducible():
    client, _ = _client()
    client.train(_data(10, 8), 8)
    a = client.sample(15, "random", 7)
    b = client.sample(15, Mode.RANDOM, 7)
    c = client.sample(15, Mode.RANDOM, 8)
    assert a == b != c


def test_learn_recovers_from_corrupted_and_lost_frames():
    client, link = _client(window=3 * 100)
    faulty = FaultLink(link, corrupt={Command.LEARN: {2, 5}}, drop={Command.LEARN: {7}},
                       key=client._exchange.key)
    client._link = faulty
    data = _data(30, 50)
    # Frames of 100 bytes, three in flight: corrupt a few, lose one entirely.
    import host.device as device
    old = device._LEARN_CHUNK
    device._LEARN_CHUNK = 100
    try:
        client.begin(50, 30)
        progress = []
        assert client.learn(data, progress=progress.append) == len(data)
        assert sum(progress) == len(data)
    finally:
        device._LEARN_CHUNK = old
    assert client.commit(session_crc(data, 50)) == session_crc(data, 50)
    counters = client.info().counters
    assert counters["crc_errors"] == 2
    client.seed(Mode.RECITE, 0)
    assert client.sample(30) == data


class _Timeline(FaultLink):
    """A :class:`FaultLink` that records, in order, the requests written and each read that
    brought bytes."""

    def __init__(self, link, **kwargs):
        super().__init__(link, **kwargs)
        self.timeline = []

    def write(self, data):
        self.timeline.append(Command(data[protocol.SYNC_SIZE]))
        return super().write(data)

    def read(self, size=1):
        data = super().read(size)
        if data:
            self.timeline.append("reply")
        return data


def test_training_is_one_pipeline():
    """BEGIN, every LEARN and COMMIT leave before the first reply is read: a session costs one
    round trip."""
    client, link = _client()
    client._link = timeline = _Timeline(link, key=client._exchange.key)
    data = _data(30, 100)
    with _chunk(1000):
        assert client.train(data, 100, b"hdr") == session_crc(data, 100, header=b"hdr")
    first = timeline.timeline.index("reply")
    assert timeline.timeline[:first] == [Command.BEGIN, *[Command.LEARN] * 3, Command.COMMIT]
    client.seed(Mode.RECITE, 0)
    assert client.sample(30) == data


class _chunk:
    """Within it, LEARN frames carry ``size`` bytes (several frames for a small data set)."""

    def __init__(self, size):
        self.size = size

    def __enter__(self):
        import host.device as device
        self.old, device._LEARN_CHUNK = device._LEARN_CHUNK, self.size

    def __exit__(self, *exc):
        import host.device as device
        device._LEARN_CHUNK = self.old


_PIPELINE_FAULTS = {
    "BEGIN corrupted": {"corrupt": {Command.BEGIN: {0}}},
    "BEGIN header corrupted": {"corrupt": {Command.BEGIN: {0}}, "corrupt_at": HEADER_BYTE},
    "BEGIN lost": {"drop": {Command.BEGIN: {0}}},
    "BEGIN's reply lost": {"drop_replies": {Command.BEGIN: {0}}},
    "LEARN corrupted": {"corrupt": {Command.LEARN: {1}}},
    "LEARN lost": {"drop": {Command.LEARN: {2}}},
    "LEARN's reply lost": {"drop_replies": {Command.LEARN: {0}}},
    "last LEARN's reply lost": {"drop_replies": {Command.LEARN: {3}}},
    "COMMIT corrupted": {"corrupt": {Command.COMMIT: {0}}},
    "COMMIT lost": {"drop": {Command.COMMIT: {0}}},
    "COMMIT's reply lost": {"drop_replies": {Command.COMMIT: {0}}},
    "every first frame corrupted": {"corrupt": {Command.BEGIN: {0}, Command.LEARN: {0},
                                                Command.COMMIT: {0}}},
}


@pytest.mark.parametrize(("fault", "before"), [
    *((fault, "empty") for fault in _PIPELINE_FAULTS),
    *((fault, before) for fault in ("BEGIN lost", "BEGIN's reply lost", "COMMIT's reply lost")
      for before in ("another model", "this session, half")),
])
def test_pipelined_training_survives_link_faults(fault, before):
    """Whatever frame of the pipelined session is lost or damaged, and whatever the device held
    before, training ends with exactly this data committed, and the progress adds up."""
    client, link = _client(timeout=1.0)
    data, other = _data(16, 25), _data(16, 25, seed=1)
    with _chunk(100):
        if before == "another model":
            client.train(other, 25)
        elif before == "this session, half":
            client.begin(25, 16)
            client.learn(data[:200])
        client._link = FaultLink(link, key=client._exchange.key, **_PIPELINE_FAULTS[fault])
        progress = []
        assert client.train(data, 25, progress=progress.append) == session_crc(data, 25)
    assert sum(progress) == len(data)
    info = client.info()
    assert (info.state, info.count, info.write_ptr) == (State.READY, 16, len(data))
    assert client.read(0, 16, record_size=25) == data


def test_pipelined_training_refusals_are_reported_and_change_nothing():
    client, link = _client()
    data = _data(4, CAPACITY // 4)
    client.train(data, CAPACITY // 4)
    client._link = timeline = _Timeline(link, key=client._exchange.key)
    with pytest.raises(DeviceError, match=r"BEGIN refused: .*\(4096 bytes of capacity\)"):
        client.train(data + b"xxxx", 4)
    assert Command.COMMIT in timeline.commands      # sent in the pipeline, refused
    assert client.info().state == State.READY
    assert client.read(0, 4, record_size=CAPACITY // 4) == data


def test_commands_retried_after_link_errors():
    client, link = _client()
    client.train(_data(4, 4), 4)
    client._link = FaultLink(link, corrupt={Command.INFO: {0}}, corrupt_at=HEADER_BYTE,
                             key=client._exchange.key)
    info = client.info()            # the first INFO is corrupted, then sent again
    assert info.counters["header_errors"] == 1


def test_sampling_untrained_device_is_refused():
    client, _ = _client()
    with pytest.raises(DeviceError, match=r"no finished model \(state: empty\); train it first"):
        client.sample(1, record_size=1)
    client.begin(4, 4)
    with pytest.raises(DeviceError, match=r"state: learning"):
        client.sample(1, record_size=4)


def test_over_capacity_is_refused_and_model_kept():
    client, _ = _client()
    data = _data(4, CAPACITY // 4)
    client.train(data, CAPACITY // 4)
    with pytest.raises(DeviceError, match=rf"\({CAPACITY} bytes of capacity\)"):
        client.train(data + b"x", 1)
    assert client.info().state == State.READY
    assert client.read(0, 4, record_size=CAPACITY // 4) == data


def test_commit_mismatch():
    client, _ = _client()
    client.begin(2, 2)
    client.learn(b"abcd")
    with pytest.raises(DeviceError, match=r"does not match the data sent"):
        client.commit(session_crc(b"abce", 2))
    assert client.info().state == State.LEARNING


def test_timeout_when_nothing_answers():
    link = SimulatedLink(capacity=CAPACITY, timeout=2e-4)
    link.write = lambda data: len(data)         # the device never hears us
    with pytest.raises(DeviceTimeout, match=r"did not answer within 0.5 s; check --port"):
        MemGen(link=link, timeout=0.5)


@pytest.mark.parametrize("chatter", CHATTER.values(), ids=CHATTER.keys())
def test_waits_end_on_time_whatever_arrives(chatter):
    with TricklingServer(chatter) as server:
        start = time.monotonic()
        with pytest.raises(DeviceTimeout, match=r"did not answer within 1 s"):
            MemGen(server.url, timeout=1, retries=0)
        assert time.monotonic() - start < 10


class _ChattyLink:
    """A :class:`host.link.Transport` whose every read returns a whole reply to no request,
    for ``seconds`` (then nothing)."""

    in_waiting = 0

    def __init__(self, seconds=20):
        self._until = time.monotonic() + seconds
        self._frame = CHATTER["replies to no request"]

    def read(self, size=1):
        return self._frame if time.monotonic() < self._until else b""

    def write(self, data):
        return len(data)


def test_frames_for_no_request_on_every_read_do_not_extend_a_wait():
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match=r"did not answer within 1 s"):
        MemGen(link=_ChattyLink(), timeout=1, retries=0)
    assert time.monotonic() - start < 10


def test_echoing_port_is_named_at_once():
    start = time.monotonic()
    with pytest.raises(EchoError, match=r"^the port echoes what it is sent: a loopback, a "
                                        r"TX-RX jumper, or a board without the MemGEN "
                                        r"bitstream; check --port"):
        MemGen(link=EchoingLink(), timeout=30)
    assert time.monotonic() - start < 10      # recognised, not timed out


def test_closed_link():
    client, link = _client()
    link.close()
    with pytest.raises(LinkError, match=r"cannot write to the device"):
        client.info()


def test_version_mismatch():
    # A device with a future bitstream.
    link = simulated_link(CAPACITY, rewrite=newer_version)
    with pytest.raises(VersionMismatch, match=rf"protocol version {protocol.VERSION + 1}, "
                                              rf"this host {protocol.VERSION}"):
        MemGen(link=link, timeout=5)


def test_status_codes_have_messages():
    from host.device import _STATUS_TEXT
    assert set(_STATUS_TEXT) == set(Status) - {Status.OK}


def test_interrupted_sample_aborts_the_stream():
    """Ctrl-C while sampling: the client sends ABORT and drains before the interrupt goes on, so
    the device is ready at once for the next request."""
    link = simulated_link(CAPACITY)
    client = MemGen(link=link, timeout=5)
    data = _data(100, 40)
    client.train(data, 40)
    client.seed(Mode.RECITE, 0)

    def progress(count):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.sample(50_000, progress=progress)
    assert link.commands[-1] == Command.ABORT
    assert client.read(2, 3) == data[80:200]
    assert client.info().state == State.READY


def test_damaged_stream_is_fetched_again():
    """Sample and read data checked end to end: a DATA frame damaged behind the link's own
    check (here rewritten on the way) fails the stream's CRC-32, and the records are fetched
    again: SAMPLE's by READ at the indices the generator's model predicts."""
    damage = [0]

    def rewrite(frame):
        if frame.cmd == protocol.Reply.DATA and damage[0]:
            damage[0] -= 1
            payload = bytearray(frame.payload)
            payload[len(payload) // 2] ^= 0x10
            return protocol.Frame(frame.cmd, frame.tag, bytes(payload))
        return frame

    link = simulated_link(CAPACITY, rewrite=rewrite)
    client = MemGen(link=link, timeout=5)
    data = _data(50, 16)
    client.train(data, 16)
    client.seed(Mode.SHUFFLE, 3)
    indices = client.predict(40, 50)
    damage[0] = 1
    assert client.sample(40) == b"".join(data[i * 16:(i + 1) * 16] for i in indices)
    assert damage[0] == 0 and Command.READ in link.commands
    damage[0] = 1
    reads = len(link.payloads(Command.READ))
    assert client.read(5, 10) == data[80:240]
    assert len(link.payloads(Command.READ)) == reads + 2
    # The sequence goes on where the device is.
    after = client.predict(5, 50)
    assert client.sample(5) == b"".join(data[i * 16:(i + 1) * 16] for i in after)
