"""Dataset lookup (explicit path, $FASTMLP_DATA, cache, system package, download) and loaders."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ._cifar import read_cifar_dir, read_cifar_tar
from ._download import DownloadError, fetch_file
from ._idx import read_idx

__all__ = [
    "DatasetNotFoundError",
    "DATASETS",
    "search_dirs",
    "cache_dir",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
]

SYSTEM_DIR = "/usr/share/datasets"


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is in none of the searched directories and could not be downloaded."""


@dataclass(frozen=True)
class FileSpec:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DatasetSpec:
    name: str                       # directory name under each search root
    files: tuple                    # FileSpec, the upstream files (what gets downloaded)
    mirrors: tuple                  # base URLs, tried in order
    hint: str = ""                  # extra "how to get the files" advice
    extra: dict = field(default_factory=dict)


_MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Published sha256 and sizes of the upstream .gz files.
DATASETS = {
    "mnist": DatasetSpec(
        name="mnist",
        files=(
            FileSpec("train-images-idx3-ubyte.gz",
                     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
            FileSpec("train-labels-idx1-ubyte.gz",
                     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
            FileSpec("t10k-images-idx3-ubyte.gz",
                     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
            FileSpec("t10k-labels-idx1-ubyte.gz",
                     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        ),
        # yann.lecun.com has refused downloads since about 2024; it stays last.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        files=(
            FileSpec("train-images-idx3-ubyte.gz",
                     "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
            FileSpec("train-labels-idx1-ubyte.gz",
                     "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
            FileSpec("t10k-images-idx3-ubyte.gz",
                     "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
            FileSpec("t10k-labels-idx1-ubyte.gz",
                     "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        hint="On Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        files=(
            FileSpec("cifar-10-binary.tar.gz",
                     "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171),
        ),
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        hint=("The directory may hold cifar-10-binary.tar.gz, its extracted cifar-10-batches-bin/, "
              "cifar-10-python.tar.gz or its extracted cifar-10-batches-py/"),
    ),
}


def cache_dir(name: str = "") -> str:
    """``$XDG_CACHE_HOME/fastmlp/<name>`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "fastmlp", name)


def search_dirs(name: str, path=None) -> list:
    """The directories searched for dataset ``name``, in order, as ``(origin, dir)`` pairs."""
    dirs = []
    if path is not None:
        dirs.append(("path=", os.fspath(path)))
    env = os.environ.get("FASTMLP_DATA")
    if env:
        dirs.append(("$FASTMLP_DATA", os.path.join(env, name)))
    dirs.append(("cache", cache_dir(name)))
    dirs.append(("system package", os.path.join(SYSTEM_DIR, name)))
    return dirs


# --- finding the files in one directory -----------------------------------------------------

def _find_idx_files(directory):
    """Map each MNIST-format base name to its file (``.gz`` preferred); None if any is missing."""
    found = {}
    for base in _MNIST_NAMES:
        for cand in (base + ".gz", base):
            p = os.path.join(directory, cand)
            if os.path.isfile(p):
                found[base] = p
                break
        else:
            return None
    return found


def _find_cifar(directory):
    """Return a zero-argument reader for the CIFAR-10 files in ``directory``, or None."""
    from ._cifar import TEST_BATCH, TRAIN_BATCHES

    def has_all(d, ext):
        return all(os.path.isfile(os.path.join(d, b + ext)) for b in TRAIN_BATCHES + (TEST_BATCH,))

    for sub in ("cifar-10-batches-bin", ""):
        d = os.path.join(directory, sub) if sub else directory
        if has_all(d, ".bin"):
            return lambda d=d: read_cifar_dir(d, "bin")
    tar = os.path.join(directory, "cifar-10-binary.tar.gz")
    if os.path.isfile(tar):
        return lambda: read_cifar_tar(tar, "bin")
    for sub in ("cifar-10-batches-py", ""):
        d = os.path.join(directory, sub) if sub else directory
        if has_all(d, ""):
            return lambda d=d: read_cifar_dir(d, "py")
    tar = os.path.join(directory, "cifar-10-python.tar.gz")
    if os.path.isfile(tar):
        return lambda: read_cifar_tar(tar, "py")
    return None


def _not_found(spec, dirs, download_error=None, mirrors=None):
    lines = [f"dataset {spec.name!r} not found. Searched, in order:"]
    for origin, d in dirs:
        state = "missing" if not os.path.isdir(d) else "no complete set of files"
        lines.append(f"  {d}  ({origin}: {state})")
    if download_error is not None:
        lines.append(f"Download failed: {download_error}")
    else:
        lines.append("Download was not attempted (download=False).")
    lines.append("To get the files, put these in one of the directories above "
                 "(e.g. set FASTMLP_DATA=/some/dir and use /some/dir/" + spec.name + "):")
    base = (mirrors or spec.mirrors)[0].rstrip("/")
    for f in spec.files:
        lines.append(f"  {base}/{f.name}  (sha256 {f.sha256})")
    if spec.hint:
        lines.append(spec.hint)
    return DatasetNotFoundError("\n".join(lines))


def _locate(name, path, download, mirrors, progress, finder):
    """Run the lookup order and return what ``finder(dir)`` found; download as the last resort."""
    spec = DATASETS[name]
    dirs = search_dirs(spec.name, path)
    for _origin, d in dirs:
        if os.path.isdir(d):
            hit = finder(d)
            if hit is not None:
                return hit
    if not download:
        raise _not_found(spec, dirs, mirrors=mirrors)
    dest = os.fspath(path) if path is not None else cache_dir(spec.name)
    use = tuple(mirrors) if mirrors is not None else spec.mirrors
    try:
        for f in spec.files:
            if not os.path.isfile(os.path.join(dest, f.name)):
                fetch_file(f.name, use, dest, sha256=f.sha256, size=f.size, progress=progress)
    except (DownloadError, OSError) as exc:
        raise _not_found(spec, dirs, download_error=exc, mirrors=use) from exc
    hit = finder(dest)
    if hit is None:  # pragma: no cover - fetch_file guarantees the files
        raise _not_found(spec, dirs, mirrors=use)
    return hit


def _read_mnist_like(files, num_classes=10, shape=(28, 28)):
    def images(p):
        x = read_idx(p, dtype=np.uint8, ndim=3)
        if x.shape[1:] != shape:
            raise ValueError(f"{p}: images of shape {x.shape[1:]}, expected {shape}")
        return x

    def labels(p):
        y = read_idx(p, dtype=np.uint8, ndim=1)
        if y.size and int(y.max()) >= num_classes:
            i = int(np.argmax(y >= num_classes))
            raise ValueError(f"{p}: label {int(y[i])} at index {i} out of range 0..{num_classes - 1}")
        return y

    out = []
    for split in ("train", "t10k"):
        xi, yi = files[f"{split}-images-idx3-ubyte"], files[f"{split}-labels-idx1-ubyte"]
        x, y = images(xi), labels(yi)
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{xi}: {x.shape[0]} images but {yi} has {y.shape[0]} labels (count mismatch)"
            )
        out.append((x, y))
    return tuple(out)


def _load_idx_dataset(name, path, download, mirrors, progress):
    files = _locate(name, path, download, mirrors, progress, _find_idx_files)
    return _read_mnist_like(files)


_DOC_COMMON = """
    Returns ``((x_train, y_train), (x_test, y_test))`` as uint8 NumPy arrays.

    Lookup order: ``path`` (a directory holding the files), ``$FASTMLP_DATA/{name}``,
    ``$XDG_CACHE_HOME/fastmlp/{name}`` (``~/.cache`` by default), ``/usr/share/datasets/{name}``
    (Debian/Ubuntu dataset packages), then, if ``download`` is true, a download from the
    mirrors in order into ``path`` (when given) or the cache, each file checked against its
    published sha256.  Files found locally are validated by their structure (so the
    re-compressed files of Debian packages are accepted).  Raises ``DatasetNotFoundError``
    (a ``FileNotFoundError``) listing the directories searched when nothing is found and
    the download fails or is disabled, and ``ValueError`` naming the file for any corrupt
    file.  ``mirrors`` overrides the list of base URLs; ``progress`` forces the download
    progress bar on or off (default: on when stderr is a terminal).
"""


def load_mnist(path=None, download=True, *, mirrors=None, progress=None):
    return _load_idx_dataset("mnist", path, download, mirrors, progress)


def load_fashion_mnist(path=None, download=True, *, mirrors=None, progress=None):
    return _load_idx_dataset("fashion-mnist", path, download, mirrors, progress)


def load_cifar10(path=None, download=True, *, mirrors=None, progress=None):
    reader = _locate("cifar10", path, download, mirrors, progress, _find_cifar)
    return reader()


load_mnist.__doc__ = ("Load MNIST handwritten digits: 60,000 train and 10,000 test images, "
                      "shape (N, 28, 28), labels (N,) in 0..9.\n" + _DOC_COMMON.format(name="mnist"))
load_fashion_mnist.__doc__ = (
    "Load Fashion-MNIST (Zalando, MIT license): 60,000 train and 10,000 test images, shape "
    "(N, 28, 28), labels (N,) in 0..9 (see ``FASHION_MNIST_CLASSES``).\n"
    + _DOC_COMMON.format(name="fashion-mnist"))
load_cifar10.__doc__ = (
    "Load CIFAR-10: 50,000 train and 10,000 test colour images, shape (N, 32, 32, 3), labels "
    "(N,) in 0..9 (see ``CIFAR10_CLASSES``).  Note: Keras returns CIFAR labels with shape "
    "(N, 1); fastmlp returns (N,) like the MNIST loaders (use ``y[:, None]`` for Keras's "
    "shape).  Read from the binary version (``cifar-10-binary.tar.gz``, the one downloaded), "
    "or from the Python version through a restricted unpickler that admits only NumPy uint8 "
    "arrays, lists, ints and bytes.\n" + _DOC_COMMON.format(name="cifar10"))
