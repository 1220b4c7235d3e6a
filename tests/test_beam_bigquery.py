"""The Beam engine's BigQuery rows, written sharded by the pipeline's workers
(phiguard.beam.bigquery), are the rows `--format ndjson` writes, shard after shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from _paths import DEMO
from phiguard.beam.bigquery import convert_shard as _CONVERT
from phiguard.cli import main
from phiguard.config import load_config
from phiguard.errors import PhiguardError
from phiguard.report.bigquery import check_row
from phiguard.report.summary import Tally
from phiguard.runs.common import load_pack

AT = "2026-11-25T00:00:00Z"


def test_sharded_rows_are_the_ndjson_output(tmp_path: Path) -> None:
    from phiguard._util.times import parse_time
    from phiguard.beam.bigquery import write_bigquery_shards
    from phiguard.beam.scan import BeamScan

    result = CliRunner().invoke(main, ["scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"),
                                       "-f", "ndjson", "-o", str(tmp_path / "local.ndjson"),
                                       "--at", AT], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    expected = (tmp_path / "local.ndjson").read_bytes()

    args = ["--runner", "DirectRunner"]
    scan = BeamScan([str(DEMO)], load_pack(()), load_config(DEMO / "phiguard.yaml"),
                    at=parse_time(AT), pipeline_args=args)
    names = write_bigquery_shards(scan, str(tmp_path / "rows"), args)
    assert len(names) > 1  # the demo's findings come in several shards
    assert [Path(n).name for n in names] == [
        f"findings-{i:05d}-of-{len(names):05d}.ndjson" for i in range(len(names))]
    written = b"".join(Path(n).read_bytes() for n in names)
    assert written == expected
    for raw in written.splitlines():
        assert check_row(orjson.loads(raw)) == []
    scan.tally(Tally())  # consumed: its work files are removed


def test_scan_on_beam_writes_the_same_rows(tmp_path: Path) -> None:
    """`scan --engine beam -f ndjson` (rows from the assembled findings) is the local output."""
    def scan(*extra: str) -> bytes:
        out = tmp_path / f"{len(extra)}.ndjson"
        result = CliRunner().invoke(main, ["scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"),
                                           "-f", "ndjson", "-o", str(out), "--at", AT, *extra],
                                    catch_exceptions=False)
        assert result.exit_code == 1, result.output
        return out.read_bytes()

    assert scan("--engine", "beam", "--", "--runner", "DirectRunner") == scan()


def test_scan_option_writes_the_shards_once(tmp_path: Path) -> None:
    """`scan --engine beam --bigquery-shards DIR`: the workers' shards hold the local rows; a
    prefix that already holds shards, or the option without the Beam engine, is exit 2 before
    any scan."""
    local = tmp_path / "local.ndjson"
    base = ["scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"), "--at", AT]
    assert CliRunner().invoke(main, [*base, "-f", "ndjson", "-o", str(local)]).exit_code == 1
    prefix = tmp_path / "rows"
    out = tmp_path / "f.json"
    beam = [*base, "-f", "json", "-o", str(out), "--engine", "beam", "--bigquery-shards",
            str(prefix), "--", "--runner", "DirectRunner"]
    result = CliRunner().invoke(main, beam, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    names = sorted(prefix.glob("findings-*.ndjson"))
    assert names and b"".join(n.read_bytes() for n in names) == local.read_bytes()
    assert "BigQuery NDJSON shards written" in result.stderr
    out.unlink()
    again = CliRunner().invoke(main, beam, catch_exceptions=False)
    assert again.exit_code == 2
    assert f"--bigquery-shards {prefix}: already holds {len(names)} findings shards" in (
        again.output)
    assert not out.exists()
    plain = CliRunner().invoke(main, [*base, "--bigquery-shards", str(tmp_path / "x")],
                               catch_exceptions=False)
    assert plain.exit_code == 2 and "add --engine beam" in plain.output


_LOST: list[object] = []  # in-process runner: the transforms share this module


def _losing_convert(element: tuple[int, str], *args: Any) -> str:
    """Loses one findings shard before it is converted (as a runner dropping it would)."""
    if not _LOST:
        _LOST.append(element)
        return ""
    return _CONVERT(element, *args)


def test_a_lost_shard_leaves_no_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Complete or absent: a findings shard lost on its way to conversion fails with exit 2
    (PhiguardError, the rows missing named) and the row shards already written are removed."""
    from phiguard._util.times import parse_time
    from phiguard.beam import bigquery
    from phiguard.beam.scan import BeamScan

    args = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]
    scan = BeamScan([str(DEMO)], load_pack(()), load_config(DEMO / "phiguard.yaml"),
                    at=parse_time(AT), pipeline_args=args)
    _LOST.clear()
    monkeypatch.setattr(bigquery, "convert_shard", _losing_convert)
    prefix = tmp_path / "rows"
    with pytest.raises(PhiguardError) as caught:
        bigquery.write_bigquery_shards(scan, str(prefix), args)
    message = str(caught.value)
    assert _LOST and "lost BigQuery rows" in message and "rows missing" in message, message
    assert not prefix.exists() or not list(prefix.glob("findings-*"))
    scan.close()
