"""Model files: ``model.save(path)`` / ``fastmlp.load_model(path)``.

Format (version 1): a NumPy ``.npz`` archive (written at exactly the given path) with
  * ``config``: a uint8 array holding UTF-8 JSON ``{"format": "fastmlp.model",
    "version": 1, "model": {name, input_shape, layers: [{class_name, config}]},
    "compile": {optimizer: {class_name, config}, loss: {class_name, config}, metrics,
    metrics_format} or null}`` (older files name the loss only: a cross-entropy then reads
    outputs that are not a final Softmax as logits, as fastmlp did before losses had
    from_logits); ``metrics`` lists metric strings and ``{class_name, config}`` of metric
    objects, or is null for compile's default (files without ``metrics_format`` stored []
    for that default);
  * ``weight_00000``, ``weight_00001``, ...: float32 arrays in ``get_weights()`` order
    (an int8-quantized Dense's kernel as int8, beside its float32 ``kernel_scale``)
    (``W1 [in, out], b1, W2, b2, ...``);
  * for a compiled model, the optimizer state so that training resumes where it stopped:
    ``optimizer_00000_0``, ``optimizer_00000_1``, ... (per weight array: SGD's velocity
    in slot 0 when momentum is used; Adam's and Nadam's m and v in slots 0 and 1;
    RMSprop's v, momentum and mean gradient in slots 0, 1, 2 as kept), with the step
    count as ``"optimizer_step"`` in the config's ``compile`` entry. Files without them
    (older files) load with a fresh optimizer state.
Loading never unpickles (``allow_pickle=False``) and refuses weights or optimizer state
holding NaN or inf. Saving writes a temporary file (``.fastmlp-{name}.{random}.tmp`` for a
target named ``name``) in the same directory, fsyncs it and renames it over ``path``
(``os.replace``), so a full disk, a read-only directory, Ctrl-C or a crash never leaves a
half-written model: ``path`` holds the previous file or the new one. The temporary file is
removed on any error; a hard kill (SIGKILL, power loss) can leave one behind, so the writer
holds an exclusive ``flock`` on it until the rename and every save first removes the
temporaries of the same target that no live process holds locked (POSIX; elsewhere they
stay). The new file keeps the mode of the file it replaces.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from . import _core, _model_io
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers

__all__ = ["save_model", "load_model"]

_OPT_SLOTS = _core.OPT_SLOTS  # optimizer state arrays per weight, at most
_FORMAT = "fastmlp.model"
_VERSION = 1


def save_model(model, path) -> None:
    """Save a model to ``path`` as a NumPy ``.npz`` file (JSON config + weights).

    The config includes the compile settings (optimizer, loss, metrics) if the model is
    compiled; weights are saved only if the model is built. The file is written to a
    temporary file and renamed over ``path``, so an existing file is never half-replaced.

    Parameters
    ----------
    model : Sequential
        The model to save.
    path : str or os.PathLike
        Destination file.
    """
    path = os.fsdecode(os.fspath(path))
    config = {"format": _FORMAT, "version": _VERSION, "model": model.get_config(),
              "compile": None}
    if model._compiled:
        config["compile"] = {
            "optimizer": {"class_name": type(model.optimizer).__name__,
                          "config": model.optimizer.get_config()},
            "loss": _losses.serialize(model.loss),
            # metric names (strings as given, objects as {class_name, config}); null: the
            # default of compile(metrics=None)
            "metrics": None if model._metrics_default else
            [_metrics.serialize(m) for m in model.metrics], "metrics_format": 2}
    opt_arrays = {}
    state = model._optimizer_state() if model._compiled else None
    if state is not None:
        step, slots = state
        config["compile"]["optimizer_step"] = int(step)
        for i, pair in enumerate(slots):
            for j, a in enumerate(pair):
                if a is not None:
                    opt_arrays[f"optimizer_{i:05d}_{j}"] = a
    arrays = {"config": np.frombuffer(json.dumps(config).encode("utf-8"), dtype=np.uint8)}
    arrays.update(opt_arrays)
    weights = model.get_weights() if model.input_shape is not None else []
    for i, w in enumerate(weights):
        keep = w.dtype == np.int8  # an int8 Dense's kernel stays int8
        arrays[f"weight_{i:05d}"] = np.ascontiguousarray(w, dtype=None if keep else np.float32)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _file_mode(path)
    prefix = _temp_prefix(path)
    fcntl = _fcntl()
    if fcntl is not None:
        _remove_stale_temps(directory, prefix, fcntl)
    f, tmp = _locked_temp(directory, prefix, fcntl)
    try:
        try:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600; keep what open() would give
                os.fchmod(f.fileno(), mode)
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is None:  # (Windows cannot rename an open file; no lock to keep)
                f.close()
            os.replace(tmp, path)  # still locked: a concurrent cleanup leaves it alone
        finally:
            f.close()  # releases the lock
    except BaseException:  # a full disk, Ctrl-C, ...: the previous file stays as it was
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


# --- temporary files: per-target names, locked while written, stale ones removed ---------

_TEMP_HEAD = ".fastmlp-"
_TEMP_TAIL = ".tmp"
_MAX_TAG = 180  # bytes of the target's name kept in the temporary's (NAME_MAX is 255)


def _fcntl():
    """The ``fcntl`` module, or None where it does not exist (Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    return fcntl if hasattr(fcntl, "flock") else None


def _temp_prefix(path) -> str:
    """``.fastmlp-{name}.``: what the temporaries of the target ``path`` start with (a
    long name is cut and completed by a hash, so the temporary's name stays legal)."""
    name = os.path.basename(path)
    if len(os.fsencode(name)) > _MAX_TAG:
        import hashlib
        digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
        head = name[:64]
        while len(os.fsencode(head)) > 64:  # cut between characters, never inside one
            head = head[:-1]
        name = head + "~" + digest
    return f"{_TEMP_HEAD}{name}."


def _is_temp_of(entry: str, prefix: str) -> bool:
    """Whether ``entry`` is a temporary of the target whose prefix is ``prefix``: the
    prefix, then mkstemp's random part (letters, digits, ``_``; never a dot, so a target
    named ``m.npz`` does not claim the temporaries of one named ``m.npz.bak``), then .tmp."""
    if not (entry.startswith(prefix) and entry.endswith(_TEMP_TAIL)):
        return False
    rnd = entry[len(prefix):-len(_TEMP_TAIL)]
    return bool(rnd) and all(c.isascii() and (c.isalnum() or c == "_") for c in rnd)


def _remove_stale_temps(directory, prefix, fcntl) -> None:
    """Unlink the temporaries of this target that a killed save left behind: those no live
    process holds an exclusive ``flock`` on. Best effort: never fails the save."""
    try:
        entries = [e.name for e in os.scandir(directory)
                   if _is_temp_of(e.name, prefix)]
    except OSError:
        return
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    import stat
    for name in entries:
        full = os.path.join(directory, name)
        try:
            fd = os.open(full, flags)
        except OSError:  # gone already, a symlink, not ours to read, ...
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # BlockingIOError: a live save holds it (or flock unsupported)
                continue
            try:  # unlink only the file we locked (not one renamed/recreated meanwhile)
                now = os.lstat(full)
                if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                    os.unlink(full)
            except OSError:
                pass
        finally:
            os.close(fd)


def _locked_temp(directory, prefix, fcntl):
    """A new temporary file in ``directory``, open for writing and (POSIX) exclusively
    ``flock``-ed, so a concurrent save's cleanup never takes it for a stale one."""
    for _ in range(100):
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=_TEMP_TAIL, dir=directory)
        try:
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        if fcntl is None:
            return f, tmp
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            except OSError:  # a filesystem without flock: no cleanup can lock it either
                return f, tmp
            # Between mkstemp and flock, another save's cleanup may have locked and
            # unlinked it: then the name is gone (or another file's) and we start over.
            st, now = os.fstat(f.fileno()), os.lstat(tmp)
            if (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
                return f, tmp
        except FileNotFoundError:
            pass
        except BaseException:
            f.close()
            _unlink_quietly(tmp)
            raise
        f.close()
    raise OSError(f"could not create a temporary file in {directory!r} for saving")


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _file_mode(path) -> int:
    """The mode of the file being replaced, else 0666 minus the umask (as open() does)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def _fsync_dir(directory) -> None:
    """Makes the rename durable (POSIX); best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except (OSError, AttributeError):
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _declared_params(mc) -> int:
    """Weights the config's Dense layers imply (checked against the file before any
    allocation, so a config claiming Dense(10**12) costs nothing)."""
    shape = mc.get("input_shape")
    if not shape:
        return 0
    width = 1
    for d in shape:
        width *= int(d)
    total = 0
    for spec in mc["layers"]:
        if spec["class_name"] == "Dense":
            units = int(spec["config"]["units"])
            total += width * units + (units if spec["config"].get("use_bias", True) else 0)
            width = units
    return total


def load_model(path, compile=True):
    """Load a model saved by ``model.save`` (never unpickles).

    A file that is not a valid model (corrupt, truncated, hostile: object arrays, zip
    bombs, headers or configs declaring impossible sizes) raises ``ValueError`` naming it.
    """
    from ._safe_npz import read_npz
    from .models import Sequential
    path = os.fspath(path)
    z = read_npz(path, kinds="biuf")
    if "config" not in z:
        raise ValueError(f"{path!r} is not a fastmlp model file (no 'config' entry)")
    raw = z["config"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"{path!r}: unreadable model config (a {raw.dtype} array of shape "
                         f"{raw.shape}, expected uint8 JSON bytes)")
    try:
        config = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, a 5000-digit int, ...
        raise ValueError(
            f"{path!r}: unreadable model config: the 'config' entry is malformed "
            f"({type(e).__name__}: {_clip(str(e))}). The file is corrupt or was not written "
            f"by fastmlp; save the model again from a good copy") from None
    if not isinstance(config, dict) or config.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not a fastmlp model file")
    if config.get("version") != _VERSION:
        raise ValueError(f"{path!r}: unsupported model file version "
                         f"{config.get('version')!r} (this fastmlp reads {_VERSION})")
    weight_names = sorted(f for f in z if f.startswith("weight_"))
    weights = [z[k] for k in weight_names]
    try:
        for k, w in zip(weight_names, weights):
            _check_finite(path, k, w, "weight array")
        mc = config["model"]
        have = sum(int(w.size) for w in weights)
        declared = _declared_params(mc)
        if declared > have:
            raise ValueError(f"the config declares {declared} weights but the file holds {have}")
        layer_list = [_layers.get(l["class_name"], l["config"]) for l in mc["layers"]]
        shape = tuple(mc["input_shape"]) if mc.get("input_shape") else None
        model = Sequential(layer_list, input_shape=shape, name=mc.get("name"), seed=0)
        if shape is not None:
            model.set_weights(weights)
        cc = config.get("compile")
        if compile and cc:
            model.compile(optimizer=_optimizers.deserialize(cc["optimizer"]),
                          loss=_losses._from_saved(cc["loss"], layer_list, shape),
                          metrics=_saved_metrics(cc))
            if shape is not None and "optimizer_step" in cc:
                step = cc["optimizer_step"]
                if type(step) is not int or not 0 <= step <= _MAX_STEP:
                    raise _FileError(
                        f"{path!r}: invalid model file: 'optimizer_step' in the config's "
                        f"compile entry must be an int in [0, 2**63-1] (the number of "
                        f"optimizer steps taken), got {_clip(repr(step))} "
                        f"({type(step).__name__}). The file is corrupt; load it with "
                        f"compile=False to keep the weights and start a fresh optimizer")
                slots = [tuple(z.get(f"optimizer_{i:05d}_{j}") for j in range(_OPT_SLOTS))
                         for i in range(len(weights))]
                for i, pair in enumerate(slots):
                    for j, a in enumerate(pair):
                        if a is not None:
                            _check_finite(path, f"optimizer_{i:05d}_{j}", a,
                                          "optimizer-state array")
                model._set_optimizer_state(step, slots)
    except _FileError as e:
        raise ValueError(str(e)) from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError,
            RecursionError) as e:
        raise ValueError(f"{path!r}: invalid model file ({type(e).__name__}: {e})") from None
    return model


_MAX_STEP = 2 ** 63 - 1  # the engine counts optimizer steps in an int64


def _saved_metrics(cc):
    """compile's metrics argument from a file's compile entry. Files before metric lists
    ("metrics_format" absent) stored [] for the default: it reported accuracy."""
    entries = cc.get("metrics")
    if entries is None or (not entries and "metrics_format" not in cc):
        return None
    if not isinstance(entries, list):
        raise ValueError(f"'metrics' must be a list or null, got {type(entries).__name__}")
    return [_metrics.deserialize(e) for e in entries]


class _FileError(ValueError):
    """A load error whose message already names the file (not wrapped again)."""


def _clip(text, limit=200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_finite(path, name, a, what) -> None:
    """Refuse NaN / inf in a float array of the file, naming the array and the first one."""
    if a.dtype.kind != "f":
        return  # integer arrays (refused later if the wrong dtype) are always finite
    bad = ~np.isfinite(a)
    n = int(np.count_nonzero(bad))
    if n:
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), a.shape))
        raise _FileError(
            f"{path!r}: invalid model file: {what} {name!r} (shape {a.shape}) holds {n} "
            f"non-finite value{'s' if n != 1 else ''} (NaN or inf), the first "
            f"{float(a[first])!r} at index {first}; a model loaded from it would predict "
            f"NaN. The file is corrupt, or was saved from a model whose training diverged: save it "
            f"again from a good copy (or retrain, e.g. with a lower learning rate)")


_model_io.register("save", save_model)  # Sequential.save (models.py does not import saving)
