"""Findings JSON lines (report.json_report.finding_bytes): one mapping encoded per finding, the
outcome and controls as held; the line is exactly `orjson.dumps(to_json())` for every kind of
finding, and the plan gate's JSON report writes those bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from _paths import PLANS
from phiguard.findings import Finding, Outcome
from phiguard.report.json_report import finding_bytes, finding_line
from phiguard.terraform.gate import PlanFinding


def _reference(finding: Finding) -> bytes:
    return orjson.dumps(finding.to_json(), option=orjson.OPT_NON_STR_KEYS)


BASE = Finding(rule_id="NET-001", asset="//compute.googleapis.com/projects/p/global/firewalls/f",
               asset_type="compute.googleapis.com/Firewall", outcome=Outcome.FAIL,
               severity="high", controls=("hipaa/164.312(a)(1)", "cis-gcp-5.0/3.6"),
               message="the rule allows SSH from \"0.0.0.0/0\" \u2014 fix it",
               evidence=(("data.sourceRanges", ["0.0.0.0/0"]), ("data.disabled", False),
                         ("data.allowed[0]", {"IPProtocol": "tcp", "ports": ["22"]}),
                         ("data.labels", {1: "non-string key", "k": None})),
               source="plan.json#google_compute_firewall.f")

CASES: list[Finding] = [
    BASE,
    replace(BASE, source=None),
    replace(BASE, source=""),
    replace(BASE, evidence=()),
    replace(BASE, outcome=Outcome.PASS, controls=()),
    replace(BASE, outcome=Outcome.WAIVED, waiver={"id": "W-1", "reason": "accepted \u00e9"}),
    replace(BASE, asset="//storage.googleapis.com/b\u00fccket \"quoted\"\n"),
    PlanFinding(**{f: getattr(BASE, f) for f in BASE.__dataclass_fields__},
                address="google_compute_firewall.f", change="create",
                terraform_fix={"address": "google_compute_firewall.f",
                               "attribute": "source_ranges", "value": ["35.235.240.0/20"]}),
    PlanFinding(**{f: getattr(BASE, f) for f in BASE.__dataclass_fields__},
                address=None, change=None),
    PlanFinding(**{f: getattr(BASE, f) for f in BASE.__dataclass_fields__},
                address="module.a.google_sql_database_instance.db[0]", change="update",
                location={"file": "main.tf", "line": 12}),
]


@pytest.mark.parametrize("finding", CASES)
def test_line_is_the_encoded_to_json(finding: Finding) -> None:
    assert finding_bytes(finding) == _reference(finding)
    assert finding_line(finding) == _reference(finding).decode()
    assert json.loads(finding_bytes(finding)) == json.loads(_reference(finding))


def test_findings_differing_in_one_leading_member_are_each_written_as_they_are() -> None:
    variants = [BASE, replace(BASE, rule_id="NET-002"),
                replace(BASE, asset_type="compute.googleapis.com/FirewallPolicy"),
                replace(BASE, outcome=Outcome.UNKNOWN), replace(BASE, severity="low"),
                replace(BASE, controls=("hipaa/164.312(e)(1)",))]
    for finding in variants * 2:
        assert finding_bytes(finding) == _reference(finding)


def test_controls_that_cannot_be_a_key_are_written_all_the_same() -> None:
    finding = replace(BASE, controls=["hipaa/164.312(a)(1)"])  # type: ignore[arg-type]
    assert finding_bytes(finding) == _reference(finding)


def test_a_subclass_that_writes_its_own_json_is_not_cut_short() -> None:
    @dataclass(frozen=True, slots=True)
    class Tagged(Finding):
        tag: str = "x"

        def to_json(self) -> dict[str, Any]:
            return {"tag": self.tag, **Finding.to_json(self)}

    finding = Tagged(**{f: getattr(BASE, f) for f in BASE.__dataclass_fields__}, tag="t")
    assert finding_bytes(finding) == _reference(finding)
    assert finding_bytes(finding).startswith(b'{"tag":"t",')


def test_plan_json_report_lines_are_each_findings_to_json(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from phiguard.runs.outputs import Output
    from phiguard.runs.plan import run_plan_gate

    out = tmp_path / "f.json"
    result = run_plan_gate(PLANS / "iam.json", config_path=PLANS / "phiguard.yaml",
                           outputs=[Output("json", str(out))],
                           at=datetime(2026, 11, 25, tzinfo=UTC))
    raw = out.read_bytes()
    doc = json.loads(raw)
    assert result.findings, "the fixture plan has findings"
    assert doc["results"] == [json.loads(_reference(f)) for f in result.findings]
    # one result a line, each exactly the finding's encoded to_json
    lines = raw.split(b'"results": [\n', 1)[1].split(b"\n],\n", 1)[0].split(b",\n")
    assert lines == [_reference(f) for f in result.findings]


def test_sarif_and_markdown_written_together_frame_the_findings_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The PR gate's reports from one judgement are the bytes each makes alone, and the
    framework's findings are made once for both (terraform.render.framed)."""
    from datetime import UTC, datetime

    from phiguard.runs.outputs import Output
    from phiguard.runs.plan import run_plan_gate
    from phiguard.terraform import render

    at = datetime(2026, 11, 25, tzinfo=UTC)
    alone = {}
    for fmt in ("sarif", "markdown"):
        path = tmp_path / f"alone.{fmt}"
        run_plan_gate(PLANS / "iam.json", config_path=PLANS / "phiguard.yaml",
                      outputs=[Output(fmt, str(path))], at=at)
        alone[fmt] = path.read_bytes()
    calls = []
    real = render.framed

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(render, "framed", counting)
    run_plan_gate(PLANS / "iam.json", config_path=PLANS / "phiguard.yaml",
                  outputs=[Output("sarif", str(tmp_path / "both.sarif")),
                           Output("markdown", str(tmp_path / "both.md")),
                           Output("json", str(tmp_path / "both.json"))], at=at)
    assert len(calls) == 1
    assert (tmp_path / "both.sarif").read_bytes() == alone["sarif"]
    assert (tmp_path / "both.md").read_bytes() == alone["markdown"]
    assert alone["sarif"].endswith(b"}\n") and json.loads(alone["sarif"])["runs"]
