"""The socket guard: a test may connect to loopback only (conftest installs it before any
test module is imported; test_guard checks it)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_create_connection = socket.create_connection


def _loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX paths stay on this machine
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NonLoopbackConnection(AssertionError):
    pass


# Every refused attempt, also those the code under test catches and hides (a library that
# falls back when a download fails would otherwise pass its test); conftest fails the test
# that made one.
REFUSED: list[str] = []


def _refuse(address: Any) -> NonLoopbackConnection:
    message = f"test tried to connect to {address!r}: only loopback allowed"
    REFUSED.append(message)
    return NonLoopbackConnection(message)


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _loopback(address):
        raise _refuse(address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _loopback(address):
        raise _refuse(address)
    return _real_connect_ex(self, address)


def _guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    if not _loopback(address):
        raise _refuse(address)
    return _real_create_connection(address, *args, **kwargs)


def install_loopback_guard() -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.create_connection = _guarded_create_connection
