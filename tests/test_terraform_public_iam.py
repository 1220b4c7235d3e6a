"""The IAM resources of every holder the public-exposure rules judge (PUB-006..012) land on the
asset CAI names, and a BigQuery dataset's `access` blocks become its `access[]` list."""

from __future__ import annotations

from typing import Any

import pytest

from _converter_cases import PUBLIC_IAM_HOLDERS, P
from _plans import change, make_plan
from phiguard.inventory.asset import UnknownValue
from phiguard.terraform.world import build_world

KINDS = ("member", "binding", "policy")
POLICY = '{"bindings":[{"role":"roles/viewer","members":["allUsers"]}]}'


def _piece(kind: str) -> dict[str, Any]:
    if kind == "member":
        return {"role": "roles/viewer", "member": "allUsers"}
    if kind == "binding":
        return {"role": "roles/viewer", "members": ["allUsers"]}
    return {"policy_data": POLICY}


@pytest.mark.parametrize(("holder", "kind"),
                         [(h, k) for h in PUBLIC_IAM_HOLDERS for k in KINDS],
                         ids=[f"{h[0]}_iam_{k}" for h in PUBLIC_IAM_HOLDERS for k in KINDS])
def test_iam_pieces_land_on_the_holder_cai_names(holder: tuple[str, dict[str, Any], str, str],
                                                  kind: str) -> None:
    """A member or binding adds to a policy the plan does not show in full (the rest is an
    UnknownValue binding, the holder partial); a policy replaces it."""
    prefix, names, asset_type, name = holder
    world = build_world(make_plan([change(f"{prefix}_iam_{kind}", "x",
                                          {**names, **_piece(kind)})]), "after")
    asset = world.assets[name]
    assert asset.asset_type == asset_type
    bindings = asset.iam_policy["bindings"]
    assert {"role": "roles/viewer", "members": ["allUsers"]} in [
        {"role": b["role"], "members": b["members"]} for b in bindings]
    unseen = any(isinstance(b["members"], UnknownValue) for b in bindings)
    assert unseen is (kind != "policy")
    assert (name in world.partial) is True


def test_secret_is_named_by_project_number_when_the_plan_knows_it() -> None:
    """CAI names a secret `projects/NUMBER/secrets/S`: a planned google_project teaches it."""
    world = build_world(make_plan([
        change("google_project", "p", {"project_id": P, "name": "PHI prod", "number": "111",
                                       "folder_id": "222"}, actions=("no-op",),
               before={"project_id": P, "name": "PHI prod", "number": "111",
                       "folder_id": "222"}),
        change("google_secret_manager_secret_iam_member", "m", {
            "secret_id": f"projects/{P}/secrets/db-password", "role": "r",
            "member": "allUsers"})]), "after")
    assert "//secretmanager.googleapis.com/projects/111/secrets/db-password" in world.assets


def test_unnamed_holder_is_left_out_not_guessed() -> None:
    """A holder named in a form the provider does not use gives no asset (nothing invented)."""
    world = build_world(make_plan([change("google_healthcare_fhir_store_iam_member", "m", {
        "fhir_store_id": "a/b/c/d/e/f", "role": "r", "member": "allUsers"})]), "after")
    assert not any(a.asset_type.startswith("healthcare.") for a in world.assets.values())


def _dataset(extra: dict[str, Any], unknown: dict[str, Any],
             config: dict[str, Any] | None = None) -> Any:
    plan = make_plan([change("google_bigquery_dataset", "d", {
        "dataset_id": "claims", "project": P, "location": "US", **extra},
        unknown={"id": True, **unknown})],
        {"google_bigquery_dataset.d": config or {"dataset_id": {"constant_value": "claims"}}})
    return build_world(plan, "after").assets[
        f"//bigquery.googleapis.com/projects/{P}/datasets/claims"].data


def test_dataset_created_without_access_blocks_gets_bigquerys_defaults() -> None:
    """BigQuery gives a dataset created without an access list the project's special groups
    and its creator (known only after apply): never a public entry, so PUB-007 can judge it."""
    data = _dataset({}, {"access": True})
    assert data["access"][:3] == [{"role": "WRITER", "specialGroup": "projectWriters"},
                                  {"role": "OWNER", "specialGroup": "projectOwners"},
                                  {"role": "READER", "specialGroup": "projectReaders"}]
    assert isinstance(data["access"][3]["userByEmail"], UnknownValue)


def test_dataset_access_from_an_expression_stays_unknown() -> None:
    """Access blocks built from a variable are known only after apply: no default is assumed."""
    data = _dataset({}, {"access": True}, {"dataset_id": {"constant_value": "claims"},
                                           "access": {"references": ["var.access"]}})
    assert isinstance(data["access"], UnknownValue)


def test_dataset_access_blocks_keep_only_what_they_set() -> None:
    """The provider's empty strings and empty nested blocks are not fields of the entry."""
    data = _dataset({"access": [{"role": "READER", "iam_member": "allUsers", "domain": "",
                                 "special_group": "", "user_by_email": "",
                                 "group_by_email": "", "view": [], "dataset": [],
                                 "routine": [], "condition": []}]}, {})
    assert data["access"] == [{"role": "READER", "iamMember": "allUsers"}]
