"""The audit run: collect, scan, report and record one run in the history store."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from phiguard.runs.collect import collect_snapshot, scope_parents
from phiguard.runs.common import failing, framework_of, load_pack, rule_inputs

if TYPE_CHECKING:
    from phiguard.findings import Finding
    from phiguard.policy.rule import RulePack
    from phiguard.report.summary import Tally
    from phiguard.store.drift import Drift
    from phiguard.store.gcs import GcsUrl
    from phiguard.store.remote import RemoteStore

__all__ = ["AuditResult", "outcome_counts", "run_audit"]


@dataclass
class AuditResult:
    """The recorded run: its id in the store, its findings, and the drift from the run before."""

    run_id: int
    findings: list[Finding]
    tally: Tally
    change: Drift
    manifest: dict[str, Any]
    # The rule pack the run judged with, and as the run's framework sees it (the HTML
    # report's; None: the default framework's view).
    pack: RulePack | None = None
    view: RulePack | None = None

    def failing(self, fail_on: str, framework: str | None = None, *,
                unknown: bool = False) -> bool:
        """Whether a finding fails at or above `fail_on` ('none': never) among those of the
        run's framework, or of `framework` when named: the CLI's exit code (1) for the same
        run and `--fail-on`; `unknown`: an UNKNOWN one counts too (`--fail-on-unknown`)."""
        view = self.view if self.pack is None else framework_of(self.pack, self.view,
                                                                 framework)
        return failing(self.tally, fail_on, view, unknown=unknown)


def run_audit(store: Path | str, *, org: str | None = None, folder: str | None = None,
              projects: Sequence[str] = (), rules: Sequence[Path] = (),
              config_path: Path | None = None, bundle: Path | str | None = None,
              evidence: str | None = None, sign_key: Path | None = None,
              output: str | None = None, snapshot: Path | None = None,
              asset_types: Sequence[str] = (), directory_customer: str | None = None,
              concurrency: int = 4, export_uri: str | None = None,
              export_timeout: float = 3600.0, accept_store_rollback: bool = False,
              on_gap: Callable[[dict[str, Any]], None] = lambda gap: None,
              notify: Callable[[str], None] = lambda text: None,
              framework: str = "hipaa", engine: str = "local",
              beam_args: Sequence[str] = ()) -> AuditResult:
    """Collect the scope (into `snapshot`, or a scratch directory beside the store removed
    afterwards), scan it, write the bundle and the HTML report (`output`) with the trend, and
    record the run in the store.

    `store` and `bundle` may be gs:// locations (phiguard.store.remote, phiguard.report.remote):
    the store is downloaded first and uploaded after recording with a generation precondition;
    a Cloud Storage bundle is built locally and uploaded after the store, so a run that cannot
    be recorded leaves no evidence behind. `evidence` (a directory or gs:// prefix) gets the
    bundle in a new RUN folder named by the run's time and number. The HTML reports (`output`
    and the bundle's) follow `framework`; the bundle's findings JSON and the store keep every
    finding of every framework. The scope and content warnings go to `notify` as scan's do,
    and the store keeps the run's reasons for UNKNOWN results beside its coverage gaps.

    `engine="beam"` runs the scan stage as an Apache Beam pipeline with the pipeline options
    `beam_args` (phiguard.runs.beam_stage); collection, store, bundle and report are the same."""
    from phiguard.errors import UsageError
    from phiguard.report.remote import bundle_target
    from phiguard.runs.beam_stage import check_engine

    check_engine(engine, beam_args)  # before any work: Beam installed, options usable
    if bundle is not None and evidence is not None:
        raise UsageError("--bundle and --evidence both name where the bundle goes: give one")
    if sign_key is not None and bundle is None and evidence is None:
        raise UsageError("--sign-key signs an evidence bundle: add --evidence or --bundle")
    target = bundle_target(bundle)
    if evidence is not None:
        bundle_target(evidence, "--evidence")  # a malformed location fails before any work
    remote = None
    if isinstance(store, str) and store.startswith("gs://"):
        from phiguard.store.remote import RemoteStore

        remote = RemoteStore(store)
    try:
        return _audit(remote, Path(store) if remote is None else remote.path,
                      org=org, folder=folder, projects=projects, rules=rules,
                      config_path=config_path, bundle_to=target, evidence=evidence,
                      sign_key=sign_key, output=output, snapshot=snapshot,
                      asset_types=asset_types, directory_customer=directory_customer,
                      concurrency=concurrency, export_uri=export_uri,
                      export_timeout=export_timeout,
                      accept_store_rollback=accept_store_rollback, on_gap=on_gap,
                      notify=notify, framework=framework, engine=engine,
                      beam_args=beam_args)
    finally:
        if remote is not None:
            remote.close()


def _audit(remote: RemoteStore | None, store_path: Path, *, org: str | None,
           folder: str | None, projects: Sequence[str], rules: Sequence[Path],
           config_path: Path | None, bundle_to: GcsUrl | Path | None, evidence: str | None,
           sign_key: Path | None, output: str | None, snapshot: Path | None,
           asset_types: Sequence[str], directory_customer: str | None, concurrency: int,
           export_uri: str | None, export_timeout: float, accept_store_rollback: bool,
           on_gap: Callable[[dict[str, Any]], None],
           notify: Callable[[str], None], framework: str = "hipaa", engine: str = "local",
           beam_args: Sequence[str] = ()) -> AuditResult:
    from phiguard._util.outputs import atomic_output, check_outputs
    from phiguard.config import load_config
    from phiguard.errors import StoreError
    from phiguard.report.summary import Tally
    from phiguard.runs.scan import note_run_coverage, note_types_missing
    from phiguard.scan import Scan
    from phiguard.store.db import Store
    from phiguard.store.drift import drift
    from phiguard.store.gcs import GcsUrl
    from phiguard.store.trend import trend_view

    local_bundle = bundle_to if isinstance(bundle_to, Path) else None
    check_outputs([("--output", output), ("--bundle", local_bundle)],
                  [config_path, store_path if remote is None else None, sign_key,
                   *rule_inputs(rules)])
    parents = scope_parents(org, folder, projects)
    pack = load_pack(rules)
    view = pack.for_framework(framework)  # an unknown framework fails before collecting
    config = load_config(config_path)
    if sign_key is not None:
        from phiguard.report.bundle import load_private_key

        load_private_key(sign_key)  # a bad key fails now, not after the run is recorded
    if isinstance(bundle_to, GcsUrl):
        from phiguard.report.remote import check_free
        from phiguard.store.gcs import Gcs, GcsError

        with Gcs() as gcs:
            try:
                check_free(gcs, bundle_to)
            except GcsError as exc:
                raise StoreError(f"--bundle {bundle_to}: cannot read: {exc}") from None
    if remote is not None:
        remote.download()
        for warning in remote.warnings:
            notify(warning)
        if remote.rollback is not None:
            if not accept_store_rollback:
                raise StoreError(remote.rollback.message(remote.url))
            back = remote.rollback
            notify(f"--accept-store-rollback: continuing from an older copy of {remote.url} "
                   f"(its runs end at {back.store_run}; run {back.recorded} was recorded "
                   f"before): the next run is numbered {back.recorded + 1}")
            remote.accept_rollback()
    with Store(store_path) as store:  # open (and migrate) before the long part
        pass
    scratch = None
    target = snapshot
    if target is None:
        scratch = _scratch_dir(store_path)
        target = scratch.path / "snapshot"
    try:
        manifest = collect_snapshot(parents, target, pack, config, asset_types=asset_types,
                                    directory_customer=directory_customer,
                                    concurrency=concurrency, export_uri=export_uri,
                                    export_timeout=export_timeout, on_gap=on_gap)
        job: Any
        root = str(target)
        if engine == "beam":
            from phiguard.beam.audit import beam_job

            job, root = beam_job(target, pack, config, beam_args, notify)
        else:
            job = Scan([target], pack, config)
        for note in job.notes:  # the scope and content warnings, as scan says them
            notify(note)
        note_run_coverage(job, notify)
        run_info = job.run_info()
        if scratch is not None:
            from phiguard.runs.beam_stage import collected_path

            # The collected snapshot lives in a directory deleted after the run: name its
            # files by their place in the snapshot (their sha256 stays the evidence).
            for entry in run_info["inputs"]:
                entry["path"] = collected_path(entry["path"], root)
        tally = Tally()
        findings = list(tally.watch(job.findings()))
        note_types_missing(job, tally, notify)
        with Store(store_path) as store:  # the history this run is reported against
            # the trend counts the rules of the report's framework, as the report does
            # a failure with no result in this run is resolved only if this run could have
            # judged it (its input lacked nothing, its scope is the last run's)
            trend = trend_view(store, findings, rules={r.id for r in view.rules},
                               run=run_info, scope=",".join(parents))
        if local_bundle is not None:
            from phiguard.report.bundle import write_bundle

            findings = write_bundle(local_bundle, run_info, findings, view,
                                    lambda: job.waivers, config_file=config_path,
                                    sign_key=sign_key, trend=trend)
        if output is not None:
            from phiguard.report.html_report import render_html

            with atomic_output(output) as out:
                render_html(out, findings, run_info, view, job.waivers, trend=trend)
    finally:
        if scratch is not None:
            scratch.remove()
    with Store(store_path) as store:
        run_id = store.record(run_info, findings, scope=",".join(parents),
                              coverage_gaps=manifest["coverage_gaps"])
        change = drift(store)
    if remote is not None:
        remote.upload(run_id, on_warning=notify)
    place: GcsUrl | Path | None = bundle_to if isinstance(bundle_to, GcsUrl) else None
    if evidence is not None:
        from datetime import datetime

        from phiguard.report.remote import evidence_location

        place = evidence_location(evidence, datetime.now(UTC), run_id)
    if place is not None:
        from phiguard.errors import OutputError, UsageError
        from phiguard.report.remote import write_bundle_to

        try:
            write_bundle_to(place, run_info, findings, view, lambda: job.waivers,
                            config_file=config_path, sign_key=sign_key, trend=trend)
        except (OutputError, UsageError) as exc:
            # The run is in the store already: say so, and where its evidence is missing.
            raise type(exc)(f"run {run_id} is recorded in the store, but its evidence bundle "
                            f"was not completed: {exc}") from None
        notify(f"evidence bundle written to {place}")
    return AuditResult(run_id, findings, tally, change, manifest, pack, view)


def outcome_counts(findings: list[Any]) -> str:
    """`N FAIL, N UNKNOWN, N WAIVED, N PASS`."""
    from collections import Counter

    counts = Counter(f.outcome.value for f in findings)
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in ("FAIL", "UNKNOWN", "WAIVED", "PASS"))


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
