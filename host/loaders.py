# SPDX-License-Identifier: BSD-2-Clause
"""Data in: every file format the tools read, turned into a :class:`~host.codecs.Dataset` by
stated rules, never by silent guesses.

:func:`prepare` looks at a source and does the cheap part of loading it (reading files and
their headers); :meth:`Prepared.load` checks the result against a device's capacity *before*
the heavy part (computing digits of pi, padding records) and encodes it. :func:`load` does both.
Every inference and every conversion is reported through a ``report`` callable as one line
(the tools print it on stderr), and anything skipped is named.

Sources and their formats:

======================================  ====================================================
source                                   read as
======================================  ====================================================
a folder                                 every image file in it (by name order); hidden files
                                         (``.name``, macOS ``._name``) and other files skipped
                                         with a note
``.png .jpg .jpeg .gif .bmp .tif .webp``  one image (any file Pillow opens)
and the other Pillow extensions
``.npy``, ``.npz`` (``--key``)           an array
IDX (``*-idx3-ubyte``, ``.idx``, also    MNIST's format: header parsed, magic and size checked;
``.gz``)                                 a labels file (one dimension) is named as such
``.csv``, ``.tsv``                       a table of numbers, one record per row (a header row
                                         is skipped with a note)
``.txt``, ``.md``                        text (see :mod:`host.codecs`)
``pi``, ``pi:N``, ``digits``             built-in data
``-``                                    standard input: gzip, IDX, ``.npy``, ``.npz`` or an
                                         image recognised by content; text or bytes with
                                         ``--kind``
anything else                            raw bytes, with a note saying so
======================================  ====================================================

The rules for numbers (:func:`to_stored`): records are ``uint8`` unless ``--dtype uint16``
keeps 16 bits (two little-endian bytes per element). Integers that fit are stored exactly;
16-bit data is scaled to 8 bits as ``round(v / 257)`` (65535 becomes 255); float data in
[0, 1] is scaled as ``round(v * 255)`` (or ``* 65535``); integral floats that fit are stored
exactly. Negative, non-finite or too-large values are refused, since no byte holds them.

The rules for images (:func:`read_image_files`): EXIF orientation is applied, so an image is
learned as a viewer shows it. Every image is brought to one mode: ``--mode`` if given, else
``RGB`` if any image has colour, else ``L``, with an alpha channel (``LA``, ``RGBA``) if any
image has a pixel that is not fully opaque; alpha dropped by ``--mode`` is discarded (the colour
is kept as stored). Palette images become RGB (RGBA with transparency), 1-bit images 0/255, CMYK
and other colour spaces RGB; colour to gray uses ITU-R 601-2 luma. Images must share one size
unless ``--size WxH`` resizes every image (Lanczos, aspect ratio not kept).
"""

import dataclasses
import gzip
import io
import logging
import math
import os
import re
import struct
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hw.argtypes import positive_int

from . import codecs
from .codecs import DataError, Kind

__all__ = [
    "MODES", "DTYPES", "IDX_TYPES", "Options", "Prepared", "add_options", "parse_size",
    "parse_shape", "to_stored", "read_idx", "write_idx", "synthetic_images", "read_image_files",
    "infer", "prepare", "load", "describe",
]

_log = logging.getLogger(__name__)

#: Image modes ``--mode`` accepts, by channel count.
MODES = ("L", "LA", "RGB", "RGBA")

#: Element types ``--dtype`` accepts.
DTYPES = ("uint8", "uint16")

#: IDX type codes (the third byte of the magic number) and their big-endian numpy dtypes.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_IDX_NAME = re.compile(r"idx[1-4]-ubyte|\.idx[1-4]?$", re.IGNORECASE)
_TABLES = {".csv": ",", ".tsv": "\t"}
_TEXT = (".txt", ".md")
_ARRAYS = (".npy", ".npz")
_NPZ_NAMES = ("images", "x", "X", "data")
_GZIP_MAGIC = b"\x1f\x8b"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_MODE_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_STDIN = "-"

#: Seconds between two lines of progress while reading many files.
PROGRESS_SECONDS = 5.0


def _report_nothing(message):
    _log.info("%s", message)


@dataclasses.dataclass
class Options:
    """How to read a source: the data options of the tools, as Python values.

    Parameters
    ----------
    kind : str or None
        ``image``, ``text``, ``pi``, ``bytes`` or ``array``; default: inferred, and said.
    record_size : int or None
        Bytes per record for text, pi and bytes (see :func:`host.codecs.load`).
    one_shot : bool
        The whole file as one record (text, pi, bytes).
    digits : int or None
        Digits of pi.
    mode : str or None
        Image mode, one of :data:`MODES`; default: the rule in the module docstring.
    size : tuple of int or None
        ``(width, height)`` every image is resized to; default: images must share one size.
    dtype : str or None
        ``uint8`` (default) or ``uint16``.
    key : str or None
        Array of an ``.npz`` file.
    shape : tuple of int or None
        Shape of one record, to cut flat data (raw bytes, 1-D or 2-D arrays, tables) into
        records; 2 or 3 dimensions (``H x W [x C]``, C up to 4) make images.
    first : int or None
        Learn only the first this many images or array records (a slice that fits).
    """
    kind:        str | None = None
    record_size: int | None = None
    one_shot:    bool = False
    digits:      int | None = None
    mode:        str | None = None
    size:        tuple | None = None
    dtype:       str | None = None
    key:         str | None = None
    shape:       tuple | None = None
    first:       int | None = None

    @classmethod
    def from_args(cls, args):
        """Return the options an :mod:`argparse` namespace holds (absent ones default)."""
        names = [field.name for field in dataclasses.fields(cls) if field.name != "mode"]
        values = {name: getattr(args, name) for name in names if hasattr(args, name)}
        return cls(mode=getattr(args, "image_mode", None), **values)


def _dimensions(text, what, count):
    parts = re.split(r"[x,]", text.strip().lower())
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if not values or len(values) not in count or min(values) <= 0:
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return values


def parse_size(text):
    """Parse ``WxH`` (``--size``) into ``(width, height)``."""
    return _dimensions(text, "WIDTHxHEIGHT, e.g. 28x28", (2,))


def parse_shape(text):
    """Parse ``D1xD2...`` (``--shape``, 1 to 4 positive dimensions) into a tuple."""
    return _dimensions(text, "1 to 4 positive dimensions, e.g. 28x28 or 32x32x3", (1, 2, 3, 4))


def add_options(group, *, mode_flag="--mode"):
    """Add ``--mode`` (spelt ``mode_flag``, for a tool whose ``--mode`` means something else),
    ``--size``, ``--dtype``, ``--key``, ``--shape`` and ``--first`` to a parser or argument
    group."""
    group.add_argument(
        mode_flag, dest="image_mode", type=str.upper, metavar="MODE", choices=MODES, default=None,
        help="images: convert every image to this mode, one of L, LA, RGB, RGBA (default: RGB "
             "if any image has colour, else L, with alpha if any pixel is transparent)")
    group.add_argument(
        "--size", type=parse_size, metavar="WxH", default=None,
        help="images: resize every image to W x H pixels (default: images must share one "
             "size)")
    group.add_argument(
        "--dtype", type=str.lower, metavar="DTYPE", choices=DTYPES, default=None,
        help="element type stored: uint8, with 16-bit data scaled as v/257 and float data in "
             "[0, 1] as v*255; or uint16, 16-bit data kept as it is (default: uint8)")
    group.add_argument(
        "--key", type=str, metavar="NAME", default=None,
        help=".npz files: the array to learn, e.g. x_train (default: the only array, or the "
             "one named images, x, X or data)")
    group.add_argument(
        "--shape", type=parse_shape, metavar="D1xD2...", default=None,
        help="shape of one record, cutting flat data (raw bytes, 1-D or 2-D arrays, CSV rows) "
             "into records, e.g. 28x28 (default: the data's own shape)")
    group.add_argument(
        "--first", type=positive_int, metavar="N", default=None,
        help="images and arrays: learn only the first N records, a slice that fits the store "
             "(default: all)")


# Numbers ------------------------------------------------------------------------------------

def _target(dtype):
    return np.dtype(np.uint16) if dtype == "uint16" else np.dtype(np.uint8)


def _range(array):
    return (array.min().item(), array.max().item()) if array.size else (0, 0)


def _to_uint8_scaled(array):
    return ((array.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _floats(array, target, name, report):
    if not np.isfinite(array).all():
        raise DataError(f"{name}: the data holds NaN or infinite values, which no byte holds: "
                        f"replace them first")
    low, high = _range(array)
    top = np.iinfo(target).max
    if low >= 0 and high <= 1 and not np.array_equal(array, np.round(array)):
        report(f"{name}: float values in [0, 1] scaled to 0..{top} (v * {top}, rounded)")
        return np.round(array * top).astype(target)
    if low < 0 or high > top:
        raise DataError(f"{name}: float values from {low:g} to {high:g} do not fit "
                        f"0..{top}: scale them into that range first"
                        + ("" if target == np.uint16 else " (or use --dtype uint16)"))
    if not np.array_equal(array, np.round(array)):
        report(f"{name}: float values in [0, {top}] rounded to integers")
    return np.round(array).astype(target)


def to_stored(array, *, dtype=None, name="data", report=_report_nothing):
    """Return ``array`` as ``uint8`` (or ``uint16``) by the rules of the module docstring,
    reporting any conversion that is not exact.

    Parameters
    ----------
    array : array_like
        Numbers of any integer, bool or float dtype.
    dtype : str or None
        ``"uint8"`` (default) or ``"uint16"``.
    name : str
        Where the data came from, for messages.
    report : callable
        Called with one line for every conversion made.

    Raises
    ------
    DataError
        If the values cannot be represented (negative, non-finite, too large, not numbers).
    """
    array = np.asarray(array)
    target = _target(dtype)
    kind = array.dtype.kind
    if kind == "b":
        return array.astype(target)
    if kind == "f":
        return _floats(array, target, name, report)
    if kind not in "iu":
        raise DataError(f"{name}: data of dtype {array.dtype} is not numbers: give an integer "
                        f"or float array")
    if array.dtype == target:
        return array
    low, high = _range(array)
    if low < 0:
        raise DataError(f"{name}: values from {low} to {high} include negative numbers, which "
                        f"no unsigned byte holds: shift or scale them into 0..255 first")
    if high <= np.iinfo(target).max:
        if not (array.dtype.kind == "u" and array.dtype.itemsize == 2 and target == np.uint8):
            return array.astype(target)
    if high > 0xffff:
        raise DataError(f"{name}: values up to {high} do not fit 16 bits: scale them into "
                        f"0..65535 first")
    if target == np.uint16:
        return array.astype(np.uint16)
    report(f"{name}: 16-bit values scaled to 8 bits (v / 257, rounded); --dtype uint16 keeps "
           f"all 16 bits")
    return _to_uint8_scaled(array)


# Arrays -------------------------------------------------------------------------------------

def read_idx(data, name="IDX data"):
    """Parse an IDX file (MNIST's format) and return its array in native byte order.

    Raises
    ------
    DataError
        If the magic number is not an IDX one, or the file holds more or fewer bytes than its
        header says.
    """
    data = bytes(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_TYPES or not data[3]:
        raise DataError(f"{name} is not an IDX file: its magic number is {data[:4].hex()}, not "
                        f"0000 followed by a type code and 1 to 255 dimensions")
    ndim = data[3]
    start = 4 + 4 * ndim
    if len(data) < start:
        raise DataError(f"{name}: IDX header of {ndim} dimensions is cut short ({len(data)} "
                        f"bytes): the file is truncated; download it again")
    dims = struct.unpack(f">{ndim}I", data[4:start])
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = math.prod(dims) * dtype.itemsize
    if len(data) - start != expected:
        raise DataError(f"{name}: the IDX header says {'x'.join(map(str, dims))} "
                        f"{dtype.name} ({expected} bytes of data) but the file holds "
                        f"{len(data) - start}: it is truncated or corrupt; download it again")
    array = np.frombuffer(data, dtype, offset=start).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def write_idx(array, path):
    """Write ``array`` as an IDX file (MNIST's format) at ``path``, gzipped if the name ends in
    ``.gz``; :func:`read_idx` reads it back equal. Return the number of bytes written.

    Parameters
    ----------
    array : numpy.ndarray
        1 to 255 dimensions, each under 2**32, of one of :data:`IDX_TYPES`' element types
        (``uint8`` for images).

    Raises
    ------
    ValueError
        If the array's dtype, number of dimensions or a dimension has no IDX encoding.
    """
    array = np.asarray(array)
    codes = {np.dtype(dtype).newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX has no element type for {array.dtype}: convert the array to "
                         f"uint8, int8, int16, int32, float32 or float64")
    if not 1 <= array.ndim <= 255 or any(dim >= 1 << 32 for dim in array.shape):
        raise ValueError(f"IDX holds 1 to 255 dimensions of less than 2**32 each, not the shape "
                         f"{array.shape}")
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    data = header + np.ascontiguousarray(array, IDX_TYPES[code]).tobytes()
    if os.fspath(path).endswith(".gz"):
        data = gzip.compress(data, compresslevel=1, mtime=0)
    Path(path).write_bytes(data)
    return len(data)


def synthetic_images(count, size=(28, 28), seed=0):
    """Return ``count`` distinct grayscale images of ``size`` (height, width): a deterministic
    stand-in for an image data set such as Fashion-MNIST when none is at hand.

    Each image is a dark background with one to three filled ellipses and rectangles of random
    place, size and gray level (64 to 255), drawn from NumPy's PCG64 seeded with ``seed``; images
    that come out equal to an earlier one are drawn again, so every image is distinct and the
    evaluation report can tell an index from its content. The same arguments give the same
    images on every machine.

    Returns
    -------
    numpy.ndarray
        ``(count, height, width)`` ``uint8``.

    Raises
    ------
    ValueError
        If ``count`` is negative or a side is under 4 pixels.
    """
    height, width = size
    if count < 0 or height < 4 or width < 4:
        raise ValueError(f"synthetic images need count >= 0 and sides of at least 4 pixels, "
                         f"not {count} of {height}x{width}")
    rng = np.random.default_rng(seed)
    y = np.arange(height, dtype=np.float32)[:, None] + 0.5
    x = np.arange(width, dtype=np.float32)[None, :] + 0.5

    def draw(n):
        images = np.zeros((n, height, width), np.uint8)
        shapes = rng.integers(1, 4, n)
        for layer in range(3):
            cy, cx = (rng.uniform(0, side, n).astype(np.float32)[:, None, None]
                      for side in (height, width))
            ry, rx = (rng.uniform(side / 10, side / 2.5, n).astype(np.float32)[:, None, None]
                      for side in (height, width))
            level = rng.integers(64, 256, n, dtype=np.uint8)[:, None, None]
            ellipse = rng.random(n)[:, None, None] < 0.5
            dy, dx = (y - cy) / ry, (x - cx) / rx
            inside = np.where(ellipse, dy * dy + dx * dx <= 1,
                              (np.abs(dy) <= 1) & (np.abs(dx) <= 1))
            inside &= (layer < shapes)[:, None, None]
            images = np.where(inside, level, images)
        return images

    images = draw(count)
    while True:
        _, first = np.unique(images.reshape(count, height * width), axis=0, return_index=True)
        again = np.setdiff1d(np.arange(count), first)
        if not again.size:
            return images
        images[again] = draw(again.size)


def _gunzip(data, name):
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{name}: damaged gzip data ({error}): download or compress it "
                        f"again") from None


def _npz_key(names, name, key, report):
    if key is not None:
        if key not in names:
            raise DataError(f"{name} has no array {key!r}; it holds "
                            f"{', '.join(names) or 'none'}: choose one with --key")
        return key
    if len(names) == 1:
        return names[0]
    key = next((n for n in _NPZ_NAMES if n in names), None)
    if key is None:
        example = sorted(names)[0] if names else "x"
        raise DataError(f"{name} holds arrays {', '.join(names) or 'none'}: choose one with "
                        f"--key, e.g. --key {example}")
    report(f"{name}: learning its array {key!r} of {', '.join(names)} (--key chooses)")
    return key


def _read_npz(file, name, key, report):
    """Return the array of an ``.npy`` file, or array ``key`` of an ``.npz`` file."""
    try:
        loaded = np.load(file, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            if key is not None:
                raise DataError(f"{name} is an .npy file of one array: drop --key")
            return loaded
        with loaded:
            return loaded[_npz_key(list(loaded.files), name, key, report)]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise DataError(f"cannot read {name} as a numpy file ({reason}): it is damaged or not "
                        f"made by np.save/np.savez; save it again") from None


def _read_table(text, name, delimiter, report):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{name}: empty table: give at least one row of numbers")
    first = lines[0].split(delimiter)
    try:
        [float(cell) for cell in first]
    except ValueError:
        report(f"{name}: skipped its first row as a header ({lines[0][:40]!r})")
        lines = lines[1:]
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append([float(cell) for cell in line.split(delimiter)])
        except ValueError:
            raise DataError(f"{name}: row {number} holds a cell that is not a number "
                            f"({line[:40]!r}): give numbers only") from None
        if len(rows[-1]) != len(rows[0]):
            raise DataError(f"{name}: row {number} has {len(rows[-1])} cells, row 1 has "
                            f"{len(rows[0])}: give rows of one length")
    if not rows:
        raise DataError(f"{name}: the table has a header but no rows")
    array = np.array(rows)
    if np.array_equal(array, np.round(array)):
        array = array.astype(np.int64)
    return array


# Images -------------------------------------------------------------------------------------

def _image_suffixes():
    from PIL import Image

    return {suffix.lower() for suffix in Image.registered_extensions()}


def _rawmode(image):
    """Return how the file stores the pixels (before :meth:`load`, which forgets it)."""
    tile = getattr(image, "tile", None) or []
    if not tile:
        return ""
    args = tile[0].args if hasattr(tile[0], "args") else tile[0][3]
    return str(args[0] if isinstance(args, tuple) and args else args)


def _pixels(image, name, dtype, report, rawmode=""):
    """Return an image's pixels as an (H, W[, C]) array of 1 to 4 channels."""
    mode = image.mode
    if mode in ("RGB", "RGBA") and ";16" in rawmode:
        if dtype == "uint16":
            raise DataError(f"{name} is a 16-bit-per-channel {mode} PNG, which Pillow reads "
                            f"only at 8 bits: convert it to a .npy array to keep 16 bits")
        report(f"{name}: a 16-bit-per-channel {mode} image; Pillow reads the high byte of "
               f"each channel (v / 256)")
    if mode == "P":
        mode = "RGBA" if "transparency" in image.info else "RGB"
        image = image.convert(mode)
    elif mode in ("1", "La", "PA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        mode = {"1": "L", "La": "LA", "PA": "RGBA", "RGBa": "RGBA"}.get(mode, "RGB")
        image = image.convert(mode)
    elif mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    elif mode in ("I", "F"):
        return np.asarray(image)
    elif mode not in _MODE_CHANNELS:
        image = image.convert("RGBA" if "A" in mode else "RGB")
    return np.asarray(image)


def _open_image(path, dtype, size, report):
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = os.fspath(path)
    try:
        with Image.open(path) as image:
            rawmode = _rawmode(image)
            image.load()
            rotated = image.getexif().get(0x0112, 1) not in (0, 1)
            pixels = _pixels(ImageOps.exif_transpose(image), name, dtype, report, rawmode)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
        raise DataError(f"cannot read image {name}: {error}: check that the file is a whole "
                        f"image") from None
    if size is not None:
        pixels = _resize(pixels, size)
    return pixels, rotated


def _resize(pixels, size):
    from PIL import Image

    planes = pixels[..., np.newaxis] if pixels.ndim == 2 else pixels
    out = np.stack([np.asarray(Image.fromarray(planes[..., c].astype(np.float32), "F")
                               .resize(size, Image.Resampling.LANCZOS))
                    for c in range(planes.shape[2])], axis=-1)
    top = np.iinfo(pixels.dtype).max if pixels.dtype.kind in "iu" else None
    if top is not None:
        out = np.clip(np.round(out), 0, top).astype(pixels.dtype)
    return out[..., 0] if pixels.ndim == 2 else out


def _channels(pixels):
    return 1 if pixels.ndim == 2 else pixels.shape[2]


def _has_transparency(pixels):
    channels = _channels(pixels)
    if channels not in (2, 4):
        return False
    return bool((pixels[..., -1] != np.iinfo(pixels.dtype).max).any())


def _convert(pixels, mode):
    """Convert (H, W[, C]) pixels to ``mode``; alpha added opaque or dropped."""
    channels = _channels(pixels)
    planes = pixels[..., np.newaxis] if pixels.ndim == 2 else pixels
    colour, alpha = planes[..., :3 if channels >= 3 else 1], planes[..., channels - 1:]
    top = np.iinfo(pixels.dtype).max
    want_colour, want_alpha = mode.startswith("RGB"), mode.endswith("A")
    if want_colour and colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    elif not want_colour and colour.shape[2] == 3:
        weights = np.array([299, 587, 114], np.uint64)
        luma = (colour.astype(np.uint64) @ weights + 500) // 1000
        colour = luma.astype(pixels.dtype)[..., np.newaxis]
    if want_alpha:
        if channels not in (2, 4):
            alpha = np.full((*colour.shape[:2], 1), top, pixels.dtype)
        colour = np.concatenate([colour, alpha], axis=2)
    return colour[..., 0] if colour.shape[2] == 1 else colour


def _mode_of(pixels):
    return MODES[_channels(pixels) - 1]


def _stack_images(images, names, options, report):
    mode = options.mode
    if mode is None:
        colour = any(_channels(p) >= 3 for p in images)
        alpha = any(_has_transparency(p) for p in images)
        mode = ("RGB" if colour else "L") + ("A" if alpha else "")
    changed = [name for pixels, name in zip(images, names, strict=True)
               if _mode_of(pixels) != mode]
    if changed:
        modes = sorted({_mode_of(p) for p in images})
        rule = "--mode" if options.mode else "the widest mode needed; --mode chooses"
        report(f"converted {len(changed)} of {len(images)} images ({', '.join(modes)}) to "
               f"{mode} ({rule})")
    shapes = {}
    for pixels, name in zip(images, names, strict=True):
        shapes.setdefault(pixels.shape[:2], name)
    if len(shapes) > 1:
        (first, a), (second, b) = list(shapes.items())[:2]
        raise DataError(f"image {Path(b).name} is {second[1]}x{second[0]} but "
                        f"{Path(a).name} is {first[1]}x{first[0]}: give images of one size, "
                        f"or --size WxH to resize them all")
    converted = [_convert(pixels, mode) for pixels in images]
    return np.stack(converted)


def read_image_files(paths, options=None, report=_report_nothing):
    """Read image files into one ``(N, H, W[, C])`` array by the rules of the module
    docstring.

    Raises
    ------
    DataError
        If a file is not an image Pillow reads, the images differ in size without
        ``options.size``, or their values cannot be stored.
    """
    options = options or Options()
    images, names, rotated = [], [], 0
    paths = list(paths)
    due = time.monotonic() + PROGRESS_SECONDS
    for path in paths:
        if time.monotonic() >= due:
            # A folder of many images takes a while: say how far it got, a line at a time.
            due = time.monotonic() + PROGRESS_SECONDS
            report(f"reading images: {len(images)} of {len(paths)}")
        pixels, turned = _open_image(path, options.dtype, options.size, report)
        rotated += turned
        images.append(pixels)
        names.append(os.fspath(path))
    if rotated:
        report(f"applied the EXIF orientation of {rotated} of {len(images)} images (learned "
               f"as a viewer shows them)")
    wide = [i for i, p in enumerate(images) if p.dtype != np.uint8]
    if wide and options.dtype != "uint16":
        sixteen = all(images[i].dtype == np.uint16 for i in wide)
        for i in wide:
            images[i] = to_stored(images[i], name=names[i], report=lambda message: None)
        if sixteen:
            report(f"scaled {len(wide)} 16-bit images to 8 bits (v / 257, rounded); --dtype "
                   f"uint16 keeps all 16 bits")
        else:
            report(f"converted {len(wide)} 32-bit or float images to 8 bits (see --dtype)")
    elif options.dtype == "uint16":
        narrow = [i for i, p in enumerate(images) if p.dtype == np.uint8]
        for i in range(len(images)):
            if images[i].dtype == np.uint8:
                images[i] = images[i].astype(np.uint16) * 257
            else:
                images[i] = to_stored(images[i], dtype="uint16", name=names[i], report=report)
        if narrow:
            report(f"widened {len(narrow)} 8-bit images to 16 bits (v * 257) for --dtype "
                   f"uint16")
    return _stack_images(images, names, options, report)


def _folder_images(folder, options, report):
    folder = Path(folder)
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise DataError(f"cannot read folder {folder}: {error.strerror or error}: check the "
                        f"path and its permissions") from None
    suffixes = _image_suffixes()
    hidden = [p.name for p in entries if p.name.startswith(".")]
    files = [p for p in entries if not p.name.startswith(".")]
    images = [p for p in files if p.is_file() and p.suffix.lower() in suffixes]
    others = [p.name for p in files if p not in images]
    if hidden:
        report(f"{folder}: skipped {len(hidden)} hidden files ({_names(hidden)})")
    if others:
        report(f"{folder}: skipped {len(others)} entries that are not image files "
               f"({_names(others)})")
    if not images:
        raise DataError(f"folder {folder} holds no image files: put the training images "
                        f"there (PNG, JPEG, or any format Pillow reads)")
    return read_image_files(images, options, report)


def _names(names, limit=3):
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# Sources ------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Source:
    """What a source turned out to be: exactly one of ``array`` (numbers, to be shaped),
    ``images`` (decoded pixels) or ``raw`` (bytes for the codecs)."""
    name:   str
    format: str
    array:  np.ndarray | None = None
    images: np.ndarray | None = None
    raw:    bytes | None = None


def _sniff(data, name, options, report):
    """Return the :class:`_Source` that bytes of unknown origin hold, by content."""
    formats = []
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, name)
        formats.append("gzip")
    if data[:6] == _NPY_MAGIC or data[:4] == _ZIP_MAGIC:
        array = _read_npz(io.BytesIO(data), name, options.key, report)
        return _Source(name, "+".join([*formats, "npy"]), array=array)
    if len(data) >= 4 and data[:2] == b"\0\0" and data[2] in IDX_TYPES and 0 < data[3] <= 4:
        return _Source(name, "+".join([*formats, "IDX"]), array=read_idx(data, name))
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        return _Source(name, "image", images=read_image_files([io.BytesIO(data)], options,
                                                              report))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        pass
    if options.kind in ("text", "bytes"):
        return _Source(name, options.kind, raw=data)
    raise DataError(f"cannot tell what {name} holds (not gzip, IDX, .npy, .npz or an image "
                    f"Pillow reads): give --kind text or --kind bytes")


def infer(source):
    """Return the format a path names, as :func:`prepare` reads it: ``"builtin"``,
    ``"folder"``, ``"image"``, ``"array"``, ``"idx"``, ``"table"``, ``"text"``, ``"stdin"`` or
    ``"bytes"`` (anything else, said when loading)."""
    text = os.fspath(source)
    if text in codecs.BUILTIN_SOURCES or text.startswith("pi:"):
        return "builtin"
    if text == _STDIN:
        return "stdin"
    path = Path(text)
    if path.is_dir():
        return "folder"
    name = path.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if _IDX_NAME.search(name):
        return "idx"
    if suffix in _ARRAYS:
        return "array"
    if suffix in _TABLES:
        return "table"
    if suffix in _TEXT:
        return "text"
    if suffix in _image_suffixes():
        return "image"
    return "bytes"


def _read(path):
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {os.fspath(path)}: {error.strerror or error}: check the "
                        f"path and its permissions") from None


def _file_source(path, fmt, options, report):
    name = os.fspath(path)
    if fmt == "folder":
        return _Source(name, "folder", images=_folder_images(path, options, report))
    if fmt == "image":
        return _Source(name, "image", images=read_image_files([path], options, report))
    data = _read(path)
    gz = data[:2] == _GZIP_MAGIC
    if gz:
        data = _gunzip(data, name)
    label = "gzip " if gz else ""
    if fmt == "idx":
        return _Source(name, f"{label}IDX", array=read_idx(data, name))
    if fmt == "array":
        return _Source(name, label + Path(name).suffix.lstrip("."),
                       array=_read_npz(io.BytesIO(data), name, options.key, report))
    delimiter = _TABLES[Path(name.lower().removesuffix(".gz")).suffix]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{name} is not a UTF-8 table of numbers: check the file") from None
    return _Source(name, f"{label}table", array=_read_table(text, name, delimiter, report))


def _shape_array(source, options, report):
    """Turn a numeric array into images or array records by ``--shape`` or its own shape."""
    array, name = source.array, source.name
    if source.format.endswith("IDX") and array.ndim == 1 and options.kind != "array":
        labels = os.path.basename(name).replace("labels-idx1", "images-idx3")
        low, high = _range(array)
        raise DataError(f"{name} is an IDX labels file ({len(array)} labels, {low}..{high}), "
                        f"not images: learn the images file ({labels}), or pass --kind array "
                        f"to learn the labels")
    stored = to_stored(array, dtype=options.dtype, name=name, report=report)
    shape = options.shape
    if shape is not None:
        if stored.size % math.prod(shape):
            raise DataError(f"{name}: {stored.size} values are not a whole number of records "
                            f"of shape {'x'.join(map(str, shape))}: check --shape")
        stored = stored.reshape(-1, *shape)
    elif stored.ndim == 1:
        raise DataError(f"{name}: a flat array of {stored.size} values: give the shape of one "
                        f"record with --shape, e.g. --shape 28x28")
    return stored


def _array_kind(array, options):
    if options.kind == "array":
        return Kind.ARRAY
    image = array.ndim == 3 or (array.ndim == 4 and 1 <= array.shape[3] <= 4)
    if options.kind == "image" and not image:
        raise DataError(f"records of shape {array.shape[1:]} are not images (H x W or "
                        f"H x W x C with C up to 4): pass --kind array or --shape")
    return Kind.IMAGE if image else Kind.ARRAY


def describe(dataset):
    """Return what a data set holds in a few words: ``60000 images of 28x28 L``."""
    meta = dataset.meta
    dtype = "" if meta.dtype == codecs.DType.UINT8 else " uint16"
    if meta.kind == Kind.IMAGE:
        height, width = meta.shape[:2]
        mode = MODES[meta.shape[2] - 1] if len(meta.shape) == 3 else "L"
        noun = "image" if dataset.count == 1 else "images"
        return f"{dataset.count} {noun} of {width}x{height} {mode}{dtype}"
    if meta.kind == Kind.ARRAY:
        return (f"{dataset.count} records of shape {'x'.join(map(str, meta.shape))}"
                f"{dtype or ' uint8'}")
    if meta.kind == Kind.TEXT:
        if meta.flags & codecs.Flag.ONE_SHOT:
            return f"one text of {meta.length} bytes"
        return f"{meta.length} {'line' if meta.length == 1 else 'lines'} of text"
    unit = "digits of pi" if meta.kind == Kind.PI else "bytes"
    return f"{meta.length} {unit} in {dataset.count} records of {dataset.record_size}"


@dataclasses.dataclass
class Prepared:
    """A source read and checked, not yet encoded: :attr:`nbytes` is known before the heavy
    work of :meth:`load`.

    Attributes
    ----------
    name : str
        The source, for messages.
    nbytes : int
        Bytes the records will take on the device.
    """
    name:    str
    nbytes:  int
    _encode: object
    _report: object
    _format: str = ""
    record_size: int = 0
    one_shot_nbytes: int = 0

    def load(self, capacity=None, *, verb="learning"):
        """Encode the data set and return it as a :class:`~host.codecs.Dataset`, after
        checking it fits ``capacity`` bytes (if given); report ``"<verb> <what> from
        <name>"``.

        Raises
        ------
        DataError
            If the data set is larger than ``capacity`` or cannot be encoded.
        """
        if capacity is not None and self.nbytes > capacity and \
                0 < self.one_shot_nbytes <= capacity:
            raise DataError(f"{self.name}: its lines padded to the longest take {self.nbytes} "
                            f"bytes, the device holds {capacity}; the file itself "
                            f"({self.one_shot_nbytes} bytes) fits: use --one-shot to learn it "
                            f"whole and recite it")
        if capacity is not None and self.nbytes > capacity:
            fits = (f"use --first {capacity // self.record_size} to learn a slice that fits, "
                    if self.record_size and capacity >= self.record_size else "")
            raise DataError(f"data set needs {self.nbytes} bytes, the device holds {capacity}; "
                            f"{fits or 'use '}fewer or smaller examples, or a board with a "
                            f"larger store")
        dataset = self._encode()
        fmt = f" ({self._format})" if self._format else ""
        self._report(f"{verb} {describe(dataset)} from {self.name}{fmt}")
        return dataset


def _flat_nbytes(length, record_size):
    size = length if record_size is None else record_size
    return -(-length // size) * size


def _prepare_builtin(name, options, report):
    kwargs = dict(kind=options.kind, record_size=options.record_size,
                  one_shot=options.one_shot, digits=options.digits)
    if name == "digits":
        dataset = codecs.load(name, **kwargs)
        return Prepared(name, dataset.nbytes, lambda: dataset, report,
                        "scikit-learn's digits, 0..16 scaled to 0..255")
    _, count = codecs._parse_pi(name)
    digits = count or options.digits or codecs.DEFAULT_PI_DIGITS
    return Prepared(name, _flat_nbytes(digits, options.record_size),
                    lambda: codecs.load(name, **kwargs), report)


def prepare(source, options=None, report=_report_nothing):
    """Read ``source`` (a path, ``-`` for standard input, or a built-in name) and return a
    :class:`Prepared` data set whose size is known.

    Raises
    ------
    DataError
        If the source cannot be read, is damaged, or its values cannot be stored.
    """
    options = options or Options()
    name = os.fspath(source)
    fmt = infer(source)
    kwargs = dict(kind=options.kind, record_size=options.record_size,
                  one_shot=options.one_shot, digits=options.digits)
    if fmt == "builtin" and options.kind in (None, "image", "pi"):
        return _prepare_builtin(name, options, report)
    if fmt == "stdin":
        parsed = _sniff(sys.stdin.buffer.read(), "standard input", options, report)
    elif options.kind in ("text", "bytes", "pi") or (fmt in ("text", "bytes") and
                                                     options.kind is None and
                                                     options.shape is None):
        return _prepare_flat(source, fmt, options, report)
    elif fmt in ("text", "bytes", "builtin"):
        data = _read(source)
        dtype = _target(options.dtype).newbyteorder("<")
        if len(data) % dtype.itemsize:
            raise DataError(f"{name}: {len(data)} bytes are not a whole number of "
                            f"{dtype.name} elements")
        parsed = _Source(name, f"raw {dtype.name}", array=np.frombuffer(data, dtype))
    else:
        parsed = _file_source(source, fmt, options, report)
    if parsed.raw is not None:
        dataset = codecs.load(parsed.raw, **{**kwargs, "kind": parsed.format})
        return Prepared(name, dataset.nbytes, lambda: dataset, report)
    if parsed.images is not None:
        images = parsed.images
        if options.shape is not None:
            raise DataError(f"{name}: --shape cuts flat data into records; images have their "
                            f"own shape: use --size to resize them")
    else:
        images = _shape_array(parsed, options, report)
    if options.first is not None and options.first < len(images):
        report(f"{name}: learning the first {options.first} of its {len(images)} records "
               f"(--first)")
        images = images[:options.first]
    kind = Kind.IMAGE if parsed.images is not None else _array_kind(images, options)
    if options.one_shot or options.record_size is not None:
        what = "--one-shot" if options.one_shot else "--record-size"
        raise DataError(f"{name}: {what} applies to text, pi and bytes; images and arrays "
                        f"are one record each (use --shape to cut flat data)")
    dataset = codecs.encode_images(images, source=name, kind=kind)
    return Prepared(name, dataset.nbytes, lambda: dataset, report, parsed.format,
                    dataset.record_size)


def _prepare_flat(source, fmt, options, report):
    name = os.fspath(source)
    kind = options.kind or fmt
    kwargs = dict(kind=kind, record_size=options.record_size, one_shot=options.one_shot,
                  digits=options.digits)
    if kind == "pi":
        dataset = codecs.load(source, **kwargs)
        return Prepared(name, dataset.nbytes, lambda: dataset, report)
    for option in ("mode", "size", "dtype", "key"):
        if getattr(options, option) is not None:
            raise DataError(f"{name}: --{option} applies to images and arrays, not {kind} "
                            f"data; drop --{option}")
    if kind == "text":
        dataset = codecs.load(source, **kwargs)
        whole = 0 if options.one_shot else len(codecs._read_bytes(source))
        return Prepared(name, dataset.nbytes, lambda: dataset, report,
                        one_shot_nbytes=whole)
    # Argument conflicts are refused now, not after the tool has opened the device.
    if options.one_shot and options.record_size is not None:
        raise DataError(f"{name}: --one-shot stores everything in one record; drop "
                        f"--record-size or --one-shot")
    if options.digits is not None:
        raise DataError(f"{name}: --digits applies to pi only, not bytes data: drop --digits")
    try:
        length = os.stat(source).st_size
    except OSError as error:
        raise DataError(f"cannot read {name}: {error.strerror or error}: check the path and "
                        f"its permissions") from None
    codecs._check_record_size(options.record_size)
    if options.kind is None:
        report(f"{name}: not a format MemGEN reads by name (images, .npy, .npz, IDX, .csv, "
               f".tsv, .txt, .md): learning its raw bytes; --kind chooses")
    elif fmt == "idx":
        report(f"{name} looks like an IDX file: learning it as bytes, its header included, as "
               f"--kind bytes asks; drop --kind to learn its records")
    if length == 0:
        codecs.load(source, **kwargs)          # says what is wrong with an empty file
    nbytes = _flat_nbytes(length, options.record_size)
    return Prepared(name, nbytes, lambda: codecs.load(source, **kwargs), report)


def load(source, options=None, report=_report_nothing, capacity=None, *, verb="loaded"):
    """Read and encode ``source``: :func:`prepare`, then :meth:`Prepared.load`.

    Raises
    ------
    DataError
        If the source cannot be read, is damaged, does not fit ``capacity`` or cannot be
        stored.
    """
    return prepare(source, options, report).load(capacity, verb=verb)
