"""`fix terraform`: the same fixes as Terraform attribute changes, for IaC-managed resources."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from phiguard.fix.actions import actions_for, manual_reason
from phiguard.fix.verify import Verifier

__all__ = ["terraform_snippets"]


def _label(asset: str) -> str:
    last = asset.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_-]", "_", last) or "this"


def terraform_snippets(findings: Iterable[dict[str, Any]],
                       verifier: Verifier | None = None) -> str:
    """One commented block per (failing finding, action); rules without a fix say so. Each
    rule names its action (`remediation.fix`) in `verifier`'s pack (default: the bundled one)."""
    verifier = verifier or Verifier.of_recorded(None)
    out: list[str] = []
    for finding in findings:
        rule_id, asset = finding["rule_id"], finding["asset"]
        rule = verifier.rule(rule_id)
        actions = actions_for(rule)
        if not actions:
            reason = manual_reason(rule_id, rule) or "no automatic fix is registered"
            out.append(f"# {rule_id} {asset}\n# no Terraform change: {reason}\n")
            continue
        for action in actions:
            body = "\n".join("  " + line for line in action.terraform.splitlines())
            out.append(f"# {rule_id} {asset}\n# {action.summary}\n"
                       f'resource "{action.kind.terraform_type}" "{_label(asset)}" {{\n'
                       f"  # ... existing arguments ...\n{body}\n}}\n")
    return "\n".join(out)
