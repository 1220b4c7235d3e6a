"""A rule's own asset types missing from the export: a raw export (no manifest saying what was
exported) that holds no compute.googleapis.com/FirewallPolicy leaves NET-009 and NET-010 with
nothing to judge, which is not "no firewall policy exists". The run says so in its own field
(`run.subject_types_missing`), on stderr and in every report's reasons, and a control with such
a rule is UNKNOWN, not a clean PASS (nor NO DATA), unless one of its results fails. An export
that says it exported every type (phiguard collect's `asset_types_requested`, or a manifest
source recording a `gcloud asset export` of RESOURCE content without `--asset-types`, which
Google documents as "all asset types") says nothing: none exist. A manifest's per-type counts
say those types were collected, not that others were sought. Pre-v1 type names
(`google.compute.Firewall`, 2018 exports) are judged by no rule: the run names them with their
counts (`run.pre_v1_asset_types`). Both engines give the same run block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _partial import partial_demo
from _paths import DEMO, RULES
from phiguard.cli import main
from phiguard.inventory.coverage import run_coverage, types_from_manifest
from phiguard.policy.rule import load_pack
from phiguard.report._common import control_status, run_reasons
from phiguard.report.framework import unassessed_controls

AT = "2026-11-25T00:00:00Z"
POLICY = "compute.googleapis.com/FirewallPolicy"
ALLOYDB = "alloydb.googleapis.com/Cluster"
REALDATA = Path(__file__).parent / "realdata" / "professional-services" / "resource.json"
FORMATS = {"json": "json", "text": "txt", "markdown": "md", "html": "html", "sarif": "sarif",
           "junit": "xml", "csv": "csv"}


def _scan(snapshot: Path, out: Path, *extra: str) -> tuple[dict[str, Any], str]:
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(DEMO / "phiguard.yaml"),
                                       "--at", AT, "-f", "json", "-o", str(out), *extra],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return json.loads(out.read_text()), result.stderr


def _missing(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {m["asset_type"]: m["rules"] for m in doc["run"].get("subject_types_missing", ())}


def test_a_raw_export_names_the_rules_its_missing_types_leave_unassessed(tmp_path: Path) -> None:
    snap = partial_demo(tmp_path, {ALLOYDB})  # no manifest: a raw export
    doc, stderr = _scan(snap, tmp_path / "f.json")
    missing = _missing(doc)
    assert missing[POLICY] == ["NET-009", "NET-010"]
    assert missing[ALLOYDB] == ["ENC-014"]
    # types the export holds are not named
    assert "compute.googleapis.com/Firewall" not in missing
    assert not [r for r in doc["results"] if r["rule_id"] in ("NET-009", "NET-010", "ENC-014")]
    # said before the results, with the rules
    assert f"{POLICY} (NET-009, NET-010)" in stderr and "assessed none" in stderr
    # not the asset_types_missing field (types rules look for with find/referrers): no rule
    # looks for AlloyDB clusters, ENC-014 judges them
    assert ALLOYDB not in {m["asset_type"] for m in doc["run"].get("asset_types_missing", ())}


def test_an_export_of_every_type_says_nothing(tmp_path: Path) -> None:
    snap = partial_demo(tmp_path, {ALLOYDB}, manifest={"asset_types_requested": {
        "RESOURCE": "*", "IAM_POLICY": "*", "ORG_POLICY": "*", "ACCESS_POLICY": "*"}})
    doc, stderr = _scan(snap, tmp_path / "f.json")
    assert "subject_types_missing" not in doc["run"]
    assert POLICY not in stderr


def test_the_demo_manifest_records_an_export_of_every_type(tmp_path: Path) -> None:
    # its RESOURCE source's command is `gcloud asset export --content-type=resource` without
    # --asset-types: every type was exported, so no firewall policy means none exist
    doc, stderr = _scan(DEMO, tmp_path / "f.json")
    assert "subject_types_missing" not in doc["run"]
    assert "pre_v1_asset_types" not in doc["run"]
    assert POLICY not in stderr


def test_counts_alone_say_only_the_counted_types_were_collected(tmp_path: Path) -> None:
    manifest = json.loads((DEMO / "manifest.json").read_text())
    del manifest["sources"]
    snap = partial_demo(tmp_path, set(), manifest=manifest)
    doc, _ = _scan(snap, tmp_path / "f.json")
    missing = _missing(doc)
    assert missing[POLICY] == ["NET-009", "NET-010"]
    assert set(missing).isdisjoint(manifest["asset_types"])


@pytest.mark.parametrize(("command", "want"), [
    ("gcloud asset export --organization=1 --content-type=resource --output-path=gs://b/o",
     {"*"}),
    ("gcloud asset export --project=p --asset-types='compute.googleapis.com/Disk,"
     "compute.googleapis.com.*' --content-type='resource' --output-path=gs://b/o",
     {"compute.googleapis.com/Disk"}),
    # another content type, or none (names only), exports no RESOURCE content
    ("gcloud asset export --organization=1 --content-type=iam-policy --output-path=gs://b/o",
     set()),
    ("gcloud asset export --organization=1 --output-path=gs://b/o", set()),
    ("Admin SDK Directory API users.list?customer=my_customer", set()),
])
def test_a_recorded_gcloud_export_says_which_types(command: str, want: set[str]) -> None:
    assert types_from_manifest({"sources": [{"content_type": "RESOURCE",
                                             "command": command}]}) == want
    # a source that failed says nothing was collected
    assert types_from_manifest({"sources": [{"content_type": "RESOURCE", "command": command,
                                             "error": "403"}]}) == set()


def test_directory_users_are_named_when_every_cai_type_was_exported() -> None:
    rules = load_pack([RULES]).rules
    fields = run_coverage(rules, {"asset_types_requested": {"RESOURCE": "*"}},
                          {"compute.googleapis.com/Instance": 3})
    assert fields == {"subject_types_missing": [
        {"asset_type": "admin.googleapis.com/User", "rules": ["MFA-001", "MFA-002", "MFA-003"]}]}
    assert run_coverage(rules, {"asset_types_requested": {"RESOURCE": "*"}},
                        {"admin.googleapis.com/User": 2}) == {}


def test_pre_v1_type_names_are_named_with_their_counts(tmp_path: Path) -> None:
    doc, stderr = _scan(REALDATA, tmp_path / "f.json")
    assert doc["run"]["pre_v1_asset_types"] == [
        {"asset_type": "google.compute.Firewall", "assets": 1},
        {"asset_type": "google.compute.Instance", "assets": 1}]
    assert "google.compute.Firewall (1 asset)" in stderr and "judged by no rule" in stderr
    texts = [r.text for r in run_reasons(doc["run"]) if r.field == "pre_v1_asset_types"]
    assert len(texts) == 2 and "judged by no rule" in texts[0]


def test_every_report_says_which_rules_were_not_assessed(tmp_path: Path) -> None:
    snap = partial_demo(tmp_path, set())
    args = ["scan", str(snap), "-c", str(DEMO / "phiguard.yaml"), "--at", AT,
            "--output-dir", str(tmp_path / "out")]
    for fmt in FORMATS:
        args += ["-f", fmt]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    for fmt, ext in FORMATS.items():
        text = (tmp_path / "out" / f"phiguard.{ext}").read_text()
        assert "NET-009, NET-010 assessed none" in text or fmt == "json", fmt
    html = (tmp_path / "out" / "phiguard.html").read_text()
    assert 'id="subject-types-missing"' in html and 'data-unassessed="' + POLICY in html
    csv_text = (tmp_path / "out" / "phiguard.csv").read_text()
    assert "run.subject_types_missing" in csv_text


def test_a_control_with_an_unassessed_rule_is_not_a_clean_pass() -> None:
    assert control_status({"PASS": 3}) == "PASS"
    assert control_status({"PASS": 3}, unassessed=True) == "UNKNOWN"
    assert control_status({}, unassessed=True) == "UNKNOWN"
    assert control_status({}) == "NO DATA"
    assert control_status({"PASS": 3, "FAIL": 1}, unassessed=True) == "FAIL"
    view = load_pack([RULES]).for_framework("hipaa")
    run = {"subject_types_missing": [{"asset_type": POLICY, "rules": ["NET-009", "NET-010"]}]}
    assert unassessed_controls(view, run) == {"hipaa/164.312(a)(1)", "hipaa/164.312(e)(1)",
                                              "hipaa/164.308(a)(1)(ii)(B)"}


def test_reports_show_the_control_unknown_not_a_clean_pass(tmp_path: Path) -> None:
    # 164.316(b)(2)(i) has LOG-003 alone (retention of log buckets and Cloud Storage buckets):
    # PASS on the demo; on a raw export without the log buckets LOG-003 still PASSes its one
    # Cloud Storage bucket but judged no log bucket, so the control is UNKNOWN in the text
    # matrix and the HTML report, its counts unchanged but for that
    control = "hipaa/164.316(b)(2)(i)"
    out = tmp_path / "out"
    (tmp_path / "raw").mkdir()
    raw_snap = partial_demo(tmp_path / "raw", {"logging.googleapis.com/LogBucket"})
    for name, snap in (("demo", DEMO), ("raw", raw_snap)):
        (out / name).mkdir(parents=True)
        result = CliRunner().invoke(main, [
            "scan", str(snap), "-c", str(DEMO / "phiguard.yaml"), "--at", AT,
            "--output-dir", str(out / name), "-f", "html", "-f", "text", "-f", "json",
            "-f", "markdown"],
            catch_exceptions=False, env={"COLUMNS": "200"})
        assert result.exit_code in (0, 1), result.output
    raw = json.loads((out / "raw" / "phiguard.json").read_text())
    assert _missing(raw)["logging.googleapis.com/LogBucket"] == ["ENC-012", "LOG-003"]
    assert [r["outcome"] for r in raw["results"] if r["rule_id"] == "LOG-003"] == ["PASS"]
    for name, want in (("demo", "PASS"), ("raw", "UNKNOWN")):
        text = (out / name / "phiguard.txt").read_text()
        (row,) = [line for line in text.splitlines() if "164.316(b)(2)(i) " in line]
        assert row.split("│")[-2].strip() == want, row
        html = (out / name / "phiguard.html").read_text()
        start = html.index(f'<tr data-control="{control}">')
        row = html[start:html.index("</tr>", start)]
        assert f">{want}</span>" in row and '"UNKNOWN">0<' in row, row
        markdown = (out / name / "phiguard.md").read_text()
        (row,) = [line for line in markdown.splitlines()
                  if line.startswith("| 164\\.316\\(b\\)\\(2\\)\\(i\\) |")]
        assert row.rstrip(" |").endswith(want), row
    html = (out / "raw" / "phiguard.html").read_text()
    assert 'data-unassessed="logging.googleapis.com/LogBucket"' in html


def test_both_engines_give_the_same_run_block(tmp_path: Path) -> None:
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    snap = partial_demo(tmp_path, {ALLOYDB})
    said: dict[str, bytes] = {}
    notes: dict[str, list[str]] = {}
    for name, engine, args in (
            ("local", "local", []),
            ("beam", "beam", ["--runner", "DirectRunner", "--direct_running_mode=in_memory"])):
        path = tmp_path / f"{name}.json"
        notes[name] = []
        run_scan([snap], config_path=DEMO / "phiguard.yaml",
                 outputs=[Output("json", str(path), "--output")],
                 at=parse_at(AT), engine=engine, pipeline_args=args,
                 notify=notes[name].append)
        said[name] = path.read_bytes()
    assert said["beam"] == said["local"]
    assert _missing(json.loads(said["local"]))[ALLOYDB] == ["ENC-014"]
    assert [n for n in notes["beam"] if "assessed none" in n] == [
        n for n in notes["local"] if "assessed none" in n] != []


def test_a_rules_own_type_is_not_among_the_types_it_looks_for() -> None:
    # NET-009/NET-010 find the organization's firewall policies while judging a firewall
    # policy: that type is held whenever the find runs, so a snapshot without any names it in
    # subject_types_missing only, not as a type looked for (asset_types_missing)
    from phiguard.inventory.coverage import types_sought

    rules = load_pack([RULES]).rules
    judged = {r.id: r for r in rules}
    # (NET-001 finds them too, with `uncollected: none`, judging a VPC firewall rule: without
    # them it gives no credit for an organization deny, so the type stays one it looks for)
    finds = [r.id for r in rules if any(
        isinstance(form, dict) and POLICY in ((form.get("find") or {}).get("types") or ())
        for form in r.let.values())]
    finds_own = [rid for rid in finds if POLICY in judged[rid].asset_types]
    sought = types_sought(rules)
    assert {"NET-009", "NET-010"} <= set(finds_own)
    assert sought.get(POLICY) == sorted(set(finds) - set(finds_own)) == ["NET-001"]
    assert sought["logging.googleapis.com/LogSink"]  # other types still counted


def test_both_engines_name_pre_v1_types(tmp_path: Path) -> None:
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    runs = {}
    for name, engine, args in (
            ("local", "local", []),
            ("beam", "beam", ["--runner", "DirectRunner", "--direct_running_mode=in_memory"])):
        path = tmp_path / f"{name}.json"
        run_scan([REALDATA], at=parse_at(AT), outputs=[Output("json", str(path), "--output")],
                 engine=engine, pipeline_args=args, notify=lambda _: None)
        runs[name] = json.loads(path.read_text())["run"]
    assert runs["beam"]["pre_v1_asset_types"] == runs["local"]["pre_v1_asset_types"] == [
        {"asset_type": "google.compute.Firewall", "assets": 1},
        {"asset_type": "google.compute.Instance", "assets": 1}]
    assert runs["beam"]["subject_types_missing"] == runs["local"]["subject_types_missing"]
