"""The export path (ExportAssets to Cloud Storage, long-running operation, shard download)
and collection progress, against the local emulator with the real client libraries."""

from __future__ import annotations

import io
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _demo import RECORDS
from emulator import Emulator
from phiguard.cli import main
from phiguard.collect.clients import Clients
from phiguard.collect.collector import CollectOptions, collect
from phiguard.collect.export import ExportPolling
from phiguard.collect.progress import PlainProgress, RichProgress, progress_for_stderr
from phiguard.collect.retry import RetryPolicy
from phiguard.errors import CollectError

ORG = "organizations/123456789012"
EXPORT = "gs://phi-exports/nightly"


class FakeClock:
    """The export poller's clock and sleep: sleeping advances the calling thread's own time at
    once (content types are exported on several threads) and records the wait."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return float(getattr(self._local, "now", 0.0))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._local.now = self.clock() + seconds


def _options(out: Path, clock: FakeClock | None = None, timeout: float = 60.0,
             **kw: Any) -> CollectOptions:
    fake = clock or FakeClock()
    polling = ExportPolling(initial=1.0, maximum=4.0, multiplier=2.0, timeout=timeout,
                            sleep=fake.sleep, clock=fake.clock)
    retry = RetryPolicy(attempts=3, initial=0.01, sleep=lambda _s: None, rng=lambda: 1.0)
    kw.setdefault("directory_customer", "my_customer")
    return CollectOptions([ORG], out, retry=retry, timeout=5.0, export=EXPORT,
                          export_polling=polling, **kw)


def _results(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return sorted((r["rule_id"], r["asset"], r["outcome"],
                   json.dumps(r["evidence"], sort_keys=True)) for r in doc["results"])


def _scan(snapshot: Path, demo_dir: Path, out: Path) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["scan", str(snapshot), "--config",
                                       str(demo_dir / "phiguard.yaml"), "-f", "json", "-o",
                                       str(out)], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return dict(json.loads(out.read_text()))


def test_export_then_scan_gives_the_fixture_findings(emu: Emulator, demo_dir: Path,
                                                     tmp_path: Path, demo_scan: Path) -> None:
    """`collect --export gs://...`: one ExportAssets per content type at one read time, each
    operation polled until done, every shard listed (several pages) and downloaded; scanning
    the snapshot gives exactly the findings of scanning the fixture export directly."""
    emu.export.polls = 0  # done at once (the CLI polls every 2 s; tests below poll)
    result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(main, [
        "collect", "--org", "123456789012", "--output", str(tmp_path / "snap"),
        "--export", EXPORT, "--directory-customer", "my_customer",
        "--config", str(demo_dir / "phiguard.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0 coverage gaps" in result.output
    assert "phiguard: RESOURCE organizations/123456789012: export done, downloading" in (
        result.output)
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["method"] == "export" and manifest["complete"] is True
    assert manifest["read_time"] == "2026-11-25T06:00:00Z"
    exports = emu.export.requests
    assert sorted(r["contentType"] for r in exports) == [1, 2, 4, 5]
    assert all("readTime" in r for r in exports[1:])  # the first export's time, for all
    assert {r["outputConfig"]["gcsDestination"]["uriPrefix"].rsplit("/", 1)[0]
            for r in exports} == {manifest["sources"][0]["export"]["uri_prefix"]
                                  .rsplit("/", 1)[0]}
    assert emu.count("/storage/v1/b/phi-exports/o?") > 4  # objects.list paged
    resource = manifest["sources"][0]
    assert resource["records"] > 300 and resource["pages"] == resource["export"]["objects"]
    assert not [p for p in (tmp_path / "snap").iterdir() if p.name.startswith(".")]

    direct = json.loads(demo_scan.read_text())
    exported = _scan(tmp_path / "snap", demo_dir, tmp_path / "export.json")
    assert _results(exported) == _results(direct)
    assert exported["run"]["snapshot_time"] == direct["run"]["snapshot_time"]


def test_failed_operation_is_a_coverage_gap(emu: Emulator, tmp_path: Path,
                                            demo_dir: Path) -> None:
    """An operation that ends with an error (PERMISSION_DENIED writing the bucket) is a gap for
    its content type; the others are collected and the scan shows the gap."""
    emu.export.fail["IAM_POLICY"] = (7, "caller lacks storage.objects.create on phi-exports")
    emu.export.polls = 2
    manifest = collect(Clients(emu.base), _options(tmp_path / "s"))
    assert emu.count("/operations/ExportAssets/") == 2 * 4  # done after two polls each
    assert next(s for s in manifest["sources"] if s["content_type"] == "RESOURCE"
                )["records"] == RECORDS["RESOURCE"]
    [gap] = manifest["coverage_gaps"]
    assert "IAM_POLICY" in gap["what"] and gap["reason"] == "permission denied"
    assert "storage.objects.create" in gap["message"]
    assert manifest["complete"] is False
    assert not (tmp_path / "s" / "iam_policy.ndjson").exists()
    assert (tmp_path / "s" / "resource.ndjson").exists()
    doc = _scan(tmp_path / "s", demo_dir, tmp_path / "f.json")
    assert doc["run"]["coverage_gaps"][0]["what"].startswith("IAM_POLICY")


def test_operation_that_never_finishes_times_out_with_backoff(emu: Emulator,
                                                              tmp_path: Path) -> None:
    """A stuck operation is polled with growing waits (capped) until the overall timeout, then
    is a gap that names the operation and what to run."""
    emu.export.stuck.add("ORG_POLICY")
    fake = FakeClock()
    manifest = collect(Clients(emu.base), _options(tmp_path / "s", fake, timeout=30.0))
    [gap] = manifest["coverage_gaps"]
    assert gap["reason"] == "export did not finish in time"
    assert "operations/ExportAssets/ORG_POLICY" in gap["message"]
    assert "gcloud asset operations describe" in gap["message"]
    # the other content types are done at their first poll; ORG_POLICY waits 1, 2, then 4 s
    # (the cap) until 30 s have passed, the last wait cut to the time left
    stuck = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0]
    assert fake.sleeps == stuck
    assert emu.count("/operations/ExportAssets/ORG_POLICY") == len(stuck) + 1
    assert not (tmp_path / "s" / "org_policy.ndjson").exists()


def test_reported_shards_missing_is_a_gap(emu: Emulator, tmp_path: Path) -> None:
    """Shards the operation reports but the bucket does not hold (deleted by a lifecycle
    rule, say) are a gap, never a silently short content type."""
    emu.export.drop_objects.add("ACCESS_POLICY")
    manifest = collect(Clients(emu.base), _options(tmp_path / "s"))
    assert [g["reason"] for g in manifest["coverage_gaps"]] == ["export shards missing"]


def test_damaged_shard_is_a_gap_naming_object_and_line(emu: Emulator, tmp_path: Path) -> None:
    """A shard whose last line is cut short is a gap that names the object and the line,
    never a traceback and never a silently shorter content type."""
    emu.export.damaged.add("IAM_POLICY")
    manifest = collect(Clients(emu.base), _options(tmp_path / "s"))
    [gap] = manifest["coverage_gaps"]
    assert gap["reason"] == "export shard unreadable"
    assert re.search(r"gs://phi-exports/nightly/\S+/[a-z0-9.-]+\.googleapis\.com/[A-Za-z]+/"
                     r"\d+:\d+: ", gap["message"]), gap["message"]
    assert not (tmp_path / "s" / "iam_policy.ndjson").exists()


def test_every_export_failing_leaves_no_snapshot(emu: Emulator, tmp_path: Path) -> None:
    """When no export succeeds there is no read time: a clear error (exit 2), and neither the
    snapshot nor a partial directory is left behind."""
    for content in ("RESOURCE", "IAM_POLICY", "ORG_POLICY", "ACCESS_POLICY"):
        emu.export.fail[content] = (8, "quota exhausted")
    with pytest.raises(CollectError, match="no Cloud Asset listing or export succeeded"):
        collect(Clients(emu.base), _options(tmp_path / "s"))
    assert list(tmp_path.iterdir()) == []
    result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(main, [
        "collect", "--org", "123456789012", "--output", str(tmp_path / "s"),
        "--export", EXPORT, "--export-timeout", "5"])
    assert result.exit_code == 2 and "quota" in result.output
    assert list(tmp_path.iterdir()) == []


def test_bad_export_uri_is_a_usage_error(emu: Emulator, tmp_path: Path) -> None:
    result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(main, [
        "collect", "--org", "123456789012", "--output", str(tmp_path / "s"),
        "--export", "s3://bucket/x"])
    assert result.exit_code == 2 and "gs://BUCKET/PREFIX" in result.output
    assert list(tmp_path.iterdir()) == []


def test_progress_bars_on_a_terminal_and_plain_lines_otherwise(emu: Emulator,
                                                               tmp_path: Path) -> None:
    """A TTY gets rich bars (one per content type, with record counts); anything else gets
    plain `phiguard:` lines and no escape codes."""
    from rich.console import Console

    assert isinstance(progress_for_stderr(tty=True), RichProgress)
    assert isinstance(progress_for_stderr(tty=False), PlainProgress)
    bars = RichProgress()
    buffer = io.StringIO()
    bars.console = bars.bars.live.console = Console(file=buffer, force_terminal=True,
                                                    width=120)
    with bars:
        options = _options(tmp_path / "s")
        options.export = None
        collect(Clients(emu.base), options, progress=bars)
    shown = buffer.getvalue()
    assert "RESOURCE organizations/123456789012" in shown
    assert f"{RECORDS['RESOURCE']} records" in shown
    assert "\x1b[" in shown

    result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(main, [
        "collect", "--org", "123456789012", "--output", str(tmp_path / "p"),
        "--concurrency", "2"])
    assert result.exit_code == 0, result.output
    iam = RECORDS["IAM_POLICY"]
    assert f"phiguard: IAM_POLICY organizations/123456789012: {iam} records in" in result.output
    assert "\x1b[" not in result.output


def _download(emu: Emulator, bucket: str, into: Path) -> list[str]:
    """The bucket's objects written under `into` by name, as `gcloud storage cp -r` does."""
    names = []
    for (b, name), data in sorted(emu.export.objects.items()):
        if b == bucket:
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            (into / name).write_bytes(data)
            names.append(name)
    return names


def test_a_plain_download_of_export_objects_scans_like_the_fixture(
        emu: Emulator, demo_dir: Path, tmp_path: Path) -> None:
    """Objects named as ExportAssets names them (`PREFIX/<asset type>/<shard>`, shards from 0,
    no file extension), downloaded as they are, scan to the fixture's findings: the reader
    takes extensionless shards by content."""
    emu.export.polls = 0
    emu.export.shard_lines = 7  # several shards per type
    result = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base}).invoke(main, [
        "collect", "--org", "123456789012", "--output", str(tmp_path / "snap"),
        "--export", EXPORT, "--directory-customer", "my_customer",
        "--config", str(demo_dir / "phiguard.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    names = _download(emu, "phi-exports", tmp_path / "download")
    shard = re.compile(r"nightly/[^/]+/organizations-123456789012/[a-z_]+/"
                       r"(?P<type>[a-z0-9-]+(?:\.[a-z0-9-]+)+/[A-Za-z0-9]+)/(?P<n>\d+)")
    by_type: dict[str, list[int]] = {}
    for name in names:
        m = shard.fullmatch(name)
        assert m is not None, name
        by_type.setdefault(name.rsplit("/", 1)[0], []).append(int(m["n"]))
    assert any(len(ns) > 1 for ns in by_type.values())
    assert all(sorted(ns) == list(range(len(ns))) for ns in by_type.values())
    (tmp_path / "download" / "nightly" / "directory-users.json").write_bytes(
        (demo_dir / "directory-users.json").read_bytes())

    at = json.loads((demo_dir / "manifest.json").read_text())["read_time"]
    outputs = []
    for snapshot in (demo_dir, tmp_path / "download" / "nightly"):
        out = tmp_path / f"{len(outputs)}.json"
        scanned = CliRunner().invoke(main, [
            "scan", str(snapshot), "--config", str(demo_dir / "phiguard.yaml"), "-f", "json",
            "-o", str(out), "--at", at], catch_exceptions=False)
        assert scanned.exit_code in (0, 1), scanned.output
        outputs.append(json.loads(out.read_text()))
    direct, downloaded = outputs
    assert downloaded["run"]["records"] > 300
    assert _results(downloaded) == _results(direct)


def test_export_to_one_object_and_to_an_existing_object_name(emu: Emulator,
                                                            tmp_path: Path) -> None:
    """`uri` (gcloud's --output-path) writes every record into that one object, which scans
    as a file whatever its name; a `uri_prefix` naming an existing object is INVALID_ARGUMENT,
    as the API documents."""
    from google.api_core import exceptions

    emu.export.polls = 0
    client = Clients(emu.base).asset()
    request = {"parent": ORG, "content_type": "RESOURCE",
               "output_config": {"gcs_destination": {"uri": "gs://phi-exports/one/all"}}}
    response = client.export_assets(request=request).result(timeout=30)
    assert list(response.output_result.gcs_result.uris) == ["gs://phi-exports/one/all"]
    _download(emu, "phi-exports", tmp_path)
    scanned = CliRunner().invoke(main, ["scan", str(tmp_path / "one" / "all"), "-f", "json",
                                        "--at", "2026-11-25T06:00:00Z"])
    assert scanned.exit_code in (0, 1), scanned.output
    assert json.loads(scanned.stdout)["run"]["records"] > 300

    clash = {**request, "output_config": {"gcs_destination": {
        "uri_prefix": "gs://phi-exports/one/all"}}}
    with pytest.raises(exceptions.BadRequest, match="already exists"):
        client.export_assets(request=clash)
