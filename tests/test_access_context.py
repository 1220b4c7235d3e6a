"""Access-context content (CAI's ACCESS_POLICY content type) on one asset.

An asset may carry several ACCESS_POLICY records of one name, each with one access policy,
access level or service perimeter (Google's policy-library fixtures hang three perimeters on
the organization). The reader keeps them all, keyed by each object's own name; the same object
repeated is one; two different objects of the same object name are a conflict naming both
places.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phiguard.cli import main
from phiguard.errors import SnapshotError
from phiguard.inventory.readers import discover
from phiguard.inventory.scope import PhiConfig
from phiguard.inventory.snapshot import load_context, snapshot_assets
from phiguard.testing import assets_from_records

ORG = "//cloudresourcemanager.googleapis.com/organizations/660570133860"
POLICY = "accessPolicies/1008882730433"


def _perimeter(short: str, projects: list[str]) -> dict[str, Any]:
    return {"name": f"{POLICY}/servicePerimeters/{short}", "title": short,
            "status": {"resources": projects, "restricted_services": ["bigquery.googleapis.com"]}}


def _on_org(**content: Any) -> dict[str, Any]:
    return {"name": ORG, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
            "ancestors": ["organizations/660570133860"], **content}


def _write(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "assets.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records),
                                        encoding="utf-8")
    return snap


def _loaded_org(snap: Path) -> Any:
    files = discover([snap])
    loaded = load_context(files, ["cloudresourcemanager.googleapis.com/Organization"],
                          PhiConfig(all=True))
    [org] = [a for a in snapshot_assets(loaded, files, None) if a.name == ORG]
    return org


def test_several_perimeters_on_one_asset_are_all_kept(tmp_path: Path) -> None:
    """Three perimeters and an access level under the organization's name, one repeated in
    gcloud's and the REST flavour: one asset holding all four objects by their own names."""
    one, two, three = (_perimeter(s, ["projects/1"]) for s in ("p1", "p2", "p3"))
    level = {"name": f"{POLICY}/accessLevels/corp", "title": "corp",
             "basic": {"conditions": [{"ip_subnetworks": ["10.0.0.0/8"]}]}}
    records = [_on_org(service_perimeter=one), _on_org(service_perimeter=two),
               _on_org(servicePerimeter=two),  # the same object again, in camelCase
               _on_org(service_perimeter=three), _on_org(access_level=level),
               _on_org(resource={"data": {"name": "organizations/660570133860"}})]
    org = _loaded_org(_write(tmp_path, records))
    assert org.access_policy is not None
    assert sorted(org.access_policy["servicePerimeters"]) == [
        f"{POLICY}/servicePerimeters/{s}" for s in ("p1", "p2", "p3")]
    assert list(org.access_policy["accessLevels"]) == [f"{POLICY}/accessLevels/corp"]
    assert org.access_policy["servicePerimeters"][f"{POLICY}/servicePerimeters/p3"]["title"] \
        == "p3"
    assert "ACCESS_POLICY" in (org.content or ())
    # the helper rule authors use merges the same way
    [helper_org] = assets_from_records(records)
    assert helper_org.access_policy == org.access_policy


def test_two_different_objects_of_one_object_name_are_a_conflict(tmp_path: Path) -> None:
    """Same asset, same perimeter name, different content: exit 2 naming both lines."""
    records = [_on_org(service_perimeter=_perimeter("p1", ["projects/1"])),
               _on_org(service_perimeter=_perimeter("p2", ["projects/1"])),
               _on_org(service_perimeter=_perimeter("p1", ["projects/2"]))]
    snap = _write(tmp_path, records)
    with pytest.raises(SnapshotError) as caught:
        _loaded_org(snap)
    message = str(caught.value)
    assert "conflicting duplicate" in message
    assert f"{POLICY}/servicePerimeters/p1" in message
    assert "assets.ndjson:3" in message and "assets.ndjson:1" in message, message
    with pytest.raises(SnapshotError, match="servicePerimeters/p1") as helper:
        assets_from_records(records)
    assert "<records>:3" in str(helper.value) and "<records>:1" in str(helper.value), \
        str(helper.value)
    result = CliRunner().invoke(main, ["scan", str(snap), "--at", "2026-11-25T00:00:00Z"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_access_content_counts_as_collected(tmp_path: Path) -> None:
    """The Inventory's coverage sees ACCESS_POLICY content held by several records."""
    records = [_on_org(service_perimeter=_perimeter(s, ["projects/1"])) for s in ("a", "b")]
    files = discover([_write(tmp_path, records)])
    loaded = load_context(files, [], PhiConfig(all=True))
    assert "ACCESS_POLICY" in loaded.inventory.coverage.held
    assert loaded.inventory.coverage.gap_anywhere("ACCESS_POLICY") is None
