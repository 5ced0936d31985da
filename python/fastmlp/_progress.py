"""Progress output for fit: a bar (verbose=1; tqdm when installed, a plain one otherwise)
and one line per epoch (verbose=2)."""
from __future__ import annotations

import sys
import time


def _fmt_logs(logs: dict) -> str:
    parts = []
    for k, v in logs.items():
        if k == "examples_per_sec":
            parts.append(f"{v / 1000:.1f}k ex/s" if v >= 1000 else f"{v:.0f} ex/s")
        else:
            parts.append(f"{k}: {v:.4f}")
    return " - ".join(parts)


class EpochProgress:
    """Shows one epoch. ``update(done, logs)`` is called after each chunk of batches."""

    def __init__(self, epoch: int, epochs: int, total: int, verbose: int, file=None):
        self.verbose = verbose
        self.total = total
        self.file = file or sys.stdout
        self.prefix = f"Epoch {epoch + 1}/{epochs}"
        self.t0 = time.perf_counter()
        self._tqdm = None
        self._last_len = 0
        if verbose == 1:
            try:
                from tqdm.auto import tqdm  # optional dependency
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._tqdm = tqdm(total=total, desc=self.prefix, unit="batch",
                                  file=self.file, leave=True, dynamic_ncols=True)

    def update(self, done: int, logs: dict) -> None:
        if self.verbose != 1:
            return
        if self._tqdm is not None:
            self._tqdm.n = done
            self._tqdm.set_postfix_str(_fmt_logs(logs), refresh=False)
            self._tqdm.refresh()
            return
        width = 30
        filled = int(width * done / max(self.total, 1))
        bar = "=" * max(filled - 1, 0) + (">" if filled < width else "=") if filled else ""
        line = f"\r{self.prefix} {done}/{self.total} [{bar:<{width}}] {_fmt_logs(logs)}"
        pad = max(self._last_len - len(line), 0)
        self._last_len = len(line)
        self.file.write(line + " " * pad)
        self.file.flush()

    def close(self, logs: dict) -> None:
        elapsed = time.perf_counter() - self.t0
        if self.verbose == 1:
            if self._tqdm is not None:
                self._tqdm.n = self.total
                self._tqdm.set_postfix_str(_fmt_logs(logs), refresh=True)
                self._tqdm.close()
            else:
                self.update(self.total, logs)
                self.file.write("\n")
                self.file.flush()
        elif self.verbose == 2:
            self.file.write(f"{self.prefix} - {elapsed:.2f}s - {_fmt_logs(logs)}\n")
            self.file.flush()
