"""Test-wide guards: no Google metadata probing and no traffic beyond loopback."""

from __future__ import annotations

import os

# Before any Google import: credential discovery must never probe the metadata server.
os.environ["NO_GCE_CHECK"] = "true"
os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
# The rule-pack cache (phiguard.policy.pack_cache) goes to a directory of this test run, never
# the user's ~/.cache; subprocesses inherit it.
if "PHIGUARD_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _cache = tempfile.mkdtemp(prefix="phiguard-test-cache-")
    os.environ["PHIGUARD_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from _net import REFUSED, install_loopback_guard
from _paths import DEMO, RULES

install_loopback_guard()

# No per-example time limit by default (hypothesis's is 200 ms, a wall-clock assert that fails
# on a loaded machine); a test that guards against hangs sets its own generous deadline.
settings.register_profile("phiguard", deadline=None)
settings.load_profile("phiguard")


@pytest.fixture(autouse=True)
def _no_hidden_connection_attempts() -> Iterator[None]:
    """A refused non-loopback connection fails its test even when the code under test caught
    the guard's exception and carried on (Beam's DirectRunner did, trying to download Prism)."""
    REFUSED.clear()
    yield
    attempts, REFUSED[:] = list(REFUSED), []
    assert not attempts, "; ".join(attempts)


@pytest.fixture(autouse=True)
def _generated_from_the_first_asset() -> Iterator[None]:
    """Engines judge every asset by their generated evaluators, as before `interpret_first`
    (the tests that compare them with the interpreted closures judge a few assets); the tiers
    themselves are tested in tests/test_s23_eval_tiers.py."""
    from phiguard.policy.engine import Engine

    saved, Engine.interpret_first = Engine.interpret_first, 0
    yield
    Engine.interpret_first = saved


@pytest.fixture(scope="session")
def rules_dir() -> Path:
    return RULES


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return DEMO


@pytest.fixture()
def emu() -> Iterator[Any]:
    """The emulated Google APIs serving the demo organization (a module whose tests need
    another world defines its own `emu`)."""
    from emulator import Emulator

    with Emulator(DEMO) as server:
        yield server


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


@pytest.fixture(scope="module")
def pack_loaded_once() -> Iterator[None]:
    """For a module whose many CLI runs judge with the same rules: each run's rule pack is
    loaded once and reused (a load costs 0.3 s or more), where the rules are not the subject."""
    import importlib
    import pkgutil

    import phiguard.runs
    from phiguard.runs import common

    loaded: dict[tuple[Path, ...], Any] = {}

    def load_once(rules: Any) -> Any:
        key = tuple(rules)
        if key not in loaded:
            loaded[key] = common.load_pack(rules)
        return loaded[key]

    with pytest.MonkeyPatch.context() as patch:
        for info in pkgutil.iter_modules(phiguard.runs.__path__, "phiguard.runs."):
            module = importlib.import_module(info.name)
            if module is not common and hasattr(module, "load_pack"):
                patch.setattr(module, "load_pack", load_once)
        yield


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
