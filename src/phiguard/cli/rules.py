"""`phiguard rules list | show | test | operators | schema`."""

from __future__ import annotations

from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import debug_option, rules_option, single_format_option

__all__ = ["rules_group"]


@click.group("rules")
def rules_group() -> None:
    """List, show and test rules."""


@rules_group.command("list")
@single_format_option(("text", "json"))
@rules_option()
@debug_option
def rules_list(fmt: str, rules: tuple[Path, ...], debug: bool) -> None:
    """Every rule with its severity, controls (of every catalog) and asset types."""

    def body() -> int:
        import json

        from phiguard.runs.common import load_pack

        pack = load_pack(rules)
        if fmt == "json":
            def by_catalog(controls: tuple[str, ...]) -> dict[str, list[str]]:
                out: dict[str, list[str]] = {name: [] for name in sorted(pack.catalogs)}
                for control in controls:
                    out.setdefault(control.split("/", 1)[0], []).append(control)
                return out

            items = [{"id": r.id, "title": r.title, "severity": r.severity,
                      "controls": list(r.controls),
                      "controls_by_catalog": by_catalog(r.controls),
                      "asset_types": list(r.asset_types),
                      "scope": r.scope, "optional": r.optional,
                      "params": {k: v.get("default") for k, v in r.params.items()}}
                     for r in pack.rules]
            catalogs = [{"name": c.name, "title": c.title, "controls": len(c.controls),
                         "automated": sum(x.automated for x in c.controls.values())}
                        for _, c in sorted(pack.catalogs.items())]
            click.echo(json.dumps({"rule_pack_digest": f"sha256:{pack.digest}",
                                   "catalogs": catalogs, "rules": items}, indent=2))
            return 0
        for r in pack.rules:
            # HIPAA paragraphs by number as before; other catalogs' ids in full (3.6 alone
            # would read as a HIPAA paragraph)
            controls = ", ".join(c.split("/", 1)[-1] if c.startswith("hipaa/") else c
                                 for c in r.controls)
            flag = " (optional)" if r.optional else ""
            click.echo(f"{r.id:<9} {r.severity:<8} {r.title}{flag}\n{'':18}{controls}")
        click.echo(f"\n{len(pack.rules)} rules · pack sha256:{pack.digest[:16]}")
        return 0

    run(body, debug)


@rules_group.command("show")
@click.argument("rule_id")
@rules_option()
@debug_option
def rules_show(rule_id: str, rules: tuple[Path, ...], debug: bool) -> None:
    """A rule's full text: what it checks, why, its parameters and remediation."""

    def body() -> int:
        from phiguard.errors import UsageError
        from phiguard.runs.common import load_pack

        pack = load_pack(rules)
        rule = pack.by_id().get(rule_id.upper())
        if rule is None:
            raise UsageError(f"no rule {rule_id} (see `phiguard rules list`)")
        click.echo(f"{rule.id}: {rule.title}")
        optional = "    optional (enable in phiguard.yaml rules.enable)" if rule.optional else ""
        click.echo(f"severity: {rule.severity}    scope: {rule.scope}{optional}")
        for control in rule.controls:
            title = pack.controls[control].title if control in pack.controls else ""
            click.echo(f"control:  {control}  {title}")
        click.echo(f"asset types: {', '.join(rule.asset_types)}")
        click.echo(f"\n{rule.description}\n")
        for name, spec in rule.params.items():
            click.echo(f"param {name} ({spec['type']}, default {spec['default']!r}): "
                       f"{spec.get('description', '')}")
        if rule.uses:
            click.echo("\nuses the pack's definitions:")
            what = {"conditions": "condition", "lets": "let", "params": "param"}
            for used in rule.uses:
                click.echo(f"  {what[used.section]} {used.name} ({used.file}:{used.line}): "
                           f"{used.description}")
        click.echo(f"\nremediation: {rule.remediation['summary']}")
        if "terraform" in rule.remediation:
            click.echo("\nterraform:\n" + rule.remediation["terraform"].rstrip())
        for ref in rule.references:
            click.echo(f"see: {ref}")
        click.echo(f"\nfile: {rule.path}")
        return 0

    run(body, debug)


@rules_group.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--verbose", "-v", is_flag=True, help="List every example, not only failures.")
@debug_option
def rules_test(paths: tuple[Path, ...], verbose: bool, debug: bool) -> None:
    """Run every rule's pass/ and fail/ examples; exit 1 if any gives another outcome."""

    def body() -> int:
        from phiguard.runs.common import load_pack
        from phiguard.testing import check_examples

        pack = load_pack(paths)
        failed = total = 0
        for rule in pack.rules:
            for result in check_examples(rule):
                total += 1
                if not result.ok:
                    failed += 1
                    click.echo(f"FAIL {rule.id} {result.example}\n     {result.asset}\n"
                               f"     expected {result.expected}, got {result.actual}: "
                               f"{result.message}")
                elif verbose:
                    click.echo(f"ok   {rule.id} {result.example}")
        click.echo(f"{len(pack.rules)} rules, {total} examples: {total - failed} passed, "
                   f"{failed} failed")
        return 1 if failed else 0

    run(body, debug)


@rules_group.command("operators")
def rules_operators() -> None:
    """The operators and let forms a rule may use (from the registry)."""
    from phiguard.policy.language import LET_FORMS
    from phiguard.policy.operators import OPERATORS
    from phiguard.policy.plugins import load_operator_plugins

    def body() -> None:
        load_operator_plugins()  # installed plugins' operators too (exit 2 if one fails)
        for name, op in OPERATORS.items():
            click.echo(f"{name:<18} {op.doc}")
        click.echo("")
        for name, form in LET_FORMS.items():
            click.echo(f"let {name:<24} {form.doc}")

    run(body, False)


@rules_group.command("schema")
@click.option("--definitions", is_flag=True,
              help="The schema of a pack's _definitions.yaml instead of rule.yaml.")
def rules_schema(definitions: bool) -> None:
    """The JSON Schema of rule.yaml, generated from the operator registry."""
    import json

    from phiguard.policy.plugins import load_operator_plugins
    from phiguard.policy.schema import definitions_schema, rule_schema

    def body() -> None:
        load_operator_plugins()
        schema = definitions_schema() if definitions else rule_schema()
        click.echo(json.dumps(schema, indent=2))

    run(body, False)
