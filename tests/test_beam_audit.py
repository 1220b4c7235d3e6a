"""`phiguard audit --engine beam -- <Beam options>`: the audit's scan stage as a Beam pipeline.

The nightly workflow's Dataflow job is parsed with the real CLI and the Beam options after `--`
with Beam's own PipelineOptions; an audit on the DirectRunner against the emulated organization
records the same findings as the local engine's."""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from _cli_args import parse_command
from _paths import REPO
from emulator import Emulator
from phiguard.cli import main
from phiguard.errors import UsageError
from phiguard.runs.beam_stage import check_engine, collected_path, pipeline_option, remote_runner

WORKFLOW = REPO / ".github" / "workflows" / "phiguard-nightly.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text(encoding="utf-8")))


def _phiguard_lines(script: str) -> list[list[str]]:
    joined = script.replace("\\\n", " ")
    return [shlex.split(line.split(" > ", 1)[0].strip())[1:] for line in joined.splitlines()
            if line.strip().startswith("phiguard ")]


def _dataflow_audit(workflow: dict[str, Any]) -> dict[str, Any]:
    steps = workflow["jobs"]["audit-dataflow"]["steps"]
    step = next(s for s in steps if s.get("id") == "audit")
    name, values = parse_command(_phiguard_lines(step["run"])[0])
    assert name == "audit"
    return values


def test_the_dataflow_job_runs_the_audit_on_dataflow(workflow: dict[str, Any]) -> None:
    values = _dataflow_audit(workflow)
    assert values["engine"] == "beam"
    assert values["store_path"] == "$STORE" and values["evidence"] == "$EVIDENCE"
    args = list(values["beam_args"])
    assert remote_runner(args) == "DataflowRunner"
    for option in ("project", "region", "temp_location", "service_account_email",
                   "max_num_workers", "setup_file"):
        assert pipeline_option(args, option), option
    assert str(pipeline_option(args, "setup_file")).endswith("/pyproject.toml")


def test_its_pipeline_options_are_beams(workflow: dict[str, Any]) -> None:
    """Every option after `--` is one Beam's own parser knows, with the value it gets."""
    from apache_beam.options.pipeline_options import (
        GoogleCloudOptions,
        PipelineOptions,
        SetupOptions,
        StandardOptions,
        WorkerOptions,
    )

    # the repository variables as a user would set them (the job's env names them)
    sample = {"$DATAFLOW_PROJECT": "ops-project", "$DATAFLOW_REGION": "us-central1",
              "$DATAFLOW_TEMP": "gs://ops-project-phiguard-dataflow/tmp",
              "$DATAFLOW_WORKER_SA": "phiguard-dataflow@ops-project.iam.gserviceaccount.com",
              "$MAX_WORKERS": "20", "$GITHUB_WORKSPACE/pyproject.toml": "/w/pyproject.toml"}
    args = [sample.get(a, a) for a in _dataflow_audit(workflow)["beam_args"]]
    assert not [a for a in args if "$" in a]
    known = set(PipelineOptions([]).get_all_options())
    flags = [a[2:].split("=", 1)[0] for a in args if a.startswith("--")]
    assert flags and set(flags) <= known, set(flags) - known
    options = PipelineOptions(args)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    cloud = options.view_as(GoogleCloudOptions)
    assert (cloud.project, cloud.region, cloud.temp_location, cloud.service_account_email) == (
        "ops-project", "us-central1", "gs://ops-project-phiguard-dataflow/tmp",
        "phiguard-dataflow@ops-project.iam.gserviceaccount.com")
    assert options.view_as(WorkerOptions).max_num_workers == 20
    assert options.view_as(SetupOptions).setup_file == "/w/pyproject.toml"


def test_one_audit_a_night_signed_in_by_workload_identity(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    assert jobs["audit"]["if"] == "vars.PHIGUARD_ENGINE != 'beam'"
    assert jobs["audit-dataflow"]["if"] == "vars.PHIGUARD_ENGINE == 'beam'"
    assert workflow["permissions"]["id-token"] == "write"
    steps = jobs["audit-dataflow"]["steps"]
    auth = next(s for s in steps if s.get("uses", "").startswith("google-github-actions/auth"))
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}
    assert auth["with"]["workload_identity_provider"] == "${{ vars.PHIGUARD_WIF_PROVIDER }}"
    assert steps.index(auth) < next(i for i, s in enumerate(steps) if s.get("id") == "audit")
    assert any("'.[beam]'" in s.get("run", "") for s in steps)
    assert not any("artifact" in s.get("uses", "") for s in steps)
    assert not any("credentials_json" in str(s.get("with", {})) for s in steps)  # no keys
    env = jobs["audit-dataflow"]["env"]
    assert env["DATAFLOW_TEMP"] == "${{ vars.PHIGUARD_DATAFLOW_TEMP }}"
    # the other commands of the night are the local job's
    local = next(s for s in jobs["audit"]["steps"] if s.get("id") == "audit")
    beam = next(s for s in steps if s.get("id") == "audit")
    assert _phiguard_lines(local["run"])[1:] == _phiguard_lines(beam["run"])[1:]


def test_engine_checks() -> None:
    check_engine("local", ())
    check_engine("beam", ["--runner", "DirectRunner"])
    with pytest.raises(UsageError, match="pipeline options after -- are for --engine beam"):
        check_engine("local", ["--runner", "DirectRunner"])
    with pytest.raises(UsageError, match="--temp_location gs://"):
        check_engine("beam", ["--runner=DataflowRunner", "--project", "p"])
    with pytest.raises(UsageError, match="--temp_location gs://"):
        check_engine("beam", ["--runner", "DataflowRunner", "--temp_location", "/tmp/x"])
    check_engine("beam", ["--runner", "DataflowRunner", "--temp_location=gs://b/t"])
    assert pipeline_option(["--region", "a", "--region=b"], "region") == "b"
    assert collected_path("gs://b/t/phiguard-audit/x/resource.ndjson",
                          "gs://b/t/phiguard-audit/x") == "collected:resource.ndjson"
    assert collected_path("/s/snap/iam.ndjson", "/s/snap") == "collected:iam.ndjson"


def test_check_engine_without_beam_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "apache_beam" else real(name, *a))
    with pytest.raises(UsageError, match=r"pip install 'phiguard\[beam\]'"):
        check_engine("beam", ())


def _audit_args(store: Path, demo_dir: Path) -> list[str]:
    return ["audit", "--org", "123456789012", "--config", str(demo_dir / "phiguard.yaml"),
            "--store", str(store), "--directory-customer", "my_customer", "--concurrency", "1",
            "--fail-on", "none"]


def test_bad_engine_options_exit_2_before_collecting(emu: Emulator, tmp_path: Path,
                                                     demo_dir: Path) -> None:
    env = {"PHIGUARD_GCP_ENDPOINT": emu.base}
    runner = CliRunner(env=env)
    result = runner.invoke(main, [*_audit_args(tmp_path / "h.db", demo_dir), "--",
                                  "--runner", "DirectRunner"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "pipeline options after -- are for --engine beam" in result.output
    result = runner.invoke(main, [*_audit_args(tmp_path / "h.db", demo_dir), "--engine", "beam",
                                  "--", "--runner", "DataflowRunner", "--project", "p"],
                           catch_exceptions=False)
    assert result.exit_code == 2
    assert "--temp_location gs://BUCKET/PREFIX" in result.output
    assert emu.count("/assets") == 0  # nothing was collected
    assert not (tmp_path / "h.db").exists()



def _readme_commands() -> list[list[str]]:
    """The `phiguard ...` lines of the README's "Scanning very large organizations" block."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Scanning very large organizations\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    return [shlex.split(line.split(" > ", 1)[0], comments=True)[1:]
            for line in block.splitlines() if line.startswith("phiguard ")]


def test_the_readme_commands_parse_with_the_real_cli() -> None:
    """Each command of the README section is accepted by phiguard's own parser (the `--`
    split included), and its Beam options by Beam's."""
    from apache_beam.options.pipeline_options import PipelineOptions

    commands = _readme_commands()
    seen = {args[0] for args in commands}
    assert {"scan", "audit", "schema", "report"} <= seen
    known = set(PipelineOptions([]).get_all_options())
    engines = 0
    for args in commands:
        root = click.Context(main, info_name="phiguard")
        command = main.get_command(root, args[0])
        assert command is not None, args
        ctx = command.make_context(args[0], args[1:], parent=root)
        beam_args = list(ctx.params.get("beam_args") or ctx.meta.get("phiguard.pipeline_args")
                         or [])
        if ctx.params.get("engine") == "beam":
            engines += 1
            assert remote_runner(beam_args) or pipeline_option(beam_args, "runner")
            flags = {a[2:].split("=", 1)[0] for a in beam_args if a.startswith("--")}
            assert flags <= known, flags - known
            if remote_runner(beam_args):
                check_engine("beam", beam_args)  # a remote runner with its temp_location
        else:
            assert not beam_args
        if args[0] == "scan":
            assert all(not str(s).startswith("--") for s in ctx.params["snapshot"])
    assert engines == 3

def test_audit_on_beam_records_the_local_engines_findings(emu: Emulator, tmp_path: Path,
                                                          demo_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """The same organization audited twice, once per engine: the same findings (order,
    evidence, messages), counts and drift in the store."""
    from phiguard.runs.audit import run_audit

    def audit(store: Path, **engine: Any) -> Any:
        return run_audit(store, org="123456789012", config_path=demo_dir / "phiguard.yaml",
                         directory_customer="my_customer", concurrency=1, **engine)

    monkeypatch.setenv("PHIGUARD_GCP_ENDPOINT", emu.base)
    local = audit(tmp_path / "local.db")
    beam = audit(tmp_path / "beam.db", engine="beam", beam_args=["--runner", "DirectRunner"])
    assert len(beam.findings) == len(local.findings) > 900

    def placed(findings: list[Any]) -> list[Any]:
        # each audit collects into its own scratch directory: compare the place in it
        return [replace(f, source=f.source and f.source.split("/snapshot/", 1)[1])
                for f in findings]

    assert placed(beam.findings) == placed(local.findings)
    assert all(f.source for f in beam.findings[:10])
    assert beam.tally.outcomes == local.tally.outcomes
    assert beam.run_id == local.run_id == 1
    assert (beam.change.new, beam.change.resolved) == (local.change.new, local.change.resolved)
