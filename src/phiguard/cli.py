"""Command line: parse, call the library, map errors to exit codes (0 ok, 1 failing, 2 error).

Library modules are imported inside the commands so `phiguard --help` starts fast.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, cast

import click

from phiguard import __version__
from phiguard.errors import OutputError

if TYPE_CHECKING:
    from datetime import datetime

    from phiguard.policy.rule import RulePack

SEVERITY_CHOICES = ("critical", "high", "medium", "low", "info", "none")


def _default_rules_dir() -> Path:
    here = Path(__file__).resolve().parent
    packaged = here / "_data" / "rules"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "rules"


def _load_pack(rules: tuple[Path, ...]) -> RulePack:
    from phiguard.policy.rule import load_pack

    return load_pack(list(rules) or [_default_rules_dir()])


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    """stdout, or a file written atomically: a failed run leaves no partial output."""
    if path in (None, "-"):
        yield sys.stdout
        return
    assert path is not None
    from phiguard._util.outputs import OutputWriter as _Writer
    from phiguard._util.outputs import writable_target

    label = f"--output {path}"
    writable_target("--output", path)
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if target.exists() and not target.is_file():
        # /dev/null and other special files are written directly.
        try:
            raw = target.open("w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"{label}: cannot write: {exc.strerror or exc}") from None
        writer = _Writer(raw, label)
        try:
            yield cast(IO[str], writer)
            writer.flush()
        finally:
            with suppress(OSError):  # a failed flush above already said why
                raw.close()
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise OutputError(f"{label}: cannot create a file in {directory}: "
                          f"{exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it owner-only; a report is meant to be read
        fh = os.fdopen(fd, "w", encoding="utf-8")
        try:
            writer = _Writer(fh, label)
            yield cast(IO[str], writer)
            writer.flush()
            try:
                os.fsync(fh.fileno())
            except OSError as exc:
                raise writer.failed(exc) from None
        finally:
            # Closed here, not by `with`: a close that fails again (the same full disk) must
            # not replace the error that names the output.
            with suppress(OSError):
                fh.close()
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(f"{label}: cannot replace: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _refuse_inputs(outputs: list[tuple[str, str | Path | None]],
                   inputs: list[str | Path | None]) -> None:
    """Before reading anything: no output may be an input (see phiguard._util.outputs)."""
    from phiguard._util.outputs import refuse_inputs, refuse_inside, writable_target

    refuse_inputs(outputs, inputs)
    bundles = [path for label, path in outputs if label == "--bundle" and path is not None]
    others = [(label, path) for label, path in outputs if label != "--bundle"]
    for bundle in bundles:
        # A file written into the bundle would be one its manifest does not list.
        refuse_inside(others, Path(bundle), "--bundle")
    for label, path in outputs:
        if path is not None and str(path) != "-":
            writable_target(label, path, directory=label == "--bundle")


def _noting_scope(fn: Callable[[], int | None],
                  config_path: Path | None) -> Callable[[], int | None]:
    """After a successful run without --config, say that everything was treated as PHI."""

    def run() -> int | None:
        code = fn()
        if config_path is None:
            from phiguard.config import NO_CONFIG_NOTE

            click.echo(f"phiguard: note: {NO_CONFIG_NOTE}", err=True)
        return code
    return run


def _stdout_failed() -> bool:
    """After an OSError: whether standard output itself can no longer be written (a full disk,
    a closed pipe). If so, point it at /dev/null so the interpreter's final flush stays quiet."""
    try:
        sys.stdout.flush()
        return False
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return True


def _fail_unexpected(exc: BaseException, debug: bool) -> NoReturn:
    """An exception phiguard did not raise on purpose: exit 2 with one line (and the traceback
    with --debug), never exit 1, which CI reads as failing findings."""
    import traceback

    if isinstance(exc, BrokenPipeError):
        _stdout_failed()
        sys.exit(141)  # the reader went away (`| head`): quiet, as the shell's SIGPIPE is
    if isinstance(exc, OSError) and _stdout_failed():
        click.echo(f"phiguard: error: cannot write standard output: {exc.strerror or exc}",
                   err=True)
        sys.exit(2)
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, OSError):
        click.echo(f"phiguard: error: {exc}", err=True)
    else:
        text = " ".join(str(exc).split())[:300]
        click.echo(f"phiguard: error: internal error: {type(exc).__name__}: {text} (a bug in "
                   "phiguard; run again with --debug for the traceback and report it)",
                   err=True)
    sys.exit(2)


def _run(fn: Callable[[], int | None], debug: bool) -> None:
    from phiguard.errors import PhiguardError

    try:
        code = fn() or 0
    except PhiguardError as exc:
        if debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        click.echo(f"phiguard: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("phiguard: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        _fail_unexpected(exc, debug)
    sys.exit(code)


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    from phiguard._util.times import parse_time

    parsed = parse_time(value)
    if parsed is None:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 time (2026-11-25T06:00:00Z) "
                                 "or a date (2026-11-25)", param_hint="--at")
    return parsed


class _Phiguard(click.Group):
    """The command group, with usage errors said like every other error: `phiguard: error:`."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except click.UsageError as exc:
            if exc.ctx is not None:
                click.echo(exc.ctx.get_usage(), err=True)
            click.echo(f"phiguard: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"phiguard: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort as exc:
            # Ctrl-C (click turns it into Abort) is 130 as usual; any other abort is not a
            # finding, so never exit 1.
            interrupted = isinstance(exc.__cause__, KeyboardInterrupt)
            click.echo("phiguard: interrupted" if interrupted else "phiguard: aborted", err=True)
            sys.exit(130 if interrupted else 2)
        except KeyboardInterrupt:
            click.echo("phiguard: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:
            # Commands outside `_run` (verify, rules operators) end here too.
            from phiguard.errors import PhiguardError

            argv = list(args) if args is not None else sys.argv[1:]
            if isinstance(exc, PhiguardError):
                click.echo(f"phiguard: error: {exc}", err=True)
                sys.exit(exc.exit_code)
            _fail_unexpected(exc, "--debug" in argv)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_Phiguard, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="phiguard")
def main() -> None:
    """phiguard: HIPAA Security Rule compliance scanner for Google Cloud.

    Judges a Cloud Asset Inventory snapshot against a HIPAA rule pack and shows the evidence.
    Exit codes: 0 nothing failing at or above --fail-on, 1 failing findings, 2 usage, config
    or input error.
    """


_rules_option = click.option(
    "--rules", "rules", multiple=True, type=click.Path(path_type=Path),
    help="Rule directory or rule.yaml (repeatable; default: the bundled HIPAA pack).")
_debug_option = click.option("--debug", is_flag=True, help="Show tracebacks for errors.")


@main.command()
@click.argument("snapshot", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path),
              help="phiguard.yaml: organization, PHI scope, parameters, waivers.")
@click.option("--format", "-f", "fmt", default="text", show_default=True,
              type=click.Choice(["text", "json", "html", "sarif", "junit", "markdown", "csv"]))
@click.option("--output", "-o", help="Write here instead of stdout (atomically).")
@click.option("--bundle", type=click.Path(path_type=Path),
              help="Also write an evidence bundle (report, findings, config, manifest) here.")
@click.option("--sign-key", type=click.Path(path_type=Path),
              help="Ed25519 private key (PEM) to sign the bundle's manifest with.")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default="low", show_default=True,
              help="Exit 1 when a finding at or above this severity fails ('none': never).")
@click.option("--at", "at", help="Evaluation time (RFC 3339); default: the snapshot's read time, "
              "or the time of the run when the snapshot has none (a note says so).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes for evaluation.")
@click.option("--color/--no-color", default=None, help="Colour text output (default: on a TTY).")
@_rules_option
@_debug_option
def scan(snapshot: tuple[Path, ...], config_path: Path | None, fmt: str, output: str | None,
         bundle: Path | None, sign_key: Path | None, fail_on: str, at: str | None, jobs: int,
         color: bool | None, rules: tuple[Path, ...],
         debug: bool) -> None:
    """Scan a CAI snapshot (export file(s) or a snapshot directory)."""
    when = _parse_at(at)

    def run() -> int:
        from phiguard.config import load_config
        from phiguard.report.summary import Tally
        from phiguard.scan import Scan

        _refuse_inputs([("--output", output), ("--bundle", bundle)],
                       [*snapshot, config_path, sign_key, *(rules or [_default_rules_dir()])])
        pack = _load_pack(rules)
        config = load_config(config_path)
        job = Scan(list(snapshot), pack, config, at=when, jobs=jobs)
        for note in job.notes:
            click.echo(f"phiguard: note: {note}", err=True)
        if bundle is not None or sign_key is not None or fmt not in ("text", "json"):
            from phiguard.errors import UsageError
            from phiguard.report.commands import scan_outputs

            if sign_key is not None and bundle is None:
                raise UsageError("--sign-key signs an evidence bundle: add --bundle DIR")
            return scan_outputs(job, pack, fmt=fmt, output=output, bundle=bundle,
                                sign_key=sign_key, config_path=config_path, color=color,
                                fail_on=fail_on, open_output=_output)
        tally = Tally()
        if fmt == "json":
            with _output(output) as out:
                job.write_json(out, tally)
        else:
            from phiguard.report.text import render_text

            run_info = job.run_info()
            job.tally(tally)
            with _output(output) as out:
                use_color = color if color is not None else (output in (None, "-") and
                                                             sys.stdout.isatty())
                render_text(out, run_info, tally, pack, job.waivers, color=use_color)
        if fail_on != "none" and tally.failing_at_or_above(fail_on):
            return 1
        return 0

    _run(_noting_scope(run, config_path), debug)


@main.group()
def rules() -> None:
    """List, show and test rules."""


@rules.command("list")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@_rules_option
@_debug_option
def rules_list(fmt: str, rules: tuple[Path, ...], debug: bool) -> None:
    """Every rule with its severity, HIPAA controls and asset types."""

    def run() -> int:
        import json

        pack = _load_pack(rules)
        if fmt == "json":
            items = [{"id": r.id, "title": r.title, "severity": r.severity,
                      "controls": list(r.controls), "asset_types": list(r.asset_types),
                      "scope": r.scope, "optional": r.optional,
                      "params": {k: v.get("default") for k, v in r.params.items()}}
                     for r in pack.rules]
            click.echo(json.dumps({"rule_pack_digest": f"sha256:{pack.digest}", "rules": items},
                                  indent=2))
            return 0
        for r in pack.rules:
            controls = ", ".join(c.split("/", 1)[-1] for c in r.controls)
            flag = " (optional)" if r.optional else ""
            click.echo(f"{r.id:<9} {r.severity:<8} {r.title}{flag}\n{'':18}{controls}")
        click.echo(f"\n{len(pack.rules)} rules · pack sha256:{pack.digest[:16]}")
        return 0

    _run(run, debug)


@rules.command("show")
@click.argument("rule_id")
@_rules_option
@_debug_option
def rules_show(rule_id: str, rules: tuple[Path, ...], debug: bool) -> None:
    """A rule's full text: what it checks, why, its parameters and remediation."""

    def run() -> int:
        from phiguard.errors import UsageError

        pack = _load_pack(rules)
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
        click.echo(f"\nremediation: {rule.remediation['summary']}")
        if "terraform" in rule.remediation:
            click.echo("\nterraform:\n" + rule.remediation["terraform"].rstrip())
        for ref in rule.references:
            click.echo(f"see: {ref}")
        click.echo(f"\nfile: {rule.path}")
        return 0

    _run(run, debug)


@rules.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--verbose", "-v", is_flag=True, help="List every example, not only failures.")
@_debug_option
def rules_test(paths: tuple[Path, ...], verbose: bool, debug: bool) -> None:
    """Run every rule's pass/ and fail/ examples; exit 1 if any gives another outcome."""

    def run() -> int:
        from phiguard.policy.rule import load_pack
        from phiguard.testing import check_examples

        pack = load_pack(list(paths) or [_default_rules_dir()])
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

    _run(run, debug)


@rules.command("operators")
def rules_operators() -> None:
    """The operators and let forms a rule may use (from the registry)."""
    from phiguard.policy.forms import LET_FORMS
    from phiguard.policy.operators import OPERATORS

    for name, op in OPERATORS.items():
        click.echo(f"{name:<18} {op.doc}")
    click.echo("")
    for name, (_, doc) in LET_FORMS.items():
        click.echo(f"let {name:<24} {doc}")


@rules.command("schema")
def rules_schema() -> None:
    """The JSON Schema of rule.yaml, generated from the operator registry."""
    import json

    from phiguard.policy.schema import rule_schema

    click.echo(json.dumps(rule_schema(), indent=2))




def _add_report_commands() -> None:
    from phiguard.report.commands import report_command, verify_command

    main.add_command(report_command)
    main.add_command(verify_command)


_add_report_commands()


def _add_plan_command() -> None:
    from phiguard.terraform.command import plan_command

    main.add_command(plan_command)


_add_plan_command()


def _add_collect_commands() -> None:
    from phiguard.collect.commands import audit_command, collect_command
    from phiguard.store.commands import diff_command, history_command

    for command in (collect_command, audit_command, history_command, diff_command):
        main.add_command(command)


_add_collect_commands()


def _add_fix_commands() -> None:
    from phiguard.fix.commands import fix_group

    main.add_command(fix_group)


_add_fix_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
