"""`fix apply`: send only what the registry builds for the plan, guarded, journalled ahead.

Nothing a plan records is sent as written (see `phiguard.fix.integrity`). Before anything is
sent, every change is checked: its resource is re-read and, where it is as the plan saw it (the
same precondition token), the action computes the change again; a plan whose `after`, `before`
or request is not exactly that is refused (exit 2) with nothing sent.

Per action: re-read the resource; if it already has the planned state the action is a no-op;
if its token moved since the plan (other than by this plan's own earlier writes) it is skipped
and reported, never overwritten; otherwise the registry builds the request from the re-read
resource and the token just seen. An `intent` record (request and token) is appended to the
journal and fsynced before the write: if the journal cannot be written, nothing is sent (exit
2). The outcome is journalled after the write. A write whose answer is lost is never sent again:
the resource is re-read, and the change is journalled as applied when it is there; otherwise
the run stops. `--resume` settles an intent with no outcome the same way, by re-reading.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from phiguard.errors import InputError
from phiguard.fix.actions import Action, NoFix, build_request
from phiguard.fix.api import ApiError, FixApi, FixError, NoAnswer
from phiguard.fix.integrity import PlanRefused, check_entry, project_before
from phiguard.fix.verify import Verifier

__all__ = ["FINAL", "ApplyReport", "Outcome", "apply_plan", "read_journal"]

# Results that end an action: `--resume` does not touch these again. `failed` is retried.
FINAL = ("applied", "already-applied", "skipped-changed", "skipped-conflict")
RESULTS = (*FINAL, "failed", "intent")
MAX_JOURNAL_BYTES = 256 * 1024 * 1024


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


def _check_record(rec: Any, digest: str, ids: set[str]) -> str | None:
    """Why a journal record is not one this plan's apply writes (None when it is)."""
    if not isinstance(rec, dict):
        return "expected a JSON object"
    if rec.get("plan_digest") != digest:
        return f"belongs to another plan ({rec.get('plan_digest')!r}, this plan is {digest})"
    if not isinstance(rec.get("action_id"), str) or rec["action_id"] not in ids:
        return f"action_id {rec.get('action_id')!r} is not a change in this plan"
    if rec.get("result") not in RESULTS:
        return f"result {rec.get('result')!r} is not one of {', '.join(RESULTS)}"
    if rec["result"] == "intent" and not (isinstance(rec.get("token_before"), str)
                                          and isinstance(rec.get("resource"), str)):
        return "an intent needs the strings token_before and resource"
    if rec["result"] == "applied" and not all(
            isinstance(rec.get(k), str | None) for k in ("token_before", "token_after",
                                                          "resource")):
        return "token_before, token_after and resource must be strings"
    return None


def read_journal(path: Path, digest: str, ids: set[str]) -> list[dict[str, Any]]:
    """The records of a journal of this plan, in order; a torn last line (a run killed
    mid-write) is ignored, anything else malformed is an error naming the line (exit 2)."""
    if not path.exists():
        return []
    if not path.is_file():
        raise InputError("the journal is not a regular file", file=str(path))
    if path.stat().st_size > MAX_JOURNAL_BYTES:
        raise InputError(f"the journal is larger than {MAX_JOURNAL_BYTES} bytes", file=str(path))
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the journal: {exc.strerror or exc}",
                         file=str(path)) from None
    except UnicodeDecodeError:
        raise InputError("the journal is not valid UTF-8", file=str(path)) from None
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if n == len(lines):
                break
            raise InputError("journal line is not JSON", file=str(path), line=n) from None
        why = _check_record(rec, digest, ids)
        if why is not None:
            raise InputError(f"not a journal record of this plan: {why}", file=str(path),
                             line=n)
        records.append(rec)
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
    def __init__(self, path: Path, fh: IO[str], digest: str,
                 now: Callable[[], datetime]) -> None:
        self.path, self.fh, self.digest, self.now = path, fh, digest, now

    def write(self, entry: dict[str, Any], result: str, *, failing: str,
              **extra: Any) -> None:
        """Append and fsync one record; `failing` says what it means if that fails (exit 2)."""
        rec = {"time": self.now().isoformat().replace("+00:00", "Z"),
               "plan_digest": self.digest, "action_id": entry["id"],
               "rule_id": entry["rule_id"], "asset": entry["asset"],
               "action": entry.get("action"), "before": entry.get("before"),
               "after": entry.get("after"), "guard": entry["precondition"]["field"],
               "result": result, **extra}
        try:
            self.fh.write(json.dumps(rec, sort_keys=True) + "\n")
            self.fh.flush()
            os.fsync(self.fh.fileno())
        except OSError as exc:
            raise FixError(f"cannot write the journal {self.path}: {exc.strerror or exc}: "
                           f"{failing}") from None


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
        elif action.kind.operation == "compute-zonal":
            response = api.call("compute.zoneOperations.wait",
                                {"project": target["project"], "zone": target["zone"],
                                 "operation": name})
        else:
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            response = api.call("sqladmin.operations.get",
                                {"project": target["project"], "operation": name})
    if response.get("error"):
        raise ApiError(action.kind.write_call, 500, json.dumps(response["error"]))
    return str(name) if name else None


def _changes(plan: dict[str, Any],
             verifier: Verifier) -> Iterator[tuple[dict[str, Any], Action]]:
    for n, entry in enumerate(plan["actions"]):
        if entry["status"] == "change":
            # read_plan checked it already
            action, _ = check_entry(entry, f"actions[{n}]", verifier)
            yield entry, action


@dataclass
class _Resumed:
    """What earlier runs of this plan journalled: final outcomes, unsettled intents, and the
    precondition tokens this plan's own writes moved (several actions may patch one resource,
    and each write moves the token the next one's plan saw: only our own moves are followed)."""

    final: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    ours: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, records: list[dict[str, Any]]) -> _Resumed:
        out = cls()
        for rec in records:
            if rec["result"] == "intent":
                out.intents[rec["action_id"]] = rec
            elif rec["result"] in FINAL:
                out.final[rec["action_id"]] = rec
                out.intents.pop(rec["action_id"], None)
                if rec["result"] == "applied":
                    out.moved(rec.get("resource"), rec.get("token_before"),
                              rec.get("token_after"))
        return out

    def moved(self, resource: Any, before: Any, after: Any) -> None:
        if isinstance(resource, str) and isinstance(before, str) and isinstance(after, str):
            self.ours.setdefault(resource, {})[before] = after

    def follows(self, resource: str, planned: str, seen: str) -> bool:
        """Whether our own earlier writes moved the token from `planned` to `seen`."""
        chain = self.ours.get(resource, {})
        token, steps = planned, 0
        while token in chain and token != seen and steps <= len(chain):
            token, steps = chain[token], steps + 1
        return token == seen


def apply_plan(api: FixApi, plan: dict[str, Any], *, journal: Path | None, yes: bool,
               resume: bool, now: Callable[[], datetime],
               echo: Callable[[str], None] = print, op_timeout: float = 600.0) -> ApplyReport:
    """Apply (or, without `yes`, dry-run) every `change` entry of a checked plan."""
    digest = plan["digest"]
    # Each change is verified as the findings it fixes were judged: their pack, parameters and
    # waivers, recorded in the plan.
    verifier = Verifier.of_recorded(plan.get("judged_with"))
    report = ApplyReport()
    ids = {e["id"] for e in plan["actions"] if e["status"] == "change"}
    resumed = _Resumed()
    if yes:
        if journal is None:
            raise FixError("applying needs --journal FILE: it records every change made")
        if journal.exists() and journal.is_file() and journal.stat().st_size and not resume:
            raise FixError(f"{journal} already has entries: add --resume to continue that run, "
                           "or name a new journal")
        if resume:
            resumed = _Resumed.of(read_journal(journal, digest, ids))
            if journal.exists():
                _drop_torn_tail(journal)
    changes = list(_changes(plan, verifier))
    # Every change is checked against the live resource before anything is sent.
    for entry, action in changes:
        if entry["id"] not in resumed.final:
            with contextlib.suppress(ApiError):  # unreadable: its own turn journals that
                _decide(api, entry, action, resumed, verifier)
    fh = None
    if yes and journal is not None:
        created = not journal.exists()
        try:
            fh = journal.open("a", encoding="utf-8")
            if created:  # the new file's name must survive a crash as well as its records
                directory = os.open(journal.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as exc:
            if fh is not None:
                fh.close()
            raise FixError(f"cannot open the journal {journal}: {exc.strerror or exc}: "
                           "nothing was sent") from None
    try:
        log = _Journal(journal, fh, digest, now) if fh is not None and journal else None
        for entry, action in changes:
            label = f"{entry['id']} {entry['rule_id']} {action.id} {entry['asset']}"
            earlier = resumed.final.get(entry["id"])
            if earlier is not None:
                report.outcomes.append(Outcome(entry["id"], "done-earlier", earlier["result"]))
                echo(f"= {label}: {earlier['result']} in an earlier run (journal)")
                continue
            outcome = _one(api, entry, action, log, op_timeout, resumed, verifier)
            report.outcomes.append(outcome)
            echo(f"{_MARK.get(outcome.result, '?')} {label}: {outcome.result}"
                 + (f": {outcome.message}" if outcome.message else ""))
            if outcome.result == "failed":
                raise FixError(f"stopped at {entry['id']}: {outcome.message}; the journal "
                               f"{journal} records what completed: rerun with --resume")
    finally:
        if fh is not None:
            with contextlib.suppress(OSError):  # a failed write was already said (FixError)
                fh.close()
    return report


_MARK = {"applied": "+", "already-applied": "=", "skipped-changed": "!", "skipped-conflict": "!",
         "failed": "x", "would-apply": "~", "would-skip": "!", "unverified": "?"}


def _resource_key(read: dict[str, Any]) -> str:
    return str(read["method"]) + " " + json.dumps(read["params"], sort_keys=True)


@dataclass(frozen=True)
class _Decision:
    """What to do with one entry given the resource as just re-read."""

    target: dict[str, str]
    current: Any
    seen: str
    request: dict[str, Any] | None  # None: nothing to send (done, or skipped with `skip`)
    skip: str = ""


def _read(api: FixApi, entry: dict[str, Any], action: Action, what: str) -> Any:
    read = entry["read"]
    try:
        return api.call(read["method"], read["params"], read["body"])
    except NoAnswer as exc:
        raise FixError(f"{entry['id']} {action.id}: {what}: {exc}") from None


def _decide(api: FixApi, entry: dict[str, Any], action: Action, resumed: _Resumed,
            verifier: Verifier) -> _Decision:
    """Re-derive the target and re-read the resource; the request the registry builds for it,
    or why nothing is sent. Refuses (PlanRefused) a plan whose change is not the action's own."""
    where = f"{entry['id']} ({entry['rule_id']} {entry['asset']})"
    _, target = check_entry(entry, where, verifier)
    if action.prepare is not None:
        base = action.kind.pattern.fullmatch(entry["asset"])
        assert base is not None  # check_entry matched it
        options = {key: target[key] for key, _ in action.extras}
        try:
            derived = action.prepare(api, base.groupdict(), options, verifier)
        except NoFix as exc:
            current = _read(api, entry, action, "re-reading before the write")
            return _Decision(target, current, action.kind.token(current), None,
                             f"changed since the plan: {exc}")
        if derived != target:
            raise PlanRefused(f"{where}, action {action.id}: the plan's target {target} is not "
                              f"what {action.id} derives now ({derived}): this change was not sent")
    current = _read(api, entry, action, "re-reading before the write")
    seen = action.kind.token(current)
    after = action.change(current, target)
    if after is None:
        return _Decision(target, current, seen, None)
    planned = entry["precondition"]["value"]
    if seen == planned:
        # The resource is as the plan saw it: the plan's change must be the action's own.
        if (json.dumps(after, sort_keys=True) != json.dumps(entry["after"], sort_keys=True)
                or project_before(current, after) != entry["before"]):
            raise PlanRefused(f"{where}, action {action.id}: the plan's change is not what "
                              f"{action.id} computes for the resource as it is (and as the plan "
                              f"saw it): the plan was edited; this change was not sent: plan again")
    elif not resumed.follows(_resource_key(entry["read"]), planned, seen):
        return _Decision(target, current, seen, None,
                         f"changed since the plan ({action.kind.precondition.split(',')[0]} "
                         f"{seen}, the plan saw {planned}): not overwritten; plan again")
    return _Decision(target, current, seen, build_request(action.kind, target, after, seen))


def _one(api: FixApi, entry: dict[str, Any], action: Action, log: _Journal | None,
         op_timeout: float, resumed: _Resumed, verifier: Verifier) -> Outcome:
    kind = action.kind
    key = _resource_key(entry["read"])
    try:
        decision = _decide(api, entry, action, resumed, verifier)
    except ApiError as exc:
        if log is not None:
            log.write(entry, "failed", message=str(exc), failing="the read failed; nothing sent")
        return Outcome(entry["id"], "failed", str(exc))
    target, current, seen = decision.target, decision.current, decision.seen
    pending = resumed.intents.get(entry["id"])
    if decision.request is None and not decision.skip:
        if log is None:
            return Outcome(entry["id"], "already-applied", "")
        rule, why = verifier.judge(api, entry["rule_id"], entry["asset"], kind, target, current,
                                   log.now())
        if pending is not None:
            # An earlier run sent this write and was stopped before its outcome: it took effect.
            resumed.moved(key, pending["token_before"], seen)
            log.write(entry, "applied", verified=True, reconciled=True, resource=key,
                      sent=pending.get("sent"), token_before=pending["token_before"],
                      token_after=seen, rule_outcome=rule, rule_message=why,
                      message="the write an earlier run sent took effect (re-read)",
                      failing="the change is in place; rerun with --resume to record it")
            return Outcome(entry["id"], "applied", f"reconciled by re-reading, "
                                                   f"{entry['rule_id']} {rule}")
        log.write(entry, "already-applied", verified=True, rule_outcome=rule, rule_message=why,
                  failing="nothing was sent for this action")
        return Outcome(entry["id"], "already-applied", f"{entry['rule_id']} {rule}")
    if decision.request is None:
        if log is None:
            return Outcome(entry["id"], "would-skip", decision.skip)
        log.write(entry, "skipped-changed", message=decision.skip, seen=seen,
                  failing="nothing was sent for this action")
        return Outcome(entry["id"], "skipped-changed", decision.skip)
    request = decision.request
    if log is None:
        return Outcome(entry["id"], "would-apply", f"{request['method']} "
                                                   f"({kind.precondition.split(',')[0]} {seen})")
    log.write(entry, "intent", sent=request, resource=key, token_before=seen,
              failing=f"nothing was sent for {entry['id']}")
    lost = ""
    operation = None
    try:
        response = api.call(request["method"], request["params"], request["body"])
    except ApiError as exc:
        if exc.precondition_failed and exc.call == request["method"]:
            message = f"the API refused the precondition ({exc}): changed concurrently"
            log.write(entry, "skipped-conflict", message=message,
                      failing="the API refused the write; nothing changed")
            return Outcome(entry["id"], "skipped-conflict", message)
        log.write(entry, "failed", message=str(exc), failing="the write failed")
        return Outcome(entry["id"], "failed", str(exc))
    except NoAnswer as exc:
        if not exc.maybe_sent:
            log.write(entry, "failed", message=f"not sent: {exc}", failing="nothing was sent")
            return Outcome(entry["id"], "failed", f"not sent: {exc}")
        lost = str(exc)  # sent, answer lost: never sent again; the re-read tells what happened
    else:
        try:
            operation = _wait(api, action, target, response, op_timeout)
        except (ApiError, NoAnswer) as exc:
            lost = f"sent, but waiting for its operation failed: {exc}"
    unsettled = (f"{entry['id']} was sent but its outcome is unknown; the journal holds its "
                 "intent: rerun with --resume, which settles it by re-reading")
    try:
        reread = api.call(entry["read"]["method"], entry["read"]["params"], entry["read"]["body"])
    except (ApiError, NoAnswer) as exc:
        if lost:
            raise FixError(f"{lost}; re-reading failed too ({exc}): {unsettled}") from None
        log.write(entry, "failed", message=f"sent, but then: {exc}", failing=unsettled)
        return Outcome(entry["id"], "failed", f"sent, but then: {exc}")
    verified = action.change(reread, target) is None
    if lost and not verified:
        message = (f"the answer was lost ({lost}) and the re-read does not show the change: "
                   "not sent again; --resume re-checks")
        log.write(entry, "failed", message=message, failing=unsettled)
        return Outcome(entry["id"], "failed", message)
    after_token = kind.token(reread)
    resumed.moved(key, seen, after_token)
    # The rule itself, re-evaluated by the engine on the re-read resource: PASS is expected;
    # UNKNOWN where the rule joins assets a single resource cannot show.
    rule, why = verifier.judge(api, entry["rule_id"], entry["asset"], kind, target, reread,
                               log.now())
    message = ("" if verified else "re-read does not show the planned state") if not lost else \
        f"the answer was lost ({lost}); the re-read shows the change"
    log.write(entry, "applied", operation=operation, verified=verified, reconciled=bool(lost),
              sent=request, resource=key, token_before=seen, token_after=after_token,
              rule_outcome=rule, rule_message=why, message=message,
              failing=f"the change was sent; {unsettled}")
    if not verified:
        return Outcome(entry["id"], "unverified", "re-read does not show the planned state")
    suffix = f" (operation {operation})" if operation else ""
    how = "reconciled by re-reading after a lost answer" if lost else "verified"
    return Outcome(entry["id"], "applied", f"{how}, {entry['rule_id']} {rule}" + suffix)
