"""Data loaders for the clustering CLI and the semi-supervised image experiment.

The image loaders return an :class:`ImageDataset` with float32 images scaled to [0, 1].
Sources are scikit-learn's bundled 8x8 digits and folders of MNIST-format IDX files such
as Fashion-MNIST. Nothing is downloaded: every loader reads local files only.

This module needs only NumPy and scikit-learn.
"""

from __future__ import annotations

import gzip
import math
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

FASHION_MNIST_FOLDER = Path("/usr/share/datasets/fashion-mnist")

# IDX type codes of the MNIST format description, as quoted in the Praat manual
# (https://www.fon.hum.uva.nl/praat/manual/IDX_file_format.html). Sizes and multi-byte
# values are big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# Stem of each IDX file in a folder and the IDX dimension count its data must have.
_IDX_SPLITS = {
    "train_images": ("train-images", 3),
    "train_labels": ("train-labels", 1),
    "test_images": ("t10k-images", 3),
    "test_labels": ("t10k-labels", 1),
}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """Grey-scale images with integer class labels, split into train and test parts.

    ``frozen`` stops reassigning the fields. The arrays themselves stay writeable.

    Attributes
    ----------
    train_images : ndarray of shape (n_train, height, width), dtype float32
        Pixel intensities scaled to [0, 1].
    train_labels : ndarray of shape (n_train,), dtype int64
    test_images : ndarray of shape (n_test, height, width), dtype float32
    test_labels : ndarray of shape (n_test,), dtype int64
    name : str
        Short name of the source, for example ``"digits"`` or ``"fashion-mnist"``.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    name: str

    def __post_init__(self) -> None:
        for part in ("train", "test"):
            images = getattr(self, f"{part}_images")
            labels = getattr(self, f"{part}_labels")
            if images.ndim != 3:
                raise ValueError(
                    f"{part}_images must have shape (n, height, width), got shape {images.shape}"
                )
            if labels.shape != (len(images),):
                raise ValueError(
                    f"{part}_labels must have shape ({len(images)},) to match {part}_images, "
                    f"got shape {labels.shape}"
                )
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise ValueError(
                f"train and test images differ in size: {self.train_images.shape[1:]} "
                f"vs {self.test_images.shape[1:]}"
            )

    @property
    def image_shape(self) -> tuple[int, int]:
        """Image size as (height, width)."""
        height, width = self.train_images.shape[1:]
        return height, width

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """Return train and test images with each image flattened to one row.

        Returns
        -------
        train : ndarray of shape (n_train, height * width), dtype float32
        test : ndarray of shape (n_test, height * width), dtype float32
            Views of the stored arrays when they are C-contiguous, copies otherwise.
        """
        n_pixels = self.image_shape[0] * self.image_shape[1]
        return (
            self.train_images.reshape(len(self.train_images), n_pixels),
            self.test_images.reshape(len(self.test_images), n_pixels),
        )


def read_idx(path: PathLike, *, expected_ndim: int | None = None) -> np.ndarray:
    """Parse one MNIST-format IDX file, gzip-compressed or not.

    Compression is detected from the gzip magic bytes, so the file name does not matter.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file.
    expected_ndim : int, optional
        Dimension count the header must declare, for example 3 for images and 1 for labels.

    Returns
    -------
    ndarray of shape given by the header
        The data in native byte order, with the dtype given by the header's type code
        (uint8 for MNIST and Fashion-MNIST).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the gzip stream is corrupt, the magic number or type code is invalid, the
        dimension count differs from ``expected_ndim``, or the payload size differs from
        the size declared by the header. The message names the file.
    """
    path = Path(path)
    content = _read_maybe_gzipped(path)

    if len(content) < 4 or content[0:2] != b"\x00\x00":
        raise ValueError(
            f"{path}: invalid IDX magic number: expected 0x0000 followed by a type code and "
            f"a dimension count, found bytes {content[:4].hex() or '(empty file)'}"
        )
    type_code, ndim = content[2], content[3]
    if type_code not in _IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in _IDX_DTYPES)
        raise ValueError(
            f"{path}: invalid IDX type code 0x{type_code:02X}, expected one of {known}"
        )
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header declares 0 dimensions, expected at least 1")
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(
            f"{path}: expected {expected_ndim} dimensions in the IDX header, found {ndim}"
        )

    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise ValueError(
            f"{path}: truncated IDX header: expected {header_size} bytes for {ndim} "
            f"dimensions, found {len(content)}"
        )
    shape = tuple(int(size) for size in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))

    dtype = _IDX_DTYPES[type_code]
    expected_bytes = math.prod(shape) * dtype.itemsize
    found_bytes = len(content) - header_size
    if found_bytes != expected_bytes:
        raise ValueError(
            f"{path}: IDX payload size does not match the header: shape {shape} of "
            f"{dtype.name} needs {expected_bytes} bytes, found {found_bytes}"
        )

    data = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _read_maybe_gzipped(path: Path) -> bytes:
    """Read the whole file, decompressing it when it starts with the gzip magic bytes."""
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    with open(path, "rb") as file:
        is_gzip = file.read(2) == _GZIP_MAGIC
    if not is_gzip:
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as file:
            return file.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path}: invalid or truncated gzip stream: {error}") from error


def _idx_candidate_names(stem: str, ndim: int) -> list[str]:
    """List the accepted file names for one split, in order of preference."""
    names = []
    for separator in ("-", "."):
        for compression in ("", ".gz"):
            names.append(f"{stem}{separator}idx{ndim}-ubyte{compression}")
    return names


def _find_idx_file(folder: Path, stem: str, ndim: int) -> Path:
    candidates = _idx_candidate_names(stem, ndim)
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no {stem} IDX file in {folder}: expected one of {', '.join(candidates)}"
    )


def _scale_uint8_images(images: np.ndarray, path: Path) -> np.ndarray:
    if images.dtype != np.uint8:
        raise ValueError(
            f"{path}: expected uint8 pixel data (type code 0x08), found {images.dtype}"
        )
    return np.divide(images, 255, dtype=np.float32)


def _integer_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: expected integer labels, found {labels.dtype}")
    return labels.astype(np.int64)


def load_idx_folder(folder: PathLike) -> ImageDataset:
    """Load a folder of MNIST-format IDX files, such as Fashion-MNIST.

    The folder must contain four files named ``train-images``, ``train-labels``,
    ``t10k-images`` and ``t10k-labels``, each followed by ``-idx3-ubyte`` (images) or
    ``-idx1-ubyte`` (labels). A ``.`` may replace the ``-`` before ``idx``, and each file
    may be gzip-compressed with a ``.gz`` suffix.

    Parameters
    ----------
    folder : str or os.PathLike

    Returns
    -------
    ImageDataset
        Images as float32 in [0, 1] (uint8 pixels divided by 255) and labels as int64.
        The name is the folder's base name.

    Raises
    ------
    FileNotFoundError
        If the folder or one of the four files is missing. The message lists the
        accepted file names.
    ValueError
        If a file is malformed, images are not uint8, labels are not integers, or a
        label count differs from its image count.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"IDX folder not found: {folder}. Pass the folder that contains the "
            f"train-images, train-labels, t10k-images and t10k-labels IDX files"
        )

    arrays = {}
    for field, (stem, ndim) in _IDX_SPLITS.items():
        path = _find_idx_file(folder, stem, ndim)
        data = read_idx(path, expected_ndim=ndim)
        if ndim == 3:
            arrays[field] = _scale_uint8_images(data, path)
        else:
            arrays[field] = _integer_labels(data, path)
        arrays[f"{field}_path"] = path

    for part in ("train", "test"):
        n_images = len(arrays[f"{part}_images"])
        n_labels = len(arrays[f"{part}_labels"])
        if n_images != n_labels:
            raise ValueError(
                f"{arrays[f'{part}_labels_path']} has {n_labels} labels but "
                f"{arrays[f'{part}_images_path']} has {n_images} images"
            )

    return ImageDataset(
        train_images=arrays["train_images"],
        train_labels=arrays["train_labels"],
        test_images=arrays["test_images"],
        test_labels=arrays["test_labels"],
        name=folder.resolve().name,
    )


def load_digits_images(test_size: float = 0.25, random_state: int | None = 0) -> ImageDataset:
    """Load scikit-learn's bundled 8x8 digits and split them into train and test parts.

    The split is stratified by class, so both parts keep the class proportions.

    Parameters
    ----------
    test_size : float, default=0.25
        Fraction of the 1797 images that goes to the test part.
    random_state : int or None, default=0
        Seed of the split. None gives a different split on each call.

    Returns
    -------
    ImageDataset
        Images of shape (n, 8, 8) as float32 in [0, 1] (the original 0..16 intensities
        divided by 16), labels 0..9 as int64, named ``"digits"``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.divide(digits.images, 16, dtype=np.float32)
    labels = digits.target.astype(np.int64)
    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=test_size, random_state=random_state, stratify=labels
    )
    return ImageDataset(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        name="digits",
    )


def load_dataset(spec: str) -> ImageDataset:
    """Load an image data set named by a short specification string.

    Parameters
    ----------
    spec : str
        One of ``"digits"`` (scikit-learn's 8x8 digits, see :func:`load_digits_images`),
        ``"fashion-mnist"`` (the IDX files in ``/usr/share/datasets/fashion-mnist``) or
        ``"idx:<folder>"`` (any folder accepted by :func:`load_idx_folder`).

    Returns
    -------
    ImageDataset

    Raises
    ------
    ValueError
        If ``spec`` has none of the accepted forms.
    FileNotFoundError
        If the IDX folder or one of its files is missing.
    """
    if spec == "digits":
        return load_digits_images()
    if spec == "fashion-mnist":
        return load_idx_folder(FASHION_MNIST_FOLDER)
    if spec.startswith("idx:") and len(spec) > len("idx:"):
        return load_idx_folder(spec[len("idx:") :])
    raise ValueError(
        f"invalid data set specification {spec!r}: expected 'digits', 'fashion-mnist' "
        f"or 'idx:<folder>'"
    )


def load_samples(path: PathLike) -> np.ndarray:
    """Load a numeric sample matrix from a ``.npy`` or ``.csv`` file.

    A ``.npy`` file is memory-mapped read-only, so a large file is not read into memory
    at once, and pickled object arrays are rejected. A ``.csv`` file is parsed with
    ``np.loadtxt`` (comma-separated, UTF-8) into float64. Its first row is skipped as a
    header when any of its fields is not a number.

    Parameters
    ----------
    path : str or os.PathLike
        File whose suffix, ``.npy`` or ``.csv`` in any letter case, selects the format.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        A read-only ``np.memmap`` with the stored dtype for ``.npy`` files, and a float64
        array for ``.csv`` files.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the suffix is neither ``.npy`` nor ``.csv``, the content cannot be parsed, the
        data is not two-dimensional, or its dtype is not integer or floating point.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv"):
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}, expected .npy or .csv")
    if not path.is_file():
        raise FileNotFoundError(f"sample file not found: {path}")

    samples = _load_npy(path) if suffix == ".npy" else _load_csv(path)

    if samples.dtype.kind not in "iuf":
        raise ValueError(
            f"{path}: expected integer or floating-point samples, found dtype {samples.dtype}"
        )
    if samples.ndim != 2:
        raise ValueError(
            f"{path}: expected a 2-D array of shape (n_samples, n_features), found shape "
            f"{samples.shape}. Reshape it before saving, for example with x.reshape(len(x), -1)"
        )
    return samples


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path}: failed to read as a .npy array: {error}") from error


def _load_csv(path: Path) -> np.ndarray:
    try:
        with open(path, encoding="utf-8-sig") as file:
            first_line = file.readline()
        skip_rows = 0 if _is_numeric_row(first_line) else 1
        # np.loadtxt only warns when the file has no data rows, so the size check below raises.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            samples = np.loadtxt(
                path,
                delimiter=",",
                skiprows=skip_rows,
                ndmin=2,
                dtype=np.float64,
                encoding="utf-8-sig",
            )
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: failed to parse as comma-separated numbers: {error}") from error
    if samples.size == 0:
        raise ValueError(f"{path}: the file contains no data rows")
    return samples


def _is_numeric_row(line: str) -> bool:
    if not line.strip():
        # np.loadtxt skips blank lines, so a blank first line is no header.
        return True
    try:
        for field in line.split(","):
            float(field)
    except ValueError:
        return False
    return True
