"""``fastmlp studio``: its arguments (the CLI's parser calls :func:`add_parser`) and the
launch: a token per launch, the URL printed and opened, uvicorn serving the app.

Imports nothing of the web framework until the command runs, so ``fastmlp --help`` works
without the ``studio`` extra.
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import threading
import webbrowser

from ._security import LOOPBACK

DEFAULT_PORT = 8765
_WILDCARD = ("0.0.0.0", "::", "")


def default_data_dir() -> str:
    root = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(root, "fastmlp", "studio")


def _port(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if not 0 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in [0, 65535], got {text!r}")
    return v


def add_parser(sub):
    s = sub.add_parser("studio", help="the browser model builder (needs fastmlp[studio])")
    s.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default: 127.0.0.1, this machine only)")
    s.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port (default: {DEFAULT_PORT}; 0: any free port)")
    s.add_argument("--no-browser", action="store_true", help="print the URL, open no browser")
    s.add_argument("--data-dir", default=None,
                   help=f"where runs and downloaded datasets are kept (default: "
                        f"{default_data_dir()})")
    s.add_argument("--mirror", action="append", default=None, metavar="URL",
                   help="a base URL serving <URL>/<dataset>/<file> for the page's Download "
                        "button, tried in order (repeatable; default: $FASTMLP_STUDIO_MIRRORS, "
                        "else the loaders' own mirrors)")
    s.set_defaults(func=cmd_studio)
    return s


def _bind_check(host, port):
    """The port to serve on: ``port``, or a free one for 0; an error message if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError as exc:
            return None, f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port"
        return s.getsockname()[1], None


def cmd_studio(args):
    from ..cli._common import CLIError
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise CLIError(f'fastmlp studio needs the studio extra ({exc.name} is missing): '
                       'pip install "fastmlp[studio]"') from None
    port, err = _bind_check(args.host, args.port)
    if err:
        raise CLIError(err)
    token = secrets.token_urlsafe(24)
    wildcard = args.host in _WILDCARD
    allowed = None if wildcard else tuple(LOOPBACK) + (args.host,)
    data_dir = args.data_dir or default_data_dir()
    try:
        app = create_app(data_dir, token=token, allowed_hosts=allowed, mirrors=args.mirror)
    except ValueError as exc:  # a malformed --mirror or $FASTMLP_STUDIO_MIRRORS
        raise CLIError(str(exc)) from None
    shown = "127.0.0.1" if wildcard else (f"[{args.host}]" if ":" in args.host else args.host)
    url = f"http://{shown}:{port}/?token={token}"
    print(f"fastmlp studio: runs and downloads kept in {os.path.abspath(data_dir)}")
    print(f"open this URL (its token is the key to this server; Ctrl-C stops it):\n  {url}",
          flush=True)
    if wildcard:
        print("warning: listening on every interface; anyone with the URL can train here")
    if not args.no_browser:
        threading.Timer(0.8, webbrowser.open, args=(url,)).start()

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame):
            app.closing.set()  # Ctrl-C: the event streams end, so shutdown need not wait
            super().handle_exit(sig, frame)

    # then the app's shutdown stops a training run at its next chunk and saves it
    server = Server(uvicorn.Config(app, host=args.host, port=port, log_level="warning",
                                   timeout_graceful_shutdown=5))
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down for: that is the
        pass                   # normal way to stop a server, not an interruption
    print("fastmlp studio: stopped")
    return 0
