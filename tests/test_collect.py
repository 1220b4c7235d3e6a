"""Live collection against the local emulator, with the real Google client libraries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _demo import FAILING, RECORDS
from emulator import Emulator
from phiguard.cli import main
from phiguard.collect.clients import Clients
from phiguard.collect.collector import CollectOptions, collect
from phiguard.collect.retry import RetryPolicy

ORG = "organizations/123456789012"


class Sleeps:
    """A RetryPolicy sleep that records instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _options(out: Path, sleeps: Sleeps | None = None, **kw: Any) -> CollectOptions:
    retry = RetryPolicy(attempts=4, initial=0.5, sleep=sleeps or Sleeps(), rng=lambda: 1.0)
    kw.setdefault("directory_customer", "my_customer")
    kw.setdefault("timeout", 5.0)
    return CollectOptions([ORG], out, retry=retry, **kw)


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def _results(findings_json: Path) -> list[tuple[str, str, str, str]]:
    doc = json.loads(findings_json.read_text())
    return [(r["rule_id"], r["asset"], r["outcome"], json.dumps(r["evidence"], sort_keys=True))
            for r in doc["results"]]


def _scan(snapshot: Path, demo_dir: Path, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["scan", str(snapshot), "--config",
                                       str(demo_dir / "phiguard.yaml"), "-f", "json", "-o",
                                       str(out)], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return dict(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path
              ) -> Iterator[tuple[Path, list[str]]]:
    """The demo org collected once through the CLI (asset types derived from the rule pack)."""
    base = tmp_path_factory.mktemp("collected")
    with Emulator(demo_dir) as server:
        env = {"PHIGUARD_GCP_ENDPOINT": server.base}
        result = CliRunner(env=env).invoke(main, [
            "collect", "--org", "123456789012", "--output", str(base / "snap"),
            "--directory-customer", "my_customer", "--config", str(demo_dir / "phiguard.yaml")],
            catch_exceptions=False)
        assert result.exit_code == 0, result.output
        yield base / "snap", list(server.requests)


def test_collect_then_scan_gives_the_fixture_findings(collected: tuple[Path, list[str]],
                                                      demo_dir: Path, tmp_path: Path,
                                                      demo_scan: Path) -> None:
    """Collecting the emulated demo org and scanning it gives exactly the findings (outcome and
    evidence) of scanning the fixture export directly."""
    snap, _ = collected
    direct = json.loads(demo_scan.read_text())
    live = _scan(snap, demo_dir, tmp_path / "live.json")
    assert sorted(_results(tmp_path / "live.json")) == sorted(_results(demo_scan))
    assert live["run"]["snapshot_time"] == direct["run"]["snapshot_time"]


def test_pagination_is_complete_and_manifest_hashes_every_shard(
        collected: tuple[Path, list[str]], demo_dir: Path) -> None:
    """Every page is followed (RESOURCE spans several pages) and the manifest records counts,
    one read time and the sha256 of each shard."""
    import hashlib

    snap, requests = collected
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["read_time"] == "2026-11-25T06:00:00Z"
    assert manifest["coverage_gaps"] == [] and manifest["complete"] is True
    by_type = {s["content_type"]: s for s in manifest["sources"]}
    assert by_type["RESOURCE"]["pages"] > 1
    assert by_type["DIRECTORY_USERS"]["records"] == 16
    for source in manifest["sources"]:
        path = snap / source["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == source["sha256"]
        if source["content_type"] != "DIRECTORY_USERS":
            assert _lines(path) == source["records"]
    # the rule pack decides the asset types; every listing after the first asks for one time
    assets = [r for r in requests if "/assets" in r]
    # MFA-004 judges the IAM policy of any type; every other content type lists rule types
    assert all(("assetTypes=" in r) == ("contentType=2" not in r) for r in assets)
    assert manifest["asset_types_requested"]["IAM_POLICY"] == "*"
    assert "compute.googleapis.com/SslPolicy" in manifest["asset_types_requested"]["RESOURCE"]
    assert sum("readTime=" in r for r in assets) == len(assets) - by_type["RESOURCE"]["pages"]
    assert manifest["hierarchy"]["projects"] and all(
        "labels" in p for p in manifest["hierarchy"]["projects"])


def test_429_then_success_is_retried_with_backoff(emu: Emulator, tmp_path: Path) -> None:
    """A 429 is retried after an exponential, jittered wait, and the listing completes."""
    emu.fault("/assets", status=429, times=2, content_type="IAM_POLICY")
    sleeps = Sleeps()
    manifest = collect(Clients(emu.base), _options(tmp_path / "s", sleeps))
    iam = next(s for s in manifest["sources"] if s["content_type"] == "IAM_POLICY")
    assert iam["retries"] == 2 and iam["records"] == RECORDS["IAM_POLICY"]
    assert sleeps.calls == [0.5, 1.0]
    assert manifest["coverage_gaps"] == []


def test_503_storm_is_bounded_and_recorded_as_a_gap(emu: Emulator, tmp_path: Path) -> None:
    """A content type that answers 503 forever costs exactly `attempts` requests, then is a
    coverage gap; the other content types are still collected."""
    emu.fault("/assets", status=503, times=None, content_type="ORG_POLICY")
    start = time.monotonic()
    manifest = collect(Clients(emu.base), _options(tmp_path / "s"))
    assert time.monotonic() - start < 60  # a hang guard only: the retries' waits are not slept
    assert emu.count("contentType=4") == 4
    [gap] = manifest["coverage_gaps"]
    assert gap["source"] == "cloudasset" and "ORG_POLICY" in gap["what"]
    assert gap["status"] == 503 and gap["reason"] == "service unavailable after retries"
    assert manifest["complete"] is False
    assert not (tmp_path / "s" / "org_policy.ndjson").exists()
    assert (tmp_path / "s" / "resource.ndjson").exists()


def test_permission_denied_is_not_retried_and_shows_in_the_scan(
        emu: Emulator, tmp_path: Path, demo_dir: Path) -> None:
    """403 on one content type: one request, a gap in the manifest, and the scan's run block
    (and so the report's methodology) carries it."""
    emu.fault("/assets", status=403, times=None, content_type="IAM_POLICY")
    manifest = collect(Clients(emu.base), _options(tmp_path / "s"))
    assert emu.count("contentType=2") == 1
    assert [g["reason"] for g in manifest["coverage_gaps"]] == ["permission denied"]
    doc = _scan(tmp_path / "s", demo_dir, tmp_path / "f.json")
    assert doc["run"]["coverage_gaps"][0]["what"].startswith("IAM_POLICY")
    html = tmp_path / "r.html"
    result = CliRunner().invoke(main, ["report", str(tmp_path / "f.json"), "-f", "html", "-o",
                                       str(html)])
    assert result.exit_code == 0, result.output
    assert 'id="coverage-gaps"' in html.read_text()


def test_directory_denied_makes_mfa_rules_unknown(emu: Emulator, tmp_path: Path,
                                                 demo_dir: Path) -> None:
    """Without directory permission the users file is absent, the gap is recorded, and the
    MFA rules on users report UNKNOWN, never PASS."""
    emu.fault("/admin/directory", status=403, times=None)
    manifest = collect(Clients(emu.base), _options(tmp_path / "s"))
    assert [g["source"] for g in manifest["coverage_gaps"]] == ["directory"]
    assert not (tmp_path / "s" / "directory-users.json").exists()
    doc = _scan(tmp_path / "s", demo_dir, tmp_path / "f.json")
    user_rules = {r["rule_id"]: r["outcome"] for r in doc["results"]
                  if r["rule_id"] in ("MFA-001", "MFA-002")}
    assert user_rules == {"MFA-001": "UNKNOWN", "MFA-002": "UNKNOWN"}


def test_dropped_connection_and_slow_page_are_retried(emu: Emulator, tmp_path: Path) -> None:
    """A connection dropped mid-listing and a page slower than the timeout are retried; the
    snapshot is still complete."""
    emu.fault("/assets", drop=True, times=1, paged=True, content_type="RESOURCE")
    # the slow page takes far longer than the timeout, and the timeout is far longer than an
    # ordinary page takes on a loaded machine (0.3 s left a normal page little margin)
    emu.fault("/assets", delay=60, times=1, paged=True, content_type="RESOURCE")
    manifest = collect(Clients(emu.base), _options(tmp_path / "s", timeout=1.0))
    resource = next(s for s in manifest["sources"] if s["content_type"] == "RESOURCE")
    assert resource["retries"] == 2 and resource["records"] == RECORDS["RESOURCE"]
    assert manifest["coverage_gaps"] == []


def test_interrupted_collection_leaves_nothing(emu: Emulator, tmp_path: Path) -> None:
    """An exception (Ctrl-C) midway removes the partial directory; no snapshot appears."""
    def log(msg: str) -> None:
        if "records in" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        collect(Clients(emu.base), _options(tmp_path / "s"), log)
    assert list(tmp_path.iterdir()) == []


def test_killed_collection_leaves_no_complete_looking_snapshot(emu: Emulator,
                                                               tmp_path: Path) -> None:
    """SIGKILL in the middle leaves no directory under the requested name, only a hidden
    partial one without a manifest."""
    emu.fault("/assets", delay=30, times=1, content_type="ORG_POLICY")
    env = {**os.environ, "PHIGUARD_GCP_ENDPOINT": emu.base, "NO_GCE_CHECK": "true"}
    proc = subprocess.Popen([sys.executable, "-m", "phiguard.cli", "collect", "--org",
                             "123456789012", "--output", str(tmp_path / "snap"),
                             "--concurrency", "1"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while emu.count("contentType=4") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert emu.count("contentType=4") == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / "snap").exists()
    partial = [p for p in tmp_path.iterdir()]
    assert len(partial) == 1 and partial[0].name.startswith(".snap.partial-")
    assert not (partial[0] / "manifest.json").exists()
    assert (partial[0] / "resource.ndjson").exists()


def test_project_scope_collects_each_project(emu: Emulator, tmp_path: Path) -> None:
    """--project twice: one shard per project and content type, only their assets."""
    options = _options(tmp_path / "s")
    options.parents = ["projects/oh-phi-prod", "projects/oh-web-prod"]
    manifest = collect(Clients(emu.base), options)
    assert manifest["scope"] == options.parents
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert "resource-projects-oh-phi-prod.ndjson" in names
    assert "resource-projects-oh-web-prod.ndjson" in names
    records = (tmp_path / "s" / "resource-projects-oh-web-prod.ndjson").read_text().splitlines()
    assert records and all("projects/488120937715" in json.loads(r)["ancestors"]
                           for r in records)
    assert [p["project_id"] for p in manifest["hierarchy"]["projects"]] == [
        "oh-phi-prod", "oh-web-prod"]


def test_output_that_exists_is_refused(emu: Emulator, tmp_path: Path) -> None:
    """A snapshot is never overwritten: a non-empty --output is a usage error (exit 2)."""
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "x").write_text("")
    result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(
        main, ["collect", "--org", "1", "--output", str(tmp_path / "s")])
    assert result.exit_code == 2 and "not an empty directory" in result.output


def test_no_credentials_is_exit_2_with_what_to_run(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an emulator endpoint and without ADC, collect says to run
    `gcloud auth application-default login` and exits 2 (and probes no metadata server)."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_adc(*args: Any, **kwargs: Any) -> Any:
        raise DefaultCredentialsError("none")

    monkeypatch.setattr(google.auth, "default", no_adc)
    monkeypatch.delenv("PHIGUARD_GCP_ENDPOINT", raising=False)
    result = CliRunner().invoke(main, ["collect", "--org", "1", "--output",
                                       str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "gcloud auth application-default login" in result.output
    assert list(tmp_path.iterdir()) == []


def test_help_imports_no_google_library() -> None:
    """`phiguard --help` loads neither the Google libraries nor sqlite3."""
    # Only what importing phiguard adds counts: the beam extra's google-cloud-aiplatform .pth
    # creates the empty `google` and `google.cloud` namespaces at interpreter start.
    code = ("import sys\nbefore = set(sys.modules)\nfrom phiguard.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m not in before and m.split('.')[0] in "
            "('google', 'googleapiclient', 'grpc', 'sqlite3', 'requests'))\n"
            "print('LOADED', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "NO_GCE_CHECK": "true"}).stdout
    assert "LOADED []" in out


def test_audit_twice_records_history_and_drift(emu: Emulator, tmp_path: Path,
                                               demo_dir: Path) -> None:
    """audit = collect + scan + bundle + record; a second run shows every failure persisting
    with its first-seen date, and history lists both runs."""
    runner = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base})
    store = tmp_path / "h.db"
    for i in (1, 2):
        result = runner.invoke(main, [
            "audit", "--org", "123456789012", "--config", str(demo_dir / "phiguard.yaml"),
            "--store", str(store), "--bundle", str(tmp_path / f"ev{i}"),
            "--directory-customer", "my_customer"], catch_exceptions=False)
        assert result.exit_code == 1, result.output
    assert f"0 new, 0 resolved, {FAILING} persisting" in result.output
    assert (tmp_path / "ev2" / "report.html").exists()
    inputs = json.loads((tmp_path / "ev2" / "findings.json").read_text())["run"]["inputs"]
    # the collected snapshot was in a temporary directory: inputs are named by their place in it
    assert {i["path"] for i in inputs} >= {"collected:manifest.json", "collected:resource.ndjson"}
    assert all(len(i["sha256"]) == 64 for i in inputs)
    history = runner.invoke(main, ["history", "--store", str(store), "-f", "json"])
    runs = json.loads(history.output)["runs"]
    assert [r["counts"]["FAIL"] for r in runs] == [FAILING, FAILING]
    diff = runner.invoke(main, ["diff", "--store", str(store), "1", "2", "-f", "json"])
    doc = json.loads(diff.output)
    assert len(doc["persisting"]) == FAILING and doc["new"] == [] and doc["resolved"] == []
    assert {c["first_seen"] for c in doc["persisting"]} == {"2026-11-25T06:00:00Z"}
