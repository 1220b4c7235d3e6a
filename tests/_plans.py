"""Helpers for the terraform tests: build small plan documents in memory."""

from __future__ import annotations

from typing import Any

import orjson

from phiguard.terraform.plan import Plan, parse_plan


def change(rtype: str, name: str, after: dict[str, Any] | None, *, unknown: Any = None,
           actions: tuple[str, ...] = ("create",), before: dict[str, Any] | None = None,
           module: str = "", index: Any = None) -> dict[str, Any]:
    key = "" if index is None else (f"[{index}]" if isinstance(index, int) else f'["{index}"]')
    address = f"{module + '.' if module else ''}{rtype}.{name}{key}"
    item: dict[str, Any] = {"address": address, "mode": "managed", "type": rtype, "name": name,
                            "change": {"actions": list(actions), "before": before, "after": after,
                                       "after_unknown": unknown or {}}}
    if module:
        item["module_address"] = module
    if index is not None:
        item["index"] = index
    return item


def plan_doc(changes: list[dict[str, Any]],
             config: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """A plan; `config` maps a config address to its expressions."""
    resources = [{"address": addr, "mode": "managed", "type": addr.split(".")[-2],
                  "name": addr.split(".")[-1], "expressions": expr}
                 for addr, expr in (config or {}).items() if not addr.startswith("module.")]
    doc: dict[str, Any] = {"format_version": "1.2", "terraform_version": "1.9.5",
                           "resource_changes": changes,
                           "configuration": {"root_module": {"resources": resources}}}
    return doc


def make_plan(changes: list[dict[str, Any]],
              config: dict[str, dict[str, Any]] | None = None) -> Plan:
    return parse_plan(orjson.dumps(plan_doc(changes, config)), "plan.json")
