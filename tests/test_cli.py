"""The command line as a user runs it: exit codes, formats, determinism, errors."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phiguard import __version__
from phiguard.cli import main

ORG = "organizations/123456789012"
PROJECT_NUMBER = "111111111111"


def _project() -> dict[str, Any]:
    return {
        "name": f"//cloudresourcemanager.googleapis.com/projects/{PROJECT_NUMBER}",
        "asset_type": "cloudresourcemanager.googleapis.com/Project",
        "resource": {"version": "v1", "data": {"projectNumber": PROJECT_NUMBER,
                                               "projectId": "phi-prod",
                                               "lifecycleState": "ACTIVE",
                                               "labels": {"data-classification": "phi"}}},
        "ancestors": [f"projects/{PROJECT_NUMBER}", "folders/222", ORG],
        "update_time": "2026-11-25T05:00:00Z",
    }


def _firewall(name: str, source: str, ports: list[str]) -> dict[str, Any]:
    link = f"https://www.googleapis.com/compute/v1/projects/phi-prod/global/firewalls/{name}"
    return {
        "name": f"//compute.googleapis.com/projects/phi-prod/global/firewalls/{name}",
        "asset_type": "compute.googleapis.com/Firewall",
        "resource": {"version": "v1", "discovery_name": "Firewall", "location": "global",
                     "data": {"name": name, "selfLink": link, "direction": "INGRESS",
                              "network": "https://www.googleapis.com/compute/v1/projects/phi-prod/global/networks/phi-vpc",
                              "sourceRanges": [source], "disabled": False,
                              "allowed": [{"IPProtocol": "tcp", "ports": ports}],
                              "targetTags": ["web"]}},
        "ancestors": [f"projects/{PROJECT_NUMBER}", "folders/222", ORG],
        "update_time": "2026-11-24T12:00:00Z",
    }


@pytest.fixture()
def snapshot(tmp_path: Path) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir()
    records = [_project(), _firewall("allow-ssh-world", "0.0.0.0/0", ["22"]),
               _firewall("allow-https-lb", "130.211.0.0/22", ["443"])]
    (snap / "resources.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))
    return snap


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "phiguard.yaml"
    path.write_text('organization: "123456789012"\nphi:\n  projects: [phi-prod]\n')
    return path


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_version() -> None:
    """--version prints the package version."""
    result = _invoke("--version")
    assert result.exit_code == 0
    assert __version__ in result.output


def test_scan_exits_1_on_failures_and_reports_them(snapshot: Path, config: Path) -> None:
    """An SSH port open to the internet fails NET-001, and the scan exits 1."""
    result = _invoke("scan", str(snapshot), "--config", str(config))
    assert result.exit_code == 1, result.output
    assert "NET-001" in result.output
    assert "allow-ssh-world" in result.output


def test_fail_on_threshold(snapshot: Path, config: Path, tmp_path: Path) -> None:
    """--fail-on above every failing severity exits 0; --fail-on none never fails."""
    out = tmp_path / "f.json"
    _invoke("scan", str(snapshot), "--config", str(config), "-f", "json", "-o", str(out))
    doc = json.loads(out.read_text())
    failing = {r["severity"] for r in doc["results"] if r["outcome"] == "FAIL"}
    assert failing
    assert _invoke("scan", str(snapshot), "-c", str(config), "--fail-on", "none").exit_code == 0
    if "critical" not in failing:
        assert _invoke("scan", str(snapshot), "-c", str(config),
                       "--fail-on", "critical").exit_code == 0


def test_json_contract_and_determinism(snapshot: Path, config: Path, tmp_path: Path) -> None:
    """JSON output follows findings v1 and is byte-identical across runs and --jobs values."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    first = _invoke("scan", str(snapshot), "-c", str(config), "-f", "json", "-o", str(a))
    assert first.exit_code == 1
    assert _invoke("scan", str(snapshot), "-c", str(config), "-f", "json", "-o", str(b),
                   "--jobs", "2").exit_code == 1
    assert a.read_bytes() == b.read_bytes()
    doc = json.loads(a.read_text())
    assert doc["schema"] == "phiguard.findings/v1"
    run = doc["run"]
    assert run["snapshot_time"] == "2026-11-25T05:00:00Z"  # latest update_time, no manifest
    assert run["rule_pack_digest"].startswith("sha256:")
    assert [i["path"] for i in run["inputs"]] == [str(snapshot / "resources.ndjson")]
    assert len(run["inputs"][0]["sha256"]) == 64
    keys = {"rule_id", "asset", "asset_type", "outcome", "severity", "controls", "message",
            "evidence", "waiver"}
    assert all(keys <= set(r) for r in doc["results"])
    by = {(r["rule_id"], r["asset"].rsplit("/", 1)[-1]): r for r in doc["results"]}
    assert by[("NET-001", "allow-ssh-world")]["outcome"] == "FAIL"
    assert by[("NET-001", "allow-https-lb")]["outcome"] == "PASS"
    assert any(e["path"].startswith("data.sourceRanges")
               for e in by[("NET-001", "allow-ssh-world")]["evidence"])
    assert doc["summary"]["outcomes"]["FAIL"] == sum(r["outcome"] == "FAIL" for r in doc["results"])


def test_at_overrides_evaluation_time(snapshot: Path, config: Path, tmp_path: Path) -> None:
    """--at sets the evaluation time recorded in the run."""
    out = tmp_path / "f.json"
    _invoke("scan", str(snapshot), "-c", str(config), "-f", "json", "-o", str(out),
            "--at", "2027-01-01T00:00:00Z")
    assert json.loads(out.read_text())["run"]["evaluated_at"] == "2027-01-01T00:00:00Z"
    bad = _invoke("scan", str(snapshot), "--at", "yesterday")
    assert bad.exit_code == 2


def test_waiver_turns_fail_into_waived(snapshot: Path, tmp_path: Path) -> None:
    """An unexpired waiver makes the finding WAIVED; an unused one is reported as unused."""
    cfg = tmp_path / "w.yaml"
    cfg.write_text(
        'organization: "123456789012"\nphi: {projects: [phi-prod]}\nwaivers:\n'
        "  - rule: NET-001\n"
        "    asset: //compute.googleapis.com/projects/phi-prod/global/firewalls/allow-ssh-world\n"
        "    reason: bastion behind IAP\n    approved_by: security@example.com\n"
        "    expires: 2027-01-31\n"
        "  - rule: NET-002\n    asset: //nothing\n    reason: r\n    approved_by: a@b.c\n"
        "    expires: 2027-01-31\n")
    out = tmp_path / "f.json"
    _invoke("scan", str(snapshot), "-c", str(cfg), "-f", "json", "-o", str(out))
    doc = json.loads(out.read_text())
    waived = [r for r in doc["results"] if r["outcome"] == "WAIVED"]
    assert [(r["rule_id"], r["waiver"]["status"]) for r in waived] == [("NET-001", "active")]
    assert [w["status"] for w in doc["waivers"]] == ["active", "unused"]
    expired = _invoke("scan", str(snapshot), "-c", str(cfg), "--at", "2027-02-01")
    assert "EXPIRED" in expired.output


def test_bad_input_exit_2_without_traceback(tmp_path: Path) -> None:
    """A truncated record exits 2 naming the file and line, with no traceback."""
    bad = tmp_path / "export.ndjson"
    good = json.dumps(_project())
    bad.write_text(good + "\n" + good[: len(good) // 2] + "\n")
    proc = subprocess.run([sys.executable, "-m", "phiguard.cli", "scan", str(bad)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert f"{bad}:2" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_snapshot_and_bad_config(tmp_path: Path, snapshot: Path) -> None:
    """A missing path and an unknown config key both exit 2 with the place named."""
    missing = _invoke("scan", str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    cfg = tmp_path / "c.yaml"
    cfg.write_text("organization: '1'\nphi:\n  project: [x]\n")
    result = _invoke("scan", str(snapshot), "-c", str(cfg))
    assert result.exit_code == 2
    assert f"{cfg}:3:3" in result.output


def test_gzip_snapshot_matches_plain(snapshot: Path, config: Path, tmp_path: Path) -> None:
    """A gzip export gives the same results as the plain file."""
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    raw = (snapshot / "resources.ndjson").read_bytes()
    (gz_dir / "resources.ndjson.gz").write_bytes(gzip.compress(raw))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    _invoke("scan", str(snapshot), "-c", str(config), "-f", "json", "-o", str(a))
    _invoke("scan", str(gz_dir), "-c", str(config), "-f", "json", "-o", str(b))
    strip = lambda d: [(r["rule_id"], r["asset"], r["outcome"]) for r in d["results"]]  # noqa: E731
    assert strip(json.loads(a.read_text())) == strip(json.loads(b.read_text()))


def test_failed_run_leaves_no_output_file(tmp_path: Path) -> None:
    """An input error leaves no partial --output behind."""
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"name": "//x", "asset_type": 3, "resource": {}}\n')
    out = tmp_path / "out.json"
    result = _invoke("scan", str(bad), "-f", "json", "-o", str(out))
    assert result.exit_code == 2
    assert not out.exists()
    assert not list(tmp_path.glob(".out.json.*"))


def test_output_file_is_readable_by_others(snapshot: Path, config: Path, tmp_path: Path) -> None:
    """--output files get the usual permissions (umask), not the temp file's owner-only mode."""
    import os

    out = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        _invoke("scan", str(snapshot), "-c", str(config), "-f", "json", "-o", str(out))
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_rules_list_show_test() -> None:
    """rules list/show/test work on the bundled pack."""
    listed = _invoke("rules", "list", "--format", "json")
    assert listed.exit_code == 0
    ids = [r["id"] for r in json.loads(listed.output)["rules"]]
    assert "TLS-002" in ids and len(ids) >= 40
    shown = _invoke("rules", "show", "tls-002")
    assert shown.exit_code == 0 and "164.312(e)(1)" in shown.output
    assert _invoke("rules", "show", "NOPE-999").exit_code == 2
    tested = _invoke("rules", "test")
    assert tested.exit_code == 0, tested.output
    assert " 0 failed" in tested.output


def test_rules_test_reports_a_wrong_example(tmp_path: Path, rules_dir: Path) -> None:
    """rules test exits 1 when an example gives another outcome than its folder says."""
    import shutil

    pack = tmp_path / "pack" / "hipaa"
    shutil.copytree(rules_dir / "hipaa" / "NET-001", pack / "NET-001")
    shutil.copytree(rules_dir / "controls", tmp_path / "pack" / "controls")
    fail_example = sorted((pack / "NET-001" / "fail").glob("*.json"))[0]
    shutil.copy(fail_example, pack / "NET-001" / "pass" / "moved.json")
    result = _invoke("rules", "test", str(tmp_path / "pack"))
    assert result.exit_code == 1
    assert "expected PASS, got FAIL" in result.output


def test_help_does_not_import_google_libraries() -> None:
    """`phiguard --help` stays light: no Google client library is imported."""
    # Modules present before phiguard is imported do not count: an installed namespace
    # package's .pth (google-cloud-aiplatform's, with the beam extra) creates the empty
    # `google` and `google.cloud` namespaces at interpreter start.
    code = ("import sys\nbefore = set(sys.modules)\nfrom phiguard.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m not in before and m.startswith(("
            "'google', 'grpc', 'rich', 'orjson', 'yaml'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_scan_without_config_treats_everything_as_phi(snapshot: Path, tmp_path: Path) -> None:
    """Without --config the whole inventory is PHI scope (no silent pass for want of a scope),
    and the user is told so after the run, not before an error."""
    out = tmp_path / "f.json"
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-f", "json", "-o", str(out)])
    assert result.exit_code == 1
    assert json.loads(out.read_text())["run"]["config"]["phi"]["all"] is True
    assert "every resource is treated as holding PHI" in result.stderr
    bad = tmp_path / "bad.ndjson"
    bad.write_text("{\n")
    failed = CliRunner().invoke(main, ["scan", str(bad)])
    assert failed.exit_code == 2
    assert "treated as holding PHI" not in failed.stderr


def test_usage_errors_use_the_phiguard_error_form() -> None:
    """A bad option value or unknown command exits 2 with `phiguard: error:` like every other
    error, after the usage line; --version and --help still exit 0."""
    bad = subprocess.run([sys.executable, "-m", "phiguard.cli", "scan", "x", "--fail-on", "bogus"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "phiguard: error: Invalid value for '--fail-on'" in bad.stderr
    assert "Traceback" not in bad.stderr
    unknown = subprocess.run([sys.executable, "-m", "phiguard.cli", "nosuch"],
                             capture_output=True, text=True, check=False)
    assert unknown.returncode == 2 and "phiguard: error: No such command" in unknown.stderr
    for flag in ("--version", "--help"):
        ok = subprocess.run([sys.executable, "-m", "phiguard.cli", flag], capture_output=True,
                            text=True, check=False)
        assert ok.returncode == 0 and ok.stdout


def test_one_scan_writes_several_formats_as_separate_scans_would(snapshot: Path, config: Path,
                                                                 tmp_path: Path) -> None:
    """--format json --format sarif --format markdown --format text --output-dir DIR: the
    bytes of four separate scans, one evaluation; --output FORMAT=PATH alike."""
    formats = {"json": "phiguard.json", "sarif": "phiguard.sarif", "markdown": "phiguard.md",
               "text": "phiguard.txt", "html": "phiguard.html", "csv": "phiguard.csv",
               "junit": "phiguard.xml"}
    base = [str(snapshot), "-c", str(config), "--no-color"]
    want = {}
    for fmt in formats:
        target = tmp_path / f"alone.{fmt}"
        assert _invoke("scan", *base, "-f", fmt, "-o", str(target)).exit_code == 1
        want[fmt] = target.read_bytes()
    out = tmp_path / "all"
    result = _invoke("scan", *base, *(x for f in formats for x in ("-f", f)),
                     "--output-dir", str(out))
    assert result.exit_code == 1, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(formats.values())
    for fmt, name in formats.items():
        assert (out / name).read_bytes() == want[fmt], fmt
    pairs = [x for f in ("sarif", "json") for x in ("-o", f"{f}={tmp_path / ('pair.' + f)}")]
    bundle = tmp_path / "bundle"
    result = _invoke("scan", *base, *pairs, "--bundle", str(bundle))
    assert result.exit_code == 1, result.output
    assert (tmp_path / "pair.sarif").read_bytes() == want["sarif"]
    assert (tmp_path / "pair.json").read_bytes() == want["json"]
    assert (bundle / "manifest.json").is_file()


def test_several_formats_need_somewhere_to_go(snapshot: Path, config: Path,
                                              tmp_path: Path) -> None:
    result = _invoke("scan", str(snapshot), "-c", str(config), "-f", "json", "-f", "sarif")
    assert result.exit_code == 2
    assert "only one format can go to standard output" in result.output
    inside = _invoke("scan", str(snapshot), "-c", str(config), "-f", "json",
                     "--output-dir", str(snapshot / "reports"))
    assert inside.exit_code == 2 and "inside the input directory" in inside.output
    assert not (snapshot / "reports").exists()
