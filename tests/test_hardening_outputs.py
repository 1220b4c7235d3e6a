"""Outputs never destroy inputs, and a write that cannot happen is exit 2 with one line.

`--output` (and `--bundle`) naming an input, a file inside a snapshot directory or a hard or
symbolic link to an input is refused before anything is read; an output that is a directory,
a full device or an unwritable place is a usage error, never a traceback (exit 1 would read as
"failing findings" in CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import RULES
from phiguard.cli import main

ORG = "organizations/123456789012"


def _records() -> list[dict[str, Any]]:
    project = {
        "name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
        "asset_type": "cloudresourcemanager.googleapis.com/Project",
        "resource": {"version": "v1", "data": {"projectNumber": "111111111111",
                                               "projectId": "phi-prod",
                                               "lifecycleState": "ACTIVE"}},
        "ancestors": ["projects/111111111111", "folders/222", ORG],
        "update_time": "2026-11-25T05:00:00Z",
    }
    firewall = {
        "name": "//compute.googleapis.com/projects/phi-prod/global/firewalls/allow-ssh",
        "asset_type": "compute.googleapis.com/Firewall",
        "resource": {"version": "v1", "discovery_name": "Firewall", "location": "global",
                     "data": {"name": "allow-ssh", "direction": "INGRESS",
                              "network": "https://www.googleapis.com/compute/v1/projects/"
                                         "phi-prod/global/networks/phi-vpc",
                              "sourceRanges": ["0.0.0.0/0"], "disabled": False,
                              "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}},
        "ancestors": ["projects/111111111111", "folders/222", ORG],
        "update_time": "2026-11-24T12:00:00Z",
    }
    return [project, firewall]


@pytest.fixture()
def snapshot(tmp_path: Path) -> Path:
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "resources.ndjson").write_text("".join(json.dumps(r) + "\n" for r in _records()))
    return snap


@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "phiguard.yaml"
    path.write_text('organization: "123456789012"\nphi:\n  projects: [phi-prod]\n')
    return path


@pytest.fixture()
def findings(snapshot: Path, config: Path, tmp_path: Path) -> Path:
    out = tmp_path / "findings.json"
    result = _invoke("scan", str(snapshot), "-c", str(config), "-f", "json", "-o", str(out))
    assert result.exit_code == 1, result.output
    return out


def _invoke(*args: str, **kw: Any) -> Any:
    return CliRunner(**kw).invoke(main, list(args), catch_exceptions=False)


def _snapshot_bytes(paths: list[Path]) -> dict[Path, bytes]:
    out = {}
    for p in paths:
        for f in [p] if p.is_file() else sorted(p.rglob("*")):
            if f.is_file():
                out[f] = f.read_bytes()
    return out


def _refused(result: Any, before: dict[Path, bytes]) -> None:
    assert result.exit_code == 2, result.output
    assert "phiguard: error:" in result.output
    assert "is an input" in result.output or "inside the input" in result.output
    assert "Traceback" not in result.output
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} was changed"


# --- item 4: an output naming an input ---------------------------------------------------------


def test_scan_output_onto_a_snapshot_shard_is_refused(snapshot: Path, config: Path) -> None:
    """`scan snap/resources.ndjson -o snap/resources.ndjson` would replace the shard with a
    report: refused before reading, the shard unchanged."""
    shard = snapshot / "resources.ndjson"
    before = _snapshot_bytes([shard, config])
    _refused(_invoke("scan", str(shard), "-c", str(config), "-o", str(shard)), before)


def test_scan_output_inside_the_snapshot_directory_is_refused(snapshot: Path,
                                                              config: Path) -> None:
    """Any file inside a scanned snapshot directory, existing or new, is part of that input."""
    before = _snapshot_bytes([snapshot])
    for name in ("resources.ndjson", "report.html", "sub/x.json"):
        if name.startswith("sub/"):
            (snapshot / "sub").mkdir(exist_ok=True)
        _refused(_invoke("scan", str(snapshot), "-c", str(config), "-f", "html",
                         "-o", str(snapshot / name)), before)
    assert sorted(p.name for p in snapshot.iterdir()) == ["resources.ndjson", "sub"]


def test_scan_output_onto_the_config_is_refused(snapshot: Path, config: Path) -> None:
    """-o phiguard.yaml (also through ./ or a symlink or a hard link) is refused."""
    before = _snapshot_bytes([config])
    link = config.parent / "link.yaml"
    link.symlink_to(config)
    hard = config.parent / "hard.yaml"
    os.link(config, hard)
    for target in (config, config.parent / "." / config.name, link, hard):
        _refused(_invoke("scan", str(snapshot), "-c", str(config), "-o", str(target)),
                 before)


def test_scan_output_onto_a_rule_file_is_refused(snapshot: Path, config: Path,
                                                tmp_path: Path) -> None:
    """A rule file of a --rules directory is an input too."""
    rules = tmp_path / "rules"
    rule = RULES / "hipaa" / "NET-001"
    (rules / "NET-001").mkdir(parents=True)
    (rules / "NET-001" / "rule.yaml").write_bytes((rule / "rule.yaml").read_bytes())
    before = _snapshot_bytes([rules])
    _refused(_invoke("scan", str(snapshot), "-c", str(config), "--rules", str(rules),
                     "-o", str(rules / "NET-001" / "rule.yaml")), before)


def test_scan_bundle_inside_the_snapshot_is_refused(snapshot: Path, config: Path) -> None:
    """A bundle written into the scanned snapshot directory would become part of it."""
    before = _snapshot_bytes([snapshot])
    _refused(_invoke("scan", str(snapshot), "-c", str(config), "--bundle",
                     str(snapshot / "evidence")), before)
    assert not (snapshot / "evidence").exists()


def test_scan_output_inside_its_own_bundle_is_refused(snapshot: Path, config: Path,
                                                      tmp_path: Path) -> None:
    """-o inside --bundle would add a file the manifest does not list (verify: not intact)."""
    bundle = tmp_path / "ev"
    result = _invoke("scan", str(snapshot), "-c", str(config), "--bundle", str(bundle),
                     "-f", "html", "-o", str(bundle / "extra.html"))
    assert result.exit_code == 2, result.output
    assert "--bundle" in result.output and not bundle.exists()


def test_a_closed_pipe_is_quiet(snapshot: Path, config: Path) -> None:
    """`phiguard rules list | head -1`: the reader leaving is not an error worth a message."""
    proc = subprocess.Popen([sys.executable, "-m", "phiguard.cli", "rules", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_GCE_CHECK": "true"})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=60)
    assert code in (0, 141), err
    assert "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.parametrize("fmt", ["html", "sarif", "markdown", "csv", "junit"])
def test_report_onto_its_findings_file_is_refused(findings: Path, fmt: str) -> None:
    """`report findings.json -f html -o findings.json` would turn the findings into HTML."""
    before = _snapshot_bytes([findings])
    _refused(_invoke("report", str(findings), "-f", fmt, "-o", str(findings)), before)


def test_report_onto_a_journal_is_refused(findings: Path, tmp_path: Path) -> None:
    """A --journal file is an input of the report too."""
    journal = tmp_path / "journal.ndjson"
    journal.write_text("")
    before = _snapshot_bytes([findings, journal])
    _refused(_invoke("report", str(findings), "-f", "html", "--journal", str(journal),
                     "-o", str(journal)), before)


def test_plan_onto_its_plan_file_is_refused(tmp_path: Path) -> None:
    """`plan plan.json -f sarif -o plan.json` would replace the Terraform plan."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.9.0",
                                "planned_values": {"root_module": {}},
                                "resource_changes": [], "configuration": {}}))
    before = _snapshot_bytes([plan])
    _refused(_invoke("plan", str(plan), "-f", "sarif", "-o", str(plan)), before)


def test_plan_onto_its_baseline_is_refused(findings: Path, tmp_path: Path) -> None:
    """The --baseline findings file is an input of plan."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.9.0",
                                "planned_values": {"root_module": {}},
                                "resource_changes": [], "configuration": {}}))
    before = _snapshot_bytes([plan, findings])
    _refused(_invoke("plan", str(plan), "--baseline", str(findings), "-f", "json",
                     "-o", str(findings)), before)


@pytest.mark.parametrize("name", ["main.tf", "modules/db/main.tf", "vars.tf.json",
                                  "terraform.tfvars", ".terraform.lock.hcl"])
def test_plan_onto_a_terraform_file_under_tf_root_is_refused(tmp_path: Path, name: str) -> None:
    """`--tf-root DIR` is read: `-o DIR/main.tf` (or any Terraform file under it, even a new
    one) would replace or add configuration, and is refused before anything is read."""
    root = tmp_path / "infra"
    (root / "modules" / "db").mkdir(parents=True)
    for rel in ("main.tf", "modules/db/main.tf"):
        (root / rel).write_text('resource "google_storage_bucket" "b" {\n}\n')
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.9.0",
                                "planned_values": {"root_module": {}},
                                "resource_changes": [], "configuration": {}}))
    before = _snapshot_bytes([plan, root])
    target = root / name
    result = _invoke("plan", str(plan), "--tf-root", str(root), "-f", "sarif", "-o", str(target))
    assert result.exit_code == 2, result.output
    assert "Terraform file under --tf-root" in result.output, result.output
    assert "Traceback" not in result.output
    assert _snapshot_bytes([plan, root]) == before


def test_plan_onto_a_link_to_a_terraform_file_is_refused(tmp_path: Path) -> None:
    """A symbolic or hard link elsewhere to `DIR/main.tf` is that file."""
    root = tmp_path / "infra"
    root.mkdir()
    (root / "main.tf").write_text('resource "google_storage_bucket" "b" {\n}\n')
    (tmp_path / "soft.sarif").symlink_to(root / "main.tf")
    os.link(root / "main.tf", tmp_path / "hard.sarif")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.9.0",
                                "planned_values": {"root_module": {}},
                                "resource_changes": [], "configuration": {}}))
    before = (root / "main.tf").read_bytes()
    for link in ("soft.sarif", "hard.sarif"):
        result = _invoke("plan", str(plan), "--tf-root", str(root), "-f", "sarif", "-o",
                         str(tmp_path / link))
        assert result.exit_code == 2, result.output
        assert "Terraform file under --tf-root" in result.output, result.output
    assert (root / "main.tf").read_bytes() == before


def test_plan_report_beside_the_terraform_files_is_written(tmp_path: Path) -> None:
    """A report that is not a Terraform file may be written in the Terraform root (a CI job
    working in it writes `phiguard.sarif` there)."""
    root = tmp_path / "infra"
    root.mkdir()
    (root / "main.tf").write_text('resource "google_storage_bucket" "b" {\n}\n')
    plan = root / "plan.json"
    plan.write_text(json.dumps({"format_version": "1.2", "terraform_version": "1.9.0",
                                "planned_values": {"root_module": {}},
                                "resource_changes": [], "configuration": {}}))
    result = _invoke("plan", str(plan), "--tf-root", str(root), "-f", "sarif", "-o",
                     str(root / "phiguard.sarif"))
    assert result.exit_code == 0, result.output
    assert json.loads((root / "phiguard.sarif").read_text())["version"] == "2.1.0"


def test_fix_plan_onto_its_findings_is_refused(findings: Path) -> None:
    """`fix plan findings.json -o findings.json` is refused before any API is called."""
    before = _snapshot_bytes([findings])
    _refused(_invoke("fix", "plan", str(findings), "-o", str(findings)), before)


def test_audit_output_onto_its_config_is_refused(config: Path, tmp_path: Path) -> None:
    """audit refuses before collecting (no credentials or endpoint are even needed)."""
    before = _snapshot_bytes([config])
    store = tmp_path / "h.db"
    _refused(_invoke("audit", "--org", "123456789012", "--config", str(config),
                     "--store", str(store), "--output", str(config)), before)
    assert not store.exists()


def test_an_output_beside_the_inputs_is_still_written(snapshot: Path, config: Path,
                                                      tmp_path: Path) -> None:
    """The guard refuses only inputs: a new file next to them is written as before."""
    out = tmp_path / "report.html"
    result = _invoke("scan", str(snapshot), "-c", str(config), "-f", "html", "-o", str(out))
    assert result.exit_code == 1
    assert out.read_text().startswith("<!DOCTYPE html>")


# --- item 8: outputs that cannot be written ------------------------------------------------


def _no_traceback(result: Any) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "phiguard: error:" in result.output


def test_output_to_a_directory_is_exit_2(snapshot: Path, config: Path, tmp_path: Path) -> None:
    """-o DIR names the directory and says a file is expected."""
    target = tmp_path / "outdir"
    target.mkdir()
    for fmt in ("text", "json", "html"):
        result = _invoke("scan", str(snapshot), "-c", str(config), "-f", fmt,
                         "-o", str(target))
        _no_traceback(result)
        assert str(target) in result.output and "directory" in result.output


def test_output_to_dev_full_is_exit_2(snapshot: Path, config: Path) -> None:
    """A full device is a write error naming the output, not a traceback."""
    for fmt in ("text", "json", "html"):
        result = _invoke("scan", str(snapshot), "-c", str(config), "-f", fmt, "-o", "/dev/full")
        _no_traceback(result)
        assert "/dev/full" in result.output


def test_output_to_an_unwritable_place_is_exit_2(snapshot: Path, config: Path) -> None:
    """A directory nobody may create files in (procfs; root included) is exit 2."""
    result = _invoke("scan", str(snapshot), "-c", str(config), "-o", "/proc/phiguard-out.txt")
    _no_traceback(result)
    assert "/proc/phiguard-out.txt" in result.output


def _cli(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phiguard.cli", *args], stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120,
                          env={**os.environ, "NO_GCE_CHECK": "true"})


def test_rules_list_to_a_full_stdout_is_exit_2() -> None:
    """`phiguard rules list > /dev/full`: one error line, exit 2, nothing else on stderr."""
    with open("/dev/full", "w") as full:
        proc = _cli("rules", "list", stdout=full)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.stderr.startswith("phiguard: error:")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_audit_output_to_a_directory_is_exit_2_before_collecting(config: Path,
                                                                 tmp_path: Path) -> None:
    """audit checks --output before the long part: no store is created."""
    target = tmp_path / "outdir"
    target.mkdir()
    store = tmp_path / "h.db"
    result = _invoke("audit", "--org", "123456789012", "--config", str(config),
                     "--store", str(store), "--output", str(target))
    _no_traceback(result)
    assert not store.exists()


# --- item 8: the catch-all ------------------------------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected failure")


def test_an_unexpected_exception_is_exit_2_with_one_line(snapshot: Path, config: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug (any exception phiguard did not raise on purpose) ends as exit 2 with one line
    naming it and --debug, never exit 1 (which CI reads as failing findings)."""
    monkeypatch.setattr("phiguard.scan.Scan.run_info", _boom)
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    # Notes and warnings about the input may come first; the error is one line.
    lines = [line for line in result.output.splitlines() if line.startswith("phiguard: error:")]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("phiguard: error: internal error: RuntimeError: injected failure")
    assert "--debug" in lines[0]


def test_debug_shows_the_traceback_and_still_exits_2(snapshot: Path, config: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """--debug adds the traceback; the exit code stays 2."""
    monkeypatch.setattr("phiguard.scan.Scan.run_info", _boom)
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(config), "--debug"])
    assert result.exit_code == 2
    assert "Traceback" in result.output and "injected failure" in result.output


def test_an_unexpected_exception_in_a_command_without_debug_is_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that do not go through the error mapper (verify) are covered at the entry."""
    monkeypatch.setattr("phiguard.report.bundle.verify_bundle", _boom)
    result = CliRunner().invoke(main, ["verify", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "internal error: RuntimeError: injected failure" in result.output


def test_an_unexpected_exception_in_a_subprocess_is_exit_2(tmp_path: Path) -> None:
    """The real entry point: a findings file that makes a renderer fail unexpectedly."""
    code = ("import sys, phiguard.report.formats as c\n"
            "def boom(*a, **k): raise ValueError('injected')\n"
            "c.render = boom\n"
            "from phiguard.cli import main\n"
            "main(sys.argv[1:])\n")
    findings = tmp_path / "f.json"
    run = {"config": {}, "tool_version": "0", "rule_pack_digest": "sha256:0",
           "evaluated_at": "2026-11-25T06:00:00Z"}
    findings.write_text(json.dumps({"schema": "phiguard.findings/v1", "run": run,
                                    "results": []}))
    proc = subprocess.run([sys.executable, "-c", code, "report", str(findings), "-f", "csv"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_GCE_CHECK": "true"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "internal error: ValueError: injected" in proc.stderr


def test_a_full_disk_for_a_regular_file_names_the_output(snapshot: Path, config: Path,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while writing the temporary file of a regular --output: one line naming the
    output, exit 2, and neither the temporary file nor a partial output is left."""
    import errno
    import io

    real_fdopen = os.fdopen

    class Full(io.TextIOWrapper):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self) -> None:  # close() flushes too, and fails again
            raise OSError(errno.ENOSPC, "No space left on device")

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        raw = real_fdopen(fd, "wb")
        return Full(raw, encoding="utf-8")

    monkeypatch.setattr("phiguard._util.outputs.os.fdopen", fdopen)
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(config), "-f", "html",
                                       "-o", str(out)])
    assert result.exit_code == 2, result.output
    assert f"--output {out}: cannot write: No space left on device" in result.output
    assert list(out.parent.iterdir()) == []


def test_a_full_disk_while_writing_the_bundle_names_it(snapshot: Path, config: Path,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while the bundle's report is written: exit 2 naming --bundle, nothing left."""
    import errno
    import io
    import pathlib

    real_open = pathlib.Path.open

    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def fake_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.name == "report.html" and self.parent.name.startswith(".ev.") and "w" in mode:
            return Full()
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", fake_open)
    bundle = tmp_path / "ev"
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(config),
                                       "--bundle", str(bundle), "-f", "json",
                                       "-o", str(tmp_path / "f.json")])
    assert result.exit_code == 2, result.output
    assert f"--bundle {bundle}: cannot write: No space left on device" in result.output
    assert not bundle.exists() and not list(tmp_path.glob(".ev.*"))
