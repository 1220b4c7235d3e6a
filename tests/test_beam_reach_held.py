"""The Beam engine holds a type kept only for `grants within: phi` (a Compute Engine instance,
when no rule joins to it) only when its name carries an IAM policy, as the local engine does:
the context broadcast to every worker holds no instance without a grant on it, and the
findings stay byte for byte the local engine's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO, RULES
from _reach import INSTANCE, org_with_one_granted_instance
from phiguard.config import load_config
from phiguard.policy.engine import Engine
from phiguard.policy.rule import load_pack
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]


def _scan(org: Path, out: Path, **beam: Any) -> bytes:
    from phiguard.cli._options import parse_at

    output = Output("json", str(out), "--output")
    run_scan([org], config_path=org / "phiguard.yaml", outputs=[output], at=parse_at(AT), **beam)
    return out.read_bytes()


def test_beam_holds_only_instances_with_an_iam_policy(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard.beam import pipeline

    config = load_config(DEMO / "phiguard.yaml")
    assert INSTANCE in Engine(load_pack([RULES]).rules, params=config.params).reach_only_types()
    org, granted, every = org_with_one_granted_instance(tmp_path)
    held: list[set[str]] = []  # in-process runner: the transforms share this module
    build = pipeline._inventory

    def seen(spec: Any, context: Any) -> Any:
        held.append({a.name for a in context.held if a.asset_type == INSTANCE})
        return build(spec, context)

    monkeypatch.setattr(pipeline, "_inventory", seen)
    local = _scan(org, tmp_path / "local.json")
    beam = _scan(org, tmp_path / "beam.json", engine="beam", pipeline_args=IN_PROCESS)
    assert held and all(names == {granted} for names in held), (held, len(every))
    assert beam == local
