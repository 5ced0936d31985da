"""A real ``fastmlp studio`` server in a subprocess (the command line as a user starts it),
for the command-line and browser tests: yields its URL (with the token), then stops it
with Ctrl-C and checks that it shut down cleanly. ``inprocess_studio`` serves the app with
uvicorn on a thread of the test's own process instead (so the test's monkeypatches, e.g.
fake datasets' checksums, hold for the server)."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
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


@contextlib.contextmanager
def inprocess_studio(data_dir, timeout=30, **kwargs):
    import uvicorn

    from fastmlp.studio import create_app
    token = "inprocess-token"
    app = create_app(data_dir, token=token, **kwargs)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        t_end = time.monotonic() + timeout
        while not server.started:
            assert thread.is_alive() and time.monotonic() < t_end, "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/?token={token}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
