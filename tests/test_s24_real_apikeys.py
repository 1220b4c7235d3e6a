"""KEY-002 on the API key Google's Terraform-to-CAI converter writes (tests/realdata).

tfplan2cai's example_apikeys_key writes the key's `restrictions` in Terraform's block names
(`api_targets` as one object, `android_key_restrictions`), none of the five fields apikeys v2
defines for `V2Restrictions` (androidKeyRestrictions, apiTargets, browserKeyRestrictions,
iosKeyRestrictions, serverKeyRestrictions). The record restricts the key to one API and one
Android app: KEY-002 cannot read that, so UNKNOWN, not a FAIL saying the key may call every
API. A `restrictions` holding any field Google defines, or none at all, is judged as before.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from phiguard.cli import main

KEY = (Path(__file__).parent / "realdata" / "terraform-google-conversion"
       / "tfplan2cai-example_apikeys_key.json")


def _key002(records: list[dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "assets.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(path), "-f", "json",
                                       "--at", "2026-11-25T00:00:00Z"])
    assert result.exit_code in (0, 1), result.output
    found: list[dict[str, Any]] = [f for f in json.loads(result.stdout)["results"]
                                   if f["rule_id"] == "KEY-002"]
    assert len(found) == 1, found
    return found[0]


def _records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(KEY.read_text(encoding="utf-8"))
    assert set(records[0]["resource"]["data"]["restrictions"]) == {
        "api_targets", "android_key_restrictions"}
    return records


def test_restrictions_in_terraforms_names_are_unknown_not_unrestricted(tmp_path: Path) -> None:
    found = _key002(_records(), tmp_path)
    assert found["outcome"] == "UNKNOWN", found
    assert "data.restrictions.apiTargets" in found["message"], found["message"]


def test_the_same_restrictions_in_googles_names_pass(tmp_path: Path) -> None:
    records = copy.deepcopy(_records())
    records[0]["resource"]["data"]["restrictions"] = {
        "apiTargets": [{"service": "translate.googleapis.com", "methods": ["GET"]}],
        "androidKeyRestrictions": {"allowedApplications": [{
            "packageName": "com.example.app123",
            "sha1Fingerprint": "1699466a142d4682a5f91b50fdf400f2358e2b0b"}]}}
    assert _key002(records, tmp_path)["outcome"] == "PASS"


def test_no_restrictions_or_only_an_application_one_still_fail(tmp_path: Path) -> None:
    records = copy.deepcopy(_records())
    del records[0]["resource"]["data"]["restrictions"]
    found = _key002(records, tmp_path)
    assert found["outcome"] == "FAIL"
    assert "not restricted to any API" in found["message"]
    records[0]["resource"]["data"]["restrictions"] = {
        "androidKeyRestrictions": {"allowedApplications": [{"packageName": "com.example.app"}]}}
    found = _key002(records, tmp_path)
    assert found["outcome"] == "FAIL"
    assert "not restricted to any API" in found["message"]
    records[0]["resource"]["data"]["restrictions"] = {
        "apiTargets": [{"service": "translate.googleapis.com"}]}
    found = _key002(records, tmp_path)
    assert found["outcome"] == "FAIL"
    assert "no application restriction" in found["message"]
