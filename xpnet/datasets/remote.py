"""MNIST-format data sets fetched on demand with pooch (optional): Fashion-MNIST and KMNIST."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from xpnet.datasets.mnist import FILE_NAMES, Split, _load_four_files
from xpnet.errors import DataIntegrityError, DataNotFoundError, XPNetError, XPNetTypeError, XPNetValueError, describe
from xpnet.io.cache import cache_root

__all__ = ["MissingDependencyError", "fetch_idx_dataset", "load_fashion_mnist", "load_kmnist"]

_F = TypeVar("_F", bound=Callable[..., Any])

# name -> (default base URL, {file name: "alg:hex" hash}).
REGISTRY: dict[str, tuple[str, dict[str, str]]] = {
    # MD5 sums published by the authors in the README of zalandoresearch/fashion-mnist.
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
    ),
    # URLs from the README / download_data.py of rois-codh/kmnist. The authors publish no
    # checksums; these MD5 sums are the ones torchvision pins (torchvision.datasets.KMNIST).
    "kmnist": (
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        {
            "train-images-idx3-ubyte.gz": "md5:bdb82020997e1d708af4cf47b453dcf7",
            "train-labels-idx1-ubyte.gz": "md5:e144d726b3acfaa3e44228e80efcd344",
            "t10k-images-idx3-ubyte.gz": "md5:5c965bf0a639b31b8f53240b1b52f4d7",
            "t10k-labels-idx1-ubyte.gz": "md5:7320c461ea6c1c855c0b718fb2a4b134",
        },
    ),
}


class MissingDependencyError(XPNetError, ImportError):
    """An optional dependency needed for this call is not installed."""


def _import_pooch() -> Any:
    """The pooch module, or MissingDependencyError saying how to install it."""
    try:
        import pooch
    except ImportError as exc:
        raise MissingDependencyError(
            "downloading data sets needs the optional dependency pooch, which is not "
            'installed. Install it with: pip install "xpnet[datasets]" (or pip install '
            "pooch), or pass path= a directory that already holds the files."
        ) from exc
    return pooch


def _cache_root(cache_dir: str | os.PathLike[str] | None, pooch: Any) -> Path:
    """`cache_dir`, else $XPNET_CACHE_DIR, else pooch's per-user cache for "xpnet" (the same folder)."""
    if cache_dir is not None:
        return Path(cache_dir)
    return cache_root() or Path(pooch.os_cache("xpnet"))


def _download(pooch: Any, name: str, url: str, known_hash: str, cache: Path) -> None:
    """Fetch one file into `cache` unless an intact copy is there; map errors to ours."""
    try:
        pooch.retrieve(url, known_hash=known_hash, fname=url.rsplit("/", 1)[-1], path=cache, progressbar=False)
    except OSError as exc:  # includes requests' ConnectionError, HTTPError, Timeout
        raise DataNotFoundError(
            f"could not download {url} for {name} ({type(exc).__name__}: {exc}). To work "
            f"offline, place the files {', '.join(FILE_NAMES)} in {cache} by hand (or pass "
            "path= a directory holding them)."
        ) from exc
    except ValueError as exc:
        if "does not match the known hash" not in str(exc):  # e.g. an unsupported URL scheme
            raise XPNetValueError(f"cannot fetch {url} for {name}: {exc}") from exc
        # pooch deleted the bad download, so nothing corrupt is left in the cache.
        raise DataIntegrityError(
            f"{url} for {name} failed its checksum: {exc} Nothing was stored in {cache}; "
            "retry later, or check base_url points at the official files."
        ) from exc


def fetch_idx_dataset(
    name: str,
    files: Mapping[str, str],
    base_url: str,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    flatten: bool = True,
    as_uint8: bool = False,
) -> tuple[Split, Split]:
    """Load an MNIST-format data set (four IDX ``.gz`` files), downloading it if needed.

    Parameters
    ----------
    name : str
        Data set name; the files are cached in ``<cache root>/<name>/``.
    files : Mapping[str, str]
        Known hash of each of the four files, keyed by ``train-images-idx3-ubyte.gz``,
        ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
        ``t10k-labels-idx1-ubyte.gz``; values ``"sha256:<hex>"`` or ``"md5:<hex>"``.
    base_url : str
        URL of the folder serving the files (a trailing ``/`` is added if missing).
    cache_dir : str, os.PathLike or None
        Cache root. If None, the ``XPNET_CACHE_DIR`` environment variable, else
        ``pooch.os_cache("xpnet")``.
    path : str, os.PathLike or None
        Directory already holding the four files: they are verified against `files`
        and read, with no network access and no need for pooch.
    flatten : bool
        If True (default) images have shape ``(n, rows*cols)``, else ``(n, rows, cols)``.
    as_uint8 : bool
        If True, raw uint8 pixels (read-only, shared with the in-process cache);
        if False (default), float32 in ``[0, 1]``.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuples of numpy.ndarray
        Images of shape ``(n, rows*cols)`` (or ``(n, rows, cols)``) and int64 labels of
        shape ``(n,)``; 60,000 training and 10,000 test 28 x 28 images for the
        registered data sets.

    Raises
    ------
    MissingDependencyError
        If a download is needed and pooch is not installed.
    DataNotFoundError
        If a file is neither cached nor downloadable; the message names the directory
        and the files to place there by hand.
    DataIntegrityError
        If a downloaded or supplied file fails its checksum or is not valid IDX.
    XPNetValueError, XPNetTypeError
        If `files` does not name exactly the four files, or an argument has a wrong type.
    """
    if not isinstance(name, str) or not name:
        raise XPNetTypeError(f"name must be a non-empty str, got {describe(name)}")
    if not isinstance(base_url, str):
        raise XPNetTypeError(f"base_url must be a str, got {describe(base_url)}")
    if set(files) != set(FILE_NAMES):
        raise XPNetValueError(
            f"files must map exactly {', '.join(FILE_NAMES)} to their hashes, got keys {describe(sorted(files))}"
        )
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise XPNetTypeError(f"path must be a str, os.PathLike or None, got {describe(path)}")
        return _load_four_files(Path(path), files, flatten=flatten, as_uint8=as_uint8)
    pooch = _import_pooch()
    cache = _cache_root(cache_dir, pooch) / name
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    for file_name in FILE_NAMES:
        _download(pooch, name, base_url + file_name, files[file_name], cache)
    return _load_four_files(cache, files, flatten=flatten, as_uint8=as_uint8)


def _load_registered(
    name: str,
    path: str | os.PathLike[str] | None,
    cache_dir: str | os.PathLike[str] | None,
    base_url: str | None,
    flatten: bool,
    as_uint8: bool,
) -> tuple[Split, Split]:
    """fetch_idx_dataset with the registry's URL and hashes for `name`."""
    default_url, files = REGISTRY[name]
    return fetch_idx_dataset(
        name, files, base_url or default_url, cache_dir, path=path, flatten=flatten, as_uint8=as_uint8
    )


_SHARED_DOC = """
    Parameters
    ----------
    path : str, os.PathLike or None
        Directory already holding the four IDX ``.gz`` files: verified against the
        pinned checksums and read without network access. If None, download.
    cache_dir : str, os.PathLike or None
        Cache root (files go to ``<cache_dir>/{name}/``). If None, the
        ``XPNET_CACHE_DIR`` environment variable, else ``pooch.os_cache("xpnet")``.
    base_url : str or None
        Mirror serving the four files; None uses the official URL.
    flatten : bool
        If True (default) images have shape ``(n, 784)``, else ``(n, 28, 28)``.
    as_uint8 : bool
        If True, raw uint8 pixels (read-only, shared with the in-process cache);
        if False (default), float32 in ``[0, 1]``.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuples of numpy.ndarray
        ``x_train`` ``(60000, 784)``, ``x_test`` ``(10000, 784)`` (or ``(n, 28, 28)``),
        ``y_train`` ``(60000,)`` and ``y_test`` ``(10000,)`` int64 labels in ``0..9``.

    Raises
    ------
    MissingDependencyError
        If a download is needed and pooch is not installed
        (``pip install "xpnet[datasets]"``).
    DataNotFoundError
        If offline and not cached; the message names the directory to fill by hand.
    DataIntegrityError
        If a file fails its checksum or is not valid IDX.
"""


def _with_shared_doc(summary: str, name: str) -> Callable[[_F], _F]:
    """Give a registered loader `summary` plus the Parameters/Returns/Raises shared by all."""

    def decorate(func: _F) -> _F:
        func.__doc__ = summary + "\n" + _SHARED_DOC.format(name=name)
        return func

    return decorate


@_with_shared_doc(
    "Load Fashion-MNIST (Zalando Research; 10 clothing classes; MIT licence), on demand.",
    "fashion_mnist",
)
def load_fashion_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    flatten: bool = True,
    as_uint8: bool = False,
) -> tuple[Split, Split]:
    return _load_registered("fashion_mnist", path, cache_dir, base_url, flatten, as_uint8)


@_with_shared_doc(
    "Load Kuzushiji-MNIST (ROIS-CODH; 10 hiragana classes; CC BY-SA 4.0), on demand.",
    "kmnist",
)
def load_kmnist(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    flatten: bool = True,
    as_uint8: bool = False,
) -> tuple[Split, Split]:
    return _load_registered("kmnist", path, cache_dir, base_url, flatten, as_uint8)
