"""The plan path's slot-setting makers build exactly what the dataclass constructors build.

Reading a large plan builds a `ResourceChange` per resource change, converting it an `Asset` and
a `Source` per resource, and judging it a `PlanFinding` per finding; each is made by setting
the new instance's slots directly (no frozen-dataclass `__init__`). A slot set wrongly, or one
left unset, would change what every rule reads and what every report shows.
"""

from __future__ import annotations

from dataclasses import astuple, fields, replace

from phiguard.findings import Outcome
from phiguard.inventory.asset import Asset, Source
from phiguard.terraform.convert import _new_asset, _new_source
from phiguard.terraform.gate import PlanFinding, _planned
from phiguard.terraform.plan import ResourceChange, _new_change, parse_plan


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


def test_a_converted_asset_and_its_source_are_what_the_constructors_make() -> None:
    source = _new_source("plan.json", "google_x.y")
    assert source == Source(file="plan.json", address="google_x.y")
    assert str(source) == "plan.json#google_x.y"
    data = {"name": "y"}
    made = _new_asset("//x/y", "x/Y", data, ("projects/1",), "global", "//p/1", source)
    plain = Asset(name="//x/y", asset_type="x/Y", data=data, ancestors=("projects/1",),
                  location="global", parent="//p/1", source=source)
    assert made == plain
    assert [getattr(made, f.name) for f in fields(Asset)] == [
        getattr(plain, f.name) for f in fields(Asset)]


def test_a_plan_finding_is_what_the_constructor_makes() -> None:
    args = ("R-1", "//x/y", "x/Y", Outcome.FAIL, "high", ("hipaa/a",), "m", (("data.a", 1),),
            None, "plan.json#google_x.y", "google_x.y", {"attribute": "a"}, "create", None)
    assert _planned(*args) == PlanFinding(*args)
    assert astuple(_planned(*args)) == astuple(PlanFinding(*args))
