"""Report renderers on the demo organization and on hostile input: structure, counts, escaping."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

import html5lib
import jsonschema
import pytest

from phiguard.findings import Finding, Outcome
from phiguard.report._common import fingerprint, parse_source
from phiguard.report._redact import REDACTED, redact
from phiguard.report.csv_report import COLUMNS, render_csv
from phiguard.report.html_report import render_html
from phiguard.report.junit import render_junit
from phiguard.report.markdown import COMMENT_LIMIT, render_markdown
from phiguard.report.sarif import FINGERPRINT_KEY, render_sarif
from report_data import SARIF_SCHEMA, demo, pack, synthetic

NS = {"h": "http://www.w3.org/1999/xhtml"}
XSS = '<script>alert("x")</script>'
JS_URL = "javascript:alert(document.cookie)"


def _render(fn: Any, findings: Any, run: dict[str, Any] | None = None,
            waivers: Any = ()) -> str:
    out = io.StringIO()
    fn(out, findings, run if run is not None else demo()[0], pack(), list(waivers))
    return out.getvalue()


def _parse_html(text: str) -> ET.Element:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    return parser.parse(text)


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    return jsonschema.Draft7Validator(schema)


def test_html_demo_report_has_every_control_and_the_findings_counts() -> None:
    """The demo report parses as strict HTML5, shows every catalog control, and each control's
    and each outcome's counts equal those computed from the findings."""
    run, findings, waivers = demo()
    doc = _parse_html(_render(render_html, findings, run, waivers))
    expected: dict[str, Counter[str]] = {}
    for f in findings:
        for c in f.controls:
            expected.setdefault(c, Counter())[f.outcome.value] += 1
    rows = doc.findall(".//h:table[@id='control-matrix']/h:tbody/h:tr", NS)
    shown = {r.get("data-control"): r for r in rows}
    hipaa = set(pack().for_framework("hipaa").controls)  # the default framework's catalog
    assert hipaa <= set(shown) and all(c.startswith("hipaa/") for c in shown)
    sections = {s.get("data-control") for s in doc.findall(".//h:section", NS)}
    assert hipaa <= sections
    for cid, row in shown.items():
        cells = {td.get("data-outcome"): int(td.text or "0")
                 for td in row.findall("h:td[@data-outcome]", NS)}
        assert cells == {o: expected.get(cid, Counter())[o]
                         for o in ("PASS", "FAIL", "UNKNOWN", "WAIVED")}, cid
    cards = {c.get("data-outcome"): int(c.findtext("h:b", "", NS))
             for c in doc.findall(".//h:div[@id='outcome-counts']/h:div", NS)}
    totals = Counter(f.outcome.value for f in findings)
    assert cards == {o: totals[o] for o in ("PASS", "FAIL", "UNKNOWN", "WAIVED")}
    failing_rows = {(r.get("data-outcome"), "".join(r.itertext()))
                    for r in doc.findall(".//h:tr[@data-outcome='FAIL']", NS)}
    for f in findings:
        if f.outcome is Outcome.FAIL:
            assert any(f.asset in text for _, text in failing_rows), f.asset
    waiver_rows = doc.findall(".//h:table[@class='waivers']/h:tbody/h:tr", NS)
    assert sorted(r.get("data-status") for r in waiver_rows) == ["active", "expired", "unused"]


def test_html_is_self_contained() -> None:
    """The report has no script and references nothing outside itself."""
    text = _render(render_html, demo()[1], demo()[0], demo()[2])
    doc = _parse_html(text)
    assert doc.findall(".//h:script", NS) == []
    for el in doc.iter():
        for attr in ("src", "href", "action", "srcset"):
            value = el.get(attr)
            assert value is None or value.startswith("#"), (el.tag, attr, value)
    assert "@import" not in text and "url(" not in text


def test_html_caps_rows_per_control_and_collapses_passing_assets() -> None:
    """With many results, each control shows at most the cap of non-passing rows and says how
    many it leaves out; passing assets sit in a collapsed <details>."""
    run, findings = synthetic(5000)
    out = io.StringIO()
    render_html(out, findings, run, pack(), max_rows_per_control=20, max_passing_per_rule=5)
    doc = _parse_html(out.getvalue())
    for section in doc.findall(".//h:section[@class='control']", NS):
        rows = section.findall(".//h:table[@class='findings']/h:tbody/h:tr", NS)
        assert len(rows) <= 20
    hidden = [int(p.get("data-hidden", "0")) for p in doc.findall(".//h:p[@data-hidden]", NS)]
    assert hidden and all(n > 0 for n in hidden)
    passing = doc.findall(".//h:details[@class='passing']", NS)
    assert passing and all(d.get("open") is None for d in passing)
    assert all(len(d.findall(".//h:li", NS)) <= 5 for d in passing)


def _hostile() -> list[Finding]:
    rule = pack().by_id()["NET-001"]
    return [Finding(
        rule_id=rule.id, asset=f"//compute.googleapis.com/projects/p/{XSS}/\"'><img src=x "
        "onerror=alert(1)>", asset_type="compute.googleapis.com/Firewall", outcome=outcome,
        severity=rule.severity, controls=rule.controls,
        message=f"[click]({JS_URL}) {XSS} | pipe ` tick",
        evidence=(("data.labels", {"team": XSS, "url": JS_URL}), ("data.description", XSS)),
        waiver={"reason": XSS, "approved_by": JS_URL, "expires": "2027-01-01",
                "status": "active"} if outcome is Outcome.WAIVED else None,
        source=f"{XSS}.ndjson:3") for outcome in (Outcome.FAIL, Outcome.PASS, Outcome.WAIVED)]


def test_html_renders_hostile_names_inert() -> None:
    """Asset names, labels and values with <script>, quotes and javascript: URLs are escaped:
    the parsed document has no script, no event handler, no link and no injected element."""
    waivers = [{"rule": "NET-001", "asset": XSS, "reason": XSS, "approved_by": JS_URL,
                "expires": "2027-01-01", "status": "active", "matched": 1}]
    text = _render(render_html, _hostile(), waivers=waivers)
    doc = _parse_html(text)
    assert doc.findall(".//h:script", NS) == [] and doc.findall(".//h:img", NS) == []
    for el in doc.iter():
        assert not any(k.startswith("on") for k in el.attrib), el.attrib
        assert not str(el.get("href", "#")).lower().startswith("javascript")
    assert "<script>" not in text and "&lt;script&gt;" in text
    body = "".join(doc.itertext())
    assert XSS in body  # shown as text, so an auditor sees what the asset is called


def test_markdown_renders_hostile_names_inert() -> None:
    """In the PR comment, hostile text cannot open tags, links, code spans or table cells."""
    waivers = [{"rule": "NET-001", "asset": XSS, "reason": f"[x]({JS_URL})",
                "approved_by": "a", "expires": "2027-01-01", "status": "active", "matched": 1}]
    text = _render(render_markdown, _hostile(), waivers=waivers)
    assert "<script" not in text and "<img" not in text
    assert f"]({JS_URL}" not in text and "](javascript" not in text
    assert "javascript:" not in text  # the colon is escaped, so no scheme forms
    for line in text.splitlines():
        if line.startswith("| high"):
            # 5 columns: unescaped pipes only at the cell borders
            assert line.replace("\\|", "").count("|") == 6, line


def test_markdown_stays_under_the_comment_limit_at_any_size() -> None:
    """A comment for 20,000 results (1,600 failing) stays under GitHub's 65,536 characters and
    says how many failing findings it leaves out."""
    run, findings = synthetic(20_000)
    text = _render(render_markdown, findings, run)
    assert len(text) < COMMENT_LIMIT
    assert "more failing findings are not listed" in text
    demo_text = _render(render_markdown, demo()[1], demo()[0], demo()[2])
    assert "more failing findings" not in demo_text  # the demo's failing findings all fit
    assert sum(demo_text.count(f"\n| {severity} |")
               for severity in ("critical", "high", "medium", "low")) == \
        sum(f.outcome is Outcome.FAIL for f in demo()[1])


def test_sarif_validates_against_the_official_schema(
        sarif_validator: jsonschema.Draft7Validator) -> None:
    """The demo's SARIF is valid 2.1.0: one rule per evaluated rule with help and HIPAA tags,
    one result per non-passing finding with a level, fingerprint and location."""
    run, findings, waivers = demo()
    doc = json.loads(_render(render_sarif, findings, run, waivers))
    errors = sorted(sarif_validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, errors[0]
    (sarif_run,) = doc["runs"]
    rules = sarif_run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == run["rules_evaluated"]
    for r in rules:
        assert r["help"]["text"] and "hipaa" in r["properties"]["tags"]
        assert any(t.startswith("HIPAA-164.") for t in r["properties"]["tags"])
    nonpass = [f for f in findings if f.outcome is not Outcome.PASS]
    assert len(sarif_run["results"]) == len(nonpass)
    for res, f in zip(sarif_run["results"], nonpass, strict=True):
        assert res["ruleId"] == f.rule_id
        assert rules[res["ruleIndex"]]["id"] == f.rule_id
        assert res["partialFingerprints"][FINGERPRINT_KEY] == fingerprint(f.rule_id, f.asset)
        loc = res["locations"][0]
        assert loc["logicalLocations"][0]["fullyQualifiedName"] == f.asset
        file, _, line = (f.source or "").rpartition(":")
        uri = loc["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == ("file://" + file if file.startswith("/") else file)
        assert loc["physicalLocation"]["region"]["startLine"] == int(line)
        if f.outcome is Outcome.FAIL:
            assert res["level"] == {"critical": "error", "high": "error",
                                    "medium": "warning", "low": "note"}[f.severity]
        if f.outcome is Outcome.WAIVED:
            assert res["suppressions"][0]["status"] == "accepted"


def test_sarif_plan_source_gives_file_and_address(
        sarif_validator: jsonschema.Draft7Validator) -> None:
    """A plan finding (source FILE#ADDRESS) points at the plan file, with the resource address
    as a logical location; hostile text stays valid JSON and SARIF."""
    rule = pack().by_id()["TLS-002"]
    f = Finding(rule_id=rule.id, asset="//compute.googleapis.com/projects/p/global/"
                "targetHttpsProxies/web", asset_type="compute.googleapis.com/TargetHttpsProxy",
                outcome=Outcome.FAIL, severity="high", controls=rule.controls, message=XSS,
                source="plans/prod plan.json#module.lb.google_compute_target_https_proxy.web")
    doc = json.loads(_render(render_sarif, [f, *_hostile()]))
    assert not list(sarif_validator.iter_errors(doc))
    loc = doc["runs"][0]["results"][0]["locations"][0]
    assert loc["physicalLocation"] == {"artifactLocation": {"uri": "plans/prod%20plan.json"}}
    assert [ll["fullyQualifiedName"] for ll in loc["logicalLocations"]] == [
        f.asset, "module.lb.google_compute_target_https_proxy.web"]


def test_fingerprint_is_stable_across_spellings_and_distinct_across_rules() -> None:
    """The fingerprint ignores host case and stray slashes, and differs by rule and asset."""
    a = "//compute.googleapis.com/projects/p/global/firewalls/x"
    assert fingerprint("NET-001", a) == fingerprint("NET-001", " //Compute.googleapis.com/"
                                                    "projects/p//global/firewalls/x/")
    assert fingerprint("NET-001", a) != fingerprint("NET-002", a)
    assert fingerprint("NET-001", a) != fingerprint("NET-001", a + "y")
    assert parse_source("a.ndjson:12").line == 12
    assert parse_source("p.json#google_x.y").address == "google_x.y"


def test_junit_has_a_suite_per_rule_and_failures_with_messages() -> None:
    """One testsuite per rule, one testcase per asset; failures carry the message, UNKNOWN is
    an error and WAIVED is skipped; suite counts add up."""
    run, findings, waivers = demo()
    root = ET.fromstring(_render(render_junit, findings, run, waivers))
    suites = root.findall("testsuite")
    assert sorted(s.get("name") for s in suites) == sorted({f.rule_id for f in findings})
    assert int(root.get("tests", "0")) == len(findings)
    assert int(root.get("failures", "0")) == sum(f.outcome is Outcome.FAIL for f in findings)
    assert int(root.get("skipped", "0")) == sum(f.outcome is Outcome.WAIVED for f in findings)
    fails = {(c.get("classname"), c.get("name")): c.find("failure")
             for s in suites for c in s.findall("testcase") if c.find("failure") is not None}
    for f in findings:
        if f.outcome is Outcome.FAIL:
            failure = fails[(f"phiguard.{f.rule_id}", f.asset)]
            assert failure.get("message") == f.message and f.asset in (failure.text or "")
    odd = Finding(rule_id="NET-001", asset="bad\x00char", asset_type="t",
                  outcome=Outcome.UNKNOWN, severity="high", controls=(), message="\x1b[31m")
    ET.fromstring(_render(render_junit, [*_hostile(), odd]))  # still well-formed XML


def test_csv_has_one_row_per_result_with_remediation() -> None:
    """Every finding is one CSV row with the rule title and remediation; formula-like cells
    are neutralized."""
    run, findings, waivers = demo()
    rows = list(csv.DictReader(io.StringIO(_render(render_csv, findings, run, waivers))))
    assert len(rows) == len(findings) and tuple(rows[0]) == COLUMNS
    rules = pack().by_id()
    for row, f in zip(rows, findings, strict=True):
        assert (row["rule_id"], row["asset"], row["outcome"]) == (f.rule_id, f.asset,
                                                                  f.outcome.value)
        assert row["remediation"] and row["rule_title"] == rules[f.rule_id].title
    evil = Finding(rule_id="NET-001", asset="=HYPERLINK(\"http://x\")", asset_type="t",
                   outcome=Outcome.FAIL, severity="high", controls=(), message="+1")
    (row,) = csv.DictReader(io.StringIO(_render(render_csv, [evil])))
    assert row["asset"].startswith("'=") and row["message"] == "'+1"


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("data.metadata.items", [{"key": "startup-script", "value": "export PW=hunter2"},
                             {"key": "enable-oslogin", "value": "TRUE"}],
     [{"key": "startup-script", "value": REDACTED}, {"key": "enable-oslogin", "value": "TRUE"}]),
    ("data.metadata.items[3].value", "ssh-rsa AAAA", REDACTED),
    ("data.config.nodeConfig.metadata", {"disable-legacy-endpoints": "true", "x": "s3cr3t"},
     {"disable-legacy-endpoints": "true", "x": REDACTED}),
    ("data.template.containers[0].env", [{"name": "DB_URL", "value": "postgres://u:p@h"}],
     [{"name": "DB_URL", "value": REDACTED}]),
    ("data.settings", {"rootPassword": "pw", "tier": "db-f1"},
     {"rootPassword": REDACTED, "tier": "db-f1"}),
    ("data.privateKeyData", "MIIE...", REDACTED),
    ("data.apiToken", "abc", REDACTED),
    ("data.clientSecret", "abc", REDACTED),
    ("data.encryption.defaultKmsKeyName", "projects/p/keys/k", "projects/p/keys/k"),
    ("data.keyAlgorithm", "KEY_ALG_RSA_2048", "KEY_ALG_RSA_2048"),
    ("data.metadata.items", None, None),
])
def test_redaction_of_secret_bearing_values(path: str, value: Any, expected: Any) -> None:
    """Metadata and environment values and fields named like secrets are redacted; key names,
    Google metadata switches and KMS key names stay visible."""
    assert redact(path, value) == expected


def test_redacted_values_appear_in_no_report() -> None:
    """A secret in instance metadata shows in none of HTML, Markdown, CSV, SARIF or JUnit."""
    rule = pack().by_id()["MFA-006"]
    f = Finding(rule_id=rule.id, asset="//compute.googleapis.com/projects/p/zones/z/instances/v",
                asset_type="compute.googleapis.com/Instance", outcome=Outcome.FAIL,
                severity=rule.severity, controls=rule.controls, message="m",
                evidence=(("data.metadata.items", [{"key": "startup-script",
                                                    "value": "PASSWORD=hunter2"}]),))
    for fn in (render_html, render_markdown, render_csv, render_sarif, render_junit):
        text = _render(fn, [f])
        assert "hunter2" not in text, fn.__name__
        assert "startup" in text, fn.__name__
