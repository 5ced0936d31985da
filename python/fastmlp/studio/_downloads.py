"""Dataset downloads the page asks for: one background thread per dataset, at most one at a
time for each, into ``<data dir>/datasets/<name>`` through the loaders (mirrors in order,
sha256 and size checked, atomic rename), with the bytes done / total of each file for the
page to poll. A failure (no network, a checksum mismatch, a mirror's 404) becomes the
download's ``error`` message; the server never sees a traceback.

Mirrors: by default the loaders' own. ``mirrors`` (``create_app(mirrors=...)``, the
``--mirror`` option or ``$FASTMLP_STUDIO_MIRRORS``, whitespace- or comma-separated) are
base URLs serving ``<base>/<dataset name>/<file name>``; a mapping gives each dataset's
list of base URLs as the loaders take them.
"""
from __future__ import annotations

import logging
import os
import threading

from .. import datasets as fds
from ..datasets import _loaders
from . import _data
from ._errors import StudioError

log = logging.getLogger("fastmlp.studio")
MIRRORS_ENV = "FASTMLP_STUDIO_MIRRORS"


def parse_mirrors(mirrors):
    """``None`` (the loaders' mirrors, or ``$FASTMLP_STUDIO_MIRRORS``), base URLs, or a
    mapping ``{dataset: [base URLs]}`` -> a mapping (empty: the loaders' own mirrors)."""
    if mirrors is None:
        mirrors = os.environ.get(MIRRORS_ENV, "").replace(",", " ").split()
    if isinstance(mirrors, str):
        mirrors = [mirrors]
    if isinstance(mirrors, dict):
        out = {}
        for name, urls in mirrors.items():
            if name not in _loaders.DATASETS:
                raise ValueError(f"mirrors: expected dataset names among "
                                 f"{', '.join(_loaders.DATASETS)}, got {name!r}")
            out[name] = tuple([urls] if isinstance(urls, str) else urls)
        return out
    bases = tuple(mirrors)
    for b in bases:
        if not str(b).startswith(("http://", "https://")):
            raise ValueError(f"mirrors: expected http:// or https:// base URLs, got {b!r}")
    if not bases:
        return {}
    return {n: tuple(f"{b.rstrip('/')}/{n}/" for b in bases) for n in _loaders.DATASETS}


class Cancelled(Exception):
    """Raised from the progress hook when the server shuts down: fetch_file drops the
    transfer and its temporary file."""


class Download:
    """One dataset's download: its files' progress, its status and error (read by the page)."""

    def __init__(self, name, dest):
        self.name = name
        self.status = "downloading"
        self.error = None
        self.cancelled = False
        self.thread = None
        self._lock = threading.Lock()
        self.files = {}  # file name -> [done, total]
        for f in _loaders.DATASETS[name].files:
            here = os.path.isfile(os.path.join(dest, f.name))
            self.files[f.name] = [f.size if here else 0, f.size]

    def report(self, filename, done, total):
        """fetch_file's progress hook (on the download's thread)."""
        if self.cancelled:
            raise Cancelled("the server is shutting down")
        with self._lock:
            self.files[filename] = [done, total if total is not None else done]

    def finish(self, status, error=None):
        with self._lock:
            self.status, self.error = status, error

    def public(self) -> dict:
        with self._lock:
            files = [{"name": k, "done": d, "total": t} for k, (d, t) in self.files.items()]
            return {"name": self.name, "status": self.status, "error": self.error,
                    "files": files, "done": sum(f["done"] for f in files),
                    "total": sum(f["total"] for f in files)}


class Downloads:
    """The downloads of one server (its data dir's ``datasets/``)."""

    def __init__(self, root, mirrors=None):
        self.root = root
        self.mirrors = parse_mirrors(mirrors)
        self._lock = threading.Lock()
        self.jobs: dict = {}  # dataset name -> its latest Download

    def state(self, name) -> dict | None:
        job = self.jobs.get(name)
        return job.public() if job is not None else None

    def start(self, name) -> tuple:
        """``(state, started)``: a new download, or the one already under way (not started)."""
        _data.check_name(name)
        if name == "sample":
            raise StudioError("dataset 'sample' ships with fastmlp: nothing to download",
                              field="dataset")
        with self._lock:
            job = self.jobs.get(name)
            if job is not None and job.status == "downloading":
                return job.public(), False
            if _data.available(name, self.root):
                raise StudioError(f"dataset {name!r} is already on this machine", 409,
                                  field="dataset")
            dest = _data.home(self.root, name)
            job = self.jobs[name] = Download(name, dest)
        job.thread = threading.Thread(target=self._work, args=(job, dest), daemon=True,
                                      name=f"studio-download-{name}")
        job.thread.start()
        return job.public(), True

    def shutdown(self, timeout=10.0):
        """Cancel the downloads under way and wait for them (their temporary files go)."""
        with self._lock:
            busy = [j for j in self.jobs.values() if j.status == "downloading"]
        for job in busy:
            job.cancelled = True
        for job in busy:
            job.thread.join(timeout)

    def _work(self, job, dest):
        name = job.name
        try:
            data = fds.load(name, path=dest, download=True, mirrors=self.mirrors.get(name),
                            progress=job.report)
        except fds.DatasetNotFoundError as exc:
            reason = exc.__cause__ if exc.__cause__ is not None else exc
            job.finish("failed", f"downloading {name} failed: {reason}")
        except ValueError as exc:  # the files arrived intact but do not parse
            job.finish("failed", f"downloading {name}: the files are not valid: {exc}")
        except Exception as exc:  # never a silent dead thread: the page shows it
            log.exception("downloading %s failed", name)
            job.finish("failed", f"downloading {name} failed ({type(exc).__name__}: {exc}); "
                                 "the server log has the details")
        else:
            _data.remember(name, self.root, data)
            job.finish("done")
