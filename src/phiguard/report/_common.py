"""Helpers every renderer shares: templates, control order, value display, locations."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from phiguard.findings import SEVERITIES
from phiguard.inventory.asset import USER_TYPE
from phiguard.policy.rule import Rule, RulePack

__all__ = [
    "OUTCOMES",
    "REASON_FIELDS",
    "REASON_TITLES",
    "Location",
    "Reason",
    "control_order",
    "control_status",
    "display_value",
    "fingerprint",
    "normalize_asset",
    "parse_source",
    "rule_area",
    "run_reasons",
    "template_env",
    "templates_dir",
]

OUTCOMES = ("PASS", "FAIL", "UNKNOWN", "WAIVED")
_LINE = re.compile(r"^(?P<file>.+):(?P<line>\d+)$")


def templates_dir() -> Path:
    """The packaged templates (in a wheel) or the checkout's reports/templates."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_data" / "templates"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "reports" / "templates"


def template_env() -> Environment:
    """A Jinja2 environment over the report templates; autoescape is on for every template."""
    return Environment(loader=FileSystemLoader(str(templates_dir())), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                       keep_trailing_newline=True)


def display_value(value: Any, limit: int = 300) -> str:
    """A compact one-line text of an evidence value; None reads as 'absent'."""
    if value is None:
        return "absent"
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def control_order(pack: RulePack, seen: set[str] | dict[str, Any]) -> list[str]:
    """Catalog order, then any control only the findings name, sorted."""
    ordered = list(pack.controls)
    extra = sorted(set(seen) - set(ordered))
    return ordered + extra


def control_status(counts: dict[str, int], unassessed: bool = False) -> str:
    """FAIL if anything fails, else UNKNOWN if anything could not be judged, else PASS; NO DATA.
    `unassessed`: a rule of it judged nothing of an asset type of its own that the snapshot
    does not know to be collected (`run.subject_types_missing`, see `unassessed_rules`): not a
    clean PASS nor NO DATA, such assets may exist, so UNKNOWN unless something fails."""
    if counts.get("FAIL", 0):
        return "FAIL"
    if unassessed:
        return "UNKNOWN"
    if not any(counts.get(o, 0) for o in OUTCOMES):
        return "NO DATA"
    if counts.get("UNKNOWN", 0):
        return "UNKNOWN"
    return "PASS"


def rule_area(rule_id: str) -> str:
    """The area a rule belongs to: its id's prefix (TLS-002 → TLS)."""
    return rule_id.split("-", 1)[0]


def severity_sort_key(rule: Rule | None, rule_id: str) -> tuple[int, str]:
    sev = rule.severity if rule else "info"
    return (SEVERITIES.index(sev) if sev in SEVERITIES else len(SEVERITIES), rule_id)


def normalize_asset(asset: str) -> str:
    """The asset name as a stable key: trimmed, host lower-cased, no doubled or trailing slashes."""
    text = asset.strip()
    if text.startswith("//"):
        host, _, path = text[2:].partition("/")
        return "//" + host.lower() + "/" + re.sub(r"/{2,}", "/", path).strip("/")
    return re.sub(r"/{2,}", "/", text).strip("/")


def fingerprint(rule_id: str, asset: str) -> str:
    """sha256 of rule id and normalized asset name: the same finding keeps it across runs."""
    return hashlib.sha256(f"{rule_id}\0{normalize_asset(asset)}".encode()).hexdigest()


@dataclass(frozen=True)
class Location:
    """Where a finding came from: a file, maybe a line, maybe a plan resource address."""

    file: str | None
    line: int | None
    address: str | None


def parse_source(source: str | None) -> Location:
    """Split Finding.source: 'FILE:LINE' (snapshot input) or 'FILE#ADDRESS' (plan input)."""
    if not source:
        return Location(None, None, None)
    if "#" in source:
        file, _, address = source.partition("#")
        return Location(file or None, None, address or None)
    match = _LINE.match(source)
    if match:
        return Location(match["file"], int(match["line"]), None)
    return Location(source, None, None)


# The run block's fields saying why results are UNKNOWN (or see fewer resources) for the whole
# run, in the order reports show them, and the heading each gets.
REASON_FIELDS = ("scope_warnings", "content_missing", "asset_types_missing",
                 "subject_types_missing", "pre_v1_asset_types", "coverage_gaps")
REASON_TITLES = {"scope_warnings": "PHI scope", "content_missing": "content missing",
                 "asset_types_missing": "asset type not known to be collected",
                 "subject_types_missing": "rules not assessed",
                 "pre_v1_asset_types": "pre-v1 asset type names",
                 "coverage_gaps": "coverage gap"}


@dataclass(frozen=True)
class Reason:
    """One run-level reason, as a sentence for a reader; `field` names the run block's field
    it comes from (`REASON_FIELDS`)."""

    field: str
    text: str

    @property
    def title(self) -> str:
        return REASON_TITLES[self.field]


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _gap_text(gap: Any) -> str:
    if not isinstance(gap, Mapping):
        return f"a source could not be read: {gap}"
    where = " ".join(str(gap[k]) for k in ("source", "what") if gap.get(k)) or "a source"
    detail = ", ".join(str(x) for x in (gap.get("error"), gap.get("status") and
                                         f"HTTP {gap.get('status')}") if x)
    text = f"{where} could not be read: {gap.get('reason') or 'no reason recorded'}"
    text += f" ({detail})" if detail else ""
    consequence = gap.get("consequence")
    return f"{text}. {consequence}" if consequence else f"{text}."


def _type_text(item: Any) -> str:
    if not isinstance(item, Mapping):
        return f"{item}: not known to be collected"
    rules = ", ".join(str(r) for r in _items(item.get("rules")))
    return (f"{item.get('asset_type')}: the snapshot holds none and does not say they were "
            f"collected; rules that look for them are UNKNOWN where a verdict rests on them"
            + (f" ({rules})" if rules else ""))


def _subject_text(item: Any) -> str:
    if not isinstance(item, Mapping):
        return f"{item}: not known to be collected; rules that judge it assessed none"
    rules = ", ".join(str(r) for r in _items(item.get("rules")))
    if item.get("asset_type") == USER_TYPE:
        held = ("the snapshot holds no directory users (directory-users.json, from the Admin "
                "SDK Directory API users.list)")
    else:
        held = (f"the snapshot holds no {item.get('asset_type')} assets and nothing in it "
                "shows they were exported")
    return (f"{held}, so {rules or 'the rules that judge them'} assessed none: not "
            "\"none exist\", some may; controls with these rules are UNKNOWN unless one of "
            "their results fails (export every asset type, or use phiguard collect)")


def _pre_v1_text(item: Any) -> str:
    if not isinstance(item, Mapping):
        return f"{item}: a pre-v1 Cloud Asset type name that no rule judges"
    n = item.get("assets")
    count = f" ({n} asset{'' if n == 1 else 's'})" if isinstance(n, int) else ""
    return (f"{item.get('asset_type')}{count}: a pre-v1 Cloud Asset type name (2018 exports), "
            "judged by no rule: Cloud Asset v1 names types service.googleapis.com/Kind and "
            "their data differs (export again with gcloud asset export)")


def run_reasons(run: Mapping[str, Any]) -> list[Reason]:
    """Why results of this run are UNKNOWN for want of data, whatever the rule: one sentence
    per scope warning, missing content type, asset type rules look for or judge that is not
    known to be collected, pre-v1 type name and coverage gap of the run block (findings JSON
    `run`), in that order; empty for a complete
    snapshot. A run block of odd shapes (edited by hand) is shown as it is, never an error."""
    out: list[Reason] = []
    for text in _items(run.get("scope_warnings")):
        out.append(Reason("scope_warnings", str(text)))
    for text in _items(run.get("content_missing")):
        out.append(Reason("content_missing", str(text)))
    for item in _items(run.get("asset_types_missing")):
        out.append(Reason("asset_types_missing", _type_text(item)))
    for item in _items(run.get("subject_types_missing")):
        out.append(Reason("subject_types_missing", _subject_text(item)))
    for item in _items(run.get("pre_v1_asset_types")):
        out.append(Reason("pre_v1_asset_types", _pre_v1_text(item)))
    for gap in _items(run.get("coverage_gaps")):
        out.append(Reason("coverage_gaps", _gap_text(gap)))
    return out
