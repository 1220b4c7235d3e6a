"""A snapshot that gives a scan every run-level reason for UNKNOWN verdicts at once: the demo
organization without its IAM policies (`content_missing`), without its log sinks and log
metrics (`asset_types_missing`), with a manifest naming one coverage gap (`coverage_gaps`) and
nothing of what was exported (so the types rules judge that it lacks, FirewallPolicy among
them, are `subject_types_missing`), with one record of a pre-v1 type (`pre_v1_asset_types`),
judged with a config whose PHI scope names a project the snapshot does not hold
(`scope_warnings`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from _paths import DEMO

SINK = "logging.googleapis.com/LogSink"
METRIC = "logging.googleapis.com/LogMetric"
GONE = "oh-phi-gone"
GAP = {"source": "directory", "what": "users of customer my_customer",
       "reason": "permission denied", "error": "403 Forbidden", "status": 403,
       "consequence": "rules on directory users are UNKNOWN"}
REASON_FIELDS = ("scope_warnings", "content_missing", "asset_types_missing",
                 "subject_types_missing", "pre_v1_asset_types", "coverage_gaps")
# A record of Cloud Asset's pre-v1 form (a 2018 export: tests/realdata/professional-services),
# which no rule judges (`pre_v1_asset_types`).
PRE_V1 = ('{"name":"//compute.googleapis.com/projects/oh-phi-prod/global/firewalls/old",'
          '"asset_type":"google.compute.Firewall","resource":{"version":"v1",'
          '"discovery_name":"Firewall","parent":"//cloudresourcemanager.googleapis.com/'
          'projects/56004542525","data":{"name":"old","direction":"INGRESS",'
          '"sourceRange":["10.128.0.0/9"]}}}')


def lossy_snapshot(tmp: Path) -> tuple[Path, Path]:
    """The snapshot directory and the config that judges it, under `tmp`."""
    out = tmp / "lossy"
    out.mkdir()
    for src in DEMO.glob("*.ndjson"):
        if src.name == "iam_policy.ndjson":
            continue
        kept = [line for line in src.read_text().splitlines()
                if line.strip() and json.loads(line).get("asset_type") not in (SINK, METRIC)]
        if src.name == "resources.ndjson":
            kept.append(PRE_V1)
        (out / src.name).write_text("\n".join(kept) + "\n")
    shutil.copy(DEMO / "directory-users.json", out / "directory-users.json")
    (out / "manifest.json").write_text(json.dumps({"coverage_gaps": [GAP]}))
    config = tmp / "phiguard.yaml"
    text = (DEMO / "phiguard.yaml").read_text()
    assert "projects: [oh-phi-prod," in text
    config.write_text(text.replace("projects: [oh-phi-prod,", f"projects: [{GONE}, oh-phi-prod,"))
    return out, config
