# SPDX-License-Identifier: BSD-2-Clause
"""The campaign: cases driven onto the fault-mode board's pins, every reply predicted by the
reference model and checked."""

import collections
import random

from hw import protocol
from hw.engine.cmdproc_model import CommandProcessorModel, describe_frame
from hw.protocol import Command, Counter, Mode, Reply, State, Status

from .. import board
from .generators import CaseGenerators
from .kinds import (
    _COUNTER_NAMES,
    _LEARN_ARGS,
    _LEARN_CHUNK,
    _TAG_AT,
    HIDDEN_TAGS,
    WEIGHTS,
    CampaignError,
    Case,
    Expectation,
    Kind,
    _key,
    _status_name,
)
from .report import KindStats


class Campaign(CaseGenerators):
    """A seeded fault-injection campaign against a virtual board in fault mode.

    Parameters
    ----------
    port : sim.board.FaultPort
        The board.
    seed : int
        Seed of every random choice.
    clk_freq, baud : int
        The board's parameters (the capacity comes from its first INFO).
    """

    def __init__(self, port, seed, *, clk_freq, baud):
        self.port = port
        self.seed = seed
        self.rng = random.Random(seed)
        self.clk_freq = clk_freq
        self.baud = baud
        self.capacity = None
        self.cpb = clk_freq // baud
        self.timeout_cycles = protocol.frame_timeout_cycles(clk_freq, baud)
        # Idle time that ends any partly received frame: the timeout, plus the last bytes'
        # way through the UART and the receive FIFO, plus a reply in progress.
        self.grant = self.timeout_cycles + 256 * protocol.UART_BITS_PER_BYTE * self.cpb
        self.tag = 0
        #: The link key, drawn from the seed and set by the OPEN that starts the campaign.
        self.key = 0
        self.model = None
        self.kinds = {kind: KindStats() for kind in Kind}
        self.indeterminate = collections.Counter()
        self.rules = collections.Counter()
        self._uptime = 0
        self.frames = 0
        self.cases = 0
        self.checks = []
        # What the host knows: the session it is teaching and what the device acknowledged.
        self.plan = b""
        self.begin = b""            # the payload of the BEGIN that started the session
        self._plans = {}            # BEGIN tag -> the data of the session it starts
        self._sent = {}             # LEARN tag -> (offset, data), of the current case
        self._counters_before = []
        self.acked = bytearray()
        self.committed = None
        self.verify = False         # READ the committed session back next
        self.verified = 0
        self.last_learn = None
        self.marker = None
        # The numbers that must be 0, and what they were measured on.
        self.data_bytes = 0         # bytes of DATA frames received
        self.silently_wrong = 0     # ... differing from the model's, in a stream reported good
        self.hidden_sent = 0        # frames hidden in data
        self.hidden_answered = 0    # ... that the device found and answered (refused)
        self.hidden_executed = 0    # ... that it executed

    # Frames.

    def _next_tag(self):
        """Number the next frame: the tags from :data:`HIDDEN_TAGS` on are the hidden frames'."""
        self.tag = (self.tag + 1) % HIDDEN_TAGS
        return self.tag

    def _frame(self, cmd, payload=b""):
        return protocol.encode_frame(cmd, payload, tag=self._next_tag(), key=self.key)

    def _session_crc(self):
        """Return the session CRC-32 of the acknowledged data, as COMMIT and CHECKSUM compare
        it: over the payload of the BEGIN that started the session, then the data."""
        return protocol.session_crc(self.begin, bytes(self.acked))

    def _exchange(self, parts, *, grant=False):
        """Drive parts, idle if asked, wait for the marker; return the frames received."""
        for data, flags, pause in parts:
            self.port.send(data, flags)
            if pause:
                self.port.idle(pause)
        if grant:
            self.port.idle(self.grant)
        received, marker = self.port.sync()
        if not marker.settled:
            raise CampaignError(f"the device hung: busy for more than the watchdog's cycles "
                                f"without a byte in or out (marker {marker.id} at cycle "
                                f"{marker.cycles})")
        if marker.bytes_in != self.port.bytes_sent:
            raise CampaignError(f"{self.port.bytes_sent - marker.bytes_in} bytes sent were "
                                f"never driven onto the UART")
        if marker.tx_framing_errors:
            raise CampaignError(f"{marker.tx_framing_errors} bytes from the device had a low "
                                f"stop bit")
        self.marker = marker
        # Frame by frame, not through hw.transaction: every frame the device sends is compared
        # with the model's, those that no request asked for included.
        decoder = protocol.FrameDecoder(self.key)
        frames = decoder.feed(received)
        for frame in frames:
            if (frame.cmd == protocol.reply_code(Command.INFO) and
                    len(frame.payload) >= protocol.STATUS_SIZE + protocol.INFO_SIZE):
                # The device's own clock: it runs on, and never ahead of the simulation's.
                uptime = protocol.parse_info(frame.payload)["uptime"]
                if not self._uptime < uptime <= marker.cycles:
                    raise CampaignError(f"INFO reports an uptime of {uptime} cycles after "
                                        f"{self._uptime}, at cycle {marker.cycles}")
                self._uptime = uptime
        if decoder.errors or decoder.pending:
            raise CampaignError(f"the device sent bytes that are not valid frames "
                                f"({decoder.errors} bad, {decoder.pending} left over): "
                                f"{received[:200].hex()}")
        return frames

    # Running cases.

    def _predict(self, case):
        """Return the model after the case and whether the case ends mid-frame (the model's
        frames are in its ``out``).

        The model sends a stream whole at once, but the device answers requests that arrive
        while it streams ``BUSY``, between its DATA frames: so the bytes after a request that
        starts a stream wait, in :attr:`Case.parts`, until the stream is sent (the aborts of a
        stream are :meth:`_abort_case`'s).
        """
        model = self.model.clone()
        model.out = []
        model.accepted = []
        parts = []
        for n, (data, flags, pause) in enumerate(case.parts):
            flags = [int(flags)] * len(data) if isinstance(flags, int) else list(flags)
            start = 0
            for i, (byte, flag) in enumerate(zip(data, flags, strict=True)):
                before = len(model.out)
                if flag & board.FaultFlag.BAD_STOP:
                    model.framing_error()
                else:
                    model.feed((byte,))
                more = i + 1 < len(data) or any(p[0] for p in case.parts[n + 1:])
                if more and any(f.cmd == Reply.DATA for f in model.out[before:]):
                    wait = self._sending_cycles(model.out)
                    parts.append((data[start:i + 1], flags[start:i + 1], wait))
                    start = i + 1
                    if wait >= self.timeout_cycles:
                        model.timeout()     # only lets an OPEN be taken: no frame is open
            if start < len(data) or not parts:
                parts.append((data[start:], flags[start:], pause))
            else:
                parts[-1] = (*parts[-1][:2], parts[-1][2] + pause)
        case.parts = parts
        grant = model.midframe
        if grant:
            # The idle time that ends the frame is also the silence an OPEN needs.
            model.timeout()
        return model, grant

    def _sending_cycles(self, frames):
        """Return clock cycles the device surely needs to send ``frames``."""
        size = sum(protocol.FRAME_OVERHEAD + len(f.payload) for f in frames)
        return (size * 102 // 100 + 64) * protocol.UART_BITS_PER_BYTE * self.cpb

    def _run(self, case, *, record=True, predicted=None):
        """Run a determinate case: predict, drive, compare. Returns the frames received."""
        model, grant = predicted or self._predict(case)
        frames = self._exchange(case.parts, grant=grant)
        self._count_data(case, model.out, frames)
        self._count_hidden(case, frames)
        expected = [f for f in model.out]
        ok = len(frames) == len(expected) and all(
            e.matches(f) for e, f in zip(expected, frames, strict=True))
        if not ok:
            raise CampaignError(self._mismatch(case, expected, frames))
        self.model = model
        self._observe(frames)
        if record:
            self._record(case, frames, model)
        return frames

    def _count_data(self, case, expected, frames):
        """Count the DATA bytes received, and those that differ from the model's in a stream
        whose reply says it is good (status OK or ABORTED, value the CRC-32 of the bytes
        received): bytes silently wrong, which a host would take for the device's."""
        got, want = collections.defaultdict(bytes), collections.defaultdict(bytes)
        for frame in frames:
            if frame.cmd == Reply.DATA:
                got[frame.tag] += frame.payload
        for frame in expected:
            if frame.cmd == Reply.DATA:
                want[frame.tag] += frame.payload
        self.data_bytes += sum(len(data) for data in got.values())
        wrong = 0
        for frame in frames:
            if protocol.request_code(frame.cmd) not in protocol.STREAM_COMMANDS or \
                    len(frame.payload) < protocol.STATUS_SIZE:
                continue
            st = protocol.parse_status(frame.payload)
            data, model = got[frame.tag], want[frame.tag]
            if st["status"] in (Status.OK, Status.ABORTED) and \
                    st["value"] == protocol.crc32(data):
                if st["status"] == Status.ABORTED:
                    model = model[:len(data)]
                wrong += sum(a != b for a, b in zip(data, model, strict=False)) + \
                    abs(len(data) - len(model))
        self.silently_wrong += wrong
        if wrong:
            raise CampaignError(f"case {self.cases} ({case.kind.value}: {case.note}): "
                                f"{wrong} bytes silently wrong (streamed with a good CRC-32 but "
                                f"not the model's)")

    def _count_hidden(self, case, frames):
        """Count the frames hidden in the case's data, the replies to them, and those that
        executed them (status OK); fail on one."""
        self.hidden_sent += len(case.hidden)
        for frame in frames:
            if (frame.cmd, frame.tag) in case.hidden:
                self.hidden_answered += 1
                if frame.payload[0] == Status.OK:
                    self.hidden_executed += 1
                    raise CampaignError(
                        f"case {self.cases} ({case.kind.value}: {case.note}): a frame hidden "
                        f"in data was executed: "
                        f"{describe_frame(frame.cmd, frame.tag, frame.payload)}")

    def _mismatch(self, case, expected, frames):
        sent = b"".join(data for data, _, _ in case.parts)
        lines = [(f"case {self.cases} ({case.kind.value}: {case.note or 'as sent'}) was not "
                 f"answered as the protocol says"),
                 f"  sent {len(sent)} bytes: {sent[:96].hex()}{'...' if len(sent) > 96 else ''}",
                 "  expected:"]
        lines += [f"    {e.describe()}" for e in expected] or ["    nothing"]
        lines.append("  received:")
        lines += [f"    {describe_frame(f.cmd, f.tag, f.payload)}"
                  for f in frames] or ["    nothing"]
        return "\n".join(lines)

    def _observe(self, frames):
        """Update what the host knows from the replies it received."""
        for frame in frames:
            if frame.cmd == Reply.DATA or len(frame.payload) < protocol.STATUS_SIZE:
                continue
            if protocol.parse_status(frame.payload)["status"] != Status.OK:
                continue
            request = protocol.request_code(frame.cmd)
            if request == Command.BEGIN:
                self.plan, self.begin = self._plans.get(frame.tag, (b"", b""))
                self.acked = bytearray()
                self.committed = None
                self.last_learn = None
            elif request == Command.LEARN:
                sent = self._sent.get(frame.tag)
                if sent is not None and sent[0] == len(self.acked):
                    self.acked += sent[1]
                    self.last_learn = sent
            elif request == Command.COMMIT:
                self.committed = bytes(self.acked)
                self.verify = True
            elif request == Command.READ and self.verify:
                data = b"".join(f.payload for f in frames if f.cmd == Reply.DATA)
                if data == self.committed:
                    self.verify = False
                    self.verified += 1
                elif len(data) == len(self.committed):
                    raise CampaignError("a committed session reads back different from the "
                                        "data of its acknowledged LEARN frames")
            elif request == Command.CLEAR:
                self.acked = bytearray()
                self.committed = None

    def _record(self, case, frames, model):
        """Count a case's outcome and check it against the expectation derived for it."""
        stats = self.kinds[case.kind]
        stats.cases += 1
        stats.frames += case.frames
        self.frames += case.frames
        self.cases += 1
        replies = []
        follow_up = None
        for frame in frames:
            if frame.cmd == Reply.DATA:
                continue
            if (case.follow_tag is not None and frame.tag == case.follow_tag and
                    frame.cmd == protocol.reply_code(Command.INFO) and
                    frame.payload[0] == Status.OK):
                follow_up = frame
            else:
                replies.append(frame)
        if case.follow_tag is not None:
            stats.follow_ups += 1
            stats.follow_ups_answered += follow_up is not None
        statuses = [frame.payload[0] for frame in replies]
        framing = model.counters[Counter.FRAMING_ERRORS] - \
            self._counters_before[Counter.FRAMING_ERRORS]
        stats.replies += bool(replies)
        stats.silent += not replies
        stats.detected += any(st != Status.OK for st in statuses) or framing > 0
        names = collections.Counter(_status_name(st) for st in statuses)
        if framing:
            names["framing"] = framing
        stats.outcomes[" + ".join(name if n == 1 else f"{n}x {name}"
                                  for name, n in sorted(names.items())) or "no reply"] += 1
        if case.expect is not None:
            if not (case.expect.holds(statuses) and framing == case.framing):
                raise CampaignError(
                    f"case {self.cases} ({case.kind.value}: {case.note}) broke the rule "
                    f"'{case.expect.rule}': replies {[_status_name(st) for st in statuses]}, "
                    f"{framing} framing errors")
            self.rules[case.kind, case.expect.rule] += 1

    def step(self):
        """Run one random case."""
        kinds = list(WEIGHTS)
        kind = self.rng.choices(kinds, [WEIGHTS[k] for k in kinds])[0]
        self._counters_before = list(self.model.counters)
        if kind == Kind.BAD_STOP_B2B:
            self._indeterminate(self._generate(kind))
            return
        if kind == Kind.ABORT:
            self._abort(kind)
            return
        for _ in range(20):
            tag = self.tag
            case = self._generate(kind)
            predicted = self._predict(case)
            unintended = [a for a in predicted[0].accepted if a not in case.intended and
                          (protocol.reply_code(a[0]), a[1]) not in case.hidden]
            if not unintended:
                break
            # The fault slipped through both CRCs (or random bytes formed a valid frame):
            # that measures the CRC, not the device. Draw another.
            self.kinds[kind].redrawn += 1
            self.tag = tag
        else:
            raise CampaignError(f"could not draw a detectable {kind.value} case")
        self._remember(case)
        self._run(case, predicted=predicted)

    def _abort(self, kind):
        """A SAMPLE or READ, then, after a random number of byte times, ABORT; sometimes a
        CLEAR right behind the request, while it streams (or, a quarter of the time, a new
        OPEN: :meth:`_open_mid_stream`).

        The model sends a stream whole, so the case is checked against the protocol: the DATA
        frames received are the first whole frames of the model's stream; the CLEAR is answered
        BUSY and not applied; ABORT is answered OK and then the stream ABORTED, its ``value``
        the CRC-32 of the bytes sent (or, if the ABORT came too late, the stream is answered
        OK whole, then the ABORT). The address generator advanced by an unknown number of
        records, so a SEED follows a SAMPLE to bring the model back in step.
        """
        opening = self.rng.random() < 0.25
        # An OPEN needs the frame timeout's silence first: a longer stream, to end it midway.
        stream = self._abortable_stream((4, 16) if opening else (2, 8))
        if stream is None:
            frame = self._frame(Command.ABORT)
            case = Case(kind, [(frame, 0, 0)], 1, {_key(frame)}, "nothing streaming",
                        Expectation.exact("ABORT with nothing streaming: OK", Status.OK))
            self._remember(case)
            self._run(case)
            return
        if opening:
            self._open_mid_stream(kind, stream)
            return
        request = self._frame(*stream)
        model = self.model.clone()
        model.out, model.accepted = [], []
        model.feed(request)
        predicted = list(model.out)
        wire = sum(protocol.FRAME_OVERHEAD + len(f.payload) for f in predicted)
        parts = [(request, 0, 0)]
        probe = None
        if len(predicted) > 2 and self.rng.random() < 0.3:
            probe = self._frame(Command.CLEAR)
            parts.append((probe, 0, 0))
        delay = self.rng.randint(0, wire * 9 // 10)
        parts[-1] = (parts[-1][0], 0, delay * protocol.UART_BITS_PER_BYTE * self.cpb)
        abort = self._frame(Command.ABORT)
        parts.append((abort, 0, 0))
        case = Case(kind, parts, len(parts), set(), f"{stream[0].name} of "
                    f"{wire - protocol.FRAME_OVERHEAD - protocol.STATUS_SIZE} bytes, ABORT "
                    f"after {delay} byte times{', CLEAR while it streams' if probe else ''}")
        frames = self._exchange(parts)
        self._count_data(case, predicted, frames)
        rule = self._check_abort(case, request, probe, abort, predicted, frames)
        model.feed(abort)
        if rule.startswith("mid-stream"):
            model.counters[Counter.FRAMES_OK] -= 1      # the stream's reply: ABORTED
            model.counters[Counter.REJECTED] += 1
        if probe is not None:
            model.counters[Counter.REJECTED] += 1       # BUSY
        model.out.clear()
        self.model = model
        self._record(case, frames, model)
        self.rules[kind, rule] += 1
        if stream[0] == Command.SAMPLE:
            self._valid_request(Command.SEED, protocol.pack_fields(
                protocol.SEED_FIELDS, mode=self.rng.choice(list(Mode)),
                seed=self.rng.getrandbits(64)))

    def _open_mid_stream(self, kind, stream):
        """A SAMPLE or READ, then, after the frame timeout's silence and a random number of
        byte times more, an OPEN with a new link key drawn from the seed, as a tool started
        while a killed one's stream still runs: the stream ends at a DATA frame boundary
        without its reply, and the OPEN is answered OK with the new key and the counters of
        every reply sent (exactly as the model predicts them, the stream's reply left out).
        If the stream ended first, it is answered OK whole and then the OPEN.
        """
        request = self._frame(*stream)
        model = self.model.clone()
        model.out, model.accepted = [], []
        model.feed(request)
        predicted = list(model.out)
        wire = sum(protocol.FRAME_OVERHEAD + len(f.payload) for f in predicted)
        quiet = protocol.FRAME_TIMEOUT_BYTES + 64
        delay = self.rng.randint(quiet, max(quiet, wire * 9 // 10))
        key = self.rng.getrandbits(32) or 1
        open_frame = self._frame(Command.OPEN, protocol.pack_fields(protocol.OPEN_FIELDS,
                                                                    key=key))
        parts = [(request, 0, delay * protocol.UART_BITS_PER_BYTE * self.cpb),
                 (open_frame, 0, 0)]
        case = Case(kind, parts, 2, set(), f"{stream[0].name} of "
                    f"{wire - protocol.FRAME_OVERHEAD - protocol.STATUS_SIZE} bytes, OPEN after "
                    f"{delay} byte times of silence")
        frames = self._exchange(parts)
        self._count_data(case, predicted, frames)
        *data, reply = predicted
        got = [f for f in frames if f.cmd == Reply.DATA]
        others = [f for f in frames if f.cmd != Reply.DATA]
        if len(got) > len(data) or any(not e.matches(f) for e, f in zip(data, got,
                                                                        strict=False)):
            raise CampaignError(f"case {self.cases} ({kind.value}: {case.note}): the DATA "
                                f"frames are not whole frames of the stream\n" +
                                self._mismatch(case, predicted, frames))
        completed = len(others) == 2 and reply.matches(others[0])
        if not completed:
            model.counters[Counter.FRAMES_OK] -= 1      # the stream ended without its reply
        model.out.clear()
        model.timeout()
        model.feed(open_frame)
        expected = model.out[-1]
        if len(others) != 1 + completed or not expected.matches(others[-1]) or \
                model.key != key:
            raise CampaignError(f"case {self.cases} ({kind.value}: {case.note}): the stream "
                                f"and the OPEN were not answered as the protocol says\n" +
                                self._mismatch(case, [*data[:len(got)], expected], frames))
        model.out.clear()
        self.model, self.key = model, key
        self._record(case, frames, model)
        self.rules[kind, "OPEN after silence during a stream: whole DATA frames, no reply to "
                         "the stream, OPEN OK with the new key" if not completed else
                   "OPEN after silence, after the stream: the stream whole and OK, then OPEN OK"
                   ] += 1
        if stream[0] == Command.SAMPLE:
            self._valid_request(Command.SEED, protocol.pack_fields(
                protocol.SEED_FIELDS, mode=self.rng.choice(list(Mode)),
                seed=self.rng.getrandbits(64)))

    def _check_abort(self, case, request, probe, abort, predicted, frames):
        """Check the frames an aborted stream drew (see :meth:`_abort`); return the rule they
        followed."""
        def fail(what):
            return CampaignError(f"case {self.cases} ({case.kind.value}: {case.note}): {what}\n"
                                 + self._mismatch(case, predicted, frames))

        *stream, reply = predicted
        data = [f for f in frames if f.cmd == Reply.DATA]
        if any(not e.matches(f) for e, f in zip(stream, data, strict=False)) or \
                len(data) > len(stream):
            raise fail("the DATA frames are not whole frames of the stream")
        sent = b"".join(f.payload for f in data)
        replies = {(f.cmd, f.tag): (i, protocol.parse_status(f.payload))
                   for i, f in enumerate(f for f in frames if f.cmd != Reply.DATA)}
        want = {protocol.reply_code(request[protocol.SYNC_SIZE]): request[_TAG_AT],
                protocol.reply_code(Command.ABORT): abort[_TAG_AT]}
        if probe is not None:
            want[protocol.reply_code(Command.CLEAR)] = probe[_TAG_AT]
        if len(replies) != len(want) or any((cmd, tag) not in replies
                                            for cmd, tag in want.items()):
            raise fail("not one reply to each request")
        at, st = replies[reply.cmd, reply.tag]
        abort_at, abort_st = replies[protocol.reply_code(Command.ABORT), abort[_TAG_AT]]
        same = ("state", "mode", "count", "write_ptr")
        model_st = protocol.parse_status(reply.payload)
        if any(s[name] != model_st[name] for s in (st, abort_st) for name in same) or \
                abort_st["status"] != Status.OK:
            raise fail("the replies do not carry the device's state, or ABORT was refused")
        if probe is not None:
            probe_at, probe_st = replies[protocol.reply_code(Command.CLEAR), probe[_TAG_AT]]
            if probe_st["status"] != Status.BUSY or probe_at > at:
                raise fail("the CLEAR sent while the stream ran was not answered BUSY first")
        if st["status"] == Status.OK and len(data) == len(stream) and \
                st["value"] == protocol.crc32(sent) and abort_at > at:
            return "ABORT after the stream: the stream whole and OK, then ABORT OK"
        if st["status"] == Status.ABORTED and st["value"] == protocol.crc32(sent) and \
                abort_at < at:
            return ("mid-stream: whole DATA frames of the stream, ABORT OK, then ABORTED with "
                    "the CRC-32 of the bytes sent" +
                    ("; the CLEAR sent meanwhile BUSY" if probe is not None else ""))
        raise fail("the stream was not ended as the protocol says")

    def _remember(self, case):
        """Note the LEARN frames a case means to send, by tag, to credit their
        acknowledgements."""
        self._sent = {
            tag: (protocol.unpack_fields(protocol.LEARN_FIELDS, payload)["offset"],
                  payload[_LEARN_ARGS:])
            for cmd, tag, payload in case.intended
            if cmd == Command.LEARN and len(payload) >= _LEARN_ARGS}

    def _indeterminate(self, case):
        """A framing error followed at once by more bytes.

        After the low stop bit the receiver waits for the line to go high and takes the next
        falling edge, wherever it is, as a start bit: the rest of the frame is re-framed at bit
        offsets that depend on its contents, giving a few garbage bytes and possibly more framing
        errors. The model cannot follow that byte for byte, so the case is checked by
        invariants: at least the one injected framing error is counted; no byte overruns; each
        reply frame received is counted by exactly one counter, and any other count is of a
        frame dropped in its header (answered only if the first since the last valid
        header); nothing is applied (state,
        session, write pointer and header unchanged); and the device answers the INFO that
        follows. The counters then continue from the device's.
        """
        self._remember(case)
        frames = self._exchange(case.parts, grant=True)
        before = self.model.counters
        info_frame = self._frame(Command.INFO)
        replies = self._exchange([(info_frame, 0, 0)])
        if len(replies) != 1 or replies[0].tag != info_frame[_TAG_AT] or \
                replies[0].cmd != protocol.reply_code(Command.INFO):
            raise CampaignError(f"case {self.cases} ({case.kind.value}: {case.note}): no "
                                f"INFO reply after it; received {replies}")
        info = protocol.parse_info(replies[0].payload)
        after = [info["counters"][name] for name in _COUNTER_NAMES]
        delta = [a - b for a, b in zip(after, before, strict=True)]
        problems = []
        if delta[Counter.FRAMING_ERRORS] < 1:
            problems.append("the framing error was not counted")
        if delta[Counter.OVERRUN_ERRORS]:
            problems.append("bytes were lost to overruns")
        # Each reply moved its counter; a frame dropped in its header may also have been
        # counted without a reply (only the first since the last valid header is answered).
        answered = collections.Counter(protocol.counter_for(f.payload[0]) for f in frames
                                       if f.cmd != Reply.DATA)
        answered[Counter.FRAMES_OK] += 1        # the INFO
        silent = {c: delta[c] - answered[c] for c in Counter if c not in (
            Counter.FRAMING_ERRORS, Counter.OVERRUN_ERRORS)}
        if any(n < 0 for n in silent.values()) or any(
                silent[c] for c in silent if c not in (Counter.HEADER_ERRORS,
                                                       Counter.TIMEOUT_ERRORS)):
            problems.append(f"{sum(answered.values()) - 1} replies but the counters moved by "
                            f"{[delta[c] for c in silent]}")
        allowed = {(protocol.reply_code(cmd), tag) for cmd, tag, _ in case.intended}
        if any(f.cmd != Reply.DATA and f.payload[0] == Status.OK and
               (f.cmd, f.tag) not in allowed for f in frames):
            problems.append("a garbage frame was applied")
        m = self.model
        now = (info["state"], info["count"], info["write_ptr"], info["mode"], info["header"])
        if now != (m.state, m.count, m.write_ptr, m.mode, m.header):
            problems.append(f"the device's state changed: {now[:4]}, expected "
                            f"{(int(m.state), m.count, m.write_ptr, int(m.mode))}")
        if problems:
            raise CampaignError(f"case {self.cases} ({case.kind.value}: {case.note}): "
                                + "; ".join(problems))
        for name, d in zip(_COUNTER_NAMES, delta, strict=True):
            if name == "frames_ok":
                d -= 1      # the INFO itself
            self.indeterminate[name] += d
        m.resynchronise()
        # The INFO's valid header lets the next frame dropped in its header be answered.
        m.feed(info_frame)
        m.out.clear()
        m.counters = after
        case.frames += 1            # the INFO
        self._record(case, frames, m)

    # Start and end.

    def start(self):
        """OPEN a freshly started board with a link key drawn from the seed, as every tool
        starts, and set up the model from its answer (OPEN is answered like INFO). Every later
        frame is checked with that key."""
        key = self.rng.getrandbits(32) or 1
        open_frame = self._frame(Command.OPEN, protocol.pack_fields(protocol.OPEN_FIELDS,
                                                                    key=key))
        frames = self._exchange([(open_frame, 0, 0)])
        if len(frames) != 1:
            raise CampaignError(f"no answer to the first OPEN: {frames}")
        info = protocol.parse_info(frames[0].payload)
        self.capacity = info["capacity"]
        self.model = CommandProcessorModel(capacity=self.capacity, clk_freq=self.clk_freq,
                                           baud=self.baud, index_bits=info["index_bits"],
                                           memory=info["memory"], leveling=info["leveling"])
        self.model.feed(open_frame)     # the first frame after reset follows silence
        expected = self.model.out.pop()
        if not expected.matches(frames[0]) or self.model.key != key:
            first = frames[0]
            raise CampaignError(f"the board does not start as reset and take the OPEN: "
                                f"{describe_frame(first.cmd, first.tag, first.payload)}")
        self.key = key
        self.frames += 1
        self._sent = {}

    def _valid_request(self, cmd, payload=b""):
        frame = self._frame(cmd, payload)
        case = Case(Kind.VALID, [(frame, 0, 0)], 1, {_key(frame)}, f"final {cmd.name}")
        self._remember(case)
        self._counters_before = list(self.model.counters)
        frames = self._run(case, record=False)
        self.frames += 1
        return frames

    def _read_all(self, count, record_size):
        """READ ``count`` records in requests of at most 64 KiB; return their bytes."""
        data = bytearray()
        per = max(1, 65536 // record_size)
        for index in range(0, count, per):
            n = min(per, count - index)
            frames = self._valid_request(Command.READ, protocol.pack_fields(
                protocol.READ_FIELDS, index=index, count=n))
            data += b"".join(f.payload for f in frames if f.cmd == Reply.DATA)
        return bytes(data)

    def finish(self):
        """Run the checks after the campaign; return the device's counters and the expected
        ones. The checks' descriptions go to :attr:`checks`."""
        m = self.model
        self._valid_request(Command.INFO)
        self.checks.append(f"{self.verified} committed sessions read back byte-identical to the "
                           f"data of their acknowledged LEARN frames right after their COMMIT")
        self.checks.append(f"the device answers INFO after {self.frames} frames (state "
                           f"{m.state.name.lower()}, {m.write_ptr} bytes learned)")
        if m.state != State.EMPTY and m.record_size:
            self._check_last_session()
        size = 64
        count = self._fill_store(size)
        self._check_refusals(count, size)
        device, expected = self._check_counters()
        self.checks.append(f"no frame went unanswered for longer than the frame timeout plus "
                           f"{self.grant - self.timeout_cycles} cycles: every case was answered "
                           f"as predicted by its marker, and the harness watchdog never fired")
        self.checks.append(f"bytes lost: 0 ({self.port.bytes_sent} bytes sent, "
                           f"{self.marker.bytes_in} driven onto the UART; 0 overruns; every "
                           f"reply byte accounted for; 0 TX framing errors)")
        return device, expected

    def _check_last_session(self):
        """Read back the records of the session the campaign ended in, and its CHECKSUM."""
        m = self.model
        learned = m.write_ptr // m.record_size
        data = self._read_all(learned, m.record_size)
        expect = bytes(self.acked[:learned * m.record_size])
        if data != expect:
            raise CampaignError("the records read back differ from the acknowledged data")
        crc = self._valid_request(Command.CHECKSUM)[-1]
        value = protocol.parse_status(crc.payload)["value"]
        if value != self._session_crc():
            raise CampaignError("CHECKSUM differs from the session CRC-32 of the acknowledged "
                                "data")
        self.checks.append(f"the {learned} records of the last session read back "
                           f"byte-identical to the data of the acknowledged LEARN frames; "
                           f"CHECKSUM equals their session CRC-32")

    def _fill_store(self, size):
        """Learn and commit records of ``size`` bytes filling the whole store, and try one
        byte more; return the record count."""
        count = self.capacity // size
        plan = self.rng.randbytes(self.capacity)
        frame = self._begin_frame(size, count, b"fuzz".ljust(protocol.HEADER_SIZE, b"\0"), plan)
        self.tag = (self.tag - 1) % HIDDEN_TAGS     # _valid_request numbers the frame again
        self._valid_request(Command.BEGIN, frame[protocol.PAYLOAD_OFFSET:-protocol.FCS_SIZE])
        m = self.model
        while m.write_ptr < m.total:
            start = self.model.write_ptr
            chunk = self.plan[start:start + _LEARN_CHUNK]
            self._valid_request(Command.LEARN, protocol.pack_fields(
                protocol.LEARN_FIELDS, offset=start) + chunk)
            m = self.model
        self._valid_request(Command.LEARN, protocol.pack_fields(
            protocol.LEARN_FIELDS, offset=m.write_ptr) + b"x")
        if self.model.out[-1].payload[0] != Status.OVERFLOW:
            raise CampaignError(f"a LEARN past the full store was not refused: "
                                f"{self.model.out[-1].describe()}")
        self._valid_request(Command.COMMIT, protocol.pack_fields(
            protocol.COMMIT_FIELDS, crc32=protocol.session_crc(self.begin, self.plan)))
        if self.model.state != State.READY or self.acked != plan:
            raise CampaignError("the full store did not commit")
        self.checks.append(f"the whole store ({self.capacity} bytes) learned and committed; one "
                           f"more LEARN byte refused with OVERFLOW")
        return count

    def _check_refusals(self, count, size):
        """Try to read and learn past the full store; check that it still reads back whole."""
        plan = self.plan
        for note, cmd, payload in [
            ("READ of the record past the end", Command.READ,
             protocol.pack_fields(protocol.READ_FIELDS, index=count, count=1)),
            ("READ of the last record and one more", Command.READ,
             protocol.pack_fields(protocol.READ_FIELDS, index=count - 1, count=2)),
            ("BEGIN one byte beyond the capacity", Command.BEGIN, protocol.pack_fields(
                protocol.BEGIN_FIELDS, record_size=1, count=self.capacity + 1) +
             bytes(protocol.HEADER_SIZE)),
        ]:
            reply = self._valid_request(cmd, payload)[-1]
            status = Status(reply.payload[0])
            if status == Status.OK:
                raise CampaignError(f"{note} was not refused")
            self.checks.append(f"{note} refused with {status.name}")
        data = self._read_all(count, size)
        if data != plan:
            raise CampaignError("the full store does not read back as learned")
        self.checks.append(f"after the refusals the whole store still reads back byte-identical "
                           f"({self.capacity} bytes; state {self.model.state.name.lower()})")

    def _check_counters(self):
        """Check the device's counters against the model's; return both, by name."""
        frames = self._valid_request(Command.INFO)
        device = protocol.parse_info(frames[-1].payload)["counters"]
        expected = dict(zip(_COUNTER_NAMES, self.model.counters, strict=True))
        if device != expected:
            raise CampaignError(f"the device's counters {device} differ from the expected "
                                f"{expected}")
        self.checks.append("the device's error counters equal the expected ones (table above)")
        if device["overrun_errors"]:
            raise CampaignError("bytes were lost to receive overruns")
        return device, expected
