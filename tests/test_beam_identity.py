"""The Beam engine (phiguard.beam) writes the local engine's findings JSON byte for byte, and
fails on bad input with the local engine's message, validating before it judges.

Identity runs use DirectRunner in multi-process mode, which pickles every transform into
worker processes as Dataflow does; the bad-input runs use the in-process mode (the message is
the point there, and it starts faster).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _paths import DEMO, PLANS, REPO
from phiguard.errors import PhiguardError
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
MULTI = ["--runner", "DirectRunner", "--direct_running_mode=multi_processing",
         "--direct_num_workers=2"]
IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]


def _scan(snapshot: list[Path], config: Path | None, out: Path, *, engine: str = "local",
          pipeline_args: list[str] | None = None) -> bytes:
    from phiguard.cli._options import parse_at

    output = Output("json", out, "--output")
    run_scan(snapshot, config_path=config, outputs=[output], at=parse_at(AT), engine=engine,
             pipeline_args=pipeline_args or [])
    return out.read_bytes()


def _same(snapshot: list[Path], config: Path | None, tmp_path: Path) -> dict[str, object]:
    local = _scan(snapshot, config, tmp_path / "local.json")
    beam = _scan(snapshot, config, tmp_path / "beam.json", engine="beam", pipeline_args=MULTI)
    assert beam == local
    doc: dict[str, object] = json.loads(local)
    return doc


def test_demo_org_is_byte_identical(tmp_path: Path) -> None:
    doc = _same([DEMO], DEMO / "phiguard.yaml", tmp_path)
    results = doc["results"]
    assert isinstance(results, list) and len(results) > 500
    outcomes = {r["outcome"] for r in results}
    assert {"PASS", "FAIL"} <= outcomes  # a real mix, not an empty document


def test_plan_free_fixture_snapshots_are_byte_identical(tmp_path: Path) -> None:
    """Every snapshot under fixtures/ that is not a Terraform plan (plans are judged by
    `phiguard plan`, which has no Beam engine)."""
    snapshots = sorted(p for p in PLANS.iterdir() if p.is_dir() and p.name.endswith("snapshot"))
    assert snapshots, "no plan-free fixture snapshot found"
    for i, snapshot in enumerate(snapshots):
        out = tmp_path / str(i)
        out.mkdir()
        _same([snapshot], PLANS / "phiguard.yaml", out)


@pytest.fixture(scope="module")
def generated_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("beam-org")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "generate.py"), "--assets",
                    "3000", "--out", str(out), "--shards", "3", "--gzip", "--workers", "1",
                    "--quiet"], check=True)
    return out


def test_generated_org_is_byte_identical(generated_org: Path, tmp_path: Path) -> None:
    """Sharded, gzip, IAM policies as separate lines of the same names, directory users."""
    doc = _same([generated_org / "assets"], generated_org / "phiguard.yaml", tmp_path)
    run = doc["run"]
    assert isinstance(run, dict) and run["records"] > 3000
    assert len(run["inputs"]) >= 4  # three shards and the users file


def _error(snapshot: list[Path], tmp_path: Path, engine: str) -> str:
    args = IN_PROCESS if engine == "beam" else []
    with pytest.raises(PhiguardError) as caught:
        _scan(snapshot, None, tmp_path / f"{engine}.json", engine=engine, pipeline_args=args)
    assert not (tmp_path / f"{engine}.json").exists()
    return str(caught.value)


def _lines(path: Path, records: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                            for r in records), encoding="utf-8")
    return path


def _bucket(name: str, public: bool = False) -> dict[str, object]:
    return {"name": f"//storage.googleapis.com/{name}",
            "asset_type": "storage.googleapis.com/Bucket",
            "ancestors": ["projects/111", "organizations/1"],
            "resource": {"data": {"name": name, "iamConfiguration": {
                "publicAccessPrevention": "inherited" if public else "enforced"}},
                "location": "us-central1"}}


@pytest.mark.parametrize("case", ["not-json", "bad-field", "conflict", "bad-time",
                                  "broken-then-conflict"])
def test_bad_input_fails_with_the_local_message(case: str, tmp_path: Path) -> None:
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    good = [_bucket(f"b{i}") for i in range(5)]
    if case == "not-json":  # a broken line in the second file: file and line named
        _lines(snapshot / "a.ndjson", good)
        _lines(snapshot / "b.ndjson", [good[0] | {"name": "//storage.googleapis.com/x"},
                                       '{"name": "//storage.googleapis.com/y", "asset_'])
    elif case == "bad-field":  # envelope fine, body of a judged type malformed: pass 2
        bad = _bucket("b9")
        bad["resource"] = {"data": {"name": "b9"}, "location": 7}
        _lines(snapshot / "a.ndjson", [*good, bad])
    elif case == "conflict":  # the same asset twice with different content, across files
        _lines(snapshot / "a.ndjson", good)
        _lines(snapshot / "b.ndjson", [_bucket("b3", public=True)])
    elif case == "broken-then-conflict":  # a broken line, then a conflict further down: the
        # Beam engine reads on past the broken line and reports what the local engine meets
        # first (which depends on how much of a line its pass 1 decodes)
        broken = json.dumps(_bucket("b8"))[:-1] + ', "x": }'
        _lines(snapshot / "a.ndjson", [*good, broken, _bucket("b2", public=True)])
    else:  # update_time that is no RFC 3339 time
        _lines(snapshot / "a.ndjson", [*good, _bucket("b7") | {"update_time": "yesterday"}])
    local = _error([snapshot], tmp_path, "local")
    beam = _error([snapshot], tmp_path, "beam")
    assert beam == local
    assert str(snapshot) in beam  # names the file


def test_no_records_is_the_local_usage_error(tmp_path: Path) -> None:
    snapshot = tmp_path / "empty.ndjson"
    snapshot.write_text("\n", encoding="utf-8")
    assert _error([snapshot], tmp_path, "beam") == _error([snapshot], tmp_path, "local")


def test_cli_takes_pipeline_options_after_double_dash(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from phiguard.cli import main

    out = tmp_path / "cli.json"
    result = CliRunner().invoke(main, [
        "scan", str(PLANS / "deploy-snapshot"), "--config", str(PLANS / "phiguard.yaml"),
        "--format", "json", "-o", str(out), "--at", AT, "--engine", "beam", "--",
        *IN_PROCESS])
    assert result.exit_code in (0, 1), result.output
    local = _scan([PLANS / "deploy-snapshot"], PLANS / "phiguard.yaml", tmp_path / "l.json")
    assert out.read_bytes() == local


# Objects read in place through Beam's file systems (gs:// in production): a file system of
# Beam's own kind under a test scheme, over this machine's files, so the listing, the
# per-worker copy, the users and manifest reads and the names in records and errors take the
# remote path. (In-process runner: a worker process would not know the test scheme.)
SCHEME = "phiguardtest"
_KEEP: list[type] = []  # Beam finds file systems among live subclasses: keep ours alive


def _remote_filesystem() -> None:
    if _KEEP:
        return
    from apache_beam.io.filesystem import FileMetadata, MatchResult
    from apache_beam.io.localfilesystem import LocalFileSystem

    prefix = f"{SCHEME}://"

    class _Remote(LocalFileSystem):  # type: ignore[misc]
        @classmethod
        def scheme(cls) -> str:
            return SCHEME

        def match(self, patterns: list[str], limits: object = None) -> list[object]:
            found = super().match([p.removeprefix(prefix) for p in patterns], limits)
            return [MatchResult(prefix + r.pattern, [
                FileMetadata(prefix + m.path, m.size_in_bytes, m.last_updated_in_seconds)
                for m in r.metadata_list]) for r in found]

        def open(self, path: str, *args: object, **kwargs: object) -> object:
            return super().open(path.removeprefix(prefix), *args, **kwargs)

    _KEEP.append(_Remote)


def test_remote_objects_are_read_in_place(tmp_path: Path) -> None:
    _remote_filesystem()
    local = _scan([DEMO], DEMO / "phiguard.yaml", tmp_path / "local.json")
    url = f"{SCHEME}://{DEMO}"
    beam = _scan([url], DEMO / "phiguard.yaml", tmp_path / "beam.json",  # type: ignore[list-item]
                 engine="beam", pipeline_args=IN_PROCESS)
    assert url.encode() in beam  # inputs and sources name the objects
    assert beam.replace(f"{SCHEME}://".encode(), b"") == local


def test_remote_bad_input_names_the_object(tmp_path: Path) -> None:
    _remote_filesystem()
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    _lines(snapshot / "a.ndjson", [_bucket("b1"), '{"name": 1'])
    local = _error([snapshot], tmp_path, "local")
    with pytest.raises(PhiguardError) as caught:
        _scan([f"{SCHEME}://{snapshot}"], None, tmp_path / "r.json",  # type: ignore[list-item]
              engine="beam", pipeline_args=IN_PROCESS)
    assert str(caught.value) == f"{SCHEME}://{local}"


@pytest.mark.parametrize("args, says", [
    (["--runner", "DataflowRunner", "--temp_location", "gs://b/tmp"], "cannot read"),
    (["--runner", "DataflowRunner"], "--temp_location"),
])
def test_remote_runner_needs_what_its_workers_can_read(args: list[str], says: str,
                                                       tmp_path: Path) -> None:
    """Refused before any pipeline starts (exit 2), with what to do."""
    from phiguard.errors import UsageError

    with pytest.raises(UsageError, match=says):
        _scan([DEMO], DEMO / "phiguard.yaml", tmp_path / "x.json", engine="beam",
              pipeline_args=args)


def test_shards_read_as_often_as_asked_then_removed(tmp_path: Path) -> None:
    """Every report format reads the assembled shards (here JSON twice, and the objects a
    CSV report is made from); close() removes the run's work files."""
    from phiguard.beam.scan import BeamScan
    from phiguard.config import load_config
    from phiguard.report.summary import Tally
    from phiguard.runs.common import load_pack

    snapshot, config = PLANS / "deploy-snapshot", PLANS / "phiguard.yaml"
    local = _scan([snapshot], config, tmp_path / "local.json")
    from phiguard.cli._options import parse_at

    job = BeamScan([snapshot], load_pack(()), load_config(config), at=parse_at(AT),
                   pipeline_args=IN_PROCESS)
    for i in range(2):
        out = tmp_path / f"beam{i}.json"
        with out.open("w", encoding="utf-8") as fh:
            job.write_json(fh, Tally())
        assert out.read_bytes() == local
    assert len(list(job.findings())) == len(json.loads(local)["results"])
    work = Path(job.work)
    assert (work / "findings").is_dir()
    job.close()
    assert not work.exists()
