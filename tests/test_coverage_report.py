"""The run says which asset types rules look for that the snapshot does not know to be
collected: a warning on stderr naming each type, the rules that look for it and on how many
assets they were UNKNOWN for want of it; `run.asset_types_missing` in the findings JSON (absent
when nothing is missing, so a complete snapshot's output is unchanged); the HTML report's
methodology section. A complete export says none of it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _partial import partial_demo
from _paths import DEMO, PLANS, RULES
from phiguard.cli import main
from phiguard.errors import InputError
from phiguard.inventory.coverage import (
    Coverage,
    _rule_ranges,
    run_types_missing,
    types_cited,
    types_missing_warning,
    types_sought,
)
from phiguard.policy.rule import load_pack
from phiguard.report.json_report import read_findings

AT = "2026-11-25T00:00:00Z"
SINK = "logging.googleapis.com/LogSink"
METRIC = "logging.googleapis.com/LogMetric"
MONS = [f"MON-00{i}" for i in range(1, 9)]
# NET-001 looks for the organization's firewall policies (a deny that shadows a VPC rule): the
# demo holds none and a partial export's counts do not say they were collected
POLICY = "compute.googleapis.com/FirewallPolicy"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _scan(snapshot: Path, out: Path, fmt: str = "json") -> tuple[int, str]:
    result = CliRunner().invoke(main, ["scan", str(snapshot), "-c", str(DEMO / "phiguard.yaml"),
                                       "--at", AT, "-f", fmt, "-o", str(out)],
                                catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, result.stderr


@pytest.fixture(scope="module")
def partial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    tmp = tmp_path_factory.mktemp("partial")
    snap = partial_demo(tmp, {SINK, METRIC})
    _, stderr = _scan(snap, tmp / "findings.json")
    return snap, read_findings(str(tmp / "findings.json")), stderr


def _unknown_assets(doc: dict[str, Any], asset_type: str) -> set[str]:
    return {r["asset"] for r in doc["results"]
            if r["outcome"] == "UNKNOWN" and asset_type in types_cited(r["message"])}


def test_partial_export_names_the_types_and_rules(partial: tuple[Path, dict[str, Any], str],
                                                  ) -> None:
    _, doc, _ = partial
    missing = doc["run"]["asset_types_missing"]
    assert [m["asset_type"] for m in missing] == [POLICY, METRIC, SINK]
    assert missing[0]["rules"] == ["NET-001"]
    assert missing[1]["rules"] == MONS
    sink_rules = missing[2]["rules"]
    assert sink_rules == sorted(sink_rules)
    assert {"LOG-002", "LOG-011", "LOG-003", "ENC-012", *MONS} <= set(sink_rules)
    # every rule named looks for the type, and every rule that does is named
    sought = types_sought(load_pack([RULES]).rules)
    assert sink_rules == sought[SINK] and missing[1]["rules"] == sought[METRIC]
    # and the findings say so on the assets the warning counts
    assert _unknown_assets(doc, METRIC) and _unknown_assets(doc, SINK)


def test_partial_export_warns_once_with_counts(partial: tuple[Path, dict[str, Any], str],
                                               ) -> None:
    _, doc, stderr = partial
    lines = [line for line in stderr.splitlines() if "does not say" in line]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("phiguard: note: warning: the snapshot has no assets of these types")
    n_metric, n_sink = len(_unknown_assets(doc, METRIC)), len(_unknown_assets(doc, SINK))
    assert f"{METRIC} (MON-001..008 UNKNOWN on {n_metric} assets)" in line
    assert f"{SINK} (" in line and f"UNKNOWN on {n_sink} assets)" in line
    assert "export every asset type, or use phiguard collect" in line


def test_complete_export_says_nothing(tmp_path: Path) -> None:
    _, stderr = _scan(DEMO, tmp_path / "f.json")
    doc = json.loads((tmp_path / "f.json").read_text())
    assert "asset_types_missing" not in doc["run"]
    assert "does not say" not in stderr
    # a manifest saying every type was requested: zero assets of a type mean none
    snap = partial_demo(tmp_path, {SINK, METRIC})
    (snap / "manifest.json").write_text(json.dumps({"asset_types_requested": {"RESOURCE": "*"}}))
    _, stderr = _scan(snap, tmp_path / "g.json")
    assert "asset_types_missing" not in json.loads((tmp_path / "g.json").read_text())["run"]
    assert "does not say" not in stderr


def test_engine_independent_answer_is_the_inventory_s(partial: tuple[Path, dict[str, Any], str],
                                                      ) -> None:
    """The Beam engine computes the field from the manifest and the counts of RESOURCE
    records (run_types_missing): the same as the local engine's Inventory coverage."""
    _, doc, _ = partial
    rules = load_pack([RULES]).rules
    assert run_types_missing(rules, None, doc["run"]["asset_counts"]) == \
        doc["run"]["asset_types_missing"]
    assert run_types_missing(rules, {"asset_types_requested": "*"},
                             doc["run"]["asset_counts"]) == []
    assert [m["asset_type"] for m in run_types_missing(
        rules, {"asset_types": {METRIC: 2}}, doc["run"]["asset_counts"])] == [POLICY, SINK]


def test_html_shows_the_types_in_chromium(partial: tuple[Path, dict[str, Any], str],
                                          tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed (.ci/run installs it)")
    snap, _, _ = partial
    pages = {}
    for name, source in (("partial", snap), ("whole", DEMO)):
        page = tmp_path / f"{name}.html"
        _scan(source, page, "html")
        dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / name}",
                              "--dump-dom", page.as_uri()], capture_output=True, text=True,
                             timeout=90).stdout
        assert '<section id="methodology">' in dom, dom[:500]
        pages[name] = dom
    methodology = pages["partial"].split('<section id="methodology">', 1)[1]
    methodology = methodology.split("</section>", 1)[0]
    assert 'id="asset-types-missing"' in methodology
    for asset_type in (METRIC, SINK):
        assert f'data-asset-type="{asset_type}"' in methodology
    assert ", ".join(MONS) in methodology
    assert 'id="asset-types-missing"' not in pages["whole"]


def test_plan_over_a_partial_snapshot_says_it(tmp_path: Path) -> None:
    snap = partial_demo(tmp_path, {SINK, METRIC})
    out = {}
    for name, args in (("partial", ["--snapshot", str(snap)]), ("whole", ["--snapshot",
                                                                          str(DEMO)]),
                       ("alone", [])):
        result = CliRunner().invoke(main, ["plan", str(PLANS / "network.json"), *args, "--all",
                                           "-c", str(PLANS / "phiguard.yaml"), "--at", AT,
                                           "-f", "json"], catch_exceptions=False)
        assert result.exit_code in (0, 1), result.output
        out[name] = (json.loads(result.stdout), result.stderr)
    doc, stderr = out["partial"]
    missing = doc["run"]["asset_types_missing"]
    assert [m["asset_type"] for m in missing] == [POLICY, METRIC, SINK]
    assert missing[1]["rules"] == MONS
    # the plan's configuration judges no project with the MON rules: none UNKNOWN for a
    # metric; the sink rules are
    assert f"{METRIC} (MON-001..008: no finding UNKNOWN for want of it)" in stderr
    n = len(_unknown_assets(doc, SINK))
    assert n and f"UNKNOWN on {n} assets)" in stderr
    for name in ("whole", "alone"):
        assert "asset_types_missing" not in out[name][0]["run"], name
        assert "does not say" not in out[name][1], name


def test_validator_checks_the_field(partial: tuple[Path, dict[str, Any], str],
                                    tmp_path: Path) -> None:
    _, doc, _ = partial
    for bad in ({"asset_type": 3, "rules": []}, {"asset_type": SINK, "rules": "LOG-002"},
                "logging.googleapis.com/LogSink"):
        broken = json.loads(json.dumps(doc))
        broken["run"]["asset_types_missing"] = [bad]
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(InputError, match="asset_types_missing"):
            read_findings(str(path))


def test_the_sentence_pieces() -> None:
    assert _rule_ranges(["LOG-002", "LOG-003", "MON-001", "MON-002", "MON-003", "NET-1",
                         "X"]) == "LOG-002, LOG-003, MON-001..003, NET-1, X"
    assert types_cited("a: the snapshot has no a/B or c/D assets and does not say they were "
                       "collected (x); b: the snapshot has no a/B assets and does not say they "
                       "were collected") == ["a/B", "c/D"]
    assert types_cited("unknown: something else") == []
    line = types_missing_warning([{"asset_type": SINK, "rules": ["LOG-002"]}], {SINK: 1})
    assert f"{SINK} (LOG-002 UNKNOWN on 1 asset)" in line
    assert "(LOG-002: no finding UNKNOWN for want of it)" in types_missing_warning(
        [{"asset_type": SINK, "rules": ["LOG-002"]}], {})
    assert Coverage((), types=("*",)).types_missing([SINK]) == []


def test_audit_of_some_types_says_which_rules_lack_theirs(emu: Any, tmp_path: Path,
                                                          demo_dir: Path) -> None:
    """`phiguard audit --asset-type ...` collects only those types: its manifest names them,
    so the types rules look for beyond them are not known to be collected, and the audit
    says so as a scan does (its evidence bundle's findings JSON too)."""
    runner = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base})
    result = runner.invoke(main, [
        "audit", "--org", "123456789012", "--config", str(demo_dir / "phiguard.yaml"),
        "--store", str(tmp_path / "h.db"), "--bundle", str(tmp_path / "ev"),
        "--directory-customer", "my_customer",
        "--asset-type", "cloudresourcemanager.googleapis.com/Project",
        "--asset-type", SINK], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    doc = json.loads((tmp_path / "ev" / "findings.json").read_text())
    missing = {m["asset_type"]: m["rules"] for m in doc["run"]["asset_types_missing"]}
    assert SINK not in missing and missing[METRIC] == MONS
    line = [x for x in result.stderr.splitlines() if "does not say" in x]
    assert len(line) == 1 and f"{METRIC} (MON-001..008" in line[0], result.stderr


def test_every_engine_says_the_same(partial: tuple[Path, dict[str, Any], str],
                                    tmp_path: Path) -> None:
    """One process, two (the workers' tallies merged) and the Beam engine: the same field and
    the same warning, counts included."""
    from phiguard.cli._options import parse_at
    from phiguard.runs.outputs import Output
    from phiguard.runs.scan import run_scan

    snap, _, _ = partial
    said: dict[str, tuple[bytes, list[str]]] = {}
    for name, engine, jobs, args in (
            ("j1", "local", 1, []), ("j2", "local", 2, []),
            ("beam", "beam", 1, ["--runner", "DirectRunner", "--direct_running_mode=in_memory"])):
        notes: list[str] = []
        path = tmp_path / f"{name}.json"
        run_scan([snap], config_path=DEMO / "phiguard.yaml", jobs=jobs,
                 outputs=[Output("json", path, "--output")], at=parse_at(AT), engine=engine,
                 pipeline_args=args, notify=notes.append)
        said[name] = (path.read_bytes(), [n for n in notes if "does not say" in n])
    assert len(said["j1"][1]) == 1 and "UNKNOWN on" in said["j1"][1][0]
    assert said["j2"] == said["j1"] and said["beam"] == said["j1"]
