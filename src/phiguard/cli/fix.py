"""`phiguard fix plan | show | apply | terraform`: click commands over the fix runs
(phiguard.runs.fix) and the fix library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from phiguard.cli._errors import run
from phiguard.cli._options import debug_option

__all__ = ["fix_group"]

_timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=0.1, max=3600), default=60.0, show_default=True,
    help="Seconds to wait for the API to connect and for each answer.")


@click.group("fix")
def fix_group() -> None:
    """Turn findings into a reviewed plan of API changes, and apply exactly that plan."""


@fix_group.command("plan")
@click.argument("findings", type=click.Path(path_type=Path))
@click.option("--output", "-o", required=True, help="Write the plan here (atomically).")
@click.option("--rule", help="Only findings of this rule id.")
@click.option("--asset", "asset_glob", help="Only assets whose name matches this glob.")
@click.option("--ssl-policy", help="SSL policy to attach to proxies without a compliant one "
              "(name or URL; default: a compliant policy in the proxy's project).")
@click.option("--sign-key", type=click.Path(path_type=Path),
              help="Sign the plan with this Ed25519 private key (PEM, as for evidence bundles); "
                   "`fix apply --public-key` then accepts only plans signed by it.")
@_timeout_option
@debug_option
def plan_command(findings: Path, output: str, rule: str | None, asset_glob: str | None,
                 ssl_policy: str | None, sign_key: Path | None, timeout: float,
                 debug: bool) -> None:
    """Read each failing resource through the API and write the changes that fix it.

    Nothing is changed. Exit 1 when some resource could not be read.
    """

    def body() -> int:
        from phiguard.runs.fix import build_fix_plan

        result = build_fix_plan(findings, output, rule=rule, asset_glob=asset_glob,
                                ssl_policy=ssl_policy, sign_key=sign_key, timeout=timeout)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items())) \
            or "nothing"
        click.echo(f"{result.selected} failing findings -> {summary}; plan {output}", err=True)
        return 1 if result.unreadable else 0

    run(body, debug)


def _fmt(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


_public_key_option = click.option(
    "--public-key", type=click.Path(path_type=Path),
    help="Accept only a plan signed by this Ed25519 public key (PEM).")


@fix_group.command("show")
@click.argument("plan_file", type=click.Path(path_type=Path))
@_public_key_option
@debug_option
def show_command(plan_file: Path, public_key: Path | None, debug: bool) -> None:
    """Each planned change: the exact request apply sends, before -> after, guard, permissions.

    The request shown is the one the registry builds from the entry; a plan whose recorded
    request differs is refused, as apply refuses it."""

    def body() -> int:
        import os

        from phiguard.collect.clients import ENDPOINT_ENV
        from phiguard.fix.api import describe
        from phiguard.fix.plan import read_plan

        plan = read_plan(str(plan_file), public_key)
        endpoint = os.environ.get(ENDPOINT_ENV) or None
        for e in plan["actions"]:
            click.echo(f"[{e['id']}] {e['rule_id']} {e['asset']}: {e['status']}")
            if e["status"] == "change":
                req = e["request"]
                verb, url = describe(req["method"], req["params"], req["body"], endpoint)
                click.echo(f"    {e['summary']}")
                click.echo(f"    sends:  {verb} {url}  ({req['method']})")
                click.echo(f"    body:   {_fmt(req['body'])}")
                click.echo(f"    before: {_fmt(e['before'])}")
                click.echo(f"    after:  {_fmt(e['after'])}")
                guard = e["precondition"]
                click.echo(f"    guard:  {guard['field']} = {guard['value']}; checked by "
                           f"{guard['checked_by']}")
                click.echo(f"    needs:  {', '.join(e['permissions'])}")
                if e.get("caution"):
                    click.echo(f"    caution: {e['caution']}")
            elif e.get("reason"):
                click.echo(f"    {e['reason']}")
        click.echo(f"plan {plan['digest']} from {plan.get('findings')} ({plan.get('created')}); "
                   f"{plan['signed']}")
        click.echo("apply re-reads each resource, rebuilds each request from the action "
                   "registry and refuses the plan if it differs from what is shown here; where "
                   "an earlier change of this plan wrote the same resource first, the request "
                   "carries the guard that write left (and an IAM policy the bindings it left)")
        return 0

    run(body, debug)


@fix_group.command("apply")
@click.argument("plan_file", type=click.Path(path_type=Path))
@click.option("--journal", type=click.Path(path_type=Path),
              help="NDJSON journal, appended and fsynced after every action (needed with --yes).")
@click.option("--yes", is_flag=True, help="Change things (default: dry run).")
@click.option("--resume", is_flag=True, help="Continue the run recorded in --journal.")
@_public_key_option
@_timeout_option
@debug_option
def apply_command(plan_file: Path, journal: Path | None, yes: bool, resume: bool,
                  public_key: Path | None, timeout: float, debug: bool) -> None:
    """Apply exactly the plan; resources changed since it are skipped, never overwritten.

    Exit 0 when every action is applied or already in place, 1 when any was skipped.
    """

    def body() -> int:
        from phiguard.fix.plan import read_plan
        from phiguard.runs.fix import apply_fix_plan, refuse_journal_on_inputs

        plan = read_plan(str(plan_file), public_key)
        refuse_journal_on_inputs(journal, plan_file, plan)  # before asking or sending
        go = yes
        if not go and sys.stdin.isatty() and journal is not None:
            go = click.confirm(f"apply {plan_file} and journal to {journal}?", default=False)
        if not go:
            click.echo("dry run: nothing will change (add --yes to apply)")
        if public_key is None:
            click.echo(f"note: {plan['signed']}; --public-key KEY accepts only plans signed "
                       "by KEY", err=True)
        report = apply_fix_plan(plan, journal=journal, yes=go, resume=resume, timeout=timeout,
                                echo=click.echo, plan_file=plan_file)
        counts: dict[str, int] = {}
        for o in report.outcomes:
            counts[o.result] = counts.get(o.result, 0) + 1
        click.echo(", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "no changes")
        return 0 if report.ok else 1

    run(body, debug)


@fix_group.command("terraform")
@click.argument("findings", type=click.Path(path_type=Path))
@click.option("--rule", help="Only findings of this rule id.")
@click.option("--asset", "asset_glob", help="Only assets whose name matches this glob.")
@debug_option
def terraform_command(findings: Path, rule: str | None, asset_glob: str | None,
                      debug: bool) -> None:
    """The fixes as Terraform attribute changes (the live fix alone is reverted by IaC)."""

    def body() -> int:
        from phiguard.fix.plan import select_findings
        from phiguard.fix.terraform import terraform_snippets
        from phiguard.report.json_report import read_findings

        doc = read_findings(str(findings))
        click.echo(terraform_snippets(select_findings(doc, rule, asset_glob)), nl=False)
        return 0

    run(body, debug)
