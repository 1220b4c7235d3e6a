"""The findings JSON goes to its file as UTF-8 bytes past the text layer (never decoded and
encoded again), in order with the text written around it; and the scan generates every
type's evaluator before it forks workers, so they do not each generate them again."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

import phiguard.scan as scan_module
from _paths import DEMO
from phiguard._util.outputs import atomic_output
from phiguard.config import load_config
from phiguard.report.json_report import write_utf8
from phiguard.runs.common import load_pack

TEXT = 'caf\u00e9 "\u2603"\n'


def _write_mixed(out: io.TextIOBase) -> None:
    out.write("[")  # text, still in the text layer's buffer when the bytes come
    write_utf8(out, TEXT.encode())  # type: ignore[arg-type]
    out.write("]\n")
    write_utf8(out, b"tail")  # type: ignore[arg-type]


def test_bytes_keep_their_place_in_a_written_file(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    with atomic_output(str(path)) as out:
        _write_mixed(out)  # type: ignore[arg-type]
    assert path.read_bytes() == ("[" + TEXT + "]\ntail").encode()


def test_bytes_to_a_stream_without_a_buffer_are_decoded() -> None:
    out = io.StringIO()
    _write_mixed(out)
    assert out.getvalue() == "[" + TEXT + "]\ntail"


def test_bytes_to_a_buffered_text_stream() -> None:
    raw = io.BytesIO()
    wrapped = io.TextIOWrapper(raw, encoding="utf-8")
    _write_mixed(wrapped)
    wrapped.flush()
    assert raw.getvalue() == ("[" + TEXT + "]\ntail").encode()


def test_a_non_utf8_stream_gets_text() -> None:
    raw = io.BytesIO()
    wrapped = io.TextIOWrapper(raw, encoding="utf-16-le")
    _write_mixed(wrapped)
    wrapped.flush()
    assert raw.getvalue() == ("[" + TEXT + "]\ntail").encode("utf-16-le")


def test_every_type_has_its_evaluator_before_the_judging_pass() -> None:
    config = load_config(DEMO / "phiguard.yaml")
    job = scan_module.Scan([DEMO], load_pack([]), config, jobs=2,
                           at=datetime(2026, 11, 25, tzinfo=UTC))
    results = job._results("tally")
    next(results)  # the first task judged: the evaluators were generated before it
    generated = set(job.engine._evaluators)
    assert set(job.loaded.counts) <= generated
    for _ in results:
        pass


def test_the_exit_gate_counts_without_rebuilding_the_notable_findings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`failing` (the exit code) reads the framework's counts only: narrowing the 5,000 kept
    findings to the framework's controls took 0.06-0.19 s of every scan's exit at 200k."""
    import phiguard.report.framework as framework
    from phiguard.findings import Finding, Outcome
    from phiguard.report.summary import Tally
    from phiguard.runs.common import failing

    pack = load_pack([])
    view = pack.for_framework("hipaa")
    rule = next(r for r in view.rules if r.severity == "high")
    tally = Tally()
    tally.add(Finding(rule.id, "//a", "t", Outcome.FAIL, "high", rule.controls, "m"))

    def refuse(*args: object) -> None:
        raise AssertionError("the gate narrowed the notable findings")

    monkeypatch.setattr(framework, "framework_findings", refuse)
    assert failing(tally, "high", view)
    assert not failing(tally, "critical", view)
    assert framework.framework_tally(tally, view, notable=False).notable == []


def test_inputs_are_hashed_beside_a_serial_scan_and_the_record_is_the_same() -> None:
    """One process: the inputs' sha256 is worked out in a thread while pass 1 reads; with
    workers it is worked out when the run record is first asked for. Same record either way,
    and worked out once however many reports ask for it."""
    import threading

    from phiguard._util.hashing import sha256_file

    config = load_config(DEMO / "phiguard.yaml")
    at = datetime(2026, 11, 25, tzinfo=UTC)
    before = {t.name for t in threading.enumerate()}
    serial = scan_module.Scan([DEMO], load_pack([]), config, jobs=1, at=at)
    parallel = scan_module.Scan([DEMO], load_pack([]), config, jobs=2, at=at)
    assert serial.run_info()["inputs"] == parallel.run_info()["inputs"]
    assert serial.run_info()["inputs"] is serial.run_info()["inputs"]  # hashed once
    for entry in serial.run_info()["inputs"]:
        assert entry["sha256"] == sha256_file(Path(entry["path"]))
    assert "phiguard-inputs" not in before


def test_a_hashing_error_reaches_the_caller_of_the_result() -> None:
    def broken() -> str:
        raise OSError(2, "No such file or directory")

    for now, start in ((True, False), (False, False), (False, True)):
        result = scan_module._Deferred(broken, now=now)
        if start:
            result.start()  # started later, in a thread (pass 1 in two processes)
        with pytest.raises(OSError, match="No such file"):
            result()
