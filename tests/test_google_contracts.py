"""Contract tests: phiguard's rules, fixtures, collector requests, converters and fixes use only
what Google defines (the discovery documents and CAI asset-type list in `phiguard.google`).

Each contract is a function returning the departures it finds; a test asserts it finds none in
the repository, and a companion test puts one invented field back into a copy and asserts the
contract catches it, so a contract that silently checks nothing cannot pass.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO, PLANS, REPO, RULES, SRC
from phiguard.collect.collector import CollectOptions, cai_request
from phiguard.config import load_config
from phiguard.fix import actions as fix_actions
from phiguard.fix.actions import ACTIONS, Action, NoFix
from phiguard.fix.api import SERVICES
from phiguard.google import (
    discovery,
    is_cai_asset_type,
    schema_of,
    validate_body,
)
from phiguard.google.contracts import check_record, check_rule, rule_asset_types
from phiguard.policy.rule import Rule, load_pack
from phiguard.runs.collect import asset_types_for
from phiguard.terraform.convert import CONVERTERS
from phiguard.terraform.plan import load_plan
from phiguard.terraform.world import build_world, load_tables
from phiguard.testing import load_example

PACK = load_pack([RULES])
_TYPE = re.compile(r"""["']([a-z][a-z0-9]*(?:\.[a-z0-9]+)*\.googleapis\.com/"""
                   r"""[A-Z][A-Za-z0-9]*)["']""")


# --------------------------------------------------------------------------- the contracts


def _examples() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every record of every example, its includes resolved (an included record is checked
    in each example that includes it, as the example sees it)."""
    for path in sorted(RULES.glob("*/*/*/*.json")):
        if path.parent.name in ("pass", "fail", "unknown"):
            example = load_example(path)
            for i, (asset, (file, line)) in enumerate(zip(example.assets,
                                                          example.asset_origins, strict=True)):
                where = "" if file == str(path) else f" ({Path(file).relative_to(REPO)}:{line})"
                yield f"{path.relative_to(REPO)} asset {i}{where}", asset


def _demo_records() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(DEMO.glob("*.ndjson")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                yield f"{path.relative_to(REPO)}:{n}", json.loads(line)


def record_departures(records: Iterator[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every record's departures from its asset type's discovery schema."""
    return [f"{where}: {problem}" for where, record in records
            for problem in check_record(record)]


def rule_departures(rules: tuple[Rule, ...]) -> list[str]:
    return [problem for rule in rules for problem in check_rule(rule)]


def _source_types(folder: Path) -> set[str]:
    return {m for path in folder.rglob("*.py") for m in _TYPE.findall(path.read_text())}


def type_departures(types: set[str], *, allow_synthetic: bool) -> list[str]:
    """Asset types Cloud Asset does not define (phiguard's synthetic directory-user type is
    allowed where phiguard itself reads it, never in a Cloud Asset request)."""
    bad = []
    for t in sorted(types):
        ref = schema_of(t)
        synthetic = ref is not None and not ref.cai
        if not is_cai_asset_type(t) and not (allow_synthetic and synthetic):
            bad.append(t)
    return bad


def _method(call: str) -> tuple[str, str, dict[str, Any]] | None:
    """The discovery method a fix call names (`sqladmin.instances.patch` is sql.instances.patch
    of sqladmin v1: the client library addresses methods by resource path)."""
    service, _, rest = call.partition(".")
    if service not in SERVICES:
        return None
    version = SERVICES[service][0]
    for method_id, raw in discovery(service, version)["methods"].items():
        if method_id.split(".", 1)[1] == rest:
            return service, version, raw
    return None


def _fixed_by(action: Action) -> list[str]:
    """The rules naming this action under `remediation.fix`."""
    return [r.id for r in PACK.rules if r.remediation.get("fix") == action.id]


def _iam_read(action: Action) -> bool:
    return action.kind.read_call.endswith("getIamPolicy")


def _targets(action: Action) -> Iterator[tuple[dict[str, str], Any]]:
    """(target, current body) from the fail examples of the rules the action fixes: the
    subject's resource data, or for IAM writes its IAM policy (the project's, for a service
    account's grants)."""
    for rule_id in _fixed_by(action):
        for path in sorted((RULES / "hipaa" / rule_id / "fail").glob("*.json")):
            assets = load_example(path).assets
            policies = [a.get("iam_policy") or a.get("iamPolicy") for a in assets]
            for asset in assets:
                m = action.kind.pattern.fullmatch(asset["name"])
                if m is None:
                    continue
                data = asset.get("resource", {}).get("data") or {}
                if _iam_read(action):
                    cur = (asset.get("iam_policy") or asset.get("iamPolicy")
                           or next((p for p in policies if p), None))
                else:
                    cur = data or None
                if cur is None:
                    continue
                target = dict(m.groupdict())
                for key, _form in action.extras:
                    target[key] = {"ssl_policy": "https://www.googleapis.com/compute/v1/projects/"
                                   f"{target.get('project', 'p')}/global/sslPolicies/phi-tls12",
                                   "email": str(data.get("email", ""))}.get(key, "x")
                yield target, copy.deepcopy(cur)


def fix_departures(actions: tuple[Action, ...]) -> list[str]:
    """Fix calls Google does not define, and write requests (query parameters, body) that do not
    fit the discovery method, built by the registry from the rules' fail examples."""
    bad: list[str] = []
    for action in actions:
        kind = action.kind
        for call in (kind.read_call, kind.write_call):
            if _method(call) is None:
                bad.append(f"{action.id}: {call} is not a method of a shipped discovery document")
        found = _method(kind.write_call)
        if found is None:
            continue
        api, version, raw = found
        built = 0
        for target, cur in _targets(action):
            try:
                after = action.change(cur, target)
            except NoFix:
                continue
            if after is None:
                continue
            request = fix_actions.build_request(kind, target, after, "token-1")
            built += 1
            unknown = set(request["params"]) - set(raw.get("parameters", {}))
            if unknown:
                bad.append(f"{action.id}: {kind.write_call} takes no parameter "
                           f"{', '.join(sorted(unknown))}")
            ref = raw.get("request", {}).get("$ref")
            if ref is None:
                if request["body"]:
                    bad.append(f"{action.id}: {kind.write_call} takes no body")
                continue
            bad.extend(f"{action.id}: {kind.write_call} body {p}"
                       for p in validate_body(api, version, ref, request["body"]))
        if built == 0:
            bad.append(f"{action.id}: no fail example of {_fixed_by(action)} gave a request "
                       "to check")
    return sorted(set(bad))


# --------------------------------------------------------------------------- the repository


def test_rules_read_only_fields_and_values_google_defines() -> None:
    """Every `data.` path a rule reads (assertions, lets, joins, evidence) exists in the
    discovery schema of its asset type, every enum literal it compares is one Google defines,
    no rule reads a field CAI never writes, and every type it names is a CAI type."""
    assert rule_departures(PACK.rules) == []


def test_demo_org_records_validate_against_their_discovery_schemas() -> None:
    """Every record of the demo organization has a CAI asset type and `data` that validates
    against the type's discovery schema (no field Google does not define, enums, JSON types)."""
    assert record_departures(_demo_records()) == []


def test_rule_examples_validate_against_their_discovery_schemas() -> None:
    """Every asset in every rule's pass/, fail/ and unknown/ examples validates the same way."""
    assert record_departures(_examples()) == []


def test_directory_users_follow_the_admin_sdk_users_schema() -> None:
    """The demo org's directory-users.json is an Admin SDK users.list response as Google
    defines it (admin directory_v1 `Users`)."""
    doc = json.loads((DEMO / "directory-users.json").read_text())
    pages = doc if isinstance(doc, list) else [doc]
    assert [str(p) for page in pages
            for p in validate_body("admin", "directory_v1", "Users", page)] == []


def test_rules_and_converters_name_only_cai_asset_types() -> None:
    """Asset types in rules and in the source of the converters, the inventory, the collector
    and the fix module are CAI types (the synthetic directory-user type is phiguard's own and
    is allowed where phiguard reads users, not in Cloud Asset requests)."""
    named = set().union(*(rule_asset_types(r) for r in PACK.rules))
    src = SRC / "phiguard"
    for folder in ("terraform", "inventory", "collect", "fix"):
        named |= _source_types(src / folder)
    load_tables()
    named |= {conv.asset_type for conv in CONVERTERS.values()}
    assert type_departures(named, allow_synthetic=True) == []


def test_converted_plans_give_only_cai_asset_types() -> None:
    """Every asset the Terraform converter makes from the fixture plans, before and after,
    has a CAI asset type (types built at conversion time, e.g. regional variants, included)."""
    produced: set[str] = set()
    for path in sorted(PLANS.glob("*.json")):
        plan = load_plan(path)
        for side in ("before", "after"):
            produced |= {a.asset_type for a in build_world(plan, side).assets.values()}
    assert produced and type_departures(produced, allow_synthetic=False) == []


def test_collect_requests_only_cai_asset_types(tmp_path: Path) -> None:
    """What `collect`/`audit` ask Cloud Asset for, with the default rule pack, is only CAI
    types; the directory-user type the MFA rules read is left out (the Admin SDK gives it)."""
    wanted = asset_types_for(PACK, load_config(DEMO / "phiguard.yaml"))
    assert "admin.googleapis.com/User" in wanted["RESOURCE"]  # the rules do read users
    options, dropped = cai_request(CollectOptions(["organizations/1"], tmp_path,
                                                  asset_types=wanted))
    requested = {t for types in options.asset_types.values() for t in types}
    assert requested and type_departures(requested, allow_synthetic=False) == []
    assert dropped == ["admin.googleapis.com/User"]
    assert set(options.content_types) == set(wanted)


def test_fix_calls_and_bodies_exist_in_the_discovery_documents() -> None:
    """Every read and write call of the fix registry is a method Google defines, and every
    write request it builds (from the fail examples of the rules it fixes) takes only query
    parameters the method defines and a body that validates against its request schema."""
    assert fix_departures(ACTIONS) == []


# --------------------------------------------------------------------------- the contracts bite


def _rule(rule_id: str) -> Rule:
    return PACK.by_id()[rule_id]


@pytest.mark.parametrize(("rule_id", "change", "expected"), [
    ("GOV-001", lambda r: dataclasses.replace(r, evidence=(*r.evidence, "data.config.name")),
     "data.config.name of serviceusage.googleapis.com/Service is never in CAI data"),
    ("TLS-003", lambda r: dataclasses.replace(r, evidence=(*r.evidence, "data.fingerprints")),
     "data.fingerprints does not exist"),
    ("NET-001", lambda r: dataclasses.replace(
        r, when={"path": "data.direction", "equals": "INBOUND"}),
     "'INBOUND' is not a value of data.direction"),
    ("TLS-002", lambda r: dataclasses.replace(
        r, asset_types=(*r.asset_types, "compute.googleapis.com/RegionTargetHttpsProxy")),
     "compute.googleapis.com/RegionTargetHttpsProxy is not a Cloud Asset Inventory asset type"),
    ("TLS-002", lambda r: dataclasses.replace(r, evidence=(*r.evidence, "policy.data.minTls")),
     "data.minTls does not exist in the discovery schema of compute.googleapis.com/SslPolicy"),
])
def test_rule_contract_catches_an_invented_field(rule_id: str, change: Any,
                                                 expected: str) -> None:
    """Put one invented path, literal or type back into a copy of a rule: the contract
    names it."""
    assert check_rule(_rule(rule_id)) == []
    assert any(expected in p for p in check_rule(change(_rule(rule_id))))


def _first(asset_type: str) -> dict[str, Any]:
    return next(copy.deepcopy(r) for _, r in _demo_records()
                if r["asset_type"] == asset_type and "resource" in r)


@pytest.mark.parametrize(("asset_type", "mutate", "expected"), [
    ("compute.googleapis.com/Firewall", lambda d: d.update(fingerprint="abc="),
     "data.fingerprint: unknown field"),
    ("serviceusage.googleapis.com/Service",
     lambda d: d.update(config={"name": d["name"]}), "data.config: CAI never writes"),
    ("sqladmin.googleapis.com/Instance",
     lambda d: d["settings"]["ipConfiguration"].update(sslMode="ENCRYPTED"),
     "data.settings.ipConfiguration.sslMode: 'ENCRYPTED' is not one of"),
    ("storage.googleapis.com/Bucket", lambda d: d.update(versioning={"enabled": "true"}),
     "data.versioning.enabled: expected a boolean"),
    ("compute.googleapis.com/SslPolicy", lambda d: d.update(minTlsVersion="TLS_1_4"),
     "'TLS_1_4' is not one of"),
])
def test_record_contract_catches_an_invented_field(asset_type: str, mutate: Any,
                                                   expected: str) -> None:
    """Put one invented field (or value, or JSON type) back into a copy of a demo record: the
    contract names it with its path."""
    record = _first(asset_type)
    assert check_record(record) == []
    mutate(record["resource"]["data"])
    assert any(expected in str(p) for p in check_record(record))


def test_record_contract_catches_an_invented_iam_policy_field() -> None:
    """An IAM policy binding with a field Policy's Binding lacks, or an audit log type Google
    does not define, is named (the export's snake_case names are read as camelCase)."""
    record = next(copy.deepcopy(r) for _, r in _demo_records()
                  if r.get("iam_policy", {}).get("audit_configs"))
    assert check_record(record) == []
    record["iam_policy"]["bindings"][0]["expires"] = "2027-01-01"
    record["iam_policy"]["audit_configs"][0]["audit_log_configs"][0]["log_type"] = "DATA_READS"
    found = [str(p) for p in check_record(record)]
    assert any("iam_policy.bindings[*].expires: unknown field" in p for p in found)
    assert any("'DATA_READS' is not one of" in p for p in found)


def test_record_contract_catches_an_invented_asset_type() -> None:
    record = _first("compute.googleapis.com/InstanceGroupManager")
    record["asset_type"] = "compute.googleapis.com/RegionInstanceGroupManager"
    assert any("not a Cloud Asset Inventory asset type" in str(p) for p in check_record(record))


def test_type_contract_catches_the_directory_user_in_a_cloud_asset_request() -> None:
    assert type_departures({"admin.googleapis.com/User"}, allow_synthetic=True) == []
    assert type_departures({"admin.googleapis.com/User", "compute.googleapis.com/Firewall"},
                           allow_synthetic=False) == ["admin.googleapis.com/User"]


def test_fix_contract_catches_an_invented_body_field_and_method() -> None:
    """A firewall write that sends the `fingerprint` compute Firewall does not have, and a call
    to a method Google does not define, are both named."""
    firewall = next(a for a in ACTIONS if a.id == "firewall-disable")
    assert fix_departures((firewall,)) == []

    def with_fingerprint(target: dict[str, str], after: Any, token: str) -> tuple[Any, Any]:
        params, body = firewall.kind.request(target, after, token)
        return params, {**body, "fingerprint": token}

    invented = dataclasses.replace(firewall, kind=dataclasses.replace(
        firewall.kind, request=with_fingerprint, read_call="compute.firewalls.getFingerprint"))
    found = fix_departures((invented,))
    assert any("body fingerprint: unknown field" in p for p in found)
    assert any("compute.firewalls.getFingerprint is not a method" in p for p in found)
