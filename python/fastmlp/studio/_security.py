"""Refuse what a page on another site could send to a server on the developer's machine:
a Host that is not this server's (DNS rebinding), an Origin that is not its own (cross-site
requests), an API call without the per-launch token (as Jupyter's)."""
from __future__ import annotations

import hmac
import json
from urllib.parse import parse_qs

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _hostname(host: str) -> str:
    if host.startswith("["):  # [::1]:8000
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware; ``allowed_hosts`` are the host names the server answers to
    (``None``: any, for a server bound to all interfaces, which still needs the token)."""

    def __init__(self, app, token: str, allowed_hosts):
        self.app = app
        self.token = token
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        why = self._refusal(scope, headers)
        if why is not None:
            status, message = why
            body = json.dumps({"error": message}).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            return await send({"type": "http.response.body", "body": body})
        return await self.app(scope, receive, send)

    def _refusal(self, scope, headers):
        host = headers.get("host", "")
        if self.allowed is not None and _hostname(host).lower() not in self.allowed:
            return 403, (f"Host {host!r} is not this server's (expected one of "
                         f"{', '.join(sorted(self.allowed))}); refused against DNS rebinding")
        origin = headers.get("origin")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            return 403, (f"Origin {origin!r} is not this server's (http://{host}); "
                         "cross-site requests are refused")
        if headers.get("sec-fetch-site") == "cross-site":
            return 403, "cross-site requests are refused"
        if scope["path"].startswith("/api/"):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = headers.get("x-studio-token") or (query.get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return 401, ("missing or wrong token: open the URL `fastmlp studio` printed "
                             "(it ends in ?token=...)")
        return None
