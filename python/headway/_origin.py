"""The default rate-limit key of a request: its origin."""

from __future__ import annotations

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin(scheme: str, host: str, port: "int | None") -> str:
    """``scheme://host:port``, with the scheme's default port when none is given, so that
    ``https://api.example.com`` and ``https://api.example.com:443`` share one queue."""
    scheme = scheme.lower()
    if port is None:
        port = _DEFAULT_PORTS.get(scheme, 0)
    host = host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
