"""The JSON Schema of rule.yaml, generated from the operator registry and the let forms."""

from __future__ import annotations

from typing import Any

from phiguard.findings import SEVERITIES
from phiguard.policy.forms import LET_FORMS
from phiguard.policy.operators import OPERATORS

__all__ = ["rule_schema"]


def _arg(schema: dict[str, Any]) -> dict[str, Any]:
    ref = {"type": "object", "additionalProperties": False, "minProperties": 1,
           "maxProperties": 1, "properties": {"param": {"type": "string"},
                                               "path": {"type": "string"}}}
    return {"anyOf": [schema or {}, ref]}


def rule_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) that every valid rule.yaml satisfies."""
    common = {"path": {"type": "string"}, "because": {"type": "string"}, "default": {}}
    leaves = []
    for name, op in OPERATORS.items():
        leaves.append({"type": "object", "required": ["path", name],
                       "properties": {**common, name: _arg(op.arg)},
                       "additionalProperties": False})
    quantifiers = [{"type": "object", "required": ["path", q],
                    "properties": {**common, "as": {"type": "string"},
                                   q: {"$ref": "#/$defs/condition"}},
                    "additionalProperties": False} for q in ("some", "every", "none")]
    combinators = [
        {"type": "object", "required": [k], "additionalProperties": False,
         "properties": {k: {"type": "array", "minItems": 1,
                            "items": {"$ref": "#/$defs/condition"}},
                        "because": {"type": "string"}}} for k in ("all", "any")]
    combinators.append({"type": "object", "required": ["not"], "additionalProperties": False,
                        "properties": {"not": {"$ref": "#/$defs/condition"},
                                       "because": {"type": "string"}}})
    lets = []
    for name, (schema, _) in LET_FORMS.items():
        props: dict[str, Any] = {name: schema}
        required = [name]
        if name in ("ref", "refs"):
            props["types"] = {"type": "array", "items": {"type": "string"}, "minItems": 1}
            required.append("types")
        lets.append({"type": "object", "required": required, "properties": props,
                     "additionalProperties": False})
    tf_types = {"type": "array", "minItems": 1, "uniqueItems": True,
                "items": {"type": "string", "pattern": "^google_[a-z0-9_]+$"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "phiguard rule",
        "type": "object",
        "required": ["id", "title", "severity", "controls", "description", "asset_types",
                     "assert", "remediation"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": r"^[A-Z][A-Z0-9]*-\d{3}$"},
            "title": {"type": "string", "minLength": 1},
            "severity": {"enum": list(SEVERITIES)},
            "controls": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "description": {"type": "string"},
            "asset_types": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "scope": {"enum": ["phi", "all"]},
            "optional": {"type": "boolean"},
            "params": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["type", "default"],
                "properties": {"type": {"enum": ["string", "integer", "number", "boolean",
                                                 "list", "object"]},
                               "default": {}, "description": {"type": "string"}},
                "additionalProperties": False}},
            "when": {"$ref": "#/$defs/condition"},
            "let": {"type": "object", "additionalProperties": {"oneOf": lets}},
            "assert": {"$ref": "#/$defs/condition"},
            "evidence": {"type": "array", "items": {"type": "string"}},
            "remediation": {"type": "object", "required": ["summary"],
                            "properties": {
                                **{k: {"type": "string"} for k in
                                   ("summary", "terraform", "fix", "manual", "console",
                                    "gcloud")},
                                "terraform_fixes": {"type": "array", "minItems": 1, "items": {
                                    "type": "object", "required": ["resource_types"],
                                    "properties": {"resource_types": tf_types,
                                                   "attribute": {"type": "string",
                                                                 "minLength": 1},
                                                   "value": {},
                                                   "note": {"type": "string", "minLength": 1}},
                                    "dependentRequired": {"attribute": ["value"],
                                                          "value": ["attribute"]},
                                    "anyOf": [{"required": ["attribute"]},
                                              {"required": ["note"]}],
                                    "additionalProperties": False}}},
                            "additionalProperties": False},
            "unknown_in_plan": {"type": "object", "required": ["resource_types", "reason"],
                                "properties": {"resource_types": tf_types,
                                               "reason": {"type": "string", "minLength": 1}},
                                "additionalProperties": False},
            "references": {"type": "array", "items": {"type": "string"}},
            "content_types": {"type": "array", "items": {"enum": ["RESOURCE", "IAM_POLICY",
                                                                  "ORG_POLICY", "ACCESS_POLICY"]}},
        },
        "$defs": {"condition": {"oneOf": [*combinators, *quantifiers, *leaves]}},
    }
