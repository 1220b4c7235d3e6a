"""A `find` or `referrers` over several asset types, some of them not known to be collected (a
partial export), is known in part: the assets of the collected types are elements of it and
more may exist. What those elements already decide stands (a listener found among the
collected types makes TLS-005 apply, and a URL map serving content then FAILs; two regions
found among the collected types PASS PLAT-003); only what the missing type could change is
UNKNOWN. Both the generated and the interpreted engine, and a scan in one process, two and on
Beam, say the same."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from _engines import interpreted
from _partial import partial_demo
from _paths import DEMO, RULES
from phiguard.findings import Outcome
from phiguard.inventory.coverage import PartialItems, judge_partial
from phiguard.inventory.inventory import Inventory
from phiguard.policy.engine import Engine
from phiguard.policy.operators import OPERATORS
from phiguard.policy.rule import load_pack
from phiguard.testing import _example_assets, _phi, load_example

AT = datetime(2026, 11, 25, tzinfo=UTC)
REGIONAL_RULE = "compute.googleapis.com/ForwardingRule"
GLOBAL_RULE = "compute.googleapis.com/GlobalForwardingRule"
SQL = "sqladmin.googleapis.com/Instance"
MIG = "compute.googleapis.com/InstanceGroupManager"
GKE = "container.googleapis.com/Cluster"


def _judge(rule_id: str, example: str, drop: set[str]) -> dict[str, str]:
    """The outcome of the example's subject by the generated and the interpreted engine, on
    the example's assets without those of `drop`, none of whose types the input says it
    collected (it says nothing: only the types it holds count as collected)."""
    rule = load_pack([RULES]).by_id()[rule_id]
    found = load_example(RULES / "hipaa" / rule_id / example)
    assets = [a for a in _example_assets(found) if a.asset_type not in drop]
    assert len(assets) < len(_example_assets(found)), "the example holds no asset dropped"
    subject = found.doc.get("subject") or assets[0].name
    out: dict[str, str] = {}
    for name in ("generated", "interpreted"):
        def run() -> str:
            engine = Engine([rule], params={rule_id: found.doc.get("params") or {}},
                            enable=[rule_id])
            inv = Inventory(assets, phi=_phi(found.doc.get("config")),
                            missing_sources=["admin.googleapis.com/User"])
            got = {f.asset: f for a in assets for f in engine.evaluate_asset(a, inv, AT)}
            finding = got.get(subject)
            return f"{finding.outcome.value}: {finding.message}" if finding else "NO RESULT"
        if name == "interpreted":
            with interpreted():
                out[name] = run()
        else:
            out[name] = run()
    assert out["generated"] == out["interpreted"], out
    return out


def _outcome(said: dict[str, str]) -> str:
    return said["generated"].split(":", 1)[0]


# TLS-005: a listener of a collected type decides whether the rule applies -----------------------

def test_tls005_fails_on_a_global_listener_without_regional_rules() -> None:
    # the global forwarding rule listens on the proxy; whether a regional one does too
    # changes nothing: the URL map sends requests to a backend in cleartext
    said = _judge("TLS-005", "fail/url-map-serves-content.json", {REGIONAL_RULE})
    assert _outcome(said) == "FAIL", said


def test_tls005_unknown_when_no_collected_listener() -> None:
    # no forwarding rule of the collected type targets it: a regional one might
    said = _judge("TLS-005", "fail/url-map-serves-content.json", {REGIONAL_RULE, GLOBAL_RULE})
    assert _outcome(said) == "UNKNOWN", said
    assert "does not say they were collected" in said["generated"], said


# PLAT-003: regions found among the collected types -------------------------------------------

def test_plat003_passes_on_two_regions_without_clusters() -> None:
    # the database replica and the instance groups are in both regions: a cluster more or
    # less cannot take a region away
    said = _judge("PLAT-003", "pass/primary-and-secondary.json", {GKE})
    assert _outcome(said) == "PASS", said
    said = _judge("PLAT-003", "pass/required-regions-present.json", {GKE})
    assert _outcome(said) == "PASS", said


def test_plat003_one_known_region_is_unknown_not_fail() -> None:
    # one region among the collected types: a cluster of the missing type may be elsewhere
    said = _judge("PLAT-003", "fail/single-region.json", {GKE})
    assert _outcome(said) == "UNKNOWN", said
    assert f"{GKE} assets and does not say" in said["generated"], said
    assert f"{SQL} assets" not in said["generated"], said  # only the missing type is named


# The three-valued judgement of a leaf on a list known in part -----------------------------------

@pytest.mark.parametrize(("op", "items", "arg", "want"), [
    ("count_gte", [1, 2], 2, True), ("count_gte", [1], 2, None),
    ("count_lte", [1, 2], 1, False), ("count_lte", [1], 1, None),
    ("distinct_gte", ["a", "b", "a"], 2, True), ("distinct_gte", ["a", "a"], 2, None),
    ("contains", ["a"], "a", True), ("contains", ["a"], "b", None),
    ("not_contains", ["a"], "a", False), ("not_contains", ["a"], "b", None),
    ("empty", ["a"], False, True), ("empty", [], False, None),
    ("empty", ["a"], True, False), ("empty", [], True, None),
    ("equals", ["a"], ["a"], None), ("exists", ["a"], True, None),
])
def test_judge_partial(op: str, items: list[Any], arg: Any, want: bool | None) -> None:
    value = PartialItems("unknown: more may exist", items)
    assert judge_partial(op, OPERATORS[op].fn, value, arg, None) is want


# The demo without one of PLAT-003's types, in one process, two and on Beam ------------------------

def _by_asset(path: Path) -> dict[str, dict[str, str]]:
    doc = json.loads(path.read_text())
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for r in doc["results"]:
        out[r["rule_id"]][r["asset"]] = r["outcome"]
    return out


def test_demo_without_clusters_every_engine(tmp_path: Path) -> None:
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    snap = partial_demo(tmp_path, {GKE})
    said: dict[str, bytes] = {}
    for name, engine, jobs, args in (
            ("j1", "local", 1, []), ("j2", "local", 2, []),
            ("beam", "beam", 1, ["--runner", "DirectRunner", "--direct_running_mode=in_memory"])):
        path = tmp_path / f"{name}.json"
        run_scan([snap], config_path=DEMO / "phiguard.yaml", jobs=jobs,
                 outputs=[Output("json", str(path), "--output")],
                 at=parse_at("2026-11-25T00:00:00Z"),
                 engine=engine, pipeline_args=args, notify=lambda _: None)
        said[name] = path.read_bytes()
    assert said["j2"] == said["j1"] and said["beam"] == said["j1"]
    plat = _by_asset(tmp_path / "j1.json")["PLAT-003"]
    # both PHI projects that have databases or instance groups in us-east4 and us-central1
    # PASS without their clusters; the PHI project with none of them stays UNKNOWN (clusters
    # may exist there)
    assert sorted(plat.values()) == [Outcome.PASS.value, Outcome.PASS.value,
                                     Outcome.UNKNOWN.value], plat


def test_evidence_shows_the_known_items_and_why_more_may_exist(tmp_path: Path) -> None:
    # a PASS decided by the collected types shows the regions that decided it, then the reason
    # the list may hold more
    from phiguard import load_config, scan_snapshot

    snap = partial_demo(tmp_path, {GKE})
    found = [f for f in scan_snapshot(snap, pack=load_pack([RULES]),
                                      config=load_config(DEMO / "phiguard.yaml"), at=AT)
             if f.rule_id == "PLAT-003" and f.outcome == Outcome.PASS]
    assert found
    for f in found:
        regions = dict(f.evidence)["tier[*].asset.region"]
        assert isinstance(regions, list), regions
        assert {"us-east4", "us-central1"} <= set(regions[:-1]), regions
        assert regions[-1].startswith("<unknown: ") and GKE in regions[-1], regions
