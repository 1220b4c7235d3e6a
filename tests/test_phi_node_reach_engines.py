"""Both engines judge a grant on a folder or the organization alike when a configured PHI project
is missing from the snapshot: its reach is UNKNOWN (naming the project), never "no PHI", and the
Beam engine's findings are the local engine's byte for byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from _paths import DEMO
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]


NON_PHI_FOLDER = "folders/587410229415"  # holds oh-web-prod only
WEB_APP = "serviceAccount:web-app@oh-web-prod.iam.gserviceaccount.com"


def _org(tmp_path: Path, *, ghost: bool) -> Path:
    """The demo org where web-app (oh-web-prod) is also Editor on the non-PHI folder; with
    `ghost`, phiguard.yaml names a PHI project the snapshot does not hold."""
    org = tmp_path / ("ghost" if ghost else "placed")
    shutil.copytree(DEMO, org)
    with open(org / "iam_policy.ndjson", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({
            "name": f"//cloudresourcemanager.googleapis.com/{NON_PHI_FOLDER}",
            "asset_type": "cloudresourcemanager.googleapis.com/Folder",
            "iam_policy": {"version": 1, "etag": "BwYAAAAAAAE=", "bindings": [
                {"role": "roles/editor", "members": [WEB_APP]}]},
            "ancestors": [NON_PHI_FOLDER, "organizations/123456789012"]}) + "\n")
    if ghost:
        config = org / "phiguard.yaml"
        text = config.read_text(encoding="utf-8")
        old = 'projects: [oh-phi-prod, "731209564122"]'
        assert old in text
        config.write_text(text.replace(old, 'projects: [oh-phi-prod, "731209564122", ghost]'),
                          encoding="utf-8")
    return org


def _scan(org: Path, out: Path, **beam: Any) -> bytes:
    from phiguard.cli._options import parse_at

    output = Output("json", str(out), "--output")
    run_scan([org], config_path=org / "phiguard.yaml", outputs=[output], at=parse_at(AT), **beam)
    return out.read_bytes()


def test_node_grants_of_unknown_reach_are_judged_alike_by_both_engines(tmp_path: Path) -> None:
    """The Editor grant on the non-PHI folder: known not to reach PHI while every PHI project
    is placed (IAM-001 PASS), of unknown reach when one is missing (UNKNOWN, naming it)."""
    sa = "//iam.googleapis.com/projects/oh-web-prod/serviceAccounts/"

    def iam_001(doc: bytes) -> dict[str, Any]:
        [found] = [r for r in json.loads(doc)["results"]
                   if r["rule_id"] == "IAM-001" and r["asset"].startswith(sa)]
        return found

    placed = _scan(_org(tmp_path, ghost=False), tmp_path / "placed.json")
    assert iam_001(placed)["outcome"] == "PASS"
    org = _org(tmp_path, ghost=True)
    local = _scan(org, tmp_path / "local.json")
    found = iam_001(local)
    assert found["outcome"] == "UNKNOWN"
    assert NON_PHI_FOLDER in found["message"] and "ghost" in found["message"]
    beam = _scan(org, tmp_path / "beam.json", engine="beam", pipeline_args=IN_PROCESS)
    assert beam == local
