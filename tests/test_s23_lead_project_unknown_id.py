"""A planned project whose project_id is known only after apply still sits under the folder its
folder_id names: with that folder absent from the plan, the rules that read the hierarchy's
policies (IAM-007, LOG-001, ...) are UNKNOWN, as they are with the id known, never a PASS or FAIL
that rests on reading the project alone (found by test_terraform_properties' search)."""

from __future__ import annotations

from typing import Any

import orjson

from _plans import change
from phiguard.terraform.plan import parse_plan
from phiguard.terraform.world import build_world

AFTER = {"project_id": "phi-prod", "name": "PHI prod", "number": "111", "folder_id": "222"}


def _project(unknown_id: bool) -> Any:
    after = dict(AFTER)
    if unknown_id:
        del after["project_id"]
    doc = {"format_version": "1.2", "resource_changes": [change(
        "google_project", "p", after, unknown={"project_id": True} if unknown_id else None)],
        "configuration": {"root_module": {"resources": [
            {"address": "google_project.p", "mode": "managed",
             "expressions": {"project_id": {"references": ["local.id"]}}}]}}}
    (asset,) = build_world(parse_plan(orjson.dumps(doc), "p.json"), "after").assets.values()
    return asset


def test_a_project_with_an_unknown_id_keeps_its_folder() -> None:
    assert _project(unknown_id=False).ancestors == ("projects/111", "folders/222")
    assert _project(unknown_id=True).ancestors[1:] == ("folders/222",)
