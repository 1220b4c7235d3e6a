"""`fix terraform`: the same fixes as Terraform attribute changes, for IaC-managed resources."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from phiguard.fix.actions import NO_FIX, actions_for

__all__ = ["terraform_snippets"]


def _label(asset: str) -> str:
    last = asset.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_-]", "_", last) or "this"


def terraform_snippets(findings: Iterable[dict[str, Any]]) -> str:
    """One commented block per (failing finding, action); rules without a fix say so."""
    out: list[str] = []
    for finding in findings:
        rule_id, asset = finding["rule_id"], finding["asset"]
        actions = actions_for(rule_id)
        if not actions:
            reason = NO_FIX.get(rule_id, "no automatic fix is registered")
            out.append(f"# {rule_id} {asset}\n# no Terraform change: {reason}\n")
            continue
        for action in actions:
            body = "\n".join("  " + line for line in action.terraform.splitlines())
            out.append(f"# {rule_id} {asset}\n# {action.summary}\n"
                       f'resource "{action.kind.terraform_type}" "{_label(asset)}" {{\n'
                       f"  # ... existing arguments ...\n{body}\n}}\n")
    return "\n".join(out)
