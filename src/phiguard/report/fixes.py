"""Applied fixes as remediation evidence: the `fix apply` journal, read for the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from phiguard.errors import InputError

__all__ = ["fix_rows", "read_journal_records"]

_SHOWN = ("time", "rule_id", "asset", "action", "result", "rule_outcome", "operation")


def read_journal_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a `fix apply` journal (NDJSON). A torn last line, left by a run killed
    mid-write, is ignored, as `fix apply --resume` ignores it; anything else malformed is an
    error naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("not valid UTF-8", file=str(path)) from None
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines):
                break
            raise InputError(f"journal line is not JSON: {exc.msg}", file=str(path),
                             line=n) from None
        if not isinstance(record, dict) or not {"action_id", "rule_id", "asset",
                                                "result"} <= set(record):
            raise InputError("not a fix journal record (expected action_id, rule_id, asset, "
                             "result)", file=str(path), line=n)
        records.append(record)
    return records


def _compact(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True) if value is not None else ""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def fix_rows(records: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row per journal record, as text for the report (escaped by the template). The
    `intent` apply writes before each write is shown only while no outcome follows it (a run
    stopped mid-write: the change was sent, its outcome unknown until `--resume`)."""
    rows = []
    settled = {(r.get("plan_digest"), r.get("action_id")): n for n, r in enumerate(records)
               if r.get("result") != "intent"}
    for n, record in enumerate(records):
        if (record.get("result") == "intent"
                and settled.get((record.get("plan_digest"), record.get("action_id")), -1) > n):
            continue
        row = {key: str(record.get(key) or "") for key in _SHOWN}
        row["before"] = _compact(record.get("before"))
        row["after"] = _compact(record.get("after"))
        rows.append(row)
    return rows
