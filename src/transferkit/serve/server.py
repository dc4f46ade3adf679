"""Running the app with uvicorn, with the edges a public socket needs.

- The port is checked (range, and that it can be bound) before the model loads.
- `--host 0.0.0.0` (or any non-loopback address) without a token logs a warning.
- A connection must send its request headers within `header_timeout_s` (uvicorn has no
  such timeout: a client sending half a header would hold its connection forever);
  the body has its own deadline in the app (408). `limit_concurrency` caps open
  connections (503 above), `timeout_keep_alive` closes idle keep-alive connections.

>>> # serve("sentiment-analysis", host="127.0.0.1", port=8000, token="s3cret")
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from typing import Any

from transferkit.errors import InputError

logger = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 200
KEEP_ALIVE_S = 5


def check_listen(host: str, port: Any) -> int:
    """Fail fast, before the model is loaded: a port out of 1..65535, or one that cannot
    be bound on `host` (taken, or privileged), is one clear error."""
    from transferkit.utils.checks import check_port

    port = check_port(port)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError(f"--host {host!r} is not an address this machine knows ({e})") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise InputError(
                f"cannot listen on {host}:{port} ({e.strerror}); pick another --port "
                "(e.g. --port 8080), or stop what is using it"
            ) from None
    return port


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def warn_if_open(host: str, token: str | None) -> str | None:
    """The warning for a non-loopback address without a token (also logged), or None."""
    if is_loopback(host) or token:
        return None
    msg = (
        f"serving on {host} without a token: anyone who can reach this machine can use the "
        "model. Pass --token (or set TRANSFERKIT_TOKEN), or --host 127.0.0.1"
    )
    logger.warning(msg)
    return msg


def guarded_protocol(header_timeout_s: float = HEADER_TIMEOUT_S) -> type:
    """uvicorn's h11 protocol with a header deadline: a connection whose request line and
    headers are not complete `header_timeout_s` after it opens (or after its last
    response) is closed."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):  # type: ignore[misc]
        _header_timer: Any = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the headers are in
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's headers have the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


def serve(
    model_ref: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    max_connections: int = MAX_CONNECTIONS,
    **kwargs: Any,
) -> None:
    """Check the address, build the app (loads the model), run uvicorn until interrupted."""
    from transferkit.errors import require_extra
    from transferkit.utils.checks import check_number

    require_extra("uvicorn", "serve")
    import uvicorn

    from transferkit.serve.app import TOKEN_ENV, create_app

    port = check_listen(host, port)
    check_number(header_timeout_s, "header_timeout_s", low=0, low_open=True, example=10)
    check_number(max_connections, "max_connections", low=1, integer=True, example=200)
    token = kwargs.get("token")
    warn_if_open(host, token if token is not None else os.environ.get(TOKEN_ENV))
    app = create_app(model_ref, **kwargs)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        http=guarded_protocol(header_timeout_s),
        limit_concurrency=max_connections,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    uvicorn.Server(config).run()
