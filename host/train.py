# SPDX-License-Identifier: BSD-2-Clause
"""``python -m host.train DATA`` (``memgen-train``): teach a MemGEN device a data set by heart.

The data set is loaded and encoded by :func:`host.codecs.load`, checked against the device's
capacity before anything is sent, learned in one training session (``N`` steps for ``N``
examples) and committed with the host's CRC-32 of the records, which the device checks against
its store; BEGIN, LEARN and COMMIT leave as one pipeline. A session interrupted before COMMIT
left (Ctrl-C tells which) leaves the device reporting an unfinished model, which
:mod:`host.sample` refuses; running the tool again replaces it, and running it with
``--resume`` finishes it: after checking that the device's unfinished session is this data set
(record size, count and header) and that the bytes it already holds are the data's first bytes
(by CRC-32), it sends only the rest, from the device's write pointer, and commits.
"""

import json
import logging
import sys
import time

from hw import protocol
from hw.protocol import State

from . import cli
from . import info as info_tool
from .device import LinkError, MemGenError

__all__ = ["build_parser", "main"]

_log = logging.getLogger(__name__)


def build_parser():
    """Return the argument parser of ``host.train``."""
    parser = cli.ArgumentParser(
        prog=cli.prog("memgen-train", "host.train"),
        description="Teach a MemGEN device a data set by heart: N training steps for N "
                    "examples, verified by a CRC-32 of the whole store.")
    parser.add_argument(
        "data", type=str, metavar="DATA", nargs="?", default="digits",
        help="the data set: an image file or a folder of them (any format Pillow reads), a "
             ".npy/.npz file, an IDX file (MNIST; also .gz), a .csv/.tsv table, a .txt or .md "
             "file (text, one example per line), pi or pi:DIGITS (digits of pi), - for "
             "standard input, any other file (bytes), or digits, scikit-learn's 8x8 "
             "handwritten digits (default: %(default)s)")
    parser.add_argument(
        "--resume", action="store_true",
        help="finish an interrupted training session of the same DATA: keep the bytes the "
             "device already learned (checked by CRC-32) and send only the rest (default: "
             "start over)")
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON object (what was learned, the numbers, the device's state) "
             "instead of text")
    cli.add_data_options(parser.add_argument_group("data"))
    cli.add_link_options(parser)
    return parser


def _resume_point(client, info, dataset):
    """Return the byte offset to resume ``dataset`` from, or raise :exc:`cli.CLIError` saying
    why the device's session cannot be continued."""
    fresh = "train without --resume to start over"
    if info.state == State.READY and _holds(client, info, dataset):
        return dataset.nbytes
    if info.state != State.LEARNING:
        what = ("holds a finished model" if info.state == State.READY else "holds no model")
        raise cli.CLIError(f"nothing to resume: the device {what} (state: "
                           f"{info.state.name.lower()}), not an interrupted training session; "
                           f"{fresh}")
    header = dataset.header.ljust(protocol.HEADER_SIZE, b"\0")
    if (info.record_size, info.count, info.header) != (dataset.record_size, dataset.count,
                                                       header):
        theirs = cli.describe_header(info.header) or "an unknown data set"
        raise cli.CLIError(
            f"cannot resume: the device's unfinished session is another data set "
            f"({info.count} records of {info.record_size} bytes; {theirs}), not DATA "
            f"({dataset.count} records of {dataset.record_size} bytes); {fresh}")
    crc, write_ptr = client.checksum()
    if write_ptr > dataset.nbytes:
        raise cli.CLIError(f"cannot resume: the device holds {write_ptr} bytes, more than "
                           f"DATA's {dataset.nbytes}; {fresh}")
    expected = protocol.session_crc(_begin(dataset), dataset.records[:write_ptr])
    if crc != expected:
        raise cli.CLIError(f"cannot resume: the {write_ptr} bytes on the device are not DATA's "
                           f"first {write_ptr} (CRC-32 {crc:#010x}, DATA's {expected:#010x}); "
                           f"{fresh}")
    return write_ptr


def _holds(client, info, dataset):
    """Return whether the device's finished model (``info``, from :meth:`MemGen.info`) is
    ``dataset``, all of it: the same session (record size, count and header) and the same
    CRC-32."""
    header = dataset.header.ljust(protocol.HEADER_SIZE, b"\0")
    return ((info.record_size, info.count, info.header, info.write_ptr) ==
            (dataset.record_size, dataset.count, header, dataset.nbytes) and
            client.checksum()[0] == protocol.session_crc(_begin(dataset), dataset.records))


def _interrupted(client, dataset, acknowledged):
    """Return the message of a training interrupted (Ctrl-C) after ``acknowledged`` bytes:
    what the device holds once the frames already sent have arrived (the session is
    pipelined, so they may include COMMIT), asked once, briefly; or what is known without it."""
    try:
        client.retries = 0
        info = client.info()        # answered after every frame already sent
        finished = info.state == State.READY and _holds(client, info, dataset)
    except (MemGenError, LinkError, KeyboardInterrupt):
        return (f"interrupted after {acknowledged} of {dataset.nbytes} bytes were acknowledged, "
                f"and the device did not say what it holds; `python -m host.info` tells; "
                f"run `python -m host.train` again with --resume to finish an unfinished model")
    if finished:
        return (f"interrupted after every frame was sent: the device finished learning "
                f"{cli.plural(dataset.count, 'example')} anyway (CRC-32 checked); "
                f"nothing to resume")
    if info.state == State.LEARNING:
        return (f"interrupted after {info.write_ptr} of {dataset.nbytes} bytes: the model on "
                f"the device is unfinished and will not sample; run `python -m host.train` "
                f"again with --resume to finish it")
    return (f"interrupted after {acknowledged} of {dataset.nbytes} bytes were acknowledged; "
            f"the device holds no unfinished session (state: {info.state.name.lower()}): "
            f"train again")


def _begin(dataset):
    """BEGIN's payload for ``dataset``: the start of the session's CRC-32."""
    return protocol.begin_payload(dataset.record_size, dataset.count, dataset.header)


def _train(args):
    prepared = cli.prepare_data(args.data, args)
    with cli.connect(args) as client:
        info = cli.device_info(client)
        # Before the heavy work (digits of pi, padding): a data set too large is one line.
        dataset = prepared.load(info.capacity, verb="learning")
        description = cli.describe_header(dataset.header)
        if dataset.nbytes > info.capacity:
            raise cli.CLIError(
                f"data set needs {dataset.nbytes} bytes, the device holds {info.capacity}; "
                f"use fewer or smaller examples, or a board with a larger store")
        baud = info.baud or args.baud
        limit = client.rate
        crc = protocol.session_crc(_begin(dataset), dataset.records)
        offset = _resume_point(client, info, dataset) if args.resume else 0
        if args.resume and info.state == State.READY:
            message = (f"nothing to resume: the device already holds all of DATA "
                       f"({cli.plural(dataset.count, 'example')}, CRC-32 {crc:#010x} checked)")
            print(json.dumps({"command": "train", "data": args.data, "resumed_from": offset,
                              "sent": 0, "crc32": crc, "message": message})
                  if args.json else message)
            return cli.EXIT_OK
        if args.resume:
            _log.info("resuming at byte %d of %d", offset, dataset.nbytes)
        bar, update = cli.progress_bar(dataset.nbytes - offset, "learning", quiet=args.quiet,
                                       limit=limit)
        done = offset

        def progress(count):
            nonlocal done
            done += count
            update(count)

        start = time.monotonic()
        try:
            with bar:
                device_crc = client.train(dataset.records, dataset.record_size,
                                          dataset.header, offset=offset, progress=progress)
        except KeyboardInterrupt:
            raise cli.CLIError(_interrupted(client, dataset, done),
                               cli.EXIT_INTERRUPTED) from None
        elapsed = time.monotonic() - start
        if device_crc != crc:
            raise cli.CLIError(f"the device's CRC-32 {device_crc:#010x} differs from the "
                               f"data's {crc:#010x}; train again")
        # The device's own clock times the link, whatever the host's latency (and on the
        # virtual board it is the simulated time).
        after = client.info()
        device_time = after.seconds - info.seconds
    # One training step stores one example: the device's write pointer counts them.
    steps = after.write_ptr // dataset.record_size
    steps_now = steps - offset // dataset.record_size
    sent = dataset.nbytes - offset
    rate = sent / elapsed if elapsed > 0 else float("inf")
    efficiency = sent / (device_time * cli.link_limit(baud)) if device_time > 0 else 0
    if args.json:
        print(json.dumps({
            "command": "train", "data": args.data, "description": description,
            "examples": dataset.count, "record_size": dataset.record_size,
            "bytes": dataset.nbytes, "sent": sent, "steps": steps, "steps_now": steps_now,
            "resumed_from": offset if args.resume else None, "seconds": elapsed,
            "device_seconds": device_time, "link_efficiency": efficiency, "baud": baud,
            "crc32": crc, "device": info_tool.as_dict(after, getattr(client, "port", None)),
        }))
        return cli.EXIT_OK
    if args.resume:
        print(f"resumed after {offset} of {dataset.nbytes} bytes already on the device "
              f"(CRC-32 checked): {cli.plural(offset // dataset.record_size, 'example')} "
              f"learned before, {cli.plural(dataset.count - offset // dataset.record_size, 'step')}"
              f" now")
    now = f", {steps_now} of them now" if args.resume else ""
    print(f"learned {cli.plural(dataset.count, 'example')} in {cli.plural(steps, 'step')}{now} "
          f"({description})")
    print(f"{sent} bytes in {elapsed:.2f} s ({rate / 1000:.1f} KB/s), "
          f"{device_time:.4f} s of device time: link efficiency {efficiency:.1%} of "
          f"{baud} baud ({cli.link_limit(baud) / 1000:.1f} KB/s); "
          f"CRC-32 {crc:#010x} verified by the device")
    return cli.EXIT_OK


def main(argv=None):
    """Run ``host.train`` with ``argv`` (default: the command line); return the exit status."""
    return cli.run(build_parser(), _train, argv)


if __name__ == "__main__":
    sys.exit(main())
