# SPDX-License-Identifier: BSD-2-Clause
"""Protocol version 2 on the simulated gateware: OPEN and the link key, ABORT, requests
while a stream runs, the end-to-end CRC-32 of a stream, the session CRC-32 of COMMIT, and the
replies to noise."""

import random

from hw import protocol
from hw.protocol import Command, Mode, Reply, State, Status
from hw.transaction import Data, Response
from sim.pysim_link import SimulatedLink
from tests.helpers import RawClient

CAPACITY = 8192
#: The device's frame timeout in these tests, in cycles: also the silence OPEN needs.
FRAME_TIMEOUT = 2000
KEY = 0x6b657921


def _device():
    link = SimulatedLink(capacity=CAPACITY, timeout=2e-4, frame_timeout=FRAME_TIMEOUT)
    return link, RawClient(link)


def _open(client, key=KEY):
    response = client.call(Command.OPEN, protocol.pack_fields(protocol.OPEN_FIELDS, key=key))
    if response.ok:
        client.exchange.key = key
    return response


def _silence(link):
    link.run(2 * FRAME_TIMEOUT * 10e-9)


def _train(client, data, record_size, header=b"MG"):
    begin = protocol.begin_payload(record_size, len(data) // record_size, header)
    assert client.call(Command.BEGIN, begin).ok
    for offset in range(0, len(data), 4000):
        payload = protocol.pack_fields(protocol.LEARN_FIELDS, offset=offset)
        assert client.call(Command.LEARN, payload + data[offset:offset + 4000]).ok
    crc = protocol.session_crc(begin, data)
    response = client.call(Command.COMMIT, protocol.pack_fields(protocol.COMMIT_FIELDS,
                                                                crc32=crc))
    assert response.ok and response.status["value"] == crc


def _trained(records=200, size=40):
    link, client = _device()
    assert _open(client).ok
    data = random.Random(3).randbytes(records * size)
    _train(client, data, size)
    assert client.call(Command.SEED, protocol.pack_fields(protocol.SEED_FIELDS,
                                                          mode=Mode.RECITE, seed=0)).ok
    return link, client, data


def test_open_sets_the_key_and_answers_like_info():
    link, client = _device()
    response = _open(client)
    assert response.ok and response.status["value"] == KEY
    assert response.info["version"] == protocol.VERSION == 2
    assert response.info["capacity"] == CAPACITY
    # From now on a frame checked with another key (the old one, 0) is refused whole ...
    stale = RawClient(link)
    reply = stale.send(Command.CLEAR)
    assert reply.frame[-4:] != protocol.encode_frame(Command.CLEAR, tag=reply.tag, key=KEY)[-4:]
    event = client.receive()        # decodable with the key: the reply to the stale frame
    assert event.status["status"] == Status.FRAME_CRC
    # ... and one with the key is taken.
    assert client.call(Command.INFO).ok


def test_open_needs_silence():
    link, client = _device()
    assert client.call(Command.INFO).ok
    refused = _open(client)
    assert refused.status["status"] == Status.NOT_QUIET
    assert client.exchange.key == 0 and client.call(Command.INFO).ok    # nothing changed
    _silence(link)
    assert _open(client).ok


def test_data_holding_frames_is_never_executed():
    """A LEARN frame whose sync marker is corrupted: the device hunts inside its payload, which
    holds a CLEAR and a BEGIN framed with key 0. With a link key they fail their check; the
    session survives, and COMMIT covers BEGIN's payload too."""
    link, client = _device()
    assert _open(client).ok
    begin = protocol.begin_payload(4, 100, b"MG")
    assert client.call(Command.BEGIN, begin).ok
    hostile = protocol.encode_frame(Command.CLEAR, tag=200) + protocol.encode_frame(
        Command.BEGIN, protocol.begin_payload(1, 1, b"XX"), tag=201)
    data = hostile.ljust(400, b"\0")
    frame = bytearray(client.exchange.request(
        Command.LEARN, protocol.pack_fields(protocol.LEARN_FIELDS, offset=0) + data).frame)
    client.exchange.forget()
    frame[0] ^= 0xff                        # the sync marker is lost
    link.write(bytes(frame))
    _silence(link)
    while (event := client.receive()) is not None:
        # No reply but FRAME_CRC to the hidden frames (tags 200 and 201), none OK.
        assert event.status["status"] == Status.FRAME_CRC, event
    info = client.call(Command.INFO).info
    assert (info["state"], info["count"], info["record_size"]) == (State.LEARNING, 100, 4)
    assert info["header"][:2] == b"MG"


def test_commit_covers_the_session_header():
    """COMMIT's CRC-32 covers BEGIN's payload: the same records under another BEGIN fail."""
    link, client = _device()
    data = bytes(range(40))
    begin = protocol.begin_payload(4, 10, b"MG")
    assert client.call(Command.BEGIN, protocol.begin_payload(4, 10, b"XX")).ok
    assert client.call(Command.LEARN, bytes(4) + data).ok
    response = client.call(Command.COMMIT, protocol.pack_fields(
        protocol.COMMIT_FIELDS, crc32=protocol.session_crc(begin, data)))
    assert response.status["status"] == Status.CRC_MISMATCH
    assert response.status["value"] == protocol.session_crc(
        protocol.begin_payload(4, 10, b"XX"), data)
    checksum = client.call(Command.CHECKSUM).status
    assert checksum["value"] == response.status["value"]


def test_stream_reply_carries_the_crc_of_its_data():
    link, client, data = _trained()
    for cmd, payload, want in [
            (Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS, count=150),
             data[:150 * 40]),
            (Command.READ, protocol.pack_fields(protocol.READ_FIELDS, index=7, count=3),
             data[7 * 40:10 * 40])]:
        response = client.call(cmd, payload)
        assert response.data == want
        assert response.status["value"] == protocol.crc32(want)


def _first_data(client, request):
    event = client.receive()
    assert isinstance(event, Data) and event.request is request, event
    return event.payload


def test_abort_ends_a_stream_at_a_frame_boundary():
    link, client, data = _trained()
    sample = client.send(Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS,
                                                              count=1 << 20))
    got = bytearray(_first_data(client, sample))
    abort = client.send(Command.ABORT)
    replies = []
    while len(replies) < 2:
        event = client.receive()
        assert event is not None
        if isinstance(event, Data):
            got += event.payload
        else:
            replies.append(event)
    assert [(r.request, r.status["status"]) for r in replies] == \
        [(abort, Status.OK), (sample, Status.ABORTED)]
    # What came is the start of the stream, in whole DATA frames, and its CRC is in the reply.
    records = data * (len(got) // len(data) + 1)
    assert got == records[:len(got)] and len(got) % protocol.MAX_PAYLOAD == 0
    assert replies[1].status["value"] == protocol.crc32(bytes(got))
    # The reader's pending bytes were dropped: the next stream starts where the generator is.
    assert client.call(Command.INFO).ok
    response = client.call(Command.READ, protocol.pack_fields(protocol.READ_FIELDS, index=0,
                                                              count=2))
    assert response.data == data[:80]
    assert client.call(Command.ABORT).ok            # nothing streams: just OK


def test_requests_during_a_stream_are_answered_busy():
    link, client, data = _trained()
    count = 400
    sample = client.send(Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS,
                                                              count=count))
    got = bytearray(_first_data(client, sample))
    clear = client.send(Command.CLEAR)
    learn = client.send(Command.LEARN, bytes(8))
    statuses = {}
    while sample not in statuses:
        event = client.receive()
        assert event is not None
        if isinstance(event, Data):
            got += event.payload
        else:
            assert isinstance(event, Response)
            statuses[event.request] = event.status["status"]
    assert statuses == {clear: Status.BUSY, learn: Status.BUSY, sample: Status.OK}
    # The stream went on untouched, and nothing was applied.
    assert got == (data * 2)[:count * 40]
    assert client.call(Command.INFO).info["state"] == State.READY


def test_open_ends_a_stream_without_its_reply():
    """A client killed while sampling: the next one's OPEN ends the stream; the old stream's
    reply never comes, and the new client's key is in force."""
    link, client, data = _trained()
    client.send(Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS, count=1 << 20))
    _silence(link)                          # the old client is gone; the device streams on
    link.reset_input_buffer()
    fresh = RawClient(link)
    response = _open(fresh, key=0x12345678)
    assert response.ok and response.status["value"] == 0x12345678
    assert fresh.call(Command.INFO).ok
    while (event := fresh.receive()) is not None:
        assert not isinstance(event, Response), event


def test_noise_draws_one_reply():
    """A run of sync markers draws one HEADER_CRC reply, however long: the replies cannot
    outrun the requests. Every drop is counted."""
    link, client = _device()
    link.write(protocol.SYNC * 40)
    # (Tag 2: with tag 1, the last marker's header passes its CRC-8 by chance, 1 in 256.)
    info = client.call(Command.INFO, tag=2, skip={Status.HEADER_CRC})
    assert len(client.skipped) == 1
    assert info.info["counters"]["header_errors"] >= 40
    # After a valid header, the next drop is answered again.
    link.write(protocol.SYNC * 3)
    assert client.call(Command.INFO, tag=2, skip={Status.HEADER_CRC}).ok
    assert len(client.skipped) == 2


def test_data_frames_use_the_key():
    link, client, data = _trained(records=10, size=8)
    response = client.call(Command.READ, protocol.pack_fields(protocol.READ_FIELDS, index=0,
                                                              count=10))
    assert response.data == data
    # The same bytes decoded without the key: nothing passes.
    plain = RawClient(link)
    request = client.send(Command.READ, protocol.pack_fields(protocol.READ_FIELDS, index=0,
                                                             count=10))
    link.run(50e-6)
    raw = link.read(link.in_waiting)
    assert protocol.FrameDecoder().feed(raw) == []
    frames = protocol.FrameDecoder(KEY).feed(raw)
    assert [f.cmd for f in frames] == [Reply.DATA, protocol.reply_code(Command.READ)]
    assert frames[0].tag == request.tag and plain.exchange.key == 0
