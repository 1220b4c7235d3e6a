"""`phiguard scan` as its own process exits without tearing its heap down (a million-asset
heap takes about a second to free): only after every output is in place and standard output
and error are flushed, so nothing it writes is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from _paths import DEMO
from phiguard.cli import main

AT = "2026-11-25T00:00:00Z"


def test_the_scan_process_writes_everything_before_it_exits(tmp_path: Path) -> None:
    args = ["scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"), "--at", AT, "-f", "json"]
    want = CliRunner().invoke(main, args)
    assert want.exit_code == 1 and len(want.stdout) > 1_000_000  # more than a pipe buffers
    exe = str(Path(sys.executable).with_name("phiguard"))
    env = {**os.environ, "PYTHONUNBUFFERED": ""}
    done = subprocess.run([exe, *args], capture_output=True, env=env)
    assert (done.returncode, done.stdout.decode()) == (1, want.stdout)
    out = tmp_path / "out"
    done = subprocess.run([exe, "scan", str(DEMO), "--at", AT, "-f", "json", "-f", "html",
                           "-f", "sarif", "--output-dir", str(out)], capture_output=True,
                          env=env)
    assert done.returncode == 1
    assert b"note:" in done.stderr and done.stderr.endswith(b"\n")  # no --config: noted
    assert sorted(p.name for p in out.iterdir()) == ["phiguard.html", "phiguard.json",
                                                     "phiguard.sarif"]
    assert json.loads((out / "phiguard.json").read_text())["summary"]
    assert (out / "phiguard.html").read_text().rstrip().endswith("</html>")
