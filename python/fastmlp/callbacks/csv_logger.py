"""CSVLogger: one CSV row of logs per epoch."""
from __future__ import annotations

import csv
import os

import numpy as np

from .base import Callback
from ._checks import _check_path


class CSVLogger(Callback):
    """Stream the epoch results to a CSV file.

    The first row is the header: ``epoch`` then the sorted keys of the first epoch's logs
    (``accuracy, examples_per_sec, loss, val_accuracy, val_loss``, plus
    ``learning_rate`` when a learning-rate callback placed before this one logs it);
    then one row per epoch, ``epoch`` 0-based as in Keras, a key missing from a later
    epoch's logs written as ``NA``. Lines end with ``\\n``.

    The file is created (or truncated) in ``on_train_begin``, then opened, written,
    flushed and closed again for every row: it is complete and closed after each epoch,
    whatever ends training (an exception, Ctrl-C, a crash).

    Args:
        filename: str or os.PathLike, the CSV file.
        separator: the one-character field delimiter (default ``","``).
        append: True: continue an existing file; a non-empty file keeps its header (not
            written again) and its columns: rows follow that header's keys.
            False: overwrite the file.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = _check_path("CSVLogger", "filename", filename)
        if not isinstance(separator, str):
            raise TypeError(f"CSVLogger separator: expected a one-character str, got "
                            f"{type(separator).__name__} {separator!r}")
        if len(separator) != 1 or separator in "\r\n\"":
            raise ValueError(f"CSVLogger separator: expected one character other than a "
                             f"quote or a line break, got {separator!r}")
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self._write_header = True
        self._started = False

    def _dialect(self):
        class _Dialect(csv.excel):
            delimiter = self.sep
            lineterminator = "\n"
        return _Dialect

    def on_train_begin(self, logs=None):
        """Create or truncate the file (``append=False``), or read the existing header."""
        self.keys = None
        self._write_header = True
        self._started = True
        if self.append and os.path.isfile(self.filename):
            with open(self.filename, newline="", encoding="utf-8") as f:
                first = f.readline()
                if first:
                    self._write_header = False
                    row = next(csv.reader([first], dialect=self._dialect()), [])
                    if row and row[0] == "epoch":
                        self.keys = row[1:]
            with open(self.filename, "rb") as f:
                f.seek(0, os.SEEK_END)
                ends_open = False
                if f.tell():  # a file cut after its last value: end that line first
                    f.seek(-1, os.SEEK_END)
                    ends_open = f.read(1) not in (b"\n", b"\r")
            if ends_open:
                with open(self.filename, "a", newline="", encoding="utf-8") as f:
                    f.write("\n")
        else:
            with open(self.filename, "a" if self.append else "w", encoding="utf-8"):
                pass

    @staticmethod
    def _value(v):
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v.item()
        if isinstance(v, str):
            return v
        if isinstance(v, (list, tuple, np.ndarray)):
            return f"[{', '.join(map(str, v))}]"
        return v

    def on_epoch_end(self, epoch, logs=None):
        """Append this epoch's row (and the header first, on a new file)."""
        if not self._started:
            self.on_train_begin()
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        with open(self.filename, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, dialect=self._dialect())
            if self._write_header:
                writer.writerow(["epoch"] + list(self.keys))
                self._write_header = False
            writer.writerow([epoch] + [self._value(logs.get(k, "NA")) for k in self.keys])
            f.flush()

    def on_train_end(self, logs=None):
        """Nothing to close (each row closes the file); resets the state for a new fit."""
        self._started = False
