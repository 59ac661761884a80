// SPDX-License-Identifier: BSD-2-Clause
//
// MemGEN virtual board: clocks the Verilated top level (`memgen_top`) and bridges its link to a
// TCP socket on 127.0.0.1, so host tools reach it with pyserial's `socket://` URL. The link is
// one of two, chosen when the board is built (MEMGEN_STREAM_LINK in `memgen_config.h`):
//
// The stream board (the default): the client's bytes go straight into the top level's `rx` byte
// stream, up to one per clock, and the `tx` stream's bytes go to the client, as LiteX's
// litex_sim bridges its UART to TCP at the byte level. The transport's FIFOs drive `rx__ready`,
// `tx__valid` and `tx__payload` (`rx_ready`, ... in the wrapper) from registers, so after each
// clock edge the harness knows whether a byte will cross on the next one: it offers the byte at
// the head of its queue and takes every byte offered, obeying the stream rules (valid never
// waits for ready, the payload holds until taken).
//
// The UART board (`python -m sim.board --uart`): bytes from the client are driven onto `uart_rx`
// bit by bit (start bit, 8 data bits LSB first, stop bit), exactly `--cpb` clocks per bit and
// back to back when more are queued; `uart_tx` is decoded bit by bit (falling start edge,
// mid-bit sampling, stop bit checked) and the decoded bytes go to the client. The gateware's
// UART is always exercised, never bypassed.
//
// Simulated time runs flat out while there is work (bytes queued, a byte on either wire, or the
// design's `idle` output low) and at most `--idle-rate` cycles per wall second otherwise, so an
// idle board costs little CPU and a slow client is not mistaken for a truncated frame. While no
// client is connected, simulated time stands still. After a client disconnects, the board keeps
// running without one (its output discarded) until it is idle and at least `--gap` cycles have
// passed, so the gateware's frame timeout fires and the next client finds a board at rest.
//
// Built by sim/vboard/build.py with `verilator --cc --exe --build` around `vboard_top`, a
// wrapper that registers `rst` (and on the UART board `uart_rx`) once before `memgen_top` (one
// cycle of latency, which no UART notices), so that no logic of the UART board depends
// combinationally on a model input and Verilator evaluates it once per cycle instead of once per
// `eval()`; the stream board's inputs reach only its transport's FIFO enables. Built with
// `--trace-fst` or `--trace-vcd`, the binary also accepts `--waves FILE` and writes that format.
//
// Fault mode (`--faults`, UART board only, for the fault-injection campaign of sim/fuzz/)
// replaces the plain byte bridge with a record protocol that gives the client pin-level control
// and a simulated clock that runs in lockstep with it. The record codes, like the other constants this harness
// shares with the Python side, come from `memgen_config.h`, which the build generates from their
// Python definitions (sim/vboard/config.py). The client sends records:
//
//   0x00..0x07 B      drive byte B; flag bits: 1 stop bit low (a UART framing error),
//                     2 bits `--skew` per mille longer (a slow sender), 4 shorter (a fast one);
//                     consecutive bytes go back to back, skewed ones on a continuous time base
//   0x10 N(u32 LE)    hold the line idle for N cycles
//   0x11 ID(u32 LE)   marker: answered once everything before it has been driven and the board
//                     has settled (design idle, no byte on either wire)
//
// and receives records:
//
//   0x00 B            a byte decoded from uart_tx
//   0x01 S ID(u32) CYCLES(u64) BYTES_IN(u64) TX_FRAMING(u32)   (all little-endian)
//                     marker ID reached at cycle CYCLES, BYTES_IN bytes driven so far;
//                     S = 0 settled, 1 the watchdog expired: the board stayed busy for
//                     `--watchdog` cycles with no byte driven or decoded
//
// Records are driven only once the marker that ends their batch has arrived, and simulated time
// advances only while there is work (records to drive, the design busy): never while the client
// is thinking, however TCP splits the stream. A campaign is reproducible cycle for cycle, and a
// partly sent frame times out only when the client asks for idle time.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <verilated.h>
#if VM_TRACE_FST
#include <verilated_fst_c.h>
using TraceFile = VerilatedFstC;
#elif VM_TRACE_VCD
#include <verilated_vcd_c.h>
using TraceFile = VerilatedVcdC;
#endif

#include "Vvboard_top.h"
#include "Vvboard_top___024root.h"
#include "memgen_config.h"

// Speed: a design clocked only on `posedge clk` needs one evaluation per cycle, not two, if
// Verilator is told that `clk` was low before each rising edge; and Verilator's internal entry
// point skips the per-call housekeeping of `eval()` (deferred deletes, the cross-thread message
// queue) that this single-threaded, DPI-free model has no use for. Both rely on names Verilator
// generates: if a Verilator version names them differently, the weak reference stays null or
// the member test fails, and the harness falls back to two `eval()` calls per cycle.
void Vvboard_top___024root___eval(Vvboard_top___024root *) __attribute__((weak));

namespace {

using namespace memgen;
using Root = Vvboard_top___024root;

// The bit-level driver and decoder below frame bytes as 8N1 (the stop bit is bit 9).
static_assert(kUartBitsPerByte == 10, "the UART bridge drives and decodes 8N1 bytes");

template <typename R, typename = void> struct ClockEdge {
    static constexpr bool available = false;
    static void arm(R *) {}
};
template <typename R>
struct ClockEdge<R, std::void_t<decltype(std::declval<R &>().__Vtrigprevexpr___TOP__clk__0)>> {
    static constexpr bool available = true;
    static void arm(R *root) { root->__Vtrigprevexpr___TOP__clk__0 = 0; }
};

constexpr const char *kHost = "127.0.0.1";
// Cycles run between two looks at the socket while the board is busy.
constexpr uint64_t kBusyChunk = 8192;
// Stop reading from the client while this many bytes wait to be driven onto `uart_rx`.
constexpr size_t kRxQueueLimit = 1 << 20;
// Stop clocking while this many decoded bytes wait for a client that is not reading.
constexpr size_t kTxBufferLimit = 1 << 20;
constexpr size_t kRecvSize = 1 << 16;

volatile sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

double wall_now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// A byte FIFO: a vector with a read offset, compacted when the offset passes half its size.
struct ByteQueue {
    std::vector<uint8_t> data;
    size_t head = 0;

    size_t size() const { return data.size() - head; }
    bool empty() const { return head == data.size(); }
    void clear() { data.clear(); head = 0; }
    uint8_t pop() { return data[head++]; }
    void consume(size_t n) {
        head += n;
        if (head == data.size()) {
            clear();
        } else if (head > (1u << 16) && head * 2 > data.size()) {
            data.erase(data.begin(), data.begin() + head);
            head = 0;
        }
    }
    const uint8_t *front() const { return data.data() + head; }
};

struct Options {
    unsigned cpb = 0;
    long port = kDefaultPort;
    std::string waves;
    uint64_t idle_rate = 1000000;
    uint64_t gap = 0;
    uint64_t drain_limit = 4000000;
    uint64_t reset_cycles = 16;
    bool exit_with_parent = false;
    bool faults = false;            // the record protocol and lockstep clock described above
    uint64_t watchdog = 0;          // fault mode: most cycles busy without progress
    unsigned skew = 30;             // fault mode: per mille of bit time for the skew flags
};

// Fault mode: the operations the client's records queue (codes in memgen_config.h).
struct Op {
    uint8_t kind;       // a byte record (flags), kRecordIdle or kRecordMarker
    uint8_t byte;
    uint32_t arg;
};

struct Stats {
    uint64_t bytes_in = 0;          // driven onto uart_rx
    uint64_t bytes_out = 0;         // decoded from uart_tx and sent to a client
    uint64_t bytes_dropped = 0;     // queued for uart_rx when their client left
    uint64_t bytes_discarded = 0;   // decoded from uart_tx with no client to take them
    uint64_t tx_framing_errors = 0;
    uint64_t clients = 0;
    uint64_t busy_cycles = 0;
    double busy_wall = 0;
};

class Board {
public:
    Board(const Options &opt, VerilatedContext *ctx)
        : opt_(opt), ctx_(ctx), top_(new Vvboard_top{ctx, "vboard_top"}), half_(opt.cpb / 2) {}

    ~Board() {
        top_->final();
#if VM_TRACE
        if (trace_) trace_->close();
#endif
    }

    void open_waves(const std::string &path) {
#if VM_TRACE
        trace_.reset(new TraceFile);
        top_->trace(trace_.get(), 99);
        trace_->open(path.c_str());
        tracing_ = true;
#else
        (void)path;
#endif
    }

    void reset() {
#if MEMGEN_STREAM_LINK
        top_->rx_valid = 0;
        // Every byte the design offers is taken: the serve loop holds the clock instead while
        // the client is not reading.
        top_->tx_ready = 1;
#endif
        top_->rst = 1;
        for (uint64_t i = 0; i < opt_.reset_cycles; i++) tick(1);
        top_->rst = 0;
        tick(1);
        // Single evaluation per cycle from here on, unless waveforms need both clock edges.
        fast_ = ClockEdge<Root>::available && !tracing_;
        if (fast_) top_->clk = 1;
    }

    const char *eval_mode() const {
        if (!fast_) return "standard";
        return Vvboard_top___024root___eval ? "fast" : "single";
    }

    // Run `n` cycles. Decoded bytes are appended to `tx_out`.
    void run(uint64_t n) {
#if MEMGEN_STREAM_LINK
        for (uint64_t i = 0; i < n; i++) tick_stream();
        return;
#endif
        if (opt_.faults) {
            run_faults<false>(n);
            return;
        }
        for (uint64_t i = 0; i < n; i++) {
            unsigned tx = tick(rx_level_);
            decode_tx(tx);
            drive_rx();
        }
    }

    // Run at most `n` cycles, stopping once there is no work (see `busy`), so that a reply
    // reaches the client as soon as it is complete and the client's next request is not kept
    // waiting behind cycles nobody needs (on the UART board they would count in the device's
    // time of every round trip: up to a whole chunk). It also stops when the bytes queued from
    // the client run out, so that the socket is read again at once: a client's next frame,
    // written just after the ones queued, then follows them on the wire with no gap. Returns
    // the cycles run.
    uint64_t run_busy(uint64_t n) {
        const bool fed = !rx_queue.empty();
        for (uint64_t i = 0; i < n; i++) {
            if (!busy() || (fed && rx_queue.empty())) return i;
#if MEMGEN_STREAM_LINK
            tick_stream();
#else
            unsigned tx = tick(rx_level_);
            decode_tx(tx);
            drive_rx();
#endif
        }
        return n;
    }

    // Fault mode: run at most `n` cycles, stopping as soon as there is no work left (see
    // `busy_faults`), so that no idle cycle passes that the client did not ask for.
    void run_until_settled(uint64_t n) { run_faults<true>(n); }

    // Fault mode: whether the design and both wires are at rest with no idle time left to run.
    bool settled() const {
        return top_->idle && rx_bits_ == 0 && idle_left_ == 0 && tx_state_ != kTxReceiving &&
               cycles_ >= rx_settle_;
    }
    // Fault mode: whether there is work: a record of a complete batch to drive, or the board
    // not settled.
    bool busy_faults() const {
        return (markers_ != 0 && ops.front().kind != kRecordMarker) || !settled();
    }
    bool marker_next() const { return !ops.empty() && ops.front().kind == kRecordMarker; }
    // Fault mode: cycles since a byte was last driven or decoded, or idle time last ran.
    uint64_t quiet_cycles() const { return cycles_ - last_activity_; }
    size_t queued_bytes() const { return opt_.faults ? op_bytes_ : rx_queue.size(); }
    void clear_input() {
        rx_queue.clear();
        ops.clear();
        op_bytes_ = 0;
        markers_ = 0;
        idle_left_ = 0;
    }
    void push_op(const Op &op) {
        ops.push_back(op);
        if (op.kind < kRecordIdle) op_bytes_++;
        if (op.kind == kRecordMarker) markers_++;
    }
    Op pop_marker() {
        Op op = ops.front();
        ops.pop_front();
        markers_--;
        return op;
    }

    // Whether there is work: a byte on either wire or queued, the design not idle, or a byte
    // driven so recently that the design may not have taken it from its receiver yet.
    bool busy() const {
        return !top_->idle || rx_bits_ != 0 || !rx_queue.empty() ||
               tx_state_ == kTxReceiving || cycles_ < rx_settle_;
    }
    uint64_t cycles() const { return cycles_; }

    ByteQueue rx_queue;          // from the client, waiting for uart_rx
    std::deque<Op> ops;          // fault mode: from the client, waiting for uart_rx
    std::vector<uint8_t> tx_out; // decoded from uart_tx
    Stats stats;

private:
    enum { kTxWaitHigh, kTxArmed, kTxReceiving };

    // One clock cycle with the inputs as set; the outputs then hold the state after its edge.
    inline void clock() {
        if (fast_) {
            ClockEdge<Root>::arm(top_->rootp);
            if (Vvboard_top___024root___eval) {
                Vvboard_top___024root___eval(top_->rootp);
            } else {
                top_->eval();
            }
            cycles_++;
            return;
        }
        top_->clk = 1;
        top_->eval();
#if VM_TRACE
        if (trace_) trace_->dump(2 * cycles_);
#endif
        top_->clk = 0;
        top_->eval();
#if VM_TRACE
        if (trace_) trace_->dump(2 * cycles_ + 1);
#endif
        cycles_++;
    }

#if MEMGEN_STREAM_LINK
    // The stream board has no UART pins; the paths that drive them (the UART bridge, fault
    // mode) are never taken, which parse_args ensures.
    inline unsigned tick(unsigned) {
        clock();
        return 1;
    }

    // One clock cycle of the stream bridge. `rx_ready` and `tx_valid` come from registers,
    // so as they are now they decide what crosses on this cycle's edge, whatever is offered.
    inline void tick_stream() {
        if (top_->tx_valid) tx_out.push_back(top_->tx_payload);
        bool offer = !rx_queue.empty();
        bool taken = offer && top_->rx_ready;
        top_->rx_valid = offer;
        if (offer) top_->rx_payload = *rx_queue.front();
        clock();
        if (taken) {
            rx_queue.consume(1);
            stats.bytes_in++;
        }
    }
#else
    // One clock cycle with `rx` on uart_rx; returns uart_tx as it is during the cycle.
    inline unsigned tick(unsigned rx) {
        top_->uart_rx = rx;
        clock();
        return top_->uart_tx;
    }
#endif

    inline void decode_tx(unsigned tx) {
        switch (tx_state_) {
        case kTxWaitHigh:
            if (tx) tx_state_ = kTxArmed;
            break;
        case kTxArmed:
            if (!tx) {
                // First cycle of the start bit: sample each bit `half_` cycles into it.
                tx_state_ = kTxReceiving;
                tx_count_ = half_;
                tx_bit_ = 0;
                tx_shift_ = 0;
            }
            break;
        default:
            if (--tx_count_ != 0) break;
            tx_count_ = opt_.cpb;
            if (tx_bit_ == 0) {
                if (tx) tx_state_ = kTxArmed; // a glitch, not a start bit
            } else if (tx_bit_ <= 8) {
                tx_shift_ |= tx << (tx_bit_ - 1);
            } else {
                if (tx) {
                    tx_out.push_back(static_cast<uint8_t>(tx_shift_));
                    tx_state_ = kTxArmed;
                    last_activity_ = cycles_;
                } else {
                    stats.tx_framing_errors++;
                    tx_state_ = kTxWaitHigh;
                }
            }
            tx_bit_++;
        }
    }

    // Advance the uart_rx driver by one cycle: the value set here is driven in the next cycle.
    inline void drive_rx() {
        if (rx_bits_ != 0) {
            if (--rx_count_ != 0) return;
            rx_frame_ >>= 1;
            if (--rx_bits_ != 0) {
                rx_count_ = opt_.cpb;
                rx_level_ = rx_frame_ & 1;
                return;
            }
            rx_level_ = 1;
            rx_settle_ = cycles_ + 2 * kUartBitsPerByte * opt_.cpb;
        }
        if (!rx_queue.empty()) {
            rx_frame_ = 0x200u | (static_cast<unsigned>(rx_queue.pop()) << 1);
            if (rx_queue.empty()) rx_queue.clear();
            rx_bits_ = kUartBitsPerByte;
            rx_count_ = opt_.cpb;
            rx_level_ = 0;
            stats.bytes_in++;
        }
    }

    template <bool kStopWhenSettled> void run_faults(uint64_t n) {
        for (uint64_t i = 0; i < n; i++) {
            if (kStopWhenSettled && !busy_faults()) return;
            unsigned tx = tick(rx_level_);
            decode_tx(tx);
            drive_rx_faults();
        }
    }

    // Cycle, from the start of the current byte, at which its bit `k` begins: bit times of
    // `rx_dur_` thousandths of a cycle from a start `rx_phase_` thousandths off the cycle grid,
    // rounded to the nearest cycle.
    unsigned bit_edge(unsigned k) const {
        return static_cast<unsigned>((rx_phase_ + 500 + int64_t(k) * rx_dur_) / 1000);
    }

    // Fault mode's uart_rx driver: like `drive_rx`, from the records, with their flags.
    inline void drive_rx_faults() {
        if (rx_bits_ != 0) {
            if (--rx_count_ != 0) return;
            rx_frame_ >>= 1;
            if (--rx_bits_ != 0) {
                unsigned k = kUartBitsPerByte - rx_bits_;
                rx_count_ = bit_edge(k + 1) - bit_edge(k);
                rx_level_ = rx_frame_ & 1;
                return;
            }
            rx_level_ = 1;
            rx_settle_ = cycles_ + 2 * kUartBitsPerByte * opt_.cpb;
            // A byte that follows at once starts where this one really ended, off the grid by
            // less than half a cycle, so a run of skewed bytes keeps its exact average rate.
            rx_phase_ = rx_phase_ + kUartBitsPerByte * rx_dur_ -
                        1000 * int64_t(bit_edge(kUartBitsPerByte));
            rx_chained_ = true;
        }
        if (idle_left_ != 0) {
            idle_left_--;
            last_activity_ = cycles_;
            return;
        }
        while (markers_ != 0) {
            Op op = ops.front();
            if (op.kind == kRecordMarker) break;    // taken by the serve loop once settled
            ops.pop_front();
            if (op.kind == kRecordIdle) {
                rx_chained_ = false;
                if (op.arg == 0) continue;
                idle_left_ = op.arg - 1;
                last_activity_ = cycles_;
                return;
            }
            op_bytes_--;
            int64_t dur = int64_t(opt_.cpb) * 1000;
            if (op.kind & kFlagSlow) dur += int64_t(opt_.cpb) * opt_.skew;
            if (op.kind & kFlagFast) dur -= int64_t(opt_.cpb) * opt_.skew;
            rx_dur_ = dur;
            if (!rx_chained_) rx_phase_ = 0;
            rx_chained_ = false;
            unsigned stop = (op.kind & kFlagBadStop) ? 0u : 0x200u;
            rx_frame_ = stop | (static_cast<unsigned>(op.byte) << 1);
            rx_bits_ = kUartBitsPerByte;
            rx_count_ = bit_edge(1);
            rx_level_ = 0;
            stats.bytes_in++;
            last_activity_ = cycles_;
            return;
        }
        rx_chained_ = false;
    }

    const Options &opt_;
    VerilatedContext *ctx_;
    std::unique_ptr<Vvboard_top> top_;
#if VM_TRACE
    std::unique_ptr<TraceFile> trace_;
#endif
    const unsigned half_;
    bool tracing_ = false;
    bool fast_ = false;
    uint64_t cycles_ = 0;
    uint64_t rx_settle_ = 0;

    unsigned rx_level_ = 1;
    unsigned rx_frame_ = 0;
    unsigned rx_bits_ = 0;
    unsigned rx_count_ = 0;

    int tx_state_ = kTxWaitHigh;
    unsigned tx_count_ = 0;
    unsigned tx_bit_ = 0;
    unsigned tx_shift_ = 0;

    // Fault mode.
    size_t op_bytes_ = 0;           // byte records in `ops`
    size_t markers_ = 0;            // marker records in `ops`: complete batches
    uint64_t idle_left_ = 0;        // idle cycles still to run
    uint64_t last_activity_ = 0;
    int64_t rx_dur_ = 0;            // bit time of the current byte, thousandths of a cycle
    int64_t rx_phase_ = 0;          // its start's offset from the cycle grid, thousandths
    bool rx_chained_ = false;       // the current byte ended with nothing between it and now
};

void usage(FILE *f, const char *argv0) {
    fprintf(f,
            "usage: %s [--cpb N] [--port N] [--waves FILE] [--idle-rate N] [--gap N]\n"
            "          [--drain-limit N] [--reset-cycles N] [--exit-with-parent]\n"
            "          [--faults [--watchdog N] [--skew PERMILLE]]\n"
            "\n"
            "MemGEN virtual board: the Verilated top level with its %s bridged to a TCP\n"
            "socket on %s (one client at a time; use pyserial's socket:// URL).\n"
            "\n"
            "  --cpb N           UART board: clock cycles per UART bit (clk_freq / baud), at\n"
            "                    least 2; required there, refused by the stream board\n"
            "  --port N          TCP port to listen on; 0 picks a free one (default: %ld)\n"
            "  --waves FILE      dump a waveform (only in a binary built with tracing)\n"
            "  --idle-rate N     most cycles per wall second while idle (default: 1000000)\n"
            "  --gap N           cycles the line stays idle after a client leaves, before the\n"
            "                    next is served (default: twice the %" PRIu64 "-byte frame\n"
            "                    timeout)\n"
            "  --drain-limit N   most cycles to wait for the board to go idle after a client\n"
            "                    leaves (default: 4000000)\n"
            "  --reset-cycles N  cycles to hold rst high at start (default: 16)\n"
            "  --exit-with-parent  stop when the process that started this one dies\n"
            "  --faults          UART board: fault-injection mode: the client sends flagged bytes, idle\n"
            "                    time and markers, and simulated time runs only while there\n"
            "                    is work (see the top of sim/vboard.cpp)\n"
            "  --watchdog N      fault mode: report a marker as hung after N busy cycles with\n"
            "                    no byte driven or decoded (default: 8 times --gap)\n"
            "  --skew PERMILLE   fault mode: bit time change of the slow and fast flags\n"
            "                    (default: 30, i.e. 3%%)\n",
            argv0, MEMGEN_STREAM_LINK ? "byte streams" : "UART", kHost, kDefaultPort,
            kFrameTimeoutBytes);
}

bool parse_uint(const char *s, uint64_t max, uint64_t *out) {
    if (s == nullptr || *s == '\0') return false;
    errno = 0;
    char *end = nullptr;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || s[0] == '-' || v > max) return false;
    *out = v;
    return true;
}

int parse_args(int argc, char **argv, Options *opt) {
    for (int i = 1; i < argc; i++) {
        std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            usage(stdout, argv[0]);
            exit(0);
        }
        const char *val = (i + 1 < argc) ? argv[i + 1] : nullptr;
        uint64_t v = 0;
        auto need = [&](uint64_t max) {
            if (!parse_uint(val, max, &v)) {
                fprintf(stderr, "error: %s needs an integer from 0 to %" PRIu64 ", not '%s'\n",
                        arg.c_str(), max, val ? val : "");
                return false;
            }
            i++;
            return true;
        };
        if (arg == "--cpb") {
            if (!need(1u << 20)) return 2;
            opt->cpb = static_cast<unsigned>(v);
        } else if (arg == "--port") {
            if (!need(65535)) return 2;
            opt->port = static_cast<long>(v);
        } else if (arg == "--idle-rate") {
            if (!need(UINT64_MAX / 2)) return 2;
            opt->idle_rate = v;
        } else if (arg == "--gap") {
            if (!need(UINT64_MAX / 2)) return 2;
            opt->gap = v;
        } else if (arg == "--drain-limit") {
            if (!need(UINT64_MAX / 2)) return 2;
            opt->drain_limit = v;
        } else if (arg == "--reset-cycles") {
            if (!need(1u << 30)) return 2;
            opt->reset_cycles = v;
        } else if (arg == "--exit-with-parent") {
            opt->exit_with_parent = true;
        } else if (arg == "--faults") {
            opt->faults = true;
        } else if (arg == "--watchdog") {
            if (!need(UINT64_MAX / 2)) return 2;
            opt->watchdog = v;
        } else if (arg == "--skew") {
            if (!need(500)) return 2;
            opt->skew = static_cast<unsigned>(v);
        } else if (arg == "--waves") {
            if (val == nullptr || *val == '\0') {
                fprintf(stderr, "error: --waves needs a file name\n");
                return 2;
            }
            opt->waves = val;
            i++;
        } else {
            fprintf(stderr, "error: unknown argument '%s'\n", arg.c_str());
            usage(stderr, argv[0]);
            return 2;
        }
    }
#if MEMGEN_STREAM_LINK
    if (opt->cpb != 0 || opt->faults) {
        fprintf(stderr, "error: %s needs the UART board (python -m sim.board --uart); this "
                        "one bridges byte streams\n", opt->faults ? "--faults" : "--cpb");
        return 2;
    }
    if (opt->gap == 0) opt->gap = 2 * kStreamFrameTimeoutCycles;
#else
    if (opt->cpb < 2) {
        fprintf(stderr, "error: --cpb (clock cycles per UART bit) must be given, at least 2\n");
        return 2;
    }
#endif
#if !VM_TRACE
    if (!opt->waves.empty()) {
        fprintf(stderr, "error: --waves needs a binary built with tracing "
                        "(python -m sim.board --waves FILE builds one)\n");
        return 2;
    }
#endif
    if (opt->gap == 0) opt->gap = 2 * kFrameTimeoutBits * opt->cpb;
    // Eight gaps: longer than a CRC pass over the store a bit per cycle (9 cycles a byte).
    if (opt->watchdog == 0) opt->watchdog = 8 * opt->gap;
    return 0;
}

int listen_on(long port, long *bound_port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "error: socket(): %s\n", strerror(errno));
        return -1;
    }
    // Lets a restarted board reuse a port left in TIME_WAIT; a live listener still conflicts.
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, kHost, &addr.sin_addr);
    if (bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0) {
        if (errno == EADDRINUSE) {
            fprintf(stderr,
                    "error: %s:%ld is already in use (is another virtual board running?); "
                    "choose another port with --port\n",
                    kHost, port);
        } else {
            fprintf(stderr, "error: cannot bind %s:%ld: %s\n", kHost, port, strerror(errno));
        }
        close(fd);
        return -1;
    }
    if (listen(fd, 4) < 0) {
        fprintf(stderr, "error: listen(): %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
    *bound_port = ntohs(addr.sin_port);
    return fd;
}

// Wait for a client; returns its socket, or -1 when asked to stop.
int accept_client(int listen_fd) {
    while (!g_stop) {
        pollfd p{listen_fd, POLLIN, 0};
        int r = poll(&p, 1, 200);
        if (r <= 0) continue;
        int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return fd;
    }
    return -1;
}

// Move bytes between the client and the board's queues without blocking. Returns false when
// the client has gone.
bool service(int fd, Board &board, ByteQueue &out, bool take_input) {
    if (!board.tx_out.empty()) {
        out.data.insert(out.data.end(), board.tx_out.begin(), board.tx_out.end());
        board.tx_out.clear();
    }
    while (!out.empty()) {
        ssize_t n = send(fd, out.front(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            board.stats.bytes_out += n;
            out.consume(n);
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return false;
        }
    }
    static uint8_t buffer[kRecvSize];
    while (take_input) {
        ByteQueue &q = board.rx_queue;
        ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            q.data.insert(q.data.end(), buffer, buffer + n);
            if (q.size() >= kRxQueueLimit) break;
            continue;
        }
        if (n == 0) return false;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        return false;
    }
    return true;
}

// Serve one client until it leaves or a stop is requested.
void serve(int fd, Board &board, const Options &opt) {
    ByteQueue out;
    // Idle throttle: a token bucket of cycles, filled at --idle-rate, holding one idle chunk.
    const uint64_t idle_chunk = opt.idle_rate >= 100 ? opt.idle_rate / 100 : 1;
    double tokens = 0;
    double last = wall_now();
    while (!g_stop) {
        bool tx_blocked = out.size() >= kTxBufferLimit;
        bool take_input = tx_blocked || board.rx_queue.size() < kRxQueueLimit;
        if (!service(fd, board, out, take_input)) break;
        tx_blocked = out.size() >= kTxBufferLimit;
        if (tx_blocked) {
            // The client is not reading: hold the clock, keep reading so it cannot block on us.
            pollfd p{fd, POLLIN | POLLOUT, 0};
            poll(&p, 1, 100);
            last = wall_now();
            continue;
        }
        if (board.busy()) {
            double t0 = wall_now();
            uint64_t cycles = board.run_busy(kBusyChunk);
            last = wall_now();
            board.stats.busy_cycles += cycles;
            board.stats.busy_wall += last - t0;
            continue;
        }
        double now = wall_now();
        tokens += (now - last) * opt.idle_rate;
        last = now;
        if (tokens > idle_chunk) tokens = idle_chunk;
        if (tokens >= idle_chunk) {
            board.run(idle_chunk);
            tokens -= idle_chunk;
            continue;
        }
        int wait_ms = static_cast<int>((idle_chunk - tokens) * 1000 / opt.idle_rate) + 1;
        pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
        poll(&p, 1, wait_ms);
    }
    if (!g_stop) {
        board.stats.bytes_dropped += board.rx_queue.size();
        board.stats.bytes_discarded += out.size() + board.tx_out.size();
        fprintf(stderr, "memgen virtual board: client disconnected (%zu queued bytes dropped)\n",
                board.rx_queue.size());
    }
    board.rx_queue.clear();
    board.tx_out.clear();
}

// Fault mode: parse the client's records into the board's operations. Returns false on a
// malformed record.
bool parse_records(std::vector<uint8_t> &pending, Board &board) {
    size_t i = 0;
    while (i < pending.size()) {
        uint8_t kind = pending[i];
        size_t size = kind < kRecordIdle ? 2 : 5;
        if (kind > kAllFlags && kind < kRecordIdle) return false;
        if (kind > kRecordMarker) return false;
        if (pending.size() - i < size) break;
        Op op{kind, 0, 0};
        if (size == 2) {
            op.byte = pending[i + 1];
        } else {
            for (int b = 0; b < 4; b++) op.arg |= uint32_t(pending[i + 1 + b]) << (8 * b);
        }
        board.push_op(op);
        i += size;
    }
    pending.erase(pending.begin(), pending.begin() + i);
    return true;
}

// Fault mode: move decoded bytes to the client's buffer as byte records.
void flush_tx(Board &board, ByteQueue &out) {
    for (uint8_t byte : board.tx_out) {
        out.data.push_back(kReplyByte);
        out.data.push_back(byte);
    }
    board.stats.bytes_out += board.tx_out.size();
    board.tx_out.clear();
}

void put_le(std::vector<uint8_t> &v, uint64_t value, int size) {
    for (int b = 0; b < size; b++) v.push_back(static_cast<uint8_t>(value >> (8 * b)));
}

// Fault mode: answer the marker at the head of the queue.
void answer_marker(Board &board, ByteQueue &out, uint8_t status) {
    flush_tx(board, out);
    Op op = board.pop_marker();
    out.data.push_back(kReplyMarker);
    out.data.push_back(status);
    put_le(out.data, op.arg, 4);
    put_le(out.data, board.cycles(), 8);
    put_le(out.data, board.stats.bytes_in, 8);
    put_le(out.data, board.stats.tx_framing_errors, 4);
}

// Fault mode: serve one client in lockstep. Simulated time runs only while there is work, cycle
// by cycle up to the moment the board settles, so that the idle time the gateware sees is
// exactly what the records ask for.
void serve_faults(int fd, Board &board, const Options &opt) {
    ByteQueue out;
    std::vector<uint8_t> pending;
    static uint8_t buffer[kRecvSize];
    bool alive = true;
    while (!g_stop && alive) {
        flush_tx(board, out);
        while (!out.empty()) {
            ssize_t n = send(fd, out.front(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                out.consume(n);
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else {
                alive = false;
                break;
            }
        }
        while (alive && board.queued_bytes() < kRxQueueLimit) {
            ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0) {
                pending.insert(pending.end(), buffer, buffer + n);
                if (!parse_records(pending, board)) {
                    fprintf(stderr, "memgen virtual board: malformed fault-mode record; "
                                    "dropping the client\n");
                    alive = false;
                }
                continue;
            }
            if (n == 0) alive = false;
            else if (errno == EINTR) continue;
            else if (errno != EAGAIN && errno != EWOULDBLOCK) alive = false;
            break;
        }
        if (!alive) break;
        if (out.size() >= kTxBufferLimit) {
            pollfd p{fd, POLLOUT, 0};
            poll(&p, 1, 100);
            continue;
        }
        if (board.busy_faults()) {
            double t0 = wall_now();
            uint64_t c0 = board.cycles();
            board.run_until_settled(kBusyChunk);
            board.stats.busy_cycles += board.cycles() - c0;
            board.stats.busy_wall += wall_now() - t0;
            if (board.marker_next() && board.quiet_cycles() > opt.watchdog) {
                fprintf(stderr, "memgen virtual board: watchdog: busy for %" PRIu64 " cycles "
                                "without a byte in or out\n", board.quiet_cycles());
                answer_marker(board, out, 1);
            }
            continue;
        }
        if (board.marker_next()) {
            answer_marker(board, out, 0);
            continue;
        }
        pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
        poll(&p, 1, 100);
    }
    if (!g_stop) {
        board.stats.bytes_dropped += board.queued_bytes();
        board.stats.bytes_discarded += board.tx_out.size();
        fprintf(stderr, "memgen virtual board: client disconnected (%zu queued bytes dropped)\n",
                board.queued_bytes());
    }
    board.clear_input();
    board.tx_out.clear();
}

// After a client leaves: run on until the board is idle and the line has been quiet for --gap
// cycles, discarding its output, so the next client finds it at rest.
void drain(Board &board, const Options &opt) {
    uint64_t start = board.cycles();
    while (!g_stop) {
        uint64_t elapsed = board.cycles() - start;
        if (elapsed >= opt.gap && !board.busy()) break;
        if (elapsed >= opt.drain_limit) {
            fprintf(stderr, "memgen virtual board: still busy %" PRIu64 " cycles after the "
                            "client left; serving the next client anyway\n", elapsed);
            break;
        }
        double t0 = wall_now();
        board.run(kBusyChunk);
        board.stats.busy_cycles += kBusyChunk;
        board.stats.busy_wall += wall_now() - t0;
        board.stats.bytes_discarded += board.tx_out.size();
        board.tx_out.clear();
    }
}

} // namespace

int main(int argc, char **argv) {
    Options opt;
    if (int rc = parse_args(argc, argv, &opt)) return rc;
#ifdef __linux__
    // A board started by a test or a script must not outlive it if it is killed outright.
    if (opt.exit_with_parent) prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif

    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    long port = 0;
    int listen_fd = listen_on(opt.port, &port);
    if (listen_fd < 0) return 1;

    auto ctx = std::make_unique<VerilatedContext>();
    if (!opt.waves.empty()) ctx->traceEverOn(true);
    int rc = 0;
    double start = wall_now();
    uint64_t cycles = 0;
    Stats stats;
    std::string eval_mode;
    {
        Board board(opt, ctx.get());
        if (!opt.waves.empty()) board.open_waves(opt.waves);
        board.reset();

        printf("memgen virtual board listening on socket://%s:%ld\n", kHost, port);
        fflush(stdout);

        while (!g_stop) {
            int fd = accept_client(listen_fd);
            if (fd < 0) break;
            board.stats.clients++;
            fprintf(stderr, "memgen virtual board: client connected\n");
            if (opt.faults) {
                serve_faults(fd, board, opt);
            } else {
                serve(fd, board, opt);
            }
            close(fd);
            drain(board, opt);
        }
        cycles = board.cycles();
        stats = board.stats;
        eval_mode = board.eval_mode();
    }
    close(listen_fd);

    double wall = wall_now() - start;
    printf("memgen virtual board stopped: cycles=%" PRIu64 " wall_s=%.3f cycles_per_s=%.0f "
           "busy_cycles=%" PRIu64 " busy_cycles_per_s=%.0f bytes_in=%" PRIu64
           " bytes_out=%" PRIu64
           " bytes_dropped=%" PRIu64 " bytes_discarded=%" PRIu64 " tx_framing_errors=%" PRIu64
           " clients=%" PRIu64 " eval_mode=%s\n",
           cycles, wall, wall > 0 ? cycles / wall : 0.0, stats.busy_cycles,
           stats.busy_wall > 0 ? stats.busy_cycles / stats.busy_wall : 0.0, stats.bytes_in,
           stats.bytes_out, stats.bytes_dropped, stats.bytes_discarded, stats.tx_framing_errors,
           stats.clients, eval_mode.c_str());
    fflush(stdout);
    return rc;
}
