"""CSV for spreadsheets: one row per result, with the rule title and remediation beside it.

When the run's input lacked data every rule of a kind needs (scope warnings, content or asset
types missing, coverage gaps), the rows after the header say so first: one per reason, with
rule_id `run.<field of the findings JSON run block>`, outcome WARNING and the reason as the
message."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from phiguard.findings import Finding
from phiguard.policy.rule import RulePack
from phiguard.report._common import display_value, run_reasons
from phiguard.report._redact import redact_evidence

__all__ = ["COLUMNS", "render_csv"]

COLUMNS = ("rule_id", "rule_title", "severity", "outcome", "asset", "asset_type", "controls",
           "message", "evidence", "remediation", "waiver_reason", "waiver_approved_by",
           "waiver_expires", "waiver_status", "source")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    # A cell starting like a formula runs as one in spreadsheets (CSV injection): quote it.
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
               pack: RulePack, waivers: Sequence[Mapping[str, Any]] = ()) -> None:
    """Write a header and one row per finding, streamed, evidence redacted."""
    rules = pack.by_id()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for reason in run_reasons(run):
        # Why results are UNKNOWN for the whole run, first: rule_id `run.FIELD` (the run
        # block's field), outcome WARNING, the sentence as the message.
        note = {"rule_id": f"run.{reason.field}", "rule_title": reason.title,
                "outcome": "WARNING", "message": reason.text}
        writer.writerow([_cell(note.get(c, "")) for c in COLUMNS])
    for f in findings:
        rule = rules.get(f.rule_id)
        waiver = f.waiver or {}
        evidence = "; ".join(f"{p} = {display_value(v, 500)}"
                             for p, v in redact_evidence(f.evidence))
        row = [f.rule_id, rule.title if rule else "", f.severity, f.outcome.value, f.asset,
               f.asset_type, " ".join(f.controls), f.message, evidence,
               " ".join(str(rule.remediation.get("summary", "")).split()) if rule else "",
               waiver.get("reason", ""), waiver.get("approved_by", ""),
               waiver.get("expires", ""), waiver.get("status", ""), f.source or ""]
        writer.writerow([_cell(str(c)) for c in row])
