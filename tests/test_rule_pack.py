"""The bundled rule pack: every example's exact outcome, control links both ways, coverage."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from _paths import DOCS, RULES
from phiguard.policy.rule import Rule, RulePack, load_pack, load_rule
from phiguard.testing import ExampleResult, check_examples, check_pack

RULES_MD = DOCS / "rules.md"
EXAMPLES = sorted(p for p in RULES.glob("*/*/*/*.json")
                  if p.parent.name in ("pass", "fail", "unknown"))
RULE_DIRS = sorted(p.parent for p in RULES.glob("*/*/rule.yaml"))
_OUTCOME = {"pass": "PASS", "fail": "FAIL", "unknown": "UNKNOWN"}

# Minimum rules per area; LOG and ENC count together.
AREA_MINIMUMS = {"TLS": 5, "NET": 5, "MFA": 4, "IAM": 6, "BAK": 5, "DR": 4, "LOG+ENC": 6,
                 "JIT": 1, "PLAT": 3}

@cache
def pack() -> RulePack:
    return load_pack([RULES])


@cache
def results(rule_dir: Path) -> tuple[ExampleResult, ...]:
    return tuple(check_examples(pack().by_id()[rule_dir.name]))


def _id(path: Path) -> str:
    return str(path.relative_to(RULES))


def test_examples_were_found() -> None:
    """The glob finds the examples (an empty parametrization would pass silently)."""
    assert len(EXAMPLES) >= 2 * 40


@pytest.mark.parametrize("example", EXAMPLES, ids=_id)
def test_example_outcome(example: Path) -> None:
    """Each example's subject gets exactly its folder's outcome, and every asset named in
    `expect` gets exactly its stated outcome."""
    rule_dir = example.parent.parent
    mine = [r for r in results(rule_dir) if r.example == str(example)]
    assert mine, "the example produced no expectation"
    assert mine[0].expected == _OUTCOME[example.parent.name]
    wrong = [f"{r.asset}: expected {r.expected}, got {r.actual} ({r.message})"
             for r in mine if not r.ok]
    assert wrong == []


@pytest.mark.parametrize("rule_dir", RULE_DIRS, ids=lambda p: p.name)
def test_every_rule_has_pass_and_fail_examples(rule_dir: Path) -> None:
    """Every rule folder holds at least one pass/ and one fail/ example."""
    assert list((rule_dir / "pass").glob("*.json")), "no pass/ example"
    assert list((rule_dir / "fail").glob("*.json")), "no fail/ example"


@pytest.mark.parametrize("rule_dir", RULE_DIRS, ids=lambda p: p.name)
def test_rule_folders_hold_only_known_parts(rule_dir: Path) -> None:
    """A rule folder holds rule.yaml and pass/, fail/, unknown/ (a misspelt folder would hide
    its examples from the test run)."""
    extra = {p.name for p in rule_dir.iterdir()} - {"rule.yaml", "pass", "fail", "unknown"}
    assert extra == set()


def test_every_cited_control_exists() -> None:
    """Every control a rule cites is in rules/controls/hipaa.yaml."""
    controls = pack().controls
    assert controls, "no control catalog found"
    missing = {(r.id, c) for r in pack().rules for c in r.controls if c not in controls}
    assert missing == set()


def _covered() -> list[str]:
    return sorted(c for c, v in load_pack([RULES]).controls.items() if v.covered)


@pytest.mark.parametrize("control", _covered())
def test_every_covered_control_has_a_rule(control: str) -> None:
    """Every control marked `covered: true` is cited by at least one rule."""
    assert any(control in r.controls for r in pack().rules)


def test_rule_count_and_area_minimums() -> None:
    """The pack has at least 40 rules and each area at least its minimum."""
    rules = pack().rules
    assert len(rules) >= 40
    areas = Counter(r.id.split("-")[0] for r in rules)
    areas["LOG+ENC"] = areas["LOG"] + areas["ENC"]
    short = {a: (areas[a], n) for a, n in AREA_MINIMUMS.items() if areas[a] < n}
    assert short == {}


def test_every_rule_validates_alone_and_ids_are_unique() -> None:
    """Each rule loads on its own, and ids are unique across the pack."""
    ids = [load_rule(d / "rule.yaml").id for d in RULE_DIRS]
    assert len(ids) == len(set(ids)) == len(pack().rules)


def _doc_example() -> str:
    match = re.search(r"```yaml\n(.*?)```", RULES_MD.read_text(encoding="utf-8"), re.S)
    assert match, "docs/rules.md has no yaml example"
    return match.group(1)


def _load_text(tmp_path: Path, text: str) -> Rule:
    path = tmp_path / "TLS-002" / "rule.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return load_rule(path)


def test_docs_yaml_example_validates(tmp_path: Path) -> None:
    """The rule.yaml example in docs/rules.md validates as written."""
    rule = _load_text(tmp_path, _doc_example())
    assert rule.id == "TLS-002"
    assert rule.defaults() == {"min_version": "TLS_1_2"}


def test_examples_judge_joins_through_the_scan_projection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Examples evaluate joins against assets cut down as a scan cuts them, so a projection
    that drops a field a rule reads makes that rule's examples fail."""
    from phiguard.policy import projection

    real = projection.context_fields
    monkeypatch.setattr(projection, "context_fields",
                        lambda rules: {t: frozenset({"selfLink"}) for t in real(list(rules))})
    pack = load_pack([RULES])
    broken = {r.rule_id for r in check_pack(pack) if not r.ok}
    assert {"TLS-002", "DR-002", "NET-004", "BAK-004"} <= broken
