"""SARIF 2.1.0 for code scanning: one rule per phiguard rule, one result per non-passing finding.

Shaped the way GitHub code scanning reads it: rules carry help text, HIPAA tags and a
`security-severity`; each result has a level from its severity, a `partialFingerprints` entry
that depends only on rule id and normalized asset name (so a finding is tracked across runs),
the asset as a logical location and, when the finding has a source, a physical location (the
snapshot file and line, or the plan file with the resource address as a second logical
location). PASS results are left out unless `include_passing`: code scanning shows only
problems, and GitHub caps a run at 25,000 results. WAIVED results carry an accepted external
suppression with the waiver's reason; UNKNOWN results are `kind: review`, their message saying
what was missing. The run-level reasons for UNKNOWN results (a PHI scope not decided, content or
asset types missing from the snapshot, coverage gaps) are warning notifications of the run's
invocation, absent when there are none.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import PurePosixPath
from typing import IO, Any
from urllib.parse import quote

import orjson

from phiguard.findings import Finding, Outcome
from phiguard.policy.rule import Rule, RulePack
from phiguard.report._common import (
    REASON_FIELDS,
    REASON_TITLES,
    fingerprint,
    parse_source,
    run_reasons,
)
from phiguard.report._redact import redact_evidence
from phiguard.report.framework import framework_findings, framework_label, framework_pack
from phiguard.report.json_report import write_utf8

__all__ = ["SARIF_SCHEMA_URI", "render_sarif", "sarif_document"]

SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0",
                     "info": "1.0"}
FINGERPRINT_KEY = "phiguardFinding/v1"


@lru_cache(maxsize=4096)
def _uri(path: str) -> str:
    """The artifact URI of a source file, once per file (every result of a snapshot or a
    plan names the same one or few files: a PurePosixPath and quoting per result cost more
    than the rest of placing it)."""
    if path.startswith("/"):
        return "file://" + quote(path)
    return quote(str(PurePosixPath(path.replace("\\", "/"))))


def _rule_descriptor(rule: Rule, pack: RulePack) -> dict[str, Any]:
    controls = [(c, pack.controls[c].title if c in pack.controls else "") for c in rule.controls]
    remediation = str(rule.remediation.get("summary", "")).strip()
    terraform = str(rule.remediation.get("terraform", "")).rstrip()
    text = f"{rule.description.strip()}\n\nRemediation: {remediation}"
    label = framework_label(pack)
    cite = "45 CFR " if label == "HIPAA" else ""
    md = (f"{rule.description.strip()}\n\n**{label}:** "
          + "; ".join(f"{cite}{c.split('/', 1)[-1]} {t}" for c, t in controls)
          + f"\n\n**Remediation:** {remediation}")
    if terraform:
        text += f"\n\nTerraform:\n{terraform}"
        md += f"\n\n```hcl\n{terraform}\n```"
    descriptor: dict[str, Any] = {
        "id": rule.id,
        "name": rule.id.replace("-", ""),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description.strip()},
        "help": {"text": text, "markdown": md},
        "defaultConfiguration": {"level": LEVELS.get(rule.severity, "warning")},
        "properties": {
            "tags": ["security", "compliance", label.lower(),
                     *(f"{label}-{c.split('/', 1)[-1]}" for c in rule.controls)],
            "security-severity": SECURITY_SEVERITY.get(rule.severity, "5.0"),
            "precision": "high",
            "severity": rule.severity,
            "controls": [{"id": c, "title": t} for c, t in controls],
        },
    }
    if rule.references and rule.references[0].startswith("https://"):
        descriptor["helpUri"] = rule.references[0]
    return descriptor


def _result(finding: Finding, index: int | None) -> dict[str, Any]:
    loc = parse_source(finding.source)
    logical = [{"fullyQualifiedName": finding.asset, "name": finding.asset.rsplit("/", 1)[-1],
                "kind": "resource"}]
    location: dict[str, Any] = {}
    if loc.file:
        physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(loc.file)}}
        if loc.line is not None:
            physical["region"] = {"startLine": loc.line}
        location["physicalLocation"] = physical
    if loc.address:
        logical.append({"fullyQualifiedName": loc.address, "name": loc.address,
                        "kind": "resource"})
    location["logicalLocations"] = logical
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "message": {"text": f"{finding.message} ({finding.asset})"},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding.rule_id, finding.asset)},
        "properties": {
            "outcome": finding.outcome.value,
            "severity": finding.severity,
            "assetType": finding.asset_type,
            "controls": list(finding.controls),
            "evidence": [{"path": p, "value": v} for p, v in redact_evidence(finding.evidence)],
        },
    }
    if index is not None:
        result["ruleIndex"] = index
    if finding.outcome is Outcome.FAIL:
        result["kind"] = "fail"
        result["level"] = LEVELS.get(finding.severity, "warning")
    elif finding.outcome is Outcome.WAIVED:
        result["kind"] = "fail"
        result["level"] = LEVELS.get(finding.severity, "warning")
        waiver = finding.waiver or {}
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"{waiver.get('reason', '')} (approved by "
                             f"{waiver.get('approved_by', '?')}, expires "
                             f"{waiver.get('expires', '?')})"}]
    elif finding.outcome is Outcome.UNKNOWN:
        result["kind"] = "review"  # SARIF: a non-fail kind has level "none"
        result["level"] = "none"
    else:
        result["kind"] = "pass"
        result["level"] = "none"
    return result


def sarif_document(findings: Iterable[Finding], run: Mapping[str, Any], pack: RulePack,
                   waivers: Sequence[Mapping[str, Any]] = (), *,
                   include_passing: bool = False) -> dict[str, Any]:
    """The SARIF log as a dict: every pack rule evaluated in this run, every non-passing result
    (the rules and results of the pack's framework, HIPAA unless a framework view is given)."""
    pack = framework_pack(pack)
    findings = framework_findings(findings, pack)
    evaluated = run.get("rules_evaluated")
    rules = [r for r in pack.rules if evaluated is None or r.id in evaluated]
    index = {r.id: i for i, r in enumerate(rules)}
    results = [_result(f, index.get(f.rule_id)) for f in findings
               if include_passing or f.outcome is not Outcome.PASS]
    driver: dict[str, Any] = {
        "name": "phiguard",
        "version": str(run.get("tool_version", "")),
        "semanticVersion": str(run.get("tool_version", "")),
        "rules": [_rule_descriptor(r, pack) for r in rules],
    }
    org = (run.get("config") or {}).get("organization") or "unknown"
    sarif_run: dict[str, Any] = {
        "tool": {"driver": driver},
        # One category per framework: code scanning keeps each framework's alerts apart.
        "automationDetails": {"id": f"phiguard/{framework_label(pack).lower()}/{org}/"},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {
            "rulePackDigest": run.get("rule_pack_digest"),
            "snapshotTime": run.get("snapshot_time"),
            "evaluatedAt": run.get("evaluated_at"),
            "waivers": [dict(w) for w in waivers],
        },
    }
    reasons = run_reasons(run)
    if reasons:
        # Why results are UNKNOWN for the whole run: SARIF's place for what a tool must tell
        # about its run is a notification of the invocation (code scanning shows them on
        # the tool's status page); the run block's fields go along as they are, for tools.
        fields = list(dict.fromkeys(r.field for r in reasons))
        driver["notifications"] = [{"id": f, "shortDescription": {"text": REASON_TITLES[f]}}
                                   for f in fields]
        sarif_run["invocations"] = [{
            "executionSuccessful": True,
            "toolExecutionNotifications": [
                {"level": "warning", "message": {"text": f"{r.title}: {r.text}"},
                 "descriptor": {"id": r.field, "index": fields.index(r.field)}}
                for r in reasons],
        }]
        sarif_run["properties"].update({f: run[f] for f in REASON_FIELDS if run.get(f)})
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [sarif_run],
    }


def render_sarif(out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
                 pack: RulePack, waivers: Sequence[Mapping[str, Any]] = (), *,
                 include_passing: bool = False) -> None:
    """Write the SARIF 2.1.0 log (indented JSON, stable key order)."""
    # The collector paused while the log is built: it holds only plain dicts and lists, freed
    # by their counts, yet every result adds a dozen, so a scan's heap (its inventory, when
    # findings stream from it) was walked again and again by full collections.
    collecting = gc.isenabled()
    gc.disable()
    try:
        doc = sarif_document(findings, run, pack, waivers, include_passing=include_passing)
    finally:
        if collecting:
            gc.enable()
    # as UTF-8 past the text layer: not decoded here to be encoded again on its way out
    write_utf8(out, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    out.write("\n")
