"""Serve a preview on 127.0.0.1: bind the port (a free one when none is given), print the URL,
run uvicorn until interrupted."""

from __future__ import annotations

import socket
from collections.abc import Callable

from incept_dsl.errors import UsageError

#: The host names `--host` takes; both bind the loopback address only.
LOCAL_HOSTS = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1"}


def check_host(host: str) -> str:
    """The address to bind for `host`: only the loopback address; `UsageError` otherwise."""
    if host not in LOCAL_HOSTS:
        raise UsageError(
            f"the preview serves this machine only: --host takes 127.0.0.1 or localhost, "
            f"not {host[:60]!r}"
        )
    return LOCAL_HOSTS[host]


def bind(address: str, port: int) -> socket.socket:
    """A listening socket on `address`:`port` (`port` 0: a free port); `UsageError` when the
    port is taken or not allowed."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port takes 0 to 65535; got {port}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise UsageError(f"cannot listen on {address}:{port}: {err.strerror or err}") from None
    sock.set_inheritable(True)
    return sock


def serve(app: object, sock: socket.socket, on_ready: Callable[[str], None]) -> None:
    """Run `app` on `sock` with uvicorn until interrupted; `on_ready(url)` first."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    on_ready(f"http://{host}:{port}/")
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
