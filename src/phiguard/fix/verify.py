"""Judge one resource, as the API returns it, with phiguard's own engine and rule.

After a change the re-read REST body is wrapped as a Cloud Asset Inventory record of the
finding's asset type and name (its resource `data`, or its IAM policy) and the finding's rule
is evaluated on it alone, with the whole snapshot in PHI scope and the rule's default
parameters. Joins that need other assets (a proxy's SSL policy, a project's ancestors) see
only what the kind adds as context; without it the honest answer is UNKNOWN.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from phiguard.fix.kinds import Kind
    from phiguard.fix.api import FixApi
    from phiguard.policy.rule import Rule

__all__ = ["NOT_EVALUATED", "judge", "record_for"]

NOT_EVALUATED = "NOT-EVALUATED"


@lru_cache(maxsize=1)
def _rules() -> dict[str, Rule]:
    from phiguard._util.bundled import rules_dir
    from phiguard.policy.rule import load_pack

    return {r.id: r for r in load_pack([rules_dir()]).rules}


def record_for(kind: Kind, asset: str, body: Any) -> dict[str, Any]:
    """A REST body as the CAI record of `asset` (camelCase, as the Asset API writes it)."""
    record: dict[str, Any] = {"name": asset, "assetType": kind.asset_type}
    if kind.content == "IAM_POLICY":
        record["iamPolicy"] = body
    else:
        record["resource"] = {"data": body}
    return record


def judge(api: FixApi | None, rule_id: str, asset: str, kind: Kind, target: dict[str, str],
          body: Any, now: datetime) -> tuple[str, str]:
    """(outcome, message): PASS / FAIL / UNKNOWN from the engine, or NOT-EVALUATED with why."""
    from phiguard.errors import PhiguardError
    from phiguard.fix.api import ApiError
    from phiguard.testing import assets_from_records, run_rule

    rule = _rules().get(rule_id)
    if rule is None:
        return NOT_EVALUATED, f"{rule_id} is not in the built-in rule pack"
    records = kind.records(kind, asset, target, body) if kind.records else [
        record_for(kind, asset, body)]
    try:
        if kind.context is not None and api is not None:
            records += kind.context(api, target, body)
        assets = assets_from_records(records, "<re-read>")
        finding = run_rule(rule, assets, config={"phi": {"all": True}}, at=now).get(asset)
    except PhiguardError as exc:
        return NOT_EVALUATED, str(exc)
    except ApiError as exc:  # reading the context failed: the change itself stands
        return NOT_EVALUATED, f"context unreadable: {exc}"
    if finding is None:
        return NOT_EVALUATED, f"{rule_id} does not apply to the re-read resource"
    return finding.outcome.value, finding.message
