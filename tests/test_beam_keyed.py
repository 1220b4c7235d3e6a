"""The Beam engine keys its large joins (phiguard.beam.joins): join targets of a keyed type are
grouped to the assets whose rules ask for them, never broadcast, and each asset is judged
against the broadcast part plus exactly its own targets, with the local engine's findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO, RULES
from phiguard.beam.joins import _value_key, plan_joins
from phiguard.config import load_config
from phiguard.inventory.refs import ref_key
from phiguard.inventory.types import HIERARCHY_TYPES
from phiguard.policy.engine import Engine
from phiguard.policy.paths import MISSING
from phiguard.policy.rule import load_pack
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]
SNAPSHOT, DISK = "compute.googleapis.com/Snapshot", "compute.googleapis.com/Disk"
# What the shipped pack cannot key (docs/scale.md): a find over every asset of the type
# (NET-004's non-PHI subnetworks and service accounts, MON-00x's alert policies and log
# metrics, whose rules also read log sinks), grants (service accounts), and Compute Engine's
# per-project metadata (one per project, read by every instance of it), and the networks a
# firewall policy is attached to (NET-010's `refs` over folders, organizations and networks:
# a list of references of several types, which the keyed plan does not take; networks are few),
# and the organization's firewall policies NET-009/NET-010 find among every firewall policy.
BROADCAST = {"compute.googleapis.com/Subnetwork", "iam.googleapis.com/ServiceAccount",
             "monitoring.googleapis.com/AlertPolicy", "logging.googleapis.com/LogMetric",
             "logging.googleapis.com/LogSink", "compute.googleapis.com/Project",
             "compute.googleapis.com/Instance", "compute.googleapis.com/Network",
             "compute.googleapis.com/FirewallPolicy"}


def _engine() -> Engine:
    config = load_config(DEMO / "phiguard.yaml")
    return Engine(load_pack([RULES]).rules, params=config.params, enable=config.enable,
                  disable=config.disable)


def test_the_shipped_pack_keys_every_join_it_can() -> None:
    engine = _engine()
    plan = plan_joins((cr.rule for cr in engine.rules), engine.context_types(),
                      engine.reach_only_types())
    assert {SNAPSHOT, "compute.googleapis.com/Firewall", "compute.googleapis.com/SslPolicy",
            "sqladmin.googleapis.com/Instance", "serviceusage.googleapis.com/Service"} \
        <= plan.keyed
    assert set(engine.context_types()) - plan.keyed == BROADCAST | HIERARCHY_TYPES
    kinds = {(j.rule, j.kind) for j in plan.joins}
    assert {("BAK-003", "ref"), ("BAK-004", "referrers"), ("LOG-013", "project"),
            ("DR-002", "equals"), ("IAM-001", "grants"), ("IAM-003", "grants")} <= kinds
    # MFA-001..003 read directory users' grants: those stay broadcast, the rest is keyed.
    assert plan.grants and not {j.rule for j in plan.joins} & {"MFA-001", "MFA-002", "MFA-003"}


def test_a_rule_that_also_scans_a_broadcast_type_keeps_its_joins_broadcast() -> None:
    rules = {r.id: r for r in load_pack([RULES]).rules}
    sink = "logging.googleapis.com/LogSink"
    alone = plan_joins([rules["LOG-002"]], [sink])  # sinks within ancestry only: keyed
    assert alone.keyed == {sink} and {j.kind for j in alone.joins} == {"ancestry"}
    # MON-001 reads the same sinks and every alert policy (a find over all of them, which
    # would be redone for each project if the sinks were delivered per project).
    both = plan_joins([rules["LOG-002"], rules["MON-001"]],
                      [sink, "monitoring.googleapis.com/AlertPolicy",
                       "logging.googleapis.com/LogMetric"])
    assert both.keyed == frozenset() and not both.joins


def test_values_python_finds_equal_share_a_join_key() -> None:
    assert _value_key(1) == _value_key(1.0) == _value_key(True) != _value_key("1")
    assert _value_key([1, {"a": 2}]) == _value_key([1.0, {"a": 2.0}])
    assert _value_key(MISSING) is None and _value_key(None) is None


def _scan(out: Path, org: Path = DEMO, config: Path | None = None, **beam: Any) -> bytes:
    """The findings JSON of a scan of `org` (the demo org; its phiguard.yaml unless `config`)
    with the local engine, or with Beam given `engine="beam"` and its options."""
    from phiguard.cli._options import parse_at

    output = Output("json", str(out), "--output")
    run_scan([org], config_path=config or org / "phiguard.yaml", outputs=[output],
             at=parse_at(AT), **beam)
    return out.read_bytes()


def test_keyed_targets_are_never_broadcast_and_reach_exactly_their_askers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard.beam import pipeline

    broadcast: list[set[str]] = []  # in-process runner: the transforms share this module
    members: list[set[str]] = []
    delivered: list[tuple[Any, list[Any]]] = []
    asked: list[dict[str, list[Any]]] = []
    build, overlay = pipeline._inventory, pipeline._AssetInventory

    def seen(spec: Any, context: Any) -> Any:
        broadcast.append({a.asset_type for a in context.held})
        members.append(set(context.grants))
        return build(spec, context)

    class Seen(overlay):  # type: ignore[misc, valid-type]
        def __init__(self, base: Any, targets: Any, keyed: Any, grants: Any = None) -> None:
            delivered.append((keyed, [a for _, a in targets]))
            asked.append(grants or {})
            super().__init__(base, targets, keyed, grants)

    monkeypatch.setattr(pipeline, "_inventory", seen)
    monkeypatch.setattr(pipeline, "_AssetInventory", Seen)
    original = pipeline.JudgeKeyed.process
    askers: list[Any] = []

    def judged(self: Any, element: Any, *args: Any, **kwargs: Any) -> Any:
        askers.extend(element[1]["asker"])
        return original(self, element, *args, **kwargs)

    monkeypatch.setattr(pipeline.JudgeKeyed, "process", judged)
    local = _scan(tmp_path / "local.json")
    beam = _scan(tmp_path / "beam.json", engine="beam", pipeline_args=IN_PROCESS)
    assert beam == local
    keyed = delivered[0][0]
    assert SNAPSHOT in keyed
    assert broadcast and all(not (types & keyed) for types in broadcast), broadcast
    # Every snapshot reaches the disk it was taken of, and no other asset.
    snapshots = [a for _, targets in delivered for a in targets if a.asset_type == SNAPSHOT]
    disks = {ref_key(a.name).rsplit("/", 1)[-1] for a in askers if a.asset_type == DISK}
    assert snapshots, "no snapshot was delivered"
    for (_, targets), asker in zip(delivered, askers, strict=True):
        for target in targets:
            if target.asset_type == SNAPSHOT:
                assert asker.asset_type == DISK
                source = ref_key(target.data["sourceDisk"]).rsplit("/", 1)[-1]
                assert source == ref_key(asker.name).rsplit("/", 1)[-1]
                assert source in disks
    # Only directory users' grants are broadcast; a service account (or key) judged gets
    # the bindings naming it, and only those.
    assert members and all(m.startswith("user:") for names in members for m in names), members
    accounts = [(asker, grants) for asker, grants in zip(askers, asked, strict=True)
                if grants and asker.asset_type == "iam.googleapis.com/ServiceAccount"]
    assert accounts, "no service account was sent its grants"
    for asker, grants in accounts:
        email = asker.data["email"].lower()
        assert set(grants) == {f"serviceaccount:{email}"}, (asker.name, set(grants))
        assert all(spelled.lower() == f"serviceaccount:{email}"
                   for entries in grants.values() for _, _, spelled in entries)


def test_a_grant_on_a_keyed_target_reads_its_network_as_the_local_engine(
        tmp_path: Path) -> None:
    """A keyed target that carries an IAM policy stays in the broadcast as well when its type
    has a network path: `grants within: phi` asks whether a grant on it reaches PHI, which
    its network decides (here a firewall on the PHI VPC, in a non-PHI project, granting a
    service account a role; the firewall's policy is hypothetical, the equivalence is not)."""
    import json
    import shutil

    org = tmp_path / "org"
    shutil.copytree(DEMO, org)
    with open(org / "resources.ndjson", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    firewall = next(r for r in records if r["asset_type"] == "compute.googleapis.com/Firewall"
                    and r["resource"]["data"].get("network", "").endswith("/phi-vpc")
                    and "/oh-shared-net/" in r["name"])
    account = next(r for r in records if r["asset_type"] == "iam.googleapis.com/ServiceAccount"
                   and "/oh-member-comms/" in r["name"])
    email = account["resource"]["data"]["email"]
    with open(org / "iam_policy.ndjson", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({
            "name": firewall["name"], "asset_type": firewall["asset_type"],
            "iam_policy": {"version": 1, "etag": "BwYAAAAAAAA=", "bindings": [
                {"role": "roles/compute.securityAdmin",
                 "members": [f"serviceAccount:{email}"]}]},
            "ancestors": firewall["ancestors"]}) + "\n")

    def scan(out: Path, **beam: Any) -> bytes:
        return _scan(out, org, **beam)

    local = scan(tmp_path / "local.json")
    found = [r for r in json.loads(local)["results"]
             if r["rule_id"] == "IAM-001" and r["asset"] == account["name"]]
    assert found and firewall["name"] in json.dumps(found[0]["evidence"]), found
    assert scan(tmp_path / "beam.json", engine="beam", pipeline_args=IN_PROCESS) == local


def test_a_reference_in_the_other_project_spelling_reaches_its_target(tmp_path: Path) -> None:
    """A proxy naming its SSL policy under the project's number while the policy's name uses
    the project id: the local engine finds it through the other spelling, so the proxy asks
    for both spellings and is sent the policy."""
    import json
    import shutil

    org = tmp_path / "org"
    shutil.copytree(DEMO, org)
    path = org / "resources.ndjson"
    lines = path.read_text(encoding="utf-8").splitlines()
    by_id = "/projects/oh-phi-prod/global/sslPolicies/"
    changed = None
    for i, line in enumerate(lines):
        record = json.loads(line)
        data = record.get("resource", {}).get("data", {})
        if record["asset_type"] == "compute.googleapis.com/TargetHttpsProxy" \
                and by_id in data.get("sslPolicy", ""):
            data["sslPolicy"] = data["sslPolicy"].replace(
                by_id, "/projects/731209564018/global/sslPolicies/")
            lines[i], changed = json.dumps(record), record
            break
    assert changed is not None
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def scan(out: Path, **beam: Any) -> bytes:
        return _scan(out, org, **beam)

    local = scan(tmp_path / "local.json")
    found = [r for r in json.loads(local)["results"]
             if r["rule_id"] == "TLS-002" and r["asset"] == changed["name"]]
    assert found and found[0]["outcome"] != "UNKNOWN", found  # the policy was found
    assert scan(tmp_path / "beam.json", engine="beam", pipeline_args=IN_PROCESS) == local


def test_without_the_alert_rules_log_sinks_are_keyed_by_ancestry(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """With MON-001..008 disabled nothing scans the log sinks whole: they are keyed (by the
    node they sit under for LOG-002/011's `find within: ancestry`, by their destination for
    LOG-003/ENC-012's `referrers`), and the findings stay the local engine's."""
    import shutil

    from phiguard.beam import pipeline

    org = tmp_path / "org"
    shutil.copytree(DEMO, org)
    config = org / "phiguard.yaml"
    text = config.read_text(encoding="utf-8")
    monitoring = ", ".join(f"MON-00{i}" for i in range(1, 9))
    assert "rules: {enable: [TLS-004, KEY-001]}" in text
    config.write_text(text.replace("rules: {enable: [TLS-004, KEY-001]}",
                                   f"rules: {{enable: [TLS-004, KEY-001], disable: "
                                   f"[{monitoring}]}}"), encoding="utf-8")
    sink = "logging.googleapis.com/LogSink"
    sent: list[Any] = []
    offer = pipeline.Offer.process

    def offered(self: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(target[1])
        return offer(self, target, *args, **kwargs)

    monkeypatch.setattr(pipeline.Offer, "process", offered)

    def scan(out: Path, **beam: Any) -> bytes:
        return _scan(out, org, config, **beam)

    local = scan(tmp_path / "local.json")
    assert scan(tmp_path / "beam.json", engine="beam", pipeline_args=IN_PROCESS) == local
    assert any(a.asset_type == sink for a in sent), "no log sink was keyed"


def test_a_key_of_an_account_outside_the_snapshot_gets_the_bindings_naming_its_email(
        tmp_path: Path) -> None:
    """A service account key named by its account's email, the account itself not in the
    snapshot: the local engine reads the bindings naming that email (its grants index holds
    every binding); the key asks for that member in the join by key and gets them too (the
    broadcast of grants held only bindings naming a principal in the snapshot)."""
    import json
    import shutil

    org = tmp_path / "org"
    shutil.copytree(DEMO, org)
    path = org / "resources.ndjson"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    account = next(r for r in records if r["asset_type"] == "iam.googleapis.com/ServiceAccount"
                   and r["resource"]["data"]["email"].startswith("dbt-runner@"))
    email = account["resource"]["data"]["email"]
    key = next(r for r in records if r["asset_type"] == "iam.googleapis.com/ServiceAccountKey"
               and r["name"].startswith(account["name"] + "/keys/"))
    key["name"] = key["name"].replace(account["name"],
                                      account["name"].rsplit("/", 1)[0] + "/" + email)
    kept = [r for r in records if r is not account]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    assert f"serviceAccount:{email}" in (org / "iam_policy.ndjson").read_text(encoding="utf-8")

    def scan(out: Path, **beam: Any) -> bytes:
        return _scan(out, org, **beam)

    local = scan(tmp_path / "local.json")
    found = [r for r in json.loads(local)["results"]
             if r["rule_id"] == "IAM-003" and r["asset"] == key["name"]]
    assert found, "the key was not judged"
    assert scan(tmp_path / "beam.json", engine="beam", pipeline_args=IN_PROCESS) == local
