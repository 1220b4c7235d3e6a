"""The socket guard itself: loopback works, anything else fails the test."""

from __future__ import annotations

import contextlib
import os
import socket

import pytest

from _net import REFUSED, NonLoopbackConnection


def test_metadata_probe_disabled() -> None:
    """Credential discovery is told there is no GCE metadata server."""
    assert os.environ["NO_GCE_CHECK"] == "true"


def test_non_loopback_connection_is_refused() -> None:
    """Connecting to the metadata server address raises before any packet leaves."""
    with socket.socket() as sock, pytest.raises(NonLoopbackConnection):
        sock.connect(("169.254.169.254", 80))
    assert len(REFUSED) == 1  # recorded, so a caught attempt still fails its test
    REFUSED.clear()  # this test made it on purpose


def test_a_caught_attempt_is_recorded() -> None:
    """Code that catches the guard's exception and falls back cannot hide the attempt."""
    with contextlib.suppress(Exception):  # what a library with a fallback does
        socket.create_connection(("github.com", 443), timeout=1)
    assert REFUSED and "github.com" in REFUSED[0]
    REFUSED.clear()


def test_loopback_connection_is_allowed() -> None:
    """A server on 127.0.0.1 is reachable."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            conn, _ = server.accept()
            conn.close()
