"""Test-wide guards: no Google metadata probing and no traffic beyond loopback."""

from __future__ import annotations

import os

# Before any Google import: credential discovery must never probe the metadata server.
os.environ["NO_GCE_CHECK"] = "true"
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO, RULES

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


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}: only loopback allowed")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}: only loopback allowed")
    return _real_connect_ex(self, address)


def _guarded_create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    if not _loopback(address):
        raise NonLoopbackConnection(f"test tried to connect to {address!r}: only loopback allowed")
    return _real_create_connection(address, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.create_connection = _guarded_create_connection


@pytest.fixture(scope="session")
def rules_dir() -> Path:
    return RULES


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


@pytest.fixture(scope="session")
def demo_scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The findings JSON of `phiguard scan` on the demo organization with its config, made
    once per test run and read-only: a test that needs to change it copies it."""
    from click.testing import CliRunner

    from phiguard.cli import main

    out = tmp_path_factory.mktemp("demo-scan") / "findings.json"
    result = CliRunner().invoke(main, ["scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml"),
                                       "--format", "json", "--output", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the demo has planted violations
    out.chmod(0o444)
    return out


@pytest.fixture()
def write(tmp_path: Path) -> Iterator[Any]:
    """write(name, text_or_bytes) -> Path inside tmp_path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    yield _write
