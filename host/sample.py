# SPDX-License-Identifier: BSD-2-Clause
"""``python -m host.sample`` (``memgen-sample``): generate by reciting what the device learned.

The device's stored header says what the records hold, so no side files are needed. Samples
are written by the extension of ``--out`` (see :mod:`host.outputs`): ``.png`` a contact sheet
of images, ``DIR/`` one PNG file per image, ``.npy``/``.npz`` an array of the original shape
and dtype, ``.txt`` lines, ``-`` standard output, anything else the kind's own form (text, pi
digits one sample a line, raw bytes). Without ``--out``: images to ``build/samples.png``, bytes
to ``build/samples.bin``, arrays to ``build/samples.npy``, text and pi to standard output.
Lines and bytes are written as they arrive, so ``| head`` ends the run early.

``--mode recite`` with ``-n`` equal to the number of examples ``N`` recites the whole data set
in order and writes it back in its original form, byte for byte (the padding of the last pi or
bytes record stripped, a text file's final newline as it was). ``--evaluate`` compares the
samples with the training set and prints the report of :func:`host.evaluate.evaluate`.
"""

import argparse
import io
import json
import logging
import sys
import time

import numpy as np

from hw import protocol

from . import cli, codecs, outputs
from . import info as info_tool

__all__ = ["DEFAULT_IMAGE_OUT", "DEFAULT_BYTES_OUT", "STDOUT", "build_parser", "main"]

_log = logging.getLogger(__name__)

#: Where the contact sheet of sampled images goes without ``--out``.
DEFAULT_IMAGE_OUT = "build/samples.png"

#: Where sampled bytes go without ``--out``.
DEFAULT_BYTES_OUT = "build/samples.bin"

#: The ``--out`` value meaning standard output.
STDOUT = outputs.STDOUT

#: ``--out`` by kind when it is not given.
DEFAULT_OUT = {codecs.Kind.IMAGE: DEFAULT_IMAGE_OUT, codecs.Kind.BYTES: DEFAULT_BYTES_OUT,
               codecs.Kind.ARRAY: "build/samples.npy"}

# `--evaluate` without DATA: compare with the training records read back from the device.
_FROM_DEVICE = ""

_MODES = ("random", "shuffle", "recite")


def _alpha(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def build_parser():
    """Return the argument parser of ``host.sample``."""
    parser = cli.ArgumentParser(
        prog=cli.prog("memgen-sample", "host.sample"),
        description="Sample a trained MemGEN device: every sample is one of the training "
                    "examples, drawn by the device's address generator.")
    parser.add_argument(
        "-n", "--count", type=cli.positive_int, metavar="K", default=64, dest="count",
        help="number of samples (default: %(default)s)")
    parser.add_argument(
        "--mode", type=str.lower, metavar="MODE", choices=_MODES, default="random",
        help="random: uniform with replacement; shuffle: each example once per epoch; "
             "recite: the examples in order, the whole data set when K is N "
             "(default: %(default)s)")
    parser.add_argument(
        "--seed", type=cli.seed_int, metavar="S", default=0,
        help="seed, 0 to 2**64-1: the same seed gives the same samples "
             "(default: %(default)s)")
    parser.add_argument(
        "--out", type=str, metavar="PATH", default=None,
        help=f"output by extension: .png contact sheet, DIR/ a PNG per image, .npy or .npz "
             f"array, .txt lines, {STDOUT} for stdout, else the kind's own form (default: "
             f"{DEFAULT_IMAGE_OUT} for images, {DEFAULT_BYTES_OUT} for bytes, stdout for text "
             f"and pi)")
    parser.add_argument(
        "--png-dir", type=str, metavar="DIR", default=None,
        help="images: also write each sample as DIR/sampleNNNN.png (default: only the "
             "contact sheet)")
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON object (what was sampled, where it went, the numbers, the "
             "evaluation, the device's state) instead of text")
    evaluation = parser.add_argument_group("evaluation (with the options DATA was trained with)")
    evaluation.add_argument(
        "--evaluate", type=str, metavar="DATA", nargs="?", const=_FROM_DEVICE, default=None,
        help="compare the samples with the training set DATA, loaded as host.train loads it, "
             "print the evaluation report and fail if a test fails; without DATA, compare "
             "with the training records read back from the device (default: no evaluation)")
    evaluation.add_argument(
        "--alpha", type=_alpha, metavar="ALPHA", default=0.01,
        help="significance level of each statistical test (default: %(default)s)")
    cli.add_data_options(evaluation, mode_flag="--image-mode")
    cli.add_link_options(parser)
    return parser


def _sample(args):
    training = None
    if args.evaluate:
        training = cli.load_data(args.evaluate, args)
    with cli.connect(args) as client:
        info = cli.device_info(client)
        port = getattr(client, "port", None)
        refusal = cli.unfinished_message(info)
        if refusal:
            raise cli.CLIError(refusal)
        meta = codecs.Header.unpack(info.header)
        if meta.record_size != info.record_size:
            raise cli.CLIError(f"the stored header describes records of {meta.record_size} "
                               f"bytes but the device holds records of {info.record_size}; "
                               f"train the device again with `python -m host.train`")
        if args.png_dir is not None and meta.kind != codecs.Kind.IMAGE:
            raise cli.CLIError(f"--png-dir applies to images, but the device holds "
                               f"{meta.kind.name.lower()} data; drop --png-dir")
        if training is not None:
            _check_training(client, info, training, args.evaluate)
        size = info.record_size
        limit = client.rate
        whole = args.mode == "recite" and args.count == info.count
        out = args.out or DEFAULT_OUT.get(meta.kind, STDOUT)
        if args.json and out == STDOUT:
            raise cli.CLIError("--json and the samples would both go to standard output; "
                               "give --out a file")
        # Checked before sampling: a format that cannot hold the kind is one line.
        writer = outputs.writer_for(out, meta, whole=whole)
        bar, update = cli.progress_bar(args.count * size, "sampling", quiet=args.quiet,
                                       limit=limit)
        start = time.monotonic()
        with bar:
            data = outputs.sample_into(client, writer, args.count, args.mode, args.seed,
                                       record_size=size, progress=update)
        elapsed = time.monotonic() - start
        if args.evaluate == _FROM_DEVICE:
            bar, update = cli.progress_bar(info.total, "reading", quiet=args.quiet, limit=limit)
            with bar:
                stored = client.read(0, info.count, record_size=size, progress=update)
            training = np.frombuffer(stored, np.uint8).reshape(info.count, size)

    _report(args, info, port, data, elapsed, writer, training)
    return cli.EXIT_OK


def _report(args, info, port, data, elapsed, writer, training):
    """Finish writing the samples; say what was done as text or one JSON object, verify pi
    and evaluate; raise :exc:`cli.CLIError` if the evaluation failed."""
    meta, out, whole, size = writer.meta, writer.out, writer.whole, info.record_size
    # Messages go to stdout, unless the samples do; with --json one object says it all.
    messages = io.StringIO() if args.json else sys.stderr if out == STDOUT else sys.stdout
    notes = writer.finish(data, args.count)
    if args.png_dir is not None:
        codecs.write_pngs(codecs.decode(meta, data, args.count), args.png_dir)
        notes.append(f"wrote {args.count} PNG files to {args.png_dir}")
    rate = len(data) / elapsed if elapsed > 0 else float("inf")
    what = "the whole data set in order" if whole else cli.plural(args.count, "sample")
    print(f"sampled {what} from {cli.plural(info.count, 'example')} ({args.mode}, seed "
          f"{args.seed}): {len(data)} bytes in {elapsed:.2f} s, {rate / 1000:.1f} KB/s",
          file=messages)
    for note in notes:
        print(note, file=messages)
    if meta.kind == codecs.Kind.PI:
        notes.append(_verify_pi(meta, data, args.count, whole))
        print(notes[-1], file=messages)
    report = None
    if training is not None:
        report = _evaluate(data, args.count, size, training, args, messages)
    if args.json:
        print(json.dumps({
            "command": "sample", "mode": args.mode, "seed": args.seed, "count": args.count,
            "whole": whole, "bytes": len(data), "seconds": elapsed, "out": out,
            "notes": notes, "evaluation": None if report is None else {
                "passed": report.passed, "alpha": report.alpha,
                "rows": [{"name": row.name, "value": row.value, "threshold": row.threshold,
                          "result": row.result, "detail": row.detail} for row in report.rows]},
            "device": info_tool.as_dict(info, port),
        }))
    if report is not None and not report.passed:
        failed = ", ".join(row.name for row in report.rows if row.passed is False)
        source = args.evaluate or "the device's store"
        raise cli.CLIError(f"the evaluation failed ({failed}): the samples can be told apart "
                           f"from {source}; check that it is the data set the device learned, "
                           f"with the same options (see `python -m host.info`)")


def _check_training(client, info, training, source):
    if training.record_size != info.record_size:
        raise cli.CLIError(f"{source} makes records of {training.record_size} bytes, but the "
                           f"device's are {info.record_size} bytes; pass --evaluate the DATA "
                           f"and options given to host.train")
    crc, _ = client.checksum()
    expected = protocol.session_crc(
        protocol.begin_payload(info.record_size, info.count, info.header), training.records)
    if training.count != info.count or expected != crc:
        _log.warning("%s differs from what the device learned (%d examples, CRC-32 %#010x); "
                     "the report compares the samples with %s", source, info.count, crc, source)


def _verify_pi(meta, data, count, whole):
    """Check sampled pi records against mpmath; return the verdict or raise CLIError."""
    if whole:
        digits = data[:meta.length]
        index = codecs.pi_mismatch(digits)
        if index is not None:
            raise cli.CLIError(f"digit {index} of the recital is not pi's (per mpmath): the "
                               f"device's store is corrupt; train it again")
        return f"verified against mpmath: the {meta.length} digits are pi's first {meta.length}"
    size = meta.record_size
    chunks = codecs.encode_pi(meta.length, size)
    valid = {chunks.record(i) for i in range(chunks.count)}
    for index in range(count):
        if data[index * size:(index + 1) * size] not in valid:
            raise cli.CLIError(f"sample {index} is not one of the {chunks.count} records of pi's "
                               f"first {meta.length} digits (per mpmath): the device's store "
                               f"is corrupt; train it again")
    return (f"verified against mpmath: all {count} samples are records of pi's first "
            f"{meta.length} digits")


def _evaluate(data, count, size, training, args, messages):
    from .evaluate import evaluate

    samples = np.frombuffer(data, np.uint8).reshape(count, size)
    report = evaluate(samples, training, mode=args.mode, alpha=args.alpha)
    print(report.format(), file=messages)
    return report


def main(argv=None):
    """Run ``host.sample`` with ``argv`` (default: the command line); return the exit status."""
    return cli.run(build_parser(), _sample, argv)


if __name__ == "__main__":
    sys.exit(main())
