"""The nightly GitHub workflow keeps the run history and the evidence in Cloud Storage (the
options it passes parse with the real CLI), signs in with Workload Identity Federation, checks
the evidence bucket, and uploads or downloads no workflow artifacts (they expire)."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import yaml

from _cli_args import parse_command
from _paths import REPO

WORKFLOW = REPO / ".github" / "workflows" / "phiguard-nightly.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text(encoding="utf-8")))


def _commands(script: str) -> list[list[str]]:
    """The `phiguard ...` command lines of a run script (continuations joined, shell
    variables left as their names)."""
    joined = script.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.split(" > ", 1)[0].strip()
        if line.startswith("phiguard "):
            out.append(shlex.split(line)[1:])
    return out


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return list(workflow["jobs"]["audit"]["steps"])


def test_no_workflow_artifacts(workflow: dict[str, Any]) -> None:
    uses = [s.get("uses", "") for s in _steps(workflow)]
    assert not any("artifact" in u for u in uses), uses
    assert "actions" not in workflow["permissions"]  # no reading of earlier runs' artifacts


def test_the_audit_keeps_store_and_evidence_in_cloud_storage(workflow: dict[str, Any]) -> None:
    env = workflow["env"]
    assert env["STORE"] == "${{ vars.PHIGUARD_STORE }}"
    assert env["EVIDENCE"] == "${{ vars.PHIGUARD_EVIDENCE }}"
    header = WORKFLOW.read_text(encoding="utf-8")
    assert re.search(r"PHIGUARD_STORE\s+gs://\S+/phiguard\.db", header)
    assert re.search(r"PHIGUARD_EVIDENCE\s+gs://\S+", header)
    audit = next(s for s in _steps(workflow) if s.get("id") == "audit")
    commands = {parse_command(args)[0]: parse_command(args)[1]
                for args in _commands(audit["run"])}
    assert set(commands) == {"audit", "diff", "history"}
    assert commands["audit"]["store_path"] == "$STORE"
    assert commands["audit"]["evidence"] == "$EVIDENCE"
    assert "bundle" not in commands["audit"]
    assert commands["diff"]["store_path"] == commands["history"]["store_path"] == "$STORE"


def test_workload_identity_federation_and_the_bucket_check(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"]["id-token"] == "write"
    steps = _steps(workflow)
    auth = next(s for s in steps if s.get("uses", "").startswith("google-github-actions/auth"))
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    assert steps.index(auth) < next(i for i, s in enumerate(steps) if s.get("id") == "audit")
    check = next(s for s in steps if "evidence check" in s.get("run", ""))
    name, values = parse_command(shlex.split(check["run"])[1:])
    assert name == "evidence check"
    assert values["bucket"] == "gs://$(echo $EVIDENCE | cut -d/ -f3)"  # the bucket of EVIDENCE
    assert check["if"] == "always()"
