# SPDX-License-Identifier: BSD-2-Clause
"""The cases: what the campaign sends for each :class:`~sim.fuzz.kinds.Kind`, given the
device's state as the reference model has it."""

import binascii

from hw import protocol
from hw.protocol import Command, Mode, Reply, State, Status

from .. import board
from .kinds import (
    _BAD_HEADER,
    _BOOT_LOG,
    _LEARN_CHUNK,
    _LENGTHS,
    HIDDEN_TAGS,
    CampaignError,
    Case,
    Expectation,
    Kind,
    _corrupted_expectation,
    _dropped_expectation,
    _duplicated_expectation,
    _key,
    _truncated_expectation,
)


class CaseGenerators:
    """The case generators of :class:`~sim.fuzz.campaign.Campaign`: each draws from its
    ``rng`` and reads its ``model``, and numbers frames with its ``_frame``."""

    def _valid(self):
        """Return a valid frame for the device's state, as the host would send it."""
        m, rng = self.model, self.rng
        if self.verify and m.state == State.READY:
            return self._frame(Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=0, count=m.count))
        roll = rng.random()
        if m.state == State.LEARNING and m.write_ptr < m.total and roll < 0.8:
            return self._learn_next()
        if m.state == State.LEARNING and m.write_ptr == m.total and roll < 0.8:
            return self._frame(Command.COMMIT, protocol.pack_fields(
                protocol.COMMIT_FIELDS, crc32=self._session_crc()))
        if m.state == State.EMPTY and roll < 0.7 or roll < 0.08:
            return self._begin()
        if m.state == State.READY and roll < 0.45:
            count = rng.randint(0, max(1, 2048 // m.record_size))
            return self._frame(Command.SAMPLE,
                               protocol.pack_fields(protocol.SAMPLE_FIELDS, count=count))
        if m.state != State.EMPTY and roll < 0.6 and m.record_size:
            learned = m.write_ptr // m.record_size
            index = rng.randint(0, learned)
            count = rng.randint(0, min(learned - index, max(1, 2048 // m.record_size)))
            return self._frame(Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=index, count=count))
        choice = rng.choice([Command.INFO, Command.CHECKSUM, Command.SEED, Command.SEED,
                             Command.CLEAR])
        if choice == Command.SEED:
            return self._frame(Command.SEED, protocol.pack_fields(
                protocol.SEED_FIELDS, mode=rng.choice(list(Mode)), seed=rng.getrandbits(64)))
        return self._frame(choice)

    def _begin(self):
        rng = self.rng
        if rng.random() < 0.03:
            size = rng.choice([1, 16, 64, 256])
            count = self.capacity // size
        else:
            size = rng.choice([1, 3, 8, 33, 64, 100, 255, 512])
            count = rng.randint(1, max(1, rng.choice([512, 4096, 12288]) // size))
        header = rng.randbytes(rng.choice([0, 1, 9, protocol.HEADER_SIZE]))
        return self._begin_frame(size, count, header.ljust(rng.choice([len(header), 32]), b"\0"),
                                 rng.randbytes(size * count))

    def _begin_frame(self, size, count, header, plan):
        payload = protocol.begin_payload(size, count, header)
        # Cut short as the host sends it (the device fills in the zeros), or whole.
        sent = protocol.begin_request(size, count, header) if self.rng.random() < 0.5 else payload
        frame = self._frame(Command.BEGIN, sent)
        self._plans[self.tag] = (plan, payload)
        return frame

    def _learn_next(self):
        m, rng = self.model, self.rng
        roll = rng.random()
        size = (rng.randint(1, 256) if roll < 0.7 else rng.randint(257, 2048) if roll < 0.95
                else rng.randint(2049, _LEARN_CHUNK))
        start = m.write_ptr
        data = self.plan[start:start + min(size, m.total - start)]
        return self._frame(Command.LEARN,
                           protocol.pack_fields(protocol.LEARN_FIELDS, offset=start) + data)

    def _wrong_order(self):
        """Return ``(note, frame, status)``: a request the device's state forbids, and the
        status that refuses it."""
        m, rng = self.model, self.rng
        options = []
        if m.state != State.READY:
            options.append(("SAMPLE before COMMIT", Status.BAD_STATE, Command.SAMPLE,
                            protocol.pack_fields(protocol.SAMPLE_FIELDS, count=1)))
        if m.state != State.LEARNING:
            options.append(("LEARN after COMMIT or CLEAR, without BEGIN", Status.BAD_STATE,
                            Command.LEARN,
                            protocol.pack_fields(protocol.LEARN_FIELDS, offset=m.write_ptr) +
                            rng.randbytes(rng.randint(1, 64))))
        if m.state != State.LEARNING or m.write_ptr != m.total:
            options.append(("COMMIT before the last LEARN", Status.BAD_STATE, Command.COMMIT,
                            protocol.pack_fields(protocol.COMMIT_FIELDS,
                                                 crc32=self._session_crc())))
        if m.state == State.EMPTY:
            options.append(("READ with nothing learned", Status.BAD_STATE, Command.READ,
                            protocol.pack_fields(protocol.READ_FIELDS, index=0, count=1)))
        if m.state == State.LEARNING:
            offset = rng.choice([m.write_ptr + rng.randint(1, 100),
                                 max(0, m.write_ptr - rng.randint(1, 100)) if m.write_ptr
                                 else m.write_ptr + 1])
            options.append(("LEARN at the wrong offset", Status.OUT_OF_ORDER, Command.LEARN,
                            protocol.pack_fields(protocol.LEARN_FIELDS, offset=offset) +
                            rng.randbytes(rng.randint(0, 64))))
            if self.last_learn is not None and self.last_learn[0] < m.write_ptr:
                offset, data = self.last_learn
                options.append(("LEARN sent twice", Status.OUT_OF_ORDER, Command.LEARN,
                                protocol.pack_fields(protocol.LEARN_FIELDS, offset=offset) +
                                data))
            if m.write_ptr == m.total:
                options.append(("COMMIT with the wrong CRC", Status.CRC_MISMATCH, Command.COMMIT,
                                protocol.pack_fields(protocol.COMMIT_FIELDS, crc32=(
                                    self._session_crc() ^ 1 << rng.randrange(32)
                                ))))
        note, status, cmd, payload = rng.choice(options)
        return note, self._frame(cmd, payload), status

    def _bad_argument(self):
        """Return ``(note, frame, status)``: a request with a bad argument or length, and the
        status that refuses it."""
        m, rng = self.model, self.rng
        # A READ with nothing learned is refused for the state before its arguments are looked
        # at; a wrong length is refused before either.
        read_refusal = Status.BAD_STATE if m.state == State.EMPTY else Status.BAD_ARGUMENT
        options = [
            ("BEGIN beyond the capacity", Status.OVERFLOW, Command.BEGIN, protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=rng.choice([1, 64, 4096]),
                count=self.capacity // 64 * 64 + rng.randint(1, 1 << 20)) +
             bytes(protocol.HEADER_SIZE)),
            ("BEGIN of 2**32 bytes", Status.OVERFLOW, Command.BEGIN, protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=1 << 16, count=1 << 16) +
             bytes(protocol.HEADER_SIZE)),
            ("BEGIN of 2**31 or more records", Status.OVERFLOW, Command.BEGIN,
             protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=rng.choice([1, 3]),
                count=rng.randint(1 << 31, (1 << 32) - 1)) + bytes(protocol.HEADER_SIZE)),
            ("BEGIN with a zero size or count", Status.BAD_ARGUMENT, Command.BEGIN,
             protocol.pack_fields(
                protocol.BEGIN_FIELDS, **dict(zip(
                    rng.choice([("record_size", "count"), ("count", "record_size")]),
                    (0, rng.choice([0, 1, 64])), strict=True))) + bytes(protocol.HEADER_SIZE)),
            ("SEED with an unknown mode", Status.BAD_ARGUMENT, Command.SEED, protocol.pack_fields(
                protocol.SEED_FIELDS, mode=rng.randint(3, 255), seed=rng.getrandbits(64))),
            ("INFO with a payload", Status.BAD_LENGTH, Command.INFO,
             rng.randbytes(rng.randint(1, 8))),
            ("BEGIN one byte short of its arguments", Status.BAD_LENGTH, Command.BEGIN,
             rng.randbytes(protocol.SHORT_REQUESTS[Command.BEGIN] - 1)),
            ("BEGIN one byte over its header", Status.BAD_LENGTH, Command.BEGIN,
             rng.randbytes(_LENGTHS[Command.BEGIN] + 1)),
            ("LEARN without its offset", Status.BAD_LENGTH, Command.LEARN,
             rng.randbytes(rng.randint(0, 3))),
            ("SAMPLE with a long payload", Status.BAD_LENGTH, Command.SAMPLE, rng.randbytes(5)),
            ("READ past 2**31", read_refusal, Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=0xffffffff, count=rng.randint(1, 8))),
        ]
        if m.state != State.EMPTY and m.record_size:
            learned = m.write_ptr // m.record_size
            options.append(("READ past the end", Status.BAD_ARGUMENT, Command.READ,
                            protocol.pack_fields(
                                protocol.READ_FIELDS, index=rng.randint(0, learned),
                                count=learned + 1 + rng.randint(0, 3))))
        if m.state == State.READY and m.record_size:
            options.append(("SAMPLE of 2**31 bytes or more", Status.BAD_ARGUMENT, Command.SAMPLE,
                            protocol.pack_fields(protocol.SAMPLE_FIELDS, count=rng.randint(
                                -(-protocol.MAX_STREAM_BYTES // m.record_size),
                                (1 << 32) - 1))))
        if m.state == State.LEARNING and m.total - m.write_ptr < _LEARN_CHUNK:
            options.append(("LEARN past the session's end", Status.OVERFLOW, Command.LEARN,
                            protocol.pack_fields(protocol.LEARN_FIELDS, offset=m.write_ptr) +
                            rng.randbytes(m.total - m.write_ptr + rng.randint(1, 64))
                            [:_LEARN_CHUNK]))
        note, status, cmd, payload = rng.choice(options)
        payload = payload[:protocol.MAX_PAYLOAD]
        return note, self._frame(cmd, payload), status

    def _generate(self, kind):
        """Return a :class:`Case` of ``kind`` for the device's current state."""
        if kind == Kind.VALID:
            frame = self._valid()
            return Case(kind, [(frame, 0, 0)], 1, {_key(frame)}, "",
                        Expectation.exact("valid frame: OK", Status.OK))
        if kind in (Kind.WRONG_ORDER, Kind.BAD_ARGUMENT):
            generate = self._wrong_order if kind == Kind.WRONG_ORDER else self._bad_argument
            note, frame, status = generate()
            return Case(kind, [(frame, 0, 0)], 1, {_key(frame)}, note,
                        Expectation.exact(f"{note}: {status.name}", status))
        follow_up = self.rng.random() < 0.3
        if kind in (Kind.BAUD_SLOW, Kind.BAUD_FAST):
            return self._skewed_case(kind)
        generate = {
            Kind.UNKNOWN_COMMAND: self._unknown_command_case,
            Kind.RANDOM_BYTES:    self._random_bytes_case,
            Kind.OVERSIZE_LENGTH: self._oversize_case,
            Kind.STRAY_SYNC:      self._stray_sync_case,
            Kind.BAD_STOP:        self._bad_stop_case,
            Kind.BAD_STOP_B2B:    self._bad_stop_case,
            Kind.HIDDEN_FRAMES:   self._hidden_case,
            Kind.TWO_BIT_FAR:     self._two_bit_case,
            Kind.CHATTY_LINE:     self._chatty_case,
        }.get(kind, self._corrupted_case)
        return self._with_follow_up(generate(kind, follow_up), follow_up)

    def _unknown_command_case(self, kind, follow_up):
        rng = self.rng
        cmd = rng.choice([c for c in range(256) if c not in Command._value2member_map_])
        frame = self._frame(cmd, rng.randbytes(rng.choice([0, 0, 4, 9, rng.randint(0, 64)])))
        return Case(kind, [(frame, 0, 0)], 1, {_key(frame)}, f"command {cmd:#04x}",
                    Expectation.exact("unknown command: UNKNOWN_COMMAND",
                                      Status.UNKNOWN_COMMAND))

    def _random_bytes_case(self, kind, follow_up):
        rng = self.rng
        data = rng.randbytes(rng.randint(1, 256))
        if rng.random() < 0.3:      # sync bytes are what can confuse the receiver
            data = bytes(rng.choice([0xa5, 0x5a, rng.randrange(256)]) for _ in data)
        expect = None
        if protocol.SYNC not in data:
            expect = Expectation.exact("random bytes without a5 5a: no reply")
        return Case(kind, self._paced(data), 1, set(), f"{len(data)} random bytes", expect)

    def _paced(self, data):
        """Return parts that drive ``data`` with a pause after each byte that draws replies, as
        long as the replies take to send.

        The bytes of a header that fails are examined again, so bytes rich in sync markers draw
        a 25-byte reply for as few as two: back to back they would overrun the receive FIFO,
        which the model does not predict.
        """
        model = self.model.clone()
        parts, start = [], 0
        for i, byte in enumerate(data):
            before = len(model.out)
            model.feed((byte,))
            if len(model.out) > before:
                sent = sum(protocol.FRAME_OVERHEAD + len(f.payload) for f in model.out[before:])
                parts.append((data[start:i + 1], 0, sent * protocol.UART_BITS_PER_BYTE * self.cpb))
                start = i + 1
        if start < len(data):
            parts.append((data[start:], 0, 0))
        return parts

    def _oversize_case(self, kind, follow_up):
        """A header with a valid CRC-8 and a length over ``MAX_PAYLOAD``, then random bytes."""
        rng = self.rng
        length = rng.randint(protocol.MAX_PAYLOAD + 1, 0xffff)
        head = protocol.pack_fields(protocol.FRAME_HEADER_FIELDS[:-1],     # all but the HCRC
                                    cmd=rng.choice(list(Command)), tag=self._next_tag(),
                                    length=length)
        data = protocol.SYNC + head + bytes([protocol.crc8(head)])
        data += rng.randbytes(rng.randint(0, 64))
        return Case(kind, [(data, 0, 0)], 1, set(), f"LEN {length}", Expectation.first(
            f"LEN > {protocol.MAX_PAYLOAD} with a valid header CRC: BAD_LENGTH first (the "
            f"payload is hunted for sync markers)", Status.BAD_LENGTH))

    def _stray_sync_case(self, kind, follow_up):
        """A sync marker and up to four random bytes right before a valid frame: the frame's own
        marker is among the bytes of the header the stray one starts, and must be found."""
        rng = self.rng
        frame = self._valid()
        stray = protocol.SYNC + rng.randbytes(rng.choice([0, 0, rng.randint(1, 4)]))
        data = stray + frame
        expect = None
        if len(stray) == protocol.SYNC_SIZE and \
                protocol.crc8(data[protocol.SYNC_SIZE:protocol.PAYLOAD_OFFSET]) != 0:
            expect = Expectation.exact("a5 5a right before a valid frame: HEADER_CRC, then the "
                                       "frame answered (the header's bytes are examined again)",
                                       Status.HEADER_CRC, Status.OK)
            if not self._drops_answered():
                expect = Expectation.exact("a5 5a right before a valid frame, a drop already "
                                           "answered since the last valid header: the frame "
                                           "answered", Status.OK)
        return Case(kind, [(data, 0, 0)], 1, {_key(frame)},
                    f"{len(stray)} stray bytes before {len(frame)}", expect)

    def _hidden_case(self, kind, follow_up):
        """A LEARN whose data holds well-formed frames (with the tags from :data:`HIDDEN_TAGS`
        up, each checked with key 0 or another random key, never the link's), its sync marker
        or a header byte corrupted, so that the device hunts for frames inside the payload.
        None may be executed: the frames framed with another key fail their frame check, and
        an OPEN, always checked with key 0, does not follow silence."""
        rng, m = self.rng, self.model
        data = bytearray()
        hidden = set()
        for tag in rng.sample(range(HIDDEN_TAGS, 256), rng.randint(1, 6)):
            cmd, payload = self._hidden_request()
            key = rng.choice([0, rng.getrandbits(32)])
            if key == self.key:
                key ^= 1
            data += rng.randbytes(rng.choice([0, 1, 5, rng.randint(0, 64)]))
            data += protocol.encode_frame(cmd, payload, tag=tag, key=key)
            hidden.add((protocol.reply_code(cmd), tag))
        data += rng.randbytes(rng.randint(0, 16))
        frame = bytearray(self._frame(Command.LEARN, protocol.pack_fields(
            protocol.LEARN_FIELDS, offset=m.write_ptr) + data[:_LEARN_CHUNK]))
        at = rng.randrange(protocol.PAYLOAD_OFFSET)
        if at < protocol.SYNC_SIZE:
            frame[at] = rng.choice([b for b in range(256) if b != frame[at]])
            note = f"sync byte {at} replaced"
        else:
            frame[at] ^= 1 << rng.randrange(8)
            note = f"header byte {at} with a bit flipped"
        return Case(kind, [(bytes(frame), 0, 0)], 1, set(),
                    f"{note}, {len(hidden)} frames in {len(data)} data bytes", hidden=hidden)

    def _hidden_request(self):
        """Return ``(cmd, payload)``: a request that would change the device's state if it were
        executed (and is right for its state, where that matters)."""
        rng, m = self.rng, self.model
        cmd = rng.choice([Command.CLEAR, Command.BEGIN, Command.BEGIN, Command.COMMIT,
                          Command.SEED, Command.LEARN, Command.SAMPLE, Command.OPEN,
                          Command.ABORT])
        payload = {
            Command.BEGIN: protocol.begin_payload(rng.choice([1, 2, 64]), rng.randint(1, 64),
                                                  rng.randbytes(protocol.HEADER_SIZE)),
            Command.COMMIT: protocol.pack_fields(protocol.COMMIT_FIELDS,
                                                 crc32=self._session_crc()),
            Command.SEED: protocol.pack_fields(protocol.SEED_FIELDS, mode=rng.choice(list(Mode)),
                                               seed=rng.getrandbits(64)),
            Command.LEARN: protocol.pack_fields(protocol.LEARN_FIELDS, offset=m.write_ptr) +
            rng.randbytes(rng.randint(1, 32)),
            Command.SAMPLE: protocol.pack_fields(protocol.SAMPLE_FIELDS,
                                                 count=rng.randint(1, 64)),
            Command.OPEN: protocol.pack_fields(protocol.OPEN_FIELDS, key=rng.getrandbits(32)),
        }.get(cmd, b"")
        return cmd, payload

    def _two_bit_case(self, kind, follow_up):
        """A frame of :data:`hw.protocol.MAX_PAYLOAD` payload bytes (a LEARN as the host sends
        it, or a request the size of a DATA frame) with two bits flipped 32,767 bits apart: the
        first bit of the payload and its last, in CRC-16/XMODEM's bit order. CRC-16/XMODEM,
        the frame check of version 1, does not see them (checked here); CRC-32 must."""
        rng, m = self.rng, self.model
        start = m.write_ptr
        if m.state == State.LEARNING and m.total - start >= _LEARN_CHUNK and rng.random() < 0.5:
            what, cmd, payload = "LEARN of the session's data", Command.LEARN, \
                protocol.pack_fields(protocol.LEARN_FIELDS, offset=start) + \
                self.plan[start:start + _LEARN_CHUNK]
        elif rng.random() < 0.5:
            what, cmd, payload = "LEARN of random data", Command.LEARN, \
                protocol.pack_fields(protocol.LEARN_FIELDS, offset=start) + \
                rng.randbytes(_LEARN_CHUNK)
        else:
            what, cmd, payload = "DATA-size frame", Reply.DATA, \
                rng.randbytes(protocol.MAX_PAYLOAD)
        frame = self._frame(cmd, payload)
        data = bytearray(frame)
        first, last = protocol.PAYLOAD_OFFSET, protocol.PAYLOAD_OFFSET + protocol.MAX_PAYLOAD - 1
        data[first] ^= 0x80         # CRC-16/XMODEM takes each byte most significant bit first
        data[last] ^= 0x01
        covered = slice(protocol.SYNC_SIZE, -protocol.FCS_SIZE)
        if binascii.crc_hqx(bytes(data[covered]), 0) != binascii.crc_hqx(frame[covered], 0):
            raise CampaignError("the two flipped bits are not 32,767 bits apart")
        rule = "2 bits 32,767 apart, which CRC-16/XMODEM misses: "
        expect = (Expectation.first(rule + "FRAME_CRC first", Status.FRAME_CRC) if follow_up
                  else Expectation.exact(rule + "one FRAME_CRC", Status.FRAME_CRC))
        return Case(kind, [(bytes(data), 0, 0)], 1, {_key(frame)},
                    f"{what}, payload bits 0 and {8 * protocol.MAX_PAYLOAD - 1} flipped", expect)

    def _chatty_case(self, kind, follow_up):
        """Long runs of bytes that are no frame, as a port that never stops talking sends them
        (a boot log, noise, sync markers with bad headers), back to back, then a valid frame.
        Only the first frame dropped in its header since the last valid header is answered, so
        the replies never outrun the line: no byte may be lost to a receive overrun."""
        rng = self.rng
        chatter = bytearray()
        kinds = []
        for _ in range(rng.randint(1, 4)):
            what = rng.choice(["boot log", "noise", "bad headers"])
            kinds.append(what)
            n = rng.randint(64, 1024)
            if what == "boot log":
                lines = [line % rng.randrange(1 << 16) for line in _BOOT_LOG]
                run = "".join(rng.choice(lines) for _ in range(n // 20 + 1)).encode()[:n]
            elif what == "noise":
                run = rng.randbytes(n)
            else:
                run = b"".join(self._bad_header() for _ in range(n // protocol.PAYLOAD_OFFSET))
            chatter += run
        frame = self._valid()
        return Case(kind, [(bytes(chatter) + frame, 0, 0)], 1, {_key(frame)},
                    f"{len(chatter)} bytes ({', '.join(kinds)}) before {len(frame)}")

    def _bad_header(self):
        """Return a sync marker and five bytes that fail the header CRC-8."""
        head = bytearray(self.rng.randbytes(protocol.FRAME_HEADER_SIZE))
        if protocol.crc8(head) == 0:
            head[-1] ^= 1
        return protocol.SYNC + bytes(head)

    def _skewed_case(self, kind):
        """A valid frame with every bit 3% long or short."""
        frame = self._valid()
        flag = board.FaultFlag.SLOW if kind == Kind.BAUD_SLOW else board.FaultFlag.FAST
        return Case(kind, [(frame, flag, 0)], 1, {_key(frame)}, "whole frame",
                    Expectation.exact(f"{kind.value}: received intact, OK", Status.OK))

    def _bad_stop_case(self, kind, follow_up):
        """A valid frame with one low stop bit, followed by a pause or, back to back, by the
        rest of the frame."""
        frame = self._valid()
        at = self.rng.randrange(len(frame))
        flags = [0] * len(frame)
        flags[at] = board.FaultFlag.BAD_STOP
        note = f"stop bit of byte {at} of {len(frame)}"
        if kind == Kind.BAD_STOP_B2B:
            return Case(kind, [(frame, flags, 0)], 1, set(), note, framing=1)
        # The pause, two byte times, lets the receiver see the line high before the next start
        # bit: exactly the one byte is lost.
        pause = 2 * protocol.UART_BITS_PER_BYTE * self.cpb
        parts = [(frame[:at + 1], flags[:at + 1], pause), (frame[at + 1:], 0, 0)]
        return Case(kind, parts, 1, set(), note,
                    _dropped_expectation(frame, at, follow_up, "bad stop bit"), framing=1)

    def _corrupted_case(self, kind, follow_up):
        """A valid frame with a bit error or burst, a byte dropped or sent twice, or cut."""
        frame = self._valid()
        data = bytearray(frame)
        corrupt = {
            Kind.BIT_ERROR:       self._flip_bit,
            Kind.BURST_ERROR:     self._flip_burst,
            Kind.DROPPED_BYTE:    self._drop_byte,
            Kind.DUPLICATED_BYTE: self._duplicate_byte,
            Kind.TRUNCATED:       self._cut,
        }[kind]
        note, expect = corrupt(frame, data, follow_up)
        return Case(kind, [(bytes(data), 0, 0)], 1, {_key(frame)}, note, expect)

    # Each corrupts ``data``, a copy of ``frame``, in place; returns a note and an expectation.

    def _flip_bit(self, frame, data, follow_up):
        bit = self.rng.randrange(8 * len(data))
        data[bit // 8] ^= 1 << (bit % 8)
        return (f"bit {bit} of {8 * len(frame)}",
                _corrupted_expectation(bytes(data), bit // 8, bit // 8, burst=False,
                                       drops_answered=self._drops_answered()))

    def _flip_burst(self, frame, data, follow_up):
        # A burst in wire order: the UART sends each byte least significant bit first.
        rng = self.rng
        length = rng.randint(2, 16)
        start = rng.randrange(8 * len(data) - length + 1)
        pattern = 1 | 1 << (length - 1) | rng.getrandbits(length)
        for i in range(length):
            if pattern >> i & 1:
                data[(start + i) // 8] ^= 1 << ((start + i) % 8)
        return (f"{length}-bit burst at bit {start} of {8 * len(frame)}",
                _corrupted_expectation(bytes(data), start // 8, (start + length - 1) // 8,
                                       burst=True, drops_answered=self._drops_answered()))

    def _drop_byte(self, frame, data, follow_up):
        at = self.rng.randrange(len(data))
        del data[at]
        return (f"byte {at} of {len(frame)} dropped",
                _dropped_expectation(frame, at, follow_up, "dropped byte"))

    def _duplicate_byte(self, frame, data, follow_up):
        at = self.rng.randrange(len(data))
        data.insert(at, data[at])
        return f"byte {at} of {len(frame)} sent twice", _duplicated_expectation(frame, at)

    def _cut(self, frame, data, follow_up):
        at = self.rng.randrange(1, len(data))
        del data[at:]
        # A follow-up INFO continues the frame: the protocol alone does not say what it draws.
        return (f"cut after {at} of {len(frame)} bytes",
                None if follow_up else _truncated_expectation(at, self._drops_answered()))

    def _drops_answered(self):
        """Return whether a frame dropped in its header would be answered now: whether no
        such drop was answered since the last valid header (the device rate-limits them)."""
        model = self.model.clone()
        model.out = []
        model.feed(_BAD_HEADER)
        return bool(model.out)

    def _with_follow_up(self, case, follow_up):
        """Follow a faulty frame at once by a valid INFO, if asked: the device must find it
        wherever the fault left the receiver."""
        if follow_up:
            info = self._frame(Command.INFO)
            case.parts.append((info, 0, 0))
            case.intended.add(_key(info))
            case.frames += 1
            case.note += ", then INFO"
            case.follow_tag = self.tag
        return case

    def _abortable_stream(self, frames=(2, 8)):
        """Return ``(cmd, payload)`` of a SAMPLE or READ of ``frames[0]`` to ``frames[1]`` DATA
        frames (or what is learned), or :py:`None` if the device has nothing to stream."""
        m, rng = self.model, self.rng
        if not m.record_size or m.write_ptr < m.record_size or m.state == State.EMPTY:
            return None
        most = max(1, rng.randint(frames[0] * protocol.MAX_PAYLOAD,
                                  frames[1] * protocol.MAX_PAYLOAD) // m.record_size)
        if m.state == State.READY and rng.random() < 0.7:
            return Command.SAMPLE, protocol.pack_fields(protocol.SAMPLE_FIELDS, count=most)
        learned = m.write_ptr // m.record_size
        index = rng.randrange(learned)
        return Command.READ, protocol.pack_fields(
            protocol.READ_FIELDS, index=index, count=min(most, learned - index))
