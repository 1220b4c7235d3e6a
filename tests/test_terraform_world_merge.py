"""IAM pieces merging into one holder's policy: many members of one role, over a snapshot's
policy that must never change, with removals (the world changes the policies it made in place,
so a plan of thousands of members is linear, not quadratic)."""

from __future__ import annotations

import copy
from typing import Any

from _plans import change, make_plan
from phiguard.inventory.asset import Asset
from phiguard.terraform.world import build_world

PROJECT = "//cloudresourcemanager.googleapis.com/projects/phi-prod"


def _member(i: int, role: str, *, actions: tuple[str, ...] = ("create",),
            who: str | None = None) -> dict[str, Any]:
    values = {"project": "phi-prod", "role": role, "member": who or f"user:u{i}@x.com"}
    if actions == ("delete",):
        return change("google_project_iam_member", f"m{i}", None, actions=actions, before=values)
    return change("google_project_iam_member", f"m{i}", values, actions=actions)


def _base() -> dict[str, Asset]:
    policy = {"bindings": [{"role": "roles/viewer", "members": ["user:u1@x.com", "group:g@x.com"]},
                           {"role": "roles/owner", "members": ["user:boss@x.com"]}]}
    return {PROJECT: Asset(PROJECT, "cloudresourcemanager.googleapis.com/Project",
                           {"projectId": "phi-prod", "name": "phi-prod"}, iam_policy=policy)}


def test_many_members_merge_in_plan_order_once_each_and_the_snapshot_is_untouched() -> None:
    base = _base()
    before = copy.deepcopy(base[PROJECT].iam_policy)
    viewer_members = base[PROJECT].iam_policy["bindings"][0]["members"]  # type: ignore[index]
    changes = [_member(i, "roles/viewer" if i % 2 else "roles/editor") for i in range(400)]
    changes.append(_member(400, "roles/viewer", who="user:u1@x.com"))  # already there
    changes.append(_member(401, "roles/viewer", who="user:u3@x.com"))  # planned twice
    changes.append(_member(402, "roles/owner", actions=("delete",), who="user:boss@x.com"))
    changes.append(_member(403, "roles/viewer", actions=("delete",), who="group:g@x.com"))
    world = build_world(make_plan(changes), "after", base)

    policy = world.assets[PROJECT].iam_policy
    assert policy is not None
    viewers = [f"user:u{i}@x.com" for i in range(1, 400, 2)]
    assert policy["bindings"] == [
        {"role": "roles/viewer", "members": viewers},  # g@ removed, u1 and u3 once each
        {"role": "roles/editor", "members": [f"user:u{i}@x.com" for i in range(0, 400, 2)]},
    ]  # roles/owner lost its only member, so the binding is gone
    # the snapshot's asset, policy and member lists are as they were
    assert base[PROJECT].iam_policy == before
    assert viewer_members == ["user:u1@x.com", "group:g@x.com"]


def test_a_policy_each_world_builds_is_its_own() -> None:
    """Two worlds built from one plan and base share no policy a later piece could change."""
    base = _base()
    plan = make_plan([_member(1, "roles/editor"), _member(2, "roles/editor")])
    first = build_world(plan, "after", base)
    second = build_world(plan, "after", base)
    one, two = first.assets[PROJECT].iam_policy, second.assets[PROJECT].iam_policy
    assert one == two
    assert one is not two
    assert one is not None and two is not None
    assert one["bindings"][-1]["members"] is not two["bindings"][-1]["members"]
    assert base[PROJECT].iam_policy == _base()[PROJECT].iam_policy
