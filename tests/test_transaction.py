# SPDX-License-Identifier: BSD-2-Clause
"""The sans-IO transaction layer, :mod:`hw.transaction`, on hand-made device frames."""

import pytest

from hw import protocol
from hw.protocol import Command, Counter, Mode, Reply, State, Status
from hw.transaction import Data, Echo, Exchange, Garbage, Request, Response, Unmatched


def reply(cmd, tag, status=Status.OK, extra=b"", **fields):
    """Return the bytes of the device's reply to ``cmd``."""
    payload = protocol.pack_fields(protocol.STATUS_FIELDS, status=status, cmd=cmd, **fields)
    return protocol.encode_frame(protocol.reply_code(cmd), payload + extra, tag=tag)


def data(tag, payload):
    return protocol.encode_frame(Reply.DATA, payload, tag=tag)


HEADER = b"hdr".ljust(protocol.HEADER_SIZE, b"\0")


def info_payload(version=protocol.VERSION, header=HEADER):
    counters = {f"counter_{c.name.lower()}": 10 + c for c in Counter}
    return protocol.pack_fields(protocol.INFO_FIELDS, version=version, capacity=4096,
                                record_size=16, baud=3_000_000, header_size=len(header),
                                uptime=1 << 40, **counters) + header


def test_request_is_the_encoded_frame():
    exchange = Exchange()
    request = exchange.request(Command.SEED, b"\x01" * 9)
    assert isinstance(request, Request)
    assert (request.cmd, request.tag, request.payload) == (Command.SEED, 1, b"\x01" * 9)
    assert request.frame == protocol.encode_frame(Command.SEED, b"\x01" * 9, tag=1)
    assert request.name == "SEED"
    assert exchange.pending == (request,)


def test_tags_count_up_and_wrap():
    exchange = Exchange(first_tag=254)
    tags = [exchange.request(Command.INFO).tag for _ in range(4)]
    assert tags == [254, 255, 0, 1]
    assert exchange.request(Command.INFO, tag=77).tag == 77
    assert exchange.request(Command.INFO).tag == 2        # an explicit tag leaves the count
    assert Request(0x3f, 1, b"", b"").name == "0x3f"


@pytest.mark.parametrize("tag", [-1, 256, "1"])
def test_bad_tags(tag):
    with pytest.raises(ValueError, match=rf"tag must be an integer from 0 to 255, not {tag!r}"):
        Exchange().request(Command.INFO, tag=tag)
    with pytest.raises(ValueError, match=rf"first_tag must be an integer from 0 to 255, not "
                                         rf"{tag!r}"):
        Exchange(first_tag=tag)


def test_oversize_payload():
    with pytest.raises(ValueError, match=r"exceeds MAX_PAYLOAD"):
        Exchange().request(Command.LEARN, bytes(protocol.MAX_PAYLOAD + 1))


def test_response():
    exchange = Exchange()
    request = exchange.request(Command.CHECKSUM)
    (event,) = exchange.feed(reply(Command.CHECKSUM, request.tag, state=State.LEARNING,
                                   mode=Mode.SHUFFLE, count=3, write_ptr=12, value=0xdeadbeef))
    assert isinstance(event, Response)
    assert event.request is request
    assert (event.tag, event.cmd, event.ok, event.info, event.data) == (1, Command.CHECKSUM,
                                                                       True, None, b"")
    assert event.version is None
    assert event.status == {"status": Status.OK, "cmd": Command.CHECKSUM,
                            "state": State.LEARNING, "mode": Mode.SHUFFLE, "count": 3,
                            "write_ptr": 12, "value": 0xdeadbeef}
    assert event.status["state"] is State.LEARNING
    assert event.payload == protocol.pack_fields(
        protocol.STATUS_FIELDS, cmd=Command.CHECKSUM, state=1, mode=1, count=3, write_ptr=12,
        value=0xdeadbeef)
    assert exchange.pending == ()


def test_refusal_is_a_response():
    exchange = Exchange()
    request = exchange.request(Command.SAMPLE, bytes(4))
    (event,) = exchange.feed(reply(Command.SAMPLE, request.tag, Status.BAD_STATE))
    assert isinstance(event, Response) and not event.ok
    assert event.status["status"] is Status.BAD_STATE


def test_info_response():
    exchange = Exchange()
    request = exchange.request(Command.INFO)
    (event,) = exchange.feed(reply(Command.INFO, request.tag, state=State.READY, count=5,
                                   extra=info_payload()))
    info = event.info
    assert info["version"] == protocol.VERSION and info["capacity"] == 4096
    assert info["state"] is State.READY and info["count"] == 5
    assert info["counters"] == {c.name.lower(): 10 + c for c in Counter}
    assert info["header"] == HEADER
    assert info["uptime"] == 1 << 40
    assert info == protocol.parse_info(event.payload)
    assert event.version == protocol.VERSION


def test_info_of_another_version_is_not_parsed():
    exchange = Exchange()
    request = exchange.request(Command.INFO)
    payload = info_payload(version=protocol.VERSION + 1)
    (event,) = exchange.feed(reply(Command.INFO, request.tag, extra=payload))
    assert isinstance(event, Response) and event.info is None
    assert event.version == protocol.VERSION + 1
    assert event.payload[protocol.STATUS_SIZE] == protocol.VERSION + 1
    # A refused INFO carries no more than the status.
    request = exchange.request(Command.INFO, b"x")
    (event,) = exchange.feed(reply(Command.INFO, request.tag, Status.BAD_LENGTH))
    assert event.info is None and event.version is None
    assert event.status["status"] is Status.BAD_LENGTH


def test_data_frames_before_the_reply():
    exchange = Exchange()
    request = exchange.request(Command.READ, bytes(8))
    chunks = [b"abc", b"", b"defgh"]
    stream = b"".join(data(request.tag, c) for c in chunks) + reply(Command.READ, request.tag,
                                                                   value=2)
    events = exchange.feed(stream)
    assert [type(e) for e in events] == [Data, Data, Data, Response]
    assert [e.payload for e in events[:3]] == chunks
    assert all(e.request is request and e.tag == request.tag for e in events)
    assert events[3].data == b""        # not collected


def test_collected_data():
    exchange = Exchange()
    request = exchange.request(Command.SAMPLE, bytes(4), collect=True)
    events = exchange.feed(data(request.tag, b"12") + data(request.tag, b"34") +
                           reply(Command.SAMPLE, request.tag, value=2))
    assert events[-1].data == b"1234"
    assert [e.payload for e in events[:-1]] == [b"12", b"34"]


def test_reply_split_byte_by_byte():
    exchange = Exchange()
    request = exchange.request(Command.SAMPLE, bytes(4), collect=True)
    stream = data(request.tag, b"records") + reply(Command.SAMPLE, request.tag, value=1)
    events = []
    for i, byte in enumerate(stream):
        assert exchange.wanted >= 1
        got = exchange.feed(bytes([byte]))
        assert got == [] or i in (len(data(request.tag, b"records")) - 1, len(stream) - 1)
        events += got
    assert [type(e) for e in events] == [Data, Response]
    assert events[0].payload == b"records" and events[1].data == b"records"
    assert exchange.buffered == 0 and exchange.pending == ()


def test_wanted_asks_for_the_rest_of_a_frame():
    exchange = Exchange()
    request = exchange.request(Command.INFO)
    frame = reply(Command.INFO, request.tag)
    assert exchange.wanted == protocol.FRAME_OVERHEAD
    exchange.feed(frame[:protocol.PAYLOAD_OFFSET])
    assert exchange.wanted == len(frame) - protocol.PAYLOAD_OFFSET
    assert exchange.buffered == protocol.PAYLOAD_OFFSET


def test_wrong_tag_is_unmatched():
    exchange = Exchange()
    request = exchange.request(Command.CLEAR)
    (event,) = exchange.feed(reply(Command.CLEAR, request.tag + 1))
    assert isinstance(event, Unmatched)
    assert event.tag == request.tag + 1 and event.status["status"] is Status.OK
    assert not event.unreliable
    assert exchange.pending == (request,)
    # DATA frames of no pending request carry no status.
    (event,) = exchange.feed(data(request.tag + 1, b"x"))
    assert isinstance(event, Unmatched) and event.status is None and event.payload == b"x"


def test_wrong_command_is_unmatched():
    exchange = Exchange()
    request = exchange.request(Command.CLEAR)
    (event,) = exchange.feed(reply(Command.BEGIN, request.tag))
    assert isinstance(event, Unmatched) and event.frame.cmd == Reply.REPLY | Command.BEGIN
    (event,) = exchange.feed(reply(Command.CLEAR, request.tag))
    assert isinstance(event, Response) and event.request is request


def test_frames_that_are_no_reply():
    exchange = Exchange()
    request = exchange.request(Command.INFO)
    # A request frame that is no pending one's, and a reply too short to hold a status.
    other = protocol.encode_frame(Command.INFO, tag=request.tag + 1)
    short = protocol.encode_frame(protocol.reply_code(Command.INFO), b"\x00", tag=request.tag)
    events = exchange.feed(other + short)
    assert [type(e) for e in events] == [Unmatched, Unmatched]
    assert [e.status for e in events] == [None, None]
    assert exchange.pending == (request,)


def test_own_request_coming_back_is_an_echo():
    exchange = Exchange()
    first = exchange.request(Command.INFO)
    second = exchange.request(Command.SAMPLE, b"\x01\x00\x00\x00")
    events = exchange.feed(second.frame + first.frame)
    assert [type(e) for e in events] == [Echo, Echo]
    assert [e.request for e in events] == [second, first]
    assert events[0].tag == second.tag
    assert exchange.pending == (first, second)
    # The same command and tag with another payload is no echo.
    altered = protocol.encode_frame(Command.SAMPLE, b"\x02\x00\x00\x00", tag=second.tag)
    assert [type(e) for e in exchange.feed(altered)] == [Unmatched]


@pytest.mark.parametrize("status", sorted(Status))
def test_unreliable_replies(status):
    exchange = Exchange()
    exchange.request(Command.LEARN, bytes(8))
    # The device's reply to a frame whose header it could not read: tag and command are noise.
    (event,) = exchange.feed(reply(0x7e, 200, status))
    assert isinstance(event, Unmatched)
    assert event.unreliable == (status in (Status.HEADER_CRC, Status.TRUNCATED))


def test_garbage_before_and_between_frames():
    exchange = Exchange()
    first = exchange.request(Command.READ, bytes(8))
    second = exchange.request(Command.CHECKSUM)
    noise = bytes(range(0x10, 0x30))            # no sync byte in it
    bad = bytearray(reply(Command.CHECKSUM, 99))
    bad[-1] ^= 1                                # a frame CRC error
    stream = (noise + data(first.tag, b"abc") + noise[:5] + reply(Command.READ, first.tag) +
              bytes(bad) + reply(Command.CHECKSUM, second.tag))
    events = exchange.feed(stream)
    assert [type(e) for e in events] == [Garbage, Data, Response, Response]
    assert events[0] == Garbage(skipped=len(noise) + 5 + len(bad), errors=1)
    assert [e.request for e in events[1:]] == [first, first, second]
    # Fed in small pieces, the same frames; garbage is reported as it is skipped.
    exchange = Exchange()
    first = exchange.request(Command.READ, bytes(8))
    second = exchange.request(Command.CHECKSUM)
    events = []
    for i in range(0, len(stream), 7):
        events += exchange.feed(stream[i:i + 7])
    assert [type(e) for e in events if not isinstance(e, Garbage)] == [Data, Response, Response]
    garbage = [e for e in events if isinstance(e, Garbage)]
    assert sum(e.skipped for e in garbage) == len(noise) + 5 + len(bad)
    assert sum(e.errors for e in garbage) == 1
    assert exchange.feed(b"") == []


def test_pipelined_requests_and_a_lost_reply():
    exchange = Exchange()
    requests = [exchange.request(Command.LEARN, bytes(4 + i)) for i in range(4)]
    # The reply to the second is lost; the others arrive in order.
    events = exchange.feed(b"".join(reply(Command.LEARN, r.tag, write_ptr=i)
                                    for i, r in enumerate(requests) if i != 1))
    assert [e.request for e in events] == [requests[0], requests[2], requests[3]]
    assert exchange.pending == (requests[1],)
    exchange.forget(requests[1])
    exchange.forget(requests[1])                # forgetting twice does nothing
    (late,) = exchange.feed(reply(Command.LEARN, requests[1].tag))
    assert isinstance(late, Unmatched)


def test_forget_everything():
    exchange = Exchange()
    request = exchange.request(Command.SAMPLE, bytes(4), collect=True)
    exchange.request(Command.INFO)
    exchange.forget()
    assert exchange.pending == ()
    events = exchange.feed(data(request.tag, b"x") + reply(Command.SAMPLE, request.tag))
    assert [type(e) for e in events] == [Unmatched, Unmatched]


def test_reused_tag_forgets_the_old_request():
    exchange = Exchange()
    old = exchange.request(Command.LEARN, bytes(4), tag=9)
    new = exchange.request(Command.LEARN, bytes(5), tag=9)
    assert exchange.pending == (new,)
    (event,) = exchange.feed(reply(Command.LEARN, 9))
    assert event.request is new and event.request is not old


def test_event_reprs_are_short():
    exchange = Exchange()
    request = exchange.request(Command.READ, bytes(8))
    events = exchange.feed(data(request.tag, bytes(4000)) + reply(Command.READ, request.tag))
    assert all(len(repr(e)) < 300 for e in events)
