# SPDX-License-Identifier: BSD-2-Clause
"""Data out: samples written by the extension of ``--out``, as they arrive where the format
allows.

=================  ==========================================================================
``--out``          written
=================  ==========================================================================
``x.png``          images: a contact sheet
``dir/`` or an     images: one PNG file per sample, ``dir/sample0000.png`` ...
existing folder
``x.npy``          the samples as one array of the original shape and dtype: images and
                   arrays ``(K, *shape)``; text lines a string array; pi and bytes ``(K,
                   record_size)`` ``uint8``
``x.npz``          the same array, named ``samples``
``x.txt``          lines: text and pi as they are, images and arrays one sample a line of
                   numbers, bytes one sample a line of hex
``-``              standard output: the kind's own form (text lines, pi digits, raw bytes,
                   arrays as lines of numbers, images as a PNG contact sheet)
anything else      the kind's own form: text and pi as text, bytes and arrays raw
=================  ==========================================================================

Lines, digits and raw bytes are *streamed*: written as each batch of samples arrives, so that
``memgen sample -n 20000 | head -2`` ends at once. Arrays, sheets and recitals of a whole data
set (whose last record loses its padding) are written when the sampling ends.
"""

import io
import logging
import os
import sys
from pathlib import Path

import numpy as np

from . import codecs
from .codecs import DataError, Kind

__all__ = ["STDOUT", "STREAM_BYTES", "Writer", "writer_for", "sample_into"]

_log = logging.getLogger(__name__)

#: The ``--out`` value meaning standard output.
STDOUT = "-"

#: Bytes of samples asked for at a time when they are streamed.
STREAM_BYTES = 1 << 16

_IMAGE_ONLY = ("sheet", "pngs")


def _format(out, meta):
    if out == STDOUT:
        return "stdout"
    text = os.fspath(out)
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        return "pngs"
    suffix = Path(text).suffix.lower()
    return {".png": "sheet", ".npy": "npy", ".npz": "npz", ".txt": "txt"}.get(suffix, "native")


class Writer:
    """Writes samples of one stored data set to ``out`` in the format its extension names.

    Parameters
    ----------
    out : str
        A path, a folder (ending in ``/``) or :data:`STDOUT`.
    meta : host.codecs.Header
        The device's stored header.
    whole : bool
        The samples are a recital of the whole data set, written back in its original form.

    Raises
    ------
    DataError
        If the format cannot hold the kind (a contact sheet of text): raised before any
        sample is asked for.
    """

    def __init__(self, out, meta, *, whole=False):
        self.out = out
        self.meta = meta
        self.whole = whole
        self.format = _format(out, meta)
        self.written = 0
        self._file = None
        images = meta.kind == Kind.IMAGE
        if self.format in _IMAGE_ONLY and not images:
            what = "a contact sheet" if self.format == "sheet" else "a folder of PNG files"
            raise DataError(f"--out {out} asks for {what}, but the device holds "
                            f"{meta.kind.name.lower()} data: use .npy, .npz, .txt or a file of "
                            f"the kind's own form")
        if self.format == "native" and images:
            raise DataError(f"--out {out}: images are written as .png (a contact sheet), a "
                            f"folder (DIR/), .npy, .npz or .txt: choose one of those")

    @property
    def streams(self):
        """Whether samples are written as they arrive."""
        if self.whole:
            return False
        if self.format in ("txt", "native"):
            return True
        return self.format == "stdout" and self.meta.kind != Kind.IMAGE

    def _stream(self):
        if self._file is None:
            if self.out == STDOUT:
                sys.stdout.flush()
                self._file = getattr(sys.stdout, "buffer", None) or _TextBytes(sys.stdout)
            else:
                Path(self.out).parent.mkdir(parents=True, exist_ok=True)
                self._file = Path(self.out).open("wb")      # closed by finish()
        return self._file

    def write(self, records, count):
        """Write ``count`` samples (``records``, back to back) if this writer streams."""
        if not self.streams:
            return
        stream = self._stream()
        stream.write(self._lines(records, count))
        stream.flush()
        self.written += count

    def _lines(self, records, count):
        meta = self.meta
        size = meta.record_size
        if meta.kind == Kind.TEXT and not meta.flags & codecs.Flag.ONE_SHOT:
            lines = codecs.decode(meta, records, count)
            return codecs.lines_to_bytes(lines, trailing_newline=True)
        if meta.kind == Kind.PI:
            return b"".join(records[i:i + size].rstrip(b"\0") + b"\n"
                            for i in range(0, len(records), size))
        if meta.kind == Kind.TEXT or (meta.kind == Kind.BYTES and self.format != "txt"):
            return bytes(records)
        if meta.kind == Kind.BYTES:
            return b"".join(records[i:i + size].hex().encode() + b"\n"
                            for i in range(0, len(records), size))
        array = codecs.decode(meta, records, count).reshape(count, -1)
        return b"".join(" ".join(map(str, row.tolist())).encode() + b"\n" for row in array)

    def finish(self, data, count):
        """Write what was not streamed (all ``count`` samples in ``data``); return lines saying
        where the samples went."""
        if self.streams:
            if self._file is not None and self.out != STDOUT:
                self._file.close()
            return [] if self.out == STDOUT else [f"wrote {count} samples to {self.out}"]
        return getattr(self, f"_finish_{self.format}")(data, count)

    def _array(self, data, count):
        meta = self.meta
        if meta.kind in (Kind.IMAGE, Kind.ARRAY):
            return codecs.decode(meta, data, count)
        if meta.kind == Kind.TEXT and not meta.flags & codecs.Flag.ONE_SHOT:
            return np.array(codecs.decode(meta, data, count), dtype=str)
        return np.frombuffer(data, np.uint8).reshape(count, meta.record_size).copy()

    def _finish_npy(self, data, count):
        array = self._array(data, count)
        _parent(self.out)
        np.save(self.out, array)
        return [f"wrote {count} samples to {self.out} (array {array.shape} {array.dtype})"]

    def _finish_npz(self, data, count):
        array = self._array(data, count)
        _parent(self.out)
        np.savez(self.out, samples=array)
        note = f"wrote {count} samples to {self.out} (array 'samples' {array.shape} {array.dtype})"
        return [note]

    def _finish_sheet(self, data, count):
        images = codecs.decode(self.meta, data, count)
        _parent(self.out)
        codecs.contact_sheet(images, self.out)
        return [f"wrote a contact sheet of {count} images to {self.out}"]

    def _finish_pngs(self, data, count):
        images = codecs.decode(self.meta, data, count)
        codecs.write_pngs(images, self.out)
        return [f"wrote {count} PNG files to {self.out}"]

    def _finish_stdout(self, data, count):
        if self.meta.kind == Kind.IMAGE:
            from PIL import Image

            buffer = io.BytesIO()
            images = codecs.decode(self.meta, data, count)
            Image.fromarray(codecs.sheet_array(images)).save(buffer, format="PNG")
            _write_bytes(STDOUT, buffer.getvalue())
        else:
            _write_bytes(STDOUT, self._whole(data, count))
        return []

    def _finish_txt(self, data, count):
        return self._finish_native(data, count)

    def _finish_native(self, data, count):
        payload = self._whole(data, count)
        _write_bytes(self.out, payload)
        return [f"wrote {len(payload)} bytes to {self.out}"]

    def _whole(self, data, count):
        """The bytes of a recital of the whole data set, in its original form."""
        meta = self.meta
        decoded = codecs.decode(meta, data, count, whole=self.whole)
        if meta.kind == Kind.TEXT and isinstance(decoded, list):
            trailing = bool(meta.flags & codecs.Flag.TRAILING_NEWLINE)
            return codecs.lines_to_bytes(decoded, trailing_newline=trailing)
        if meta.kind == Kind.PI and self.out == STDOUT:
            return decoded + b"\n"
        if meta.kind in (Kind.IMAGE, Kind.ARRAY) or (meta.kind == Kind.BYTES and
                                                      self.format == "txt"):
            return self._lines(data, count)
        return decoded


class _TextBytes:
    """Bytes written to a text stream (a stdout replaced by one without a buffer)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data):
        self.stream.write(data.decode("utf-8", "replace"))

    def flush(self):
        self.stream.flush()


def _parent(path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)


def _write_bytes(out, payload):
    if out == STDOUT:
        sys.stdout.flush()
        stream = getattr(sys.stdout, "buffer", None) or _TextBytes(sys.stdout)
        stream.write(payload)
        stream.flush()
        return
    _parent(out)
    Path(out).write_bytes(payload)


def writer_for(out, meta, *, whole=False):
    """Return the :class:`Writer` of ``out``; see :class:`Writer`."""
    return Writer(out, meta, whole=whole)


def sample_into(client, writer, count, mode, seed, *, record_size, progress=None):
    """Sample ``count`` records from ``client`` (restarting the generator with ``mode`` and
    ``seed``), handing each batch to ``writer`` as it arrives; return all the samples' bytes.

    A streaming writer gets batches of about :data:`STREAM_BYTES`: the device continues one
    sequence across them, so the samples are those of a single request.
    """
    if not writer.streams:
        return client.sample(count, mode, seed, record_size=record_size, progress=progress)
    batch = max(1, STREAM_BYTES // max(record_size, 1))
    chunks, done = [], 0
    while done < count:
        k = min(batch, count - done)
        if done == 0:
            chunk = client.sample(k, mode, seed, record_size=record_size, progress=progress)
        else:
            chunk = client.sample(k, record_size=record_size, progress=progress)
        writer.write(chunk, k)
        chunks.append(chunk)
        done += k
    _log.debug("streamed %d samples in %d batches", count, len(chunks))
    return b"".join(chunks)
