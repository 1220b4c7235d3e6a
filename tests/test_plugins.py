"""Plugins: a separate package adds an operator, a control catalog and a rule pack using both
(tests/plugin_example, built and installed offline here), and every way a plugin can go wrong
is exit 2 naming the plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from _paths import DEMO, REPO
from phiguard.errors import PluginError, RuleError
from phiguard.policy import operators
from phiguard.policy.plugins import load_group
from phiguard.policy.rule import load_pack

EXAMPLE = REPO / "tests" / "plugin_example"
CONFIG = 'organization: "123456789012"\nphi:\n  all: false\n  projects: [oh-phi-prod]\n'


def _phiguard(*args: str, path: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(path) if path else ""}
    return subprocess.run([sys.executable, "-m", "phiguard.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, built with hatchling from this venv and installed with pip into a
    directory of its own (no index, no network): its dist-info carries the entry points."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build") / "plugin_example"
    shutil.copytree(EXAMPLE, build)  # pip builds in place: keep the repository clean
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index",
                    "--no-build-isolation", "--no-deps", "--target", str(target), str(build)],
                   check=True, capture_output=True, timeout=120)
    assert (target / "phiguard_example_plugin-0.1.0.dist-info" / "entry_points.txt").is_file()
    return target


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "phiguard.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_installed_plugin_operator_decides_the_scan(installed: Path, config: Path,
                                                    tmp_path: Path) -> None:
    """`phiguard scan --rules <the plugin's pack>` judges with the plugin's operator, and the
    findings name the plugin catalog's control: a bucket without a team prefix FAILs, one
    with a prefix PASSes."""
    run = _phiguard("scan", str(DEMO), "--config", str(config), "--at", "2026-11-25T00:00:00Z",
                    "--rules", str(EXAMPLE / "rules"), "--format", "json",
                    path=installed, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    everything = json.loads(run.stdout)["results"]
    assert {r["rule_id"] for r in everything} == {"NAM-001", "SUB-001"}
    results = [r for r in everything if r["rule_id"] == "NAM-001"]
    verdicts = {r["asset"].rsplit("/", 1)[1]: r["outcome"] for r in results}
    assert verdicts and all(r["controls"] == ["acme/NM-01"] for r in results)
    for name, outcome in verdicts.items():
        expected = "PASS" if name.startswith(("oh-phi-", "oh-sec-")) else "FAIL"
        assert outcome == expected, name
    assert {"PASS", "FAIL"} <= set(verdicts.values())
    fails = [r["message"] for r in results if r["outcome"] == "FAIL"]
    assert all("expected prefix_in" in m for m in fails)
    digest = json.loads(run.stdout)["run"]["rule_pack_digest"]
    listed = _phiguard("rules", "operators", path=installed, cwd=tmp_path)
    assert "prefix_in" in listed.stdout
    schema = json.loads(_phiguard("rules", "schema", path=installed, cwd=tmp_path).stdout)
    assert any("prefix_in" in leaf["properties"]
               for leaf in schema["$defs"]["condition"]["oneOf"])
    # The pack digest records the installed operators that judged (not only the files).
    again = _phiguard("scan", str(DEMO), "--config", str(config), "--at",
                      "2026-11-25T00:00:00Z", "--rules", str(EXAMPLE / "rules"),
                      "--format", "json", path=installed, cwd=tmp_path)
    assert json.loads(again.stdout)["run"]["rule_pack_digest"] == digest
    tested = _phiguard("rules", "test", str(EXAMPLE / "rules"), path=installed, cwd=tmp_path)
    assert tested.returncode == 0 and "4 passed" in tested.stdout


PLAN = {"format_version": "1.2", "terraform_version": "1.9.5", "resource_changes": [
    {"address": f"google_pubsub_subscription.{name}", "mode": "managed",
     "type": "google_pubsub_subscription",
     "name": name, "provider_name": "registry.terraform.io/hashicorp/google",
     "change": {"actions": ["create"], "before": None,
                "after": {"name": name, "project": "oh-phi-prod",
                          "topic": "projects/oh-phi-prod/topics/intake",
                          "retain_acked_messages": retain},
                "after_unknown": {"id": True}}}
    for name, retain in (("intake", True), ("audit", False))]}


def test_installed_plugin_converter_judges_a_plan(installed: Path, config: Path,
                                                  tmp_path: Path) -> None:
    """`phiguard plan` converts planned google_pubsub_subscription resources with the plugin's
    converter, and the plugin pack's rule judges them (phiguard converts no Pub/Sub
    subscription itself)."""
    from phiguard.terraform.convert import CONVERTERS
    from phiguard.terraform.world import load_tables

    load_tables()
    assert "google_pubsub_subscription" not in CONVERTERS
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(PLAN), encoding="utf-8")
    args = ("plan", str(plan), "--config", str(config), "--rules", str(EXAMPLE / "rules"),
            "--format", "json")
    run = _phiguard(*args, path=installed, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    verdicts = {(r["rule_id"], r["asset"].rsplit("/", 1)[1]): r["outcome"]
                for r in json.loads(run.stdout)["results"]}
    assert verdicts == {("SUB-001", "intake"): "FAIL", ("SUB-001", "audit"): "PASS"}


def test_without_the_plugin_its_pack_is_refused(config: Path, tmp_path: Path) -> None:
    """The same pack without the plugin installed is exit 2 at the rule, not a silent skip."""
    run = _phiguard("scan", str(DEMO), "--config", str(config), "--rules",
                    str(EXAMPLE / "rules"), path=None, cwd=tmp_path)
    assert run.returncode == 2
    assert "NAM-001/rule.yaml:4:12: control id 'acme/NM-01'" in run.stderr


def _fake_plugin(root: Path, group: str, name: str, value: str, module: str = "",
                 source: str = "") -> Path:
    """A hand-made installed distribution (dist-info with entry points) and its module."""
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {value}\n")
    if module:
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return root


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("broken_mod", "raise ImportError('needs acme-sdk')\n",
     "plugin 'bad' (phiguard.operators = broken_mod from bad 0.1) failed to load: "
     "ImportError: needs acme-sdk"),
    ("collide_mod", """\
        from phiguard.policy import operator

        @operator("equals", doc="mine", example={"path": "data.x", "equals": 1})
        def equals(value, arg, ctx):
            return True
        """,
     "plugin 'bad' (phiguard.operators = collide_mod from bad 0.1): operator `equals` is "
     "already defined by phiguard's built-in operators"),
])
def test_a_bad_plugin_is_exit_2_naming_it(tmp_path: Path, config: Path, module: str,
                                          source: str, expected: str) -> None:
    """A plugin that cannot be imported, or takes a built-in operator's name, stops the run
    with exit 2 and one line naming the plugin and its distribution, no traceback."""
    site = _fake_plugin(tmp_path / "site", "phiguard.operators", "bad", module, module, source)
    run = _phiguard("scan", str(DEMO), "--config", str(config), path=site, cwd=tmp_path)
    assert run.returncode == 2
    assert expected in run.stderr
    assert "Traceback" not in run.stderr


@pytest.fixture
def registry() -> Iterator[None]:
    """Operators registered by a test are gone after it."""
    saved = dict(operators.OPERATORS)
    yield
    operators.OPERATORS.clear()
    operators.OPERATORS.update(saved)


def _entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: str, value: str,
           module: str, source: str) -> EntryPoint:
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return EntryPoint(name="acme", value=value, group=group)


def test_operator_argument_schema_is_checked_at_registration(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: None) -> None:
    """An argument schema the rule validator cannot check is refused when the plugin loads."""
    ep = _entry(tmp_path, monkeypatch, "phiguard.operators", "enum_op", "enum_op", """\
        from phiguard.policy import operator

        @operator("color_is", arg={"oneOf": [{"const": "red"}]}, doc="d",
                  example={"path": "data.c", "color_is": "red"})
        def color_is(value, arg, ctx):
            return value == arg
        """)
    with pytest.raises(PluginError, match=r"plugin 'acme'.*color_is.*\['oneOf'\]"):
        load_group("phiguard.operators", [ep])


def test_plugin_operator_arguments_are_validated_like_built_ins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, registry: None) -> None:
    """A rule giving a plugin operator an argument outside its schema is a RuleError at the
    operator, as for a built-in one."""
    ep = _entry(tmp_path, monkeypatch, "phiguard.operators", "list_op", "list_op", """\
        from phiguard.policy import operator

        @operator("suffix_in", arg={"type": "array", "items": {"type": "string"}},
                  doc="d", example={"path": "data.n", "suffix_in": ["-x"]})
        def suffix_in(value, arg, ctx):
            return isinstance(value, str) and value.endswith(tuple(arg))
        """)
    load_group("phiguard.operators", [ep])
    assert operators.OPERATORS["suffix_in"].origin.startswith("plugin 'acme'")
    rule = (EXAMPLE / "rules" / "NAM-001" / "rule.yaml").read_text(encoding="utf-8")
    rule = rule.replace("controls: [acme/NM-01]", "controls: [hipaa/164.312(b)]")
    rule = rule.replace("prefix_in: {param: prefixes}", "suffix_in: 3")
    path = tmp_path / "pack" / "NAM-001" / "rule.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(rule, encoding="utf-8")
    with pytest.raises(RuleError, match="operator `suffix_in` takes a list") as info:
        load_pack([tmp_path / "pack"])
    assert info.value.line == 15


def test_converter_plugins_register_and_refuse_a_built_in_type(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A converter for a new google_* type is registered; one for a type phiguard converts
    already is a PluginError naming the plugin and the type."""
    from phiguard.plugins import load_converter_plugins
    from phiguard.terraform.convert import CONVERTERS

    ep = _entry(tmp_path, monkeypatch, "phiguard.converters", "conv_new:CONVERTERS", "conv_new",
                """\
        from phiguard.terraform.convert import Converter

        CONVERTERS = [Converter("google_example_widget", "example.googleapis.com/Widget",
                                "//example.googleapis.com/projects/{project}/widgets/{name}")]
        """)
    try:
        load_converter_plugins([ep])
        assert CONVERTERS["google_example_widget"].asset_type == "example.googleapis.com/Widget"
    finally:
        CONVERTERS.pop("google_example_widget", None)
    clash = _entry(tmp_path, monkeypatch, "phiguard.converters", "conv_old:C", "conv_old", """\
        from phiguard.terraform.convert import Converter

        C = Converter("google_storage_bucket", "storage.googleapis.com/Bucket", "x")
        """)
    with pytest.raises(PluginError, match=r"plugin 'acme'.*google_storage_bucket is already "
                                          r"converted by phiguard's built-in converters"):
        load_converter_plugins([clash])


def test_a_catalog_plugin_cannot_take_the_packs_catalog(tmp_path: Path) -> None:
    """A plugin catalog named like a catalog of the pack (hipaa), or whose ids break its own
    pattern, is refused naming the plugin."""
    from phiguard.policy import plugins

    catalog = tmp_path / "cat.yaml"
    catalog.write_text("catalog: hipaa\nid_pattern: '^hipaa/X-\\d$'\ncontrols:\n"
                       "  - {id: hipaa/X-1, title: One}\n", encoding="utf-8")
    ep = EntryPoint(name="acme", value="x", group="phiguard.controls")
    who = plugins.describe(ep)
    plugins._done["phiguard.controls"] = [(who, catalog)]
    try:
        with pytest.raises(PluginError, match=r"plugin 'acme'.*'hipaa' is already defined by "
                                              r"the rule pack"):
            load_pack([REPO / "rules"])
        catalog.write_text("catalog: acme\nid_pattern: '^acme/X-\\d$'\ncontrols:\n"
                           "  - {id: acme/Y-1, title: One}\n", encoding="utf-8")
        with pytest.raises(RuleError, match=r"must start with acme/ and match.*\(in plugin "
                                            r"'acme'") as info:
            load_pack([REPO / "rules"])
        assert info.value.file == str(catalog) and info.value.line == 4
    finally:
        del plugins._done["phiguard.controls"]


def test_pack_digest_names_installed_operators(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               registry: None) -> None:
    """The same rule files judged with a plugin operator installed have another pack digest
    (run records show that something beyond the files took part)."""
    before = load_pack([REPO / "rules"]).digest
    ep = _entry(tmp_path, monkeypatch, "phiguard.operators", "digest_op", "digest_op", """\
        from phiguard.policy import operator

        @operator("always_true", arg={"type": "boolean"}, doc="d",
                  example={"path": "data.x", "always_true": True})
        def always_true(value, arg, ctx):
            return True
        """)
    load_group("phiguard.operators", [ep])
    assert load_pack([REPO / "rules"]).digest != before


def test_plugin_operator_enum_argument_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  registry: None) -> None:
    """An operator declaring `enum` for its argument gets rules checked against it, at the
    operator's position."""
    ep = _entry(tmp_path, monkeypatch, "phiguard.operators", "enum_ok", "enum_ok", """\
        from phiguard.policy import operator

        @operator("tier_is", arg={"type": "string", "enum": ["gold", "silver"]}, doc="d",
                  example={"path": "data.tier", "tier_is": "gold"})
        def tier_is(value, arg, ctx):
            return value == arg
        """)
    load_group("phiguard.operators", [ep])
    rule = (EXAMPLE / "rules" / "NAM-001" / "rule.yaml").read_text(encoding="utf-8")
    rule = rule.replace("controls: [acme/NM-01]", "controls: [hipaa/164.312(b)]")
    path = tmp_path / "pack" / "NAM-001" / "rule.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(rule.replace("prefix_in: {param: prefixes}", "tier_is: bronze"),
                    encoding="utf-8")
    with pytest.raises(RuleError, match="operator `tier_is` takes one of gold, silver"):
        load_pack([tmp_path / "pack"])
    path.write_text(rule.replace("prefix_in: {param: prefixes}", "tier_is: gold"),
                    encoding="utf-8")
    assert load_pack([tmp_path / "pack"]).rules[0].id == "NAM-001"


def test_installed_plugins_load_once_per_process(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's entry points are looked up and imported once: loading a pack again (a report
    after a scan, say) does not import a plugin a second time."""
    from phiguard.policy import plugins

    (tmp_path / "counted.py").write_text("LOADED = True\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    calls: list[str] = []

    def found(group: str) -> list[EntryPoint]:
        calls.append(group)
        return [EntryPoint(name="acme", value="counted", group=group)]

    monkeypatch.setattr(plugins, "entry_points", found)
    monkeypatch.delitem(plugins._done, "phiguard.test-once", raising=False)
    try:
        first = load_group("phiguard.test-once")
        assert load_group("phiguard.test-once") is first
        assert calls == ["phiguard.test-once"]
        assert first[0][1].LOADED
    finally:
        plugins._done.pop("phiguard.test-once", None)
