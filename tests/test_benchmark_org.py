"""The benchmark's synthetic organization (benchmarks/generate.py) is shaped as Google writes
its records, holds every content type the rules read, and scans the same with one or two
processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _paths import REPO, RULES
from phiguard.config import load_config
from phiguard.inventory import snapshot
from phiguard.policy.rule import load_pack
from phiguard.report.summary import Tally
from phiguard.scan import Scan


@pytest.fixture(scope="module")
def synthetic_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small organization from the benchmark generator."""
    out = tmp_path_factory.mktemp("org")
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "generate.py"), "--assets", "6000",
                    "--out", str(out), "--workers", "1", "--seed", "3", "--quiet"], check=True)
    return out


def test_generated_org_is_shaped_like_google_writes_it(synthetic_org: Path) -> None:
    """Every generated resource validates against Google's discovery schemas (as CAI writes
    them); the organization carries org policies, as real ones do."""
    from phiguard.google import is_cai_asset_type, schema_of, validate_resource

    problems = []
    kinds = set()
    with (synthetic_org / "assets.ndjson").open() as fh:
        for line_no, line in enumerate(fh, 1):
            record = json.loads(line)
            asset_type = record["asset_type"]
            assert is_cai_asset_type(asset_type), asset_type
            kinds.update(k for k in ("resource", "iam_policy", "org_policy") if k in record)
            if "resource" in record and schema_of(asset_type) is not None:
                problems += [f"{line_no}: {p}" for p in
                             validate_resource(asset_type, record["resource"]["data"])]
    assert problems == []
    assert kinds == {"resource", "iam_policy", "org_policy"}


def test_generated_org_scans_without_missing_content(synthetic_org: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's org holds every content type the rules read (no UNKNOWN for missing
    org policies), and one or two processes over many byte ranges give the same bytes."""
    monkeypatch.setattr(snapshot, "RANGE_BYTES", 512 * 1024)
    pack = load_pack([RULES])
    config = load_config(synthetic_org / "phiguard.yaml")
    paths = [synthetic_org / "assets.ndjson", synthetic_org / "users.json"]
    outputs = []
    for jobs in (1, 2):
        job = Scan(paths, pack, config, jobs=jobs)
        assert job.content_missing == []
        out = synthetic_org / f"out-{jobs}.json"
        with out.open("w") as fh:
            job.write_json(fh, Tally())
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    doc = json.loads(outputs[0])
    assert "content_missing" not in doc["run"]
    assert not [r for r in doc["results"] if "no ORG_POLICY content" in r["message"]]
