"""The plan path's slot-setting makers build exactly what the dataclass constructors build.

Reading a large plan builds a `ResourceChange` per resource change and judging it a
`PlanFinding` per finding; each is made by setting the new instance's slots directly (no
frozen-dataclass `__init__`), as a converted resource's `Asset` is (`new_asset`). A slot set
wrongly, or one left unset, would change what every rule reads and what every report shows.
"""

from __future__ import annotations

from dataclasses import astuple, fields, replace

from phiguard.findings import Outcome
from phiguard.inventory.asset import Asset, Source
from phiguard.terraform.convert import Context
from phiguard.terraform.gate import PlanFinding, _planned
from phiguard.terraform.plan import ResourceChange, _new_change, parse_plan
from phiguard.terraform.world import load_tables


def test_a_resource_change_is_what_the_constructor_makes() -> None:
    args = ("module.a.google_x.y[0]", "module.a", "google_x", "y", 0, ("create",), None,
            {"name": "y"}, {"id": True}, "registry.terraform.io/hashicorp/google")
    made, plain = _new_change(*args), ResourceChange(*args)
    assert made == plain
    assert astuple(made) == args  # every field set, in its place
    assert replace(made, name="z").name == "z"  # still an ordinary frozen dataclass


def test_a_parsed_plan_holds_ordinary_resource_changes() -> None:
    raw = (b'{"format_version": "1.2", "resource_changes": [{"address": "google_x.y", '
           b'"type": "google_x", "name": "y", "provider_name": "p", "change": '
           b'{"actions": ["create"], "before": null, "after": {"a": 1}, '
           b'"after_unknown": {"id": true}}}]}')
    (change,) = parse_plan(raw, "plan.json").changes
    assert change == ResourceChange("google_x.y", "", "google_x", "y", None, ("create",), None,
                                    {"a": 1}, {"id": True}, "p")


def test_a_converted_asset_is_what_the_constructor_makes() -> None:
    plan = parse_plan(b'{"format_version": "1.2", "resource_changes": [{"address": '
                      b'"google_storage_bucket.b", "type": "google_storage_bucket", "name": "b", '
                      b'"change": {"actions": ["create"], "before": null, "after": {"name": '
                      b'"phi-b", "project": "p1", "location": "US"}, "after_unknown": {}}}]}',
                      "plan.json")
    load_tables()
    made = Context(plan, "after").asset_of(plan.changes[0])
    assert made is not None
    plain = Asset(name=made.name, asset_type=made.asset_type, data=made.data,
                  ancestors=made.ancestors, location=made.location, parent=made.parent,
                  source=Source(file="plan.json", address="google_storage_bucket.b"))
    assert made == plain
    assert [getattr(made, f.name) for f in fields(Asset)] == [
        getattr(plain, f.name) for f in fields(Asset)]
    assert (made.name, made.parent) == ("//storage.googleapis.com/phi-b",
                                        "//cloudresourcemanager.googleapis.com/projects/p1")


def test_a_plan_finding_is_what_the_constructor_makes() -> None:
    args = ("R-1", "//x/y", "x/Y", Outcome.FAIL, "high", ("hipaa/a",), "m", (("data.a", 1),),
            None, "plan.json#google_x.y", "google_x.y", {"attribute": "a"}, "create", None)
    assert _planned(*args) == PlanFinding(*args)
    assert astuple(_planned(*args)) == astuple(PlanFinding(*args))
