"""Coverage per asset type: a rule that looks for assets of a type (`find`, `referrers`) on a
snapshot that may not hold that type (a partial export) is UNKNOWN with the reason, never a
FAIL ("none exist") or a PASS resting on the missing type. A manifest that says every type was
collected (`phiguard collect` writes `asset_types_requested`) makes zero assets mean none."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest

from _partial import partial_demo
from _paths import DEMO
from phiguard import load_config, load_pack, scan_snapshot
from phiguard.findings import Finding, Outcome
from phiguard.inventory.coverage import (
    ALL_TYPES,
    PLAN,
    PLAN_AND_SNAPSHOT,
    SNAPSHOT,
    Coverage,
    types_from_manifest,
)

AT = datetime(2026, 11, 25, tzinfo=UTC)
SINK = "logging.googleapis.com/LogSink"
METRIC = "logging.googleapis.com/LogMetric"
ALERT = "monitoring.googleapis.com/AlertPolicy"
SNAP = "compute.googleapis.com/Snapshot"
DNS_POLICY = "dns.googleapis.com/Policy"
FIREWALL = "compute.googleapis.com/Firewall"
SUBNETWORK = "compute.googleapis.com/Subnetwork"
MONS = [f"MON-00{i}" for i in range(1, 9)]


def _scan(path: Path) -> dict[str, list[Finding]]:
    findings = scan_snapshot(path, pack=load_pack(), config=load_config(DEMO / "phiguard.yaml"),
                             at=AT)
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_rule[f.rule_id].append(f)
    return by_rule


@pytest.fixture(scope="module")
def demo() -> dict[str, list[Finding]]:
    return _scan(DEMO)


def _outcomes(findings: list[Finding]) -> set[Outcome]:
    return {f.outcome for f in findings}


def test_demo_holds_the_types_and_judges_them(demo: dict[str, list[Finding]]) -> None:
    # the premise of the tests below: the whole demo export judges these rules
    for rule in ["LOG-002", "LOG-011", "BAK-004", "LOG-012", "NET-008", "NET-004", *MONS]:
        assert _outcomes(demo[rule]) & {Outcome.PASS, Outcome.FAIL}, rule


@pytest.mark.parametrize(("drop", "rules"), [
    ({SINK}, ["LOG-002", "LOG-011"]),
    ({METRIC, ALERT}, MONS),
    ({SNAP}, ["BAK-004"]),
    ({DNS_POLICY}, ["LOG-012"]),
    ({FIREWALL}, ["NET-008"]),
])
def test_missing_type_is_unknown_not_fail(tmp_path: Path, drop: set[str],
                                          rules: list[str],
                                          demo: dict[str, list[Finding]]) -> None:
    found = _scan(partial_demo(tmp_path, drop, None))
    for rule in rules:
        assert found[rule], rule
        assert len(found[rule]) == len(demo[rule])
        assert _outcomes(found[rule]) == {Outcome.UNKNOWN}, rule
        for f in found[rule]:
            assert "does not say they were collected" in f.message, f.message
            assert any(t in f.message for t in drop), f.message


def test_missing_subnetworks_never_pass_an_open_firewall(tmp_path: Path,
                                                         demo: dict[str, list[Finding]]) -> None:
    """NET-004 compares a PHI firewall's sources with the non-PHI subnetworks: without any
    subnetwork in the export, a 0.0.0.0/0 rule must not PASS for want of them."""
    found = {f.asset: f for f in _scan(partial_demo(tmp_path, {SUBNETWORK}, None))["NET-004"]}
    before = {f.asset: f for f in demo["NET-004"]}
    assert found.keys() == before.keys()
    opened = [name for name, f in before.items() if f.outcome is Outcome.FAIL]
    assert opened, "the demo has a PHI firewall admitting non-PHI ranges"
    for name in opened:
        assert found[name].outcome is Outcome.UNKNOWN, found[name].message
        assert SUBNETWORK in found[name].message
    # a disabled rule, or one without source ranges, does not rest on the subnetworks
    for name, f in found.items():
        assert f.outcome is not Outcome.FAIL
        if f.outcome is Outcome.PASS:
            assert before[name].outcome is Outcome.PASS


def test_pass_from_other_data_stays(tmp_path: Path, demo: dict[str, list[Finding]]) -> None:
    """MON-00x passes through a project's own metric and alert without the sinks: dropping
    the sinks keeps those PASSes; only verdicts that read the sinks change, to UNKNOWN."""
    found = _scan(partial_demo(tmp_path, {SINK}, None))
    kept = 0
    for rule in MONS:
        before = {f.asset: f.outcome for f in demo[rule]}
        for f in found[rule]:
            if f.outcome is not before[f.asset]:
                assert f.outcome is Outcome.UNKNOWN, (rule, f.asset, f.message)
            elif f.outcome is Outcome.PASS:
                kept += 1
    assert kept, "some MON rule passes on the project's own metric and alert"


def test_manifest_saying_every_type_was_collected(tmp_path: Path,
                                                  demo: dict[str, list[Finding]]) -> None:
    """`phiguard collect` of every type: no sink in it means none exist."""
    manifest = {"content_types": ["RESOURCE", "IAM_POLICY", "ORG_POLICY", "ACCESS_POLICY"],
                "asset_types_requested": {"RESOURCE": "*", "IAM_POLICY": "*",
                                          "ORG_POLICY": "*", "ACCESS_POLICY": "*"}}
    found = _scan(partial_demo(tmp_path, {SINK}, manifest))
    for rule in ("LOG-002", "LOG-011"):
        assert _outcomes(found[rule]) == {Outcome.FAIL}, rule
        assert len(found[rule]) == len(demo[rule])


def test_manifest_requesting_other_types(tmp_path: Path) -> None:
    """An export of named types: a type not among them is not known to be collected, one
    among them with no asset has none."""
    manifest = {"asset_types_requested": {"RESOURCE": [
        "cloudresourcemanager.googleapis.com/Project", METRIC, ALERT, SNAP]}}
    found = _scan(partial_demo(tmp_path, {SINK, SNAP}, manifest))
    assert _outcomes(found["LOG-002"]) == {Outcome.UNKNOWN}
    assert Outcome.FAIL in _outcomes(found["BAK-004"])  # requested, and there are none
    assert not any(SNAP in f.message for f in found["BAK-004"])


def test_types_from_manifest() -> None:
    assert types_from_manifest(None) == frozenset()
    assert types_from_manifest({"content_types": ["RESOURCE"]}) == frozenset()
    assert types_from_manifest({"asset_types_requested": {"RESOURCE": "*"}}) == {ALL_TYPES}
    assert types_from_manifest({"asset_types_requested": {"resource": "*"}}) == {ALL_TYPES}
    assert types_from_manifest({"asset_types_requested": "*"}) == {ALL_TYPES}
    # only the RESOURCE content's request says which resources were collected
    assert types_from_manifest({"asset_types_requested": {"IAM_POLICY": "*",
                                                          "RESOURCE": [SINK]}}) == {SINK}
    assert types_from_manifest({"asset_types": {SINK: 3, METRIC: 0, SNAP: "x"}}) == {SINK}
    assert types_from_manifest({"asset_types_requested": [SINK], "asset_types": []}) == {SINK}


def test_coverage_type_gap() -> None:
    held = ["RESOURCE"]
    assert Coverage(held).type_gap((SINK,)) is None  # nothing said: every type (the default)
    partial = Coverage(held, types=[METRIC])
    assert partial.type_gap((METRIC,)) is None
    gap = partial.type_gap((SINK, METRIC))
    assert gap is not None and SINK in gap.why and METRIC not in gap.why
    assert partial.type_gap((SINK, METRIC)) is gap  # worked out once
    assert partial.types_missing([SINK, METRIC]) == [SINK]
    assert Coverage(held, origin=PLAN, types=()).type_gap((SINK,)) is None
    overlay = Coverage(held, origin=PLAN_AND_SNAPSHOT, types=()).type_gap((SINK,))
    assert overlay is not None and "the plan does not declare" in overlay.why
    assert Coverage(held, origin=SNAPSHOT, types=()).type_gap((SINK,)) is not None


@pytest.mark.parametrize("manifest", [None, {"asset_types_requested": {"RESOURCE": "*"}}])
def test_beam_judges_a_partial_export_as_the_local_engine(tmp_path: Path,
                                                          manifest: dict[str, object] | None
                                                          ) -> None:
    """The Beam engine's keyed joins deliver LogSinks and Snapshots per subject: the types it
    counts collected are the whole run's, as the local engine's (byte-identical findings)."""
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    snap = partial_demo(tmp_path, {SINK, DNS_POLICY, SUBNETWORK}, manifest)
    out: dict[str, bytes] = {}
    for engine, args in (("local", []), ("beam", ["--runner", "DirectRunner",
                                                  "--direct_running_mode=in_memory"])):
        path = tmp_path / f"{engine}.json"
        run_scan([snap], config_path=DEMO / "phiguard.yaml",
                 outputs=[Output("json", path, "--output")], at=parse_at("2026-11-25T00:00:00Z"),
                 engine=engine, pipeline_args=args)
        out[engine] = path.read_bytes()
    assert out["beam"] == out["local"]
    results = json.loads(out["local"])["results"]
    log002 = {r["outcome"] for r in results if r["rule_id"] == "LOG-002"}
    assert log002 == ({"UNKNOWN"} if manifest is None else {"FAIL"})


def _plan(args: list[str]) -> dict[tuple[str, str], tuple[str, str]]:
    from click.testing import CliRunner

    from _paths import PLANS
    from phiguard.cli import main

    result = CliRunner().invoke(main, ["plan", str(PLANS / "network.json"), *args,
                                       "-c", str(PLANS / "phiguard.yaml"),
                                       "--at", "2026-11-25T00:00:00Z", "-f", "json"],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return {(r["rule_id"], r.get("address", "")): (r["outcome"], r["message"])
            for r in json.loads(result.stdout)["results"]}


NEW_NETWORK = "google_compute_network.phi"


def test_plan_alone_keeps_its_fails() -> None:
    """Without a snapshot the gate judges what the plan declares: the new PHI network has no
    DNS policy and no egress deny in it, FAILs (fixtures/plans/expected.yaml)."""
    found = _plan([])
    assert found[("LOG-012", NEW_NETWORK)][0] == "FAIL"
    assert found[("NET-008", NEW_NETWORK)][0] == "FAIL"


def test_plan_over_a_partial_snapshot(tmp_path: Path) -> None:
    """Over a snapshot that may lack subnetworks, a non-PHI one outside the plan is not known:
    NET-004 on the planned PHI firewalls is UNKNOWN, saying so; over one that says every type
    was collected, it is judged. What refers to the network the plan creates is in the plan
    (nothing that exists can refer to it yet): LOG-012 FAILs over either snapshot."""
    partial = partial_demo(tmp_path, {DNS_POLICY, SUBNETWORK}, None)
    found = _plan(["--snapshot", str(partial)])
    net004 = {a: v for (r, a), v in found.items() if r == "NET-004"}
    assert net004 and {o for o, _ in net004.values()} == {"UNKNOWN"}
    for _, message in net004.values():
        assert SUBNETWORK in message and "the plan does not declare" in message
    assert found[("LOG-012", NEW_NETWORK)][0] == "FAIL"
    whole = tmp_path / "whole"
    whole.mkdir()
    for f in partial.iterdir():
        shutil.copy(f, whole / f.name)
    (whole / "manifest.json").write_text(json.dumps(
        {"asset_types_requested": {"RESOURCE": "*"}}))
    judged = _gate(whole)
    assert {judged[("NET-004", a)] for a in net004} <= {Outcome.PASS, Outcome.FAIL}
    assert judged[("LOG-012", NEW_NETWORK)] is Outcome.FAIL
    assert _gate(partial)[("LOG-012", NEW_NETWORK)] is Outcome.FAIL


def _gate(snapshot: Path) -> dict[tuple[str, str | None], Outcome]:
    """The gate over a snapshot, given the asset types it was collected with."""
    from _paths import PLANS
    from phiguard.policy.engine import Engine
    from phiguard.terraform.gate import PlanGate, snapshot_base
    from phiguard.terraform.plan import load_plan

    pack, config = load_pack(), load_config(PLANS / "phiguard.yaml")
    engine = Engine(pack.rules, params=config.params)
    base = snapshot_base([snapshot], engine, config)
    gate = PlanGate(load_plan(PLANS / "network.json"), pack, config, at=AT, base=base.assets,
                    numbers=base.numbers, ancestors=base.ancestors, content=base.content,
                    content_gaps=base.content_gaps, asset_types=base.asset_types)
    return {(f.rule_id, f.address): f.outcome for f in gate.findings()}
