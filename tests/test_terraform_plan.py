"""Reading `terraform show -json`: versions, addresses, configuration references, bad input."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from _paths import PLANS
from _plans import change, plan_doc
from phiguard.terraform.plan import PlanError, load_plan, parse_plan
from phiguard.terraform.values import tf_get, with_unknowns

MALFORMED = PLANS / "malformed"


@pytest.mark.parametrize("version", ["0.1", "0.2", "1.0", "1.1", "1.2", "1.10"])
def test_plan_format_versions_0_1_to_1_x_are_read(version: str) -> None:
    """Terraform 0.12 through today write format_version 0.1 .. 1.x: all are accepted."""
    doc = plan_doc([change("google_compute_network", "n", {"name": "n"})])
    doc["format_version"] = version
    assert parse_plan(orjson.dumps(doc), "p.json").format_version == version


@pytest.mark.parametrize(("name", "reason"), [
    ("not-json.json", "not JSON"),
    ("state-file.json", "neither resource_changes nor planned_values"),
    ("future-version.json", "unsupported plan format_version '2.0'"),
    ("no-actions.json", "has no change.actions list"),
])
def test_malformed_plans_name_the_file_and_the_reason(name: str, reason: str) -> None:
    """A malformed plan is an error with the file and what is wrong, never a pass."""
    with pytest.raises(PlanError) as err:
        load_plan(MALFORMED / name)
    assert reason in str(err.value)
    assert str(err.value).startswith(str(MALFORMED / name))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    """An unreadable plan file is a PlanError naming it."""
    with pytest.raises(PlanError, match="cannot read"):
        load_plan(tmp_path / "nope.json")


def test_module_count_and_for_each_addresses() -> None:
    """Module paths, count indexes and for_each keys come from the address when the plan omits
    `index` / `module_address` (older Terraform), and config addresses drop instance keys."""
    items = [
        {"address": 'module.a["x"].module.b.google_compute_network.n[2]', "mode": "managed",
         "type": "google_compute_network", "name": "n",
         "change": {"actions": ["create"], "after": {}, "before": None}},
        {"address": 'google_compute_firewall.f["ssh"]', "mode": "managed",
         "type": "google_compute_firewall", "name": "f",
         "change": {"actions": ["no-op"], "after": {}, "before": {}}},
        {"address": "data.google_project.p", "mode": "data", "type": "google_project",
         "name": "p", "change": {"actions": ["read"], "after": {}}},
    ]
    plan = parse_plan(orjson.dumps({"format_version": "0.1", "resource_changes": items}), "p")
    first, second = plan.changes
    assert (first.module, first.index) == ('module.a["x"].module.b', 2)
    assert first.config_address == "module.a.module.b.google_compute_network.n"
    assert (second.module, second.index, second.config_address) == (
        "", "ssh", "google_compute_firewall.f")
    assert plan.data_sources == 1


def test_configuration_references_flatten_nested_blocks() -> None:
    """Expressions of nested blocks and module calls index by config address + dotted path,
    with and without each block's index (`settings[0].ip_configuration[0].private_network`)."""
    doc = plan_doc([])
    doc["configuration"]["root_module"] = {
        "resources": [{"address": "google_sql_database_instance.db", "mode": "managed",
                       "expressions": {"name": {"constant_value": "db"}, "settings": [{
                           "ip_configuration": [{"private_network": {
                               "references": ["google_compute_network.v.id"]}}]}]}}],
        "module_calls": {"m": {"source": "./m", "module": {"resources": [
            {"address": "google_compute_network.v", "mode": "managed",
             "expressions": {"name": {"references": ["var.name"]}}}]}}}}
    plan = parse_plan(orjson.dumps(doc), "p")
    ref = ["google_compute_network.v.id"]
    assert plan.references["google_sql_database_instance.db"] == {
        "name": [], "settings.ip_configuration.private_network": ref,
        "settings[0].ip_configuration.private_network": ref,
        "settings.ip_configuration[0].private_network": ref,
        "settings[0].ip_configuration[0].private_network": ref}
    assert plan.references["module.m.google_compute_network.v"] == {"name": ["var.name"]}
    assert plan.module_sources == {"module.m": "./m"}


def test_duplicate_addresses_are_rejected() -> None:
    """Two changes with one address cannot both be judged: the plan is malformed."""
    one = change("google_compute_network", "n", {"name": "n"})
    with pytest.raises(PlanError, match="appears twice"):
        parse_plan(orjson.dumps(plan_doc([one, one])), "p")


def test_after_unknown_marks_nested_values() -> None:
    """after_unknown marks scalars, whole blocks and list elements; known values stay."""
    after = {"a": 1, "blk": [{"x": None, "y": 2}], "lst": ["k", None]}
    unknown = {"b": True, "blk": [{"x": True}], "lst": [False, True]}
    out = with_unknowns(after, unknown)
    assert out["a"] == 1 and out["blk"][0]["y"] == 2 and out["lst"][0] == "k"
    assert repr(out["b"]).startswith("<unknown") and repr(out["blk"][0]["x"]).startswith("<unk")
    assert repr(out["lst"][1]).startswith("<unknown")
    assert after == {"a": 1, "blk": [{"x": None, "y": 2}], "lst": ["k", None]}  # not mutated
    assert tf_get(out, "blk.y") == 2 and tf_get(out, "blk.z", "d") == "d"


def test_planned_values_fill_in_resources_the_changes_omit() -> None:
    """A resource only in planned_values (nested child_modules too) joins as a no-op."""
    doc = plan_doc([change("google_compute_network", "n", {"name": "n"})])
    doc["planned_values"] = {"root_module": {"resources": [
        {"address": "google_compute_network.n", "mode": "managed",
         "type": "google_compute_network", "name": "n", "values": {"name": "n"}}],
        "child_modules": [{"address": "module.m", "resources": [
            {"address": "module.m.google_compute_ssl_policy.p[0]", "mode": "managed",
             "type": "google_compute_ssl_policy", "name": "p", "index": 0,
             "values": {"name": "p", "profile": "COMPATIBLE"}}]}]}}
    plan = parse_plan(orjson.dumps(doc), "p")
    extra = plan.by_address["module.m.google_compute_ssl_policy.p[0]"]
    assert (extra.actions, extra.module, extra.index) == (("no-op",), "module.m", 0)
    assert extra.before == extra.after == {"name": "p", "profile": "COMPATIBLE"}
    assert len(plan.changes) == 2


def test_duplicate_keys_are_refused_with_their_line_and_column(tmp_path: Path) -> None:
    """A key written twice in one object (in `after` or anywhere) is refused at the second
    occurrence; JSON parsers keep the last silently, which would hide the first value."""
    text = ('{"format_version": "1.2",\n "resource_changes": [{"address": "google_x.a",\n'
            '  "mode": "managed", "type": "google_x", "name": "a",\n'
            '  "change": {"actions": ["create"], "before": null,\n'
            '   "after": {"name": "a", "enabled": false,\n'
            '             "enabled": true}}}]}\n')
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(PlanError) as err:
        load_plan(path)
    assert err.value.line == 6 and err.value.column == 14
    assert "duplicate key 'enabled'" in str(err.value)
    assert str(err.value).startswith(f"{path}:6:14: ")


@pytest.mark.parametrize("text", [
    '{"format_version": "1.2", "format_version": "1.2", "resource_changes": []}',
    '{"format_version": "1.2", "resource_changes": [], "x": [{"a": {"b": 1, "b": 2}}]}',
    '{"format_version": "1.2", "resource_changes": [], "x": {"\\u0062": 1, "b": 2}}',
])
def test_duplicate_keys_at_any_depth_are_refused(text: str) -> None:
    """Duplicates are found at the top level, deep in lists, and through escapes."""
    with pytest.raises(PlanError, match="duplicate key"):
        parse_plan(text.encode(), "p.json")


@pytest.mark.parametrize("text", [
    # the fast reader counts keys (a `"` closing a string, then `:`) in the text and in what
    # orjson read: each of these would hide a repeated key from a careless count
    '{"format_version":"1.2","resource_changes":[],"x":{"a":1,"a" :2}}',
    '{"format_version":"1.2","resource_changes":[],"x":{"a":1,"a"\n:2}}',
    '{"format_version":"1.2","resource_changes":[],"x":{"a":1,"a":2},"y":"\\u003a"}',
    '{"format_version":"1.2","resource_changes":[],"x":{"a":1,"a":2},"y":"\\u003Ab"}',
    '{"format_version":"1.2","resource_changes":[],"x":{"a\\\\":1,"a\\\\":2}}',
    '{"format_version":"1.2","resource_changes":[],"x":{"\\"":1,"\\"":2,"y":"\\":"}}',
    '{"format_version":"1.2","resource_changes":[],"x":{"b":{"c":1},"b":":"}}',
])
def test_duplicate_keys_the_fast_reader_cannot_count_are_still_refused(text: str) -> None:
    with pytest.raises(PlanError, match="duplicate key"):
        parse_plan(text.encode(), "p.json")


def test_a_plan_without_repeated_keys_is_read_by_orjson_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Compact `terraform show -json` output (escaped quotes, colons and backslashes in its
    strings included) is read by orjson; the standard library's slower parser with its
    repeated-key hook is left for text the colon count cannot vouch for."""
    from phiguard.terraform import plan as plan_module

    doc = plan_doc([change("google_compute_network", "n",
                           {"name": "n", "description": '":\\":\\\\":' + "\u003a"})])
    raw = orjson.dumps(doc)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("the standard library parser was used")

    monkeypatch.setattr(plan_module.json, "loads", refused)
    assert parse_plan(raw, "p.json").changes[0].after["description"] == '":\\":\\\\"::'
    spaced = raw.replace(b'"name":', b'"name" :\n ')  # white space does not matter
    assert parse_plan(spaced, "p.json").changes[0].after["name"] == "n"
    with pytest.raises(AssertionError, match="standard library"):  # a colon as an escape
        parse_plan(raw.replace(b'"name":"n"', b'"name":"\\u003an"'), "p.json")


def test_equal_keys_in_different_objects_are_fine() -> None:
    """The same key in sibling or nested objects is no duplicate."""
    text = '{"format_version": "1.2", "resource_changes": [], "a": {"a": {"a": 1}}, "b": {"a": 2}}'
    assert parse_plan(text.encode(), "p.json").changes == []


@pytest.mark.parametrize("text", ['{"format_version": NaN}', '{"a": "\\ud800"}'])
def test_values_json_does_not_define_are_refused(text: str) -> None:
    """NaN and lone surrogate escapes are not JSON text phiguard accepts."""
    with pytest.raises(PlanError, match="not JSON"):
        parse_plan(text.encode(), "p.json")


def test_changes_of_some_types_are_kept_in_plan_order() -> None:
    """Tables look up planned resources of a type (the subnetwork a VM names, the other side
    of a peering) per resource: `Plan.of_types` gives them in plan order without scanning the
    whole plan each time, and sees a change appended later."""
    plan = parse_plan(orjson.dumps(plan_doc([
        change("google_compute_subnetwork", "b", {"name": "b"}),
        change("google_compute_instance", "vm", {"name": "vm"}),
        change("google_compute_network", "n", {"name": "n"}),
        change("google_compute_subnetwork", "a", {"name": "a"})])), "p.json")
    names = [c.address for c in plan.of_types("google_compute_subnetwork",
                                              "google_compute_network")]
    assert names == ["google_compute_subnetwork.b", "google_compute_network.n",
                     "google_compute_subnetwork.a"]
    assert plan.of_types("google_compute_instance") == [plan.changes[1]]
    assert plan.of_types("google_compute_firewall") == []
    plan.changes.append(plan.changes[1])
    assert len(plan.of_types("google_compute_instance")) == 2
