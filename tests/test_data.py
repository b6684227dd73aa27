"""The MNIST loader on small IDX files written here: every way a file can be wrong."""
from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from mnistgen.training import data
from mnistgen.training.data import DataError, load_split


def _idx_images(images: np.ndarray, magic: int = 2051) -> bytes:
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray, magic: int = 2049) -> bytes:
    return struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A 5-image 'test split' with matching checksums, gzipped like the real files."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5])
    raw = {"t10k-images-idx3-ubyte": _idx_images(images), "t10k-labels-idx1-ubyte": _idx_labels(labels)}
    files = dict(data.FILES)
    for name, payload in raw.items():
        files[name] = (hashlib.md5(payload).hexdigest(), files[name][1], 5)
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(payload))
    monkeypatch.setattr(data, "FILES", files)
    return tmp_path, images, labels, raw


def test_good_files_load(tiny):
    directory, images, labels, _ = tiny
    split = load_split("test", directory)
    np.testing.assert_array_equal(split.images, images)
    np.testing.assert_array_equal(split.labels, labels)
    unit = split.unit_images()
    assert unit.shape == (5, 1, 28, 28) and unit.dtype == np.float32 and 0 <= unit.min() <= unit.max() <= 1


def test_raw_uncompressed_files_load(tiny):
    directory, images, _, raw = tiny
    for name, payload in raw.items():
        (directory / f"{name}.gz").unlink()
        (directory / name).write_bytes(payload)
    np.testing.assert_array_equal(load_split("test", directory).images, images)


def test_wrong_magic(tiny):
    directory, images, _, _ = tiny
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_images(images, magic=2049)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: wrong IDX magic number 2049 \(expected 2051\)"):
        load_split("test", directory)


def test_truncated_data(tiny):
    directory, _, _, raw = tiny
    payload = raw["t10k-images-idx3-ubyte"][:-100]
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(payload))
    with pytest.raises(DataError, match=r"bytes, expected 3936 \(truncated or padded\)"):
        load_split("test", directory)


def test_truncated_gzip(tiny):
    directory, _, _, _ = tiny
    path = directory / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match="cannot be read as an IDX file"):
        load_split("test", directory)


def test_wrong_checksum(tiny):
    directory, _, labels, _ = tiny
    flipped = labels.copy()
    flipped[0] = 7  # a mislabelled file: right size and header, wrong content
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_labels(flipped)))
    with pytest.raises(DataError, match="checksum mismatch .* the file is corrupt"):
        load_split("test", directory)


def test_wrong_image_size(tiny):
    directory, _, _, _ = tiny
    small = np.zeros((5, 27, 27), dtype=np.uint8)
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_images(small)))
    with pytest.raises(DataError, match=r"images are 27x27 \(expected 28x28\)"):
        load_split("test", directory)


def test_missing_directory_names_the_files(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as error:
        load_split("train", missing)
    message = str(error.value)
    assert str(missing) in message and "\n" not in message
    for name in data.FILES:
        assert name in message


def test_env_var_is_used(tiny, monkeypatch):
    directory, images, _, _ = tiny
    monkeypatch.setenv(data.ENV_VAR, str(directory))
    np.testing.assert_array_equal(load_split("test").images, images)


def test_limit_and_real_train_split(mnist_dir):
    split = load_split("train", mnist_dir, limit=100)
    assert split.images.shape == (100, 28, 28) and split.labels.dtype == np.int64
    assert set(split.labels) <= set(range(10))
