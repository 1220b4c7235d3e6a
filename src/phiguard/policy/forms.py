"""The `let` forms a rule may use, with their argument schemas (compiled in `compiler`)."""

from __future__ import annotations

from typing import Any

__all__ = ["LET_FORMS", "WITHIN_FIND", "WITHIN_GRANTS"]

WITHIN_FIND = ("project", "ancestry", "phi", "nonphi", "all")
WITHIN_GRANTS = ("phi", "all")
_TYPES = {"type": "array", "items": {"type": "string"}, "minItems": 1}

# name -> (JSON Schema of the form's argument, one-line doc)
LET_FORMS: dict[str, tuple[dict[str, Any], str]] = {
    "ref": ({"type": "string", "format": "path"},
            "the asset a reference at the path points to (needs `types`)"),
    "refs": ({"type": "string", "format": "path"},
             "the assets a list of references at the path points to (needs `types`)"),
    "referrers": ({"type": "object", "required": ["types", "path"],
                   "properties": {"types": _TYPES, "path": {"type": "string"}},
                   "additionalProperties": False},
                  "assets of the types whose path references this asset"),
    "find": ({"type": "object", "required": ["types"],
              "properties": {"types": _TYPES, "within": {"enum": list(WITHIN_FIND)},
                             "where": {"$ref": "#/$defs/condition"}, "one": {"type": "boolean"},
                             "as": {"type": "string"}},
              "additionalProperties": False},
             "assets of the types, filtered by place and condition"),
    "grants": ({"type": "object", "properties": {"within": {"enum": list(WITHIN_GRANTS)}},
                "additionalProperties": False},
               "IAM bindings granting roles to this principal (user or service account)"),
    "effective_iam": ({"const": True}, "bindings on the asset and every ancestor"),
    "effective_audit_configs": ({"const": True}, "audit configs on the asset and every ancestor"),
    "org_policy": ({"type": "string", "pattern": "^constraints/"},
                   "the effective org policy for a constraint"),
    "value": ({"type": "string", "format": "path"}, "the value at a path"),
    "format": ({"type": "string"},
               "a string built from paths: \"{data.project}:{data.name}\" (absent if any is)"),
}
