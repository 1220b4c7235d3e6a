"""The Beam engine never writes a partial findings document: when the shards the pipeline
wrote do not hold every findings line it judged (a runner that loses or overwrites part of a
shard), the scan fails with a PhiguardError naming how many lines are missing, and no output
is written. In-process runner: the broken transforms below live in this test module."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from _paths import PLANS
from phiguard.beam import pipeline
from phiguard.beam.scan import BeamScan
from phiguard.errors import PhiguardError
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]
SNAPSHOT = PLANS / "deploy-snapshot"
CONFIG = PLANS / "phiguard.yaml"


def _scan(out: Path) -> None:
    from phiguard.cli._options import parse_at

    run_scan([SNAPSHOT], config_path=CONFIG, outputs=[Output("json", str(out), "--output")],
             at=parse_at(AT), engine="beam", pipeline_args=IN_PROCESS)


class _DroppingWrite(pipeline.WriteShard):
    """Writes every shard but its last line (as an overwrite by a partial write would)."""

    def process(self, element: tuple[tuple[int, int, int], Iterable[Any]]) -> Iterator[str]:
        key, lines = element
        kept = sorted(lines, key=lambda pair: pair[0])[:-1]
        yield from super().process((key, kept))


_DROPPED: list[str] = []  # in-process runner: the transforms share this module


class _DroppingJudge(pipeline.Judge):
    """Loses the first asset it is given before judging it (as a runner that drops elements
    between two stages would)."""

    def process(self, unit: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if not _DROPPED:
            _DROPPED.append(unit.name)
            return iter(())
        return super().process(unit, *args, **kwargs)


def test_the_complete_run_passes_the_guard(tmp_path: Path) -> None:
    _scan(tmp_path / "ok.json")
    assert (tmp_path / "ok.json").stat().st_size > 0


def test_a_shard_write_that_drops_lines_fails_the_scan(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "WriteShard", _DroppingWrite)
    out = tmp_path / "beam.json"
    with pytest.raises(PhiguardError) as caught:
        _scan(out)
    message = str(caught.value)
    assert "lost findings" in message and "missing" in message, message
    assert not out.exists()


def test_a_shard_file_gone_before_assembly_fails_the_scan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = BeamScan._run

    def run_then_lose_a_shard(self: BeamScan, spec: Any, args: Any) -> None:
        run(self, spec, args)
        shards = sorted((Path(self.work) / pipeline.FINDINGS).glob("*.ndjson"))
        assert shards
        lost = shards[0].read_text(encoding="utf-8").count("\n")
        assert lost > 0
        shards[0].unlink()
        self.lost = lost  # type: ignore[attr-defined]

    monkeypatch.setattr(BeamScan, "_run", run_then_lose_a_shard)
    out = tmp_path / "beam.json"
    with pytest.raises(PhiguardError) as caught:
        _scan(out)
    assert " missing" in str(caught.value), caught.value
    assert not out.exists()


def test_cli_exits_2_without_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from phiguard.cli import main

    monkeypatch.setattr(pipeline, "WriteShard", _DroppingWrite)
    out = tmp_path / "cli.json"
    result = CliRunner().invoke(main, [
        "scan", str(SNAPSHOT), "--config", str(CONFIG), "--format", "json", "-o", str(out),
        "--at", AT, "--engine", "beam", "--", *IN_PROCESS])
    assert result.exit_code == 2, result.output
    assert "lost findings" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_an_asset_lost_before_judging_fails_the_scan(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "Judge", _DroppingJudge)
    _DROPPED.clear()
    out = tmp_path / "beam.json"
    with pytest.raises(PhiguardError) as caught:
        _scan(out)
    message = str(caught.value)
    assert _DROPPED and "assets to judge: " in message, message
    assert "(1 missing: never delivered)" in message, message
    assert not out.exists()
