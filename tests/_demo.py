"""Counts of the bundled demo organization, read from what its generator wrote (the manifest
and the expected findings), so tests follow the demo as it grows instead of copying numbers."""

from __future__ import annotations

import json

import yaml

from _paths import DEMO

_MANIFEST = json.loads((DEMO / "manifest.json").read_text(encoding="utf-8"))
_EXPECTED = yaml.safe_load((DEMO / "expected-findings.yaml").read_text(encoding="utf-8"))

# Records per content type (RESOURCE, IAM_POLICY, ORG_POLICY, ACCESS_POLICY, DIRECTORY_USERS).
RECORDS: dict[str, int] = {s["content_type"]: s["records"] for s in _MANIFEST["sources"]}
# The planted violations a scan with the demo's phiguard.yaml reports as FAIL (not WAIVED).
FAILING: int = sum(1 for e in _EXPECTED if e["outcome"] == "FAIL")
