"""Frameworks: control catalogs beside HIPAA (CIS GCP v5.0, a user's own baseline), rules
mapped to several of them, and every report following the framework chosen with
`--framework`, from one scan's findings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from _paths import DEMO, DOCS, RULES
from phiguard.cli import main
from phiguard.errors import RuleError
from phiguard.policy.rule import RulePack, load_pack, load_rule
from report_data import demo, pack

CIS = RULES / "controls" / "cis-gcp-5.0.yaml"
LIMITS = DOCS / "rule-pack-limits.md"
CONFIG = DEMO / "phiguard.yaml"
AT = "2026-11-25T00:00:00Z"


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def findings_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo organization's findings JSON, written once by `phiguard scan`."""
    path = tmp_path_factory.mktemp("scan") / "findings.json"
    result = _cli("scan", str(DEMO), "--config", str(CONFIG), "--at", AT, "-f", "json",
                  "-o", str(path))
    assert result.exit_code == 1, result.output  # the demo org has failures
    return path


def _results(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["results"])


# The CIS catalog and the claims ------------------------------------------------------------


def test_cis_catalog_lists_every_v5_recommendation_with_level_and_assessment() -> None:
    """93 recommendations, 71 automated, each with level 1 or 2 and a short title; the ids
    are unique, match the catalog's own pattern, and every section 1-8 is present."""
    catalog = pack().catalogs["cis-gcp-5.0"]
    controls = list(catalog.controls.values())
    assert len(controls) == 93
    assert sum(c.automated for c in controls) == 71
    assert {c.level for c in controls} == {1, 2}
    assert all(c.title and len(c.title) <= 90 for c in controls)
    assert catalog.pattern is not None
    assert all(catalog.pattern.match(c.id) for c in controls)
    assert {c.id.split("/")[1].split(".")[0] for c in controls} == {str(n) for n in range(1, 9)}
    raw = yaml.safe_load(CIS.read_text())
    assert [c["id"] for c in raw["controls"]] == [c.id for c in controls]  # file order kept


def _not_judged() -> dict[str, str]:
    """docs/rule-pack-limits.md's CIS section: recommendation id -> the reason given."""
    text = LIMITS.read_text(encoding="utf-8")
    match = re.search(r"^## CIS Google Cloud Platform Foundation Benchmark v5\.0[^\n]*\n(.*?)"
                      r"(?=^## )", text, re.S | re.M)
    assert match, "docs/rule-pack-limits.md has no CIS v5.0 section"
    out: dict[str, str] = {}
    for item in re.split(r"\n(?=- )", match.group(1)):
        if not item.startswith("- "):
            continue
        ids = re.findall(r"\*\*(\d+(?:\.\d+)+)\*\*", item)
        reason = " ".join(item.rsplit("**", 1)[-1].lstrip(":").split())
        assert ids and len(reason) >= 20, item
        for cid in ids:
            assert cid not in out, f"{cid} is listed twice"
            out[cid] = reason
    return out


def test_every_automated_cis_recommendation_is_claimed_or_listed_as_not_judged() -> None:
    """Each automated v5.0 recommendation is claimed by a rule (the rule names it) or listed in
    docs/rule-pack-limits.md with a reason; never both; the list names only automated
    recommendations of the catalog."""
    view = pack().for_framework("cis-gcp-5.0")
    automated = {c.id.split("/", 1)[1] for c in view.controls.values() if c.automated}
    claimed = {c.split("/", 1)[1] for r in view.rules for c in r.controls} & automated
    listed = _not_judged()
    assert set(listed) <= automated, set(listed) - automated
    assert claimed & set(listed) == set(), "claimed by a rule and listed as not judged"
    assert automated - claimed - set(listed) == set(), "neither claimed nor listed"
    print(f"CIS v5.0 automated: {len(automated)}, claimed {len(claimed)}, "
          f"not judged {len(listed)}")


def test_claim_check_fails_when_a_claim_is_dropped(tmp_path: Path) -> None:
    """The claim test can fail: NET-001 without its CIS ids leaves 3.6 and 3.7 neither
    claimed nor listed."""
    shutil_tree = tmp_path / "rules"
    import shutil

    shutil.copytree(RULES, shutil_tree)
    rule = shutil_tree / "hipaa" / "NET-001" / "rule.yaml"
    text = rule.read_text()
    rule.write_text(re.sub(r",\s*cis-gcp-5\.0/3\.6, cis-gcp-5\.0/3\.7", "", text))
    view = load_pack([shutil_tree]).for_framework("cis-gcp-5.0")
    claimed = {c.split("/", 1)[1] for r in view.rules for c in r.controls}
    assert {"3.6", "3.7"} - claimed == {"3.6", "3.7"}
    assert not {"3.6", "3.7"} & set(_not_judged())


def test_a_cis_control_outside_the_catalog_or_its_pattern_is_refused(tmp_path: Path) -> None:
    """A rule naming cis-gcp-5.0/9.9 (not in the catalog) or cis-gcp-5.0/x (not its id
    pattern) fails to load, at the line of the control."""
    import shutil

    root = tmp_path / "rules"
    shutil.copytree(RULES / "controls", root / "controls")
    shutil.copytree(RULES / "hipaa" / "NET-006", root / "hipaa" / "NET-006")
    path = root / "hipaa" / "NET-006" / "rule.yaml"
    original = path.read_text()
    path.write_text(original.replace("cis-gcp-5.0/3.2", "cis-gcp-5.0/9.9"))
    with pytest.raises(RuleError, match=r"control cis-gcp-5\.0/9\.9 is not in the control "
                                        r"catalog") as info:
        load_pack([root])
    assert info.value.line is not None and info.value.file == str(path)
    path.write_text(original.replace("cis-gcp-5.0/3.2", "cis-gcp-5.0/x"))
    with pytest.raises(RuleError, match="its catalog's pattern"):
        load_rule(path)  # alone, the rule still checks ids against the catalogs beside it


def test_framework_view_keeps_one_catalog_and_the_rules_mapped_to_it() -> None:
    """for_framework('cis-gcp-5.0'): only CIS controls, only rules naming one, each rule with
    its CIS controls only; the HIPAA view keeps every rule; an unknown name is an error."""
    full = pack()
    cis = full.for_framework("cis-gcp-5.0")
    assert set(cis.controls) == set(full.catalogs["cis-gcp-5.0"].controls)
    assert cis.rules and all(r.controls and all(c.startswith("cis-gcp-5.0/") for c in r.controls)
                             for r in cis.rules)
    assert "NET-001" in cis.by_id() and "PLAT-001" not in cis.by_id()
    hipaa = full.for_framework("hipaa")
    assert len(hipaa.rules) == len(full.rules)
    assert all(c.startswith("hipaa/") for r in hipaa.rules for c in r.controls)
    with pytest.raises(RuleError, match="no control catalog named 'sox'"):
        full.for_framework("sox")


# Reports against each framework, from one findings file -----------------------------------


def test_findings_json_carries_every_control_of_every_catalog(findings_file: Path) -> None:
    """A finding lists its rule's controls in every catalog (HIPAA and CIS), so the file can
    be reported against either; the HIPAA controls come first, as before."""
    rules = pack().by_id()
    for item in _results(findings_file):
        assert item["controls"] == list(rules[item["rule_id"]].controls)
    net = [r for r in _results(findings_file) if r["rule_id"] == "NET-001"]
    assert net and all({"cis-gcp-5.0/3.6", "cis-gcp-5.0/3.7"} <= set(r["controls"])
                       and r["controls"][0].startswith("hipaa/") for r in net)


def test_sarif_junit_markdown_follow_the_chosen_framework(findings_file: Path,
                                                          tmp_path: Path) -> None:
    """From the same findings file: the CIS SARIF tags rules `cis-gcp-5.0` and
    `CIS-GCP-5.0-<id>` and has its own automation category; the HIPAA SARIF keeps `hipaa`
    tags; JUnit and Markdown name the framework and leave out rules mapped to none of its
    controls."""
    docs: dict[str, dict[str, Any]] = {}
    for framework in ("cis-gcp-5.0", "hipaa"):
        out = tmp_path / f"{framework}.sarif"
        result = _cli("report", str(findings_file), "--framework", framework, "-f", "sarif",
                      "-o", str(out))
        assert result.exit_code == 0, result.output
        docs[framework] = json.loads(out.read_text())
    cis_run, hipaa_run = docs["cis-gcp-5.0"]["runs"][0], docs["hipaa"]["runs"][0]
    cis_rules = {r["id"]: r for r in cis_run["tool"]["driver"]["rules"]}
    assert "PLAT-001" not in cis_rules
    assert {"cis-gcp-5.0", "CIS-GCP-5.0-3.6", "CIS-GCP-5.0-3.7"} <= set(
        cis_rules["NET-001"]["properties"]["tags"])
    assert not any(t.startswith("HIPAA-") for r in cis_rules.values()
                   for t in r["properties"]["tags"])
    assert {r["ruleId"] for r in cis_run["results"]} <= set(cis_rules)
    hipaa_net = next(r for r in hipaa_run["tool"]["driver"]["rules"] if r["id"] == "NET-001")
    assert "hipaa" in hipaa_net["properties"]["tags"]
    assert not any(t.startswith("CIS-") for t in hipaa_net["properties"]["tags"])
    assert cis_run["automationDetails"]["id"] != hipaa_run["automationDetails"]["id"]
    assert cis_run["automationDetails"]["id"].startswith("phiguard/cis-gcp-5.0/")

    junit = _cli("report", str(findings_file), "--framework", "cis-gcp-5.0", "-f", "junit")
    assert junit.exit_code == 0
    assert "CIS Google Cloud Platform Foundation Benchmark v5.0.0 scan" in junit.output
    suites = set(re.findall(r'<testsuite name="([^"]+)"', junit.output))
    assert "NET-001" in suites and "PLAT-001" not in suites
    assert "hipaa/" not in junit.output

    md = _cli("report", str(findings_file), "--framework", "cis-gcp-5.0", "-f", "markdown")
    assert md.exit_code == 0
    assert "CIS-GCP-5\\.0 control matrix" in md.output
    assert "NOT AUTOMATABLE" in md.output and "NOT COVERED" in md.output
    assert "164\\.312" not in md.output
    assert "| severity | rule | CIS-GCP-5\\.0 | asset | why |" in md.output
    assert re.search(r"\| high \| NET-001 \| 3\\\.6, 3\\\.7 \|", md.output)


def test_html_cis_report_matrix_and_statuses(findings_file: Path, tmp_path: Path) -> None:
    """The CIS HTML report has a matrix row per recommendation: a manual one no rule claims
    reads NOT AUTOMATABLE, an automated one no rule claims NOT COVERED, a claimed one the
    status of its results (5.1's counts are PUB-004's)."""
    out = tmp_path / "cis.html"
    result = _cli("report", str(findings_file), "--framework", "cis-gcp-5.0", "-f", "html",
                  "-o", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    rows = dict(re.findall(r'<tr data-control="(cis-gcp-5\.0/[\d.]+)">.*?<span class="badge '
                           r'[a-z]+">([A-Z ]+)</span></td></tr>', html))
    assert len(rows) == 93
    assert rows["cis-gcp-5.0/1.1.1"] == "NOT AUTOMATABLE"  # manual, no rule
    assert rows["cis-gcp-5.0/1.17"] == "NOT COVERED"  # automated, not judged (no CAI type)
    assert rows["cis-gcp-5.0/1.3"] in ("PASS", "FAIL")  # manual, evidenced by MFA-001/002
    assert rows["cis-gcp-5.0/3.6"] == "FAIL"  # the demo's open SSH firewall rule
    pub = [r for r in _results(findings_file) if r["rule_id"] == "PUB-004"]
    row = re.search(r'<tr data-control="cis-gcp-5\.0/5\.1">(.*?)</tr>', html, re.S)
    assert row
    cells = dict(re.findall(r'data-outcome="([A-Z]+)">(\d+)<', row.group(1)))
    assert {o: int(n) for o, n in cells.items()} == {
        o: sum(r["outcome"] == o for r in pub) for o in ("PASS", "FAIL", "UNKNOWN", "WAIVED")}
    assert "hipaa/164" not in html


def test_old_findings_without_cis_controls_are_placed_by_the_rules_mapping(
        findings_file: Path, tmp_path: Path) -> None:
    """A findings file written before the rules were mapped to CIS (HIPAA controls only)
    still renders against CIS: each finding is placed by its rule's CIS controls."""
    doc = json.loads(findings_file.read_text())
    for item in doc["results"]:
        item["controls"] = [c for c in item["controls"] if c.startswith("hipaa/")]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    result = _cli("report", str(old), "--framework", "cis-gcp-5.0", "-f", "sarif")
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["runs"][0]["results"]
    net = [r for r in results if r["ruleId"] == "NET-001"]
    assert net and all(r["properties"]["controls"] == ["cis-gcp-5.0/3.6", "cis-gcp-5.0/3.7"]
                       for r in net)


def test_scan_text_and_unknown_framework(tmp_path: Path) -> None:
    """`scan --framework cis-gcp-5.0` prints the CIS matrix; an unknown framework exits 2
    with the catalogs there are, before anything is written."""
    result = _cli("scan", str(DEMO), "--config", str(CONFIG), "--at", AT, "--framework",
                  "cis-gcp-5.0", "--no-color")
    assert result.exit_code == 1, result.output
    assert "CIS Google Cloud Platform Foundation Benchmark v5.0.0 scan" in result.output
    assert "CIS-GCP-5.0 control matrix" in result.output
    assert "not automatable" in result.output
    out = tmp_path / "r.html"
    bad = _cli("scan", str(DEMO), "--config", str(CONFIG), "--framework", "nist", "-f", "html",
               "-o", str(out))
    assert bad.exit_code == 2
    assert "no control catalog named 'nist'" in bad.output and "cis-gcp-5.0, hipaa" in bad.output
    assert not out.exists()


def test_rules_list_json_shows_controls_by_catalog() -> None:
    """`rules list --format json` gives each rule's controls per catalog (every catalog
    present, empty when the rule names none of it) and the catalogs."""
    result = _cli("rules", "list", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert {c["name"] for c in doc["catalogs"]} == {"hipaa", "cis-gcp-5.0"}
    cis = next(c for c in doc["catalogs"] if c["name"] == "cis-gcp-5.0")
    assert (cis["controls"], cis["automated"]) == (93, 71)
    rules = {r["id"]: r for r in doc["rules"]}
    assert rules["NET-001"]["controls_by_catalog"]["cis-gcp-5.0"] == ["cis-gcp-5.0/3.6",
                                                                       "cis-gcp-5.0/3.7"]
    assert rules["PLAT-001"]["controls_by_catalog"]["cis-gcp-5.0"] == []
    assert all(r["controls_by_catalog"]["hipaa"] for r in doc["rules"])


# A user's own framework: one YAML file, no code ------------------------------------------

BASELINE = """\
catalog: acme-baseline
title: ACME cloud baseline 2027
control_noun: ACME control
id_pattern: '^acme-baseline/AC-\\d{2}$'
controls:
  - id: acme-baseline/AC-01
    title: No remote administration from the internet
    rules: [NET-001]
  - id: acme-baseline/AC-02
    title: Databases are private and encrypted in transit
    rules: [PUB-002, TLS-006]
  - id: acme-baseline/AC-03
    title: Quarterly access review (a meeting, not a setting)
    automated: false
"""


def test_a_user_framework_from_one_yaml_file(tmp_path: Path) -> None:
    """A baseline catalog given with `--rules acme.yaml` (beside the bundled pack) links the
    pack's rules to its controls: the scan's findings carry its controls, `--framework
    acme-baseline` reports against it (matrix rows AC-01..03, AC-03 not automatable), and
    the HIPAA report of the same scan is unchanged."""
    baseline = tmp_path / "acme.yaml"
    baseline.write_text(BASELINE)
    findings = tmp_path / "f.json"
    html = tmp_path / "acme.html"
    result = _cli("scan", str(DEMO), "--config", str(CONFIG), "--at", AT, "--rules",
                  str(baseline), "--framework", "acme-baseline", "-f", "json", "-f", "html",
                  "--output", f"json={findings}", "--output", f"html={html}")
    assert result.exit_code == 1, result.output
    results = _results(findings)
    net = [r for r in results if r["rule_id"] == "NET-001"]
    assert net and all(r["controls"][-1] == "acme-baseline/AC-01" for r in net)
    assert len({r["rule_id"] for r in results}) > 40  # the bundled pack ran too
    page = html.read_text()
    rows = re.findall(r'<tr data-control="(acme-baseline/AC-\d\d)">', page)
    assert rows == ["acme-baseline/AC-01", "acme-baseline/AC-02", "acme-baseline/AC-03"]
    assert "ACME cloud baseline 2027 evidence report" in page and "ACME control" in page
    assert re.search(r'data-control="acme-baseline/AC-03">.*?NOT AUTOMATABLE', page)
    again = _cli("report", str(findings), "--rules", str(baseline), "--framework",
                 "acme-baseline", "-f", "junit")
    assert again.exit_code == 0, again.output
    assert set(re.findall(r'<testsuite name="([^"]+)"', again.output)) == {
        "NET-001", "PUB-002", "TLS-006"}


@pytest.mark.parametrize(("change", "message"), [
    (("rules: [NET-001]", "rules: [NET-999]"), "links rule NET-999, which is not in the rule"),
    (("id_pattern: '^acme-baseline/AC-\\d{2}$'\n", ""), "needs its `catalog` name and "
                                                         "`id_pattern`"),
    (("    automated: false", "    automated: sometimes"), "`automated` must be true or false"),
    (("    automated: false", "    owner: ciso"), "unknown key `owner`"),
])
def test_a_bad_user_catalog_is_a_clear_error(tmp_path: Path, change: tuple[str, str],
                                            message: str) -> None:
    """A baseline naming a rule the pack lacks, without its id pattern, or with a bad value
    exits 2 naming the file (and line), never a traceback."""
    baseline = tmp_path / "acme.yaml"
    text = BASELINE.replace(*change)
    assert text != BASELINE
    baseline.write_text(text)
    result = _cli("rules", "list", "--rules", str(baseline))
    assert result.exit_code == 2, result.output
    assert message in result.output and str(baseline) in result.output
    assert "Traceback" not in result.output


def test_catalog_alone_without_rules_dir_uses_bundled_pack_and_pack_type() -> None:
    """`load_pack` of the bundled rules gives a RulePack whose catalogs are hipaa and CIS."""
    full: RulePack = pack()
    assert set(full.catalogs) == {"hipaa", "cis-gcp-5.0"}
    assert demo()[1]  # the demo scan the other report tests use exists


def test_plan_gate_reports_against_the_chosen_framework() -> None:
    """`plan --framework cis-gcp-5.0 -f sarif`: the planned SSH firewall's NET-001 failure is
    tagged with its CIS recommendations; PLAT-002 (mapped to no CIS control) is left out of
    the CIS report (and of the exit code: NET-001's failure is what makes it 1)."""
    from _paths import PLANS

    result = _cli("plan", str(PLANS / "network.json"), "--config", str(PLANS / "phiguard.yaml"),
                  "--at", AT, "--framework", "cis-gcp-5.0", "-f", "sarif")
    assert result.exit_code == 1, result.output
    run = json.loads(result.output)["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "CIS-GCP-5.0-3.6" in rules["NET-001"]["properties"]["tags"]
    ids = {r["ruleId"] for r in run["results"]}
    assert "NET-001" in ids and "PLAT-002" not in ids and "PLAT-002" not in rules


def test_audit_refuses_an_unknown_framework_before_collecting(tmp_path: Path) -> None:
    """`audit --framework` is checked with the rule pack, before any collection or store
    write: an unknown catalog exits 2 and leaves no store behind."""
    store = tmp_path / "history.db"
    result = _cli("audit", "--org", "123456789012", "--store", str(store), "--framework",
                  "pci-dss")
    assert result.exit_code == 2, result.output
    assert "no control catalog named 'pci-dss'" in result.output
    assert not store.exists()


def test_a_pack_without_a_hipaa_catalog_reports_by_default_with_every_control(
        tmp_path: Path) -> None:
    """A pack of one's own with only its own catalog scans and reports with the default
    framework (its own controls in the matrix), and names its catalog with --framework."""
    import shutil

    root = tmp_path / "pack"
    (root / "controls").mkdir(parents=True)
    (root / "controls" / "acme.yaml").write_text(
        "catalog: acme\nid_pattern: '^acme/NW-\\d$'\ncontrols:\n"
        "  - id: acme/NW-1\n    title: No SSH from anywhere\n")
    shutil.copytree(RULES / "hipaa" / "NET-001", root / "net" / "NET-001")
    rule = root / "net" / "NET-001" / "rule.yaml"
    rule.write_text(re.sub(r"^controls: \[.*?\]$", "controls: [acme/NW-1]",
                           rule.read_text(), count=1, flags=re.M | re.S))
    for framework in ("hipaa", "acme"):
        result = _cli("scan", str(DEMO), "--at", AT, "--rules", str(root), "--framework",
                      framework, "-f", "markdown")  # no config: everything is in PHI scope
        assert result.exit_code == 1, result.output
        assert re.search(r"\| NW-1 \| No SSH from anywhere \| \d+ \| [1-9]\d* \|",
                         result.output), result.output


def test_composite_action_reports_against_its_framework_input(tmp_path: Path) -> None:
    """action.yml's `framework` input reaches `phiguard plan`: with cis-gcp-5.0 the SARIF is
    the CIS category and its NET-001 rule carries CIS tags."""
    import os
    import subprocess
    import sys

    from _paths import PLANS, REPO

    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["inputs"]["framework"]["default"] == "hipaa"
    script = action["runs"]["steps"][1]["run"]
    out = tmp_path / "gh_output"
    env = {**os.environ, "PLAN": str(PLANS / "network.json"),
           "CONFIG": str(PLANS / "phiguard.yaml"), "FAIL_ON": "high", "BASELINE": "",
           "SNAPSHOT": "", "TF_ROOT": "", "FRAMEWORK": "cis-gcp-5.0",
           "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(out),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1, done.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    run = json.loads(Path(outputs["sarif"]).read_text())["runs"][0]
    assert run["automationDetails"]["id"].startswith("phiguard/cis-gcp-5.0/")
    net = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "NET-001")
    assert "CIS-GCP-5.0-3.6" in net["properties"]["tags"]
