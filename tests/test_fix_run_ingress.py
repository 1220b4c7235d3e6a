"""The Cloud Run ingress fix (`run-ingress-internal`) against the emulated Cloud Run Admin API
v1 with the real discovery client: a resourceVersion-guarded replaceService that changes the
ingress annotation and nothing else, verified by the engine; a concurrent change is refused,
and the emulator refuses what Cloud Run refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _fix import cli, findings_file, journal_lines
from emulator import Emulator

PROJECT, NUMBER, REGION = "p1", "111111111111", "us-east4"
SERVICE = f"//run.googleapis.com/projects/{PROJECT}/locations/{REGION}/services/ehr-api"
INTERNAL = f"//run.googleapis.com/projects/{PROJECT}/locations/{REGION}/services/worker"
INGRESS = "run.googleapis.com/ingress"
SA = "ehr-api@p1.iam.gserviceaccount.com"


@pytest.fixture()
def emu() -> Iterator[Emulator]:
    with Emulator() as server:
        server.run.add_service(PROJECT, NUMBER, REGION, "ehr-api", ingress="all", account=SA)
        server.run.add_service(PROJECT, NUMBER, REGION, "worker", ingress="internal",
                               account=SA)
        yield server


def _plan(emu: Emulator, tmp_path: Path, *failing: tuple[str, str],
          extra: tuple[str, ...] = ()) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path / "fixplan.json"
    result = cli(emu, "fix", "plan", str(findings_file(tmp_path, *failing)), "-o", str(out),
                 *extra)
    assert result.exit_code == 0, result.output
    return out, json.loads(out.read_text())["actions"]


def _service(emu: Emulator, name: str) -> dict[str, Any]:
    return emu.run.services[(PROJECT, REGION, name)]


def test_plan_replaces_the_service_with_only_the_ingress_changed(emu: Emulator,
                                                                 tmp_path: Path) -> None:
    """The plan reads the service, and its request is the whole Service (replaceService) with
    ingress internal-and-cloud-load-balancing, the resourceVersion read as the guard, and the
    spec as it was; a service already internal is compliant. Nothing is written."""
    before = json.loads(json.dumps(_service(emu, "ehr-api")))
    _, entries = _plan(emu, tmp_path, ("SRV-001", SERVICE), ("SRV-001", INTERNAL))
    by = {e["asset"]: e for e in entries}
    entry = by[SERVICE]
    assert entry["status"] == "change" and entry["action"] == "run-ingress-internal"
    assert entry["read"]["method"] == "run.projects.locations.services.get"
    request = entry["request"]
    assert request["method"] == "run.projects.locations.services.replaceService"
    assert request["params"] == {"name": f"projects/{PROJECT}/locations/{REGION}/services/ehr-api"}
    body = request["body"]
    assert body["metadata"]["annotations"][INGRESS] == "internal-and-cloud-load-balancing"
    assert body["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"] \
        == entry["precondition"]["value"]
    assert body["spec"] == before["spec"] and "status" not in body
    assert entry["before"]["metadata"]["annotations"][INGRESS] == "all"
    assert "run.services.update" in entry["permissions"]
    assert "404" in entry["caution"]
    assert by[INTERNAL]["status"] == "compliant"
    assert emu.cloud.writes == [] and _service(emu, "ehr-api") == before


def test_apply_sets_ingress_verifies_and_is_then_a_no_op(emu: Emulator, tmp_path: Path) -> None:
    """Apply sends the planned replace, Cloud Run takes it (ingress and ingress-status move,
    the spec and generation stay), the engine passes SRV-001 on the re-read; again: nothing."""
    plan_path, _ = _plan(emu, tmp_path, ("SRV-001", SERVICE))
    spec = json.loads(json.dumps(_service(emu, "ehr-api")["spec"]))
    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    svc = _service(emu, "ehr-api")
    annotations = svc["metadata"]["annotations"]
    assert annotations[INGRESS] == annotations["run.googleapis.com/ingress-status"] \
        == "internal-and-cloud-load-balancing"
    assert svc["spec"] == spec and svc["metadata"]["generation"] == 1
    assert annotations["serving.knative.dev/creator"] == "deploy@x.org"
    [line] = journal_lines(journal)
    assert line["result"] == "applied" and line["verified"] is True
    assert line["rule_outcome"] == "PASS"
    writes = len(emu.cloud.writes)
    again = cli(emu, "fix", "apply", str(plan_path), "--journal", str(tmp_path / "k.ndjson"),
                "--yes")
    assert again.exit_code == 0, again.output
    assert len(emu.cloud.writes) == writes


def test_internal_only_when_the_findings_allow_no_load_balancer(emu: Emulator,
                                                                tmp_path: Path) -> None:
    """With SRV-001's `allowed` narrowed to internal (the findings' parameters), the fix
    chooses internal: it must pass the rule as the findings judged it."""
    path = findings_file(tmp_path, ("SRV-001", SERVICE))
    doc = json.loads(path.read_text())
    doc["run"] = {"config": {"params": {"SRV-001": {"allowed": ["internal"]}}}}
    path.write_text(json.dumps(doc))
    out = tmp_path / "fixplan.json"
    result = cli(emu, "fix", "plan", str(path), "-o", str(out))
    assert result.exit_code == 0, result.output
    [entry] = json.loads(out.read_text())["actions"]
    assert entry["request"]["body"]["metadata"]["annotations"][INGRESS] == "internal"


def test_change_since_the_plan_is_skipped_and_a_race_is_refused(emu: Emulator,
                                                                tmp_path: Path) -> None:
    """A service changed after the plan is skipped (nothing sent); a change landing between
    apply's re-read and its write is refused by Cloud Run (409 on the stale resourceVersion)
    and the other administrator's change stands."""
    plan_path, _ = _plan(emu, tmp_path, ("SRV-001", SERVICE))
    emu.run.touch_service(PROJECT, REGION, "ehr-api", **{"owner": "other"})
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(tmp_path / "a.ndjson"),
                 "--yes")
    assert result.exit_code == 1, result.output
    assert emu.cloud.writes == []
    assert [x["result"] for x in journal_lines(tmp_path / "a.ndjson")] == ["skipped-changed"]

    plan_path, _ = _plan(emu, tmp_path, ("SRV-001", SERVICE))
    original = emu.run.route

    def racing(method: str, path: str, *args: Any) -> Any:
        if method == "PUT":
            emu.run.touch_service(PROJECT, REGION, "ehr-api", **{INGRESS: "internal"})
        return original(method, path, *args)

    emu.run.route = racing  # type: ignore[method-assign]
    result = cli(emu, "fix", "apply", str(plan_path), "--journal", str(tmp_path / "b.ndjson"),
                 "--yes")
    assert result.exit_code == 1, result.output
    assert _service(emu, "ehr-api")["metadata"]["annotations"][INGRESS] == "internal"
    assert journal_lines(tmp_path / "b.ndjson")[0]["result"] == "skipped-conflict"


def _put(emu: Emulator, body: dict[str, Any]) -> int:
    import urllib.error
    import urllib.request

    url = f"{emu.base}/run/v1/projects/{PROJECT}/locations/{REGION}/services/ehr-api"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_emulator_refuses_what_cloud_run_refuses(emu: Emulator) -> None:
    """An ingress value Cloud Run does not define, a changed server-set field, a renamed
    service, a stale resourceVersion and a field outside the Service schema are refused; the
    same replace done right is taken."""
    current = json.loads(json.dumps(_service(emu, "ehr-api")))
    good = {k: current[k] for k in ("apiVersion", "kind", "metadata", "spec")}

    def variant(**meta: Any) -> dict[str, Any]:
        body = json.loads(json.dumps(good))
        body["metadata"].update(meta)
        return body

    assert _put(emu, variant(annotations={INGRESS: "private"})) == 400
    assert _put(emu, variant(uid="00000000-0000-0000-0000-000000000000")) == 400
    assert _put(emu, variant(name="other")) == 400
    assert _put(emu, variant(resourceVersion="stale")) == 409
    assert _put(emu, {**good, "ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY"}) == 400  # a v2 field
    assert _service(emu, "ehr-api")["metadata"]["annotations"][INGRESS] == "all"
    assert _put(emu, variant(annotations={INGRESS: "internal"})) == 200
    assert _service(emu, "ehr-api")["metadata"]["annotations"][INGRESS] == "internal"
