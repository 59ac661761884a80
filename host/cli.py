# SPDX-License-Identifier: BSD-2-Clause
"""Plumbing shared by the command-line tools :mod:`host.train`, :mod:`host.sample` and
:mod:`host.info`.

Every tool declares the link options with :func:`add_link_options`, opens the device with
:func:`connect` (the one place a client is created, so tests can replace it) and runs its body
through :func:`run`, the single error handler: every failure prints exactly one line to stderr,
``error: <what went wrong>; <the fix>``, and sets the exit status:

* 0: success;
* 1: any failure (no port, wrong port, device not answering, protocol version mismatch, data
  that does not fit, unreadable or empty data, an untrained device, a failed evaluation, ...);
* 2: a usage error found by :mod:`argparse`;
* 130: interrupted with Ctrl-C.
"""

import argparse
import logging
import os
import sys
import time

import serial

from hw import protocol
from hw.argtypes import nonnegative_int, positive_int, seed_int
from hw.boards.facts import DEFAULT_BAUD, VBOARD_URL
from hw.protocol import State

from . import advice, codecs, loaders
from .device import MemGen, MemGenError
from .link import PORT_ENV, LinkError, find_port

__all__ = [
    "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED", "DEFAULT_TIMEOUT",
    "DEFAULT_RETRIES", "KINDS",
    "CLIError", "ArgumentParser", "prog", "positive_int", "nonnegative_int", "seed_int",
    "add_link_options", "add_data_options", "load_data", "prepare_data", "reporter", "connect",
    "device_info",
    "link_limit", "progress_bar", "describe_header", "unfinished_message",
    "plural", "run",
]

_log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

#: Seconds to wait for a reply before giving up on the device.
DEFAULT_TIMEOUT = 2.0

#: Times a frame is sent again after a link error before giving up.
DEFAULT_RETRIES = 5

#: Data kinds, as the ``--kind`` option spells them.
KINDS = tuple(kind.name.lower() for kind in codecs.Kind)

# Loggers whose level -v raises; third-party loggers stay at WARNING.
_LOGGERS = ("host", "hw", "sim")


class CLIError(Exception):
    """A failure that the command line reports as one line naming the fix.

    Parameters
    ----------
    message : str
        What went wrong and how to fix it.
    status : int
        Exit status.
    """

    def __init__(self, message, status=EXIT_FAILURE):
        super().__init__(message)
        self.status = status


class ArgumentParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose usage errors are one ``error:`` line."""

    def error(self, message):
        """Print ``message`` as one line and exit with status 2."""
        self.exit(EXIT_USAGE, f"error: {message}; see {self.prog} --help\n")


def prog(command, module):
    """Return the program name for usage lines: ``command`` when run as that console script,
    else ``python -m module``."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if name.startswith("memgen "):          # a subcommand of `memgen`
        return name
    return command if name.startswith(command) else f"python -m {module}"


def add_link_options(parser):
    """Add ``--port``, ``--baud``, ``--timeout``, ``--retries``, ``-q/--quiet`` and
    ``-v/--verbose``."""
    group = parser.add_argument_group("device")
    group.add_argument(
        "--port", type=str, metavar="PORT", default=None,
        help=f"serial device or pyserial URL of the board, e.g. /dev/ttyUSB1, COM5, "
             f"{VBOARD_URL} for the virtual board or litepcie:///dev/litepcie0 for a PCIe "
             f"card (default: ${PORT_ENV}, then the first FTDI "
             f"board found)")
    group.add_argument(
        "--baud", type=advice.baud_rate, metavar="BAUD", default=DEFAULT_BAUD,
        help="baud rate of the serial port; must be the board build's baud "
             "(default: %(default)s)")
    group.add_argument(
        "--timeout", type=float, metavar="SECONDS", default=DEFAULT_TIMEOUT,
        help="seconds any wait for the device lasts at most, whatever else the port sends "
             "(default: %(default)s)")
    group.add_argument(
        "--retries", type=nonnegative_int, metavar="N", default=DEFAULT_RETRIES,
        help="times a frame is sent again after a link error before giving up "
             "(default: %(default)s)")
    output = parser.add_argument_group("output")
    output.add_argument(
        "-q", "--quiet", action="store_true",
        help="errors only: no progress bars (also off when stderr is not a terminal), no "
             "notes of what was inferred, no warnings")
    output.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="log what happens; twice for frame-level debugging (default: warnings only)")


def add_data_options(group, *, mode_flag="--mode"):
    """Add the codec options ``--kind``, ``--record-size``, ``--one-shot`` and ``--digits``,
    and the loader options of :func:`host.loaders.add_options` (its image ``--mode`` spelt
    ``mode_flag``), to a parser or argument group."""
    group.add_argument(
        "--kind", type=str.lower, metavar="KIND", choices=KINDS, default=None,
        help=f"kind of data, one of {', '.join(KINDS)} (default: from the file name, and "
             f"said: folders and image files are images, .npy, .npz, IDX and .csv/.tsv images "
             f"or arrays by their shape, .txt and .md text, pi and pi:DIGITS digits of pi, "
             f"anything else bytes; see the README's data formats)")
    group.add_argument(
        "--record-size", type=positive_int, metavar="BYTES", default=None,
        help="bytes per record: digits per chunk for pi, the chunk size for bytes, the padded "
             "line size for text; images fix it themselves (default: one record holding "
             "everything for pi and bytes, the longest line for text)")
    group.add_argument(
        "--one-shot", action="store_true",
        help="learn the whole file as one record, recited back byte for byte (text, pi, "
             "bytes)")
    group.add_argument(
        "--digits", type=positive_int, metavar="D", default=None,
        help=f"digits of pi to learn with DATA pi (default: {codecs.DEFAULT_PI_DIGITS})")
    loaders.add_options(group, mode_flag=mode_flag)


def load_data(source, args, *, verb="loaded"):
    """Load ``source`` with the data options of :func:`add_data_options`; return a
    :class:`~host.codecs.Dataset`. What was inferred and converted is said on stderr (unless
    ``-q``); see :mod:`host.loaders`.

    Raises
    ------
    host.codecs.DataError
        If the data cannot be read or encoded.
    """
    return prepare_data(source, args).load(verb=verb)


def prepare_data(source, args):
    """Read ``source`` as :func:`load_data` does, but return a :class:`host.loaders.Prepared`
    whose size is known before it is encoded (so that training checks the capacity first)."""
    _log.info("loading %s", source)
    return loaders.prepare(source, loaders.Options.from_args(args), report=reporter(args))


def reporter(args):
    """Return the function that says one line of what the tools inferred or did: on stderr,
    silent with ``-q``."""
    if getattr(args, "quiet", False):
        return lambda message: _log.info("%s", message)
    return lambda message: print(message, file=sys.stderr, flush=True)


def connect(args):
    """Return a :class:`~host.device.MemGen` client for the device the options name.

    The port is ``--port``, else ``$MEMGEN_PORT``, else the first FTDI board found. Tests
    replace this function to give the tools a client of a simulated device.

    Raises
    ------
    LinkError
        If no port is found or it cannot be opened.
    MemGenError
        If the device does not answer or speaks another protocol version
        (:exc:`~host.device.VersionMismatch`).
    """
    port = args.port or os.environ.get(PORT_ENV) or find_port()
    advice.check_port(port)
    _log.info("opening %s at %d baud", port, args.baud)
    try:
        return MemGen(port, args.baud, timeout=args.timeout,
                      retries=getattr(args, "retries", DEFAULT_RETRIES))
    except LinkError as exc:
        raise advice.with_advice(exc, port) from exc.__cause__


def device_info(client):
    """Return what the device reported as ``client`` connected
    (:attr:`~host.device.MemGen.opened_info`, after the client's protocol version check), or
    ask it now if the client did not."""
    return client.opened_info or client.info()


def link_limit(baud):
    """Return the UART payload limit in bytes per second: 8N1 sends
    :data:`~hw.protocol.UART_BITS_PER_BYTE` bits per byte."""
    return baud / protocol.UART_BITS_PER_BYTE


def progress_bar(total, description, *, quiet=False, limit=None):
    """Return a tqdm progress bar of ``total`` bytes on stderr, and its update function.

    The bar is disabled with ``quiet``; when stderr is not a terminal it is a line every few
    seconds (:class:`host.progress.LineProgress`). With ``limit`` (bytes per second) the bar
    shows the rate as a percentage of it.

    Returns
    -------
    bar : tqdm.tqdm
        A context manager.
    update : callable
        Call it with the number of bytes newly done.
    """
    from tqdm import tqdm

    disable = quiet or not _isatty(sys.stderr)
    if disable and not quiet:
        # Off a terminal (a log, CI): a line every few seconds instead of a bar.
        from .progress import LineProgress

        bar = LineProgress(total, description)
        return bar, bar.update
    bar = tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1000,
               file=sys.stderr, disable=disable, leave=False, dynamic_ncols=True)
    start = time.monotonic()

    def update(count):
        if limit and not disable:
            elapsed = time.monotonic() - start
            if elapsed > 0:
                bar.set_postfix_str(f"{(bar.n + count) / elapsed / limit:.0%} of link",
                                    refresh=False)
        bar.update(count)

    return bar, update


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def plural(count, noun):
    """Return ``count`` and ``noun``, with an ``s`` unless ``count`` is 1."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def describe_header(header):
    """Return a one-line description of a stored header, or None if it is not a MemGEN
    header (an empty device)."""
    try:
        meta = codecs.Header.unpack(header)
    except codecs.DataError:
        return None
    one_shot = bool(meta.flags & codecs.Flag.ONE_SHOT)
    size = meta.record_size
    if meta.kind == codecs.Kind.IMAGE:
        shape = "x".join(str(d) for d in meta.shape)
        return f"image: {plural(meta.length, 'image')} of {shape} {meta.dtype.name.lower()}"
    if meta.kind == codecs.Kind.ARRAY:
        shape = "x".join(str(d) for d in meta.shape)
        return f"array: {meta.length} records of {shape} {meta.dtype.name.lower()}"
    if meta.kind == codecs.Kind.TEXT:
        if one_shot:
            return f"text: one-shot, {meta.length} bytes"
        return f"text: {plural(meta.length, 'line')} in records of {size} bytes"
    unit = "digits" if meta.kind == codecs.Kind.PI else "bytes"
    name = meta.kind.name.lower()
    if one_shot or size == meta.length:
        return f"{name}: one-shot, {meta.length} {unit}"
    chunks = -(-meta.length // size)
    return f"{name}: {meta.length} {unit} in {chunks} records of {size}"


def unfinished_message(info):
    """Return the message for a device that cannot sample, or None if it is ready."""
    if info.state == State.EMPTY:
        return ("the device holds no model (state: empty); train it first with "
                "`python -m host.train DATA`")
    if info.state == State.LEARNING:
        return (f"the device's model is unfinished (state: learning, {info.write_ptr} of "
                f"{info.total} bytes learned): training was interrupted; run "
                f"`python -m host.train DATA --resume` to finish it, or without --resume to "
                f"start over")
    return None


def _setup_logging(verbose, quiet=False):
    level = (logging.WARNING, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG
    if quiet and not verbose:
        level = logging.ERROR
    logging.basicConfig(format="%(name)s: %(levelname)s: %(message)s")
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(level)


def _one_line(exc):
    text = " ".join(str(exc).split("\n")).strip()
    return text or type(exc).__name__


def _fail(message, status):
    print(f"error: {message}", file=sys.stderr, flush=True)
    return status


def _silence_stdout():
    # Python flushes stdout at exit and would report the broken pipe again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run(parser, command, argv=None):
    """Parse ``argv`` with ``parser``, run ``command(args)`` and return the exit status.

    ``command`` returns None or an exit status. Every exception it raises ends as one
    ``error:`` line on stderr.
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:      # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    _setup_logging(args.verbose, getattr(args, "quiet", False))
    try:
        status = command(args)
        return EXIT_OK if status is None else status
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except CLIError as exc:
        return _fail(_one_line(exc), exc.status)
    except (LinkError, MemGenError, codecs.DataError) as exc:
        return _fail(_one_line(exc), EXIT_FAILURE)
    except serial.SerialException as exc:
        return _fail(f"the serial link failed: {_one_line(exc)}; check the cable and --port",
                     EXIT_FAILURE)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): not a failure of ours to report.
        _silence_stdout()
        return EXIT_FAILURE
    except OSError as exc:
        reason = exc.strerror or _one_line(exc)
        if exc.filename:
            reason = f"cannot access {exc.filename}: {reason}"
        return _fail(f"{reason}; check the path and its permissions", EXIT_FAILURE)
    except Exception as exc:
        _log.debug("internal error", exc_info=True)
        return _fail(f"internal error: {type(exc).__name__}: {_one_line(exc)}; rerun with -vv "
                     f"for the traceback and report it", EXIT_FAILURE)
