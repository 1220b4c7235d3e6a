"""A project-scoped export holds no log sink of the project's folder or organization: a
`find within: ancestry` (LOG-002, LOG-011, MON-001..008 look for aggregated sinks that way)
that finds no passing sink of the project's own is UNKNOWN, naming the ancestors the input does
not hold, not FAIL "no sink": an organization sink may export the project's logs. A sink of
the project's own that passes still decides (PASS). The same export with its organization's
record and sinks judges as the organization export does. Both engines agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO

AT = "2026-11-25T00:00:00Z"
ANALYTICS = "731209564122"  # PHI; its logs leave only through the organization's sinks
ORG = "organizations/123456789012"
SINK = "logging.googleapis.com/LogSink"


def _project_export(tmp: Path, project: str, *, with_org: bool = False) -> Path:
    """The demo's records of one project (as `gcloud asset export --project` writes them: every
    type, the project's own records), with a manifest saying every type was exported; with
    `with_org`, the organization's record and sinks too."""
    out = tmp / f"p{project}{'-org' if with_org else ''}"
    out.mkdir()
    for src in DEMO.glob("*.ndjson"):
        kept = []
        for line in src.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            ancestors = rec.get("ancestors") or []
            mine = f"projects/{project}" in ancestors
            org_own = with_org and ancestors == [ORG] and rec.get("asset_type") in (
                SINK, "cloudresourcemanager.googleapis.com/Organization")
            if mine or org_own:
                kept.append(line)
        (out / src.name).write_text("\n".join(kept) + "\n")
    (out / "manifest.json").write_text(json.dumps({
        "scope": f"projects/{project}", "asset_types_requested": {"RESOURCE": "*"},
        "content_types": ["RESOURCE", "IAM_POLICY", "ORG_POLICY", "ACCESS_POLICY"]}))
    return out


def _scan(snap: Path, out: Path, engine: str = "local") -> dict[str, dict[str, Any]]:
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    args = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"] \
        if engine == "beam" else []
    run_scan([snap], config_path=DEMO / "phiguard.yaml", at=parse_at(AT),
             outputs=[Output("json", str(out), "--output")], engine=engine,
             pipeline_args=args, notify=lambda _: None)
    doc = json.loads(out.read_text())
    return {f"{r['rule_id']} {r['asset'].rsplit('/', 1)[-1]}": r for r in doc["results"]}


@pytest.fixture(scope="module")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("ancestors")
    return _scan(_project_export(tmp, ANALYTICS), tmp / "f.json")


@pytest.mark.parametrize("rule", ["LOG-002", "LOG-011"])
def test_no_sink_of_its_own_is_unknown_not_fail(analytics: dict[str, dict[str, Any]],
                                                 rule: str) -> None:
    r = analytics[f"{rule} {ANALYTICS}"]
    assert r["outcome"] == "UNKNOWN", r
    assert ORG in r["message"] and "folders/587410229301" in r["message"], r["message"]


def test_a_sink_of_its_own_still_passes(tmp_path: Path) -> None:
    # a project sink of every log (no filter) exports them whatever the organization has
    snap = _project_export(tmp_path, ANALYTICS)
    own = {"name": f"//logging.googleapis.com/projects/{ANALYTICS}/sinks/all-to-security",
           "asset_type": SINK, "ancestors": [f"projects/{ANALYTICS}", "folders/587410229301", ORG],
           "resource": {"version": "v2", "discovery_name": "LogSink",
                        "parent": f"//cloudresourcemanager.googleapis.com/projects/{ANALYTICS}",
                        "data": {"name": "all-to-security", "destination":
                                 "logging.googleapis.com/projects/oh-security-logging/"
                                 "locations/global/buckets/org-audit"}}}
    with (snap / "resources.ndjson").open("a") as f:
        f.write(json.dumps(own) + "\n")
    found = _scan(snap, tmp_path / "f.json")
    assert found[f"LOG-002 {ANALYTICS}"]["outcome"] == "PASS", found[f"LOG-002 {ANALYTICS}"]


def test_with_the_organization_held_its_sinks_decide(tmp_path: Path) -> None:
    # the folder is still absent: the org's sinks pass the project, and a folder sink could
    # only add one, so LOG-002 passes as on the organization export
    found = _scan(_project_export(tmp_path, ANALYTICS, with_org=True), tmp_path / "f.json")
    assert found[f"LOG-002 {ANALYTICS}"]["outcome"] == "PASS", found[f"LOG-002 {ANALYTICS}"]


def test_beam_agrees(tmp_path: Path, analytics: dict[str, dict[str, Any]]) -> None:
    beam = _scan(_project_export(tmp_path, ANALYTICS), tmp_path / "b.json", engine="beam")
    assert {k: v["outcome"] for k, v in beam.items()} == {
        k: v["outcome"] for k, v in analytics.items()}
    assert beam[f"LOG-002 {ANALYTICS}"]["message"] == analytics[f"LOG-002 {ANALYTICS}"]["message"]
