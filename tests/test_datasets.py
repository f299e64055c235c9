"""Tests of the IDX, digits, CSV and NPY loaders in stochastic_quantization.datasets."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from stochastic_quantization.datasets import (
    FASHION_MNIST_FOLDER,
    ImageDataset,
    load_dataset,
    load_digits_images,
    load_idx_folder,
    load_samples,
    read_idx,
)

# IDX type code of each NumPy dtype code, the inverse of the table in read_idx.
IDX_TYPE_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise an array in IDX format: magic number, big-endian sizes, big-endian data."""
    type_code = IDX_TYPE_CODES[array.dtype.str[1:]]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    content = idx_bytes(array)
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def write_idx_folder(
    folder: Path,
    n_train: int = 12,
    n_test: int = 5,
    separator: str = "-",
    compress: bool = True,
) -> dict[str, np.ndarray]:
    """Write four small IDX files in the MNIST layout and return the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images": rng.integers(0, 256, size=(n_train, 6, 5), dtype=np.uint8),
        "train-labels": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "t10k-images": rng.integers(0, 256, size=(n_test, 6, 5), dtype=np.uint8),
        "t10k-labels": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    suffix = ".gz" if compress else ""
    for stem, array in arrays.items():
        name = f"{stem}{separator}idx{array.ndim}-ubyte{suffix}"
        write_idx(folder / name, array, compress=compress)
    return arrays


# --- read_idx ---------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_read_idx_round_trip(tmp_path, compress, dtype):
    rng = np.random.default_rng(1)
    expected = (rng.normal(size=(4, 3, 2)) * 50).astype(dtype)
    path = write_idx(tmp_path / "data.idx", expected, compress=compress)

    result = read_idx(path)

    assert result.shape == (4, 3, 2)
    assert result.dtype == np.dtype(dtype).newbyteorder("=")
    assert result.dtype.isnative
    np.testing.assert_array_equal(result, expected)


def test_read_idx_detects_gzip_without_suffix(tmp_path):
    expected = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "labels-idx1-ubyte", expected, compress=True)

    np.testing.assert_array_equal(read_idx(path), expected)


def test_read_idx_plain_file_with_gz_suffix(tmp_path):
    expected = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "labels-idx1-ubyte.gz", expected, compress=False)

    np.testing.assert_array_equal(read_idx(path), expected)


def test_read_idx_result_is_writeable(tmp_path):
    path = write_idx(tmp_path / "data.idx", np.zeros((2, 2), dtype=np.uint8))

    assert read_idx(path).flags.writeable


def test_read_idx_expected_ndim(tmp_path):
    path = write_idx(tmp_path / "labels.idx", np.zeros(7, dtype=np.uint8))

    assert read_idx(path, expected_ndim=1).shape == (7,)
    with pytest.raises(ValueError, match=r"expected 3 dimensions in the IDX header, found 1"):
        read_idx(path, expected_ndim=3)


MALFORMED_IDX_CASES = {
    "empty": (b"", r"invalid IDX magic number.*\(empty file\)"),
    "nonzero magic": (
        b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00",
        r"invalid IDX magic number",
    ),
    "unknown type code": (
        b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00",
        r"invalid IDX type code 0x07",
    ),
    "zero dimensions": (b"\x00\x00\x08\x00", r"declares 0 dimensions, expected at least 1"),
    "truncated header": (
        b"\x00\x00\x08\x03" + struct.pack(">I", 2),
        r"truncated IDX header: expected 16 bytes",
    ),
    "truncated payload": (
        b"\x00\x00\x08\x02" + struct.pack(">2I", 3, 4) + bytes(11),
        r"payload size does not match.*\(3, 4\).*needs 12 bytes, found 11",
    ),
    "trailing bytes": (
        b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes(3),
        r"payload size does not match.*needs 2 bytes, found 3",
    ),
    "truncated int32 payload": (
        b"\x00\x00\x0c\x01" + struct.pack(">I", 2) + bytes(7),
        r"needs 8 bytes, found 7",
    ),
}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", MALFORMED_IDX_CASES, ids=list(MALFORMED_IDX_CASES))
def test_read_idx_malformed(tmp_path, case, compress):
    content, message = MALFORMED_IDX_CASES[case]
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(gzip.compress(content) if compress else content)

    with pytest.raises(ValueError, match=message) as error:
        read_idx(path)

    assert str(path) in str(error.value)


def test_read_idx_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])

    with pytest.raises(ValueError, match=r"invalid or truncated gzip stream") as error:
        read_idx(path)

    assert str(path) in str(error.value)


def test_read_idx_corrupt_gzip_checksum(tmp_path):
    compressed = bytearray(gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8))))
    compressed[-8] ^= 0xFF  # the CRC-32 of the uncompressed data
    path = tmp_path / "corrupt.gz"
    path.write_bytes(bytes(compressed))

    with pytest.raises(ValueError, match=r"invalid or truncated gzip stream"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    path = tmp_path / "absent-idx1-ubyte"

    with pytest.raises(FileNotFoundError, match="IDX file not found") as error:
        read_idx(path)

    assert str(path) in str(error.value)


# --- load_idx_folder --------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["-", "."])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_load_idx_folder_round_trip(tmp_path, separator, compress):
    arrays = write_idx_folder(tmp_path, separator=separator, compress=compress)

    dataset = load_idx_folder(tmp_path)

    assert isinstance(dataset, ImageDataset)
    assert dataset.name == tmp_path.name
    assert dataset.image_shape == (6, 5)
    assert dataset.train_images.dtype == np.float32
    assert dataset.test_images.dtype == np.float32
    assert dataset.train_labels.dtype == np.int64
    assert dataset.test_labels.dtype == np.int64
    np.testing.assert_allclose(dataset.train_images, arrays["train-images"] / 255, rtol=1e-6)
    np.testing.assert_allclose(dataset.test_images, arrays["t10k-images"] / 255, rtol=1e-6)
    np.testing.assert_array_equal(dataset.train_labels, arrays["train-labels"])
    np.testing.assert_array_equal(dataset.test_labels, arrays["t10k-labels"])


def test_load_idx_folder_flat(tmp_path):
    write_idx_folder(tmp_path, n_train=12, n_test=5)
    dataset = load_idx_folder(tmp_path)

    train, test = dataset.flat()

    assert train.shape == (12, 30)
    assert test.shape == (5, 30)
    np.testing.assert_array_equal(train[3], dataset.train_images[3].ravel())


def test_load_idx_folder_missing_file(tmp_path):
    write_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()

    with pytest.raises(FileNotFoundError) as error:
        load_idx_folder(tmp_path)

    message = str(error.value)
    assert str(tmp_path) in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert "t10k-labels.idx1-ubyte" in message


def test_load_idx_folder_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX folder not found") as error:
        load_idx_folder(tmp_path / "absent")

    assert str(tmp_path / "absent") in str(error.value)


def test_load_idx_folder_label_count_mismatch(tmp_path):
    write_idx_folder(tmp_path, n_train=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8), compress=True)

    with pytest.raises(ValueError, match=r"has 11 labels but .*train-images.* has 12 images"):
        load_idx_folder(tmp_path)


def test_load_idx_folder_wrong_dimension_count(tmp_path):
    write_idx_folder(tmp_path)
    write_idx(
        tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 30), dtype=np.uint8), compress=True
    )

    with pytest.raises(ValueError, match=r"t10k-images.*expected 3 dimensions.*found 2"):
        load_idx_folder(tmp_path)


def test_load_idx_folder_non_uint8_images(tmp_path):
    write_idx_folder(tmp_path)
    write_idx(
        tmp_path / "train-images-idx3-ubyte.gz", np.zeros((12, 6, 5), dtype=">f4"), compress=True
    )

    with pytest.raises(ValueError, match=r"train-images.*expected uint8 pixel data"):
        load_idx_folder(tmp_path)


def test_load_idx_folder_image_size_mismatch(tmp_path):
    write_idx_folder(tmp_path)
    write_idx(
        tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((5, 4, 4), dtype=np.uint8), compress=True
    )

    with pytest.raises(ValueError, match=r"train and test images differ in size"):
        load_idx_folder(tmp_path)


def test_load_dataset_idx_spec(tmp_path):
    write_idx_folder(tmp_path, n_train=12, n_test=5)

    dataset = load_dataset(f"idx:{tmp_path}")

    assert dataset.train_images.shape == (12, 6, 5)
    assert dataset.test_images.shape == (5, 6, 5)


# --- Fashion-MNIST ----------------------------------------------------------------------


@pytest.mark.skipif(
    not FASHION_MNIST_FOLDER.is_dir(),
    reason=f"Fashion-MNIST IDX files not installed in {FASHION_MNIST_FOLDER}",
)
def test_load_dataset_fashion_mnist():
    dataset = load_dataset("fashion-mnist")

    assert dataset.name == "fashion-mnist"
    assert dataset.train_images.shape == (60000, 28, 28)
    assert dataset.test_images.shape == (10000, 28, 28)
    assert dataset.train_images.dtype == np.float32
    assert dataset.train_images.min() == 0.0
    assert dataset.train_images.max() == 1.0
    assert dataset.train_labels.dtype == np.int64
    # Both Fashion-MNIST splits are balanced: 6000 and 1000 images per class.
    np.testing.assert_array_equal(np.bincount(dataset.train_labels), np.full(10, 6000))
    np.testing.assert_array_equal(np.bincount(dataset.test_labels), np.full(10, 1000))


# --- digits -----------------------------------------------------------------------------


def test_load_digits_images_shapes():
    dataset = load_digits_images()

    assert dataset.name == "digits"
    assert dataset.train_images.shape == (1347, 8, 8)
    assert dataset.test_images.shape == (450, 8, 8)
    assert dataset.train_images.dtype == np.float32
    assert dataset.train_labels.dtype == np.int64
    assert dataset.train_images.min() == 0.0
    assert dataset.train_images.max() == 1.0
    assert set(np.unique(dataset.test_labels)) == set(range(10))


def test_load_digits_images_stratified():
    dataset = load_digits_images(test_size=0.5, random_state=3)

    train_counts = np.bincount(dataset.train_labels, minlength=10)
    test_counts = np.bincount(dataset.test_labels, minlength=10)
    assert np.abs(train_counts - test_counts).max() <= 1


def test_load_digits_images_seeded():
    first = load_digits_images(random_state=7)
    second = load_digits_images(random_state=7)

    np.testing.assert_array_equal(first.train_labels, second.train_labels)
    np.testing.assert_array_equal(first.test_images, second.test_images)


def test_load_dataset_digits():
    assert load_dataset("digits").image_shape == (8, 8)


@pytest.mark.parametrize("spec", ["mnist", "idx:", "IDX:/tmp", "", "digits "])
def test_load_dataset_invalid_spec(spec):
    with pytest.raises(
        ValueError,
        match=r"invalid data set specification.*'digits', 'fashion-mnist' or 'idx:<folder>'",
    ):
        load_dataset(spec)


# --- ImageDataset -----------------------------------------------------------------------


def test_image_dataset_label_count_mismatch():
    images = np.zeros((3, 2, 2), dtype=np.float32)

    with pytest.raises(ValueError, match=r"train_labels must have shape \(3,\)"):
        ImageDataset(
            images, np.zeros(2, dtype=np.int64), images, np.zeros(3, dtype=np.int64), "toy"
        )


def test_image_dataset_is_frozen():
    images = np.zeros((3, 2, 2), dtype=np.float32)
    labels = np.zeros(3, dtype=np.int64)
    dataset = ImageDataset(images, labels, images, labels, "toy")

    with pytest.raises(AttributeError):
        dataset.name = "other"


# --- load_samples -----------------------------------------------------------------------


def test_load_samples_npy_memory_mapped(tmp_path):
    expected = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = tmp_path / "samples.npy"
    np.save(path, expected)

    samples = load_samples(path)

    assert isinstance(samples, np.memmap)
    assert not samples.flags.writeable
    assert samples.dtype == np.float32
    np.testing.assert_array_equal(samples, expected)


def test_load_samples_npy_uppercase_suffix(tmp_path):
    path = tmp_path / "SAMPLES.NPY"
    with open(path, "wb") as file:
        np.save(file, np.ones((2, 2)))

    assert load_samples(path).shape == (2, 2)


def test_load_samples_npy_object_array(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[1, "a"]], dtype=object), allow_pickle=True)

    with pytest.raises(ValueError, match=r"objects.npy: failed to read as a .npy array"):
        load_samples(path)


def test_load_samples_npy_garbage(tmp_path):
    path = tmp_path / "garbage.npy"
    path.write_bytes(b"not an npy file")

    with pytest.raises(ValueError, match=r"garbage.npy: failed to read as a .npy array"):
        load_samples(path)


def test_load_samples_npy_one_dimensional(tmp_path):
    path = tmp_path / "vector.npy"
    np.save(path, np.arange(5.0))

    with pytest.raises(ValueError, match=r"expected a 2-D array.*found shape \(5,\)"):
        load_samples(path)


def test_load_samples_npy_string_dtype(tmp_path):
    path = tmp_path / "strings.npy"
    np.save(path, np.array([["a", "b"]]))

    with pytest.raises(ValueError, match=r"expected integer or floating-point samples"):
        load_samples(path)


def test_load_samples_csv_with_header(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("x,y,z\n1,2,3\n4.5,-5,6e1\n", encoding="utf-8")

    samples = load_samples(path)

    assert samples.dtype == np.float64
    np.testing.assert_array_equal(samples, [[1, 2, 3], [4.5, -5, 60]])


def test_load_samples_csv_without_header(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("1,2\n3,4\n", encoding="utf-8")

    np.testing.assert_array_equal(load_samples(path), [[1, 2], [3, 4]])


def test_load_samples_csv_utf8_bom(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("\ufeffa,b\n1,2\n", encoding="utf-8")

    np.testing.assert_array_equal(load_samples(path), [[1, 2]])


def test_load_samples_csv_single_column(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("value\n1\n2\n3\n", encoding="utf-8")

    assert load_samples(path).shape == (3, 1)


def test_load_samples_csv_single_row(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("1,2,3\n", encoding="utf-8")

    assert load_samples(path).shape == (1, 3)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"contains no data rows"),
        ("a,b\n", r"contains no data rows"),
        ("1,2\n3,x\n", r"failed to parse as comma-separated numbers"),
        ("1,2\n3,4,5\n", r"failed to parse as comma-separated numbers"),
    ],
    ids=["empty", "header only", "text in data", "ragged rows"],
)
def test_load_samples_csv_invalid(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ValueError, match=message) as error:
        load_samples(path)

    assert str(path) in str(error.value)


def test_load_samples_csv_not_utf8(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x01")

    with pytest.raises(ValueError, match=r"binary.csv: failed to parse as comma-separated numbers"):
        load_samples(path)


@pytest.mark.parametrize("name", ["samples.txt", "samples.npz", "samples"])
def test_load_samples_unsupported_suffix(tmp_path, name):
    path = tmp_path / name
    path.write_text("1,2\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"unsupported file type.*expected .npy or .csv"):
        load_samples(path)


@pytest.mark.parametrize("name", ["absent.npy", "absent.csv"])
def test_load_samples_missing_file(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="sample file not found") as error:
        load_samples(tmp_path / name)

    assert name in str(error.value)
