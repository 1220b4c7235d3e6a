"""benchmarks/run.py and plan_run.py, the harness itself: what they count and print."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from _paths import DEMO, REPO

RUN = REPO / "benchmarks" / "run.py"


def _resources() -> int:
    manifest = json.loads((DEMO / "manifest.json").read_text())
    return sum(s["records"] for s in manifest["sources"] if s["content_type"] == "RESOURCE")


def _run(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(RUN), *args, "--help-runs", "0", "--json"],
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_snapshot_counts_its_assets() -> None:
    """`--snapshot` scans a given export: its assets are counted (they were reported as 1, and
    0 assets/s), as distinct resources the scan read, directory users and policy lines apart."""
    doc = _run("--snapshot", str(DEMO), "--config", str(DEMO / "phiguard.yaml"),
               "--formats", "json", "--jobs", "1")
    (run,) = doc["runs"]
    assert run["assets"] == _resources() > 100
    assert run["assets_per_s"] > 0
    assert abs(run["assets_per_s"] - run["assets"] / run["wall_s"]) <= run["assets_per_s"] / 100
    assert run["lines"] > run["assets"]  # IAM, org and access policy lines come on top
