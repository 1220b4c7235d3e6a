"""`phiguard plan` end to end: exit codes, fixtures' expected findings, baseline, --all,
deletions, snapshot overlay, output formats and malformed plans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from _paths import PLANS, REPO
from _plans import change, plan_doc
from phiguard.cli import main

CONFIG = PLANS / "phiguard.yaml"
AT = "2026-11-25T00:00:00Z"
P = "phi-prod"
POLICY_LINK = f"https://www.googleapis.com/compute/v1/projects/{P}/global/sslPolicies/phi-tls12"


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["plan", *args], catch_exceptions=False)


def _json(*args: str) -> tuple[int, dict[str, Any]]:
    result = _invoke(*args, "-c", str(CONFIG), "--at", AT, "-f", "json")
    return result.exit_code, json.loads(result.stdout)


def _bad(results: dict[str, Any]) -> list[str]:
    return sorted(f"{r['outcome']} {r['rule_id']} {r.get('address')}"
                  for r in results["results"] if r["outcome"] != "PASS")


EXPECTED = yaml.safe_load((PLANS / "expected.yaml").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_plans_give_exactly_the_expected_findings(name: str) -> None:
    """Each fixture plan yields exactly its hand-checked FAIL/UNKNOWN findings and exit code."""
    code, doc = _json(str(PLANS / name))
    want = EXPECTED[name]
    assert _bad(doc) == sorted(want["findings"])
    assert code == want["exit"]
    assert [x["address"] for x in doc["run"]["not_evaluated"]] == want["not_evaluated"]


def _write_plan(tmp_path: Path, changes: list[dict[str, Any]],
                config: dict[str, dict[str, Any]] | None = None) -> Path:
    path = tmp_path / "plan.json"
    path.write_bytes(orjson.dumps(plan_doc(changes, config)))
    return path


STRONG = {"name": "phi-tls12", "project": P, "profile": "RESTRICTED", "min_tls_version": "TLS_1_2"}


def test_clean_plan_exits_0(tmp_path: Path) -> None:
    """A plan whose every judged asset passes exits 0."""
    plan = _write_plan(tmp_path, [change("google_compute_ssl_policy", "p", STRONG)])
    code, doc = _json(str(plan))
    assert code == 0
    assert [r["outcome"] for r in doc["results"]] == ["PASS"]


def test_findings_carry_address_source_and_terraform_fix(tmp_path: Path) -> None:
    """A failing finding points at PLANFILE#ADDRESS and carries the attribute and value to set."""
    weak = {**STRONG, "profile": "COMPATIBLE", "min_tls_version": "TLS_1_0"}
    plan = _write_plan(tmp_path, [change("google_compute_ssl_policy", "p", weak,
                                         module="module.lb")])
    code, doc = _json(str(plan))
    (result,) = doc["results"]
    assert code == 1
    assert result["source"] == f"{plan}#module.lb.google_compute_ssl_policy.p"
    assert result["address"] == "module.lb.google_compute_ssl_policy.p"
    assert result["terraform_fix"]["attribute"] == "profile"
    assert result["terraform_fix"]["value"] == "RESTRICTED"
    assert 'fix: set profile = "RESTRICTED"' in result["message"]


@pytest.mark.parametrize("name", ["not-json.json", "state-file.json", "future-version.json",
                                  "no-actions.json"])
def test_malformed_plan_exits_2_with_file_and_reason(name: str) -> None:
    """A malformed plan is exit 2 with the file in the message, never a pass."""
    result = CliRunner().invoke(main, ["plan", str(PLANS / "malformed" / name)])
    assert result.exit_code == 2
    assert str(PLANS / "malformed" / name) in result.output
    assert "Traceback" not in result.output


def test_fail_on_threshold(tmp_path: Path) -> None:
    """--fail-on critical ignores a failing high finding; --fail-on none never fails."""
    weak = {**STRONG, "profile": "COMPATIBLE"}
    plan = str(_write_plan(tmp_path, [change("google_compute_ssl_policy", "p", weak)]))
    base = ["-c", str(CONFIG), "--at", AT]
    assert _invoke(plan, *base).exit_code == 1
    assert _invoke(plan, *base, "--fail-on", "critical").exit_code == 0
    assert _invoke(plan, *base, "--fail-on", "none").exit_code == 0


def test_baseline_reports_only_new_findings(tmp_path: Path) -> None:
    """With the findings of main as baseline, a PR is judged only on what it introduces."""
    main_out = tmp_path / "main.json"
    _invoke(str(PLANS / "data-stores.json"), "-c", str(CONFIG), "--at", AT, "-f", "json",
            "-o", str(main_out))
    code, doc = _json(str(PLANS / "data-stores.json"), "--baseline", str(main_out))
    assert code == 0 and _bad(doc) == []
    assert doc["run"]["baseline"]["suppressed"] == len(_bad(json.loads(main_out.read_text())))
    # a plan with one more problem reports only that one
    more = json.loads((PLANS / "data-stores.json").read_text())
    more["resource_changes"].append(change("google_redis_instance", "extra", {
        "name": "extra", "project": P, "region": "us-east4", "auth_enabled": True,
        "customer_managed_key": f"projects/{P}/locations/us-east4/keyRings/r/cryptoKeys/k",
        "transit_encryption_mode": "DISABLED"}))
    new_plan = tmp_path / "pr.json"
    new_plan.write_text(json.dumps(more))
    code, doc = _json(str(new_plan), "--baseline", str(main_out))
    assert code == 1 and _bad(doc) == ["FAIL TLS-007 google_redis_instance.extra"]


def test_all_reports_unchanged_resources_too(tmp_path: Path) -> None:
    """By default a no-op resource is not judged; --all judges every planned asset."""
    proxy = {"name": "web", "project": P, "ssl_policy": None, "url_map": "m"}
    plan = str(_write_plan(tmp_path, [change("google_compute_target_https_proxy", "w", proxy,
                                             actions=("no-op",), before=proxy)]))
    code, doc = _json(plan)
    assert code == 0 and doc["results"] == []
    code, doc = _json(plan, "--all")
    assert code == 1 and "FAIL TLS-001 google_compute_target_https_proxy.w" in _bad(doc)


def _snapshot(tmp_path: Path, profile: str) -> Path:
    records = [
        {"name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
         "asset_type": "cloudresourcemanager.googleapis.com/Project",
         "resource": {"data": {"projectNumber": "111111111111", "projectId": P, "name": P}},
         "ancestors": ["projects/111111111111", "folders/222", "organizations/1"],
         "iam_policy": {"bindings": [{"role": "roles/viewer", "members": ["group:a@x.com"]}]}},
        {"name": f"//compute.googleapis.com/projects/{P}/global/sslPolicies/phi-tls12",
         "asset_type": "compute.googleapis.com/SslPolicy",
         "resource": {"data": {"name": "phi-tls12", "profile": profile,
                               "minTlsVersion": "TLS_1_2", "selfLink": POLICY_LINK}},
         "ancestors": ["projects/111111111111", "folders/222", "organizations/1"]},
        {"name": f"//compute.googleapis.com/projects/{P}/global/targetHttpsProxies/old",
         "asset_type": "compute.googleapis.com/TargetHttpsProxy",
         "resource": {"data": {"name": "old", "sslPolicy": POLICY_LINK}},
         "ancestors": ["projects/111111111111", "folders/222", "organizations/1"]},
    ]
    snap = tmp_path / f"snap-{profile}"
    snap.mkdir()
    (snap / "resources.ndjson").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return snap


def test_snapshot_overlay_joins_existing_ssl_policy(tmp_path: Path) -> None:
    """A planned proxy joins an SSL policy that exists only in the current snapshot."""
    proxy = {"name": "web", "project": P, "ssl_policy": POLICY_LINK, "url_map": "m"}
    plan = str(_write_plan(tmp_path, [change("google_compute_target_https_proxy", "w", proxy)]))
    _, alone = _json(plan)
    assert "UNKNOWN TLS-002 google_compute_target_https_proxy.w" in _bad(alone)
    code, good = _json(plan, "--snapshot", str(_snapshot(tmp_path, "RESTRICTED")))
    assert code == 0 and _bad(good) == []
    code, weak = _json(plan, "--snapshot", str(_snapshot(tmp_path, "COMPATIBLE")))
    assert code == 0 and _bad(weak) == []  # TLS-002 checks the version only: still 1.2


def test_deleting_a_control_an_existing_asset_relies_on_is_reported(tmp_path: Path) -> None:
    """Deleting the SSL policy a snapshot proxy uses is a failure against the deletion."""
    policy = {**STRONG, "id": f"projects/{P}/global/sslPolicies/phi-tls12"}
    plan = str(_write_plan(tmp_path, [change("google_compute_ssl_policy", "phi", None,
                                             actions=("delete",), before=policy)]))
    code, doc = _json(plan, "--snapshot", str(_snapshot(tmp_path, "RESTRICTED")))
    assert code == 1
    (finding,) = [r for r in doc["results"] if r["outcome"] == "FAIL"]
    assert finding["rule_id"] == "TLS-002"
    assert finding["asset"].endswith("/targetHttpsProxies/old")
    assert finding["address"] == "google_compute_ssl_policy.phi"
    assert "deleting google_compute_ssl_policy.phi" in finding["message"]


def test_iam_member_merges_into_snapshot_project_policy(tmp_path: Path) -> None:
    """With a snapshot, a planned member joins the project's known policy (by number) and the
    project is judged in full."""
    plan = str(_write_plan(tmp_path, [change("google_project_iam_member", "o", {
        "project": P, "role": "roles/owner", "member": "user:dana@example-health.com"})]))
    code, doc = _json(plan, "--snapshot", str(_snapshot(tmp_path, "RESTRICTED")))
    bad = _bad(doc)
    assert "FAIL IAM-007 google_project_iam_member.o" in bad
    assert all("only through the changes" not in r["message"] for r in doc["results"])
    assert {r["asset"] for r in doc["results"]} == {
        "//cloudresourcemanager.googleapis.com/projects/111111111111"}
    assert code == 1


def test_sarif_points_at_tf_file_and_line(tmp_path: Path) -> None:
    """SARIF carries the address as a logical location and, with --tf-root, the .tf file and
    line of the resource block inside its module."""
    root = tmp_path / "tf"
    (root / "modules" / "lb").mkdir(parents=True)
    (root / "main.tf").write_text('module "lb" {\n  source = "./modules/lb"\n}\n')
    (root / "modules" / "lb" / "ssl.tf").write_text(
        '# policies\n\nresource "google_compute_ssl_policy" "p" {\n  name = "x"\n}\n')
    weak = {**STRONG, "profile": "COMPATIBLE"}
    doc = plan_doc([change("google_compute_ssl_policy", "p", weak, module="module.lb")])
    doc["configuration"]["root_module"]["module_calls"] = {"lb": {"source": "./modules/lb",
                                                                  "module": {"resources": []}}}
    plan = tmp_path / "plan.json"
    plan.write_bytes(orjson.dumps(doc))
    out = tmp_path / "out.sarif"
    result = _invoke(str(plan), "-c", str(CONFIG), "--at", AT, "-f", "sarif", "-o", str(out),
                     "--tf-root", str(root))
    assert result.exit_code == 1
    sarif = json.loads(out.read_text())
    (res,) = sarif["runs"][0]["results"]
    loc = res["locations"][0]
    assert loc["physicalLocation"]["artifactLocation"]["uri"].endswith("modules/lb/ssl.tf")
    assert loc["physicalLocation"]["region"]["startLine"] == 3
    assert "module.lb.google_compute_ssl_policy.p" in [
        x["fullyQualifiedName"] for x in loc["logicalLocations"]]
    assert res["properties"]["terraformFix"]["attribute"] == "profile"


def test_markdown_comment_has_marker_fixes_and_not_evaluated() -> None:
    """The PR comment is findable by its marker and lists fixes and unconverted resources."""
    result = _invoke(str(PLANS / "iam.json"), "-c", str(CONFIG), "--at", AT, "-f", "markdown")
    assert result.exit_code == 1
    assert result.output.startswith("<!-- phiguard-plan -->")
    assert "Where to fix it" in result.output
    assert "Not evaluated: 1 planned resources" in result.output
    assert "google\\_bigtable\\_instance\\.cache" in result.output  # escaped


def test_text_lists_not_evaluated_and_unknowns() -> None:
    """The terminal summary shows failures with fixes, UNKNOWNs and unconverted types."""
    result = _invoke(str(PLANS / "iam.json"), "-c", str(CONFIG), "--at", AT)
    assert result.exit_code == 1
    assert "Not evaluated (1)" in result.output and "google_bigtable_instance.cache" \
        in result.output
    assert "UNKNOWN never counts as PASS" in result.output
    assert "fix: set" in result.output


def test_composite_action_runs_the_gate(tmp_path: Path) -> None:
    """action.yml takes plan, config, fail-on and baseline, judges the plan once into
    SARIF/Markdown/JSON and exits 1 on a failing finding at or above fail-on, 2 on a
    malformed plan (its script run as the runner would)."""
    import os
    import subprocess
    import sys

    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert {"plan", "config", "fail-on", "baseline"} <= set(action["inputs"])
    script = action["runs"]["steps"][1]["run"]
    assert script.count("phiguard plan") == 1
    out = tmp_path / "gh_output"
    env = {**os.environ, "PLAN": str(PLANS / "lb-tls.json"), "CONFIG": str(CONFIG),
           "FAIL_ON": "high", "BASELINE": "", "SNAPSHOT": "", "TF_ROOT": "",
           "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(out),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["exit-code"] == "1"
    assert json.loads(Path(outputs["sarif"]).read_text())["version"] == "2.1.0"
    assert Path(outputs["markdown"]).read_text().startswith("<!-- phiguard-plan -->")
    assert json.loads(Path(outputs["json"]).read_text())["schema"] == "phiguard.findings/v1"
    env["FAIL_ON"] = "critical"
    assert subprocess.run(["bash", "-c", script], env=env, capture_output=True).returncode == 0
    env["PLAN"] = str(PLANS / "malformed" / "state-file.json")
    assert subprocess.run(["bash", "-c", script], env=env, capture_output=True).returncode == 2
    assert out.read_text().splitlines()[-1] == "exit-code=2"
    # deploy.json fails nothing at high but leaves IAM-001 UNKNOWN (the plan does not place
    # the PHI project): passes by default, fails with the fail-on-unknown input
    assert "fail-on-unknown" in action["inputs"]
    env["PLAN"], env["FAIL_ON"] = str(PLANS / "deploy.json"), "high"
    for flag, code in (("", 0), ("false", 0), ("true", 1)):
        env["FAIL_ON_UNKNOWN"] = flag
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == code, (flag, done.stderr)


@pytest.mark.parametrize("name", ["data-stores.json", "iam.json", "deletions.json"])
def test_forked_judging_gives_the_same_findings(name: str, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """Judging half of a large plan in a forked child changes nothing in the output."""
    from phiguard.terraform import gate

    args = [str(PLANS / name), "-c", str(CONFIG), "--at", AT, "-f", "json"]
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    _invoke(*args, "-j", "1", "-o", str(one))
    monkeypatch.setattr(gate, "PARALLEL_FROM", 2)
    _invoke(*args, "-j", "2", "-o", str(two))
    assert one.read_text() == two.read_text()


# --- one judgement, several formats ---------------------------------------------------------


def _plan_args(*extra: str) -> list[str]:
    return [str(PLANS / "lb-tls.json"), "-c", str(CONFIG), "--at", AT, *extra]


def _separately(tmp_path: Path, formats: tuple[str, ...]) -> dict[str, bytes]:
    """Each format from its own run, as the PR gate used to produce them."""
    out = {}
    for fmt in formats:
        target = tmp_path / "separate" / fmt
        target.parent.mkdir(exist_ok=True)
        assert _invoke(*_plan_args("-f", fmt, "-o", str(target))).exit_code == 1
        out[fmt] = target.read_bytes()
    return out


def test_one_run_writes_every_format_byte_identical_to_separate_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--format sarif --format markdown --format json --output-dir DIR judges the plan once
    and writes the same bytes three runs wrote; the exit code is the judgement's."""
    from phiguard.terraform.gate import PlanGate

    formats = ("sarif", "markdown", "json", "text")
    want = _separately(tmp_path, formats)
    judged = []
    real = PlanGate.findings

    def counting(self: PlanGate) -> Any:
        judged.append(1)
        return real(self)

    monkeypatch.setattr(PlanGate, "findings", counting)
    out = tmp_path / "gate"
    result = _invoke(*_plan_args(*(x for f in formats for x in ("-f", f)),
                                 "--output-dir", str(out)))
    assert result.exit_code == 1, result.output
    assert judged == [1]
    assert result.stdout == ""
    names = {"sarif": "phiguard.sarif", "markdown": "phiguard.md", "json": "phiguard.json",
             "text": "phiguard.txt"}
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())
    for fmt in formats:
        assert (out / names[fmt]).read_bytes() == want[fmt], fmt


def test_output_format_equals_path_is_repeatable(tmp_path: Path) -> None:
    """--output FORMAT=PATH names each file; the format need not be repeated in --format."""
    want = _separately(tmp_path, ("sarif", "json"))
    sarif, doc = tmp_path / "a.sarif", tmp_path / "b.json"
    result = _invoke(*_plan_args("-o", f"sarif={sarif}", "--output", f"json={doc}"))
    assert result.exit_code == 1, result.output
    assert sarif.read_bytes() == want["sarif"] and doc.read_bytes() == want["json"]
    # with a format on standard output beside them
    result = _invoke(*_plan_args("-f", "text", "-o", f"json={doc}"))
    assert result.exit_code == 1 and "FAIL" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["-f", "json", "-f", "sarif"], "only one format can go to standard output"),
    (["-f", "json", "-f", "sarif", "-o", "x.out"], "a plain --output FILE takes exactly one"),
    (["-o", "json=same.out", "-o", "sarif=same.out"], "would be written there"),
    (["-o", "json=a.json", "-o", "json=b.json"], "given twice"),
    (["-o", "a.out", "-o", "b.out"], "one --output FILE per run"),
    (["-f", "json", "-o", "json=", ], "give a path after json="),
])
def test_ambiguous_outputs_are_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["plan", *_plan_args(*args)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_output_dir_never_replaces_an_input(tmp_path: Path) -> None:
    """DIR/phiguard.json may be the plan itself: refused before anything is read."""
    plan = tmp_path / "phiguard.json"
    plan.write_bytes((PLANS / "lb-tls.json").read_bytes())
    before = plan.read_bytes()
    result = CliRunner().invoke(main, ["plan", str(plan), "-f", "json", "--output-dir",
                                       str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "is an input of this command" in result.output
    assert plan.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["phiguard.json"]


def test_a_failing_report_leaves_none_of_the_run_outputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files of one run are replaced together: when the Markdown fails after the SARIF
    was written, neither exists afterwards (and no temporary file is left)."""
    import phiguard.terraform.render as render

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(render, "render_plan_markdown", boom)
    out = tmp_path / "gate"
    result = CliRunner().invoke(main, ["plan", *_plan_args("-f", "sarif", "-f", "markdown",
                                                           "--output-dir", str(out))])
    assert result.exit_code == 2, result.output
    assert "internal error: RuntimeError: injected" in result.output
    assert list(out.iterdir()) == []


def test_a_refused_plan_creates_no_output_dir(tmp_path: Path) -> None:
    """--output-dir is created only when the reports are written: a malformed plan (exit 2)
    leaves no new directory; a good run creates it."""
    out = tmp_path / "reports"
    bad = CliRunner().invoke(main, ["plan", str(PLANS / "malformed" / "not-json.json"),
                                    "-f", "json", "-f", "sarif", "--output-dir", str(out)])
    assert bad.exit_code == 2, bad.output
    assert not out.exists()
    missing_parent = CliRunner().invoke(main, ["plan", *_plan_args(
        "-f", "json", "--output-dir", str(tmp_path / "no" / "such"))])
    assert missing_parent.exit_code == 2 and "does not exist" in missing_parent.output
    assert _invoke(*_plan_args("-f", "json", "--output-dir", str(out))).exit_code == 1
    assert [p.name for p in out.iterdir()] == ["phiguard.json"]


def test_the_default_is_one_process_unless_the_cpus_are_idle(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without --jobs a large plan is judged in this process when other processes keep the
    CPUs busy (the second process costs more than it saves then), in two when they leave
    them idle; --jobs 2 splits it whatever the load. The same output every way."""
    from phiguard._util import parallel
    from phiguard.terraform import gate

    monkeypatch.setattr(gate, "PARALLEL_FROM", 2)
    monkeypatch.setattr(gate, "_cpu_mark", lambda: (None, 2, (0, 0), 0.0))
    busy: list[float] = [1.0]
    monkeypatch.setattr(gate, "_others_busy", lambda mark: busy[0])
    args = [str(PLANS / "iam.json"), "-c", str(CONFIG), "--at", AT, "-f", "json"]
    split = []
    real = parallel.ordered_map

    def counting(*a: Any, **k: Any) -> Any:
        split.append(1)
        return real(*a, **k)

    monkeypatch.setattr(parallel, "ordered_map", counting)
    one = _invoke(*args)
    assert not split
    import gc

    assert gc.isenabled()  # the run turns the cyclic collector off while it runs, then on
    two = _invoke(*args, "-j", "2")
    assert split and two.stdout == one.stdout
    split.clear()
    busy[0] = 0.0
    idle = _invoke(*args)
    assert split and idle.stdout == one.stdout


def test_the_command_process_writes_everything_before_it_exits(tmp_path: Path) -> None:
    """`phiguard plan` as its own process exits without tearing its heap down, after every
    report is in place and standard output and error are flushed: the same bytes and exit
    code as in-process, the note about the missing --config included."""
    import os
    import subprocess
    import sys

    exe = str(Path(sys.executable).with_name("phiguard"))
    plan = str(PLANS / "lb-tls.json")
    want = _invoke(plan, "-c", str(CONFIG), "--at", AT, "-f", "json")
    env = {**os.environ, "PYTHONUNBUFFERED": ""}
    done = subprocess.run([exe, "plan", plan, "-c", str(CONFIG), "--at", AT, "-f", "json"],
                          capture_output=True, env=env)
    assert (done.returncode, done.stdout.decode()) == (1, want.stdout)
    files = tmp_path / "out"
    done = subprocess.run([exe, "plan", plan, "--at", AT, "-f", "json", "-f", "sarif",
                           "--output-dir", str(files)], capture_output=True, env=env)
    assert done.returncode == 1
    assert b"note:" in done.stderr and done.stderr.endswith(b"\n")
    assert sorted(p.name for p in files.iterdir()) == ["phiguard.json", "phiguard.sarif"]
    assert json.loads((files / "phiguard.json").read_text())["summary"]
    assert json.loads((files / "phiguard.sarif").read_text())["version"] == "2.1.0"
