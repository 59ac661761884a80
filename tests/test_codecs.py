# SPDX-License-Identifier: BSD-2-Clause
import re

import numpy as np
import pytest
from PIL import Image

from host import codecs
from host.bench_codecs import bench_codecs, format_rows
from host.codecs import DataError, Flag, Header, Kind
from hw import protocol

PI_PREFIX = b"31415926535897932384626433832795"


def roundtrip(dataset, **kwargs):
    return codecs.decode(dataset.header, dataset.records, dataset.count, **kwargs)


# Header -------------------------------------------------------------------------------------

def test_header_fields_are_32_bytes():
    assert protocol.fields_size(codecs.HEADER_FIELDS) == protocol.HEADER_SIZE == 32
    assert protocol.fields_format(codecs.HEADER_FIELDS) == "<HBBBBHIIIIII"


def test_header_layout():
    header = Header(Kind.IMAGE, (28, 27, 3), length=60000, flags=Flag.ONE_SHOT)
    data = header.pack()
    assert len(data) == 32
    assert data[0:2] == b"MG"
    assert data[2] == Kind.IMAGE
    assert data[3] == 0                                  # uint8
    assert data[4] == 3                                  # ndim
    assert data[5] == Flag.ONE_SHOT
    assert data[8:24] == bytes.fromhex("1c000000 1b000000 03000000 00000000")
    assert data[24:28] == (60000).to_bytes(4, "little")
    assert data[6:8] == bytes(2) and data[28:32] == bytes(4)
    assert Header.unpack(data) == header
    assert header.record_size == 28 * 27 * 3


@pytest.mark.parametrize("shape", [(1,), (5, 7), (1, 1, 1), (2, 3, 4, 5), (0xffff_ffff,)])
def test_header_round_trip(shape):
    header = Header(Kind.BYTES, shape, length=0xffff_ffff, flags=Flag.TRAILING_NEWLINE)
    assert Header.unpack(header.pack()) == header


def test_header_unpack_errors():
    good = Header(Kind.TEXT, (10,), length=3).pack()
    with pytest.raises(DataError, match=r"header is 31 bytes, expected 32"):
        Header.unpack(good[:31])
    with pytest.raises(DataError, match=r"header magic b'XY' is not b'MG'.*train it"):
        Header.unpack(b"XY" + good[2:])
    with pytest.raises(DataError, match=r"header kind 9 is unknown"):
        Header.unpack(good[:2] + b"\x09" + good[3:])
    with pytest.raises(DataError, match=r"header kind 0 is unknown"):
        Header.unpack(good[:2] + b"\x00" + good[3:])
    with pytest.raises(DataError, match=r"header dtype 2 is unknown"):
        Header.unpack(good[:3] + b"\x02" + good[4:])
    with pytest.raises(DataError, match=r"ndim 0 is impossible"):
        Header.unpack(good[:4] + b"\x00" + good[5:])
    with pytest.raises(DataError, match=r"ndim 2 is impossible"):
        Header.unpack(good[:4] + b"\x02" + good[5:])   # shape1 is 0
    with pytest.raises(DataError, match=r"header magic"):
        codecs.decode(bytes(32), b"", 0)


def test_header_pack_errors():
    with pytest.raises(DataError, match=r"5 dimensions; the header holds 1 to 4"):
        Header(Kind.IMAGE, (1, 1, 1, 1, 1)).pack()
    with pytest.raises(DataError, match=r"0 dimensions"):
        Header(Kind.IMAGE, ()).pack()
    with pytest.raises(DataError, match=r"dimension outside 1\.\."):
        Header(Kind.IMAGE, (3, 0)).pack()
    with pytest.raises(DataError, match=r"does not fit the header's 32 bits"):
        Header(Kind.BYTES, (1,), length=1 << 32).pack()


# Images -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [
    (1, 1, 1), (1, 5, 3), (3, 1, 4), (4, 6, 1), (2, 4, 5, 1), (2, 4, 5, 2), (2, 4, 5, 3),
    (2, 4, 5, 4), (1, 1, 1, 3),
])
def test_image_round_trip(shape):
    images = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    dataset = codecs.encode_images(images)
    assert dataset.kind == Kind.IMAGE
    assert dataset.count == shape[0]
    assert dataset.record_size == int(np.prod(shape[1:]))
    assert dataset.meta == Header(Kind.IMAGE, shape[1:], length=shape[0])
    assert dataset.array().shape == (shape[0], dataset.record_size)
    decoded = roundtrip(dataset)
    assert decoded.dtype == np.uint8 and decoded.shape == shape
    np.testing.assert_array_equal(decoded, images)
    assert dataset.record(shape[0] - 1) == images[-1].tobytes()


def test_image_decode_of_samples():
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2)
    dataset = codecs.encode_images(images)
    samples = dataset.record(2) + dataset.record(0) + dataset.record(2) + dataset.record(1)
    np.testing.assert_array_equal(codecs.decode(dataset.header, samples, 4), images[[2, 0, 2, 1]])


def test_image_non_contiguous_input():
    images = np.arange(4 * 6 * 6, dtype=np.uint8).reshape(4, 6, 6)[:, ::2, 1::2]
    np.testing.assert_array_equal(roundtrip(codecs.encode_images(images)), images)


def test_digits():
    images = codecs.digits_images()
    assert images.shape == (1797, 8, 8) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255
    assert set(np.unique(images)) <= {(v * 255 + 8) // 16 for v in range(17)}
    dataset = codecs.load("digits")
    assert dataset.count == 1797 and dataset.record_size == 64 and dataset.source == "digits"
    np.testing.assert_array_equal(dataset.decode(), images)
    assert codecs.infer_kind("digits") == Kind.IMAGE


def test_image_errors():
    # The advice keeps the data: it names the converter that scales, not a clip that destroys.
    with pytest.raises(DataError, match=r"dtype float32, not uint8 or uint16: convert them "
                                        r"with host.loaders.to_stored\(a\), which scales"):
        codecs.encode_images(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(DataError, match=r"dtype int64, not uint8 or uint16"):
        codecs.load(np.zeros((2, 3, 3), np.int64))
    with pytest.raises(DataError, match=r"must be an \(N, H, W\) or \(N, H, W, C\) array, got "
                                        r"shape \(3, 3\)"):
        codecs.encode_images(np.zeros((3, 3), np.uint8))
    with pytest.raises(DataError, match=r"empty data set \(shape \(0, 8, 8\)\)"):
        codecs.encode_images(np.zeros((0, 8, 8), np.uint8))
    with pytest.raises(DataError, match=r"empty data set \(shape \(2, 0, 8\)\)"):
        codecs.encode_images(np.zeros((2, 0, 8), np.uint8))
    with pytest.raises(DataError, match=r"must be a numpy array, got list"):
        codecs.encode_images([[[1]]])
    with pytest.raises(DataError, match=r"records of 64 bytes, not 10: drop --record-size"):
        codecs.load("digits", record_size=10)
    with pytest.raises(DataError, match=r"--one-shot applies to text, pi and bytes"):
        codecs.load("digits", one_shot=True)


def test_npy_and_npz(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (5, 3, 4), dtype=np.uint8)
    labels = np.arange(5)
    np.save(tmp_path / "a.npy", images)
    np.savez(tmp_path / "one.npz", images)
    np.savez(tmp_path / "named.npz", labels=labels, images=images)
    np.savez(tmp_path / "x.npz", y=labels, x=images)
    for name in ("a.npy", "one.npz", "named.npz", "x.npz"):
        dataset = codecs.load(tmp_path / name)
        assert dataset.kind == Kind.IMAGE
        np.testing.assert_array_equal(dataset.decode(), images)
    np.savez(tmp_path / "two.npz", a=images, b=labels)
    with pytest.raises(DataError, match=r"holds arrays a, b: choose one with --key, e.g. --key a"):
        codecs.load(tmp_path / "two.npz")
    np.savez(tmp_path / "labels.npz", images=labels.reshape(5, 1, 1))
    with pytest.raises(DataError, match=r"dtype int64, not uint8"):
        codecs.load(tmp_path / "labels.npz")
    np.save(tmp_path / "objects.npy", np.array([None, 1], dtype=object))
    with pytest.raises(DataError, match=r"cannot read .*objects\.npy as a numpy file"):
        codecs.load(tmp_path / "objects.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match=r"cannot read .*junk\.npy as a numpy file"):
        codecs.load(tmp_path / "junk.npy")
    with pytest.raises(DataError, match=r"cannot read .*missing\.npy"):
        codecs.load(tmp_path / "missing.npy")
    with pytest.raises(DataError, match=r"cannot read images from .*data\.bin: give a \.npy"):
        codecs.load(tmp_path / "data.bin", kind="image")


@pytest.mark.parametrize("shape", [(3, 4, 5), (3, 4, 5, 2), (3, 4, 5, 3), (3, 4, 5, 4)])
def test_png_folder_round_trip(tmp_path, shape):
    images = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    dataset = codecs.encode_images(images)
    paths = codecs.write_pngs(roundtrip(dataset), tmp_path / "out")
    assert [p.name for p in paths] == ["sample0000.png", "sample0001.png", "sample0002.png"]
    (tmp_path / "out" / "notes.txt").write_text("not an image")
    loaded = codecs.load(tmp_path / "out")
    assert loaded.kind == Kind.IMAGE and loaded.count == 3
    np.testing.assert_array_equal(loaded.decode(), images)


def test_png_names_sort_in_index_order(tmp_path):
    images = np.arange(12, dtype=np.uint8).reshape(12, 1, 1)
    codecs.write_pngs(images, tmp_path, prefix="x")
    np.testing.assert_array_equal(codecs.read_images(tmp_path), images)


def test_png_one_channel_written_as_gray(tmp_path):
    images = np.arange(8, dtype=np.uint8).reshape(2, 2, 2, 1)
    (path,) = codecs.write_pngs(images[:1], tmp_path)
    with Image.open(path) as image:
        assert image.mode == "L"
    np.testing.assert_array_equal(codecs.read_images(tmp_path), images[:1, ..., 0])
    with pytest.raises(DataError, match=r"images have 5 channels; PNG files hold 1 to 4"):
        codecs.write_pngs(np.zeros((1, 2, 2, 5), np.uint8), tmp_path)


def test_single_png(tmp_path):
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    Image.fromarray(image).save(tmp_path / "one.png")
    assert codecs.infer_kind(tmp_path / "one.png") == Kind.IMAGE
    np.testing.assert_array_equal(codecs.load(tmp_path / "one.png").decode(), image[None])


def test_png_folder_errors(tmp_path):
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((4, 5), np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(np.zeros((4, 7), np.uint8)).save(tmp_path / "d.png")
    expected = re.escape("image c.png is 6x4 but a.png is 5x4: give images of one size, or "
                         "--size WxH to resize them all")
    with pytest.raises(DataError, match=expected):
        codecs.load(tmp_path)
    (tmp_path / "c.png").unlink()
    (tmp_path / "d.png").unlink()
    (tmp_path / "c.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"cannot read image .*c\.png"):
        codecs.load(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"folder .*empty holds no image files"):
        codecs.load(empty)


def test_contact_sheet(tmp_path):
    images = codecs.digits_images()[:10]
    sheet = codecs.sheet_array(images)
    # 4 columns x 3 rows of 32-pixel cells (8x8 scaled by 4) with 2-pixel gaps.
    assert sheet.shape == (3 * 34 + 2, 4 * 34 + 2)
    cell = sheet[2 + 34:2 + 34 + 32, 2 + 68:2 + 68 + 32]       # row 1, column 2: image 6
    np.testing.assert_array_equal(cell, np.kron(images[6], np.ones((4, 4), np.uint8)))
    assert (sheet[:2] == 128).all() and (sheet[:, 34:36] == 128).all()
    assert (sheet[2 + 68:, 2 + 68:] == 128).all()              # empty cells
    path = codecs.contact_sheet(images, tmp_path / "sheet.png", columns=5, gap=1)
    with Image.open(path) as image:
        assert image.size == (5 * 33 + 1, 2 * 33 + 1) and image.mode == "L"
    big = np.zeros((2, 40, 3, 4), np.uint8)
    rgba = codecs.sheet_array(big, scale=1, gap=1)
    assert rgba.shape == (1 * 41 + 1, 2 * 4 + 1, 4)
    assert (rgba[0, :, 3] == 255).all() and (rgba[1, 1:4, 3] == 0).all()
    with pytest.raises(DataError, match=r"columns and scale > 0 and gap >= 0"):
        codecs.sheet_array(images, gap=-1)


# Text ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, lines", [
    (b"a\nbb\n", ["a", "bb"]),
    (b"a\nbb", ["a", "bb"]),
    (b"\n", [""]),
    (b"\n\n", ["", ""]),
    (b"x", ["x"]),
    (b"hello\n\nworld\r\n", ["hello", "", "world\r"]),
    ("gr\u00fc\u00dfe\n\u65e5\u672c\n\n".encode(), ["gr\u00fc\u00dfe", "\u65e5\u672c", ""]),
])
def test_text_lines_round_trip(data, lines):
    dataset = codecs.encode_text(data)
    assert dataset.count == len(lines)
    assert dataset.record_size == 2 + max(len(line.encode()) for line in lines)
    assert dataset.meta.length == len(lines)
    decoded = roundtrip(dataset)
    assert decoded == lines
    trailing = bool(dataset.meta.flags & Flag.TRAILING_NEWLINE)
    assert trailing == data.endswith(b"\n")
    assert codecs.lines_to_bytes(decoded, trailing_newline=trailing) == data


def test_text_record_layout():
    dataset = codecs.encode_text(b"ab\n\nc\n")
    assert dataset.records == b"\x02\x00ab" + b"\x00\x00\x00\x00" + b"\x01\x00c\x00"


def test_text_from_lines_and_str():
    lines = ["one", "", "three"]
    assert codecs.encode_text(lines).decode() == lines
    assert codecs.load(lines).decode() == lines
    assert codecs.encode_text("a\nb").decode() == ["a", "b"]


def test_text_record_size_pads():
    dataset = codecs.encode_text(b"abc\nd\n", record_size=8)
    assert dataset.record_size == 8
    assert dataset.decode() == ["abc", "d"]
    with pytest.raises(DataError, match=r"record size 4 is too small for line 1 of 3 bytes: use "
                                        r"--record-size 5 or more"):
        codecs.encode_text(b"abc\nd\n", record_size=4)


def test_text_one_shot(tmp_path):
    data = "line one\n\nline \u00fcnicode\r\nno newline at end".encode()
    (tmp_path / "poem.txt").write_bytes(data)
    assert codecs.infer_kind(tmp_path / "poem.txt") == Kind.TEXT
    dataset = codecs.load(tmp_path / "poem.txt", one_shot=True)
    assert dataset.count == 1 and dataset.record_size == len(data)
    assert dataset.meta.flags & Flag.ONE_SHOT
    assert roundtrip(dataset) == data
    assert roundtrip(dataset, whole=False) == data
    assert codecs.decode(dataset.header, dataset.records * 3, 3) == data * 3
    lines = codecs.load(tmp_path / "poem.txt")
    assert codecs.lines_to_bytes(lines.decode(), trailing_newline=False) == data


def test_text_decode_of_samples():
    dataset = codecs.encode_text(b"a\nbcd\n\n")
    samples = dataset.record(1) + dataset.record(2) + dataset.record(1)
    assert codecs.decode(dataset.header, samples, 3) == ["bcd", "", "bcd"]


def test_text_errors(tmp_path):
    with pytest.raises(DataError, match=r"empty data set: give at least one line"):
        codecs.encode_text(b"")
    with pytest.raises(DataError, match=r"empty data set"):
        codecs.encode_text([])
    with pytest.raises(DataError, match=r"byte 0xff at offset 6, line 2\): use --kind bytes"):
        codecs.encode_text(b"hello\n\xff\n")
    with pytest.raises(DataError, match=r"line 2 is 65536 bytes long, more than the 65535 .*: "
                                        r"use --one-shot or --kind bytes"):
        codecs.encode_text(b"a\n" + b"x" * 65536)
    assert codecs.encode_text(b"x" * 65535).record_size == 65537
    with pytest.raises(DataError, match=r"line 2 contains a newline: split it"):
        codecs.encode_text(["a", "b\nc"])
    with pytest.raises(DataError, match=r"line 1 is a bytes, not str"):
        codecs.encode_text([b"a"])
    with pytest.raises(DataError, match=r"cannot be encoded as UTF-8"):
        codecs.encode_text(["\ud800"])
    with pytest.raises(DataError, match=r"drop --record-size or --one-shot"):
        codecs.encode_text(b"abc", one_shot=True, record_size=3)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt: empty data set"):
        codecs.load(tmp_path / "empty.txt")


def test_text_decode_errors():
    dataset = codecs.encode_text(b"ab\ncd\n")
    corrupt = b"\x05\x00ab" + dataset.record(1)
    with pytest.raises(DataError, match=r"text record 0 claims 5 bytes but holds 2"):
        codecs.decode(dataset.header, corrupt, 2)
    with pytest.raises(DataError, match=r"text record 1 is not UTF-8"):
        codecs.decode(dataset.header, dataset.record(0) + b"\x01\x00\xff\x00", 2)
    with pytest.raises(DataError, match=r"a record contains a newline"):
        codecs.decode(dataset.header, b"\x02\x00a\n", 1)
    with pytest.raises(DataError, match=r"records hold 5 bytes, not count x record size = 2 x 4"):
        codecs.decode(dataset.header, dataset.records[:5], 2)
    with pytest.raises(DataError, match=r"the header describes text data, not image"):
        codecs.decode_images(dataset.header, dataset.records, 2)


# Pi -----------------------------------------------------------------------------------------

def test_pi_digits():
    assert codecs.pi_digits(len(PI_PREFIX)) == PI_PREFIX
    assert codecs.pi_digits(1) == b"3"
    digits = codecs.pi_digits(5000)
    assert digits.startswith(PI_PREFIX) and len(digits) == 5000 and digits.isdigit()
    # Digits 762..767 (counting the 3 as digit 1) are the Feynman point.
    assert digits[762:768] == b"999999"
    assert codecs.verify_pi(digits)
    assert codecs.pi_mismatch(digits) is None
    wrong = digits[:1000] + b"0" + digits[1001:]
    assert not codecs.verify_pi(wrong)
    assert codecs.pi_mismatch(wrong) == 1000
    assert not codecs.verify_pi(b"")
    with pytest.raises(DataError, match=r"positive number of digits, got 0"):
        codecs.pi_digits(0)


def test_pi_one_shot():
    dataset = codecs.load("pi:100")
    assert dataset.kind == Kind.PI and dataset.count == 1 and dataset.record_size == 100
    assert dataset.meta.flags & Flag.ONE_SHOT and dataset.meta.length == 100
    decoded = roundtrip(dataset)
    assert decoded.startswith(PI_PREFIX) and codecs.verify_pi(decoded)
    assert codecs.load("pi", one_shot=True).record_size == codecs.DEFAULT_PI_DIGITS
    assert codecs.load("pi", digits=50).decode() == codecs.pi_digits(50)


def test_pi_chunks():
    dataset = codecs.load("pi:40", record_size=7)
    assert dataset.count == 6 and dataset.record_size == 7 and dataset.meta.length == 40
    assert dataset.records == codecs.pi_digits(40) + b"\0\0"
    assert not dataset.meta.flags & Flag.ONE_SHOT
    assert roundtrip(dataset) == codecs.pi_digits(40)
    assert codecs.decode(dataset.header, dataset.records[:14], 2) == PI_PREFIX[:14]
    assert roundtrip(dataset, whole=False) == dataset.records
    assert codecs.load("pi:5", record_size=8).decode() == b"31415"


def test_pi_errors():
    for bad in ("pi:0", "pi:x", "pi:", "pi:-3", "pi:1.5"):
        with pytest.raises(DataError, match=rf"bad pi source '{re.escape(bad)}': write "
                                            r"pi:DIGITS"):
            codecs.load(bad)
    with pytest.raises(DataError, match=r"pi:10 asks for 10 digits but --digits gives 20"):
        codecs.load("pi:10", digits=20)
    with pytest.raises(DataError, match=r"kind pi takes the source pi or pi:DIGITS, not "
                                        r"'digits\.txt'"):
        codecs.load("digits.txt", kind="pi")
    with pytest.raises(DataError, match=r"--digits applies to pi only, not image data"):
        codecs.load("digits", digits=10)
    with pytest.raises(DataError, match=r"byte 0x2e at offset 1 is not an ASCII digit"):
        codecs.encode_pi(b"3.14")
    with pytest.raises(DataError, match=r"record size must be a positive number of bytes"):
        codecs.load("pi:10", record_size=0)


# Bytes --------------------------------------------------------------------------------------

@pytest.mark.parametrize("length, record_size, count", [
    (1, 1, 1), (10, 1, 10), (10, 3, 4), (12, 4, 3), (5, 64, 1), (1000, None, 1), (1, None, 1),
])
def test_bytes_round_trip(tmp_path, length, record_size, count):
    data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    (tmp_path / "blob.bin").write_bytes(data)
    dataset = codecs.load(tmp_path / "blob.bin", record_size=record_size)
    assert dataset.kind == Kind.BYTES
    assert dataset.count == count
    assert dataset.record_size == (record_size or length)
    assert dataset.meta.length == length
    assert dataset.records[:length] == data and not dataset.records[length:].strip(b"\0")
    assert roundtrip(dataset) == data
    assert roundtrip(dataset, whole=True) == data
    assert roundtrip(dataset, whole=False) == dataset.records


def test_bytes_samples_keep_whole_records():
    dataset = codecs.encode_bytes(b"abcdefg", 3)
    samples = dataset.record(2) + dataset.record(0)
    assert codecs.decode(dataset.header, samples, 2) == b"g\0\0abc"
    with pytest.raises(DataError, match=r"the whole data set is 3 records, not 2: read all"):
        codecs.decode(dataset.header, samples, 2, whole=True)


def test_bytes_errors(tmp_path):
    for bad in (0, -1, True, 2.5):
        with pytest.raises(DataError, match=rf"positive number of bytes, got {re.escape(repr(bad))}"
                                            r": pass --record-size 1 or more"):
            codecs.encode_bytes(b"abc", bad)
    with pytest.raises(DataError, match=r"empty data set: give at least one byte"):
        codecs.encode_bytes(b"")
    with pytest.raises(DataError, match=r"cannot read .*nothing\.bin: No such file or directory: "
                                        r"check the path"):
        codecs.load(tmp_path / "nothing.bin")
    with pytest.raises(DataError, match=r"cannot read .*: check the path"):
        codecs.load(tmp_path, kind="bytes")
    with pytest.raises(DataError, match=r"drop --record-size or --one-shot"):
        codecs.load(b"abc", record_size=2, one_shot=True)
    with pytest.raises(DataError, match=r"kind bytes needs a path or bytes, not a list"):
        codecs.load(["a"], kind="bytes")
    dataset = codecs.encode_bytes(b"abc", 2)
    with pytest.raises(DataError, match=r"describes bytes data, not image"):
        codecs.decode_images(dataset.meta, dataset.records, dataset.count)


# Sources ------------------------------------------------------------------------------------

def test_infer_kind(tmp_path):
    assert codecs.infer_kind("pi") == Kind.PI
    assert codecs.infer_kind("pi:123") == Kind.PI
    assert codecs.infer_kind("./pi") == Kind.BYTES
    assert codecs.infer_kind("digits") == Kind.IMAGE
    assert codecs.infer_kind(tmp_path) == Kind.IMAGE
    assert codecs.infer_kind("x.NPY") == Kind.IMAGE
    assert codecs.infer_kind("x.npz") == Kind.IMAGE
    assert codecs.infer_kind("notes.txt") == Kind.TEXT
    assert codecs.infer_kind("README.md") == Kind.TEXT
    assert codecs.infer_kind("firmware.bin") == Kind.BYTES
    assert codecs.infer_kind("noext") == Kind.BYTES
    assert codecs.infer_kind(np.zeros((1, 1, 1), np.uint8)) == Kind.IMAGE
    assert codecs.infer_kind(["a"]) == Kind.TEXT
    assert codecs.infer_kind(b"a") == Kind.BYTES


def test_load_kind_override(tmp_path):
    (tmp_path / "notes.txt").write_bytes(b"a\nbc\n")
    dataset = codecs.load(tmp_path / "notes.txt", kind="bytes", record_size=2)
    assert dataset.kind == Kind.BYTES and dataset.decode() == b"a\nbc\n"
    assert codecs.load(tmp_path / "notes.txt", kind=Kind.TEXT).decode() == ["a", "bc"]
    assert codecs.load(tmp_path / "notes.txt", kind=2).kind == Kind.TEXT
    with pytest.raises(DataError, match=r"unknown kind 'audio': choose image, text, pi or bytes"):
        codecs.load(tmp_path / "notes.txt", kind="audio")
    with pytest.raises(DataError, match=r"unknown kind 7"):
        codecs.load(tmp_path / "notes.txt", kind=7)


def test_dataset_checks():
    dataset = codecs.encode_bytes(b"abcd", 2)
    assert dataset.nbytes == 4
    with pytest.raises(IndexError, match=r"record 2 is outside 0\.\.1"):
        dataset.record(2)
    with pytest.raises(DataError, match=r"records hold 3 bytes, not count x record size"):
        codecs.Dataset(Kind.BYTES, b"abc", 2, 2, dataset.header)
    with pytest.raises(DataError, match=r"positive record size and count"):
        codecs.Dataset(Kind.BYTES, b"", 2, 0, dataset.header)
    with pytest.raises(DataError, match=r"header is 4 bytes, not 32"):
        codecs.Dataset(Kind.BYTES, b"abcd", 2, 2, b"MG\0\0")


def test_bench_codecs_runs():
    rows = bench_codecs(size=100_000, repeat=1)
    assert [(row.codec, row.direction) for row in rows[:2]] == [("image 28x28", "encode"),
                                                               ("image 28x28", "decode")]
    assert len(rows) == 10 and all(row.mb_per_s > 0 for row in rows)
    assert "bytes records of 4096" in format_rows(rows)
