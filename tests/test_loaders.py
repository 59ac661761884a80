# SPDX-License-Identifier: BSD-2-Clause
"""Data in (:mod:`host.loaders`): every format, every stated rule, every damaged input as one
clear error; files generated in ``tmp_path``."""

import gzip
import io
import struct
import sys
import time

import numpy as np
import pytest
from PIL import Image

from host import codecs, loaders
from host.codecs import DataError, DType, Kind
from host.loaders import Options


class Notes(list):
    """A ``report`` that keeps the lines."""

    def __call__(self, message):
        self.append(message)

    def joined(self):
        return "\n".join(self)


def load(source, notes=None, **options):
    return loaders.load(source, Options(**options), notes if notes is not None else Notes())


def idx_bytes(array, type_code=0x08):
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(loaders.IDX_TYPES[type_code]).tobytes()


# Images -------------------------------------------------------------------------------------

def test_folder_of_jpegs_and_a_png_learns_all_and_names_what_it_skips(tmp_path):
    rng = np.random.default_rng(1)
    for index in range(20):
        Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(
            tmp_path / f"photo{index:02d}.jpg", quality=95)
    gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    Image.fromarray(gray).save(tmp_path / "zz.png")
    (tmp_path / "._photo00.jpg").write_bytes(b"\0\5\26\7 macOS resource fork")
    (tmp_path / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "notes.txt").write_text("not an image")
    notes = Notes()
    dataset = load(tmp_path, notes)
    assert dataset.kind == Kind.IMAGE and dataset.count == 21
    images = dataset.decode()
    assert images.shape == (21, 6, 5, 3)
    # The gray PNG becomes RGB by the stated rule: each channel the gray value.
    assert all(np.array_equal(images[20][..., c], gray) for c in range(3))
    text = notes.joined()
    assert "skipped 2 hidden files (._photo00.jpg, .DS_Store)" in text or \
        "skipped 2 hidden files (.DS_Store, ._photo00.jpg)" in text
    assert "skipped 1 entries that are not image files (notes.txt)" in text
    assert "converted 1 of 21 images (L, RGB) to RGB" in text
    assert f"loaded 21 images of 5x6 RGB from {tmp_path}" in text


def test_mode_override_and_luma(tmp_path):
    pixel = np.array([[[200, 100, 50]]], np.uint8)
    Image.fromarray(pixel).save(tmp_path / "a.png")
    images = load(tmp_path / "a.png", mode="L").decode()
    # ITU-R 601-2 luma, as Pillow's convert("L"): (200*299 + 100*587 + 50*114) / 1000.
    assert images.shape == (1, 1, 1)
    assert images[0, 0, 0] == round((200 * 299 + 100 * 587 + 50 * 114) / 1000)
    assert images[0, 0, 0] == np.asarray(Image.fromarray(pixel[0:1]).convert("L"))[0, 0]


def test_palette_png_keeps_its_colours_and_its_transparency(tmp_path):
    rgb = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    assert np.array_equal(load(tmp_path / "p.png").decode()[0], rgb)
    image = Image.fromarray(rgb).convert("P")
    transparent = image.getpixel((1, 0))
    image.save(tmp_path / "pt.png", transparency=transparent)
    loaded = load(tmp_path / "pt.png").decode()[0]
    assert loaded.shape == (1, 2, 4)
    assert loaded[0, 0, 3] == 255 and loaded[0, 1, 3] == 0
    assert np.array_equal(loaded[..., :3], rgb)


def test_transparency_rule(tmp_path):
    rgba = np.full((2, 2, 4), 255, np.uint8)
    rgba[..., :3] = 7
    Image.fromarray(rgba).save(tmp_path / "opaque.png")
    notes = Notes()
    assert load(tmp_path / "opaque.png", notes).decode().shape == (1, 2, 2, 3)
    assert "converted 1 of 1 images (RGBA) to RGB (the widest mode needed" in notes.joined()
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "hole.png")
    assert np.array_equal(load(tmp_path / "hole.png").decode()[0], rgba)
    assert np.array_equal(load(tmp_path / "hole.png", mode="RGB").decode()[0], rgba[..., :3])


def test_exif_orientation_is_applied(tmp_path):
    stored = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    image = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6            # rotate 90 degrees clockwise to display
    image.save(tmp_path / "turned.png", exif=exif)
    notes = Notes()
    loaded = load(tmp_path / "turned.png", notes).decode()[0]
    assert np.array_equal(loaded, np.rot90(stored, -1))
    assert "applied the EXIF orientation of 1 of 1 images" in notes.joined()


def test_sixteen_bit_png_scaled_or_kept(tmp_path):
    values = np.array([[0, 257, 65535, 1000]], np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as image:
        assert image.mode.startswith("I;16")
    notes = Notes()
    scaled = load(tmp_path / "deep.png", notes).decode()
    assert scaled.dtype == np.uint8
    assert scaled[0].tolist() == [[0, 1, 255, 4]]
    assert "scaled 1 16-bit images to 8 bits (v / 257, rounded)" in notes.joined()
    kept = load(tmp_path / "deep.png", dtype="uint16")
    assert kept.meta.dtype == DType.UINT16 and kept.record_size == 8
    assert kept.decode().dtype == np.uint16
    assert np.array_equal(kept.decode()[0], values)


def test_size_resizes_and_mismatched_sizes_name_the_fix(tmp_path):
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((8, 12), 200, np.uint8)).save(tmp_path / "b.bmp")
    with pytest.raises(DataError, match=r"b\.bmp is 12x8 but a\.png is 6x4: .* --size WxH"):
        load(tmp_path)
    images = load(tmp_path, size=(3, 2)).decode()
    assert images.shape == (2, 2, 3)
    assert (images[1] == 200).all() and (images[0] == 0).all()


def test_damaged_image_is_one_line(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not really")
    with pytest.raises(DataError, match=r"cannot read image .*bad\.jpg"):
        load(tmp_path / "bad.jpg")


# Numbers ------------------------------------------------------------------------------------

def test_to_stored_rules():
    notes = Notes()
    floats = np.array([0.0, 0.5, 1.0, 0.25], np.float32)
    assert loaders.to_stored(floats, report=notes).tolist() == [0, 128, 255, 64]
    assert "float values in [0, 1] scaled to 0..255" in notes.joined()
    assert loaders.to_stored(floats, dtype="uint16").tolist() == [0, 32768, 65535, 16384]
    assert loaders.to_stored(np.array([0, 17, 255], np.int64)).dtype == np.uint8
    assert loaders.to_stored(np.array([0, 17, 255], np.int64)).tolist() == [0, 17, 255]
    assert loaders.to_stored(np.array([3.0, 200.0])).tolist() == [3, 200]
    sixteen = np.array([0, 256, 65535], np.uint16)
    assert loaders.to_stored(sixteen).tolist() == [0, 1, 255]
    assert loaders.to_stored(sixteen, dtype="uint16").tolist() == [0, 256, 65535]
    with pytest.raises(DataError, match=r"include negative numbers"):
        loaders.to_stored(np.array([-1, 3]))
    with pytest.raises(DataError, match=r"NaN or infinite"):
        loaders.to_stored(np.array([np.nan]))
    with pytest.raises(DataError, match=r"values up to 70000 do not fit 16 bits"):
        loaders.to_stored(np.array([70000]))
    with pytest.raises(DataError, match=r"float values from 0 to 300.5 do not fit 0\.\.255"):
        loaders.to_stored(np.array([0, 300.5]))


def test_npy_float_and_sixteen_bit_arrays_are_scaled_not_clipped(tmp_path):
    floats = np.random.default_rng(4).random((3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "f.npy", floats)
    images = load(tmp_path / "f.npy").decode()
    assert np.array_equal(images, np.round(floats * 255).astype(np.uint8))
    assert len(np.unique(images)) > 2
    deep = np.random.default_rng(5).integers(0, 65536, (2, 3, 3), dtype=np.uint16)
    np.save(tmp_path / "d.npy", deep)
    assert np.array_equal(load(tmp_path / "d.npy", dtype="uint16").decode(), deep)


def test_npz_key_and_damage(tmp_path):
    x = np.random.default_rng(6).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    np.savez_compressed(tmp_path / "mnist.npz", x_train=x, y_train=np.arange(4),
                        x_test=x[:2], y_test=np.arange(2))
    with pytest.raises(DataError, match=r"holds arrays x_train, y_train, x_test, y_test: "
                                        r"choose one with --key"):
        load(tmp_path / "mnist.npz")
    assert np.array_equal(load(tmp_path / "mnist.npz", key="x_train").decode(), x)
    with pytest.raises(DataError, match=r"has no array 'images'; it holds x_train"):
        load(tmp_path / "mnist.npz", key="images")
    data = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read .*cut\.npz as a numpy file .*damaged"):
        load(tmp_path / "cut.npz", key="x_train")
    np.savez(tmp_path / "plain.npz", x=x)
    corrupt = bytearray((tmp_path / "plain.npz").read_bytes())
    corrupt[200] ^= 0xff                      # inside the array's bytes: a bad CRC-32
    (tmp_path / "crc.npz").write_bytes(bytes(corrupt))
    with pytest.raises(DataError, match=r"cannot read .*crc\.npz as a numpy file"):
        load(tmp_path / "crc.npz")


def test_flat_data_with_shape(tmp_path):
    raw = np.random.default_rng(7).integers(0, 256, 6 * 12, dtype=np.uint8)
    (tmp_path / "frames.bin").write_bytes(raw.tobytes())
    images = load(tmp_path / "frames.bin", shape=(3, 4)).decode()
    assert np.array_equal(images, raw.reshape(6, 3, 4))
    with pytest.raises(DataError, match=r"72 values are not a whole number of records of "
                                        r"shape 5x5"):
        load(tmp_path / "frames.bin", shape=(5, 5))
    np.save(tmp_path / "flat.npy", raw)
    with pytest.raises(DataError, match=r"a flat array of 72 values: give the shape of one "
                                        r"record with --shape"):
        load(tmp_path / "flat.npy")
    records = load(tmp_path / "flat.npy", shape=(8,))
    assert records.kind == Kind.ARRAY
    assert np.array_equal(records.decode(), raw.reshape(9, 8))


def test_csv_and_tsv(tmp_path):
    (tmp_path / "t.csv").write_text("label,a,b,c\n1,2,3,4\n5,6,7,255\n")
    notes = Notes()
    dataset = load(tmp_path / "t.csv", notes)
    assert dataset.kind == Kind.ARRAY and dataset.meta.shape == (4,)
    assert dataset.decode().tolist() == [[1, 2, 3, 4], [5, 6, 7, 255]]
    assert "skipped its first row as a header ('label,a,b,c')" in notes.joined()
    (tmp_path / "t.tsv").write_text("0\t1\t2\t3\n4\t5\t6\t7\n")
    assert load(tmp_path / "t.tsv", shape=(2, 2)).decode().shape == (2, 2, 2)
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    with pytest.raises(DataError, match=r"row 2 holds a cell that is not a number"):
        load(tmp_path / "bad.csv")
    (tmp_path / "ragged.csv").write_text("1,2\n3\n")
    with pytest.raises(DataError, match=r"row 2 has 1 cells, row 1 has 2"):
        load(tmp_path / "ragged.csv")


# IDX ----------------------------------------------------------------------------------------

def test_idx_images_plain_and_gzip_and_labels(tmp_path):
    images = np.random.default_rng(8).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    for name in ("t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"):
        notes = Notes()
        dataset = load(tmp_path / name, notes)
        # The 16-byte header is parsed, not learned: every record is an image.
        assert np.array_equal(dataset.decode(), images)
        assert f"loaded 5 images of 28x28 L from {tmp_path / name}" in notes.joined()
    assert "(gzip IDX)" in notes.joined()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.array([9, 2, 1, 1, 6]))))
    with pytest.raises(DataError, match=r"is an IDX labels file \(5 labels, 1\.\.9\), not "
                                        r"images: learn the images file "
                                        r"\(t10k-images-idx3-ubyte\.gz\)"):
        load(tmp_path / "t10k-labels-idx1-ubyte.gz")
    labels = load(tmp_path / "t10k-labels-idx1-ubyte.gz", kind="array", shape=(1,))
    assert labels.decode().ravel().tolist() == [9, 2, 1, 1, 6]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_write_idx_is_read_back_equal(tmp_path, dtype, name):
    array = (np.random.default_rng(3).integers(-100, 100, (4, 3, 5)) * 3).astype(dtype)
    written = loaders.write_idx(array, tmp_path / name)
    data = (tmp_path / name).read_bytes()
    assert written == len(data)
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    # The layout of the format, byte for byte: the reference encoder above.
    code = {np.dtype(v).newbyteorder("="): k for k, v in loaders.IDX_TYPES.items()}[
        np.dtype(dtype)]
    assert data == idx_bytes(array, code)
    back = loaders.read_idx(data)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)


def test_write_idx_refuses_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=r"IDX has no element type for uint16: convert"):
        loaders.write_idx(np.zeros(3, np.uint16), tmp_path / "x-idx1-ubyte")
    with pytest.raises(ValueError, match=r"1 to 255 dimensions .* not the shape \(\)"):
        loaders.write_idx(np.uint8(3), tmp_path / "x-idx1-ubyte")
    assert not (tmp_path / "x-idx1-ubyte").exists()


def test_synthetic_images_are_distinct_deterministic_images():
    images = loaders.synthetic_images(3000, (12, 10), seed=5)
    assert images.shape == (3000, 12, 10) and images.dtype == np.uint8
    assert len(np.unique(images.reshape(3000, -1), axis=0)) == 3000
    assert np.array_equal(images, loaders.synthetic_images(3000, (12, 10), seed=5))
    assert not np.array_equal(images, loaders.synthetic_images(3000, (12, 10), seed=6))
    # Shapes on a dark background: every image has lit pixels, at the levels drawn, and dark
    # ones; the levels cover the range asked for.
    lit = images > 0
    assert lit.any(axis=(1, 2)).all() and (~lit).any(axis=(1, 2)).all()
    assert images[lit].min() >= 64 and images.max() == 255
    # A set small enough for repeats: tiny images repeat when drawn, and are drawn again.
    tiny = loaders.synthetic_images(400, (4, 4), seed=1)
    assert len(np.unique(tiny.reshape(400, -1), axis=0)) == 400
    assert loaders.synthetic_images(0).shape == (0, 28, 28)
    with pytest.raises(ValueError, match=r"count >= 0 and sides of at least 4 pixels, not -1"):
        loaders.synthetic_images(-1)


def test_synthetic_images_learned_through_an_idx_file(tmp_path):
    images = loaders.synthetic_images(50, seed=2)
    loaders.write_idx(images, tmp_path / "synthetic-images-idx3-ubyte.gz")
    dataset = load(tmp_path / "synthetic-images-idx3-ubyte.gz")
    assert dataset.kind == Kind.IMAGE and dataset.record_size == 784 and dataset.count == 50
    assert np.array_equal(dataset.decode(), images)


def test_idx_damage(tmp_path):
    good = idx_bytes(np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "short-idx3-ubyte").write_bytes(good[:-5])
    with pytest.raises(DataError, match=r"the IDX header says 3x4x4 uint8 \(48 bytes of data\) "
                                        r"but the file holds 43: it is truncated"):
        load(tmp_path / "short-idx3-ubyte")
    (tmp_path / "magic-idx3-ubyte").write_bytes(b"\x08\x03\0\0" + good[4:])
    with pytest.raises(DataError, match=r"is not an IDX file: its magic number is 08030000"):
        load(tmp_path / "magic-idx3-ubyte")
    (tmp_path / "gz-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:-8])
    with pytest.raises(DataError, match=r"damaged gzip data"):
        load(tmp_path / "gz-idx3-ubyte.gz")


def test_idx_as_bytes_is_said(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((2, 2, 2))))
    notes = Notes()
    load(tmp_path / "train-images-idx3-ubyte", notes, kind="bytes", record_size=4)
    assert "looks like an IDX file: learning it as bytes, its header included" in notes.joined()


def test_stdin_is_recognised_by_content(tmp_path, monkeypatch):
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(
        idx_bytes(images)))))
    notes = Notes()
    assert np.array_equal(load("-", notes).decode(), images)
    assert "from - (gzip+IDX)" in notes.joined()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello\nworld\n")))
    with pytest.raises(DataError, match=r"cannot tell what standard input holds .* give --kind"):
        load("-")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"hello\nworld\n")))
    assert load("-", kind="text").decode() == ["hello", "world"]


# Kinds and capacity -------------------------------------------------------------------------

def test_unknown_extension_is_said(tmp_path):
    (tmp_path / "data.json").write_text('{"a": 1}')
    notes = Notes()
    dataset = load(tmp_path / "data.json", notes)
    assert dataset.kind == Kind.BYTES
    assert "not a format MemGEN reads by name" in notes.joined()
    assert "learning its raw bytes; --kind chooses" in notes.joined()


def test_capacity_checked_before_heavy_work(monkeypatch, tmp_path):
    def never(count):
        raise AssertionError("computed digits of pi for a data set that does not fit")

    monkeypatch.setattr(codecs, "pi_digits", never)
    start = time.monotonic()
    prepared = loaders.prepare("pi:300000", Options())
    with pytest.raises(DataError, match=r"data set needs 300000 bytes, the device holds 8192"):
        prepared.load(8192)
    assert time.monotonic() - start < 1
    (tmp_path / "small.bin").write_bytes(b"abc")
    # A 3 GB record of padding is never allocated: the capacity check comes first.
    prepared = loaders.prepare(tmp_path / "small.bin", Options(record_size=3 * 10 ** 9))
    with pytest.raises(DataError, match=r"needs 3000000000 bytes, the device holds 8192"):
        prepared.load(8192)
    with pytest.raises(DataError, match=r"record size .* does not fit the header's 32 bits"):
        loaders.prepare(tmp_path / "small.bin", Options(record_size=10 ** 12))


def test_first_takes_a_slice_and_the_capacity_error_names_it(tmp_path):
    images = np.zeros((20, 28, 28), np.uint8)
    (tmp_path / "x-idx3-ubyte").write_bytes(idx_bytes(images))
    with pytest.raises(DataError, match=r"needs 15680 bytes, the device holds 8192; use "
                                        r"--first 10 to learn a slice that fits"):
        loaders.prepare(tmp_path / "x-idx3-ubyte", Options()).load(8192)
    assert loaders.prepare(tmp_path / "x-idx3-ubyte", Options(first=10)).load(8192).count == 10


def test_48_bit_png_is_said_not_silently_truncated(tmp_path):
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", 1, 1, 16, 2, 0, 0, 0)      # 1x1, 16 bits, RGB
    pixel = b"\0" + bytes([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc])
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(pixel))
           + chunk(b"IEND", b""))
    (tmp_path / "deep.png").write_bytes(png)
    notes = Notes()
    assert load(tmp_path / "deep.png", notes).decode()[0, 0, 0].tolist() == [0x12, 0x56, 0x9a]
    assert "a 16-bit-per-channel RGB image; Pillow reads the high byte" in notes.joined()
    with pytest.raises(DataError, match=r"16-bit-per-channel RGB PNG, which Pillow reads only "
                                        r"at 8 bits: convert it to a \.npy array"):
        load(tmp_path / "deep.png", dtype="uint16")


def test_reading_many_images_says_how_far_it_got(tmp_path, monkeypatch):
    for index in range(4):
        Image.fromarray(np.full((2, 2), index, np.uint8)).save(tmp_path / f"{index}.png")
    monkeypatch.setattr(loaders, "PROGRESS_SECONDS", 0.0)
    notes = Notes()
    load(tmp_path, notes)
    assert [n for n in notes if n.startswith("reading images")] == [
        f"reading images: {i} of 4" for i in range(4)]


def test_flat_data_argument_conflicts_are_refused_before_loading(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"abc")
    with pytest.raises(DataError, match=r"--one-shot stores everything in one record"):
        loaders.prepare(tmp_path / "data.bin", Options(one_shot=True, record_size=2))
    with pytest.raises(DataError, match=r"--digits applies to pi only, not bytes data"):
        loaders.prepare(tmp_path / "data.bin", Options(digits=5))
