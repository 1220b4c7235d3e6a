"""The PR-comment Markdown: counts, the failing findings table, details collapsed.

Whatever the number of findings, the comment stays under GitHub's 65,536-character limit: the
table and the details shrink until it fits, and say how many rows they leave out. Every value is
escaped for both HTML and Markdown, so asset names and evidence cannot inject markup or links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import IO, Any

from markupsafe import Markup

from phiguard.findings import Finding, Outcome, severity_rank
from phiguard.policy.rule import RulePack
from phiguard.report._common import (
    OUTCOMES,
    control_order,
    control_status,
    display_value,
    run_reasons,
    template_env,
)
from phiguard.report._redact import redact_evidence
from phiguard.report.framework import (
    framework_findings,
    framework_label,
    framework_pack,
    unassessed_controls,
    uncovered_status,
)
from phiguard.report.summary import Tally

__all__ = ["COMMENT_LIMIT", "md_escape", "render_markdown"]

COMMENT_LIMIT = 65_536
BUDGET = 60_000  # characters, leaving room for a bot's own header around the comment
# Escaped: emphasis, code, links, images, headings, tables, HTML, and ':' and '.' so that no
# autolink (https:, www.) forms. '-' and digits cannot start a block mid-line, so they stay.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+.!|~<>:\"'&=$])")
_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;"}


def md_escape(value: Any, limit: int = 0) -> Markup:
    """Text safe in GitHub Markdown and HTML: no tags, links, emphasis, code or table breaks."""
    return _escaped(str(value), limit)


@lru_cache(maxsize=8192)
def _escaped(text: str, limit: int) -> Markup:
    """`md_escape` of a text, once per text and limit (the comment is rendered again, with
    fewer rows, until it fits: the same cells are escaped each time)."""
    if limit and len(text) > limit:
        text = text[: limit - 1] + "…"
    text = " ".join(text.split())  # a newline would end a table row

    def sub(m: re.Match[str]) -> str:
        ch = m.group(1)
        return _ENTITIES.get(ch) or "\\" + ch

    # A backslash does not stop GitHub's @mentions and #123 / owner/repo#123 references (they
    # are found in the rendered text): a zero-width space after '@' and '#' does, so an asset
    # name notifies nobody and links no issue.
    escaped = _MD_SPECIAL.sub(sub, text).replace("\\#", "\\#&#8203;")
    return Markup(escaped.replace("@", "@&#8203;"))


def _render(env_template: Any, context: dict[str, Any]) -> str:
    return str(env_template.render(**context))


def render_markdown(out: IO[str], findings: Iterable[Finding], run: Mapping[str, Any],
                    pack: RulePack, waivers: Sequence[Mapping[str, Any]] = (), *,
                    limit: int = BUDGET) -> None:
    """Write the comment, shrinking the tables until it is under `limit` characters."""
    pack = framework_pack(pack)
    findings = framework_findings(findings, pack)
    tally = Tally(keep=1000)
    for finding in findings:
        tally.add(finding)
    rules = pack.by_id()
    failing = sorted((f for f in tally.notable if f.outcome is Outcome.FAIL),
                     key=lambda f: (-severity_rank(f.severity), f.rule_id, f.asset))
    unknown = [f for f in tally.notable if f.outcome is Outcome.UNKNOWN]
    total_failing = tally.outcomes.get("FAIL", 0)
    controls = []
    rules_of_control = {c for r in pack.rules for c in r.controls}
    # controls with a rule that judged nothing of a type of its own the snapshot may lack
    not_assessed = unassessed_controls(pack, run)
    for cid in control_order(pack, tally.by_control):
        counts: Mapping[str, int] = tally.by_control.get(cid, {})
        control = pack.controls.get(cid)
        uncovered = uncovered_status(control, cid in rules_of_control)
        controls.append({"short": cid.split("/", 1)[-1],
                         "title": control.title if control else "",
                         "counts": {o: counts.get(o, 0) for o in OUTCOMES},
                         "status": uncovered or control_status(dict(counts),
                                                               cid in not_assessed)})

    made: dict[int, dict[str, Any]] = {}  # by id: `failing` and `unknown` hold each finding

    def row(f: Finding) -> dict[str, Any]:
        """A finding's row, made once however often the comment is rendered to fit."""
        found = made.get(id(f))
        if found is not None:
            return found
        rule = rules.get(f.rule_id)
        found = made[id(f)] = {
            "rule_id": f.rule_id, "title": rule.title if rule else "",
            "controls": ", ".join(c.split("/", 1)[-1] for c in f.controls),
            "severity": f.severity, "asset": f.asset, "message": f.message,
            "evidence": [(p, display_value(v, 200)) for p, v in redact_evidence(f.evidence)],
            "remediation": str(rule.remediation.get("summary", "")) if rule else ""}
        return found

    env = template_env()
    env.filters["md"] = md_escape
    template = env.get_template("comment.md.j2")
    base = {
        "run": run, "framework_label": framework_label(pack),
        "organization": (run.get("config") or {}).get("organization") or "(not set)",
        "outcomes": {o: tally.outcomes.get(o, 0) for o in OUTCOMES},
        "failing_by_severity": tally.to_json()["failing_by_severity"],
        "total_failing": total_failing, "controls": controls,
        "waivers": [dict(w) for w in waivers], "unknown_total": tally.outcomes.get("UNKNOWN", 0),
        "reasons": run_reasons(run),
    }
    n_rows, n_details, show_matrix = min(len(failing), 300), min(len(failing), 50), True
    while True:
        context = dict(base, rows=[row(f) for f in failing[:n_rows]],
                       details=[row(f) for f in failing[:n_details]],
                       unknown=[row(f) for f in unknown[:min(n_details, 20)]],
                       hidden_rows=total_failing - n_rows, show_matrix=show_matrix)
        text = _render(template, context)
        if len(text) <= limit:
            break
        if n_details:
            n_details //= 2
        elif n_rows:
            n_rows //= 2
        elif show_matrix:
            show_matrix = False
        else:  # only waivers can still be this long: cut hard, at a line boundary
            text = text[: limit - 80].rsplit("\n", 1)[0] + "\n\n_…truncated to fit a comment._\n"
            break
    out.write(text)
