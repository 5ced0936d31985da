"""Downloading dataset files: mirrors in order, sha256 check, temp file + atomic rename.

A file is streamed into a hidden temporary file in the destination directory, hashed on
the way, and only renamed to its final name (``os.replace``, atomic on POSIX and Windows)
once its size and sha256 match the published values.  A failed, truncated or tampered
transfer never leaves a file under the final name, and its temporary file is removed.
"""
from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

__all__ = ["DownloadError", "fetch_file"]

_CHUNK = 1 << 16


class DownloadError(OSError):
    """Every mirror failed for a file; the message lists each URL and why."""


class _Progress:
    """A minimal progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, name, total, stream=None, enabled=None):
        self.stream = stream if stream is not None else sys.stderr
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = tty if enabled is None else enabled
        self.tty = tty
        self.name = name
        self.total = total
        self.done = 0
        self.t0 = time.perf_counter()
        self.last = 0.0
        if self.enabled and not tty:
            self.stream.write(f"Downloading {name} ({_mb(total)})\n")
            self.stream.flush()

    def update(self, n):
        self.done += n
        if not (self.enabled and self.tty):
            return
        now = time.perf_counter()
        if now - self.last < 0.1 and self.done < (self.total or 0):
            return
        self.last = now
        self._draw(now)

    def _draw(self, now):
        rate = self.done / max(now - self.t0, 1e-9)
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * 30)
            text = f"\r{self.name} [{bar:<30}] {frac * 100:5.1f}% {_mb(self.done)}/{_mb(self.total)} {_mb(rate)}/s"
        else:
            text = f"\r{self.name} {_mb(self.done)} {_mb(rate)}/s"
        self.stream.write(text)
        self.stream.flush()

    def close(self, ok):
        if not self.enabled:
            return
        if self.tty:
            self._draw(time.perf_counter())
            self.stream.write("\n")
        elif ok:
            secs = time.perf_counter() - self.t0
            self.stream.write(f"  {self.name}: {_mb(self.done)} in {secs:.1f} s\n")
        self.stream.flush()


class _Callback:
    """``progress`` given as a callable: ``progress(filename, done_bytes, total_bytes)`` once
    when the transfer starts (done 0) and after every chunk; total is None when unknown."""

    def __init__(self, fn, name, total):
        self.fn, self.name, self.total, self.done = fn, name, total, 0
        fn(name, 0, total)

    def update(self, n):
        self.done += n
        self.fn(self.name, self.done, self.total)

    def close(self, ok):
        pass


def _mb(n):
    if n is None:
        return "? MB"
    return f"{n / 1e6:.1f} MB"


def _try_one(url, dest, filename, sha256, size, timeout, progress):
    """Download ``url`` to ``dest/filename``; return None on success or a reason string."""
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{filename}.", suffix=".part")
    ok = False
    bar = None
    try:
        with os.fdopen(fd, "wb") as out:
            req = urllib.request.Request(url, headers={"User-Agent": "fastmlp"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                length = resp.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if size is not None and length is not None and length != size:
                    return f"server announces {length} bytes, expected {size}"
                limit = size if size is not None else length
                h = hashlib.sha256()
                got = 0
                bar = (_Callback(progress, filename, limit) if callable(progress)
                       else _Progress(filename, limit, enabled=progress))
                while True:
                    # Never read past the expected size (+1 to detect an over-long body).
                    want = _CHUNK if limit is None else min(_CHUNK, limit + 1 - got)
                    if want <= 0:
                        break
                    chunk = resp.read(want)
                    if not chunk:
                        break
                    got += len(chunk)
                    h.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
            if length is not None and got < length:
                return f"truncated transfer: {got} of {length} bytes"
            if size is not None and got != size:
                return f"got {got} bytes, expected {size}"
            digest = h.hexdigest()
            if sha256 is not None and digest != sha256.lower():
                return f"sha256 mismatch: got {digest}, expected {sha256}"
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, os.path.join(dest, filename))
        ok = True
        return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"{exc.reason}"
    except Exception as exc:  # http.client.IncompleteRead, timeouts, resets, ...
        return f"{type(exc).__name__}: {exc}"
    finally:
        if bar is not None:
            bar.close(ok)
        if not ok:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


def fetch_file(filename, mirrors, dest, *, sha256=None, size=None, timeout=60.0, progress=None):
    """Fetch ``filename`` from the first mirror that serves it intact into ``dest``.

    ``mirrors`` are base URLs (the file name is appended).  Returns the final path; raises
    :class:`DownloadError` listing every URL tried and why it failed.  ``progress``: None
    (a bar on stderr when it is a terminal), True/False (the bar on/off), or a callable
    ``progress(filename, done_bytes, total_bytes)`` to report elsewhere (each mirror tried
    starts again from 0).
    """
    os.makedirs(dest, exist_ok=True)
    failures = []
    for base in mirrors:
        url = base if base.endswith(filename) else base.rstrip("/") + "/" + filename
        reason = _try_one(url, dest, filename, sha256, size, timeout, progress)
        if reason is None:
            return os.path.join(dest, filename)
        failures.append(f"  {url}: {reason}")
    raise DownloadError(
        f"could not download {filename}; every mirror failed:\n" + "\n".join(failures)
    )
