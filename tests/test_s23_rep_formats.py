"""Every report format a scan can write carries the run-level reasons for UNKNOWN verdicts
(`run.scope_warnings`, `content_missing`, `asset_types_missing`, `coverage_gaps`), so a reader
of any of them learns that results are UNKNOWN because the snapshot lacked something, and
what. A complete snapshot's reports say none of it (and are unchanged)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from _paths import DEMO, RULES
from _s23_rep import GAP, GONE, METRIC, REASON_FIELDS, SINK, lossy_snapshot
from phiguard.cli import main
from phiguard.findings import Finding
from phiguard.policy.rule import load_pack
from phiguard.report._common import run_reasons
from phiguard.report.markdown import render_markdown
from report_data import SARIF_SCHEMA

AT = "2026-11-25T00:00:00Z"
FORMATS = ("json", "text", "markdown", "html", "sarif", "junit", "csv")
EXT = {"json": "json", "text": "txt", "markdown": "md", "html": "html", "sarif": "sarif",
       "junit": "xml", "csv": "csv"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _scan_all(snapshot: Path, config: Path, out: Path) -> dict[str, str]:
    args = ["scan", str(snapshot), "-c", str(config), "--at", AT, "--output-dir", str(out)]
    for fmt in FORMATS:
        args += ["-f", fmt]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return {fmt: (out / f"phiguard.{EXT[fmt]}").read_text() for fmt in FORMATS}


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("lossy")
    snapshot, config = lossy_snapshot(tmp)
    return _scan_all(snapshot, config, tmp / "out")


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("whole")
    return _scan_all(DEMO, DEMO / "phiguard.yaml", tmp / "out")


def _run(reports: dict[str, str]) -> dict[str, Any]:
    run: dict[str, Any] = json.loads(reports["json"])["run"]
    return run


def _facts(run: dict[str, Any]) -> list[str]:
    """What a reader must be able to find: each scope warning and content sentence as the run
    block has it, each missing asset type, and the unreadable source of each gap."""
    return [*run["scope_warnings"], *run["content_missing"],
            *(m["asset_type"] for m in run["asset_types_missing"]),
            *(m["asset_type"] for m in run["subject_types_missing"]),
            *(m["asset_type"] for m in run["pre_v1_asset_types"]),
            *(f"{g['source']} {g['what']}" for g in run["coverage_gaps"])]


def test_the_snapshot_gives_every_reason(lossy: dict[str, str]) -> None:
    run = _run(lossy)
    assert all(run.get(f) for f in REASON_FIELDS), run.keys()
    assert any(GONE in w for w in run["scope_warnings"])
    assert any("IAM_POLICY" in c for c in run["content_missing"])
    # (and the firewall policies NET-001 looks for: the demo holds none, the counts do not
    # say they were collected)
    assert {m["asset_type"] for m in run["asset_types_missing"]} == {
        SINK, METRIC, "compute.googleapis.com/FirewallPolicy"}
    assert run["coverage_gaps"] == [GAP]


def test_run_reasons_one_sentence_each(lossy: dict[str, str]) -> None:
    run = _run(lossy)
    reasons = run_reasons(run)
    by_field: dict[str, list[str]] = {}
    for r in reasons:
        by_field.setdefault(r.field, []).append(r.text)
    assert list(by_field) == list(REASON_FIELDS)
    assert by_field["scope_warnings"] == run["scope_warnings"]
    assert by_field["content_missing"] == run["content_missing"]
    policy, metric, sink = by_field["asset_types_missing"]
    assert policy.startswith("compute.googleapis.com/FirewallPolicy") and "NET-001" in policy
    assert metric.startswith(METRIC) and "MON-001" in metric and "UNKNOWN" in metric
    assert sink.startswith(SINK) and "LOG-002" in sink
    assert any(t.startswith("the snapshot holds no compute.googleapis.com/FirewallPolicy "
                            "assets") and "NET-009, NET-010 assessed none" in t
               for t in by_field["subject_types_missing"])
    [old] = by_field["pre_v1_asset_types"]
    assert old.startswith("google.compute.Firewall (1 asset)") and "no rule" in old
    [gap] = by_field["coverage_gaps"]
    assert "directory users of customer my_customer" in gap and "permission denied" in gap
    assert "HTTP 403" in gap and GAP["consequence"] in gap
    assert run_reasons({"tool_version": "x"}) == []
    # a hand-edited run block of odd shapes is shown, not a crash
    odd = run_reasons({"scope_warnings": "one", "asset_types_missing": [{"asset_type": "a"}],
                       "coverage_gaps": [{}], "content_missing": [3]})
    assert [r.field for r in odd] == ["scope_warnings", "content_missing",
                                      "asset_types_missing", "coverage_gaps"]


def test_text_says_why(lossy: dict[str, str], whole: dict[str, str]) -> None:
    text = lossy["text"]
    flat = " ".join(text.split())  # rich wraps long lines
    for fact in _facts(_run(lossy)):
        assert " ".join(fact.split()) in flat, fact
    assert "Why results are UNKNOWN" in text
    # before the findings, so a reader meets it first
    assert text.index("Why results are UNKNOWN") < text.index("control matrix")
    assert "Why results are UNKNOWN" not in whole["text"]


def _md_plain(text: str) -> str:
    text = text.replace("&#8203;", "").replace("&lt;", "<").replace("&gt;", ">")
    text = text.replace("&quot;", '"').replace("&#39;", "'").replace("&amp;", "&")
    return " ".join(re.sub(r"\\(.)", r"\1", text).split())


def test_markdown_says_why(lossy: dict[str, str], whole: dict[str, str]) -> None:
    md = lossy["markdown"]
    plain = _md_plain(md)
    for fact in _facts(_run(lossy)):
        assert " ".join(fact.split()) in plain, fact
    assert "Why results are UNKNOWN" in md
    assert md.index("Why results are UNKNOWN") < md.index("control matrix")
    assert "Why results are UNKNOWN" not in whole["markdown"]


def test_markdown_keeps_the_reasons_when_it_shrinks(lossy: dict[str, str]) -> None:
    """The comment shrinks its tables to fit; the reasons are never the part dropped."""
    doc = json.loads(lossy["json"])
    findings = [Finding.from_json(r) for r in doc["results"]]
    out = io.StringIO()
    render_markdown(out, findings, doc["run"], load_pack([RULES]), limit=6000)
    plain = _md_plain(out.getvalue())
    assert len(out.getvalue()) <= 6000
    for fact in _facts(doc["run"]):
        assert " ".join(fact.split()) in plain, fact


def test_sarif_says_why(lossy: dict[str, str], whole: dict[str, str]) -> None:
    validator = jsonschema.Draft7Validator(json.loads(SARIF_SCHEMA.read_text()))
    doc = json.loads(lossy["sarif"])
    validator.validate(doc)
    [run] = doc["runs"]
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert {n["descriptor"]["id"] for n in notes} == set(REASON_FIELDS)
    # each descriptor names one of the driver's notification descriptors (SARIF 3.52.3)
    declared = run["tool"]["driver"]["notifications"]
    assert [d["id"] for d in declared] == list(REASON_FIELDS)
    assert all(declared[n["descriptor"]["index"]]["id"] == n["descriptor"]["id"] for n in notes)
    assert all(n["level"] == "warning" for n in notes)
    texts = " ".join(n["message"]["text"] for n in notes)
    for fact in _facts(_run(lossy)):
        assert fact in texts, fact
    for field in REASON_FIELDS:  # and the fields themselves, for tools
        assert run["properties"][field] == _run(lossy)[field]
    # an UNKNOWN result's message says what was missing
    unknown = [r for r in run["results"] if r["properties"]["outcome"] == "UNKNOWN"]
    assert unknown and all("Cannot evaluate" in r["message"]["text"] for r in unknown)
    assert any("IAM_POLICY" in r["message"]["text"] for r in unknown)
    plain = json.loads(whole["sarif"])
    validator.validate(plain)
    assert "invocations" not in plain["runs"][0]
    assert not set(REASON_FIELDS) & set(plain["runs"][0]["properties"])


def test_junit_says_why(lossy: dict[str, str], whole: dict[str, str]) -> None:
    root = ET.fromstring(lossy["junit"])
    [suite] = [s for s in root.findall("testsuite") if s.get("name") == "phiguard.run"]
    assert suite.get("tests") == "0" and suite.get("errors") == "0"
    props = [(p.get("name"), p.get("value")) for p in suite.iter("property")]
    assert {name for name, _ in props} == set(REASON_FIELDS)
    values = " ".join(str(v) for _, v in props)
    err = suite.findtext("system-err") or ""
    for fact in _facts(_run(lossy)):
        assert fact in values and fact in err, fact
    # the totals still count findings only
    rule_suites = [s for s in root.findall("testsuite") if s.get("name") != "phiguard.run"]
    assert root.get("tests") == str(sum(int(s.get("tests") or 0) for s in rule_suites))
    unknown = [e for e in root.iter("error") if e.get("type") == "UNKNOWN"]
    assert unknown and any("IAM_POLICY" in str(e.get("message")) for e in unknown)
    assert "phiguard.run" not in whole["junit"]


def test_csv_says_why(lossy: dict[str, str], whole: dict[str, str]) -> None:
    rows = list(csv.DictReader(io.StringIO(lossy["csv"])))
    notes = [r for r in rows if r["outcome"] == "WARNING"]
    assert notes == rows[:len(notes)]  # first, where a reader starts
    assert {r["rule_id"] for r in notes} == {f"run.{f}" for f in REASON_FIELDS}
    texts = " ".join(r["message"] for r in notes)
    for fact in _facts(_run(lossy)):
        assert fact in texts, fact
    results = json.loads(lossy["json"])["results"]
    assert len(rows) - len(notes) == len(results)
    assert not [r for r in csv.DictReader(io.StringIO(whole["csv"])) if r["outcome"] == "WARNING"]


def _dom(page: Path, profile: Path) -> str:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=90).stdout


def test_html_says_why_in_chromium(lossy: dict[str, str], whole: dict[str, str],
                                   tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (.ci/run installs it)")
    doms = {}
    for name, reports in (("lossy", lossy), ("whole", whole)):
        page = tmp_path / f"{name}.html"
        page.write_text(reports["html"])
        doms[name] = _dom(page, tmp_path / name)
        assert '<section id="methodology">' in doms[name], doms[name][:300]
    dom = doms["lossy"]
    run = _run(lossy)
    methodology = dom.split('<section id="methodology">', 1)[1].split("</section>", 1)[0]
    scope = methodology.split('id="scope-warnings"', 1)[1].split("</ul>", 1)[0]
    content = methodology.split('id="content-missing"', 1)[1].split("</ul>", 1)[0]
    for warning in run["scope_warnings"]:
        assert warning in scope
    for sentence in run["content_missing"]:
        assert sentence in content
    assert 'id="asset-types-missing"' in methodology and 'id="coverage-gaps"' in methodology
    # the cover says there are reasons, and links each to its list
    cover = dom.split('id="cover"', 1)[1].split("</header>", 1)[0]
    notice = cover.split('id="run-warnings"', 1)[1].split("</div>", 1)[0]
    for anchor in ("scope-warnings", "content-missing", "asset-types-missing", "coverage-gaps"):
        assert f'href="#{anchor}"' in notice, anchor
    for absent in ('id="run-warnings"', 'id="scope-warnings"', 'id="content-missing"'):
        assert absent not in doms["whole"]


def test_scan_warns_of_every_reason_on_stderr(tmp_path: Path) -> None:
    """The warnings a scan prints name every reason the reports carry: a collected snapshot's
    coverage gaps too, not only the scope, content and asset type warnings."""
    snapshot, config = lossy_snapshot(tmp_path)
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(config), "--at", AT,
                                       "-f", "json", "-o", str(tmp_path / "f.json")],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    run = json.loads((tmp_path / "f.json").read_text())["run"]
    for fact in _facts(run):
        assert any(fact in line for line in warnings), (fact, result.stderr)
    [gap] = [line for line in warnings if "coverage gap" in line]
    assert gap.startswith("phiguard: note: warning: coverage gap: ") and "permission denied" in gap
    whole = CliRunner().invoke(main, ["scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"),
                                      "--at", AT, "-f", "json", "-o", str(tmp_path / "g.json")])
    assert "warning:" not in whole.stderr
