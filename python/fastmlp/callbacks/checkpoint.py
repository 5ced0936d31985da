"""ModelCheckpoint: save the model (or its weights) while training."""
from __future__ import annotations

import math
import os
import string
import tempfile
import warnings

import numpy as np

from .base import Callback
from ._checks import _check_mode, _check_path, _check_real, _check_str, _resolve_mode


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of every epoch, or only when
    ``monitor`` improves.

    Args:
        filepath: str or os.PathLike, the file to write. It may hold ``str.format``
            fields: ``{epoch}`` (1-based, as Keras: ``{epoch:02d}`` gives ``01`` for the
            first epoch) and any key of the epoch's logs (``{val_loss:.2f}``,
            ``{accuracy:.3f}``, ...). The file is written at exactly the formatted path
            (missing directories are created), in fastmlp's ``.npz`` format: name it
            ``*.npz``. Keras' ``.keras`` / ``.h5`` / ``.hdf5`` names are refused with a
            ``ValueError`` (fastmlp cannot write those formats).
        monitor: the log key compared by ``save_best_only`` (default ``"val_loss"``).
        verbose: 0 (quiet) or 1 (one line per save / non-improvement).
        save_best_only: save only when ``monitor`` is better than the best value so far
            (strictly, as Keras; the best is kept across ``fit`` calls). If ``monitor``
            is not in the logs, a ``RuntimeWarning`` is raised and nothing is saved.
        save_weights_only: False: ``model.save(path)``, a full model file that
            ``fastmlp.load_model`` reads and resumes training from. True: only the
            ``model.get_weights()`` arrays, written with ``np.savez`` as ``weight_00000``,
            ``weight_00001``, ... (load them with ``d = np.load(path);
            model.set_weights([d[k] for k in sorted(d.files)])``). Either file is written
            to a temporary and renamed over the path, so it is never half-written.
        mode: ``"auto"``, ``"min"`` or ``"max"``; auto maximises accuracy/AUC-like names
            (``acc``, ``auc``, ``precision``, ``recall``, ``f1``) and minimises others.
        save_freq: only ``"epoch"``: ``fit`` trains batches in C++ chunks, so there is no
            per-batch point to save at (an int is a ``ValueError``).
        initial_value_threshold: None or a float, the initial "best" value that
            ``save_best_only`` must beat.

    Raises:
        TypeError / ValueError: for a bad argument (naming it, the expected and the
        received value). ``KeyError`` at the end of an epoch if ``filepath`` names a
        field that is not in the logs (as Keras).
    """

    _REFUSED_EXT = (".keras", ".h5", ".hdf5")

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        owner = "ModelCheckpoint"
        filepath = _check_path(owner, "filepath", filepath)
        if filepath.lower().endswith(self._REFUSED_EXT):
            raise ValueError(
                f"{owner} filepath: fastmlp saves models as NumPy .npz files, not Keras "
                f"{os.path.splitext(filepath)[1]!r} files; got {filepath!r} (use e.g. "
                f"'ckpt_{{epoch:02d}}.npz')")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(filepath) if f is not None]
        except ValueError as e:
            raise ValueError(f"{owner} filepath: not a valid format string ({e}); got "
                             f"{filepath!r} (write a literal brace as '{{{{' or '}}}}')") from None
        if any(f == "" or f.isdigit() for f in fields):
            raise ValueError(f"{owner} filepath: expected named fields such as '{{epoch:02d}}'"
                             f" or '{{val_loss:.2f}}', got positional fields in {filepath!r}")
        self.filepath = filepath
        self.monitor = _check_str(owner, "monitor", monitor)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if isinstance(save_freq, bool) or save_freq != "epoch":
            raise ValueError(
                f"{owner} save_freq: only 'epoch' is supported (fit trains batches in C++ "
                f"chunks, so there is no per-batch save point); got {save_freq!r}")
        self.save_freq = save_freq
        self.mode = _resolve_mode(_check_mode(owner, mode), monitor)
        if initial_value_threshold is None:
            self.best = math.inf if self.mode == "min" else -math.inf
        else:
            self.best = _check_real(owner, "initial_value_threshold",
                                    initial_value_threshold,
                                    expected="a finite number or None")
        self.initial_value_threshold = initial_value_threshold
        self.last_saved = None  # path of the last file written

    def _better(self, current):
        return current < self.best if self.mode == "min" else current > self.best

    def _get_file_path(self, epoch, logs):
        try:
            return self.filepath.format(**{**logs, "epoch": epoch + 1})
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint: cannot format filepath {self.filepath!r}: "
                           f"no log key {e.args[0]!r} (available: epoch, "
                           f"{', '.join(sorted(logs))})") from None

    def on_epoch_end(self, epoch, logs=None):
        """Save to ``filepath`` formatted with ``epoch + 1`` and ``logs`` (see the class)."""
        logs = logs or {}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save the best model only with "
                              f"{self.monitor!r} available (available: {sorted(logs)}); "
                              f"skipping", RuntimeWarning, stacklevel=2)
                return
            current = float(current)
            if not self._better(current):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            path = self._get_file_path(epoch, logs)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} "
                      f"to {current:.5f}, saving model to {path}")
            self.best = current
        else:
            path = self._get_file_path(epoch, logs)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
        self._save(path)

    def _save(self, path):
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if not self.save_weights_only:
            self.model.save(path)
        else:
            arrays = {f"weight_{i:05d}": np.ascontiguousarray(w)
                      for i, w in enumerate(self.model.get_weights())}
            fd, tmp = tempfile.mkstemp(prefix=".fastmlp-weights-", suffix=".tmp",
                                       dir=directory or ".")
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez(f, **arrays)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        self.last_saved = path
