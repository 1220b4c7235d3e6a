"""The tally counts findings by key and folds them into its counters when they are read: the
counts, notable findings and merges must be what counting finding by finding gives."""

from __future__ import annotations

import random
from collections import Counter

from phiguard.findings import Finding, Outcome, severity_rank
from phiguard.report.summary import Tally

RULES = {"A-1": ("high", ("hipaa/x", "hipaa/y")), "B-2": ("low", ("hipaa/y",)),
         "C-3": ("critical", ()), "D-4": ("medium", ("hipaa/z",))}


def _findings(n: int, seed: int) -> list[Finding]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rule_id = rng.choice(sorted(RULES))
        severity, controls = RULES[rule_id]
        outcome = rng.choice(list(Outcome))
        out.append(Finding(rule_id, f"//a/{i}", "t", outcome, severity, controls, "m"))
    return out


def _expected(findings: list[Finding]) -> dict[str, object]:
    by_rule: dict[str, Counter[str]] = {}
    by_control: dict[str, Counter[str]] = {}
    rules_of_control: dict[str, set[str]] = {}
    failing: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    worst = -1
    for f in findings:
        by_rule.setdefault(f.rule_id, Counter())[f.outcome.value] += 1
        for c in f.controls:
            by_control.setdefault(c, Counter())[f.outcome.value] += 1
            rules_of_control.setdefault(c, set()).add(f.rule_id)
        if f.outcome is Outcome.FAIL:
            failing[f.severity] += 1
            worst = max(worst, severity_rank(f.severity))
        elif f.outcome is Outcome.UNKNOWN:
            unknown[f.severity] += 1
    return {"outcomes": Counter(f.outcome.value for f in findings), "by_rule": by_rule,
            "by_control": by_control, "rules_of_control": rules_of_control,
            "failing_by_severity": failing, "unknown_by_severity": unknown,
            "worst_failing": worst}


def _seen(tally: Tally) -> dict[str, object]:
    return {"outcomes": Counter(tally.outcomes), "by_rule": dict(tally.by_rule),
            "by_control": dict(tally.by_control),
            "rules_of_control": dict(tally.rules_of_control),
            "failing_by_severity": Counter(tally.failing_by_severity),
            "unknown_by_severity": Counter(tally.unknown_by_severity),
            "worst_failing": tally.worst_failing}


def test_counts_match_finding_by_finding_and_survive_reads_between_adds() -> None:
    findings = _findings(500, 1)
    tally = Tally(keep=7)
    for i, f in enumerate(findings):
        tally.add(f)
        if i in (3, 250):  # a read folds the pending counts; adding goes on after it
            assert tally.outcomes[f.outcome.value] >= 1
    assert _seen(tally) == _expected(findings)
    notable = [f for f in findings if f.outcome is not Outcome.PASS]
    assert tally.notable == notable[:7]
    assert tally.dropped == len(notable) - 7
    assert tally.to_json()["rules"]["A-1"] == {o: _expected(findings)["by_rule"]["A-1"].get(o, 0)  # type: ignore[index]
                                               for o in ("PASS", "FAIL", "UNKNOWN", "WAIVED")}


def test_merge_of_folded_and_pending_tallies() -> None:
    first, second, third = _findings(200, 2), _findings(300, 3), _findings(50, 4)
    whole = Tally(keep=40)
    a, b, c = Tally(keep=40), Tally(keep=40), Tally(keep=40)
    for f in first:
        a.add(f)
    for f in second:
        b.add(f)
    for f in third:
        c.add(f)
    assert b.by_rule  # b folded before the merge, a and c not
    whole.merge(a)
    whole.merge(b)
    _ = whole.outcomes  # whole folded between merges
    whole.merge(c)
    assert _seen(whole) == _expected(first + second + third)
    notable = [f for f in first + second + third if f.outcome is not Outcome.PASS]
    assert whole.notable == notable[:40]
    assert whole.dropped == len(notable) - 40


def test_worst_failing_can_be_set_as_the_framework_view_does() -> None:
    tally = Tally()
    tally.add(Finding("A-1", "//a", "t", Outcome.FAIL, "high", (), "m"))
    assert tally.worst_failing == severity_rank("high")
    tally.worst_failing = -1
    tally.add(Finding("B-2", "//b", "t", Outcome.FAIL, "low", (), "m"))
    assert tally.worst_failing == severity_rank("low")
    assert tally.failing_at_or_above("low") == 2
