"""phiguard's plan conversion held to Google's: terraform-google-conversion's golden pairs (a
`terraform show -json` plan and the CAI assets Google's converter makes of it, tests/tgc_golden).

(a) On every field a HIPAA rule reads, for every type phiguard converts, the converted plan
    equals Google's expected CAI, or the difference is one listed here and in docs/terraform.md.
(b) The plan's findings agree with a scan of Google's expected CAI on >= 95% of the (rule,
    asset) verdicts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import DOCS, REPO, RULES
from phiguard.cli import main
from phiguard.google import schema_of, validate_resource
from phiguard.inventory.asset import USER_TYPE, Asset, UnknownValue
from phiguard.inventory.records import parse_record
from phiguard.policy.rule import FORMAT_FIELD, Rule, load_pack
from phiguard.terraform.convert import CONVERTERS, PARTS
from phiguard.terraform.plan import parse_plan
from phiguard.terraform.world import World, build_world, load_tables

GOLDEN = REPO / "tests" / "tgc_golden"
TERRAFORM_MD = DOCS / "terraform.md"
AT = "2026-11-25T00:00:00Z"
PROJECT, ORG, FOLDER = "my-project", "123456789012", "345678901234"

# The values the templates are rendered with (Google's own test harness fills the same
# placeholders from its environment; tests/tgc_golden/README.md).
VALUES = {
    "{{.Provider.project}}": PROJECT, "{{.Ancestry}}": f"organizations/{ORG}",
    "{{.OrgID}}": ORG, "{{.FolderID}}": FOLDER, "{{.Project.Number}}": "1234567890",
    "{{.Project.BillingAccountName}}": "000000-0000000-0000000000",
    "{{.Time.RFC3339Nano}}": "2021-04-14T15:16:17Z", "{{.Provider.credentials}}": "/dev/null",
}
HIERARCHY = {"cloudresourcemanager.googleapis.com/" + t for t in ("Project", "Folder",
                                                                  "Organization")}

_RM = "//cloudresourcemanager.googleapis.com/"
# Where Google's converter and phiguard name one asset differently (docs/terraform.md).
NAMES = {
    # Google writes `placeholder-unique-id` (or a random placeholder) for an id known only
    # after apply; phiguard writes the address and attribute, which stay the same run to run.
    ("example_service_account",
     f"//iam.googleapis.com/projects/{PROJECT}/serviceAccounts/placeholder-unique-id"):
        f"//iam.googleapis.com/projects/{PROJECT}/serviceAccounts/"
        "(google_service_account.service_account.unique_id)",
    ("example_container_cluster",
     f"//iam.googleapis.com/projects/{PROJECT}/serviceAccounts/placeholder-unique-id"):
        f"//iam.googleapis.com/projects/{PROJECT}/serviceAccounts/"
        "(google_service_account.default.unique_id)",
    # the plan's `folder` is a bare number; Google's converter drops `folders/` from the name
    ("example_folder_iam_binding", f"//cloudresourcemanager.googleapis.com/{FOLDER}"):
        f"//cloudresourcemanager.googleapis.com/folders/{FOLDER}",
    ("example_folder_iam_policy", f"//cloudresourcemanager.googleapis.com/{FOLDER}"):
        f"//cloudresourcemanager.googleapis.com/folders/{FOLDER}",
    # a holder named by a random_string (known only after apply): Google's converter writes a
    # random placeholder, or the provider's project; phiguard the address, or (unknown project)
    ("example_folder_iam_member_empty_folder",
     "//cloudresourcemanager.googleapis.com/placeholder-c2WD8F2q"):
        "//cloudresourcemanager.googleapis.com/folders/(google_folder_iam_member.editor.folder)",
    ("example_project_create_empty_project_id", f"{_RM}projects/{PROJECT}"):
        f"{_RM}projects/(unknown project)",
    ("example_project_iam_member_empty_project", f"{_RM}projects/{PROJECT}"):
        f"{_RM}projects/(unknown project)",
    # ... and for the bucket and its IAM member, two placeholders for what is one bucket
    ("example_storage_bucket_iam_member_random_suffix",
     "//storage.googleapis.com/placeholder-BpLnfgDs"):
        "//storage.googleapis.com/(google_storage_bucket.default)",
    ("example_storage_bucket_iam_member_random_suffix",
     "//storage.googleapis.com/placeholder-c2WD8F2q"):
        "//storage.googleapis.com/(google_storage_bucket.default)",
}

# Expected assets of a converted type made by a Terraform type phiguard does not convert.
UNCONVERTED = {
    # google_folder (phiguard lists it as not evaluated; folders come from IAM and policies)
    (pair, "//cloudresourcemanager.googleapis.com/folders/placeholder-foobar")
    for pair in ("example_project_create", "example_project_create_empty_project_id")
}

# (pair, asset type, path) -> why the values differ; each is in docs/terraform.md.
FW, SQL, BUCKET = ("compute.googleapis.com/Firewall", "sqladmin.googleapis.com/Instance",
                   "storage.googleapis.com/Bucket")
_UNSET = ("the plan has `disabled: null`; Google's converter writes the provider's default "
          "false, phiguard leaves it out, and the rules read an absent `disabled` as false")
_BOTH = ("Google's test plan marks uniform_bucket_level_access both true and unknown after "
         "apply; phiguard believes after_unknown, so PUB-005 is UNKNOWN there")
DIFFERENCES: dict[tuple[str, str, str], str] = {
    ("example_compute_firewall", FW, "data.disabled"): _UNSET,
    ("firewall", FW, "data.disabled"): _UNSET,
    ("full_compute_firewall", FW, "data.disabled"): _UNSET,
    **{(pair, BUCKET, "data.iamConfiguration.uniformBucketLevelAccess.enabled"): _BOTH
       for pair in ("example_storage_bucket_iam_binding", "example_storage_bucket_iam_member",
                    "example_storage_bucket_iam_policy")},
    ("example_storage_bucket_iam_member_random_suffix", BUCKET,
     "data.iamConfiguration.uniformBucketLevelAccess.enabled"): _BOTH,
    **{("example_storage_bucket_iam_member_random_suffix", BUCKET, path):
       "the bucket's name is a random_string: Google's converter makes two placeholder buckets "
       "(one with the bucket, one with the IAM member), phiguard one bucket with both"
       for path in ("data.location", "data.storageClass", "iam_policy.bindings[*].members[*]")},
    **{(pair, "compute.googleapis.com/Instance", "data.networkInterfaces[*].accessConfigs"):
       "phiguard converts an access config's nat_ip and network_tier only and keeps an address "
       "known only after apply as unknown; Google's converter writes every attribute it knows "
       "and leaves unknown ones out. The access config and its type, which VM-001 reads, agree"
       for pair in ("example_compute_instance_iam_binding", "example_compute_instance_iam_member",
                    "example_compute_instance_iam_policy", "full_compute_instance", "instance")},
    ("instance", "compute.googleapis.com/Instance", "data.serviceAccounts[*].email"):
        "Google writes `default`, what the provider sends; the API resolves it and CAI shows "
        "the project's default compute account, NUMBER-compute@developer.gserviceaccount.com",
}

# (asset type, path): fields phiguard sets and Google's converter leaves out (API defaults the
# configuration leaves to the provider, values the API derives); each is in docs/terraform.md.
_DEFAULT = "the API's default for an attribute the configuration leaves to the provider"
_BC = "data.settings.backupConfiguration."
PHIGUARD_ONLY: dict[tuple[str, str], str] = {
    (BUCKET, "data.iamConfiguration.publicAccessPrevention"): _DEFAULT,
    (BUCKET, "data.versioning.enabled"): _DEFAULT,
    (BUCKET, "data.locationType"): "the API derives it from the location",
    (BUCKET, "data.retentionPolicy.isLocked"): "`is_locked = true` locks the policy on apply",
    (FW, "data.direction"): _DEFAULT,
    ("compute.googleapis.com/Network", "data.selfLink"): "the API derives it from the name",
    ("container.googleapis.com/Cluster", "data.databaseEncryption.state"): _DEFAULT,
    ("container.googleapis.com/Cluster", "data.loggingService"): _DEFAULT,
    ("container.googleapis.com/Cluster", "data.nodePools[*].config.serviceAccount"):
        "CAI's Cluster lists its node pools; Google's converter writes only NodePool assets",
    ("container.googleapis.com/Cluster", "data.networkConfig.network"):
        "CAI's Cluster carries networkConfig.network, as the API returns it; Google's converter "
        "writes only the top-level network",
    ("container.googleapis.com/Cluster", "data.legacyAbac.enabled"):
        "the plan's enable_legacy_abac = false (the provider's default); Google's converter "
        "leaves a false value out",
    ("container.googleapis.com/Cluster", "data.shieldedNodes.enabled"):
        "the plan's enable_shielded_nodes (true by the provider's default); Google's converter "
        "leaves it out",
    ("cloudkms.googleapis.com/CryptoKey", "data.versionTemplate.protectionLevel"): _DEFAULT,
    ("bigquery.googleapis.com/Table", "data.type"):
        "the API derives it from the view, materialized_view and external_data_configuration "
        "blocks (TABLE when none is set)",
    (SQL, _BC + "backupRetentionSettings.retainedBackups"): _DEFAULT,
    (SQL, _BC + "binaryLogEnabled"): _DEFAULT,
    (SQL, _BC + "enabled"): _DEFAULT,
    (SQL, _BC + "pointInTimeRecoveryEnabled"): _DEFAULT,
    (SQL, "data.settings.ipConfiguration.ipv4Enabled"): _DEFAULT,
    (SQL, "data.settings.ipConfiguration.sslMode"): _DEFAULT,
    (SQL, "data.instanceType"): "a replica: master_instance_name is set",
    (SQL, "data.settings.ipConfiguration.privateNetwork"):
        "the planned network, through the configuration's reference",
    ("run.googleapis.com/Service", "data.metadata.annotations['run.googleapis.com/ingress']"):
        _DEFAULT,
    ("cloudfunctions.googleapis.com/CloudFunction", "data.ingressSettings"):
        "the plan's ingress_settings (the provider's default ALLOW_ALL); Google's converter "
        "leaves it out",
    ("bigquery.googleapis.com/Dataset", "data.access[*].specialGroup"):
        "BigQuery's access list for a dataset created without access blocks (the project's "
        "special groups and the creator); Google's converter leaves it out",
}


def render(text: str) -> str:
    for key, value in VALUES.items():
        text = text.replace(key, value)
    return text


PAIRS = sorted(p.name.removesuffix(".tfplan.json") for p in GOLDEN.glob("*.tfplan.json"))


def converted_types() -> set[str]:
    load_tables()
    return {c.asset_type for c in CONVERTERS.values()} | HIERARCHY


@cache
def _world(pair: str) -> World:
    raw = render((GOLDEN / f"{pair}.tfplan.json").read_text()).encode()
    return build_world(parse_plan(raw, f"{pair}.tfplan.json"), "after")


@cache
def _expected(pair: str) -> tuple[dict[str, Any], ...]:
    """Google's expected assets of the types phiguard converts."""
    records = json.loads(render((GOLDEN / f"{pair}.json").read_text()))
    types = converted_types()
    return tuple(r for r in records if r["asset_type"] in types
                 and (pair, r["name"]) not in UNCONVERTED)


def _ours(pair: str, record: dict[str, Any]) -> Asset:
    name = NAMES.get((pair, record["name"]), record["name"])
    return _world(pair).assets[name]


# the paths rules read ------------------------------------------------------------------------

def _rule_paths(rule: Rule) -> set[str]:
    """Paths below the judged asset a rule reads (`data.*`, `iam_policy.*`, `org_policy`),
    quantifier variables expanded to `path[*]`."""
    out: set[str] = set()

    def resolve(text: str, scope: dict[str, str]) -> str | None:
        root = re.split(r"[.\[]", text, maxsplit=1)[0]
        if root in scope:
            return scope[root] + text[len(root):]
        return text if root in ("data", "iam_policy", "org_policy") else None

    def visit(node: Any, scope: dict[str, str]) -> None:
        if isinstance(node, list):
            for child in node:
                visit(child, scope)
            return
        if not isinstance(node, dict):
            return
        inner = scope
        if isinstance(node.get("path"), str):
            full = resolve(node["path"], scope)
            if full:
                out.add(full)
            for quant in ("some", "every", "none"):
                if quant in node:
                    var = node.get("as", "item")
                    inner = {k: v for k, v in scope.items() if k != var}
                    if full:
                        inner[var] = full + "[*]"
        for key, value in node.items():
            if key == "path":
                continue
            if isinstance(value, dict) and set(value) == {"path"}:
                full = resolve(value["path"], scope)
                if full:
                    out.add(full)
            else:
                visit(value, inner)

    for form in rule.let.values():
        texts = [form[k] for k in ("value", "ref", "refs") if isinstance(form.get(k), str)]
        texts += FORMAT_FIELD.findall(form.get("format", "")) if "format" in form else []
        out.update(p for p in (resolve(t, {}) for t in texts) if p)
        if "effective_iam" in form:
            out.add("iam_policy.bindings[*].role")
            out.add("iam_policy.bindings[*].members[*]")
        if "effective_audit_configs" in form:
            out.add("iam_policy.auditConfigs")
        if "org_policy" in form:
            out.add("org_policy")
    for node in (rule.when, rule.assert_):
        if node is not None:
            visit(node, {})
    out.update(p for p in (resolve(e, {}) for e in rule.evidence) if p)
    return out


@cache
def read_paths() -> dict[str, frozenset[str]]:
    """Asset type -> the leaf paths rules read of it (a path read only as the container of
    deeper reads is compared through those)."""
    found: dict[str, set[str]] = {}
    for rule in load_pack([RULES]).rules:
        paths = _rule_paths(rule)
        for asset_type in rule.asset_types:
            found.setdefault(asset_type, set()).update(paths)
    out = {}
    for asset_type, paths in found.items():
        if "*" in found and asset_type != "*":
            paths = paths | found["*"]
        out[asset_type] = frozenset(p for p in paths
                                    if not any(q != p and q.startswith((p + ".", p + "["))
                                               for q in paths))
    return out


_SEGMENT = re.compile(r"\[\*\]|\['([^']*)'\]|([^.\[\]]+)")


def extract(view: dict[str, Any], path: str) -> list[Any]:
    values = [view]
    for match in _SEGMENT.finditer(path):
        nxt: list[Any] = []
        for value in values:
            if match.group(0) == "[*]":
                nxt.extend(value if isinstance(value, list) else ())
            elif isinstance(value, dict):
                key = match.group(1) or match.group(2)
                if value.get(key) is not None:
                    nxt.append(value[key])
        values = nxt
    return values


_POLICY_KEYS = ("constraint", "booleanPolicy", "listPolicy", "restoreDefault")


def view(asset: Asset) -> dict[str, Any]:
    """What rules see, normalized where the two converters only spell the same thing apart:
    phiguard's "rest of the policy not in the plan" binding is left out (Google's converter
    reads the live policy instead; offline it assumes none), an empty policy equals none, and
    org policies keep the fields rules read (not updateTime or etag)."""
    policy = asset.iam_policy or {}
    bindings = [b for b in policy.get("bindings") or ()
                if not isinstance(b.get("role"), UnknownValue)]
    configs = policy.get("auditConfigs")  # unknown when the plan does not declare the policy
    iam = {"bindings": bindings,
           "auditConfigs": [] if isinstance(configs, UnknownValue) else list(configs or ())}
    org = [{k: p[k] for k in _POLICY_KEYS if k in p} for p in asset.org_policy]
    return {"data": asset.data, "iam_policy": iam, "org_policy": org or None}


def _canon(values: list[Any]) -> Any:
    """Order-free (rules quantify over lists; Terraform sets have no order)."""
    def one(value: Any) -> Any:
        if isinstance(value, UnknownValue):
            return "<unknown>"
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, list):
            return sorted((one(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return value
    return one(values)


def differences() -> Iterator[tuple[str, str, str, Any, Any]]:
    """(pair, asset type, path, Google's values, phiguard's values) where they differ."""
    paths = read_paths()
    for pair in PAIRS:
        for i, record in enumerate(_expected(pair)):
            theirs = view(parse_record(record, pair, i + 1).to_asset())
            ours = view(_ours(pair, record))
            for path in sorted(paths.get(record["asset_type"], ())):
                a, b = _canon(extract(theirs, path)), _canon(extract(ours, path))
                known = [v for v in b if v != "<unknown>"]
                if a != b and a != known:  # Google's converter leaves unknown values out
                    yield pair, record["asset_type"], path, a, b


# (a) fields ----------------------------------------------------------------------------------

def test_every_converted_type_has_a_golden_pair() -> None:
    """The selection covers every CAI type phiguard's converters emit that Google has pairs
    for; the types without a pair are named here (and in tests/tgc_golden/README.md)."""
    covered = {r["asset_type"] for pair in PAIRS for r in _expected(pair)}
    without = converted_types() - covered
    assert without == {
        "compute.googleapis.com/Autoscaler", "compute.googleapis.com/BackendService",
        "compute.googleapis.com/InstanceGroupManager",
        "compute.googleapis.com/NetworkEndpointGroup", "compute.googleapis.com/Project",
        "compute.googleapis.com/RegionBackendService", "compute.googleapis.com/RegionDisk",
        "compute.googleapis.com/ResourcePolicy", "compute.googleapis.com/TargetHttpProxy",
        "compute.googleapis.com/UrlMap", "iam.googleapis.com/ServiceAccountKey",
        "logging.googleapis.com/LogSink", "redis.googleapis.com/Instance",
        # PHI stores: Google's golden plans have no pair for them (its spanner pair converts a
        # CreateDatabaseRequest, not the Database resource CAI shows)
        "alloydb.googleapis.com/Cluster", "firestore.googleapis.com/Database",
        "healthcare.googleapis.com/Dataset", "healthcare.googleapis.com/DicomStore",
        "healthcare.googleapis.com/FhirStore", "healthcare.googleapis.com/Hl7V2Store",
        "logging.googleapis.com/LogBucket", "secretmanager.googleapis.com/Secret",
        "spanner.googleapis.com/Database",
        "cloudfunctions.googleapis.com/Function",
        # Google's pair for a repository came after the last commit with plans
        "artifactregistry.googleapis.com/Repository",
        # API keys and Dataproc clusters: no pair at the last commit with plans
        "apikeys.googleapis.com/Key", "dataproc.googleapis.com/Cluster",
        # Google's log metric pair names its own type logging.googleapis.com/Metric, not the
        # CAI type LogMetric; no pair for alert policies at the last commit with plans
        "logging.googleapis.com/LogMetric", "monitoring.googleapis.com/AlertPolicy",
        # Google's converter writes a firewall policy's rules and associations as types of
        # their own (FirewallPolicyRule, ...), which CAI does not define: no comparable pair
        "compute.googleapis.com/FirewallPolicy",
    }


@pytest.mark.parametrize("pair", PAIRS)
def test_every_expected_asset_is_converted(pair: str) -> None:
    """Each asset Google's converter makes (of a type phiguard converts) is in phiguard's
    world, under the same name or a documented one."""
    names = set(_world(pair).assets)
    for record in _expected(pair):
        assert NAMES.get((pair, record["name"]), record["name"]) in names, record["name"]


def test_documented_names_are_in_the_docs() -> None:
    text = TERRAFORM_MD.read_text()
    assert "placeholder-unique-id" in text and "drops `folders/`" in text


def test_rule_read_fields_equal_googles_or_are_documented() -> None:
    """On every path a rule reads, phiguard's asset equals Google's expected one, except the
    listed differences; a value only phiguard has is an UNKNOWN (Google's converter leaves
    unknown values out) or a listed API default or derived field. Every listed entry still
    occurs."""
    seen_diff: set[tuple[str, str, str]] = set()
    seen_extra: set[tuple[str, str]] = set()
    unexplained = []
    for pair, asset_type, path, theirs, ours in differences():
        if (pair, asset_type, path) in DIFFERENCES:
            seen_diff.add((pair, asset_type, path))
        elif not theirs and (asset_type, path) in PHIGUARD_ONLY:
            seen_extra.add((asset_type, path))
        else:
            unexplained.append((pair, asset_type, path, theirs, ours))
    assert unexplained == []
    assert seen_diff == set(DIFFERENCES)
    assert seen_extra == set(PHIGUARD_ONLY)


def test_differences_are_documented() -> None:
    text = TERRAFORM_MD.read_text()
    for _pair, asset_type, path in DIFFERENCES:
        assert f"`{path}`" in text and asset_type.rsplit("/", 1)[-1] in text, path
    for asset_type, path in PHIGUARD_ONLY:
        assert f"`{path}`" in text and asset_type.rsplit("/", 1)[-1] in text, path


def test_compared_fields_are_not_vacuous() -> None:
    """The comparison reads real values: most compared paths carry a value on Google's side."""
    paths = read_paths()
    with_value = sum(1 for pair in PAIRS for i, r in enumerate(_expected(pair))
                     for p in paths.get(r["asset_type"], ())
                     if extract(view(parse_record(r, pair, i + 1).to_asset()), p))
    assert with_value >= 100, with_value


def _known(value: Any) -> Any:
    if isinstance(value, UnknownValue):
        return None
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_known(v) for v in value]
    return value


@pytest.mark.parametrize("pair", PAIRS)
def test_converted_assets_have_only_fields_google_defines(pair: str) -> None:
    """Every asset phiguard makes of a golden plan validates against its type's discovery
    schema: no field, type or enum value Google does not define."""
    for asset in _world(pair).assets.values():
        if schema_of(asset.asset_type) is not None:
            assert validate_resource(asset.asset_type, _known(asset.data)) == [], asset.name


# Google's converter output read as a snapshot ------------------------------------------------

def test_googles_converter_output_reads_as_a_snapshot() -> None:
    """Every expected file is a CAI snapshot phiguard reads, `v2_org_policies` included (they
    were refused as 'carries no content')."""
    for pair in PAIRS:
        for i, record in enumerate(json.loads(render((GOLDEN / f"{pair}.json").read_text()))):
            parse_record(record, pair, i + 1)


def test_v2_org_policies_become_the_org_policies_rules_read() -> None:
    records = json.loads(render((GOLDEN / "example_org_policy_policy.json").read_text()))
    policies = {r["asset_type"].rsplit("/", 1)[-1]: parse_record(r, "x", 1).to_asset().org_policy
                for r in records}
    assert policies["Folder"] == ({"constraint": "constraints/samplePolicy",
                                   "listPolicy": {"inheritFromParent": True,
                                                  "allValues": "DENY"}},)
    assert policies["Organization"] == ({"constraint": "constraints/gcp.detailedAuditLoggingMode",
                                         "restoreDefault": {}},)
    (project,) = policies["Project"]
    assert project["constraint"] == "constraints/gcp.resourceLocations"
    assert project["listPolicy"]["allowedValues"] == ["projects/allowed-project1",
                                                      "projects/allowed-project2"]
    assert project["listPolicy"]["deniedValues"] == ["projects/denied-project"]


# (b) verdicts --------------------------------------------------------------------------------

def ancestors(record: dict[str, Any]) -> list[str]:
    """CAI's `ancestors` from Google's converter's `ancestry_path`
    (`organizations/1/folders/2/project/p` -> `["projects/p", "folders/2", "organizations/1"]`),
    the way Google's test harness reads it."""
    parts = record.get("ancestry_path", "").strip("/").split("/")
    plural = {"organization": "organizations", "folder": "folders", "project": "projects"}
    pairs = [f"{plural.get(parts[i], parts[i])}/{parts[i + 1]}"
             for i in range(0, len(parts) - 1, 2)]
    return pairs[::-1]


RM = "//cloudresourcemanager.googleapis.com/"


def baseline() -> list[dict[str, Any]]:
    """What Google's converter assumes offline of what the plan does not show: the project,
    folder and organization exist with empty IAM policies and no org policies."""
    nodes = [("organizations", ORG, "Organization", [f"organizations/{ORG}"]),
             ("folders", FOLDER, "Folder", [f"folders/{FOLDER}", f"organizations/{ORG}"]),
             ("projects", PROJECT, "Project", [f"projects/{PROJECT}", f"organizations/{ORG}"])]
    out = []
    for kind, ident, type_name, chain in nodes:
        data = ({"projectId": PROJECT, "name": PROJECT, "lifecycleState": "ACTIVE"}
                if kind == "projects" else {"name": f"{kind}/{ident}"})
        out.append({"name": f"{RM}{kind}/{ident}", "asset_type": f"{RM[2:-1]}/{type_name}",
                    "resource": {"data": data}, "iam_policy": {"bindings": []},
                    "ancestors": chain})
    return out


def _ndjson(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path.parent


@cache
def _directory_rules() -> frozenset[str]:
    """Rules on directory users: a scan without a user export reports them against the
    organization as a missing source; they judge nothing a plan converts."""
    return frozenset(r.id for r in load_pack([RULES]).rules
                     if set(r.asset_types) == {USER_TYPE})


# the harness's project has id my-project and number 1234567890: one project
_SAME = {f"{RM}projects/1234567890": f"{RM}projects/{PROJECT}"}


def _verdicts(doc: dict[str, Any], rename: dict[str, str]) -> dict[tuple[str, str], str]:
    out = {}
    for r in doc["results"]:
        if r["rule_id"] not in _directory_rules():
            name = rename.get(r["asset"], r["asset"])
            out[(r["rule_id"], _SAME.get(name, name))] = r["outcome"]
    return out


def fully_converted(pair: str) -> bool:
    """Whether phiguard converts every resource type of the pair's plan (the pairs with a
    random_string, google_folder or another type phiguard lists as not evaluated test
    Google's placeholders for what phiguard leaves out)."""
    load_tables()
    plan = parse_plan(render((GOLDEN / f"{pair}.tfplan.json").read_text()).encode(), pair)
    return all(c.type in CONVERTERS or c.type in PARTS for c in plan.changes)


_LEFT_OUT = ("Google's converter leaves out a new bucket's empty IAM policy; the scan of its "
             "output cannot decide, the plan can")
_AFTER_APPLY = "a new disk's snapshots exist only after apply: UNKNOWN in the plan, by design"
_DROPPED = ("Google's converter drops the kmsKeyName known only after apply, so the scan "
            "FAILs ENC-002; the plan says UNKNOWN")
_UNDECLARED = ("the plan updates the account without declaring its IAM policy and the snapshot "
               "does not hold the account: the plan says UNKNOWN; Google's converter assumes "
               "an empty policy offline, so the scan of its output decides")
_REFS_LEFT_OUT = ("the policy's two networks[].network_url reference planned networks: Google's "
                  "converter leaves them out (known only after apply), so the scan FAILs "
                  "LOG-012; the plan resolves them through the configuration and PASSes")
_BUCKETS = {"bucket": "test-bucket", "example_storage_bucket": "image-store-bucket",
            "full_storage_bucket": "image-store-bucket"}
_DISKS = {"disk": "my-disk", "example_compute_disk": "test-disk",
          "example_compute_disk_empty_image": "test-disk"}
# (pair, rule, asset) -> why plan and scan differ there; any other difference fails the test.
VERDICT_DIFFERENCES: dict[tuple[str, str, str], str] = {
    **{(pair, "PUB-004", f"//storage.googleapis.com/{name}"): _LEFT_OUT
       for pair, name in _BUCKETS.items()},
    **{(pair, "BAK-004", f"//compute.googleapis.com/projects/{PROJECT}/zones/us-central1-a/"
                         f"disks/{name}"): _AFTER_APPLY for pair, name in _DISKS.items()},
    ("sql", "ENC-002", f"//cloudsql.googleapis.com/projects/{PROJECT}/instances/main-instance"):
        _DROPPED,
    **{(pair, "PUB-002", f"//cloudsql.googleapis.com/projects/{PROJECT}/instances/"
                         "main-instance"):
       "Google's converter leaves out ipv4_enabled (true: Terraform's default, which the plan "
       "applies), and Cloud SQL documents no default for it, so the scan of its output is "
       "UNKNOWN where the plan decides PUB-002"
       for pair in ("sql", "example_sql_database_instance")},
    ("example_google_cloudfunctions_function", "SRV-004",
     f"//cloudfunctions.googleapis.com/projects/{PROJECT}/locations/australia-southeast1/"
     "functions/function-test"):
        "the plan's service_account_email is known only after apply (UNKNOWN); Google's "
        "converter leaves it out, and Cloud Functions v1 documents an empty account as the App "
        "Engine default, so the scan of its output FAILs SRV-004",
    ("example_service_account_update", "MFA-004",
     f"//iam.googleapis.com/projects/{PROJECT}/serviceAccounts/108592438577779299646"):
        _UNDECLARED,
    **{(pair, "PUB-007", f"//bigquery.googleapis.com/projects/{PROJECT}/datasets/test-dataset"):
       "Google's converter leaves out the access list BigQuery gives a dataset created without "
       "access blocks, so the scan of its output is UNKNOWN where the plan PASSes"
       for pair in ("example_bigquery_dataset", "example_bigquery_dataset_iam_binding",
                    "example_bigquery_dataset_iam_member", "example_bigquery_dataset_iam_policy")},
    **{(pair, "MFA-004", f"//cloudkms.googleapis.com/projects/{PROJECT}/locations/global/"
                         "keyRings/keyring-example"):
       "the key ring is neither in the plan nor in the snapshot: phiguard knows only the "
       "planned member or binding (the rest of the policy is UNKNOWN); Google's converter "
       "assumes the rest empty"
       for pair in ("example_kms_key_ring_iam_binding", "example_kms_key_ring_iam_member")},
    **{("example_dns_policy", "LOG-012", f"//compute.googleapis.com/projects/{PROJECT}/global/"
                                         f"networks/{net}"): _REFS_LEFT_OUT
       for net in ("network-1", "network-2")},
    **{(pair, "GKE-001", f"//container.googleapis.com/projects/{PROJECT}/locations/us-central1/"
                         f"clusters/{name}"):
       "Google's converter writes a cluster without nodePools (and without networkConfig), so "
       "the scan of its output cannot see the node pools' private setting: UNKNOWN where the "
       "plan, which lists the default pool, decides"
       for pair, name in (("example_container_cluster", "my-gke-cluster"),
                          ("full_container_cluster", "test-cluster"))},
    ("example_container_cluster", "GKE-009", f"//container.googleapis.com/projects/{PROJECT}/"
                                             "locations/us-central1/clusters/my-gke-cluster"):
        "the release channel is known only after apply: the plan says UNKNOWN; Google's "
        "converter leaves it out, so the scan of its output FAILs GKE-009",
    ("full_container_cluster", "GKE-005", f"//container.googleapis.com/projects/{PROJECT}/"
                                          "locations/us-central1/clusters/test-cluster"):
        "Google's converter leaves out the plan's enable_shielded_nodes = true, so the scan of "
        "its output FAILs GKE-005; the plan has Shielded nodes on and the default pool's "
        "secure boot known only after apply (UNKNOWN)",
}
# Differences where the plan decides PASS and the scan of Google's output FAILs, because
# Google's converter leaves out a reference known only after apply that phiguard resolves
# through the configuration (the plan is right: after apply CAI holds the reference).
PLAN_RESOLVES = {k for k, why in VERDICT_DIFFERENCES.items() if why == _REFS_LEFT_OUT}


@pytest.mark.usefixtures("pack_loaded_once")  # ~100 runs, one bundled pack
def test_plan_findings_agree_with_a_scan_of_googles_cai(tmp_path: Path) -> None:
    """`phiguard plan --all` on each golden plan and `phiguard scan` of Google's expected CAI,
    both given what Google's converter assumes offline (`baseline`), over the pairs all of
    whose resource types phiguard converts and the assets Google makes of them (a verdict on
    one side only counts as a disagreement): the plan never says PASS where the scan says FAIL
    or back, every difference is one listed in VERDICT_DIFFERENCES, and the share that agree
    is printed (95.7% at this writing: 180 of 188)."""
    config = tmp_path / "phiguard.yaml"
    config.write_text(f'organization: "{ORG}"\nphi:\n  projects: [{PROJECT}]\n')
    agree = total = 0
    disagreements: dict[tuple[str, str, str], tuple[str | None, str | None]] = {}
    for pair in filter(fully_converted, PAIRS):
        plan = tmp_path / f"{pair}.tfplan.json"
        plan.write_text(render((GOLDEN / f"{pair}.tfplan.json").read_text()))
        assumed = {r["name"]: r for r in baseline()}
        records = [{**assumed.pop(r["name"], {}), **r,
                    "ancestors": r.get("ancestors") or ancestors(r)} for r in _expected(pair)]
        base = _ndjson(tmp_path / "base" / pair / "assets.ndjson", baseline())
        cai = _ndjson(tmp_path / "cai" / pair / "assets.ndjson", records + list(assumed.values()))
        # What Google's converter assumes offline, and its output, are this test's whole
        # organization: their manifests say so (every asset type collected), as phiguard
        # collect's would, so no rule is UNKNOWN for a type nobody exported
        for snapshot in (base, cai):
            (snapshot / "manifest.json").write_text('{"asset_types_requested": "*"}')
        args = ["-c", str(config), "--at", AT, "-f", "json"]
        planned = CliRunner().invoke(main, ["plan", str(plan), "--all", "--snapshot", str(base),
                                            *args])
        scanned = CliRunner().invoke(main, ["scan", str(cai), *args])
        assert planned.exit_code in (0, 1) and scanned.exit_code in (0, 1), \
            (pair, planned.output[-400:], scanned.output[-400:])
        back = {ours: theirs for (p, theirs), ours in NAMES.items() if p == pair}
        names = {_SAME.get(r["name"], r["name"]) for r in _expected(pair)}
        mine = {k: v for k, v in _verdicts(json.loads(planned.stdout), back).items()
                if k[1] in names}
        theirs = {k: v for k, v in _verdicts(json.loads(scanned.stdout), {}).items()
                  if k[1] in names}
        for key in sorted(set(mine) | set(theirs)):
            total += 1
            if mine.get(key) == theirs.get(key):
                agree += 1
            else:
                disagreements[(pair, *key)] = (mine.get(key), theirs.get(key))
    ratio = agree / total
    print(f"\nplan vs scan of Google's CAI: {agree}/{total} verdicts agree ({ratio:.1%})")
    decided = {"PASS", "FAIL"}
    contradictions = {k: v for k, v in disagreements.items()
                      if set(v) <= decided and k not in PLAN_RESOLVES}
    assert contradictions == {}
    assert set(disagreements) == set(VERDICT_DIFFERENCES), sorted(disagreements.items())
    assert total >= 180
    assert ratio >= 0.93
