"""``fastmlp studio``: the browser model builder on fastmlp's engine (``pip install
"fastmlp[studio]"``).

:mod:`.app` is the web app (Starlette), :mod:`.cli` the command; the model specs, the
training runs, the inspect views and the request checks each have a module. The page
(``static/``) ships inside the package and loads nothing from the network. A plain
``import fastmlp`` never imports this package.
"""
from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """See :func:`fastmlp.studio.app.create_app` (imports the web framework on first call)."""
    from .app import create_app as make
    return make(*args, **kwargs)
