# SPDX-License-Identifier: BSD-2-Clause
"""Codecs: data sets to fixed-size records and back.

The device stores ``N`` records of one record size and a :data:`~hw.protocol.HEADER_SIZE`-byte
header that it keeps without looking at it. A codec turns a data set of one :class:`Kind` into a
:class:`Dataset` (the concatenated records and the packed :class:`Header`), and turns records
plus header back into the original form. Round trips are lossless: what :func:`decode` returns
for the records of a :class:`Dataset`, in stored order, is what the encoder was given.

Kinds and their records:

* :attr:`Kind.IMAGE`: an ``(N, H, W)`` or ``(N, H, W, C)`` ``uint8`` or ``uint16`` array (any
  file :mod:`host.loaders` reads, or the built-in ``digits`` set). One record per image,
  ``H * W * C`` elements in C order, each one byte, or two little-endian bytes for ``uint16``.
* :attr:`Kind.ARRAY`: the same for records that are not images: ``(N, ...)`` arrays of 1 to 4
  dimensions per record, such as the rows of a table.
* :attr:`Kind.TEXT`: UTF-8 text, one example per line (a 2-byte little-endian length prefix,
  then the line's bytes, zero-padded to the longest line), or the whole file as one record
  (one-shot).
* :attr:`Kind.PI`: the first ``D`` decimal digits of pi as ASCII, ``b"31415926..."`` (the
  leading 3 is the first digit; there is no decimal point), one record or fixed-size chunks.
* :attr:`Kind.BYTES`: any file, in fixed-size records, the last one zero-padded.

Header layout (:data:`HEADER_FIELDS`, little-endian, 32 bytes)::

    offset size field
         0    2 magic      b"MG"
         2    1 kind       Kind
         3    1 dtype      DType (0 = uint8, 1 = uint16 little-endian)
         4    1 ndim       dimensions of one record, 1..4
         5    1 flags      Flag
         6    2 reserved   0
         8   16 shape0..3  shape of one record (u32 each, unused = 0)
        24    4 length     image: N; text lines: number of lines; text one-shot, pi and
                           bytes: data length in bytes (digits for pi)
        28    4 reserved2  0

The record size is the product of the record shape (``(H, W[, C])`` for images,
``(record_size,)`` for text, pi and bytes) times the element size.

Errors in the data or the arguments raise :class:`DataError`, whose message is one line naming
the problem and the fix.
"""

import dataclasses
import enum
import functools
import io
import logging
import math
import os
import re
from pathlib import Path

import numpy as np

from hw import protocol

__all__ = [
    "HEADER_FIELDS", "MAGIC", "MAX_LINE", "DEFAULT_PI_DIGITS", "BUILTIN_SOURCES",
    "Kind", "DType", "Flag", "Header", "Dataset", "DataError",
    "encode_images", "decode_images", "read_images", "digits_images", "write_pngs",
    "sheet_array", "contact_sheet",
    "encode_text", "decode_text", "lines_to_bytes",
    "pi_digits", "encode_pi", "decode_pi", "verify_pi", "pi_mismatch",
    "encode_bytes", "decode_bytes",
    "infer_kind", "load", "decode",
]

_log = logging.getLogger(__name__)


#: Header field table: (name, size in bytes), little-endian, in storage order.
HEADER_FIELDS = (
    ("magic",     2),   # MAGIC
    ("kind",      1),   # Kind
    ("dtype",     1),   # DType
    ("ndim",      1),   # dimensions of one record, 1..4
    ("flags",     1),   # Flag
    ("reserved",  2),
    ("shape0",    4),   # shape of one record; unused dimensions are 0
    ("shape1",    4),
    ("shape2",    4),
    ("shape3",    4),
    ("length",    4),   # kind-specific total length (see the module docstring)
    ("reserved2", 4),
)

#: ``b"MG"`` read as a little-endian 16-bit integer.
MAGIC = int.from_bytes(b"MG", "little")

#: Longest line, in bytes, that the text codec stores (its length prefix is 16 bits).
MAX_LINE = 0xffff

#: Digits of pi for the source ``pi`` when no count is given.
DEFAULT_PI_DIGITS = 10000

#: Source names that mean built-in data rather than a file; write ``./pi`` for a file named pi.
BUILTIN_SOURCES = ("digits", "pi")

_U32_MAX = 0xffff_ffff
_MAX_DIMS = 4
_PNG_MODES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}
_PI_SOURCE = re.compile(r"pi(?::(.*))?", re.DOTALL)
_SHEET_CELL = 32


class Kind(enum.IntEnum):
    """Kind of data a header describes."""
    IMAGE = 1
    TEXT  = 2
    PI    = 3
    BYTES = 4
    #: Numeric records that are not images: rows of a table, 1-D or 5-D records.
    ARRAY = 5


class DType(enum.IntEnum):
    """Element type of the records: one or two bytes per element, little-endian."""
    UINT8  = 0
    UINT16 = 1

    @property
    def numpy(self):
        """The numpy dtype of an element."""
        return np.dtype(np.uint8) if self == DType.UINT8 else np.dtype("<u2")

    @property
    def itemsize(self):
        """Bytes per element."""
        return self.numpy.itemsize

    @classmethod
    def of(cls, dtype):
        """Return the :class:`DType` of a numpy dtype, or None if there is none."""
        dtype = np.dtype(dtype)
        if dtype == np.uint8:
            return cls.UINT8
        if dtype.kind == "u" and dtype.itemsize == 2:
            return cls.UINT16
        return None


class Flag(enum.IntFlag):
    """Header flags."""
    #: The whole data set is one record (text, pi).
    ONE_SHOT         = 0x01
    #: The text file ended with a newline (text lines).
    TRAILING_NEWLINE = 0x02


class DataError(ValueError):
    """The data, or an argument that describes it, cannot be encoded or decoded."""


@dataclasses.dataclass(frozen=True)
class Header:
    """Parsed form of the 32-byte header the device stores for the host.

    Parameters
    ----------
    kind : Kind
        What the records hold.
    shape : tuple of int
        Shape of one record, 1 to 4 positive dimensions; its product is the record size.
    length : int
        Kind-specific total length (see the module docstring).
    flags : Flag
        Kind-specific flags.
    dtype : DType
        Element type: :attr:`DType.UINT8`, or :attr:`DType.UINT16` for images and arrays.
    """
    kind:   Kind
    shape:  tuple
    length: int = 0
    flags:  Flag = Flag(0)
    dtype:  DType = DType.UINT8

    @property
    def record_size(self):
        """Size of one record in bytes: the product of :attr:`shape` times the element size."""
        return math.prod(self.shape) * self.dtype.itemsize

    def pack(self):
        """Return the header as :data:`~hw.protocol.HEADER_SIZE` bytes.

        Raises
        ------
        DataError
            If a dimension or the length does not fit its field.
        """
        if not 1 <= len(self.shape) <= _MAX_DIMS:
            raise DataError(f"a record has {len(self.shape)} dimensions; the header holds 1 to "
                            f"{_MAX_DIMS}: reshape the data")
        for size in self.shape:
            if not 1 <= size <= _U32_MAX:
                raise DataError(f"record shape {self.shape} has a dimension outside 1.."
                                f"{_U32_MAX}: give non-empty records under 4 GiB")
        if not 0 <= self.length <= _U32_MAX:
            raise DataError(f"data length {self.length} does not fit the header's 32 bits: "
                            f"split the data into files under 4 GiB")
        shape = dict(zip(("shape0", "shape1", "shape2", "shape3"), self.shape, strict=False))
        return protocol.pack_fields(HEADER_FIELDS, magic=MAGIC, kind=self.kind,
                                    dtype=self.dtype, ndim=len(self.shape), flags=self.flags,
                                    length=self.length, **shape)

    @classmethod
    def unpack(cls, data):
        """Parse and check a packed header.

        Raises
        ------
        DataError
            If the header is short, has the wrong magic, or names an unknown kind or dtype, or
            an impossible shape.
        """
        data = bytes(data)
        if len(data) < protocol.HEADER_SIZE:
            raise DataError(f"header is {len(data)} bytes, expected {protocol.HEADER_SIZE}: "
                            f"read the whole stored header")
        fields = protocol.unpack_fields(HEADER_FIELDS, data)
        if fields["magic"] != MAGIC:
            raise DataError(f"header magic {data[:2]!r} is not b'MG': the device holds no "
                            f"MemGEN data set; train it with host.train first")
        try:
            kind = Kind(fields["kind"])
        except ValueError:
            raise DataError(f"header kind {fields['kind']} is unknown (expected 1 to "
                            f"{max(Kind)}): the header is corrupt or from a newer MemGEN; "
                            f"train the device again") from None
        try:
            dtype = DType(fields["dtype"])
        except ValueError:
            raise DataError(f"header dtype {fields['dtype']} is unknown (expected 0, uint8, or "
                            f"1, uint16): "
                            f"the header is corrupt; train the device again") from None
        ndim = fields["ndim"]
        shape = tuple(fields[f"shape{i}"] for i in range(_MAX_DIMS))
        if not 1 <= ndim <= _MAX_DIMS or 0 in shape[:ndim] or any(shape[ndim:]):
            raise DataError(f"header shape {shape} with ndim {ndim} is impossible: the header "
                            f"is corrupt; train the device again")
        return cls(kind=kind, shape=shape[:ndim], length=fields["length"],
                   flags=Flag(fields["flags"]), dtype=dtype)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A data set encoded as records for the device.

    Parameters
    ----------
    kind : Kind
        What the records hold.
    records : bytes
        ``count`` records of ``record_size`` bytes, concatenated.
    record_size : int
        Size of one record in bytes.
    count : int
        Number of records, ``N``.
    header : bytes
        The packed :class:`Header`, :data:`~hw.protocol.HEADER_SIZE` bytes.
    source : str
        Where the data came from, for messages.
    """
    kind:        Kind
    records:     bytes
    record_size: int
    count:       int
    header:      bytes
    source:      str = ""

    def __post_init__(self):
        if self.record_size <= 0 or self.count <= 0:
            raise DataError(f"a data set needs a positive record size and count, got "
                            f"{self.record_size} and {self.count}")
        if len(self.records) != self.record_size * self.count:
            raise DataError(f"records hold {len(self.records)} bytes, not count x record size "
                            f"= {self.count} x {self.record_size}")
        if len(self.header) != protocol.HEADER_SIZE:
            raise DataError(f"header is {len(self.header)} bytes, not {protocol.HEADER_SIZE}")

    @property
    def meta(self):
        """The parsed :class:`Header`."""
        return Header.unpack(self.header)

    @property
    def nbytes(self):
        """Size of all records in bytes."""
        return len(self.records)

    def array(self):
        """Return the records as a read-only ``(count, record_size)`` ``uint8`` array."""
        return np.frombuffer(self.records, np.uint8).reshape(self.count, self.record_size)

    def record(self, index):
        """Return the bytes of record ``index``."""
        if not 0 <= index < self.count:
            raise IndexError(f"record {index} is outside 0..{self.count - 1}")
        return self.records[index * self.record_size:(index + 1) * self.record_size]

    def decode(self, *, whole=None):
        """Return the data set in its original form; see :func:`decode`."""
        return decode(self.header, self.records, self.count, whole=whole)


def _name(source):
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "data"


def _check_record_size(record_size):
    if record_size is not None and (isinstance(record_size, bool) or
                                    not isinstance(record_size, (int, np.integer)) or
                                    record_size <= 0):
        raise DataError(f"record size must be a positive number of bytes, got {record_size!r}: "
                        f"pass --record-size 1 or more")
    if record_size is not None and record_size > _U32_MAX:
        # Checked before any padding is allocated: a huge size is one line, not MemoryError.
        raise DataError(f"record size {record_size} does not fit the header's 32 bits: pass "
                        f"--record-size under 4 GiB (and under the device's capacity)")


def _dataset(header, records, count, source):
    return Dataset(kind=header.kind, records=records, record_size=header.record_size,
                   count=count, header=header.pack(), source=source)


def _records_array(header, records, count, kind):
    if header.kind != kind:
        raise DataError(f"the header describes {header.kind.name.lower()} data, not "
                        f"{kind.name.lower()}: decode it with decode()")
    size = header.record_size
    if count < 0 or len(records) != count * size:
        raise DataError(f"records hold {len(records)} bytes, not count x record size = "
                        f"{count} x {size}: pass every byte the device sent")
    return np.frombuffer(records, np.uint8).reshape(count, size)


def _read_bytes(path):
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {os.fspath(path)}: {error.strerror or error}: check the "
                        f"path and its permissions") from None


# Images -------------------------------------------------------------------------------------

def _check_images(images, name, kind=None):
    if not isinstance(images, np.ndarray):
        raise DataError(f"{name}: images must be a numpy array, got {type(images).__name__}: "
                        f"pass np.asarray(images, dtype=np.uint8)")
    if DType.of(images.dtype) is None:
        raise DataError(f"{name}: images have dtype {images.dtype}, not uint8 or uint16: "
                        f"convert them with host.loaders.to_stored(a), which scales 16-bit "
                        f"and float ranges to 8 bits and says how")
    if kind == Kind.ARRAY:
        if not 2 <= images.ndim <= 1 + _MAX_DIMS:
            raise DataError(f"{name}: an array data set must be (N, ...) with 1 to {_MAX_DIMS} "
                            f"dimensions per record, got shape {images.shape}: reshape it")
    elif images.ndim not in (3, 4):
        raise DataError(f"{name}: images must be an (N, H, W) or (N, H, W, C) array, got shape "
                        f"{images.shape}: reshape it")
    if images.size == 0:
        raise DataError(f"{name}: empty data set (shape {images.shape}): give at least one "
                        f"image of at least one pixel")
    return images


def encode_images(images, *, source="", kind=None):
    """Encode an image array, one record per image.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W)`` or ``(N, H, W, C)`` array of ``uint8`` or ``uint16`` (stored as two
        little-endian bytes per element); with ``kind=Kind.ARRAY``, any ``(N, ...)`` array of
        1 to 4 dimensions per record.
    source : str
        Where the images came from, for messages.
    kind : Kind or None
        :attr:`Kind.IMAGE` (default) or :attr:`Kind.ARRAY`.

    Raises
    ------
    DataError
        If the array is empty, not ``uint8`` or ``uint16``, or has the wrong number of
        dimensions.
    """
    kind = Kind.IMAGE if kind is None else Kind(kind)
    images = _check_images(images, source or "images", kind)
    dtype = DType.of(images.dtype)
    header = Header(kind, tuple(int(size) for size in images.shape[1:]),
                    length=len(images), dtype=dtype)
    records = np.ascontiguousarray(images, dtype=dtype.numpy).tobytes()
    return _dataset(header, records, len(images), source)


def decode_images(header, records, count):
    """Return ``count`` image (or array) records as an ``(N, *shape)`` array of the header's
    dtype (``uint8`` or ``uint16``).

    ``header`` is a :class:`Header` or its packed bytes.
    """
    header = header if isinstance(header, Header) else Header.unpack(header)
    kind = Kind.ARRAY if header.kind == Kind.ARRAY else Kind.IMAGE
    _records_array(header, records, count, kind)
    array = np.frombuffer(records, header.dtype.numpy).reshape((count, *header.shape))
    return array.astype(header.dtype.numpy.newbyteorder("="))


def read_images(path, *, key=None):
    """Read images from a ``.npy``/``.npz`` file, an image file or a folder of image files.

    Files are read by :mod:`host.loaders` (any format Pillow opens, EXIF orientation applied,
    modes unified by its stated rule, hidden and non-image files skipped with a log line); a
    folder's files in the order of their names. An ``.npz`` file must hold a single array, or
    one named ``key`` (default ``images``, ``x``, ``X`` or ``data``). Arrays must already be
    ``uint8`` or ``uint16``; :func:`host.loaders.load` converts other dtypes by its rules.

    Raises
    ------
    DataError
        If the path cannot be read, holds no images, or the images differ in size, or the
        array is not ``uint8`` or ``uint16``.
    """
    from . import loaders

    path = Path(path)
    fmt = loaders.infer(path)
    options = loaders.Options(key=key)
    if fmt == "folder":
        return loaders._folder_images(path, options, _log.info)
    if fmt == "image":
        return loaders.read_image_files([path], options, _log.info)
    if fmt != "array":
        raise DataError(f"cannot read images from {path}: give a .npy or .npz file, an image "
                        f"file or a folder of image files")
    images = loaders._read_npz(io.BytesIO(_read_bytes(path)), os.fspath(path), key, _log.info)
    return _check_images(images, os.fspath(path))


@functools.cache
def _digits_images():
    from sklearn.datasets import load_digits

    pixels = load_digits().images.astype(np.uint16)
    # 0..16 to 0..255 rounded to nearest: 16 maps to 255.
    images = ((pixels * 255 + 8) // 16).astype(np.uint8)
    images.flags.writeable = False
    return images


def digits_images():
    """Return scikit-learn's bundled 8x8 digits as a ``(1797, 8, 8)`` ``uint8`` array.

    The values 0..16 are scaled to 0..255 (rounded); the scaled images are what is stored.
    """
    return _digits_images().copy()


def _png_array(images, *, keep16=False):
    images = _check_images(np.asarray(images), "images")
    gray = images.ndim == 3 or images.shape[3] == 1
    if images.dtype != np.uint8 and not (keep16 and gray):
        # 16-bit to 8-bit for display: 65535 / 257 is 255, rounded to nearest.
        images = ((images.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if images.ndim == 4:
        channels = images.shape[3]
        if channels == 1:
            images = images[..., 0]
        elif channels not in _PNG_MODES.values():
            raise DataError(f"images have {channels} channels; PNG files hold 1 to 4: write "
                            f"them another way, e.g. np.save")
    return images


def write_pngs(images, folder, *, prefix="sample"):
    """Write each image to ``folder/<prefix><index>.png`` and return the paths.

    Indices are zero-padded so that the names sort in index order, which is the order in which
    :func:`read_images` reads the folder back. One-channel images are written as mode L, or
    as 16-bit grayscale if they are ``uint16``; 16-bit colour images are written at 8 bits
    (value / 257, rounded), which PNG files from Pillow cannot hold.
    """
    images = _png_array(images, keep16=True)
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(len(images) - 1)))
    paths = []
    for index, image in enumerate(images):
        path = folder / f"{prefix}{index:0{width}d}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    _log.debug("wrote %d PNG files to %s", len(paths), folder)
    return paths


def sheet_array(images, *, columns=None, scale=None, gap=2, background=128):
    """Return a contact sheet of ``images``, a grid of upscaled cells, as an array.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W[, C])`` ``uint8`` images, ``C`` in 1..4.
    columns : int or None
        Cells per row; default: a square grid.
    scale : int or None
        Nearest-neighbour upscaling factor; default: the smallest that makes a cell at least
        32 pixels on its long side.
    gap : int
        Pixels between and around cells.
    background : int
        Gray level of the gaps and empty cells (alpha channels are opaque).
    """
    images = _png_array(images)
    count, height, width = images.shape[:3]
    channels = images.shape[3:]
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    scale = scale or max(1, math.ceil(_SHEET_CELL / max(height, width)))
    if columns <= 0 or scale <= 0 or gap < 0:
        raise DataError(f"contact sheet needs columns and scale > 0 and gap >= 0, got "
                        f"{columns}, {scale} and {gap}")
    cell_h, cell_w = height * scale + gap, width * scale + gap
    opaque = bool(channels) and channels[0] in (2, 4)
    cells = np.full((rows * columns, cell_h, cell_w, *channels), background, np.uint8)
    if opaque:
        cells[..., -1] = 255
    cells[:count, gap:, gap:] = images.repeat(scale, axis=1).repeat(scale, axis=2)
    grid = cells.reshape(rows, columns, cell_h, cell_w, *channels).swapaxes(1, 2)
    sheet = np.full((rows * cell_h + gap, columns * cell_w + gap, *channels), background,
                    np.uint8)
    if opaque:
        sheet[..., -1] = 255
    sheet[:rows * cell_h, :columns * cell_w] = grid.reshape(rows * cell_h, columns * cell_w,
                                                            *channels)
    return sheet


def contact_sheet(images, path, *, columns=None, scale=None, gap=2):
    """Write a contact sheet of ``images`` to the PNG file ``path`` and return the path.

    See :func:`sheet_array` for the parameters.
    """
    from PIL import Image

    path = Path(path)
    Image.fromarray(sheet_array(images, columns=columns, scale=scale, gap=gap)).save(path)
    return path


# Text ---------------------------------------------------------------------------------------

def _text_data(text, name):
    if isinstance(text, str):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise DataError(f"{name}: text cannot be encoded as UTF-8 ({error.reason}): remove "
                            f"lone surrogates") from None
    if isinstance(text, (list, tuple)):
        for number, line in enumerate(text, 1):
            if not isinstance(line, str):
                raise DataError(f"{name}: line {number} is a {type(line).__name__}, not str: "
                                f"pass a list of str lines or the file's bytes")
            if "\n" in line:
                raise DataError(f"{name}: line {number} contains a newline: split it into "
                                f"lines first")
        if not text:
            raise DataError(f"{name}: empty data set: give at least one line")
        try:
            return "".join(line + "\n" for line in text).encode("utf-8")
        except UnicodeEncodeError as error:
            raise DataError(f"{name}: text cannot be encoded as UTF-8 ({error.reason}): remove "
                            f"lone surrogates") from None
    return bytes(text)


def _check_utf8(data, name):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataError(f"{name} is not UTF-8 text (byte {data[error.start]:#04x} at offset "
                        f"{error.start}, line {line}): use --kind bytes for binary data") from None


def encode_text(text, *, one_shot=False, record_size=None, source=""):
    """Encode UTF-8 text, one record per line or the whole text as one record.

    Lines are split at ``\\n`` only; a ``\\r`` before it stays part of the line, so the round
    trip is exact byte for byte. Empty lines are kept as records of length 0. A final newline
    ends the last line rather than starting an empty one; :attr:`Flag.TRAILING_NEWLINE` records
    whether there was one.

    Parameters
    ----------
    text : bytes, str or list of str
        The file's bytes, a string, or the lines (without newlines).
    one_shot : bool
        Store the whole text as one record, recited back byte for byte.
    record_size : int or None
        Lines mode only: pad records to this size (at least 2 + the longest line in bytes);
        default: exactly 2 + the longest line.
    source : str
        Where the text came from, for messages.

    Raises
    ------
    DataError
        If the text is empty or not UTF-8, a line is longer than :data:`MAX_LINE` bytes, or
        ``record_size`` is too small or given with ``one_shot``.
    """
    name = source or "text"
    _check_record_size(record_size)
    data = _text_data(text, name)
    if not data:
        raise DataError(f"{name}: empty data set: give at least one line of text")
    _check_utf8(data, name)
    if one_shot:
        if record_size is not None:
            raise DataError(f"{name}: a one-shot record is the whole file; drop --record-size "
                            f"or --one-shot")
        header = Header(Kind.TEXT, (len(data),), length=len(data), flags=Flag.ONE_SHOT)
        return _dataset(header, data, 1, source)

    trailing = data.endswith(b"\n")
    body = np.frombuffer(data, np.uint8, len(data) - trailing)
    newlines = np.flatnonzero(body == ord("\n"))
    count = len(newlines) + 1
    starts = np.empty(count, np.int64)
    starts[0] = 0
    starts[1:] = newlines + 1
    ends = np.empty(count, np.int64)
    ends[:-1] = newlines
    ends[-1] = len(body)
    lengths = ends - starts
    longest = int(lengths.max())
    if longest > MAX_LINE:
        number = int(lengths.argmax()) + 1
        raise DataError(f"{name}: line {number} is {longest} bytes long, more than the "
                        f"{MAX_LINE} a text record holds: use --one-shot or --kind bytes")
    width = longest if record_size is None else record_size - 2
    if width < longest:
        raise DataError(f"{name}: record size {record_size} is too small for line "
                        f"{int(lengths.argmax()) + 1} of {longest} bytes: use --record-size "
                        f"{longest + 2} or more")
    out = np.zeros((count, 2 + width), np.uint8)
    out[:, 0] = lengths & 0xff
    out[:, 1] = lengths >> 8
    # Row-major boolean assignment drops the line bytes into place in one pass.
    out[:, 2:][np.arange(width) < lengths[:, np.newaxis]] = np.delete(body, newlines)
    flags = Flag.TRAILING_NEWLINE if trailing else Flag(0)
    header = Header(Kind.TEXT, (2 + width,), length=count, flags=flags)
    return _dataset(header, out.tobytes(), count, source)


def _decode_lines(array):
    count, size = array.shape
    width = size - 2
    if width < 0:
        raise DataError(f"text records of {size} bytes cannot hold a length prefix: the "
                        f"header is corrupt; train the device again")
    lengths = array[:, 0].astype(np.int64) | (array[:, 1].astype(np.int64) << 8)
    too_long = np.flatnonzero(lengths > width)
    if too_long.size:
        index = int(too_long[0])
        raise DataError(f"text record {index} claims {int(lengths[index])} bytes but holds "
                        f"{width}: the records are corrupt; read them again")
    joined = np.empty((count, width + 1), np.uint8)
    joined[:, :width] = array[:, 2:]
    joined[np.arange(count), lengths] = ord("\n")
    flat = joined[np.arange(width + 1) <= lengths[:, np.newaxis]].tobytes()
    try:
        lines = flat.decode("utf-8").split("\n")
    except UnicodeDecodeError as error:
        record = flat.count(b"\n", 0, error.start)
        raise DataError(f"text record {record} is not UTF-8: the records are corrupt; read "
                        f"them again") from None
    lines.pop()
    if len(lines) != count:
        raise DataError(f"text records hold {len(lines)} lines, not {count}: a record contains "
                        f"a newline; the records are corrupt")
    return lines


def decode_text(header, records, count, *, whole=None):
    """Return text records as a list of lines, or a one-shot record as the file's bytes.

    ``header`` is a :class:`Header` or its packed bytes. For a one-shot header ``whole`` has
    the meaning given in :func:`decode`; lines mode ignores it. Use :func:`lines_to_bytes` to
    write the lines back as a file.
    """
    header = header if isinstance(header, Header) else Header.unpack(header)
    array = _records_array(header, records, count, Kind.TEXT)
    if header.flags & Flag.ONE_SHOT:
        return _decode_flat(header, records, count, whole)
    return _decode_lines(array)


def lines_to_bytes(lines, *, trailing_newline=True):
    """Return lines joined with ``\\n`` as UTF-8, ending in a newline if ``trailing_newline``.

    With ``trailing_newline=bool(header.flags & Flag.TRAILING_NEWLINE)`` this rebuilds the
    encoded file byte for byte.
    """
    text = "\n".join(lines)
    if trailing_newline and lines:
        text += "\n"
    return text.encode("utf-8")


# Flat kinds: pi and bytes -------------------------------------------------------------------

def _encode_flat(kind, data, record_size, flags, source):
    name = source or kind.name.lower()
    _check_record_size(record_size)
    if not data:
        raise DataError(f"{name}: empty data set: give at least one byte")
    if len(data) > _U32_MAX:
        raise DataError(f"{name}: {len(data)} bytes do not fit the header's 32-bit length: "
                        f"split the data into files under 4 GiB")
    size = len(data) if record_size is None else int(record_size)
    count = -(-len(data) // size)
    if size == len(data) and kind == Kind.PI:
        flags |= Flag.ONE_SHOT
    padding = count * size - len(data)
    records = data + bytes(padding) if padding else data
    header = Header(kind, (size,), length=len(data), flags=flags)
    return _dataset(header, records, count, source)


def _decode_flat(header, records, count, whole):
    size = header.record_size
    stored = -(-header.length // size)
    if whole is None:
        whole = count == stored
    if whole:
        if count != stored:
            raise DataError(f"the whole data set is {stored} records, not {count}: read all "
                            f"of them in order (recite mode), or decode with whole=False")
        return bytes(records[:header.length])
    return bytes(records)


def encode_bytes(data, record_size=None, *, source=""):
    """Encode any bytes in records of ``record_size`` bytes (default: one record of all).

    The last record is zero-padded; the header's ``length`` holds the data length so that
    decoding strips the padding.

    Raises
    ------
    DataError
        If the data is empty or 4 GiB or more, or ``record_size`` is not positive.
    """
    return _encode_flat(Kind.BYTES, bytes(data), record_size, Flag(0), source)


def decode_bytes(header, records, count, *, whole=None):
    """Return bytes records as bytes; ``whole`` has the meaning given in :func:`decode`."""
    header = header if isinstance(header, Header) else Header.unpack(header)
    _records_array(header, records, count, Kind.BYTES)
    return _decode_flat(header, records, count, whole)


@functools.lru_cache(maxsize=4)
def _pi_digits(count):
    import mpmath
    from mpmath.libmp import numeral

    guard = 64
    while True:
        with mpmath.workprec(int(count * math.log2(10)) + guard):
            scaled = mpmath.pi * mpmath.mpf(10) ** (count - 1)
            whole = mpmath.floor(scaled)
            fraction = scaled - whole
            # A fraction this close to 0 or 1 could be rounding error: retry more precisely.
            if mpmath.mpf(2) ** -32 < fraction < 1 - mpmath.mpf(2) ** -32:
                break
        guard *= 2
    return numeral(int(whole), 10, count).encode("ascii")


def pi_digits(count):
    """Return the first ``count`` decimal digits of pi as ASCII bytes, ``b"3141..."``.

    Computed with mpmath; 100 000 digits take about a second without gmpy2, a million about a
    minute.

    Raises
    ------
    DataError
        If ``count`` is not positive.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count <= 0:
        raise DataError(f"pi needs a positive number of digits, got {count!r}: use pi:10000")
    if count > 100_000:
        _log.info("computing %d digits of pi", count)
    return _pi_digits(int(count))


def encode_pi(digits, record_size=None, *, source=""):
    """Encode digits of pi, as one record (one-shot) or in chunks of ``record_size`` digits.

    Parameters
    ----------
    digits : int or bytes
        How many digits of pi to compute, or the ASCII digits themselves.
    record_size : int or None
        Digits per record; default: all of them in one record. The last chunk is zero-padded;
        the header's ``length`` holds the digit count so that decoding strips the padding.
    source : str
        Where the digits came from, for messages.

    Raises
    ------
    DataError
        If there are no digits, the bytes are not ASCII digits, or ``record_size`` is not
        positive.
    """
    if isinstance(digits, (int, np.integer)) and not isinstance(digits, bool):
        digits = pi_digits(digits)
    data = bytes(digits)
    codes = np.frombuffer(data, np.uint8)
    bad = np.flatnonzero((codes < ord("0")) | (codes > ord("9")))
    if bad.size:
        raise DataError(f"{source or 'pi'}: byte {data[bad[0]]:#04x} at offset {bad[0]} is not "
                        f"an ASCII digit: give digits only, b'31415...'")
    return _encode_flat(Kind.PI, data, record_size, Flag(0), source)


def decode_pi(header, records, count, *, whole=None):
    """Return pi records as ASCII digits; ``whole`` has the meaning given in :func:`decode`."""
    header = header if isinstance(header, Header) else Header.unpack(header)
    _records_array(header, records, count, Kind.PI)
    return _decode_flat(header, records, count, whole)


def pi_mismatch(digits):
    """Return the index of the first digit that is not pi's, or None if all are."""
    digits = bytes(digits)
    if not digits:
        return None
    expected = np.frombuffer(pi_digits(len(digits)), np.uint8)
    differ = np.flatnonzero(np.frombuffer(digits, np.uint8) != expected)
    return int(differ[0]) if differ.size else None


def verify_pi(digits):
    """Return whether ``digits`` are the first ``len(digits)`` digits of pi, per mpmath."""
    index = pi_mismatch(digits)
    if index is not None:
        _log.info("digit %d of pi is wrong: %r", index, bytes(digits[index:index + 1]))
    return bool(digits) and index is None


# Sources ------------------------------------------------------------------------------------

def _parse_pi(source):
    match = _PI_SOURCE.fullmatch(source)
    if not match:
        return False, None
    if match.group(1) is None:
        return True, None
    text = match.group(1)
    if not text.isdigit() or int(text) <= 0:
        raise DataError(f"bad pi source {source!r}: write pi:DIGITS with DIGITS a positive "
                        f"integer, e.g. pi:10000")
    return True, int(text)


def infer_kind(source):
    """Return the :class:`Kind` a source most likely holds.

    ``pi`` and ``pi:N`` mean digits of pi, ``digits`` the built-in images (these names are
    reserved; write ``./pi`` for a file named pi). A folder, ``.npy``, ``.npz``, IDX and image
    files (any extension Pillow reads), and arrays are images; ``.txt`` and ``.md`` files, str
    and lists of str are text; anything else is bytes.
    """
    if isinstance(source, np.ndarray):
        return Kind.IMAGE
    if isinstance(source, (list, tuple)):
        return Kind.TEXT
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Kind.BYTES
    text = os.fspath(source)
    if text == "digits":
        return Kind.IMAGE
    if _PI_SOURCE.fullmatch(text):
        return Kind.PI
    path = Path(text)
    if path.is_dir():
        return Kind.IMAGE
    from . import loaders

    suffix = path.suffix.lower()
    if loaders.infer(path) in ("image", "array", "idx"):
        return Kind.IMAGE
    if suffix in (".txt", ".md"):
        return Kind.TEXT
    return Kind.BYTES


def _kind(kind):
    if isinstance(kind, str):
        try:
            return Kind[kind.upper()]
        except KeyError:
            raise DataError(f"unknown kind {kind!r}: choose image, text, pi or "
                            f"bytes") from None
    try:
        return Kind(kind)
    except ValueError:
        raise DataError(f"unknown kind {kind!r}: choose image, text, pi or bytes") from None


def load(source, kind=None, record_size=None, one_shot=False, digits=None):
    """Load and encode a data set; the entry point of the command-line tools.

    Parameters
    ----------
    source : str, os.PathLike, numpy.ndarray, bytes or list of str
        A path, ``pi``, ``pi:N`` or ``digits`` (see :func:`infer_kind`), or the data itself.
    kind : Kind, str or None
        The kind of data; default: :func:`infer_kind`.
    record_size : int or None
        Record size in bytes (digits for pi). Images: must equal ``H * W * C`` if given. Text
        lines: pads the records (see :func:`encode_text`). Pi and bytes: default one record
        holding everything.
    one_shot : bool
        Store the whole data set as one record (text, pi and bytes).
    digits : int or None
        Digits of pi; default: the ``N`` of ``pi:N``, else :data:`DEFAULT_PI_DIGITS`.

    Raises
    ------
    DataError
        If the source cannot be read or encoded, or the arguments contradict each other.
    """
    kind = infer_kind(source) if kind is None else _kind(kind)
    _check_record_size(record_size)
    name = _name(source)
    if one_shot and record_size is not None:
        raise DataError(f"{name}: --one-shot stores everything in one record; drop "
                        f"--record-size or --one-shot")
    if digits is not None and kind != Kind.PI:
        raise DataError(f"{name}: --digits applies to pi only, not {kind.name.lower()} data: "
                        f"drop --digits")
    if kind == Kind.IMAGE:
        if one_shot:
            raise DataError(f"{name}: images are stored one per record; --one-shot applies to "
                            f"text, pi and bytes")
        if isinstance(source, np.ndarray):
            images = source
        elif name == "digits":
            images = digits_images()
        else:
            images = read_images(source)
        dataset = encode_images(images, source=name)
        if record_size is not None and record_size != dataset.record_size:
            raise DataError(f"{name}: images of shape {dataset.meta.shape} make records of "
                            f"{dataset.record_size} bytes, not {record_size}: drop "
                            f"--record-size")
    elif kind == Kind.TEXT:
        if isinstance(source, (str, os.PathLike)):
            text = _read_bytes(source)
        else:
            text = source
        dataset = encode_text(text, one_shot=one_shot, record_size=record_size, source=name)
    elif kind == Kind.PI:
        is_pi, count = (_parse_pi(name) if isinstance(source, (str, os.PathLike))
                        else (False, None))
        if not is_pi:
            raise DataError(f"kind pi takes the source pi or pi:DIGITS, not {name!r}: use "
                            f"--kind bytes for a file of digits")
        if digits is not None and count is not None and digits != count:
            raise DataError(f"{name} asks for {count} digits but --digits gives {digits}: "
                            f"give one of them")
        count = count or digits or DEFAULT_PI_DIGITS
        dataset = encode_pi(count, record_size, source=name)
    else:
        if isinstance(source, (str, os.PathLike)):
            data = _read_bytes(source)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        else:
            raise DataError(f"kind bytes needs a path or bytes, not a "
                            f"{type(source).__name__}: pass a file name")
        dataset = encode_bytes(data, record_size, source=name)
    _log.info("%s: %d %s records of %d bytes", name, dataset.count, kind.name.lower(),
              dataset.record_size)
    _log.debug("header %s", dataset.header.hex(" "))
    return dataset


def decode(header, records, count, *, whole=None):
    """Return records in the original form of their kind, as the header says.

    Parameters
    ----------
    header : bytes or Header
        The stored header.
    records : bytes-like
        ``count`` records, concatenated.
    count : int
        Number of records.
    whole : bool or None
        For pi, bytes and one-shot text: ``True`` means the records are the whole data set in
        stored order (a recital), so the padding of the last one is stripped; ``False`` means
        they are samples, returned concatenated with each record whole; ``None`` (default)
        means ``True`` exactly when ``count`` is the data set's record count. Ignored for
        images and text lines, whose records decode one by one.

    Returns
    -------
    numpy.ndarray, list of str or bytes
        Images as ``(count, H, W[, C])`` ``uint8``; text lines as a list of str; one-shot text,
        pi digits and bytes as bytes.

    Raises
    ------
    DataError
        If the header is not a MemGEN header, or the records do not match it.
    """
    header = header if isinstance(header, Header) else Header.unpack(header)
    if header.kind in (Kind.IMAGE, Kind.ARRAY):
        return decode_images(header, records, count)
    if header.kind == Kind.TEXT:
        return decode_text(header, records, count, whole=whole)
    if header.kind == Kind.PI:
        return decode_pi(header, records, count, whole=whole)
    return decode_bytes(header, records, count, whole=whole)
