"""The terminal summary: failures first, grouped by the framework's control (HIPAA by default)
and severity, with evidence."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import IO, Any

from phiguard.findings import Finding, Outcome, severity_rank
from phiguard.policy.rule import RulePack
from phiguard.report._common import control_order, run_reasons
from phiguard.report.framework import (
    framework_label,
    framework_pack,
    framework_tally,
    framework_title,
    unassessed_controls,
    uncovered_status,
)
from phiguard.report.summary import OUTCOMES, Tally

__all__ = ["printable", "render_text"]

_SEV_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
              "low": "cyan", "info": "dim"}
_OUT_STYLE = {"PASS": "green", "FAIL": "bold red", "UNKNOWN": "yellow", "WAIVED": "magenta"}
MAX_DETAILED = 200

# Control characters (C0, DEL, C1) and the bidirectional overrides: from an asset name or a
# finding they could move the cursor, retitle the terminal or reorder what a reader sees.
_UNPRINTABLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_UNPRINTABLE.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F),
                                                  *range(0x2066, 0x206A))})


def printable(text: str) -> str:
    """The text with control characters shown as escapes (`\\x1b`), safe on a terminal."""
    return text.translate(_UNPRINTABLE)


def _value(value: Any) -> str:
    text = "absent" if value is None else repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def render_text(out: IO[str], run: dict[str, Any], tally: Tally, pack: RulePack,
                waivers: list[dict[str, Any]], *, color: bool = False, width: int = 110) -> None:
    """Write the human summary of a finished scan."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # No markup or emoji codes: asset names like `fw[/]x` or `:warning:` are text, and every
    # string from a snapshot, config or rule pack goes through `printable` (P) first.
    console = Console(file=out, force_terminal=color, no_color=not color, width=width,
                      highlight=False, soft_wrap=True, markup=False, emoji=False)
    P = printable  # short on purpose: it wraps every dynamic string below
    org = P(str(run["config"].get("organization") or "(organization not set)"))
    pack = framework_pack(pack)
    tally = framework_tally(tally, pack)
    label = framework_label(pack)
    console.print(Text(f"phiguard {P(str(run['tool_version']))} · "
                       f"{P(framework_title(pack))} scan · organization {org}", style="bold"))
    console.print(Text(f"snapshot {P(str(run['snapshot_time'] or 'n/a'))} · evaluated at "
                       f"{P(str(run['evaluated_at']))} · {run['records']} records · "
                       f"{len(run['rules_evaluated'])} rules · pack "
                       f"{P(str(run['rule_pack_digest']))[:19]}"))
    counts = Text("outcomes  ")
    for outcome in OUTCOMES:
        counts.append(f"{outcome} {tally.outcomes.get(outcome, 0)}   ", style=_OUT_STYLE[outcome])
    console.print(counts)
    reasons = run_reasons(run)
    if reasons:
        console.print()
        console.print(Text(f"Why results are UNKNOWN: what this run's input lacks "
                           f"({len(reasons)})", style="bold yellow"))
        for reason in reasons:
            console.print(Text(f"  {reason.title}: {P(reason.text)}"))

    controls = pack.controls
    rules = pack.by_id()
    failing = [f for f in tally.notable if f.outcome is Outcome.FAIL]
    if failing:
        console.print()
        console.print(Text(f"Failures, by {P(label)} control and severity",
                           style="bold underline"))
        groups: dict[str, list[Finding]] = defaultdict(list)
        for finding in failing:
            groups[finding.controls[0]].append(finding)
        shown = 0
        for control_id in sorted(groups):
            title = controls[control_id].title if control_id in controls else ""
            # the newline outside printable(), which would show it as a literal \x0a
            console.print(Text("\n" + P(f"{control_id.split('/', 1)[-1]} {title}"),
                               style="bold"))
            items = sorted(groups[control_id],
                           key=lambda f: (-severity_rank(f.severity), f.rule_id, f.asset))
            for finding in items:
                if shown >= MAX_DETAILED:
                    break
                shown += 1
                line = Text("  ")
                line.append(f"{finding.severity.upper():<8}", style=_SEV_STYLE[finding.severity])
                line.append(f" {P(finding.rule_id)}  ", style="bold")
                rule = rules.get(finding.rule_id)
                line.append(P(rule.title) if rule else "")
                console.print(line)
                console.print(Text(f"            {P(finding.asset)}", style="dim"))
                console.print(Text(f"            {P(finding.message)}"))
                for path, value in finding.evidence[:4]:
                    console.print(Text(f"              {P(path)} = {P(_value(value))}",
                                       style="dim"))
                if finding.waiver and finding.waiver.get("status") == "expired":
                    expires = P(str(finding.waiver.get("expires")))
                    console.print(Text(f"            waiver expired {expires}", style="magenta"))
        rest = len(failing) - shown + tally.dropped
        if rest > 0:
            console.print(f"\n  … and {rest} more failing findings (use --format json for all)")

    unknown = [f for f in tally.notable if f.outcome is Outcome.UNKNOWN]
    if unknown:
        console.print()
        console.print(Text(f"Not evaluable ({tally.outcomes['UNKNOWN']}): the data needed is "
                           "absent; UNKNOWN never counts as PASS", style="bold yellow"))
        for finding in unknown[:20]:
            console.print(Text(f"  {P(finding.rule_id):<9} {P(finding.asset)}\n"
                               f"            {P(finding.message)}"))
        if len(unknown) > 20:
            console.print(f"  … and {tally.outcomes['UNKNOWN'] - 20} more")

    console.print()
    table = Table(title=f"{P(label)} control matrix", title_justify="left", show_lines=False)
    for col in ("control", "title", "rules", *OUTCOMES, "status"):
        table.add_column(col, justify="right" if col in OUTCOMES else "left")
    # controls with a rule that judged nothing of a type of its own the snapshot may lack
    not_assessed = unassessed_controls(pack, run)
    for control_id in control_order(pack, tally.by_control):
        c = tally.by_control.get(control_id)
        title = P(controls[control_id].title) if control_id in controls else ""
        n_rules = len(tally.rules_of_control.get(control_id, ()))
        if not c and control_id not in not_assessed:
            status = uncovered_status(controls.get(control_id), n_rules > 0) or "NO DATA"
            table.add_row(P(control_id.split("/", 1)[-1]), title, str(n_rules), "0", "0", "0", "0",
                          Text(status.lower(), style="dim"))
            continue
        c = c or Counter()
        status = ("FAIL" if c["FAIL"] else "UNKNOWN" if c["UNKNOWN"] or control_id in not_assessed
                  else "PASS")
        table.add_row(P(control_id.split("/", 1)[-1]), title, str(n_rules),
                      *(str(c.get(o, 0)) for o in OUTCOMES), Text(status, style=_OUT_STYLE[status]))
    console.print(table)

    if waivers:
        console.print()
        console.print(Text("Waivers", style="bold underline"))
        for w in waivers:
            status = str(w.get("status"))
            style = {"active": "green", "expired": "bold red", "unused": "yellow"}.get(status,
                                                                                   "")
            line = Text("  ")
            line.append(f"{P(status.upper()):<8}", style=style)
            line.append(P(f" {w.get('rule')}  {w.get('asset')}  (expires {w.get('expires')}, "
                          f"approved by {w.get('approved_by')}, matched {w.get('matched')})"))
            console.print(line)
            console.print(Text(f"            {P(str(w.get('reason')))}", style="dim"))
