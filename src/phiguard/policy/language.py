"""The rule language, defined once: every key of a rule file, what its value must be, and the
sentence a loader error says when it is not.

Both consumers read these tables and nothing else about the shape of a rule:

- `rule.py`, the loader, checks a rule file key by key with positions in every error (the
  `expect` sentences below are its messages), then does what a JSON Schema cannot say (path
  names in scope, parameters used as regular expressions, operator arguments by reference);
- `schema.py` builds the JSON Schema of rule.yaml (`phiguard rules schema`) from the same
  `Key` tables, the let forms and the operator registry.

Adding a key, a let form or an operator changes one table; both views follow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from phiguard.findings import SEVERITIES

__all__ = ["ASSET_TYPE", "CATALOG_NAME", "COMBINATORS", "CONTENT_TYPES", "CONTROL_ID",
           "CONTROL_KEYS", "DEFINITIONS_FILE", "DEFINITION_KEYS", "DEFINITION_SECTIONS",
           "EXAMPLES_DIR", "FORMAT_FIELD", "LET_FORMS", "LET_NAME", "PARAM_KEYS", "PARAM_TYPES",
           "QUANTIFIERS", "REMEDIATION_KEYS", "ROOTS", "RULE_ID", "RULE_KEYS", "SCOPES",
           "TF_FIX_KEYS", "TF_TYPE", "UNKNOWN_IN_PLAN_KEYS", "USE", "WITHIN_FIND",
           "WITHIN_GRANTS",
           "Key", "LetForm", "joined_types", "let_kind", "referrers_path"]

# Names and patterns ----------------------------------------------------------------------------

ROOTS = frozenset({"data", "iam_policy", "org_policy", "asset", "params"})
COMBINATORS = ("all", "any", "not")
QUANTIFIERS = ("some", "every", "none")
SCOPES = ("phi", "all")
FORMAT_FIELD = re.compile(r"\{([^{}]+)\}")
RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*-\d{3}$")
# The bundled HIPAA catalog's control ids; a catalog may declare its own `id_pattern`.
CONTROL_ID = re.compile(r"^[a-z0-9-]+/\d{3}\.\d{3}(\([A-Za-z0-9]+\))*$")
# A catalog name: lower case, digits, hyphens, and dots between them (hipaa, cis-gcp-5.0).
CATALOG_NAME = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9-]+)*$")
ASSET_TYPE = re.compile(r"^([a-z0-9-]+\.)+googleapis\.com/[A-Za-z0-9]+$")
TF_TYPE = re.compile(r"^google_[a-z0-9_]+$")
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
# A let name: an identifier that is neither a root nor `item` (which quantifiers bind).
LET_NAME = rf"^(?!({'|'.join(sorted(ROOTS | {'item'}))})$)[A-Za-z_][A-Za-z0-9_]*$"
CONTENT_TYPES = ("RESOURCE", "IAM_POLICY", "ORG_POLICY", "ACCESS_POLICY")
WITHIN_FIND = ("project", "ancestry", "phi", "nonphi", "all")
WITHIN_GRANTS = ("phi", "all")
PARAM_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "number": (int, float), "boolean": bool,
    "list": list, "object": dict,
}
# The JSON Schema of a parameter's default, by its declared type (`list` is a list of strings).
PARAM_DEFAULT_SCHEMA: dict[str, dict[str, Any]] = {
    "string": {"type": "string"}, "integer": {"type": "integer"}, "number": {"type": "number"},
    "boolean": {"type": "boolean"}, "list": {"type": "array", "items": {"type": "string"}},
    "object": {"type": "object"},
}

_TEXT: dict[str, Any] = {"type": "string"}
# Optional lists and mappings may be left empty in YAML (`evidence:` with nothing is null).
_STRINGS: dict[str, Any] = {"type": ["array", "null"], "items": {"type": "string"}}
_TF_TYPES: dict[str, Any] = {"type": "array", "minItems": 1, "uniqueItems": True,
                             "items": {"type": "string", "pattern": TF_TYPE.pattern}}


@dataclass(frozen=True)
class Key:
    """One key of a mapping in a rule file.

    `schema` is the JSON Schema of its value (what `phiguard rules schema` publishes); `expect`
    is what the loader says, at the value's position, when the value is not that."""

    name: str
    required: bool
    schema: Mapping[str, Any]
    expect: str = ""


# A rule file, top to bottom. Conditions (`when`, `assert`) are `$defs/condition`.
RULE_KEYS: tuple[Key, ...] = (
    Key("id", True, {"type": "string", "pattern": RULE_ID.pattern},
        "`id` must look like AREA-NNN (e.g. TLS-002)"),
    Key("title", True, {"type": "string", "pattern": r"^(?![Ee][Nn][Ss][Uu][Rr][Ee])\s*\S"},
        "`title` must be a sentence"),
    Key("severity", True, {"enum": list(SEVERITIES)},
        f"`severity` must be one of {', '.join(SEVERITIES)}"),
    Key("controls", True, {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "`controls` must be a list of strings"),
    Key("description", True, _TEXT, "`description` must be text"),
    Key("asset_types", True,
        {"type": "array", "minItems": 1,
         "items": {"anyOf": [{"const": "*"}, {"type": "string", "pattern": ASSET_TYPE.pattern}]}},
        "`asset_types` must be a list of strings"),
    Key("assert", True, {"$ref": "#/$defs/condition"}),
    Key("remediation", True, {"$ref": "#/$defs/remediation"}, "`remediation` must be a mapping"),
    Key("scope", False, {"enum": list(SCOPES)}, "`scope` must be phi or all"),
    Key("optional", False, {"type": "boolean"}, "`optional` must be true or false"),
    Key("params", False, {"type": ["object", "null"], "propertyNames": {"pattern": IDENTIFIER},
                          "additionalProperties": {"anyOf": [{"$ref": "#/$defs/param"},
                                                             {"$ref": "#/$defs/use"}]}},
        "`params` must be a mapping"),
    Key("when", False, {"$ref": "#/$defs/condition"}),
    Key("let", False, {"type": ["object", "null"], "propertyNames": {"pattern": LET_NAME},
                       "additionalProperties": {"anyOf": [{"$ref": "#/$defs/let"},
                                                          {"$ref": "#/$defs/use"}]}},
        "`let` must be a mapping"),
    Key("evidence", False, _STRINGS, "`evidence` must be a list of strings"),
    Key("references", False, _STRINGS, "`references` must be a list of strings"),
    Key("content_types", False,
        {"type": ["array", "null"], "items": {"enum": list(CONTENT_TYPES)}},
        "`content_types` must be a list of strings"),
    Key("unknown_in_plan", False, {"$ref": "#/$defs/unknown_in_plan"},
        "`unknown_in_plan` must be a mapping"),
)

# One entry of `params`.
PARAM_KEYS: tuple[Key, ...] = (
    Key("type", True, {"enum": list(PARAM_TYPES)}),
    Key("default", True, {}),
    Key("description", False, _TEXT),
)

# `remediation`: every key but `terraform_fixes` is text.
REMEDIATION_KEYS: tuple[Key, ...] = (
    Key("summary", True, _TEXT, "remediation `summary` must be text"),
    *(Key(name, False, _TEXT, f"remediation `{name}` must be text")
      for name in ("terraform", "fix", "manual", "console", "gcloud")),
    Key("terraform_fixes", False,
        {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/terraform_fix"}},
        "remediation `terraform_fixes` must be a non-empty list"),
)

# One entry of `remediation.terraform_fixes`.
TF_FIX_KEYS: tuple[Key, ...] = (
    Key("resource_types", True, _TF_TYPES),
    Key("attribute", False, {"type": "string", "minLength": 1},
        "`attribute` must be non-empty text"),
    Key("value", False, {}),
    Key("note", False, {"type": "string", "minLength": 1}, "`note` must be non-empty text"),
)

UNKNOWN_IN_PLAN_KEYS: tuple[Key, ...] = (
    Key("resource_types", True, _TF_TYPES),
    Key("reason", True, {"type": "string", "minLength": 1},
        "unknown_in_plan needs a `reason` (text)"),
)

# One entry of a control catalog's `controls` list.
CONTROL_KEYS: tuple[Key, ...] = (
    Key("id", True, _TEXT),
    Key("title", True, _TEXT),
    Key("section", False, _TEXT),
    Key("standard", False, _TEXT),
    Key("kind", False, _TEXT),
    Key("covered", False, {"type": "boolean"}),
    # A benchmark's profile level (CIS: 1 or 2) and whether it can be assessed automatically;
    # a manual recommendation is reported as "not automatable", never as not covered.
    Key("level", False, {"type": "integer", "minimum": 1}),
    Key("automated", False, {"type": "boolean"}),
    # Rules that evidence this control though they do not name it (a user's baseline links
    # the pack's rules to its own controls with one YAML file).
    Key("rules", False, {"type": "array", "items": {"type": "string", "pattern": RULE_ID.pattern}}),
)


# Named definitions (`<pack>/_definitions.yaml`) ------------------------------------------------

# The file beside a pack's rule folders that holds definitions its rules share, and the folder
# beside them that holds example records the examples include by name.
DEFINITIONS_FILE = "_definitions.yaml"
EXAMPLES_DIR = "_examples"
# `{use: NAME}` stands for a definition: a condition (with an optional `because` of its own),
# a let entry, or a parameter.
USE = "use"

# The names a definition reads beyond the roots: let names (or a quantifier's variable) that
# every rule using it must have in scope where it uses it.
_NEEDS: dict[str, Any] = {
    "type": "array", "uniqueItems": True,
    "items": {"type": "string",
              "pattern": rf"^(?!({'|'.join(sorted(ROOTS))})$)[A-Za-z_][A-Za-z0-9_]*$"}}

# One entry of each section of the definitions file: (section, keys of an entry).
DEFINITION_KEYS: dict[str, tuple[Key, ...]] = {
    "conditions": (
        Key("description", True, _TEXT, "a definition needs a `description` (text)"),
        Key("condition", True, {"$ref": "#/$defs/condition"}),
        Key("needs", False, _NEEDS, "`needs` must be a list of names (not roots)"),
    ),
    "lets": (
        Key("description", True, _TEXT, "a definition needs a `description` (text)"),
        Key("let", True, {"$ref": "#/$defs/let"}),
        Key("needs", False, _NEEDS, "`needs` must be a list of names (not roots)"),
    ),
    # A parameter definition is a parameter's declaration (PARAM_KEYS).
}
# The sections, in the order a definition may refer to another: a condition may use a
# condition; a let may use conditions in its `where`.
DEFINITION_SECTIONS = ("conditions", "lets", "params")


# let forms -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LetForm:
    """One `let` form: the JSON Schema of its argument, a one-line doc, and its shape.

    `arg` says how the loader checks the argument beyond its schema: "path" (a path in scope),
    "format" (text with {path} fields), "object" (a mapping of `schema`'s properties; a
    `where` inside is a condition), "true", or "constraint". `with_types` forms need a
    sibling `types` list; `types_in` says where a form names the asset types it joins to."""

    name: str
    schema: Mapping[str, Any]
    doc: str
    arg: str
    with_types: bool = False
    types_in: Callable[[Mapping[str, Any]], list[str]] = field(
        default=lambda form: [], repr=False, compare=False)
    # The Inventory index the form reads, built once before a scan (`Inventory.warm`):
    # ("referrers", (types, path)) or ("project", types); None for none.
    index: Callable[[Mapping[str, Any]], tuple[str, Any] | None] = field(
        default=lambda form: None, repr=False, compare=False)


_TYPES = {"type": "array", "items": {"type": "string"}, "minItems": 1}

LET_FORMS: dict[str, LetForm] = {form.name: form for form in (
    LetForm("ref", {"type": "string", "format": "path"},
            "the asset a reference at the path points to (needs `types`)", "path",
            with_types=True, types_in=lambda f: list(f["types"])),
    LetForm("refs", {"type": "string", "format": "path"},
            "the assets a list of references at the path points to (needs `types`)", "path",
            with_types=True, types_in=lambda f: list(f["types"])),
    LetForm("referrers", {"type": "object", "required": ["types", "path"],
                          "properties": {"types": _TYPES, "path": {"type": "string"}},
                          "additionalProperties": False},
            "assets of the types whose path references this asset", "object",
            types_in=lambda f: list(f["referrers"]["types"]),
            index=lambda f: ("referrers", (tuple(f["referrers"]["types"]),
                                           referrers_path(f["referrers"])))),
    LetForm("find", {"type": "object", "required": ["types"],
                     "properties": {"types": _TYPES, "within": {"enum": list(WITHIN_FIND)},
                                    "where": {"$ref": "#/$defs/condition"},
                                    "one": {"type": "boolean"},
                                    "uncollected": {"enum": ["none"]},
                                    "as": {"type": "string", "pattern": IDENTIFIER}},
                     "additionalProperties": False},
            "assets of the types, filtered by place and condition", "object",
            types_in=lambda f: list(f["find"]["types"]),
            index=lambda f: (("project", tuple(f["find"]["types"]))
                             if f["find"].get("within") == "project" else None)),
    LetForm("grants", {"type": "object",
                       "properties": {"within": {"enum": list(WITHIN_GRANTS)}},
                       "additionalProperties": False},
            "IAM bindings granting roles to this principal (user or service account; for a "
            "service account key, its service account)", "object",
            types_in=lambda f: ["iam.googleapis.com/ServiceAccount"]),
    LetForm("effective_iam", {"const": True}, "bindings on the asset and every ancestor", "true"),
    LetForm("effective_audit_configs", {"const": True},
            "audit configs on the asset and every ancestor", "true"),
    LetForm("org_policy", {"type": "string", "pattern": "^constraints/"},
            "the effective org policy for a constraint", "constraint"),
    LetForm("org_domains", {"const": True},
            "the organization's own domains: {organization: [the Organization record's "
            "displayName], directory: [domains of directory users' emails and aliases]}",
            "true"),
    LetForm("value", {"type": "string", "format": "path"}, "the value at a path", "path"),
    LetForm("format", {"type": "string", "pattern": FORMAT_FIELD.pattern},
            "a string built from paths: \"{data.project}:{data.name}\" (absent if any is)",
            "format"),
)}


def referrers_path(spec: Mapping[str, Any]) -> str:
    """The path a `referrers` form reads in the referring assets' REST body (a leading
    `data.` is accepted)."""
    path = str(spec["path"])
    return path[len("data."):] if path.startswith("data.") else path


def let_kind(form: Mapping[str, Any]) -> str:
    """The form a validated let entry uses."""
    (kind,) = set(form) & set(LET_FORMS)
    return kind


def joined_types(lets: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Asset types a rule's let forms join to (the Inventory must hold them in full)."""
    out: set[str] = set()
    for form in lets.values():
        out.update(LET_FORMS[let_kind(form)].types_in(form))
    return out
