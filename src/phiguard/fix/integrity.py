"""What a fix plan may ask for: every change rebuilt from the registry, and plan signatures.

A plan file is data that whoever can write it can edit, and its digest is a checksum anyone
can recompute. So no request a plan records is sent as written. The registry rebuilds each one:
the action id names a registered action, the asset name gives the target through the action's
pattern, `prepare` re-derives the typed extras (the SSL policy to attach, the service account's
email), and apply re-reads the resource and lets the action compute the change again. A plan
whose recorded target, read, request, before or after differs from what the registry builds is
refused (exit 2) naming the entry and the action. What the registry cannot tell is who chose
the actions and targets: plans signed with an Ed25519 key (the keys of the evidence bundles)
answer that, and `fix apply --public-key` refuses a plan not signed by that key.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from phiguard.errors import FixError, InputError
from phiguard.fix.actions import Action, action_by_id, actions_for, build_request
from phiguard.fix.verify import Verifier

__all__ = ["PlanRefused", "check_entry", "check_signature", "expected_entry", "project_before",
           "registry_target", "sign_plan"]

SIGNATURE = "signature"


class PlanRefused(FixError):
    """A plan entry asks for something other than what its registered action builds."""


def project_before(current: Any, after: Any) -> Any:
    """The part of `current` that `after` overwrites (None where it is unset)."""
    if isinstance(after, dict):
        cur = current if isinstance(current, dict) else {}
        return {k: project_before(cur.get(k), v) for k, v in after.items()}
    return current


def _refuse(where: str, entry: dict[str, Any], why: str) -> PlanRefused:
    return PlanRefused(f"{where} ({entry.get('id')}, action {entry.get('action')!r}): {why}: "
                       "the plan was edited after `fix plan` wrote it (or written by another "
                       "phiguard version); nothing was sent: plan again")


def registry_target(action: Action, entry: dict[str, Any], where: str) -> dict[str, str]:
    """The target the asset name gives through the action's pattern, plus the action's declared
    extras in their declared form; anything else in the recorded target is refused."""
    asset = entry.get("asset")
    match = action.kind.pattern.fullmatch(asset) if isinstance(asset, str) else None
    if match is None:
        raise _refuse(where, entry, f"{action.id} does not handle the asset {asset!r}")
    target = match.groupdict()
    recorded = entry.get("target")
    allowed = set(target) | {key for key, _ in action.extras}
    if not isinstance(recorded, dict) or set(recorded) != allowed:
        raise _refuse(where, entry, f"target must have exactly {', '.join(sorted(allowed))}")
    for key, value in target.items():
        if recorded[key] != value:
            raise _refuse(where, entry, f"target.{key} is {recorded[key]!r}, the asset name "
                                        f"gives {value!r}")
    import re

    for key, form in action.extras:
        value = recorded[key]
        if not isinstance(value, str) or re.fullmatch(form, value) is None:
            raise _refuse(where, entry, f"target.{key} {value!r} is not of the form {form}")
    return {key: str(value) for key, value in recorded.items()}


def expected_entry(action: Action, target: dict[str, str], after: Any,
                   token: str) -> dict[str, Any]:
    """Every field of a `change` entry the registry determines, as `fix plan` writes it."""
    kind = action.kind
    out: dict[str, Any] = {
        "action": action.id, "summary": action.summary, "target": target,
        "read": {"method": kind.read_call, "params": kind.read_params(target),
                 "body": kind.read_body},
        "permissions": list(action.permissions),
        "precondition": {"field": kind.precondition, "value": token,
                         "checked_by": "the API (the write carries it; a mismatch is refused)"
                         if kind.server_checked else
                         "phiguard only, on a re-read just before the write"}}
    if after is None:
        return {**out, "request": None}
    return {**out, "request": build_request(kind, target, after, token),
            "caution": action.caution,
            "terraform": {"type": kind.terraform_type, "snippet": action.terraform}}


def check_entry(entry: dict[str, Any], where: str,
                verifier: Verifier) -> tuple[Action, dict[str, str]]:
    """Offline: the entry's action is the one its rule names (`remediation.fix` in `verifier`'s
    pack), its target comes from its asset
    name, and its read, request, guard and texts are what the registry builds from its `after`
    and the token it recorded. Returns the action and the target."""
    action = action_by_id(entry["action"]) if isinstance(entry.get("action"), str) else None
    if action is None:
        raise _refuse(where, entry, "not a registered action")
    rule_id = entry.get("rule_id")
    if action not in actions_for(verifier.rule(rule_id) if isinstance(rule_id, str) else None):
        raise _refuse(where, entry, f"{action.id} does not fix {entry.get('rule_id')!r}")
    target = registry_target(action, entry, where)
    after = entry.get("after")
    precondition = entry.get("precondition")
    token = precondition.get("value") if isinstance(precondition, dict) else None
    if not isinstance(after, dict) or not after or not isinstance(token, str):
        raise _refuse(where, entry, "a change needs an `after` object and a precondition value")
    expected = expected_entry(action, target, after, token)
    for key, value in expected.items():
        if _canonical(entry.get(key)) != _canonical(value):
            raise _refuse(where, entry, f"`{key}` differs from what {action.id} builds")
    return action, target


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def signed_bytes(plan: dict[str, Any]) -> bytes:
    """What a plan signature covers: the whole plan but the signature, canonical JSON."""
    return _canonical({k: v for k, v in plan.items() if k != SIGNATURE}).encode()


def sign_plan(plan: dict[str, Any], key_path: Path) -> None:
    """Add an Ed25519 signature (the evidence bundles' key format) over the whole plan."""
    from phiguard.report.bundle import _public_b64, load_private_key

    key = load_private_key(key_path)
    plan[SIGNATURE] = {"algorithm": "Ed25519", "public_key": _public_b64(key.public_key()),
                       "value": base64.b64encode(key.sign(signed_bytes(plan))).decode()}


def check_signature(plan: dict[str, Any], path: str, public_key: Path | None) -> str:
    """How the plan is signed, in words; refuses (exit 2) a signature that does not verify, and,
    with `public_key`, a plan that is unsigned or signed by another key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from phiguard.report.bundle import _public_b64, load_public_key

    wanted = load_public_key(public_key) if public_key is not None else None
    sig = plan.get(SIGNATURE)
    if sig is None:
        if wanted is not None:
            raise InputError(f"the plan is not signed, and --public-key {public_key} requires "
                             "a plan signed by that key (fix plan --sign-key)", file=path)
        return "unsigned: anyone who can write the plan file chose its actions and targets"
    if (not isinstance(sig, dict) or sig.get("algorithm") != "Ed25519"
            or not isinstance(sig.get("public_key"), str) or not isinstance(sig.get("value"), str)):
        raise InputError("the plan's signature block is not an Ed25519 signature with "
                         "public_key and value", file=path)
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"],
                                                                       validate=True))
        value = base64.b64decode(sig["value"], validate=True)
    except ValueError:
        raise InputError("the plan's signature or public key is not valid base64 Ed25519",
                         file=path) from None
    if wanted is not None and _public_b64(wanted) != sig["public_key"]:
        raise InputError(f"the plan is signed by another key ({sig['public_key']}), not by "
                         f"--public-key {public_key}", file=path)
    try:
        (wanted or embedded).verify(value, signed_bytes(plan))
    except InvalidSignature:
        raise InputError("the plan's signature does not match its content: it was changed "
                         "after it was signed", file=path) from None
    if wanted is not None:
        return f"signed by {sig['public_key']} (checked against --public-key {public_key})"
    return (f"signed by {sig['public_key']} (the key embedded in the plan; pass --public-key "
            "to check who signed it)")
