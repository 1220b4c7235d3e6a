"""A snapshot that gives a scan every run-level reason for UNKNOWN verdicts at once: the demo
organization without its IAM policies (`content_missing`), without its log sinks and log
metrics (`asset_types_missing`), with a manifest naming one coverage gap (`coverage_gaps`),
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
REASON_FIELDS = ("scope_warnings", "content_missing", "asset_types_missing", "coverage_gaps")


def lossy_snapshot(tmp: Path) -> tuple[Path, Path]:
    """The snapshot directory and the config that judges it, under `tmp`."""
    out = tmp / "lossy"
    out.mkdir()
    for src in DEMO.glob("*.ndjson"):
        if src.name == "iam_policy.ndjson":
            continue
        kept = [line for line in src.read_text().splitlines()
                if line.strip() and json.loads(line).get("asset_type") not in (SINK, METRIC)]
        (out / src.name).write_text("\n".join(kept) + "\n")
    shutil.copy(DEMO / "directory-users.json", out / "directory-users.json")
    (out / "manifest.json").write_text(json.dumps({"coverage_gaps": [GAP]}))
    config = tmp / "phiguard.yaml"
    text = (DEMO / "phiguard.yaml").read_text()
    assert "projects: [oh-phi-prod," in text
    config.write_text(text.replace("projects: [oh-phi-prod,", f"projects: [{GONE}, oh-phi-prod,"))
    return out, config
