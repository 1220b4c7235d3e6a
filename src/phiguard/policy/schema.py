"""The JSON Schema of rule.yaml, built from the language tables (`language`) and the operator
registry: the loader checks the same tables, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from phiguard.policy.language import (
    COMBINATORS,
    DEFINITION_KEYS,
    IDENTIFIER,
    LET_FORMS,
    PARAM_DEFAULT_SCHEMA,
    PARAM_KEYS,
    QUANTIFIERS,
    REMEDIATION_KEYS,
    RULE_KEYS,
    TF_FIX_KEYS,
    UNKNOWN_IN_PLAN_KEYS,
    USE,
    Key,
)
from phiguard.policy.operators import OPERATORS

__all__ = ["definitions_schema", "rule_schema"]


def _object(keys: tuple[Key, ...], **more: Any) -> dict[str, Any]:
    """A closed mapping of the table's keys, its required ones required."""
    return {"type": "object", "required": [k.name for k in keys if k.required],
            "properties": {k.name: dict(k.schema) for k in keys},
            "additionalProperties": False, **more}


def _arg(schema: dict[str, Any]) -> dict[str, Any]:
    ref = {"type": "object", "additionalProperties": False, "minProperties": 1,
           "maxProperties": 1, "properties": {"param": {"type": "string"},
                                               "path": {"type": "string"}}}
    return {"anyOf": [schema or {}, ref]}


def _condition() -> dict[str, Any]:
    common = {"path": {"type": "string"}, "because": {"type": "string"}, "default": {}}
    leaves = []
    for name, op in OPERATORS.items():
        leaves.append({"type": "object", "required": ["path", name],
                       "properties": {**common, name: _arg(op.arg)},
                       "additionalProperties": False})
    quantifiers = [{"type": "object", "required": ["path", q],
                    "properties": {**common, "as": {"type": "string", "pattern": IDENTIFIER},
                                   q: {"$ref": "#/$defs/condition"}},
                    "additionalProperties": False} for q in QUANTIFIERS]
    lists, negation = COMBINATORS[:2], COMBINATORS[2]
    combinators = [
        {"type": "object", "required": [k], "additionalProperties": False,
         "properties": {k: {"type": "array", "minItems": 1,
                            "items": {"$ref": "#/$defs/condition"}},
                        "because": {"type": "string"}}} for k in lists]
    combinators.append({"type": "object", "required": [negation], "additionalProperties": False,
                        "properties": {negation: {"$ref": "#/$defs/condition"},
                                       "because": {"type": "string"}}})
    # A named condition of the pack's definitions file, with an optional sentence of its own.
    use = {"type": "object", "required": [USE], "additionalProperties": False,
           "properties": {USE: {"type": "string", "pattern": IDENTIFIER},
                          "because": {"type": "string"}}}
    return {"oneOf": [*combinators, *quantifiers, *leaves, use]}


def _let() -> dict[str, Any]:
    forms = []
    for name, form in LET_FORMS.items():
        props: dict[str, Any] = {name: dict(form.schema)}
        required = [name]
        if form.with_types:
            props["types"] = {"type": "array", "items": {"type": "string"}, "minItems": 1}
            required.append("types")
        forms.append({"type": "object", "required": required, "properties": props,
                      "additionalProperties": False})
    return {"oneOf": forms}


def _param() -> dict[str, Any]:
    # The default has the declared type: one branch per type.
    return {**_object(PARAM_KEYS), "oneOf": [
        {"properties": {"type": {"const": name}, "default": schema}}
        for name, schema in PARAM_DEFAULT_SCHEMA.items()]}


def _terraform_fix() -> dict[str, Any]:
    # An entry sets `attribute` to `value` (both or neither); without one it needs a `note`.
    return _object(TF_FIX_KEYS, dependentRequired={"attribute": ["value"],
                                                   "value": ["attribute"]},
                   anyOf=[{"required": ["attribute"]}, {"required": ["note"]}])


def _defs() -> dict[str, Any]:
    return {
        "condition": _condition(),
        "let": _let(),
        "param": _param(),
        # `{use: NAME}` for a let entry or a parameter: the definition stands for it.
        "use": {"type": "object", "required": [USE], "additionalProperties": False,
                "properties": {USE: {"type": "string", "pattern": IDENTIFIER}}},
        # A `fix` action and a reason there is none (`manual`) exclude each other.
        "remediation": _object(REMEDIATION_KEYS, **{"not": {"required": ["fix", "manual"]}}),
        "terraform_fix": _terraform_fix(),
        "unknown_in_plan": _object(UNKNOWN_IN_PLAN_KEYS),
    }


def definitions_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) of a pack's `_definitions.yaml`: named conditions, let entries
    and parameters that rules name with `use:`."""
    def section(entry: dict[str, Any]) -> dict[str, Any]:
        return {"type": ["object", "null"], "propertyNames": {"pattern": IDENTIFIER},
                "additionalProperties": entry}

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "phiguard rule pack definitions",
        "type": ["object", "null"], "additionalProperties": False,
        "properties": {
            **{name: section(_object(keys)) for name, keys in DEFINITION_KEYS.items()},
            "params": section({"$ref": "#/$defs/param"}),
        },
        "$defs": _defs(),
    }


def rule_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) that every valid rule.yaml satisfies."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "phiguard rule",
        **_object(RULE_KEYS),
        "$defs": _defs(),
    }
