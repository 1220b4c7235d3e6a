"""Check a findings JSON document (v1) read back from disk before anything renders it.

`phiguard report` and `phiguard plan --baseline` accept files a user hands them; a field of the
wrong type must be exit 2 naming the file, line and field, never a traceback or a silent pass.
`write_findings` puts result i on line 4 + i, so a result's line is known when the layout is
the one phiguard writes.
"""

from __future__ import annotations

from typing import Any, NoReturn

from phiguard.errors import InputError
from phiguard.findings import SEVERITIES, Outcome

__all__ = ["check_findings_doc", "check_renderable_run"]

_OUTCOMES = frozenset(o.value for o in Outcome)
_RUN_STRINGS = ("tool_version", "rule_pack_digest", "snapshot_time", "evaluated_at")
_WAIVER_STRINGS = ("rule", "asset", "reason", "approved_by", "expires", "status")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def _result_line(raw: bytes, index: int) -> int | None:
    lines = raw.split(b"\n", index + 4)
    line = index + 4
    if len(lines) >= line and lines[line - 1].lstrip(b",").startswith(b'{"rule_id"'):
        return line
    return None


def check_findings_doc(doc: dict[str, Any], raw: bytes, path: str) -> None:
    """Raise InputError at the first field a renderer could not use."""

    def fail(message: str, line: int | None = None) -> NoReturn:
        raise InputError(message, file=path, line=line)

    run, results = doc.get("run"), doc.get("results")
    if not isinstance(run, dict):
        fail(f"`run` must be an object, got {_kind(run)}")
    if not isinstance(results, list):
        fail(f"`results` must be an array, got {_kind(results)}")
    for key in _RUN_STRINGS:
        if run.get(key) is not None and not isinstance(run[key], str):
            fail(f"`run.{key}` must be a string, got {_kind(run[key])}", 2)
    if run.get("config") is not None:
        problem = _config_problem(run["config"])
        if problem:
            fail(problem, 2)
    gaps = run.get("coverage_gaps")
    if gaps is not None and not (isinstance(gaps, list)
                                 and all(isinstance(g, dict) for g in gaps)):
        fail("`run.coverage_gaps` must be an array of objects", 2)
    for field in ("asset_types_missing", "subject_types_missing"):
        missing = run.get(field)
        if missing is not None and not (isinstance(missing, list) and all(
                isinstance(m, dict) and isinstance(m.get("asset_type"), str)
                and isinstance(m.get("rules"), list)
                and all(isinstance(r, str) for r in m["rules"]) for m in missing)):
            fail(f"`run.{field}` must be an array of {{asset_type, rules}} objects (a string "
                 "and an array of rule ids)", 2)
    old = run.get("pre_v1_asset_types")
    if old is not None and not (isinstance(old, list) and all(
            isinstance(m, dict) and isinstance(m.get("asset_type"), str)
            and isinstance(m.get("assets"), int) and not isinstance(m["assets"], bool)
            for m in old)):
        fail("`run.pre_v1_asset_types` must be an array of {asset_type, assets} objects (a "
             "string and a number)", 2)
    rules = run.get("rules_evaluated")
    if rules is not None and not (isinstance(rules, list)
                                  and all(isinstance(r, str) for r in rules)):
        fail("`run.rules_evaluated` must be an array of rule ids", 2)
    inputs = run.get("inputs")
    if inputs is not None and not (isinstance(inputs, list) and all(
            isinstance(i, dict) and isinstance(i.get("path"), str) for i in inputs)):
        fail("`run.inputs` must be an array of {path, sha256} objects", 2)
    for i, obj in enumerate(results):
        problem = _result_problem(obj)
        if problem:
            fail(f"results[{i}]: {problem}", _result_line(raw, i))
    waivers = doc.get("waivers")
    if waivers is None:
        return
    if not isinstance(waivers, list):
        fail(f"`waivers` must be an array, got {_kind(waivers)}")
    for i, w in enumerate(waivers):
        if not isinstance(w, dict):
            fail(f"waivers[{i}] must be an object, got {_kind(w)}")
        for key in _WAIVER_STRINGS:
            if not isinstance(w.get(key), str):
                fail(f"waivers[{i}].{key} must be a string, got {_kind(w.get(key))}")
        if not isinstance(w.get("matched", 0), int):
            fail(f"waivers[{i}].matched must be a number, got {_kind(w.get('matched'))}")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _config_problem(config: Any) -> str | None:
    """What is wrong with `run.config` for the renderers (organization, PHI scope), if anything."""
    if not isinstance(config, dict):
        return f"`run.config` must be an object, got {_kind(config)}"
    org = config.get("organization")
    if org is not None and not isinstance(org, str):
        return f"`run.config.organization` must be a string, got {_kind(org)}"
    phi = config.get("phi")
    if phi is None:
        return None
    if not isinstance(phi, dict):
        return f"`run.config.phi` must be an object, got {_kind(phi)}"
    if phi.get("all") is not None and not isinstance(phi["all"], bool):
        return f"`run.config.phi.all` must be a boolean, got {_kind(phi['all'])}"
    for key in ("projects", "folders", "networks"):
        if phi.get(key) is not None and not _strings(phi[key]):
            return f"`run.config.phi.{key}` must be an array of strings"
    labels = phi.get("project_labels")
    if labels is not None and not (isinstance(labels, dict) and all(
            isinstance(v, str) for v in labels.values())):
        return "`run.config.phi.project_labels` must be an object of label: value strings"
    return None


def check_renderable_run(doc: dict[str, Any], path: str) -> None:
    """The run fields every report shows (`phiguard report`): present, and strings."""
    run = doc.get("run") or {}
    for key in ("tool_version", "rule_pack_digest", "evaluated_at"):
        if not isinstance(run.get(key), str):
            raise InputError(f"`run.{key}` must be a string (a findings file phiguard wrote "
                             f"has it), got {_kind(run.get(key))}", file=path, line=2)


def _result_problem(obj: Any) -> str | None:
    if not isinstance(obj, dict):
        return f"expected a finding object, got {_kind(obj)}"
    for key in ("rule_id", "asset", "asset_type", "message"):
        if not isinstance(obj.get(key), str):
            return f"`{key}` must be a string, got {_kind(obj.get(key))}"
    if not isinstance(obj.get("outcome"), str) or obj["outcome"] not in _OUTCOMES:
        return (f"`outcome` must be one of {', '.join(sorted(_OUTCOMES))}, "
                f"got {obj.get('outcome')!r}")
    if not isinstance(obj.get("severity"), str) or obj["severity"] not in SEVERITIES:
        return f"`severity` must be one of {', '.join(SEVERITIES)}, got {obj.get('severity')!r}"
    controls = obj.get("controls")
    if not isinstance(controls, list) or not all(isinstance(c, str) for c in controls):
        return "`controls` must be an array of strings"
    evidence = obj.get("evidence", [])
    if not isinstance(evidence, list) or not all(
            isinstance(e, dict) and isinstance(e.get("path"), str) and "value" in e
            for e in evidence):
        return "`evidence` must be an array of {path, value} objects"
    if obj.get("waiver") is not None and not isinstance(obj["waiver"], dict):
        return f"`waiver` must be an object or null, got {_kind(obj['waiver'])}"
    if obj.get("source") is not None and not isinstance(obj["source"], str):
        return f"`source` must be a string or null, got {_kind(obj['source'])}"
    return None
