"""Line numbers are those of the file, whatever byte range of it pass 1 read a record in.

Pass 1 reads uncompressed NDJSON in byte ranges (`snapshot.RANGE_BYTES`, made small here so
the demo's files span many), possibly in other processes. The records it reads whole there
(policies, join targets) must carry their line in the file, not in their range: a policy-only
asset's findings name that line, and so does every error about such a record.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import DEMO, RULES
from _reach import INSTANCE, instance_grant
from phiguard.cli import main
from phiguard.config import load_config
from phiguard.inventory import snapshot
from phiguard.inventory.readers import discover
from phiguard.inventory.snapshot import load_context
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack

SMALL = 4096  # bytes per range: the demo's IAM policies (66 lines, ~48 KB) span a dozen
WHOLE = 1 << 30  # one range per file: every line read from the file's start
ORPHAN = "//storage.googleapis.com/oh-phi-orphan-lines"
BUCKET = "storage.googleapis.com/Bucket"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _write(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _append(path: Path, *records: dict[str, Any]) -> int:
    """Appends these records, one a line; the last one's line in the file."""
    with open(path, "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    return len(_lines(path))


def _org(tmp_path: Path) -> tuple[Path, int]:
    """A demo copy whose IAM policy file ends with the policy of a bucket no resource record
    names (a policy-only asset); (the copy, that policy's line in its file)."""
    org = tmp_path / "org"
    shutil.copytree(DEMO, org)
    iam = org / "iam_policy.ndjson"
    policies = _lines(iam)
    bucket = next(p for p in policies if p["asset_type"] == BUCKET)
    line = _append(iam, {**bucket, "name": ORPHAN})
    assert _lines(iam)[line - 1]["name"] == ORPHAN
    assert len(iam.read_bytes()) > 4 * SMALL  # well after the first range
    return org, line


def _scan(org: Path, out: Path, jobs: int) -> tuple[int, list[dict[str, Any]], str]:
    result = CliRunner().invoke(main, [
        "scan", str(org), "--config", str(DEMO / "phiguard.yaml"), "--format", "json",
        "-o", str(out), "--at", "2026-11-25T00:00:00Z", "--jobs", str(jobs)])
    if result.exit_code == 2:
        return 2, [], result.output
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(out.read_text(encoding="utf-8"))["results"], ""


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_policy_only_asset_names_its_line_in_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    org, line = _org(tmp_path)
    monkeypatch.setattr(snapshot, "RANGE_BYTES", WHOLE)
    _, whole, _ = _scan(org, tmp_path / "whole.json", 1)
    monkeypatch.setattr(snapshot, "RANGE_BYTES", SMALL)
    _, ranged, _ = _scan(org, tmp_path / "ranged.json", jobs)
    orphan = [r for r in ranged if r["asset"] == ORPHAN]
    assert orphan  # bucket rules judge its policy
    assert {r["source"] for r in orphan} == {f"{org / 'iam_policy.ndjson'}:{line}"}
    assert ranged == whole  # every finding, source included, as a read of every line gives


@pytest.mark.parametrize("jobs", [1, 2])
def test_held_records_and_policies_carry_their_line_in_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """Every policy and every held join target (also the deferred ones, read whole at the end
    of pass 1) says the line that holds it."""
    org, _ = _org(tmp_path)
    # the last instance granted: a reach-only type, read by envelope in pass 1 and read whole
    # at its end (`_read_later`) for its grant
    last = [r for r in _lines(org / "resources.ndjson") if r["asset_type"] == INSTANCE][-1]
    _append(org / "iam_policy.ndjson", instance_grant(last))
    monkeypatch.setattr(snapshot, "RANGE_BYTES", SMALL)
    # without NET-010, which holds every instance (see test_read_pass1._engine)
    engine = Engine(load_pack([RULES]).rules, params=load_config(DEMO / "phiguard.yaml").params,
                    disable={"NET-010"})
    loaded = load_context(discover([org]), engine.context_types(),
                          load_config(DEMO / "phiguard.yaml").phi, jobs=jobs,
                          fields=engine.context_fields(),
                          judged=(engine.subject_types(), engine.any_type_needs()),
                          reach_only=engine.reach_only_types())
    files: dict[str, list[bytes]] = {}
    held = [*loaded.policies.values(), *loaded.inventory.of_types(loaded.counts)]
    later = 0
    for record in held:
        source = record.source
        assert source is not None
        if source.file.endswith(".json"):
            continue  # directory users: not NDJSON
        lines = files.setdefault(source.file, Path(source.file).read_bytes().splitlines())
        assert json.loads(lines[source.line - 1])["name"] == record.name, (record.name, source)
        later += sum(len(line) + 1 for line in lines[:source.line - 1]) >= SMALL
    assert later > 50  # many from ranges after the first
    assert [a.name for a in loaded.inventory.of_types([INSTANCE])] == [last["name"]]
    assert INSTANCE in engine.reach_only_types()


def _error(org: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> str:
    monkeypatch.setattr(snapshot, "RANGE_BYTES", SMALL)
    code, _, ranged = _scan(org, tmp_path / "ranged.json", jobs)
    assert code == 2
    monkeypatch.setattr(snapshot, "RANGE_BYTES", WHOLE)
    code, _, whole = _scan(org, tmp_path / "whole.json", 1)
    assert code == 2
    assert ranged == whole
    return ranged


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_policy_of_another_type_fails_at_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """A bucket's IAM policy (late in its file) giving another asset type than the bucket's
    resource record: the error is at the policy's line and names the resource's."""
    org, _ = _org(tmp_path)
    iam = org / "iam_policy.ndjson"
    policies = _lines(iam)
    at = max(i for i, p in enumerate(policies) if p["asset_type"] == BUCKET and p["name"] != ORPHAN)
    name = policies[at]["name"]
    policies[at]["asset_type"] = "storage.googleapis.com/Object"
    _write(iam, policies)
    resources = _lines(org / "resources.ndjson")
    where = 1 + next(i for i, r in enumerate(resources) if r["name"] == name)
    message = _error(org, tmp_path, monkeypatch, jobs)
    assert (f"{iam}:{at + 1}: {name} has asset type storage.googleapis.com/Object here but "
            f"{BUCKET} at {org / 'resources.ndjson'}:{where}") in message


@pytest.mark.parametrize("jobs", [1, 2])
def test_two_policy_records_of_one_name_fail_at_their_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """The policy-only bucket given an org policy too, of another asset type, further down:
    the error names both lines as they are in the file."""
    org, line = _org(tmp_path)
    iam = org / "iam_policy.ndjson"
    org_policy = _lines(org / "org_policy.ndjson")[0]
    padding = [p for p in _lines(iam) if p["name"] != ORPHAN][:8]
    # eight repeated records (duplicates judged once) put it in a later range
    second = _append(iam, *padding, {**org_policy, "name": ORPHAN})
    message = _error(org, tmp_path, monkeypatch, jobs)
    assert (f"{iam}:{second}: {ORPHAN} has asset type {org_policy['asset_type']} here but "
            f"{BUCKET} at {iam}:{line}") in message


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_malformed_policy_late_in_its_file_fails_at_its_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    org, line = _org(tmp_path)
    iam = org / "iam_policy.ndjson"
    policies = _lines(iam)
    policies[line - 1]["iam_policy"]["bindings"] = "everyone"
    _write(iam, policies)
    message = _error(org, tmp_path, monkeypatch, jobs)
    assert f"{iam}:{line}: " in message


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_conflicting_policy_late_in_its_file_names_both_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    org, line = _org(tmp_path)
    iam = org / "iam_policy.ndjson"
    policies = _lines(iam)
    changed = json.loads(json.dumps(policies[line - 1]))
    changed["iam_policy"]["bindings"] = changed["iam_policy"]["bindings"][:1]
    assert changed != policies[line - 1]
    # eight repeated records (duplicates judged once) put it in a later range
    second = _append(iam, *policies[:8], changed)
    message = _error(org, tmp_path, monkeypatch, jobs)
    assert (f"{iam}:{second}: conflicting duplicate: {ORPHAN} (IAM_POLICY) differs from the "
            f"record at {iam}:{line}") in message
