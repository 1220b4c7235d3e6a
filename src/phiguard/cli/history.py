"""`phiguard history` and `phiguard diff`: the SQLite run store that `audit` records into."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import click

from phiguard.cli._errors import run
from phiguard.cli._options import debug_option, rules_option, single_format_option

__all__ = ["diff_command", "history_command"]


def _existing(path: Path) -> Path:
    from phiguard.errors import StoreError

    if path.is_dir():
        raise StoreError(f"{path}: is a directory; --store takes the SQLite file "
                         "`phiguard audit --store` writes")
    if not path.is_file():
        raise StoreError(f"{path}: no such store (phiguard audit --store creates one)")
    if path.stat().st_size == 0:
        # Reading must not turn an empty file into a store.
        raise StoreError(f"{path}: empty file, not a phiguard store (phiguard audit --store "
                         "creates one)")
    return path


_framework_option = click.option(
    "--framework", metavar="CATALOG",
    help="Count only the rules this control catalog's reports show (hipaa, cis-gcp-5.0, or "
         "one given with --rules), as `audit --framework` does; default: every rule recorded.")


def _rules_of(rules: tuple[Path, ...], framework: str | None) -> frozenset[str] | None:
    """The rule ids the framework's reports show; None without --framework (every rule),
    or when the pack has no catalog of that name and keeps every rule (a pack of one's own)."""
    if framework is None:
        if rules:
            from phiguard.errors import UsageError

            raise UsageError("--rules names the pack --framework is read from: add --framework")
        return None
    from phiguard.cli._gate import framework_view

    view = framework_view(rules, framework)
    return None if view.framework is None else frozenset(view.by_id())


@contextmanager
def _reading(value: str) -> Iterator[Path]:
    """The store to read: a local file, or a downloaded copy of a gs:// store (a copy older
    than the runs already recorded is read, with a warning)."""
    if not value.startswith("gs://"):
        yield _existing(Path(value))
        return
    from phiguard.errors import StoreError
    from phiguard.store.remote import RemoteStore

    with RemoteStore(value) as remote:
        remote.download()
        if remote.generation == 0:
            raise StoreError(f"{value}: no such store (phiguard audit --store creates one)")
        if remote.rollback is not None:
            click.echo(f"phiguard: warning: {remote.rollback.message(remote.url)}", err=True)
        yield remote.path


@click.command("history")
@click.option("--store", "store_path", required=True, metavar="FILE|gs://BUCKET/OBJECT",
              help="The run history `audit --store` writes (a gs:// store is downloaded).")
@click.option("--limit", type=click.IntRange(1), default=30, show_default=True)
@_framework_option
@rules_option("Rule directory or catalog the --framework is read from (default: the bundled "
              "pack).")
@single_format_option(("text", "json"))
@debug_option
def history_command(store_path: str, limit: int, framework: str | None,
                    rules: tuple[Path, ...], fmt: str, debug: bool) -> None:
    """Recorded runs with their counts, the failure trend and mean time to remediate."""

    def body() -> int:
        from phiguard.report._common import run_reasons
        from phiguard.report.text import printable
        from phiguard.store.db import Store
        from phiguard.store.drift import failures_not_judged, mean_time_to_remediate

        seen = _rules_of(rules, framework)
        with _reading(store_path) as path, Store.for_reading(path) as store:
            runs = store.runs(limit)
            if seen is not None:
                counts = store.counts_by_run([r.id for r in runs], seen)
                runs = [replace(r, counts=counts[r.id]) for r in runs]
            mttr = mean_time_to_remediate(store, seen)
            # failures of the run before that a run did not judge: not in its FAIL count,
            # not fixed either
            unjudged = failures_not_judged(store, runs, seen)
        if fmt == "json":
            click.echo(json.dumps({**({"framework": framework} if framework else {}),
                                   "runs": [{**asdict(r), "failures_not_judged": unjudged[r.id]}
                                            for r in runs],
                                   "mean_days_to_remediate": mttr}, indent=2))
            return 0
        previous: int | None = None
        click.echo(f"{'run':>4}  {'snapshot':<20}  {'FAIL':>5} {'Δ':>4} {'UNKN':>5} "
                   f"{'WAIV':>5} {'PASS':>6}  gaps  scope")
        for r in runs:
            fails = r.counts.get("FAIL", 0)
            delta = "" if previous is None else f"{fails - previous:+d}"
            click.echo(f"{r.id:>4}  {(r.snapshot_time or r.recorded_at):<20}  {fails:>5} "
                       f"{delta:>4} {r.counts.get('UNKNOWN', 0):>5} "
                       f"{r.counts.get('WAIVED', 0):>5} {r.counts.get('PASS', 0):>6}  "
                       f"{len(r.coverage_gaps):>4}  {printable(r.scope)}")
            if unjudged[r.id]:
                click.echo(f"      {unjudged[r.id]} failures of the run before not judged here "
                           "(UNKNOWN, or no result where it could not judge them): not "
                           "resolved, not in FAIL")
            for reason in run_reasons(r.warnings):  # what the run's input lacked
                click.echo(f"      why UNKNOWN: {reason.title}: {printable(reason.text)}")
            previous = fails
        if mttr:
            click.echo("mean days to remediate: " +
                       ", ".join(f"{area} {days}" for area, days in mttr.items()))
        return 0

    run(body, debug)


@click.command("diff")
@click.option("--store", "store_path", required=True, metavar="FILE|gs://BUCKET/OBJECT",
              help="The run history `audit --store` writes (a gs:// store is downloaded).")
@click.argument("run_a", type=int, required=False)
@click.argument("run_b", type=int, required=False)
@_framework_option
@rules_option("Rule directory or catalog the --framework is read from (default: the bundled "
              "pack).")
@single_format_option(("text", "json"))
@debug_option
def diff_command(store_path: str, run_a: int | None, run_b: int | None, framework: str | None,
                 rules: tuple[Path, ...], fmt: str, debug: bool) -> None:
    """New, resolved and persisting failures between two runs (default: the last two)."""

    def body() -> int:
        from phiguard.report._common import run_reasons
        from phiguard.report.text import printable
        from phiguard.store.db import Store
        from phiguard.store.drift import drift, warnings_change

        seen = _rules_of(rules, framework)
        with _reading(store_path) as path, Store.for_reading(path) as store:
            change = drift(store, run_a, run_b)
        if seen is not None:
            for name in ("new", "resolved", "persisting", "unknown", "was_unknown"):
                setattr(change, name, [c for c in getattr(change, name) if c.rule_id in seen])
        # Why results are UNKNOWN: what one run's input lacked and the other's did not
        lacks, regained = warnings_change(change.before, change.after)
        if fmt == "json":
            click.echo(json.dumps({
                "before": change.before.id if change.before else None,
                "after": change.after.id,
                "new": [asdict(c) for c in change.new],
                "resolved": [asdict(c) for c in change.resolved],
                "persisting": [asdict(c) for c in change.persisting],
                "unknown": [asdict(c) for c in change.unknown],
                "was_unknown": [asdict(c) for c in change.was_unknown],
                "warnings": {"new": lacks, "gone": regained}}, indent=2))
            return 0
        before = f"run {change.before.id}" if change.before else "nothing"
        click.echo(f"run {change.after.id} against {before}: {len(change.new)} new, "
                   f"{len(change.resolved)} resolved, {len(change.persisting)} persisting"
                   + (f", {len(change.unknown)} now UNKNOWN" if change.unknown else "")
                   + (f", {len(change.was_unknown)} now failing (was UNKNOWN)"
                      if change.was_unknown else ""))
        since = f", not in run {change.before.id}" if change.before else ""
        for reason in run_reasons(lacks):
            click.echo(f"  why UNKNOWN{since}: {reason.title}: {printable(reason.text)}")
        if change.before is not None:
            for reason in run_reasons(regained):
                click.echo(f"  why UNKNOWN in run {change.before.id}, no longer: "
                           f"{reason.title}: {printable(reason.text)}")
        # unknown: failing before, UNKNOWN now or no result in a run that could not have
        # judged it (not known to be resolved); now FAIL: UNKNOWN
        # before, failing now (there unjudged, not known to be new)
        for label, items in (("new", change.new), ("now FAIL", change.was_unknown),
                             ("resolved", change.resolved),
                             ("persisting", change.persisting), ("unknown", change.unknown)):
            for c in items:
                since = f", was UNKNOWN since {c.unknown_since}" if c.unknown_since else ""
                note = f" ({printable(c.note)})" if c.note else ""
                click.echo(f"  {label:<10} {c.severity:<8} {c.rule_id:<9} first seen "
                           f"{c.first_seen} ({c.age_days} d){since}  {printable(c.asset)}"
                           f"{note}")
        return 0

    run(body, debug)
