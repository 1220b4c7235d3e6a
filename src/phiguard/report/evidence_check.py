"""`phiguard evidence check gs://BUCKET`: is phiguard's own evidence store fit to keep evidence
for six years (HIPAA 164.316(b)(2)(i))?

The bucket's metadata (storage.buckets.get, the same Bucket resource Cloud Asset Inventory
exports as `resource.data`) is judged by the rule pack's own bucket rules, as a scan judges a PHI
bucket:

- PUB-005: public access prevention enforced and uniform bucket-level access on;
- BAK-005: Object Versioning on, or soft delete keeping deleted objects at least its
  `min_soft_delete_seconds` (a bucket with a retention policy cannot have versioning, so an
  evidence bucket passes by soft delete);
- retention: a retention policy of at least LOG-003's `min_retention_seconds` (six years), and
  locked. LOG-003 applies this to buckets an aggregated log sink writes to; here the same
  threshold is checked on the evidence bucket directly.

and one check no snapshot can answer: the identity running phiguard must not be able to delete
objects (buckets.testIamPermissions: `storage.objects.delete` not held), while it can create
them. Each check is PASS, FAIL or UNKNOWN with the reason; UNKNOWN never counts as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from phiguard.policy.rule import RulePack
from phiguard.store.gcs import Gcs

__all__ = ["BucketCheck", "check_evidence_bucket"]

RULES = ("PUB-005", "BAK-005")
RETENTION_RULE = "LOG-003"
SIX_YEARS = 189216000  # seconds: 6 x 365 days, LOG-003's default
WANTED = ["storage.objects.create", "storage.objects.delete"]


@dataclass(frozen=True)
class BucketCheck:
    name: str
    outcome: str  # PASS, FAIL or UNKNOWN
    detail: str
    source: str  # the rule the check reuses, or "testIamPermissions"


def _rule(pack: RulePack, rule_id: str) -> Any:
    for rule in pack.rules:
        if rule.id == rule_id:
            return rule
    return None


def _retention(data: dict[str, Any], pack: RulePack,
               params: dict[str, dict[str, Any]]) -> BucketCheck:
    rule = _rule(pack, RETENTION_RULE)
    spec = rule.params.get("min_retention_seconds") if rule is not None else None
    default = spec.get("default") if isinstance(spec, dict) else None
    default = params.get(RETENTION_RULE, {}).get("min_retention_seconds", default)
    minimum = max(default, SIX_YEARS) if isinstance(default, int) else SIX_YEARS
    source = f"{RETENTION_RULE} min_retention_seconds" if spec else "164.316(b)(2)(i)"
    policy = data.get("retentionPolicy")
    if not isinstance(policy, dict):
        return BucketCheck("retention", "FAIL", "the bucket has no retention policy: evidence "
                           f"can be deleted at any time (needs >= {minimum} s, locked)", source)
    raw = policy.get("retentionPeriod")
    period = int(str(raw)) if str(raw).isdigit() else None
    if period is None:
        return BucketCheck("retention", "UNKNOWN", "the retention policy names no retention "
                           "period", source)
    if period < minimum:
        return BucketCheck("retention", "FAIL", f"retention period {period} s is shorter than "
                           f"six years ({minimum} s)", source)
    if policy.get("isLocked") is not True:
        return BucketCheck("retention", "FAIL", f"retention period {period} s, but the policy "
                           "is not locked: it can be shortened or removed", source)
    return BucketCheck("retention", "PASS", f"retention period {period} s (>= {minimum} s), "
                       "locked", source)


def _by_rules(bucket: str, data: dict[str, Any], pack: RulePack,
              params: dict[str, dict[str, Any]]) -> list[BucketCheck]:
    from phiguard.testing import assets_from_records, run_rule

    record = {"name": f"//storage.googleapis.com/{bucket}",
              "asset_type": "storage.googleapis.com/Bucket",
              "resource": {"version": "v1", "discovery_name": "Bucket",
                           "discovery_document_uri":
                               "https://www.googleapis.com/discovery/v1/apis/storage/v1/rest",
                           "data": data}}
    assets = assets_from_records([record], f"storage.buckets.get {bucket}")
    out = []
    for rule_id in RULES:
        rule = _rule(pack, rule_id)
        if rule is None:
            out.append(BucketCheck(rule_id, "UNKNOWN", f"the rule pack has no {rule_id}",
                                   rule_id))
            continue
        finding = run_rule(rule, assets, config={"phi": {"all": True}},
                           params=params.get(rule_id), at=_now()).get(assets[0].name)
        if finding is None:
            out.append(BucketCheck(rule_id, "UNKNOWN", "the rule did not apply", rule_id))
            continue
        message = finding.message
        if finding.outcome.value == "UNKNOWN" and rule_id == "PUB-005":
            message += ("; this check reads no org policy: set publicAccessPrevention to "
                        "enforced on the evidence bucket itself")
        out.append(BucketCheck(rule_id, finding.outcome.value, message, rule_id))
    return out


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _identity(held: set[str]) -> list[BucketCheck]:
    out = []
    if "storage.objects.delete" in held:
        out.append(BucketCheck("no-delete", "FAIL", "the identity running phiguard holds "
                               "storage.objects.delete on the bucket: grant it "
                               "roles/storage.objectCreator (create only), not objectAdmin",
                               "testIamPermissions"))
    else:
        out.append(BucketCheck("no-delete", "PASS", "the identity running phiguard cannot "
                               "delete objects (storage.objects.delete not held)",
                               "testIamPermissions"))
    if "storage.objects.create" not in held:
        out.append(BucketCheck("can-write", "FAIL", "the identity running phiguard cannot "
                               "create objects (storage.objects.create not held): evidence "
                               "cannot be written", "testIamPermissions"))
    else:
        out.append(BucketCheck("can-write", "PASS", "the identity can create objects",
                               "testIamPermissions"))
    return out


def check_evidence_bucket(bucket: str, pack: RulePack, gcs: Gcs,
                          params: dict[str, dict[str, Any]] | None = None) -> list[BucketCheck]:
    """Every check, in a fixed order, with the rules' parameters from phiguard.yaml (`params`;
    the retention minimum never drops below six years). A bucket the caller may not read (403)
    makes the bucket checks UNKNOWN; a missing bucket (404) or any other failure raises
    GcsError."""
    params = params or {}
    from phiguard.store.gcs import GcsError

    held = gcs.permissions(bucket, list(WANTED))
    try:
        data = gcs.bucket(bucket)
    except GcsError as exc:
        if exc.status != 403:
            raise
        why = ("cannot read the bucket's metadata (storage.buckets.get denied): run the check "
               "as an identity that may read it, e.g. the job's service account with "
               "roles/storage.legacyBucketReader on the bucket")
        checks = [BucketCheck(name, "UNKNOWN", why, name) for name in ("retention", *RULES)]
        return [*checks, *_identity(held)]
    return [_retention(data, pack, params), *_by_rules(bucket, data, pack, params),
            *_identity(held)]
