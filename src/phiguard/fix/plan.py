"""`fix plan`: failing findings -> a reviewed list of API changes (reads only), maybe signed.

The plan's `digest` is a checksum against accidental edits only; anyone can recompute it. What
protects `fix apply` from an edited plan is that it sends nothing as recorded: see
`phiguard.fix.integrity`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from phiguard.errors import InputError
from phiguard.fix.actions import Action, NoFix, actions_for, manual_reason
from phiguard.fix.api import ApiError, FixApi
from phiguard.fix.integrity import (
    PlanRefused,
    check_entry,
    check_signature,
    expected_entry,
    project_before,
)
from phiguard.fix.verify import Verifier

__all__ = ["MAX_PLAN_BYTES", "PLAN_SCHEMA", "build_plan", "plan_digest", "read_plan",
           "select_findings"]

PLAN_SCHEMA = "phiguard.fixplan/v1"
STATUSES = ("change", "compliant", "manual", "unreadable")
_ENTRY_KEYS = ("id", "rule_id", "asset", "status")
_CHANGE_KEYS = ("action", "target", "read", "request", "before", "after", "precondition",
                "permissions")
MAX_PLAN_BYTES = 64 * 1024 * 1024


def select_findings(doc: dict[str, Any], rule: str | None = None,
                    asset: str | None = None) -> list[dict[str, Any]]:
    """The failing results of a findings document, filtered by rule id and asset glob."""
    out = []
    for result in doc.get("results", []):
        if result.get("outcome") != "FAIL":
            continue
        if rule is not None and result.get("rule_id", "").upper() != rule.upper():
            continue
        if asset is not None and not fnmatch.fnmatchcase(result.get("asset", ""), asset):
            continue
        out.append(result)
    return out


def _entry_id(index: int, rule_id: str, asset: str, action: str) -> str:
    digest = hashlib.sha256(f"{rule_id}\0{asset}\0{action}".encode()).hexdigest()[:8]
    return f"{index:03d}-{digest}"


def plan_action(api: FixApi, action: Action, target: dict[str, str],
                rule_id: str = "") -> dict[str, Any]:
    """Read the resource and describe the change the action would make (no writes)."""
    kind = action.kind
    params = kind.read_params(target)
    current = api.call(kind.read_call, params, kind.read_body)
    after = action.change(current, target)
    token = kind.token(current)
    if after is None and action.unmatched:
        # The rule failed but the action finds nothing to change here: say so, never "compliant".
        return {"action": action.id, "target": target, "status": "manual",
                "reason": action.unmatched.format(**target, rule_id=rule_id)}
    out = expected_entry(action, target, after, token)
    if after is None:
        return {**out, "status": "compliant", "before": None, "after": None}
    return {**out, "status": "change", "before": project_before(current, after), "after": after}


def build_plan(api: FixApi, findings: Iterable[dict[str, Any]], *, source: str,
               created: datetime, options: dict[str, str] | None = None,
               verifier: Verifier | None = None) -> dict[str, Any]:
    """One plan entry per (failing finding, action); reads each resource once per action.

    `options` carry choices an action cannot make alone (`ssl_policy`: the policy to attach).
    `verifier` holds the rules (each names its fix action) and the parameters and waivers the
    findings were judged with (`Verifier.of_findings`); the plan records them (`judged_with`)
    so that `fix apply` verifies each change as the findings' scan would judge it.
    """
    options = options or {}
    verifier = verifier or Verifier.of_recorded(None)
    entries: list[dict[str, Any]] = []
    for finding in findings:
        rule_id, asset = finding["rule_id"], finding["asset"]
        rule = verifier.rule(rule_id)
        actions = actions_for(rule)
        base = {"rule_id": rule_id, "asset": asset, "message": finding.get("message", "")}
        if not actions:
            reason = manual_reason(rule_id, rule) or (
                f"no automatic fix is registered for {rule_id}: "
                f"see `phiguard rules show {rule_id}`")
            entries.append({"id": _entry_id(len(entries) + 1, rule_id, asset, ""), **base,
                            "status": "manual", "reason": reason})
            continue
        for action in actions:
            entry_id = _entry_id(len(entries) + 1, rule_id, asset, action.id)
            match = action.kind.pattern.fullmatch(asset)
            if match is None:
                entries.append({"id": entry_id, **base, "status": "manual", "action": action.id,
                                "reason": f"{action.id} does not handle this resource name"})
                continue
            try:
                target = match.groupdict()
                if action.prepare is not None:
                    target = action.prepare(api, target, options, verifier)
                planned = plan_action(api, action, target, rule_id)
            except NoFix as exc:
                entries.append({"id": entry_id, **base, "status": "manual", "action": action.id,
                                "reason": str(exc)})
                continue
            except ApiError as exc:
                entries.append({"id": entry_id, **base, "status": "unreadable",
                                "action": action.id, "reason": str(exc),
                                "permissions": list(action.permissions)})
                continue
            entries.append({"id": entry_id, **base, **planned})
    plan: dict[str, Any] = {"schema": PLAN_SCHEMA,
                            "created": created.isoformat().replace("+00:00", "Z"),
                            "findings": source, "actions": entries}
    judged_with = verifier.recorded()
    if judged_with is not None:
        plan["judged_with"] = judged_with
    plan["digest"] = plan_digest(plan)
    return plan


def plan_digest(plan: dict[str, Any]) -> str:
    """A checksum of the actions and, when recorded, of what the findings were judged with."""
    covered: Any = plan.get("actions")
    if "judged_with" in plan:
        covered = {"actions": covered, "judged_with": plan["judged_with"]}
    body = json.dumps(covered, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_plan(path: str, public_key: Path | None = None) -> dict[str, Any]:
    """Load and check a plan file; any problem names the file and the reason (exit 2).

    Every `change` entry is checked against the registry (see `phiguard.fix.integrity`), and the
    signature, if any, must verify; with `public_key` the plan must be signed by that key.
    The plan's `signed` says how it is signed, in words."""
    try:
        if os.stat(path).st_size > MAX_PLAN_BYTES:
            raise InputError(f"fix plan is larger than {MAX_PLAN_BYTES} bytes", file=path)
        with open(path, encoding="utf-8-sig") as fh:
            plan = json.load(fh, object_pairs_hook=_no_duplicates)
    except OSError as exc:
        raise InputError(f"cannot read fix plan: {exc.strerror or exc}", file=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not a fix plan: invalid JSON: {exc.msg}", file=path,
                         line=exc.lineno, column=exc.colno) from None
    except UnicodeDecodeError:
        raise InputError("not a fix plan: not valid UTF-8", file=path) from None
    except (ValueError, RecursionError) as exc:  # a duplicate key, absurd nesting
        raise InputError(f"not a fix plan: {exc}", file=path) from None
    if not isinstance(plan, dict) or plan.get("schema") != PLAN_SCHEMA:
        raise InputError(f"not a phiguard fix plan (expected schema {PLAN_SCHEMA})", file=path)
    actions = plan.get("actions")
    if not isinstance(actions, list):
        raise InputError("fix plan has no `actions` list", file=path)
    if plan.get("digest") != plan_digest(plan):
        raise InputError("fix plan was changed after `fix plan` wrote it (digest mismatch): "
                         "plan again rather than editing it", file=path)
    try:
        verifier = Verifier.of_recorded(plan.get("judged_with"))  # what apply verifies with
    except ValueError as exc:
        raise InputError(f"fix plan: {exc}", file=path) from None
    seen: set[str] = set()
    for n, entry in enumerate(actions):
        where = f"actions[{n}]"
        if (not isinstance(entry, dict) or any(k not in entry for k in _ENTRY_KEYS)
                or not all(isinstance(entry[k], str) for k in _ENTRY_KEYS)):
            raise InputError(f"{where}: expected an object with the strings "
                             f"{', '.join(_ENTRY_KEYS)}", file=path)
        if entry["status"] not in STATUSES or entry["id"] in seen:
            raise InputError(f"{where}: bad status or duplicate id {entry['id']!r}", file=path)
        seen.add(entry["id"])
        if entry["status"] == "change":
            missing = [k for k in _CHANGE_KEYS if entry.get(k) is None]
            if missing:
                raise InputError(f"{where}: a change needs {', '.join(missing)} "
                                 f"(action {entry.get('action')!r})", file=path)
            try:
                check_entry(entry, where, verifier)
            except PlanRefused as exc:
                raise InputError(str(exc), file=path) from None
    plan["signed"] = check_signature(plan, path, public_key)
    return plan
