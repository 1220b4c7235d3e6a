"""Property tests: the converter never crashes on valid plan shapes, and a value known only
after apply never decides a verdict (a PASS or FAIL reached with it unknown holds for every
value it could take)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _converter_cases import CASES
from _paths import RULES
from _plans import change
from phiguard.findings import Outcome
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack
from phiguard.terraform.convert import CONVERTERS, PARTS
from phiguard.terraform.gate import PlanGate
from phiguard.terraform.plan import parse_plan
from phiguard.terraform.world import build_world, load_tables

load_tables()
PACK = load_pack([RULES])
ENGINE = Engine(PACK.rules, enable=[r.id for r in PACK.rules if r.optional])
PHI = PhiConfig(all=True)
NOW = datetime(2026, 11, 25, tzinfo=UTC)
TYPES = sorted(set(CONVERTERS) | set(PARTS))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 100000), st.floats(0, 2),
                    st.sampled_from(["", "TLS_1_0", "TLS_1_2", "RESTRICTED", "phi-prod", "us",
                                     "0.0.0.0/0", "projects/phi-prod/global/networks/n",
                                     "us-east4", "us-east4-a", "allUsers", "user:a@b.com"]),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3),
    st.lists(st.dictionaries(st.sampled_from(["name", "enabled", "protocol", "ports", "role",
                                               "member", "members", "network", "log_type"]),
                             inner, max_size=3), max_size=2)), max_leaves=8)


def _keys(rtype: str) -> list[str]:
    conv = CONVERTERS.get(rtype)
    keys = {"name", "project", "region", "zone", "location", "role", "member", "members",
            "bucket", "folder", "org_id", "network", "peer_network", "disk", "cluster",
            "service_account_id", "policy_data", "parent", "spec", "constraint", "service"}
    if conv is not None:
        keys |= {f.src.split(".")[0] for f in conv.fields}
    return sorted(keys)


@st.composite
def plans(draw: st.DrawFn) -> bytes:
    items = []
    for i in range(draw(st.integers(1, 4))):
        rtype = draw(st.sampled_from(TYPES))
        keys = _keys(rtype)
        after = draw(st.none() | st.dictionaries(st.sampled_from(keys), values, max_size=8))
        before = draw(st.none() | st.dictionaries(st.sampled_from(keys), values, max_size=4))
        unknown = draw(st.dictionaries(st.sampled_from(keys), st.booleans() | values,
                                       max_size=4))
        actions = draw(st.sampled_from([("create",), ("update",), ("delete",), ("no-op",),
                                        ("delete", "create"), ("create", "delete"),
                                        ("forget",)]))
        item = change(rtype, f"r{i}", after, unknown=unknown, actions=actions, before=before,
                      module=draw(st.sampled_from(["", "module.m", 'module.m["k"]'])),
                      index=draw(st.none() | st.integers(0, 2) | st.sampled_from(["a", "b"])))
        items.append(item)
    config = {"root_module": {"resources": [
        {"address": f"{i['type']}.{i['name']}", "mode": "managed",
         "expressions": {k: {"references": [draw(st.sampled_from(
             ["var.x", f"{i['type']}.r0.id", "google_compute_ssl_policy.r1.id",
              "google_compute_network.r0"]))]} for k in draw(st.lists(
                 st.sampled_from(_keys(i["type"])), max_size=3))}}
        for i in items]}}
    return orjson.dumps({"format_version": "1.2", "resource_changes": items,
                         "configuration": config})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_converter_never_crashes_on_valid_plan_shapes(raw: bytes) -> None:
    """Any well-formed plan of converted types converts and evaluates without an exception."""
    plan = parse_plan(raw, "p.json")
    from phiguard.config import load_config

    gate = PlanGate(plan, PACK, load_config(None), at=NOW, everything=True)
    list(gate.findings())
    build_world(plan, "before")


def _set_tf(values: dict[str, Any], path: str, value: Any) -> None:
    node: Any = values
    parts = path.split(".")
    for part in parts[:-1]:
        nxt = node.get(part)
        if isinstance(nxt, list):
            if not nxt:
                nxt.append({})
            node = nxt[0]
        elif isinstance(nxt, dict):
            node = nxt
        else:
            node[part] = [{}]
            node = node[part][0]
    node[parts[-1]] = value


def _mark(values: dict[str, Any], path: str) -> dict[str, Any]:
    """after_unknown marking `path`, with blocks as lists where the values have lists."""
    parts = path.split(".")
    out: dict[str, Any] = {}
    node, cur = out, values
    for part in parts[:-1]:
        nxt = cur.get(part) if isinstance(cur, dict) else None
        child: dict[str, Any] = {}
        node[part] = [child] if isinstance(nxt, list) or nxt is None else child
        node = child
        cur = nxt[0] if isinstance(nxt, list) and nxt else nxt
    node[parts[-1]] = True
    return out


def _expressions(path: str) -> dict[str, Any]:
    parts = path.split(".")
    out: dict[str, Any] = {}
    node = out
    for part in parts[:-1]:
        child: dict[str, Any] = {}
        node[part] = [child]
        node = child
    node[parts[-1]] = {"references": ["var.decided_elsewhere"]}
    return out


def _outcomes(rtype: str, after: dict[str, Any], unknown: dict[str, Any],
              expressions: dict[str, Any]) -> dict[str, Outcome]:
    doc = {"format_version": "1.2", "resource_changes": [change(rtype, "x", after,
                                                                unknown=unknown)],
           "configuration": {"root_module": {"resources": [
               {"address": f"{rtype}.x", "mode": "managed", "expressions": expressions}]}}}
    plan = parse_plan(orjson.dumps(doc), "p.json")
    world = build_world(plan, "after")
    inv = Inventory(world.assets.values(), phi=PHI)
    out: dict[str, Outcome] = {}
    for asset in world.assets.values():
        for finding in ENGINE.evaluate_asset(asset, inv, NOW):
            out[finding.rule_id] = finding.outcome
            if "where Google defines" in (finding.message or ""):
                MISTYPED.add(finding.rule_id)
    return out


# Rules that read a value of another JSON type than Google's in the last `_outcomes` (a drawn
# `false` for a string attribute): UNKNOWN for that shape, which no real plan has (Terraform
# converts a value to its attribute's type), so not a verdict the unknown value should predict.
MISTYPED: set[str] = set()


CANDIDATES = st.one_of(
    st.none(), st.booleans(), st.sampled_from([
        0, 1, 7, 30, 0.5, 0.9, "", "TLS_1_0", "TLS_1_2", "TLS_1_3", "RESTRICTED", "COMPATIBLE",
        "MODERN", "ENCRYPTED_ONLY", "ALLOW_UNENCRYPTED_AND_ENCRYPTED", "REGIONAL", "ZONAL",
        "SERVER_AUTHENTICATION", "DISABLED", "enforced", "inherited", "us", "US", "US-EAST4",
        "none", "7776000s", "99999999s", "0.0.0.0/0", "ENCRYPTED", "DECRYPTED", "INGRESS",
        "default", "projects/phi-prod/global/sslPolicies/tls", "projects/k/locations/us/x",
        ["0.0.0.0/0"], ["10.0.0.0/8"], [], ["22"], [{"protocol": "tcp", "ports": ["22"]}]]),
    st.text(max_size=5))

# What an attribute of a resource this plan creates can take, where the type decides it: a new
# key's validBeforeTime is after its creation (the evaluation time, at the latest).
CAN_TAKE: dict[tuple[str, str], list[Any]] = {
    ("google_service_account_key", "valid_before"): [
        "2026-11-25T00:00:01Z", "2027-11-25T00:00:00Z", "9999-12-31T23:59:59Z"],
}

FIELDS = [(case, f.src) for case in CASES for f in CONVERTERS[case[0]].fields
          if "." not in f.src or case[1].get(f.src.split(".")[0]) is not None]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), st.lists(CANDIDATES, min_size=1, max_size=4))
def test_an_unknown_value_never_decides_a_verdict(field: tuple[Any, str],
                                                  candidates: list[Any]) -> None:
    """With an attribute known only after apply, a rule either says UNKNOWN or gives the
    verdict it gives for every concrete value the attribute could take."""
    case, src = field
    rtype, after = case[0], case[1]
    unknown_after = copy.deepcopy(after)
    _set_tf(unknown_after, src, None)
    blind = _outcomes(rtype, unknown_after, _mark(unknown_after, src), _expressions(src))
    candidates = CAN_TAKE.get((rtype, src), candidates)
    for value in candidates:
        concrete = copy.deepcopy(after)
        _set_tf(concrete, src, value)
        MISTYPED.clear()
        seen = _outcomes(rtype, concrete, {}, _expressions(src))
        for rule_id, outcome in blind.items():
            if seen.get(rule_id) is Outcome.UNKNOWN and rule_id in MISTYPED:
                continue
            if outcome in (Outcome.PASS, Outcome.FAIL) and rule_id in seen:
                assert seen[rule_id] is outcome, (rtype, src, value, rule_id, outcome,
                                                  seen[rule_id])
