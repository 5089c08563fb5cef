"""Data sets and your own files as host NumPy arrays.

``load_mnist`` reads the copy of MNIST shipped inside the package (no network);
``load_fashion_mnist`` and ``load_kmnist`` download on demand with the optional
dependency pooch (``pip install "xpnet[datasets]"``); ``read_idx`` reads any IDX file; ``load_file``
reads your own ``.npz``, ``.csv`` or image folder (see :mod:`xpnet.datasets.files`).
Every file is checked against a pinned checksum before use. This subpackage imports
only NumPy (and pooch lazily, when downloading), never a device library.
"""

from __future__ import annotations

from xpnet.datasets.files import LoadedFile, load_file
from xpnet.datasets.idx import read_idx
from xpnet.datasets.mnist import load_mnist
from xpnet.datasets.remote import fetch_idx_dataset, load_fashion_mnist, load_kmnist

__all__ = [
    "LoadedFile",
    "fetch_idx_dataset",
    "load_fashion_mnist",
    "load_file",
    "load_kmnist",
    "load_mnist",
    "read_idx",
]
