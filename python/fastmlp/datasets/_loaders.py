"""Dataset lookup (explicit path, $FASTMLP_DATA, cache, system package, download) and loaders."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ._cifar import read_cifar_dir, read_cifar_tar
from ._download import fetch_file
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
    # Other formats of the same data, tried after every mirror of ``files`` failed:
    # (files, mirrors) pairs.  Skipped when the caller overrides ``mirrors``.
    alternatives: tuple = ()


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
        # Keras's single-file copy (uint8 arrays in an .npz, read without pickle).
        alternatives=((
            (FileSpec("mnist.npz",
                      "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1", 11490434),),
            ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
        ),),
        hint="A directory may also hold Keras's mnist.npz instead of the four IDX files.",
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


def _find_idx(directory):
    """A zero-argument reader for the four IDX files in ``directory``, or None."""
    files = _find_idx_files(directory)
    return None if files is None else (lambda: _read_mnist_like(files))


def _find_mnist(directory):
    """MNIST: the four IDX files, else Keras's ``mnist.npz``."""
    hit = _find_idx(directory)
    if hit is not None:
        return hit
    npz = os.path.join(directory, "mnist.npz")
    if os.path.isfile(npz):
        return lambda: _read_npz(npz)
    return None


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
    sources = [(spec.files, mirrors or spec.mirrors)]
    if mirrors is None:
        sources += list(spec.alternatives)
    for i, (files, urls) in enumerate(sources):
        if i:
            lines.append("or, instead:")
        base = urls[0].rstrip("/")
        for f in files:
            lines.append(f"  {base}/{f.name}  (sha256 {f.sha256})")
    if spec.hint:
        lines.append(spec.hint)
    return DatasetNotFoundError("\n".join(lines))


def _locate(name, path, download, mirrors, progress, finder):
    """Run the lookup order and return the reader ``finder(dir)`` found; download as the
    last resort (each source in turn: the upstream files, then any alternative format)."""
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
    if mirrors is not None:
        sources = [(spec.files, tuple(mirrors))]
    else:
        sources = [(spec.files, spec.mirrors)] + [tuple(a) for a in spec.alternatives]
    errors = []
    for files, use in sources:
        try:
            for f in files:
                if not os.path.isfile(os.path.join(dest, f.name)):
                    fetch_file(f.name, use, dest, sha256=f.sha256, size=f.size, progress=progress)
        except OSError as exc:  # DownloadError, or dest not writable
            errors.append(exc)
            continue
        hit = finder(dest)
        if hit is not None:
            return hit
    err = errors[0] if len(errors) == 1 else OSError("\n".join(str(e) for e in errors))
    raise _not_found(spec, dirs, download_error=err, mirrors=mirrors) from err


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


_NPZ_MEMBER_LIMIT = 256 << 20


def _npz_member(z, key, path):
    """``z[key]``, after checking the member's .npy header against the member's size, so a
    lying header cannot make NumPy allocate what it claims."""
    from numpy.lib import format as npf

    name = key + ".npy"
    info = z.zip.getinfo(name)
    if info.file_size > _NPZ_MEMBER_LIMIT:
        raise ValueError(f"{path}: {name} claims {info.file_size} bytes, more than any MNIST array")
    with z.zip.open(name) as m:
        version = npf.read_magic(m)
        read_header = npf.read_array_header_1_0 if version == (1, 0) else npf.read_array_header_2_0
        shape, _fortran, dtype = read_header(m)
        if dtype.hasobject:
            raise ValueError(f"{path}: {name} holds Python objects")
        count = 1
        for d in shape:
            count *= d
        if count * dtype.itemsize != info.file_size - m.tell():
            raise ValueError(f"{path}: {name} header says shape {shape} of {dtype} but the member "
                             f"holds {info.file_size - m.tell()} data bytes")
    return z[key]


def _read_npz(path, num_classes=10, shape=(28, 28)):
    """Read a Keras-style ``mnist.npz`` (x_train, y_train, x_test, y_test; never unpickles)."""
    import zipfile

    try:
        # our own file object: np.load(path) leaks its handle when the zip is corrupt
        with open(path, "rb") as f:
            z = np.load(f, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError(f"{path}: not an .npz archive (a single {type(z).__name__})")
            with z:
                missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in z.files]
                if missing:
                    raise ValueError(f"{path}: missing arrays {missing}")
                arrays = {k: _npz_member(z, k, path) for k in ("x_train", "y_train", "x_test", "y_test")}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"{path}: corrupt or truncated .npz ({exc})") from None
    except ValueError as exc:
        msg = str(exc)
        raise ValueError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    out = []
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != shape:
            raise ValueError(f"{path}: x_{split} is {x.dtype} {x.shape}, expected uint8 (N, 28, 28)")
        if y.dtype != np.uint8 or y.ndim != 1:
            raise ValueError(f"{path}: y_{split} is {y.dtype} {y.shape}, expected uint8 (N,)")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{path}: {x.shape[0]} x_{split} images but {y.shape[0]} labels (count mismatch)")
        if y.size and int(y.max()) >= num_classes:
            raise ValueError(f"{path}: y_{split} label {int(y.max())} out of range 0..{num_classes - 1}")
        out.append((x, y))
    return tuple(out)


# How each dataset's files are recognised in one directory (the one table of them).
_FINDERS = {"mnist": _find_mnist, "fashion-mnist": _find_idx, "cifar10": _find_cifar}


def find_local(name: str, path=None):
    """The directory that holds dataset ``name`` on this machine, or None.

    The first of ``search_dirs(name, path)`` whose files the loader would accept (by
    their names and layout; contents are validated when loading). Never downloads.
    ``name`` is ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``.
    """
    if name not in _FINDERS:
        raise ValueError(f"find_local: argument 'name' must be one of {sorted(_FINDERS)}; "
                         f"received {name!r}.")
    for _origin, d in search_dirs(DATASETS[name].name, path):
        if os.path.isdir(d) and _FINDERS[name](d) is not None:
            return d
    return None


def _load_idx_dataset(name, path, download, mirrors, progress):
    return _locate(name, path, download, mirrors, progress, _FINDERS[name])()


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
    progress bar on or off (default: on when stderr is a terminal), or is a callable
    ``progress(filename, done_bytes, total_bytes)`` that gets the progress instead.
"""


def load_mnist(path=None, download=True, *, mirrors=None, progress=None):
    return _load_idx_dataset("mnist", path, download, mirrors, progress)


def load_fashion_mnist(path=None, download=True, *, mirrors=None, progress=None):
    return _load_idx_dataset("fashion-mnist", path, download, mirrors, progress)


def load_cifar10(path=None, download=True, *, mirrors=None, progress=None):
    reader = _locate("cifar10", path, download, mirrors, progress, _FINDERS["cifar10"])
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
