"""CIS logging rules at plan time: a project the plan creates with a log-based metric and an
alert policy on it passes the metric's MON rule and fails the others; the alert policy's filter
names the metric through a reference the plan resolves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from _paths import PLANS
from _plans import change, plan_doc
from phiguard.cli import main

P = "phi-prod"
SQL_FILTER = 'protoPayload.methodName="cloudsql.instances.update"'
PROJECT = "//cloudresourcemanager.googleapis.com/projects/111"


def _plan(tmp_path: Path, alert_enabled: bool) -> dict[str, Any]:
    changes = [
        change("google_project", "phi", {"project_id": P, "name": "PHI prod", "number": "111",
                                         "folder_id": "222"}),
        change("google_logging_metric", "sql", {"name": "sql-changes", "project": P,
                                                "filter": SQL_FILTER,
                                                "metric_descriptor": [{"metric_kind": "DELTA",
                                                                       "value_type": "INT64"}]}),
        change("google_monitoring_alert_policy", "sql", {
            "project": P, "display_name": "[CIS] SQL changes", "combiner": "OR",
            "enabled": alert_enabled,
            "notification_channels": [f"projects/{P}/notificationChannels/1"],
            "conditions": [{"display_name": "sql > 0", "condition_threshold": [{
                "filter": 'metric.type="logging.googleapis.com/user/sql-changes"',
                "comparison": "COMPARISON_GT", "duration": "0s"}]}]},
            unknown={"name": True, "id": True}),
    ]
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(plan_doc(changes)))
    result = CliRunner().invoke(main, ["plan", str(path), "-c", str(PLANS / "phiguard.yaml"),
                                       "--at", "2026-11-25T00:00:00Z", "-f", "json"],
                                catch_exceptions=False)
    return dict(json.loads(result.stdout))


def _outcome(doc: dict[str, Any], rule: str) -> str:
    (found,) = [r["outcome"] for r in doc["results"]
                if r["rule_id"] == rule and r["asset"] == PROJECT]
    return str(found)


def test_a_planned_metric_with_an_enabled_alert_passes_its_rule_only(tmp_path: Path) -> None:
    doc = _plan(tmp_path, alert_enabled=True)
    assert _outcome(doc, "MON-008") == "PASS"
    assert _outcome(doc, "MON-001") == "FAIL"


def test_a_disabled_planned_alert_fails(tmp_path: Path) -> None:
    assert _outcome(_plan(tmp_path, alert_enabled=False), "MON-008") == "FAIL"
