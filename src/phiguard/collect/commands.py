"""`phiguard collect` and `phiguard audit` (collect + scan + report + record).

cli.py registers these; the Google client libraries are imported only when a command runs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from phiguard.config import Config
    from phiguard.policy.rule import RulePack

__all__ = ["audit_command", "collect_command", "scope_parents"]


def scope_parents(org: str | None, folder: str | None, projects: tuple[str, ...]) -> list[str]:
    """The Cloud Asset parents of the chosen scope (exactly one kind of scope)."""
    from phiguard.errors import UsageError

    given = [bool(org), bool(folder), bool(projects)]
    if sum(given) != 1:
        raise UsageError("give exactly one scope: --org N, --folder N or --project ID "
                         "(repeatable)")
    for flag, value, prefix in (("--org", org, "organizations/"), ("--folder", folder, "folders/")):
        if value and not value.removeprefix(prefix).isdigit():
            raise UsageError(f"{flag} {value!r}: expected the numeric id (e.g. 123456789012), "
                             "as `gcloud organizations list` / `gcloud resource-manager "
                             "folders list` show it")
    if org:
        return [f"organizations/{org.removeprefix('organizations/')}"]
    if folder:
        return [f"folders/{folder.removeprefix('folders/')}"]
    return [f"projects/{p.removeprefix('projects/')}" for p in projects]


def asset_types_for(pack: RulePack, config: Config) -> dict[str, list[str]]:
    """Per content type, the asset types the enabled rules judge or join to; an empty list
    (every type) for the content types a rule on `*` reads."""
    from phiguard.collect.sources import CONTENT_TYPES
    from phiguard.policy.engine import Engine

    engine = Engine(pack.rules, params=config.params, enable=config.enable,
                    disable=config.disable)
    types = sorted(set(engine.subject_types()) | engine.context_types())
    needs = engine.any_type_needs()
    every = set(CONTENT_TYPES) if needs == frozenset() else set(needs or ())
    return {c: ([] if c in every else types) for c in CONTENT_TYPES}


def _scope_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--org", help="Organization id (numeric)."),
        click.option("--folder", help="Folder id (numeric)."),
        click.option("--project", "projects", multiple=True,
                     help="Project id (repeatable)."),
        click.option("--directory-customer",
                     help="Admin SDK customer (`my_customer`) for directory users and 2SV; "
                          "without it, the MFA rules report UNKNOWN."),
        click.option("--asset-type", "asset_types", multiple=True,
                     help="Collect only these asset types (repeatable; default: what the "
                          "rule pack needs)."),
        click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True,
                     help="Concurrent Cloud Asset listings (respect your quota)."),
        click.option("--export", "export_uri", metavar="gs://BUCKET/PREFIX",
                     help="For very large orgs: ExportAssets to this Cloud Storage prefix "
                          "(one export per content type, at one read time), wait for the "
                          "operations and download the shards, instead of listing."),
        click.option("--export-timeout", type=click.FloatRange(min=1), default=3600.0,
                     show_default=True,
                     help="Seconds to wait for each export operation; one that has not "
                          "finished is a coverage gap."),
    ]):
        fn = option(fn)
    return fn


def _run_collect(parents: list[str], output: Path, pack: RulePack, config: Config,
                 asset_types: tuple[str, ...], directory_customer: str | None,
                 concurrency: int, export_uri: str | None = None,
                 export_timeout: float = 3600.0) -> dict[str, Any]:
    from phiguard.collect.clients import Clients
    from phiguard.collect.collector import CollectOptions, collect
    from phiguard.collect.export import ExportPolling
    from phiguard.collect.progress import progress_for_stderr
    from phiguard.collect.sources import CONTENT_TYPES

    options = CollectOptions(parents, output,
                             asset_types=({c: list(asset_types) for c in CONTENT_TYPES}
                                          if asset_types else asset_types_for(pack, config)),
                             directory_customer=directory_customer, concurrency=concurrency,
                             export=export_uri,
                             export_polling=ExportPolling(timeout=export_timeout))
    with progress_for_stderr() as progress:  # bars on a terminal, plain lines in CI
        manifest = collect(Clients.from_env(), options, progress=progress)
    for gap in manifest["coverage_gaps"]:
        click.echo(f"phiguard: warning: coverage gap: {gap['source']} {gap['what']}: "
                   f"{gap['reason']}", err=True)
    return manifest


@click.command("collect")
@_scope_options
@click.option("--output", "-o", required=True, type=click.Path(path_type=Path),
              help="New snapshot directory (written atomically).")
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path),
              help="phiguard.yaml: enabled rules decide which asset types are collected.")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Rule directory (default: the bundled HIPAA pack).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def collect_command(org: str | None, folder: str | None, projects: tuple[str, ...],
                    directory_customer: str | None, asset_types: tuple[str, ...],
                    concurrency: int, export_uri: str | None, export_timeout: float,
                    output: Path, config_path: Path | None,
                    rules: tuple[Path, ...], debug: bool) -> None:
    """Collect a snapshot from the live organization (Application Default Credentials)."""
    from phiguard import cli

    def run() -> int:
        from phiguard.config import load_config

        parents = scope_parents(org, folder, projects)
        pack = cli._load_pack(rules)
        manifest = _run_collect(parents, output, pack, load_config(config_path), asset_types,
                                directory_customer, concurrency, export_uri, export_timeout)
        records = sum(s.get("records", 0) for s in manifest["sources"])
        click.echo(f"{output}: {records} records at {manifest['read_time']}, "
                   f"{len(manifest['coverage_gaps'])} coverage gaps")
        return 0

    cli._run(run, debug)


@click.command("audit")
@_scope_options
@click.option("--config", "-c", "config_path", type=click.Path(path_type=Path),
              help="phiguard.yaml: organization, PHI scope, parameters, waivers.")
@click.option("--store", "store_path", required=True, type=click.Path(path_type=Path),
              help="SQLite run history (created if missing).")
@click.option("--bundle", type=click.Path(path_type=Path),
              help="Write the evidence bundle (report, findings, manifest) here.")
@click.option("--output", "-o", help="Also write the HTML report here.")
@click.option("--snapshot", type=click.Path(path_type=Path),
              help="Keep the collected snapshot here (default: a temporary directory).")
@click.option("--fail-on", type=click.Choice(("critical", "high", "medium", "low", "info",
                                              "none")), default="low", show_default=True,
              help="Exit 1 when a finding at or above this severity fails.")
@click.option("--rules", "rules", multiple=True, type=click.Path(path_type=Path),
              help="Rule directory (default: the bundled HIPAA pack).")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def audit_command(org: str | None, folder: str | None, projects: tuple[str, ...],
                  directory_customer: str | None, asset_types: tuple[str, ...],
                  concurrency: int, export_uri: str | None, export_timeout: float,
                  config_path: Path | None, store_path: Path,
                  bundle: Path | None, output: str | None, snapshot: Path | None,
                  fail_on: str, rules: tuple[Path, ...], debug: bool) -> None:
    """Collect, scan, report and record one run in the history store."""
    from phiguard import cli

    def run() -> int:
        from phiguard.config import load_config
        from phiguard.report.summary import Tally
        from phiguard.scan import Scan
        from phiguard.store.db import Store
        from phiguard.store.drift import drift
        from phiguard.store.trend import trend_view

        cli._refuse_inputs([("--output", output), ("--bundle", bundle)],
                           [config_path, store_path, *(rules or [cli._default_rules_dir()])])
        parents = scope_parents(org, folder, projects)
        pack = cli._load_pack(rules)
        config = load_config(config_path)
        with Store(store_path) as store:  # open (and migrate) before the long part
            pass
        scratch = None
        target = snapshot
        if target is None:
            scratch = _scratch_dir(store_path)
            target = scratch.path / "snapshot"
        try:
            manifest = _run_collect(parents, target, pack, config, asset_types,
                                    directory_customer, concurrency, export_uri,
                                    export_timeout)
            job = Scan([target], pack, config)
            run_info = job.run_info()
            if scratch is not None:
                # The collected snapshot lives in a directory deleted after the run: name its
                # files by their place in the snapshot (their sha256 stays the evidence).
                for entry in run_info["inputs"]:
                    entry["path"] = "collected:" + str(Path(entry["path"]).relative_to(target))
            tally = Tally()
            findings = list(tally.watch(job.findings()))
            with Store(store_path) as store:  # the history this run is reported against
                trend = trend_view(store, findings)
            if bundle is not None:
                from phiguard.report.bundle import write_bundle

                findings = write_bundle(bundle, run_info, findings, pack, lambda: job.waivers,
                                        config_file=config_path, trend=trend)
            if output is not None:
                from phiguard.report.html_report import render_html

                with cli._output(output) as out:
                    render_html(out, findings, run_info, pack, job.waivers, trend=trend)
        finally:
            if scratch is not None:
                scratch.remove()
        scope = ",".join(parents)
        with Store(store_path) as store:
            run_id = store.record(run_info, findings, scope=scope,
                                  coverage_gaps=manifest["coverage_gaps"])
            change = drift(store)
        counts = store_counts(findings)
        click.echo(f"run {run_id}: {counts} · {len(change.new)} new, {len(change.resolved)} "
                   f"resolved, {len(change.persisting)} persisting failures"
                   + (f" · {len(manifest['coverage_gaps'])} coverage gaps"
                      if manifest["coverage_gaps"] else ""))
        for c in change.new:
            click.echo(f"  new  {c.severity:<8} {c.rule_id:<9} {c.asset}")
        if fail_on != "none" and tally.failing_at_or_above(fail_on):
            return 1
        return 0

    cli._run(run, debug)


class _Scratch:
    """A run's scratch directory, locked (flock) while the run lives: the lock dies with the
    process, so a killed run's directory is recognisably stale."""

    def __init__(self, path: Path, lock: IO[str]) -> None:
        self.path = path
        self._lock = lock

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()
        with suppress(OSError):  # the root goes too when no other run is using it
            self.path.parent.rmdir()


def _scratch_dir(store: Path) -> _Scratch:
    """A new scratch directory for a collected snapshot, beside the store (a predictable place:
    `.STORE.audit/run-*`), after removing those of runs that were killed (SIGKILL, power loss)."""
    import fcntl

    root = store.parent / f".{store.name}.audit"
    root.mkdir(mode=0o700, exist_ok=True)
    for old in root.glob("run-*"):
        try:
            with open(old / ".lock", "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(old, ignore_errors=True)  # lock free: its run is gone
        except BlockingIOError:
            continue  # another audit is using it
        except OSError:
            continue  # not ours to judge (no lock file can be made): leave it
    path = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    lock = open(path / ".lock", "w")  # noqa: SIM115 - held open for the run's lifetime
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return _Scratch(path, lock)


def store_counts(findings: list[Any]) -> str:
    from collections import Counter

    counts = Counter(f.outcome.value for f in findings)
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in ("FAIL", "UNKNOWN", "WAIVED", "PASS"))
