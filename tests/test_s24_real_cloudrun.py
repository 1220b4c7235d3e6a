"""Cloud Run services in the shape Google's own data writes them (tests/realdata).

Cloud Asset exports seen show every `run.googleapis.com/Service` in the v1 (Knative) form:
ingress in the `run.googleapis.com/ingress` annotation of `metadata`, the identity in
`spec.template.spec.serviceAccountName`. Google's Terraform-to-CAI converter (tfplan2cai, since
September 2025) writes a `google_cloud_run_v2_service` under the same asset type in run v2's
shape instead (`resource.version` v2; `ingress`, `template.serviceAccount`, no `metadata`, no
`spec`). SRV-001 and SRV-002 read the v1 fields: on a v2 record the annotation's and account's
absence says nothing about the service, so they are UNKNOWN, not a FAIL built from v1's
defaults (a v2 service set to internal-only ingress would otherwise FAIL "accepts traffic from
the internet").
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phiguard.cli import main

TGC = Path(__file__).parent / "realdata" / "terraform-google-conversion"
V2 = TGC / "tfplan2cai-example_cloud_run_v2_service.json"
V1 = TGC / "tfplan2cai-example_cloud_run_service.json"


def _scan(records: list[dict[str, Any]], tmp_path: Path) -> dict[str, dict[str, Any]]:
    path = tmp_path / "assets.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(path), "-f", "json",
                                       "--at", "2026-11-25T00:00:00Z"])
    assert result.exit_code in (0, 1), result.output
    return {f["rule_id"]: f for f in json.loads(result.stdout)["results"]
            if f["asset_type"] == "run.googleapis.com/Service"}


def _v2() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(V2.read_text(encoding="utf-8"))
    assert records[0]["resource"]["version"] == "v2"
    assert "metadata" not in records[0]["resource"]["data"]
    return records


@pytest.mark.parametrize("rule", ["SRV-001", "SRV-002"])
def test_a_v2_record_is_not_judged_by_v1_defaults(tmp_path: Path, rule: str) -> None:
    found = _scan(_v2(), tmp_path)[rule]
    assert found["outcome"] == "UNKNOWN", found
    assert "data.metadata is absent" in found["message"], found["message"]


def test_a_v2_service_set_to_internal_ingress_does_not_fail(tmp_path: Path) -> None:
    # The real record with the one field its Terraform leaves out set, as the converter
    # writes it (expandCloudRunV2ServiceIngress: the v2 enum as given).
    records = _v2()
    internal = copy.deepcopy(records)
    internal[0]["resource"]["data"]["ingress"] = "INGRESS_TRAFFIC_INTERNAL_ONLY"
    assert _scan(internal, tmp_path)["SRV-001"]["outcome"] != "FAIL"


@pytest.mark.parametrize("rule", ["SRV-001", "SRV-002"])
def test_a_v1_record_without_the_fields_still_fails(tmp_path: Path, rule: str) -> None:
    # The converter's v1 record names no ingress and no account: v1's defaults (all traffic,
    # the project's default service account) decide it.
    records = json.loads(V1.read_text(encoding="utf-8"))
    service = [r for r in records if r["asset_type"] == "run.googleapis.com/Service"]
    assert service and all("metadata" in r["resource"]["data"] for r in service)
    assert _scan(records, tmp_path)[rule]["outcome"] == "FAIL"
