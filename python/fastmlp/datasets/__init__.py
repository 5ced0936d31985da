"""Datasets: MNIST, Fashion-MNIST, CIFAR-10 and the bundled Fashion-MNIST sample.

Each loader returns ``((x_train, y_train), (x_test, y_test))`` as uint8 NumPy arrays, the
way Keras's ``load_data()`` does.  See :func:`load_fashion_mnist` for the lookup order.
"""
from __future__ import annotations

from ._cifar import RestrictedUnpickler, parse_cifar_binary, parse_cifar_python
from ._download import DownloadError
from ._idx import read_idx
from ._loaders import (
    DATASETS,
    DatasetNotFoundError,
    cache_dir,
    find_local,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    search_dirs,
)
from ._sample import SAMPLE_PATH, load_sample

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

_LOADERS = {
    "sample": load_sample,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}
CLASS_NAMES = {
    "sample": FASHION_MNIST_CLASSES,
    "mnist": MNIST_CLASSES,
    "fashion-mnist": FASHION_MNIST_CLASSES,
    "cifar10": CIFAR10_CLASSES,
}


def load(name: str, **kwargs):
    """Load a dataset by name: ``"sample"``, ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(_LOADERS)}") from None
    return loader(**kwargs)


__all__ = [
    "load",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_sample",
    "read_idx",
    "parse_cifar_binary",
    "parse_cifar_python",
    "RestrictedUnpickler",
    "DatasetNotFoundError",
    "DownloadError",
    "DATASETS",
    "search_dirs",
    "cache_dir",
    "find_local",
    "SAMPLE_PATH",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "CLASS_NAMES",
]
