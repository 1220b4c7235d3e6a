"""A forged fix plan is never sent: every way to edit a plan (body, method, URL/target, params,
action id, before/after, with the digest recomputed; signature stripped or foreign) is refused
with exit 2 naming the action, and nothing reaches the API."""
# ruff: noqa: F811  (pytest fixtures imported from _fix are requested as parameters)

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

# The fixtures `emu` and `findings` are shared with the other fix tests, requested by name.
from _fix import cli, emu, findings, make_plan, one_line_exit_2  # noqa: F401
from emulator import Emulator
from phiguard.fix.plan import plan_digest

Plan = dict[str, Any]


def entry(plan: Plan, rule_id: str) -> dict[str, Any]:
    return next(e for e in plan["actions"] if e["rule_id"] == rule_id and e["status"] == "change")


def reseal(path: Path, plan: Plan) -> None:
    """What a forger does: recompute the plan's plain sha256 digest after editing."""
    plan.pop("signature", None)
    plan["digest"] = plan_digest(plan)
    path.write_text(json.dumps(plan))


def cloud_state(emu: Emulator) -> str:
    c = emu.cloud
    return repr(sorted((str(k), json.dumps(v, sort_keys=True)) for table in (
        c.firewalls, c.bucket_iam, c.buckets, c.sql, c.project_iam) for k, v in table.items()))


def _add_public_admin(plan: Plan) -> None:
    e = entry(plan, "PUB-004")
    grant = {"role": "roles/storage.objectAdmin", "members": ["allUsers"]}
    e["after"]["bindings"].append(grant)
    e["request"]["body"]["bindings"].append(grant)


def _hide_before(plan: Plan) -> None:
    e = entry(plan, "PUB-004")  # the reviewer is shown a harmless "before"
    e["before"]["bindings"] = [{"role": "roles/storage.objectViewer",
                                "members": ["group:eng@x.org"]}]


def _body_only(plan: Plan) -> None:
    entry(plan, "PUB-004")["request"]["body"]["bindings"].append(
        {"role": "roles/storage.objectAdmin", "members": ["allUsers"]})


def _method(plan: Plan) -> None:
    entry(plan, "NET-001")["request"]["method"] = "compute.firewalls.delete"


def _target(plan: Plan) -> None:
    entry(plan, "NET-001")["target"]["name"] = "internal"


def _params_project(plan: Plan) -> None:
    entry(plan, "NET-001")["request"]["params"]["project"] = "p2"


def _params_request_id(plan: Plan) -> None:
    entry(plan, "NET-001")["request"]["params"]["requestId"] = "0" * 36


def _params_extra(plan: Plan) -> None:
    entry(plan, "BAK-005")["request"]["params"]["userProject"] = "attacker"


def _read(plan: Plan) -> None:
    entry(plan, "NET-001")["read"]["params"]["firewall"] = "internal"


def _action_other_kind(plan: Plan) -> None:
    entry(plan, "NET-001")["action"] = "bucket-versioning"


def _action_unknown(plan: Plan) -> None:
    entry(plan, "NET-001")["action"] = "firewall-delete"


def _firewall_after(plan: Plan) -> None:
    e = entry(plan, "NET-001")
    e["after"] = {"disabled": True, "sourceRanges": ["0.0.0.0/0"], "priority": 0}
    e["request"]["body"] = dict(e["after"])


def _precondition_field(plan: Plan) -> None:
    entry(plan, "NET-001")["precondition"]["field"] = "fingerprint"


FORGERIES: dict[str, tuple[Callable[[Plan], None], str]] = {
    "body-and-after": (_add_public_admin, "bucket-remove-public-members"),
    "before-hidden": (_hide_before, "bucket-remove-public-members"),
    "body-only": (_body_only, "bucket-remove-public-members"),
    "method": (_method, "firewall-disable"),
    "target": (_target, "firewall-disable"),
    "params-project": (_params_project, "firewall-disable"),
    "params-request-id": (_params_request_id, "firewall-disable"),
    "params-extra": (_params_extra, "bucket-versioning"),
    "read": (_read, "firewall-disable"),
    "action-other-kind": (_action_other_kind, "bucket-versioning"),
    "action-unknown": (_action_unknown, "firewall-delete"),
    "after-widened": (_firewall_after, "firewall-disable"),
    "guard-text": (_precondition_field, "firewall-disable"),
}


@pytest.mark.parametrize("name", FORGERIES)
def test_forged_plan_is_refused_and_nothing_is_sent(emu: Emulator, findings: Path,
                                                    tmp_path: Path, name: str) -> None:
    """An edited plan with its digest recomputed is refused by apply (exit 2, one line naming
    the action), before anything is written, and by show, dry run and --yes alike."""
    emu.cloud.add_firewall("p1", "internal", sourceRanges=["10.0.0.0/8"],
                           allowed=[{"IPProtocol": "tcp", "ports": ["5432"]}])
    path = make_plan(emu, findings, tmp_path)
    plan = json.loads(path.read_text())
    forge, action = FORGERIES[name]
    forge(plan)
    reseal(path, plan)
    before = cloud_state(emu)
    journal = tmp_path / "j.ndjson"
    applied = cli(emu, "fix", "apply", str(path), "--journal", str(journal), "--yes")
    line = one_line_exit_2(applied)
    assert action in line, line
    assert emu.cloud.writes == []
    assert cloud_state(emu) == before
    assert action in one_line_exit_2(cli(emu, "fix", "apply", str(path)))
    assert emu.cloud.writes == []


def test_retargeted_plan_with_consistent_edits_never_touches_the_other_resource(
        emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """Asset, target, read and request all moved to another firewall, digest recomputed: the
    registry accepts the shape, but the guard the plan recorded is the digest of the firewall
    it read, so the other firewall is skipped, never written (exit 1)."""
    emu.cloud.add_firewall("p1", "internal", sourceRanges=["10.0.0.0/8"],
                           allowed=[{"IPProtocol": "tcp", "ports": ["5432"]}])
    path = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    text = path.read_text().replace("open-ssh", "internal")
    plan = json.loads(text)
    e = entry(plan, "NET-001")
    from phiguard.fix.actions import FIREWALL as KIND
    from phiguard.fix.actions import build_request

    e["request"] = build_request(KIND, e["target"], e["after"], e["precondition"]["value"])
    reseal(path, plan)
    result = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "j"), "--yes")
    assert result.exit_code == 1, result.output
    assert "skipped-changed" in result.output
    assert emu.cloud.writes == [] and emu.cloud.firewalls[("p1", "internal")]["disabled"] is False


def _keypair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM,
                                                     PublicFormat.SubjectPublicKeyInfo))
    return private, public


def test_signed_plan_applies_only_with_its_key(emu: Emulator, findings: Path,
                                               tmp_path: Path) -> None:
    """A plan signed with --sign-key applies under --public-key of that key; stripped, signed by
    another key, or edited after signing (digest recomputed, signature kept), it is refused
    (exit 2) and nothing is sent."""
    ours, ours_pub = _keypair(tmp_path, "ours")
    theirs, _ = _keypair(tmp_path, "theirs")
    path = make_plan(emu, findings, tmp_path, "--rule", "NET-001", "--sign-key", str(ours))
    signed = json.loads(path.read_text())
    assert signed["signature"]["algorithm"] == "Ed25519"
    shown = cli(emu, "fix", "show", str(path), "--public-key", str(ours_pub))
    assert shown.exit_code == 0, shown.output
    assert "checked against --public-key" in shown.output

    def attempt(plan: Plan, *extra: str) -> Result:
        forged = tmp_path / "forged.json"
        forged.write_text(json.dumps(plan))
        return cli(emu, "fix", "apply", str(forged), "--journal", str(tmp_path / "j.ndjson"),
                   "--yes", *extra)

    stripped = {k: v for k, v in signed.items() if k != "signature"}
    assert "not signed" in one_line_exit_2(attempt(stripped, "--public-key", str(ours_pub)))

    from phiguard.fix.integrity import sign_plan

    foreign = json.loads(json.dumps(stripped))
    sign_plan(foreign, theirs)
    assert "another key" in one_line_exit_2(attempt(foreign, "--public-key", str(ours_pub)))

    edited = json.loads(json.dumps(signed))
    edited["actions"][0]["message"] = "harmless"
    edited["digest"] = plan_digest(edited)
    assert "changed after it was signed" in one_line_exit_2(attempt(edited))
    assert emu.cloud.writes == []

    applied = cli(emu, "fix", "apply", str(path), "--journal", str(tmp_path / "ok.ndjson"),
                  "--yes", "--public-key", str(ours_pub))
    assert applied.exit_code == 0, applied.output
    assert emu.cloud.firewalls[("p1", "open-ssh")]["disabled"] is True


def test_unsigned_apply_says_so(emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """Without --public-key, apply says on stderr that nothing vouches for who wrote the plan."""
    path = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    result = cli(emu, "fix", "apply", str(path))
    assert result.exit_code == 0, result.output
    assert "unsigned: anyone who can write the plan file" in result.output


def test_show_prints_exactly_what_is_sent(emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """fix show prints the HTTP method, the full URL with its query and the body apply sends,
    and says how the guard is checked (by phiguard only, for a firewall)."""
    path = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    e = entry(json.loads(path.read_text()), "NET-001")
    shown = cli(emu, "fix", "show", str(path))
    assert shown.exit_code == 0, shown.output
    url = (f"{emu.base}/compute/v1/projects/p1/global/firewalls/open-ssh?"
           f"requestId={e['request']['params']['requestId']}&alt=json")
    assert f"sends:  PATCH {url}  (compute.firewalls.patch)" in shown.output
    assert 'body:   {"disabled": true}' in shown.output
    assert "checked by phiguard only, on a re-read just before the write" in shown.output
    assert "Compute firewalls have no fingerprint" in shown.output


@pytest.mark.parametrize("edit", [
    lambda e: e.update(request=None),
    lambda e: e.update(target=None),
    lambda e: e.update(after="x"),
    lambda e: e.update(precondition=[]),
    lambda e: e.update(action=["firewall-disable"]),
    lambda e: e.update(id=["x"]),
], ids=["request-null", "target-null", "after-string", "precondition-list", "action-list",
        "id-list"])
def test_mistyped_change_entry_is_one_line_exit_2(emu: Emulator, findings: Path,
                                                  tmp_path: Path, edit: Any) -> None:
    """A change entry with a null request or mistyped fields is refused by show and apply with
    exit 2 and one line naming the plan, never a traceback."""
    path = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    plan = json.loads(path.read_text())
    edit(entry(plan, "NET-001"))
    reseal(path, plan)
    for command in (["fix", "show", str(path)], ["fix", "apply", str(path)]):
        assert str(path) in one_line_exit_2(cli(emu, *command))
    assert emu.cloud.writes == []


def test_duplicate_key_in_plan_is_refused(emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """A key written twice in one object of the plan is refused (exit 2), not last-wins."""
    path = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    text = path.read_text().replace('"disabled": true', '"disabled": true, "disabled": false', 1)
    path.write_text(text)
    assert "duplicate key" in one_line_exit_2(cli(emu, "fix", "show", str(path)))


def test_bad_sign_key_is_refused_before_any_call(emu: Emulator, findings: Path,
                                                 tmp_path: Path) -> None:
    """fix plan --sign-key with a key that is not an Ed25519 PEM private key: exit 2 in one
    line, before the API is read and without writing a plan."""
    key = tmp_path / "key.pem"
    key.write_text("not a key\n")
    out = tmp_path / "p.json"
    line = one_line_exit_2(cli(emu, "fix", "plan", str(findings), "-o", str(out),
                               "--sign-key", str(key)))
    assert str(key) in line and emu.requests == [] and not out.exists()


def test_show_with_a_foreign_public_key_is_refused(emu: Emulator, findings: Path,
                                                   tmp_path: Path) -> None:
    """fix show --public-key refuses a plan signed by another key, as apply does."""
    ours, _ = _keypair(tmp_path, "ours")
    _, theirs_pub = _keypair(tmp_path, "theirs")
    path = make_plan(emu, findings, tmp_path, "--rule", "NET-001", "--sign-key", str(ours))
    assert "another key" in one_line_exit_2(cli(emu, "fix", "show", str(path), "--public-key",
                                                str(theirs_pub)))
