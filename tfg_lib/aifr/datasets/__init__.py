"""Data sets of Part B: MNIST, CACD, FG-NET and LFW read from local folders, plus splits.

Every data set yields ``(image, identity, age)`` and exposes ``samples``, ``labels``, ``ages``
and ``subset(indices)``; see :mod:`tfg_lib.aifr.datasets.base`. Nothing here downloads data.
"""

from tfg_lib.aifr.datasets.augment import AugmentedToK, augment_to_k
from tfg_lib.aifr.datasets.base import DatasetSubset, FaceDatasetBase
from tfg_lib.aifr.datasets.cacd import CACD
from tfg_lib.aifr.datasets.embedded import embedded_mnist_path, load_embedded_mnist
from tfg_lib.aifr.datasets.fgnet import FGNET
from tfg_lib.aifr.datasets.fixtures import make_face_fixture
from tfg_lib.aifr.datasets.folder import DatasetFileWarning, FolderDataset
from tfg_lib.aifr.datasets.lfw import LFW
from tfg_lib.aifr.datasets.mnist import EmbeddedMNIST, MNISTFolder
from tfg_lib.aifr.datasets.splits import identity_kfold, split_by_identity
from tfg_lib.aifr.datasets.transforms import face_transform, mnist_transform

__all__ = [
    "CACD",
    "FGNET",
    "LFW",
    "AugmentedToK",
    "DatasetFileWarning",
    "DatasetSubset",
    "EmbeddedMNIST",
    "FaceDatasetBase",
    "FolderDataset",
    "MNISTFolder",
    "augment_to_k",
    "embedded_mnist_path",
    "face_transform",
    "identity_kfold",
    "load_embedded_mnist",
    "make_face_fixture",
    "mnist_transform",
    "split_by_identity",
]
