"""EmbeddedMNIST and MNISTFolder against the raw arrays they are read from."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from tfg_lib.aifr.datasets import EmbeddedMNIST, MNISTFolder, load_embedded_mnist, mnist_transform
from tfg_lib.aifr.datasets.transforms import MNIST_MEAN, MNIST_STD


@pytest.fixture(scope="module")
def embedded():
    return EmbeddedMNIST(transform=mnist_transform(normalize=False))


def test_embedded_sizes_and_labels(embedded):
    assert len(embedded) == 5000
    assert embedded.labels.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(embedded.labels), np.full(10, 500))
    assert np.isnan(embedded.ages).all()
    assert embedded.samples.columns.tolist() == ["path", "name", "identity", "age"]
    assert (embedded.samples["path"] == "").all()
    assert (embedded.samples["name"] == embedded.samples["identity"].astype(str)).all()


def test_embedded_images_match_source_order(embedded):
    images, labels = load_embedded_mnist()
    for digit in (0, 7):
        reference = images[labels == digit]
        np.testing.assert_array_equal(embedded.images[embedded.labels == digit], reference)


@pytest.mark.parametrize("index", [0, 2499, 4999])
def test_embedded_item_is_scaled_digit(embedded, index):
    image, identity, age = embedded[index]
    assert image.shape == (1, 28, 28)
    assert image.dtype == torch.float32
    torch.testing.assert_close(image[0], torch.from_numpy(embedded.images[index]).float() / 255)
    assert identity == embedded.labels[index]
    assert np.isnan(age)


def test_embedded_default_transform_standardises():
    dataset = EmbeddedMNIST()
    image, _, _ = dataset[3]
    expected = (torch.from_numpy(dataset.images[3]).float() / 255 - MNIST_MEAN) / MNIST_STD
    torch.testing.assert_close(image[0], expected)


def test_embedded_subset_keeps_labels(embedded):
    part = embedded.subset(np.arange(495, 505))
    assert part.labels.tolist() == [0] * 5 + [1] * 5
    assert len(part.samples) == 10


def write_idx(path, array: np.ndarray) -> None:
    # IDX header: two zero bytes, type code 0x08 (unsigned byte), number of dimensions, then
    # each dimension as a big-endian 32-bit integer.
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_root(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train": (rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)),
        "t10k": (rng.integers(0, 256, (5, 28, 28)), np.array([3, 1, 3, 0, 9])),
    }
    for prefix, (images, labels) in arrays.items():
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return tmp_path, arrays


@pytest.mark.parametrize(("train", "prefix"), [(True, "train"), (False, "t10k")])
def test_folder_reads_idx_files(mnist_root, train, prefix):
    root, arrays = mnist_root
    images, labels = arrays[prefix]
    dataset = MNISTFolder(root, train=train)
    order = np.argsort(labels, kind="stable")
    np.testing.assert_array_equal(dataset.labels, labels[order])
    np.testing.assert_array_equal(dataset.images, images[order])
    assert dataset[0][0].shape == (1, 28, 28)


def test_folder_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        MNISTFolder(tmp_path / "absent")
    message = str(raised.value)
    assert "MNIST" in message
    assert "absent" in message
    assert "MNIST/raw" in message
    assert "download=True" in message


def test_folder_missing_file_names_it(mnist_root):
    root, _ = mnist_root
    raw = root / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte").rename(raw / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.*gunzip"):
        MNISTFolder(root)


def test_folder_train_must_be_bool(mnist_root):
    with pytest.raises(TypeError, match="train must be a bool"):
        MNISTFolder(mnist_root[0], train="yes")
