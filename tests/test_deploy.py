"""phiguard's own deployment (docs/deploy.md, docs/deploy/main.tf) passes phiguard's plan gate.

Terraform cannot run here, so its plan is written by fixtures/plans/build.py (`deploy()`) as
`terraform show -json` would write it with the values of docs/deploy/terraform.tfvars.example.
These tests hold that plan to main.tf resource by resource (every .tf resource is planned and
nothing else; every attribute main.tf sets has the planned value it evaluates to, variables,
locals and references to other planned resources resolved; a value known only after apply is
unknown in the plan and referenced in its configuration), hold docs/deploy.md's Terraform to
main.tf, and run `phiguard plan` on the plan with the ops project inside and outside the PHI
scope: no FAIL and no UNKNOWN, and the unconverted types listed by name.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import hcl2
import pytest
from click.testing import CliRunner

from _cli_args import parse_command
from _paths import DOCS, PLANS
from phiguard.cli import main

TF = DOCS / "deploy" / "main.tf"
TFVARS = DOCS / "deploy" / "terraform.tfvars.example"
PLAN = PLANS / "deploy.json"
SNAPSHOT = PLANS / "deploy-snapshot"
AT = "2026-11-25T00:00:00Z"
# Planned types phiguard does not convert (listed as not evaluated, never dropped), see
# docs/deploy.md: Cloud Scheduler jobs are not among the Cloud Asset Inventory types phiguard
# ships (src/phiguard/google/data/cai-asset-types.txt); a Cloud Run job is, but in which form
# CAI stores it (Google's Terraform converter writes run v2 `Job`, the organization-policy
# custom constraints name v1 Knative paths for the same type) cannot be settled offline, and
# no rule reads one, so it is not invented. Its IAM member goes with it.
NOT_CONVERTED = ["google_cloud_run_v2_job.nightly",
                 "google_cloud_run_v2_job_iam_member.scheduler_runs",
                 "google_cloud_scheduler_job.nightly"]
# the organization's own domain: MFA-004 judges the auditors group against it
CONFIG = ('organization: "123456789012"\nphi:\n  projects: {}\n'
          "params:\n  MFA-004: {{allowed_domains: [example-health.com]}}\n")
SKIP = {"for_each", "count", "depends_on", "lifecycle", "provider", "dynamic"}
_OPTIONS = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False,
                                     strip_string_quotes=True)


def _hcl(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=_OPTIONS))


@pytest.fixture(scope="module")
def tf() -> dict[str, Any]:
    return _hcl(TF)


@pytest.fixture(scope="module")
def tfvars() -> dict[str, Any]:
    return _hcl(TFVARS)


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    return dict(json.loads(PLAN.read_text()))


def _resources(tf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in tf["resource"]:
        for rtype, named in block.items():
            for name, body in named.items():
                out[f"{rtype}.{name}"] = body
    return out


class Resolver:
    """Evaluates main.tf's strings: var.* from the tfvars, local.*, each.value, and
    references to planned resources' attributes from the plan (None when unknown there)."""

    def __init__(self, tf: dict[str, Any], tfvars: dict[str, Any], plan: dict[str, Any]) -> None:
        self.vars = {k: v for block in tf["variable"] for k, v in block.items()}
        self.values = dict(tfvars)
        self.locals: dict[str, Any] = {k: v for block in tf["locals"] for k, v in block.items()}
        self.changes = {c["address"]: c["change"] for c in plan["resource_changes"]}
        self.each: str | None = None

    def _one(self, expr: str) -> tuple[bool, Any]:
        parts = expr.split(".")
        if parts[0] == "var":
            if parts[1] in self.values:
                return True, self.values[parts[1]]
            return True, self.vars[parts[1]].get("default")
        if parts[0] == "local":
            return self.resolve(self.locals[parts[1]])
        if expr == "each.value":
            return True, self.each
        if parts[0].startswith("google_") and len(parts) == 3:
            change = self.changes[f"{parts[0]}.{parts[1]}"]
            if change["after_unknown"].get(parts[2]):
                return False, None
            return True, change["after"][parts[2]]
        raise AssertionError(f"main.tf: cannot evaluate {expr!r} here")

    def resolve(self, value: Any) -> tuple[bool, Any]:
        """(known, value)."""
        if not isinstance(value, str) or "${" not in value:
            return True, value.replace('\\"', '"') if isinstance(value, str) else value
        whole = re.fullmatch(r"\$\{([\w.]+)\}", value)
        if whole:
            return self._one(whole.group(1))
        known = True

        def sub(m: re.Match[str]) -> str:
            nonlocal known
            ok, got = self._one(m.group(1))
            known = known and ok
            return str(got)
        text = re.sub(r"\$\{([\w.]+)\}", sub, value)
        return known, text.replace('\\"', '"') if known else None


def _compare(where: str, tf_value: Any, after: Any, unknown: Any, res: Resolver,
             checked: list[str]) -> None:
    if isinstance(tf_value, dict):
        if unknown is True:
            return  # a whole map known only after apply
        assert isinstance(after, dict), (where, after)
        for key, sub in tf_value.items():
            if key in SKIP:
                continue
            _compare(f"{where}.{key}", sub, after.get(key),
                     unknown.get(key) if isinstance(unknown, dict) else None, res, checked)
        return
    if isinstance(tf_value, list) and tf_value and isinstance(tf_value[0], dict):
        assert isinstance(after, list) and len(after) == len(tf_value), (where, after)
        for i, (sub, got) in enumerate(zip(tf_value, after, strict=True)):
            unk = unknown[i] if isinstance(unknown, list) and i < len(unknown) else None
            _compare(f"{where}[{i}]", sub, got, unk, res, checked)
        return
    if isinstance(tf_value, list):
        resolved = [res.resolve(v) for v in tf_value]
        assert all(k for k, _ in resolved), where
        assert after == [v for _, v in resolved], (where, after)
        checked.append(where)
        return
    known, value = res.resolve(tf_value)
    if known:
        assert after == value, (where, after, value)
    else:
        assert unknown is True and after is None, (where, after, unknown)
    checked.append(where)


def test_the_plan_mirrors_main_tf_resource_by_resource(tf: dict[str, Any],
                                                       tfvars: dict[str, Any],
                                                       plan: dict[str, Any]) -> None:
    res = Resolver(tf, tfvars, plan)
    resources = _resources(tf)
    planned: dict[str, list[dict[str, Any]]] = {}
    for change in plan["resource_changes"]:
        assert change["change"]["actions"] == ["create"], change["address"]
        planned.setdefault(f"{change['type']}.{change['name']}", []).append(change)
    assert sorted(planned) == sorted(resources)
    checked: list[str] = []
    for address, body in resources.items():
        instances = planned[address]
        if "for_each" in body:
            keys = re.findall(r'\\?"([^"\\]+)\\?"', body["for_each"])
            assert sorted(c["index"] for c in instances) == sorted(keys), address
        else:
            assert len(instances) == 1 and "index" not in instances[0], address
        for change in instances:
            res.each = change.get("index")
            after, unknown = change["change"]["after"], change["change"]["after_unknown"]
            _compare(change["address"], body, after, unknown, res, checked)
            for dyn in body.get("dynamic", []):
                for block, spec in dyn.items():
                    _, key = res.resolve("${var.kms_key}")
                    assert spec["for_each"] == "${var.kms_key == null ? [] : [var.kms_key]}"
                    content = {k: key if v == f"${{{block}.value}}" else v
                               for k, v in spec["content"][0].items()}
                    assert after[block] == ([content] if key is not None else []), address
                    checked.append(f"{change['address']}.{block}")
    assert len(checked) >= 100, len(checked)  # the comparison really walked the attributes


def test_unknown_values_are_references_in_the_plan_configuration(plan: dict[str, Any]) -> None:
    """Every planned value the .tf takes from another resource's computed attribute (the
    service accounts' emails) is unknown and carries the reference, which the gate follows."""
    config = {r["address"]: r["expressions"]
              for r in plan["configuration"]["root_module"]["resources"]}
    members = [c for c in plan["resource_changes"] if c["type"].endswith("_iam_member")]
    assert len(members) == 9
    for change in members:
        if change["change"]["after_unknown"].get("member"):
            refs = config[f"{change['type']}.{change['name']}"]["member"]["references"]
            assert refs[0] in ("google_service_account.auditor.email",
                               "google_service_account.scheduler.email"), change["address"]


def test_the_job_runs_an_audit_into_the_two_buckets(plan: dict[str, Any]) -> None:
    """The Cloud Run job's arguments parse with phiguard's own CLI: an audit whose store is the
    state bucket's phiguard.db, whose evidence goes to the locked bucket, with the config from
    the read-only mount of the state bucket, and findings that do not fail the execution."""
    after = {c["address"]: c["change"]["after"] for c in plan["resource_changes"]}
    job = after["google_cloud_run_v2_job.nightly"]["template"][0]["template"][0]
    container = job["containers"][0]
    name, values = parse_command(container["args"])
    state = after["google_storage_bucket.state"]["name"]
    evidence = after["google_storage_bucket.evidence"]["name"]
    assert name == "audit"
    assert values["store_path"] == f"gs://{state}/phiguard.db"
    assert values["evidence"].startswith(f"gs://{evidence}/")
    assert values["fail_on"] == "none" and values["org"] == "123456789012"
    mount = container["volume_mounts"][0]
    volume = next(v for v in job["volumes"] if v["name"] == mount["name"])
    assert volume["gcs"] == [{"bucket": state, "read_only": True, "mount_options": None}]
    assert values["config_path"].startswith(mount["mount_path"] + "/")
    assert job["max_retries"] == 0 and job["timeout"] == "3600s"


def test_every_phiguard_command_in_docs_deploy_md_parses() -> None:
    text = (DOCS / "deploy.md").read_text(encoding="utf-8")
    lines = [ln.split(" #", 1)[0].strip()
             for block in re.findall(r"```sh\n(.*?)```", text, re.S)
             for ln in block.replace("\\\n", " ").splitlines()]
    commands = [parse_command(shlex.split(ln)[1:]) for ln in lines if ln.startswith("phiguard ")]
    assert {name for name, _ in commands} >= {"plan", "verify", "history", "evidence check"}
    for name, values in commands:
        for key in ("store_path", "bucket", "location"):
            assert not isinstance(values.get(key), str) or values[key].startswith("gs://"), \
                (name, values)


def test_docs_deploy_md_shows_main_tf_as_it_is() -> None:
    text = (DOCS / "deploy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```hcl\n(.*?)```", text, re.S)
    assert TF.read_text(encoding="utf-8") in blocks


def test_least_privilege_grants(tf: dict[str, Any]) -> None:
    """The job's identity reads the organization and may create, never delete, evidence; it may
    replace the store object alone. Every grant main.tf makes, exactly."""
    grants = set()
    for address, body in _resources(tf).items():
        if "_iam_member" in address:
            holder = body.get("org_id") or body.get("bucket") or body.get("name")
            cond = body.get("condition", [{}])[0].get("expression")
            grants.add((address.split(".")[0], holder, body["role"], body["member"], cond))
    auditor = "serviceAccount:${google_service_account.auditor.email}"
    evidence = "${google_storage_bucket.evidence.name}"
    state = "${google_storage_bucket.state.name}"
    store = ('resource.name.startsWith("projects/_/buckets/${local.state_bucket}/objects/'
             'phiguard.db")')  # the store object and its run markers (phiguard.db.runs/N)
    assert grants == {
        ("google_organization_iam_member", "${var.org_id}", "roles/cloudasset.viewer", auditor,
         None),
        ("google_organization_iam_member", "${var.org_id}", "roles/browser", auditor, None),
        ("google_storage_bucket_iam_member", evidence, "roles/storage.objectCreator", auditor,
         None),
        ("google_storage_bucket_iam_member", evidence, "roles/storage.objectViewer", auditor,
         None),
        ("google_storage_bucket_iam_member", evidence, "roles/storage.legacyBucketReader",
         auditor, None),
        ("google_storage_bucket_iam_member", evidence, "roles/storage.objectViewer",
         "${var.auditors}", None),
        ("google_storage_bucket_iam_member", state, "roles/storage.objectViewer", auditor, None),
        ("google_storage_bucket_iam_member", state, "roles/storage.objectUser", auditor, store),
        ("google_cloud_run_v2_job_iam_member", "${google_cloud_run_v2_job.nightly.name}",
         "roles/run.invoker", "serviceAccount:${google_service_account.scheduler.email}", None),
    }, grants


def test_the_evidence_bucket_is_locked_for_six_years(tf: dict[str, Any]) -> None:
    bucket = _resources(tf)["google_storage_bucket.evidence"]
    six_years = next(b for b in tf["locals"] if "six_years" in b)["six_years"]
    assert six_years >= 189216000
    assert bucket["retention_policy"] == [{"retention_period": "${local.six_years}",
                                           "is_locked": True}]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] is False
    # Cloud Storage allows no Object Versioning beside a retention policy; soft delete keeps
    # what is deleted (once six years have passed) for 90 days, the longest it allows
    assert "versioning" not in bucket
    assert bucket["soft_delete_policy"] == [{"retention_duration_seconds": 7776000}]
    # the store is replaced nightly: its bucket must not be under a retention policy, and
    # versioning keeps the replaced generations there
    state = _resources(tf)["google_storage_bucket.state"]
    assert "retention_policy" not in state and state["versioning"] == [{"enabled": True}]


def _gate(tmp_path: Path, phi: list[str], *extra: str) -> tuple[int, dict[str, Any]]:
    config = tmp_path / "phiguard.yaml"
    config.write_text(CONFIG.format(json.dumps(phi)))
    result = CliRunner().invoke(main, ["plan", str(PLAN), "-c", str(config), "--at", AT,
                                       "-f", "json", *extra], catch_exceptions=False)
    return result.exit_code, json.loads(result.stdout)


def test_without_a_snapshot_the_organization_policy_is_unknown(tmp_path: Path) -> None:
    """The plan adds two members to the organization's IAM policy but does not show the rest
    of it, so MFA-004 (every member of the policy is one of the organization's identities) is
    UNKNOWN there, saying to pass --snapshot; nor does it place the PHI project under the
    organization, so whether the auditor's organization grants reach PHI is not known, but
    they are viewer roles, which IAM-001 passes wherever they reach; nothing fails."""
    code, doc = _gate(tmp_path, ["phiguard-ops"])
    assert code == 0
    bad = sorted((r["outcome"], r["rule_id"], r.get("address"), r["message"])
                 for r in doc["results"] if r["outcome"] != "PASS")
    assert [b[:3] for b in bad] == [
        ("UNKNOWN", "MFA-004", "google_organization_iam_member.asset_viewer")], bad
    assert "pass --snapshot" in bad[0][3]
    [auditor] = [r for r in doc["results"] if r["rule_id"] == "IAM-001"
                 and r.get("address") == "google_service_account.auditor"]
    assert auditor["outcome"] == "PASS"


def _with_phi_prod(tmp_path: Path) -> Path:
    """deploy-snapshot/ with the PHI project phi-prod in the organization, as the export of
    an organization holding it has (the fixture holds only the ops project)."""
    folder = tmp_path / "snapshot"
    folder.mkdir()
    record = {"name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
              "asset_type": "cloudresourcemanager.googleapis.com/Project",
              "resource": {"version": "v3", "discovery_document_uri":
                           "https://cloudresourcemanager.googleapis.com/$discovery/rest?version=v3",
                           "discovery_name": "Project",
                           "data": {"name": "projects/111111111111", "projectId": "phi-prod",
                                    "state": "ACTIVE", "parent": "organizations/123456789012",
                                    "displayName": "phi-prod"}},
              "ancestors": ["projects/111111111111", "organizations/123456789012"]}
    text = (SNAPSHOT / "resources.ndjson").read_text(encoding="utf-8")
    (folder / "resources.ndjson").write_text(text + json.dumps(record) + "\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("phi", [["phiguard-ops"], ["phi-prod"]], ids=["ops-in-phi-scope",
                                                                         "ops-outside"])
def test_phiguard_plan_passes_its_own_deployment(tmp_path: Path, phi: list[str]) -> None:
    """Over the current organization (deploy-snapshot/: the organization with its IAM policy,
    the ops project), no failing and no UNKNOWN finding, even with the ops project in the PHI
    scope (then the PHI bucket rules judge both buckets: versioning, multi-region, CMEK, no
    public access, uniform access); the unconverted types are listed."""
    snapshot = SNAPSHOT if phi == ["phiguard-ops"] else _with_phi_prod(tmp_path)
    code, doc = _gate(tmp_path, phi, "--snapshot", str(snapshot))
    outcomes = [(r["outcome"], r["rule_id"], r.get("address")) for r in doc["results"]]
    assert code == 0, outcomes
    assert [o for o in outcomes if o[0] != "PASS"] == []
    assert [x["address"] for x in doc["run"]["not_evaluated"]] == NOT_CONVERTED
    judged = {(o[1], o[2]) for o in outcomes}
    if phi == ["phiguard-ops"]:
        assert ("IAM-001", "google_service_account.auditor") in judged
        for rule in ("BAK-005", "DR-003", "ENC-001", "PUB-004", "PUB-005"):
            for bucket in ("evidence", "state"):
                assert (rule, f"google_storage_bucket.{bucket}") in judged, (rule, bucket)


def test_the_gate_would_catch_a_weakened_evidence_bucket(tmp_path: Path,
                                                         plan: dict[str, Any]) -> None:
    """The same plan with the evidence bucket's public access prevention back to inherited
    and uniform access off FAILs PUB-005: the gate is judging this plan, not waving it on."""
    doc = json.loads(json.dumps(plan))
    for change in doc["resource_changes"]:
        if change["address"] == "google_storage_bucket.evidence":
            change["change"]["after"]["public_access_prevention"] = "inherited"
            change["change"]["after"]["uniform_bucket_level_access"] = False
    weak = tmp_path / "weak.json"
    weak.write_text(json.dumps(doc))
    config = tmp_path / "phiguard.yaml"
    config.write_text(CONFIG.format('["phiguard-ops"]'))
    result = CliRunner().invoke(main, ["plan", str(weak), "-c", str(config), "--at", AT,
                                       "-f", "json", "--snapshot", str(SNAPSHOT)],
                                catch_exceptions=False)
    assert result.exit_code == 1
    fails = {(r["rule_id"], r["address"]) for r in json.loads(result.stdout)["results"]
             if r["outcome"] == "FAIL"}
    assert fails == {("PUB-005", "google_storage_bucket.evidence")}
