"""A real ``fastmlp studio`` server in a subprocess (the command line as a user starts it),
for the command-line and browser tests: yields its URL (with the token), then stops it
with Ctrl-C and checks that it shut down cleanly."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request


@contextlib.contextmanager
def studio_server(data_dir, timeout=60):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    site = ["-S"] if sys.flags.no_site else []  # the same fastmlp as this process imports
    proc = subprocess.Popen([sys.executable, *site, "-m", "fastmlp", "studio", "--no-browser",
                             "--port", "0", "--data-dir", str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        url, seen, t_end = None, [], time.monotonic() + timeout
        while url is None and time.monotonic() < t_end:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            m = re.search(r"(http://\S+\?token=\S+)", line)
            url = m.group(1) if m else None
        assert url, "the studio printed no URL:\n" + "".join(seen)
        while True:  # the URL is printed just before uvicorn starts listening
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                if time.monotonic() > t_end or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)  # as Ctrl-C: uvicorn shuts down, training stops
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
    assert proc.returncode == 0 and "fastmlp studio: stopped" in rest, (proc.returncode, rest)
