"""The instance-metadata fix actions (VM-005 block-project-ssh-keys, VM-002 serial console off)
against the emulator with the real discovery clients: instances.setMetadata replaces every
item, guarded by the metadata fingerprint the plan read."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _fix import cli, findings_file, journal_lines
from emulator import Emulator

VM = "//compute.googleapis.com/projects/p1/zones/us-east4-a/instances/ehr-api-1"
MIG_VM = "//compute.googleapis.com/projects/p1/zones/us-east4-a/instances/portal-web-x1"
SCRIPT = {"key": "startup-script", "value": "#!/bin/bash\nsystemctl start ehr-api\n"}
KEY = ("p1", "us-east4-a", "ehr-api-1")


@pytest.fixture()
def emu() -> Iterator[Emulator]:
    with Emulator() as server:
        c = server.cloud
        c.add_instance("p1", "us-east4-a", "ehr-api-1",
                       [SCRIPT, {"key": "serial-port-enable", "value": "true"}],
                       canIpForward=False)
        c.add_instance("p1", "us-east4-a", "portal-web-x1", [
            {"key": "instance-template",
             "value": "projects/111/global/instanceTemplates/portal-v42"},
            {"key": "created-by",
             "value": "projects/111/regions/us-east4/instanceGroupManagers/portal-mig"}])
        yield server


def _plan(emu: Emulator, tmp_path: Path, *failing: tuple[str, str]) -> tuple[Path, list[Any]]:
    out = tmp_path / "fixplan.json"
    result = cli(emu, "fix", "plan", str(findings_file(tmp_path, *failing)), "-o", str(out))
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text())["actions"]


def _items(emu: Emulator) -> list[dict[str, str]]:
    return list(emu.cloud.instances[KEY]["metadata"]["items"])


def test_block_project_keys_keeps_every_other_item(emu: Emulator, tmp_path: Path) -> None:
    """The plan sends setMetadata with the fingerprint it read and every existing item plus
    block-project-ssh-keys=TRUE; apply re-reads, VM-005 PASSes on the VM, and a second apply
    writes nothing."""
    fingerprint = emu.cloud.instances[KEY]["metadata"]["fingerprint"]
    path, [entry] = _plan(emu, tmp_path, ("VM-005", VM))
    assert entry["status"] == "change" and entry["action"] == "instance-block-project-ssh-keys"
    request = entry["request"]
    assert request["method"] == "compute.instances.setMetadata"
    assert request["params"]["instance"] == "ehr-api-1" and request["params"]["zone"] == \
        "us-east4-a"
    assert request["body"]["fingerprint"] == fingerprint
    assert request["body"]["items"][-1] == {"key": "block-project-ssh-keys", "value": "TRUE"}
    assert emu.cloud.writes == []

    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(path), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    assert _items(emu) == [SCRIPT, {"key": "serial-port-enable", "value": "true"},
                           {"key": "block-project-ssh-keys", "value": "TRUE"}]
    [line] = journal_lines(journal)
    assert (line["result"], line["rule_outcome"]) == ("applied", "PASS")

    writes = len(emu.cloud.writes)
    again = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "k"), "--yes")
    assert again.exit_code == 0, again.output
    assert len(emu.cloud.writes) == writes


def test_serial_port_off_replaces_the_key(emu: Emulator, tmp_path: Path) -> None:
    """serial-port-enable=true becomes FALSE (one item, not a duplicate key Compute would
    refuse); the instance's own FALSE decides VM-002 without the project or org policy."""
    path, [entry] = _plan(emu, tmp_path, ("VM-002", VM))
    assert entry["before"] == {"metadata": {"items": [
        SCRIPT, {"key": "serial-port-enable", "value": "true"}]}}
    result = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "j"), "--yes")
    assert result.exit_code == 0, result.output
    assert _items(emu) == [SCRIPT, {"key": "serial-port-enable", "value": "FALSE"}]
    [line] = journal_lines(tmp_path / "j")
    assert (line["result"], line["rule_outcome"]) == ("applied", "PASS")


def test_metadata_changed_since_the_plan_is_not_overwritten(emu: Emulator,
                                                             tmp_path: Path) -> None:
    """Someone adds an item after the plan: the fingerprint moved, nothing is sent (the
    replacing write would have dropped their item)."""
    path, _ = _plan(emu, tmp_path, ("VM-005", VM))
    emu.cloud.touch_instance_metadata("p1", "us-east4-a", "ehr-api-1",
                                      [SCRIPT, {"key": "ssh-keys", "value": "ops:ssh-ed25519 AAA"}])
    result = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "j"), "--yes")
    assert result.exit_code == 1 and "skipped-changed" in result.output
    assert emu.cloud.writes == []
    assert {"key": "ssh-keys", "value": "ops:ssh-ed25519 AAA"} in _items(emu)


def test_managed_instance_group_vm_is_left_manual(emu: Emulator, tmp_path: Path) -> None:
    """A VM whose metadata says a managed instance group created it gets no change: the
    group's template would restore the old metadata; the plan says so."""
    _, [entry] = _plan(emu, tmp_path, ("VM-005", MIG_VM))
    assert entry["status"] == "manual"
    assert "instance template" in entry["reason"]
    assert emu.cloud.writes == []


def _set_metadata(emu: Emulator, body: dict[str, Any]) -> int:
    url = f"{emu.base}/compute/v1/projects/p1/zones/us-east4-a/instances/ehr-api-1/setMetadata"
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_emulator_refuses_what_compute_refuses(emu: Emulator) -> None:
    """No fingerprint or a stale one: 412; the same key twice: 400; the current fingerprint
    with distinct keys: accepted."""
    current = emu.cloud.instances[KEY]["metadata"]["fingerprint"]
    items = [{"key": "block-project-ssh-keys", "value": "TRUE"}]
    assert _set_metadata(emu, {"items": items}) == 412
    assert _set_metadata(emu, {"items": items, "fingerprint": "stale"}) == 412
    assert _set_metadata(emu, {"items": items * 2, "fingerprint": current}) == 400
    assert _items(emu)[0] == SCRIPT
    assert _set_metadata(emu, {"items": items, "fingerprint": current}) == 200
    assert _items(emu) == items
