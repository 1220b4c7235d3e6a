"""Property: random mutations of a valid fix plan and of its journal (deletions, type changes,
edited strings, truncation, injected bytes; the digest recomputed or not) never end in a
traceback or an exit code other than 0, 1 or 2; an invalid plan is exit 2; and whatever is
accepted, nothing reaches the API but the requests the genuine plan makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _fix import BUCKET, FIREWALL, POLICY, SA, finding_json
from emulator import Emulator
from emulator.cloud import CloudState
from phiguard.cli import main
from phiguard.fix.plan import PLAN_SCHEMA, plan_digest

ACCOUNT = f"//iam.googleapis.com/projects/p1/serviceAccounts/{SA}"
# One action per resource: a dropped entry cannot change what another one sends.
FAILING = [("TLS-003", POLICY), ("NET-001", FIREWALL), ("PUB-004", BUCKET), ("BAK-005", BUCKET),
           ("IAM-001", ACCOUNT)]
SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def seed(c: CloudState) -> None:
    c.add_ssl_policy("p1", "weak", minTlsVersion="TLS_1_0", profile="COMPATIBLE")
    c.add_firewall("p1", "open-ssh", sourceRanges=["0.0.0.0/0"],
                   allowed=[{"IPProtocol": "tcp", "ports": ["22"]}])
    c.add_bucket("phi-bkt", iamConfiguration={"uniformBucketLevelAccess": {"enabled": True}})
    c.set_bucket_iam("phi-bkt", [{"role": "roles/storage.objectViewer",
                                  "members": ["allUsers", "group:eng@x.org"]}])
    c.set_project_iam("p1", [{"role": "roles/owner",
                              "members": [f"serviceAccount:{SA}", "user:al@x.org"]}])


class World:
    """One emulator for the module; `reset()` gives every example the state the plan saw."""

    def __init__(self, server: Emulator, tmp: Path) -> None:
        self.server, self.tmp = server, tmp
        self.reset()
        findings = tmp / "findings.json"
        findings.write_text(json.dumps({"schema": "phiguard.findings/v1", "run": {},
                                        "summary": {}, "waivers": [],
                                        "results": [finding_json(r, a) for r, a in FAILING]}))
        self.plan_path = tmp / "fixplan.json"
        made = self.cli("fix", "plan", str(findings), "-o", str(self.plan_path))
        assert made.exit_code == 0, made.output
        self.plan_text = self.plan_path.read_text()
        self.plan = json.loads(self.plan_text)
        journal = tmp / "genuine.ndjson"
        applied = self.cli("fix", "apply", str(self.plan_path), "--journal", str(journal), "--yes")
        assert applied.exit_code == 0, applied.output
        self.legit = self.writes()
        assert len(self.legit) == 5
        self.journal_lines = journal.read_text().splitlines()

    def reset(self) -> None:
        self.server.cloud = CloudState()
        seed(self.server.cloud)

    def writes(self) -> set[str]:
        return {json.dumps(w, sort_keys=True) for w in self.server.cloud.writes}

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args),
                                  env={"PHIGUARD_GCP_ENDPOINT": self.server.base})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with Emulator() as server:
        yield World(server, tmp_path_factory.mktemp("fixprops"))


def _paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*at, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _paths(item, (*at, n))


def _mutate(doc: Any, data: st.DataObject) -> Any:
    doc = json.loads(json.dumps(doc))
    path = data.draw(st.sampled_from(list(_paths(doc))[1:]), label="path")
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    op = data.draw(st.sampled_from(["delete", "retype", "edit"]), label="op")
    last = path[-1]
    if op == "delete":
        del parent[last]
    elif op == "retype":
        parent[last] = data.draw(st.sampled_from([None, 0, -1, 1.5, True, "", "x", [], {},
                                                  ["x"], {"a": None}]), label="value")
    else:
        value = parent[last]
        parent[last] = (value + data.draw(st.sampled_from(["x", "/", "\u202e", "\x00", ".."]))
                        if isinstance(value, str) else [value])
    return doc


def _text_mutation(text: str, data: st.DataObject) -> str:
    cut = data.draw(st.integers(0, len(text)), label="at")
    if data.draw(st.booleans(), label="truncate"):
        return text[:cut]
    junk = data.draw(st.sampled_from(["\x00", "{", "}", '"', "\ufeff", "\n", "[[[", "\ud800",
                                      "NaN", ",", "\\"]), label="junk")
    return text[:cut] + junk + text[cut:]


def _clean(result: Result) -> None:
    assert result.exit_code in (0, 1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output and "internal error" not in result.output


@SETTINGS
@given(data=st.data())
def test_mutated_plan_is_refused_or_sends_only_genuine_requests(world: World,
                                                                data: st.DataObject) -> None:
    """A mutated plan (structure or bytes; digest recomputed or not) never crashes; when it is
    not the genuine plan it is exit 2 unless resealed, and either way nothing but the genuine
    plan's requests is sent."""
    world.reset()
    reseal = data.draw(st.booleans(), label="reseal")
    if data.draw(st.booleans(), label="structural"):
        plan = _mutate(world.plan, data)
        if reseal and isinstance(plan, dict):
            plan["digest"] = plan_digest(plan)
        raw = json.dumps(plan).encode("utf-8", "surrogatepass")
    else:
        raw = _text_mutation(world.plan_text, data).encode("utf-8", "surrogatepass")
    path = world.tmp / "mutated.json"
    path.write_bytes(raw)
    journal = world.tmp / "mutated.ndjson"
    journal.unlink(missing_ok=True)
    result = world.cli("fix", "apply", str(path), "--journal", str(journal), "--yes")
    _clean(result)
    assert world.writes() <= world.legit
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    genuine = (isinstance(parsed, dict) and parsed.get("schema") == PLAN_SCHEMA
               and parsed.get("actions") == world.plan["actions"]
               and parsed.get("digest") == world.plan["digest"])
    if not reseal and not genuine:
        assert result.exit_code == 2, result.output


@SETTINGS
@given(data=st.data())
def test_mutated_journal_never_crashes_resume(world: World, data: st.DataObject) -> None:
    """A mutated journal given to --resume never crashes and never makes apply send anything
    the genuine plan does not; garbage in a line before the last is exit 2."""
    world.reset()
    lines = list(world.journal_lines)
    garbage = data.draw(st.booleans(), label="garbage")
    if garbage:
        n = data.draw(st.integers(0, len(lines) - 2), label="line")
        lines[n] = _text_mutation(lines[n], data)
        text = "\n".join(lines) + "\n"
        try:
            still_json = all(isinstance(json.loads(x), dict) for x in text.splitlines()[:-1]
                             if x.strip())
        except ValueError:
            still_json = False
    else:
        n = data.draw(st.integers(0, len(lines) - 1), label="line")
        lines[n] = json.dumps(_mutate(json.loads(lines[n]), data))
        text = "\n".join(lines) + "\n"
        still_json = True
    journal = world.tmp / "mutated-resume.ndjson"
    journal.write_bytes(text.encode("utf-8", "surrogatepass"))
    result = world.cli("fix", "apply", str(world.plan_path), "--journal", str(journal), "--yes",
                       "--resume")
    _clean(result)
    assert world.writes() <= world.legit
    if garbage and not still_json:
        assert result.exit_code == 2, result.output
