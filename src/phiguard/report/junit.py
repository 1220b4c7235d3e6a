"""JUnit XML for CI test views: one testsuite per rule, one testcase per asset.

FAIL is a <failure> carrying the message and the evidence; UNKNOWN is an <error> (the check
could not run on the data given, and must not look like a pass); WAIVED is <skipped> with the
waiver's reason; PASS is a plain testcase. The run-level reasons for UNKNOWN results (scope
warnings, content or asset types missing, coverage gaps) are a last suite, `phiguard.run`, of
no tests: one property per reason, and the sentences as its system-err.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from phiguard.findings import Finding, Outcome
from phiguard.policy.rule import RulePack
from phiguard.report._common import display_value, run_reasons
from phiguard.report._redact import redact_evidence
from phiguard.report.framework import framework_findings, framework_pack, framework_title

__all__ = ["render_junit"]

# Characters XML 1.0 cannot carry at all, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _details(finding: Finding) -> str:
    lines = [finding.message, f"asset: {finding.asset}", f"asset type: {finding.asset_type}",
             f"severity: {finding.severity}", f"controls: {', '.join(finding.controls)}"]
    if finding.source:
        lines.append(f"source: {finding.source}")
    lines += [f"{p} = {display_value(v)}" for p, v in redact_evidence(finding.evidence)]
    return _clean("\n".join(lines))


def render_junit(out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
                 pack: RulePack, waivers: Sequence[Mapping[str, Any]] = ()) -> None:
    """Write the JUnit XML document, suites in rule-id order, cases in finding order."""
    pack = framework_pack(pack)
    rules = pack.by_id()
    by_rule: dict[str, list[Finding]] = {}
    for finding in framework_findings(findings, pack):
        by_rule.setdefault(finding.rule_id, []).append(finding)
    root = ET.Element("testsuites", name=f"phiguard {framework_title(pack)} scan")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    timestamp = str(run.get("evaluated_at", "")).replace("Z", "")
    for rule_id in sorted(by_rule):
        items = by_rule[rule_id]
        rule = rules.get(rule_id)
        counts = {
            "tests": len(items),
            "failures": sum(f.outcome is Outcome.FAIL for f in items),
            "errors": sum(f.outcome is Outcome.UNKNOWN for f in items),
            "skipped": sum(f.outcome is Outcome.WAIVED for f in items),
        }
        for key, n in counts.items():
            totals[key] += n
        attrs = {"name": _clean(rule_id), **{k: str(v) for k, v in counts.items()},
                 "time": "0", "timestamp": timestamp}
        suite = ET.SubElement(root, "testsuite", attrs)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="title", value=_clean(rule.title if rule else ""))
        ET.SubElement(props, "property", name="severity", value=rule.severity if rule else "")
        ET.SubElement(props, "property", name="controls",
                      value=", ".join(rule.controls) if rule else "")
        for finding in items:
            case = ET.SubElement(suite, "testcase", name=_clean(finding.asset),
                                 classname=f"phiguard.{rule_id}", time="0")
            if finding.outcome is Outcome.FAIL:
                ET.SubElement(case, "failure", message=_clean(finding.message),
                              type=finding.severity).text = _details(finding)
            elif finding.outcome is Outcome.UNKNOWN:
                ET.SubElement(case, "error", message=_clean("UNKNOWN: " + finding.message),
                              type="UNKNOWN").text = _details(finding)
            elif finding.outcome is Outcome.WAIVED:
                waiver = finding.waiver or {}
                ET.SubElement(case, "skipped", message=_clean(
                    f"waived: {waiver.get('reason', '')} (approved by "
                    f"{waiver.get('approved_by', '?')}, expires {waiver.get('expires', '?')})"))
    for key, n in totals.items():
        root.set(key, str(n))
    reasons = run_reasons(run)
    if reasons:
        # Why results are UNKNOWN for the whole run: a suite of no tests (the counts stay the
        # findings'), one property per reason and the sentences as its error output.
        suite = ET.SubElement(root, "testsuite", {
            "name": "phiguard.run", "tests": "0", "failures": "0", "errors": "0",
            "skipped": "0", "time": "0", "timestamp": timestamp})
        props = ET.SubElement(suite, "properties")
        for reason in reasons:
            ET.SubElement(props, "property", name=reason.field, value=_clean(reason.text))
        ET.SubElement(suite, "system-err").text = _clean("\n".join(
            f"warning: {r.title}: {r.text}" for r in reasons))
    ET.indent(root, space=" ")
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")
