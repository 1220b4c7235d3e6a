"""The findings JSON goes to its file as UTF-8 bytes past the text layer (never decoded and
encoded again), in order with the text written around it; and the scan generates every
type's evaluator before it forks workers, so they do not each generate them again."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

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
