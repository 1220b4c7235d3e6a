"""Findings JSON v1: versioned, deterministic, streamed one result per line."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Any

import orjson

from phiguard.errors import InputError
from phiguard.findings import Finding
from phiguard.report.summary import Tally

__all__ = ["FINDINGS_SCHEMA", "finding_bytes", "finding_line", "read_findings", "write_findings",
           "write_footer", "write_header", "write_utf8"]

FINDINGS_SCHEMA = "phiguard.findings/v1"


def _dump(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def finding_line(finding: Finding) -> str:
    """One result as it appears in the `results` array."""
    return finding_bytes(finding).decode()


def finding_bytes(finding: Finding) -> bytes:
    """`finding_line` as UTF-8 (a scan's workers serialize with this: the text is never
    decoded, pickled as text and encoded again on its way to the file).

    One mapping and one `orjson.dumps` per finding, the outcome and the controls written as
    they are held (orjson writes an enum as its value and a tuple as an array): the same
    bytes as `orjson.dumps(finding.to_json())` for a quarter less CPU than encoding the
    members before the message from a cache per rule and joining the pieces (what this did
    before: the joins and the key of the cache cost more than the members they saved)."""
    kind = type(finding)
    if kind is Finding:
        out: dict[str, Any] = {
            "rule_id": finding.rule_id, "asset": finding.asset,
            "asset_type": finding.asset_type, "outcome": finding.outcome,
            "severity": finding.severity, "controls": finding.controls,
            "message": finding.message,
            "evidence": [{"path": p, "value": v} for p, v in finding.evidence],
            "waiver": finding.waiver}
        if finding.source:
            out["source"] = finding.source
        return orjson.dumps(out, option=_OPT)
    if kind.to_json is not _TO_JSON:  # a subclass writes its own
        return orjson.dumps(finding.to_json(), option=_OPT)
    out = {"rule_id": finding.rule_id, "asset": finding.asset, "asset_type": finding.asset_type,
           "outcome": finding.outcome, "severity": finding.severity,
           "controls": finding.controls}
    out.update(finding.json_tail())  # a subclass's added members
    return orjson.dumps(out, option=_OPT)


_OPT = orjson.OPT_NON_STR_KEYS
_TO_JSON = Finding.to_json


def write_utf8(out: IO[str], data: bytes | bytearray) -> None:
    """Write UTF-8 `data` to the text stream `out`: to its binary buffer when it has one (the
    text layer flushed first, so the order holds), else decoded."""
    put = getattr(out, "write_bytes", None)  # phiguard._util.outputs.OutputWriter
    if put is not None:
        put(data)
        return
    buffer = getattr(out, "buffer", None)
    if buffer is not None and getattr(out, "encoding", "").lower().replace("-", "") == "utf8":
        out.flush()
        buffer.write(data)
        return
    out.write(data.decode())


def write_header(out: IO[str], run: dict[str, Any]) -> None:
    out.write('{"schema": "' + FINDINGS_SCHEMA + '",\n"run": ' + _dump(run) + ',\n"results": [')


def write_footer(out: IO[str], tally: Tally, waivers: list[dict[str, Any]]) -> None:
    out.write("\n],\n\"summary\": " + _dump(tally.to_json()))
    out.write(",\n\"waivers\": " + _dump(waivers) + "}\n")


def write_findings(out: IO[str], run: dict[str, Any], findings: Iterable[Finding], tally: Tally,
                   waivers: Callable[[], list[dict[str, Any]]]) -> None:
    """Write the findings document; `waivers` is read after every finding has been written."""
    write_header(out, run)
    first = True
    for finding in findings:
        tally.add(finding)
        out.write(("\n" if first else ",\n") + finding_line(finding))
        first = False
    write_footer(out, tally, waivers())


def read_findings(path: str) -> dict[str, Any]:
    """Load a findings document written by `write_findings`, checking its schema and fields."""
    from phiguard.report.validate import check_findings_doc

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not valid UTF-8 (byte {exc.start})", file=path, line=line) from None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not raw.strip():
            raise InputError("empty file (expected a phiguard findings JSON document)",
                             file=path) from None
        raise InputError(f"invalid JSON: {exc.msg}", file=path, line=exc.lineno,
                         column=exc.colno) from None
    if not isinstance(doc, dict) or doc.get("schema") != FINDINGS_SCHEMA:
        raise InputError(f"not a phiguard findings file (expected schema {FINDINGS_SCHEMA})",
                         file=path)
    check_findings_doc(doc, raw, path)
    return doc
