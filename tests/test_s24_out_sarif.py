"""render_sarif builds the log with the collector paused and leaves it as it found it, writes
the same document through a binary buffer as through a text-only stream, and places every
result of one source file under the one URI (computed once per file)."""

from __future__ import annotations

import gc
import io
import json
from collections.abc import Iterator

import orjson
import pytest

from phiguard.findings import Finding
from phiguard.report import sarif
from phiguard.report.sarif import render_sarif, sarif_document
from report_data import demo, pack


def _expected() -> bytes:
    run, findings, waivers = demo()
    doc = sarif_document(findings, run, pack(), waivers)
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_paused_while_building_and_left_as_it_was(enabled: bool) -> None:
    run, findings, waivers = demo()
    seen: list[bool] = []

    def watched() -> Iterator[Finding]:
        for finding in findings:
            seen.append(gc.isenabled())
            yield finding

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        out = io.StringIO()
        render_sarif(out, watched(), run, pack(), waivers)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert seen and not any(seen)
    assert out.getvalue().encode() == _expected()


def test_the_collector_is_restored_when_building_fails() -> None:
    run, _, waivers = demo()

    def broken() -> Iterator[Finding]:
        raise RuntimeError("no findings")
        yield  # pragma: no cover

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        render_sarif(io.StringIO(), broken(), run, pack(), waivers)
    assert gc.isenabled()


def test_bytes_through_a_utf8_buffer_equal_the_text_stream() -> None:
    run, findings, waivers = demo()
    raw = io.BytesIO()
    text = io.TextIOWrapper(raw, encoding="utf-8", write_through=False)
    text.write("")  # the text layer holds nothing yet; what follows must keep its order
    render_sarif(text, findings, run, pack(), waivers)
    text.flush()
    assert raw.getvalue() == _expected()
    json.loads(raw.getvalue())


def test_one_uri_per_source_file() -> None:
    sarif._uri.cache_clear()
    run, findings, waivers = demo()
    doc = sarif_document(findings, run, pack(), waivers)
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for result in doc["runs"][0]["results"] for loc in result["locations"]
            if "physicalLocation" in loc}
    assert uris
    info = sarif._uri.cache_info()
    assert info.currsize == len(uris) and info.misses == len(uris)
    assert sarif._uri("/tmp/a b/assets.ndjson") == "file:///tmp/a%20b/assets.ndjson"
    assert sarif._uri("exports\\org 1\\assets.ndjson") == "exports/org%201/assets.ndjson"
