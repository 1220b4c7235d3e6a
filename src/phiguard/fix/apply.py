"""`fix apply`: send exactly the planned requests, each guarded by its precondition, journalled.

Per action: re-read the resource; if it already has the planned state the action is a no-op
(so a second apply changes nothing); if its precondition token moved since the plan it is
skipped and reported, never overwritten; otherwise the planned request is sent with the token
the plan saw, long-running operations are waited on, and the resource is re-read to verify.
Each outcome is appended to the journal, flushed and fsynced, before the next action starts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from phiguard.errors import InputError
from phiguard.fix.actions import Action, action_by_id
from phiguard.fix.api import ApiError, FixApi, FixError
from phiguard.fix.verify import judge

__all__ = ["FINAL", "ApplyReport", "Outcome", "apply_plan", "read_journal"]

# Results that end an action: `--resume` does not touch these again. `failed` is retried.
FINAL = ("applied", "already-applied", "skipped-changed", "skipped-conflict")


@dataclass(frozen=True)
class Outcome:
    entry_id: str
    result: str  # one of FINAL, "failed", "would-apply", "would-skip", "done-earlier"
    message: str


@dataclass
class ApplyReport:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad = ("skipped-changed", "skipped-conflict", "failed", "would-skip", "unverified")
        return not any(o.result in bad for o in self.outcomes)


def read_journal(path: Path, digest: str) -> dict[str, dict[str, Any]]:
    """The last record per action id from a journal of this plan; a torn last line (a run
    killed mid-write) is ignored, anything else malformed is an error."""
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break
            raise InputError("journal line is not JSON", file=str(path), line=n) from None
        if rec.get("plan_digest") != digest:
            raise FixError(f"{path}:{n}: journal belongs to another plan "
                           f"({rec.get('plan_digest')}, this plan is {digest})")
        records[rec["action_id"]] = rec
    return records


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left incomplete by a kill, so appended records stay one per line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)
            fh.flush()
            os.fsync(fh.fileno())


class _Journal:
    def __init__(self, fh: IO[str], digest: str, now: Callable[[], datetime]) -> None:
        self.fh, self.digest, self.now = fh, digest, now

    def write(self, entry: dict[str, Any], result: str, **extra: Any) -> None:
        rec = {"time": self.now().isoformat().replace("+00:00", "Z"),
               "plan_digest": self.digest, "action_id": entry["id"],
               "rule_id": entry["rule_id"], "asset": entry["asset"],
               "action": entry.get("action"), "request": entry.get("request"),
               "before": entry.get("before"), "after": entry.get("after"),
               "result": result, **extra}
        self.fh.write(json.dumps(rec, sort_keys=True) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())


def _wait(api: FixApi, action: Action, target: dict[str, str], response: Any,
          timeout: float) -> str | None:
    """Wait for a long-running write; returns the operation name."""
    if not isinstance(response, dict) or action.kind.operation is None:
        return None
    name = response.get("name")
    deadline = time.monotonic() + timeout
    delay = 0.05
    while response.get("status") != "DONE":
        if time.monotonic() > deadline:
            raise ApiError(action.kind.write_call, 504, f"operation {name} not done in {timeout}s")
        if action.kind.operation == "compute-global":
            response = api.call("compute.globalOperations.wait",
                                {"project": target["project"], "operation": name})
        else:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            response = api.call("sqladmin.operations.get",
                                {"project": target["project"], "operation": name})
    if response.get("error"):
        raise ApiError(action.kind.write_call, 500, json.dumps(response["error"]))
    return str(name) if name else None


def _changes(plan: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Action]]:
    for entry in plan["actions"]:
        if entry["status"] == "change":
            action = action_by_id(entry["action"])
            assert action is not None  # read_plan checked it
            yield entry, action


def apply_plan(api: FixApi, plan: dict[str, Any], *, journal: Path | None, yes: bool,
               resume: bool, now: Callable[[], datetime],
               echo: Callable[[str], None] = print, op_timeout: float = 600.0) -> ApplyReport:
    """Apply (or, without `yes`, dry-run) every `change` entry of a checked plan."""
    digest = plan["digest"]
    report = ApplyReport()
    done: dict[str, dict[str, Any]] = {}
    if yes:
        if journal is None:
            raise FixError("applying needs --journal FILE: it records every change made")
        if journal.exists() and journal.stat().st_size and not resume:
            raise FixError(f"{journal} already has entries: add --resume to continue that run, "
                           "or name a new journal")
        done = read_journal(journal, digest) if resume else {}
        if resume and journal.exists():
            _drop_torn_tail(journal)
    # Tokens this run (and resumed runs) advanced: several actions may patch one resource, and
    # each one's write moves the precondition the next one's plan saw. Only our own moves are
    # followed; any other change still skips.
    ours: dict[str, dict[str, str]] = {}
    for rec in done.values():
        if rec.get("result") == "applied" and rec.get("token_before") is not None:
            ours.setdefault(rec["resource"], {})[rec["token_before"]] = rec["token_after"]
    fh = journal.open("a", encoding="utf-8") if yes and journal is not None else None
    try:
        log = _Journal(fh, digest, now) if fh is not None else None
        for entry, action in _changes(plan):
            label = f"{entry['id']} {entry['rule_id']} {action.id} {entry['asset']}"
            earlier = done.get(entry["id"])
            if earlier is not None and earlier["result"] in FINAL:
                report.outcomes.append(Outcome(entry["id"], "done-earlier", earlier["result"]))
                echo(f"= {label}: {earlier['result']} in an earlier run (journal)")
                continue
            outcome = _one(api, entry, action, log, op_timeout, ours)
            report.outcomes.append(outcome)
            echo(f"{_MARK.get(outcome.result, '?')} {label}: {outcome.result}"
                 + (f": {outcome.message}" if outcome.message else ""))
            if outcome.result == "failed":
                raise FixError(f"stopped at {entry['id']}: {outcome.message}; the journal "
                               f"{journal} records what completed: rerun with --resume")
    finally:
        if fh is not None:
            fh.close()
    return report


_MARK = {"applied": "+", "already-applied": "=", "skipped-changed": "!", "skipped-conflict": "!",
         "failed": "x", "would-apply": "~", "would-skip": "!", "unverified": "?"}


def _resource_key(read: dict[str, Any]) -> str:
    return str(read["method"]) + " " + json.dumps(read["params"], sort_keys=True)


def _follow(chain: dict[str, str], planned: str, seen: str) -> bool:
    """Whether our own earlier writes moved the token from `planned` to `seen`."""
    token, steps = planned, 0
    while token in chain and token != seen and steps <= len(chain):
        token, steps = chain[token], steps + 1
    return token == seen


def _one(api: FixApi, entry: dict[str, Any], action: Action, log: _Journal | None,
         op_timeout: float, ours: dict[str, dict[str, str]]) -> Outcome:
    kind, target = action.kind, entry["target"]
    read = entry["read"]
    key = _resource_key(read)
    planned = entry["precondition"]["value"]
    request = entry["request"]
    try:
        current = api.call(read["method"], read["params"], read["body"])
    except ApiError as exc:
        if log is not None:
            log.write(entry, "failed", message=str(exc))
        return Outcome(entry["id"], "failed", str(exc))
    if action.change(current, target) is None:
        if log is None:
            return Outcome(entry["id"], "already-applied", "")
        rule, why = judge(api, entry["rule_id"], entry["asset"], kind, target, current, log.now())
        log.write(entry, "already-applied", verified=True, rule_outcome=rule, rule_message=why)
        return Outcome(entry["id"], "already-applied", f"{entry['rule_id']} {rule}")
    seen = kind.token(current)
    if seen != planned and _follow(ours.get(key, {}), planned, seen):
        params, body = kind.request(target, entry["after"], seen)
        params.update({k: v for k, v in request["params"].items() if k not in params})
        request = {"method": request["method"], "params": params, "body": body}
    elif seen != planned:
        message = (f"changed since the plan ({kind.precondition} {seen}, the plan saw "
                   f"{planned}): not overwritten; plan again")
        if log is None:
            return Outcome(entry["id"], "would-skip", message)
        log.write(entry, "skipped-changed", message=message, seen=seen)
        return Outcome(entry["id"], "skipped-changed", message)
    if log is None:
        return Outcome(entry["id"], "would-apply", f"{entry['request']['method']} "
                                                   f"({kind.precondition} {planned})")
    try:
        response = api.call(request["method"], request["params"], request["body"])
    except ApiError as exc:
        if exc.precondition_failed:
            message = f"the API refused the precondition ({exc}): changed concurrently"
            log.write(entry, "skipped-conflict", message=message)
            return Outcome(entry["id"], "skipped-conflict", message)
        log.write(entry, "failed", message=str(exc))
        return Outcome(entry["id"], "failed", str(exc))
    try:
        operation = _wait(api, action, target, response, op_timeout)
        reread = api.call(read["method"], read["params"], read["body"])
    except ApiError as exc:
        log.write(entry, "failed", message=f"sent, but then: {exc}")
        return Outcome(entry["id"], "failed", f"sent, but then: {exc}")
    verified = action.change(reread, target) is None
    after_token = kind.token(reread)
    ours.setdefault(key, {})[seen] = after_token
    # The rule itself, re-evaluated by the engine on the re-read resource: PASS is expected;
    # UNKNOWN where the rule joins assets a single resource cannot show.
    rule, why = judge(api, entry["rule_id"], entry["asset"], kind, target, reread, log.now())
    log.write(entry, "applied", operation=operation, verified=verified, sent=request,
              resource=key, token_before=seen, token_after=after_token,
              rule_outcome=rule, rule_message=why,
              message="" if verified else "re-read does not show the planned state")
    if not verified:
        return Outcome(entry["id"], "unverified", "re-read does not show the planned state")
    suffix = f" (operation {operation})" if operation else ""
    return Outcome(entry["id"], "applied", f"verified, {entry['rule_id']} {rule}" + suffix)
