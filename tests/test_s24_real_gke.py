"""GKE-009 on policy-library's node pools with `management.autoUpgrade: "true"` (tests/realdata).

policy-library's GKE fixtures are hand-assembled (one cluster body pasted under several asset
names); 43 of their node pools write auto-upgrade as the string "true", where container v1's
NodeManagement.autoUpgrade is a boolean. That string is not Google's value: GKE-009 cannot say
whether those pools upgrade (UNKNOWN), and must not read them as auto-upgrade off (FAIL).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from phiguard.cli import main

ABAC = Path(__file__).parent / "realdata" / "policy-library" / "gke_legacy_abac.json"


def _gke009(records: list[dict[str, Any]], tmp_path: Path) -> dict[str, dict[str, Any]]:
    path = tmp_path / "assets.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(path), "-f", "json",
                                       "--at", "2026-11-25T00:00:00Z"])
    assert result.exit_code in (0, 1), result.output
    return {f["asset"]: f for f in json.loads(result.stdout)["results"]
            if f["rule_id"] == "GKE-009"}


def _records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(ABAC.read_text(encoding="utf-8"))
    pools = [p for r in records for p in r["resource"]["data"]["nodePools"]]
    assert pools and all(p["management"]["autoUpgrade"] == "true" for p in pools)
    return records


def test_the_real_clusters_fail_for_the_release_channel_alone(tmp_path: Path) -> None:
    found = _gke009(_records(), tmp_path)
    assert len(found) == 2
    for f in found.values():
        assert f["outcome"] == "FAIL"
        assert f["message"] == "the cluster is not enrolled in a release channel", f["message"]


def test_a_string_true_is_unknown_not_auto_upgrade_off(tmp_path: Path) -> None:
    # The real records on a release channel: only the pools' "true" strings are left to judge.
    records = copy.deepcopy(_records())
    for r in records:
        r["resource"]["data"]["releaseChannel"] = {"channel": "REGULAR"}
    found = _gke009(records, tmp_path)
    for f in found.values():
        assert f["outcome"] == "UNKNOWN", f
        assert "a string where Google defines a boolean" in f["message"], f["message"]
    # The same pools with container v1's boolean pass: the string alone made them unknown.
    for r in records:
        for pool in r["resource"]["data"]["nodePools"]:
            pool["management"]["autoUpgrade"] = True
    assert {f["outcome"] for f in _gke009(records, tmp_path).values()} == {"PASS"}
