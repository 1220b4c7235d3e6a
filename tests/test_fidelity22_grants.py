"""`grants within: phi` when a grant's PHI reach is not known (a grant on the organization while
a configured PHI project is missing from the snapshot, so whether the organization is above it
is not known): the grant is a member of the list only if it reaches PHI. A rule judges the
grants it knows and is UNKNOWN only when such a grant would decide its verdict: a grant of a
role the rule does not care about never makes it unknown. Both engines (the generated
evaluator and the interpreted closures) judge alike."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import pytest

from _crm import (
    CONFIG,
    CRM,
    ORG,
    PHI_ANC,
    SA_EMAIL,
    SA_MEMBER,
    SA_NAME,
    WEB_ANC,
    account,
    project,
    user,
    web,
)
from _engines import interpreted as _interpreted
from _paths import RULES
from phiguard.findings import Finding
from phiguard.inventory.asset import UnknownValue
from phiguard.inventory.inventory import Inventory, MaybeItems, MaybeMember
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.rule import load_rule
from phiguard.testing import assets_from_records, run_rule

KEY_NAME = SA_NAME + "/keys/0123456789abcdef"
PERSON = "user:ann@example-health.com"
# CONFIG makes phi-prod PHI; the snapshots below hold it only where phi_prod() adds it

ENGINES: list[Callable[[], Any]] = [nullcontext, _interpreted]


def org(*bindings: tuple[str, str]) -> dict[str, Any]:
    return {"name": CRM + ORG, "asset_type": "cloudresourcemanager.googleapis.com/Organization",
            "resource": {"data": {"name": ORG, "displayName": "example-health.com"}},
            "ancestors": [ORG],
            "iam_policy": {"bindings": [{"role": r, "members": [m]} for r, m in bindings]}}


def phi_prod(*bindings: tuple[str, str]) -> list[dict[str, Any]]:
    """phi-prod in the snapshot (placed under folders/222), with its IAM policy."""
    return [{**project("111111111111", "phi-prod", PHI_ANC),
             "iam_policy": {"bindings": [{"role": r, "members": [m]} for r, m in bindings]}}]


def key() -> dict[str, Any]:
    return {"name": KEY_NAME, "asset_type": "iam.googleapis.com/ServiceAccountKey",
            "resource": {"data": {"name": "projects/web-prod/serviceAccounts/"
                                  f"{SA_EMAIL}/keys/0123456789abcdef",
                                  "keyType": "USER_MANAGED",
                                  "validAfterTime": "2024-01-01T00:00:00Z"}},
            "ancestors": WEB_ANC}


def judge(rule_id: str, records: list[dict[str, Any]], subject: str,
          engine: Callable[[], Any], users: bool = False,
          config: dict[str, Any] = CONFIG) -> Finding | None:
    with engine():
        rule = load_rule(RULES / "hipaa" / rule_id / "rule.yaml")
        found = run_rule(rule, assets_from_records(records, users=[user()] if users else None),
                         config=config)
    if subject == "user":
        return next(iter(found.values()), None)
    return found.get(subject)


@pytest.mark.parametrize("engine", ENGINES)
def test_iam_001_passes_when_only_a_harmless_grant_is_of_unknown_reach(
        engine: Callable[[], Any]) -> None:
    """A Viewer on the organization: whether it reaches PHI is not known, but as no Viewer
    fails IAM-001 the verdict does not depend on it (UNKNOWN before)."""
    found = judge("IAM-001", [account(), web(), org(("roles/viewer", SA_MEMBER))], SA_NAME, engine)
    assert found is not None and found.outcome.value == "PASS", found and found.message


@pytest.mark.parametrize("engine", ENGINES)
def test_iam_001_is_unknown_when_a_failing_grant_is_of_unknown_reach(
        engine: Callable[[], Any]) -> None:
    records = [account(), web(),
               org(("roles/viewer", SA_MEMBER), ("roles/editor", SA_MEMBER))]
    found = judge("IAM-001", records, SA_NAME, engine)
    assert found is not None and found.outcome.value == "UNKNOWN"
    assert "phi-prod" in found.message and "roles/editor" in found.message


@pytest.mark.parametrize("engine", ENGINES)
def test_iam_001_fails_on_a_known_grant_beside_unknown_ones(engine: Callable[[], Any]) -> None:
    """phi-prod held (the organization is then known to be above it) but a second PHI
    project missing: an Editor on phi-prod fails whatever the organization's grants."""
    records = [account(), web(), org(("roles/viewer", SA_MEMBER)),
               *phi_prod(("roles/editor", SA_MEMBER))]
    config = {"phi": {"projects": ["phi-prod", "phi-ghost"]}}
    found = judge("IAM-001", records, SA_NAME, engine, config=config)
    assert found is not None and found.outcome.value == "FAIL"


@pytest.mark.parametrize("engine", ENGINES)
def test_mfa_003_gives_no_result_for_a_harmless_grant_of_unknown_reach(
        engine: Callable[[], Any]) -> None:
    """Not a directory administrator; a Viewer of unknown reach makes no one privileged."""
    found = judge("MFA-003", [web(), org(("roles/viewer", PERSON))], "user", engine, users=True)
    assert found is None or found.outcome.value == "PASS", found and found.message
    owner = judge("MFA-003", [web(), org(("roles/owner", PERSON))], "user", engine, users=True)
    assert owner is not None and owner.outcome.value == "UNKNOWN"


@pytest.mark.parametrize("engine", ENGINES)
def test_reaching_phi_stays_unknown_when_every_grant_is_of_unknown_reach(
        engine: Callable[[], Any]) -> None:
    """Whether the person or key reaches PHI at all is not known: MFA-001 and IAM-003 stay
    UNKNOWN (their `count_gte: 1` reads the list as a whole)."""
    mfa = judge("MFA-001", [web(), org(("roles/viewer", PERSON))], "user", engine, users=True)
    assert mfa is not None and mfa.outcome.value == "UNKNOWN"
    iam = judge("IAM-003", [account(), key(), web(), org(("roles/viewer", SA_MEMBER))], KEY_NAME,
                engine)
    assert iam is not None and iam.outcome.value == "UNKNOWN"


def test_the_grants_value() -> None:
    inv = Inventory(assets_from_records([account(), web(), org(("roles/viewer", SA_MEMBER))]),
                    phi=PhiConfig(projects=frozenset({"phi-prod"})))
    sa = inv.get(SA_NAME)
    assert sa is not None
    grants = inv.grants(sa, "phi")
    assert isinstance(grants, MaybeItems) and isinstance(grants, UnknownValue)
    [member] = grants.items
    assert isinstance(member, MaybeMember)
    assert member.value == {"role": "roles/viewer", "resource": CRM + ORG, "member": SA_MEMBER}
    assert "phi-prod" in member.why


def test_a_path_through_a_maybe_member_is_unknown_not_absent() -> None:
    """Read through a path (not a quantifier), a grant that may not be one is unknown, as an
    unknown element always was: never absent (a default would then stand in for it)."""
    from phiguard.policy.compiler import _get
    from phiguard.policy.paths import ALL, walk
    member = MaybeMember("unknown: reach", {"role": "roles/owner"})
    assert walk(member, "g[0]", ("role",), _get) == (member, "g[0]")
    value, _ = walk([member], "g", (ALL, "role"), _get)
    assert value is member
