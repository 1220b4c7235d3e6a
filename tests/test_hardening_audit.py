"""A killed audit leaves no collected snapshot behind for long: the next run removes it.

audit collects into a scratch directory beside its store (`.<store>.audit/run-*`), holding a
lock on it while it runs; each audit first removes the scratch of runs whose lock is free
(killed runs), and never one that is still running.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from emulator import Emulator
from phiguard.cli import main


def _audit_args(store: Path, demo_dir: Path) -> list[str]:
    return ["audit", "--org", "123456789012", "--config", str(demo_dir / "phiguard.yaml"),
            "--store", str(store), "--directory-customer", "my_customer", "--concurrency", "1"]


def _scratch(store: Path) -> Path:
    return store.parent / f".{store.name}.audit"


def test_sigkilled_audit_scratch_is_removed_by_the_next_run(emu: Emulator, tmp_path: Path,
                                                            demo_dir: Path) -> None:
    """SIGKILL an audit in the middle of collecting: its partial snapshot stays in the
    scratch directory beside the store; the next audit removes it and leaves none of its own."""
    store = tmp_path / "h.db"
    emu.fault("/assets", delay=30, times=1, content_type="ORG_POLICY")
    env = {**os.environ, "PHIGUARD_GCP_ENDPOINT": emu.base, "NO_GCE_CHECK": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "phiguard.cli", *_audit_args(store, demo_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while emu.count("contentType=4") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emu.count("contentType=4") == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = list(_scratch(store).iterdir())
    assert len(left) == 1 and left[0].name.startswith("run-")
    assert any(p.is_file() for p in left[0].rglob("*.ndjson"))  # collected data was there

    result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(
        main, _audit_args(store, demo_dir), catch_exceptions=False)
    assert result.exit_code == 1, result.output  # the demo org has failing findings
    assert not _scratch(store).exists()  # the killed run's scratch, its own, and the root
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("phiguard-audit-*/snapshot"))


def test_a_running_audits_scratch_is_left_alone(emu: Emulator, tmp_path: Path,
                                                demo_dir: Path) -> None:
    """A scratch directory whose lock is held (another audit still running) is not removed."""
    store = tmp_path / "h.db"
    busy = _scratch(store) / "run-busy"
    busy.mkdir(parents=True)
    (busy / "resource.ndjson").write_text("{}\n")
    with open(busy / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(
            main, _audit_args(store, demo_dir), catch_exceptions=False)
        assert result.exit_code == 1, result.output
        assert (busy / "resource.ndjson").exists()
    assert [p.name for p in _scratch(store).iterdir()] == ["run-busy"]
