"""`phiguard evidence check gs://BUCKET`: is phiguard's own evidence store fit to keep evidence
for six years (HIPAA 164.316(b)(2)(i))?

The bucket's metadata (storage.buckets.get, the same Bucket resource Cloud Asset Inventory
exports as `resource.data`) is judged by the rule pack's own bucket rules, as a scan judges a PHI
bucket. Which rules is the rules' own knowledge, not a list of ids here: the Cloud Storage bucket
rules whose `remediation.fix` is one of the bucket settings of an evidence store
(`bucket-uniform-access`: public access prevention and uniform bucket-level access, PUB-005 in
the HIPAA pack; `bucket-versioning`: Object Versioning or soft delete, BAK-005; a bucket with a
retention policy cannot have versioning, so an evidence bucket passes by soft delete); and the
retention minimum is the longest `min_retention_seconds` of the pack's bucket rules (BAK-006's
archive buckets and LOG-003's log-sink buckets, six years by default; the evidence bucket is
judged directly, whatever its name or class), never below six years, with the policy locked.

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

BUCKET = "storage.googleapis.com/Bucket"
# The fix actions whose settings an evidence bucket needs; the rules naming them are applied.
SETTINGS = ("bucket-uniform-access", "bucket-versioning")
RETENTION_PARAM = "min_retention_seconds"
SIX_YEARS = 189216000  # seconds: 6 x 365 days (164.316(b)(2)(i))
WANTED = ["storage.objects.create", "storage.objects.delete"]


@dataclass(frozen=True)
class BucketCheck:
    name: str
    outcome: str  # PASS, FAIL or UNKNOWN
    detail: str
    source: str  # the rule the check reuses, or "testIamPermissions"


def _setting_rules(pack: RulePack) -> list[tuple[str, Any]]:
    """(fix action, rule or None) for each evidence-bucket setting, rules in pack order."""
    out: list[tuple[str, Any]] = []
    for setting in SETTINGS:
        found = [r for r in pack.rules if r.remediation.get("fix") == setting
                 and BUCKET in r.asset_types]
        out += [(setting, r) for r in found] or [(setting, None)]
    return out


def _retention_rules(pack: RulePack) -> list[Any]:
    return [r for r in pack.rules if BUCKET in r.asset_types and RETENTION_PARAM in r.params]


def _retention(data: dict[str, Any], pack: RulePack,
               params: dict[str, dict[str, Any]]) -> BucketCheck:
    rules = _retention_rules(pack)
    minimum = SIX_YEARS
    for rule in rules:  # the longest any bucket rule asks for, never below six years
        value = params.get(rule.id, {}).get(RETENTION_PARAM,
                                            rule.params[RETENTION_PARAM].get("default"))
        if isinstance(value, int) and not isinstance(value, bool):
            minimum = max(minimum, value)
    source = (", ".join(r.id for r in rules) + f" {RETENTION_PARAM}" if rules
              else "164.316(b)(2)(i)")
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
                           f"the {minimum} s required (six years at least)", source)
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
    for setting, rule in _setting_rules(pack):
        if rule is None:
            out.append(BucketCheck(setting, "UNKNOWN", "the rule pack has no Cloud Storage "
                                   f"bucket rule whose fix is {setting}", "rule pack"))
            continue
        finding = run_rule(rule, assets, config={"phi": {"all": True}},
                           params=params.get(rule.id), at=_now()).get(assets[0].name)
        if finding is None:
            out.append(BucketCheck(rule.id, "UNKNOWN", "the rule did not apply", rule.id))
            continue
        message = finding.message
        if finding.outcome.value == "UNKNOWN":
            message += ("; this check reads only the bucket's own metadata (no org policy, "
                        "no other resource): set the property on the evidence bucket itself")
        out.append(BucketCheck(rule.id, finding.outcome.value, message, rule.id))
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
        checks = [BucketCheck("retention", "UNKNOWN", why, "storage.buckets.get")]
        checks += [BucketCheck(rule.id if rule is not None else setting, "UNKNOWN", why,
                               rule.id if rule is not None else "rule pack")
                   for setting, rule in _setting_rules(pack)]
        return [*checks, *_identity(held)]
    return [_retention(data, pack, params), *_by_rules(bucket, data, pack, params),
            *_identity(held)]
