"""BeamScan: a scan run as a Beam pipeline, with the interface of `phiguard.scan.Scan`.

The driver (this process) finds the input files, reads the small ones (manifest, directory
users), runs the pipeline, raises the first bad input exactly as the local engine would, and
assembles the sharded findings in order. See phiguard.beam for the interface.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson

from phiguard import __version__
from phiguard._util.times import format_time, parse_time
from phiguard.beam.files import (
    Inputs,
    cleanup,
    find_inputs,
    is_remote,
    local_copy,
    sha256_of,
)
from phiguard.config import Config
from phiguard.errors import InputError, UsageError
from phiguard.findings import Finding
from phiguard.inventory.asset import Asset, Source
from phiguard.inventory.coverage import (
    coverage_from_manifest,
    run_coverage,
    run_types_missing,
    types_from_manifest,
)
from phiguard.inventory.readers import read_users
from phiguard.inventory.snapshot import check_unique_users
from phiguard.inventory.types import HIERARCHY_TYPES, SOURCE_DEPENDENT_TYPES
from phiguard.policy.engine import Engine
from phiguard.policy.rule import RulePack
from phiguard.policy.waivers import WaiverBook
from phiguard.report.json_report import write_footer, write_header
from phiguard.report.summary import Tally

__all__ = ["BeamScan"]

# Classes of the pipeline's first error that the local engine meets before reading the
# directory users (see phiguard.beam.pipeline).
_BEFORE_USERS = 2


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _users(inputs: Inputs) -> list[Asset]:
    users: list[Asset] = []
    for name in inputs.user_files:
        with local_copy(name) as (copy, _):
            try:
                found = read_users(copy)
            except InputError as exc:
                if exc.file == str(copy):
                    exc.file = name
                    exc.args = (str(exc),)
                raise
        if is_remote(name):
            found = [replace(u, source=Source(name, u.source.line)) if u.source else u
                     for u in found]
        users.extend(found)
    check_unique_users(users)
    return users


def _work_dir(pipeline_args: Sequence[str]) -> str:
    from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

    temp = PipelineOptions(list(pipeline_args)).view_as(GoogleCloudOptions).temp_location
    if temp:
        return f"{temp.rstrip('/')}/phiguard-{uuid.uuid4().hex}"
    return tempfile.mkdtemp(prefix="phiguard-beam-")


class BeamScan:
    """One evaluation of a snapshot on Beam: `findings()`, `write_json()` or `tally()` read
    the assembled shards (as often as asked); then read `waivers`."""

    def __init__(self, paths: Sequence[str | Path], pack: RulePack, config: Config, *,
                 at: datetime | None = None, pipeline_args: Sequence[str] = (),
                 clock: Callable[[], datetime] | None = None) -> None:
        from phiguard.beam.options import check_engine, remote_runner

        check_engine("beam", pipeline_args)  # Beam installed; a remote runner has gs:// temp
        runner = remote_runner(pipeline_args)
        local = [str(p) for p in paths if not is_remote(str(p))]
        if runner is not None and local:
            raise UsageError(f"--runner {runner}: its workers cannot read {local[0]} on this "
                             "machine: scan the snapshot where they can read it (gs://BUCKET/"
                             "PREFIX, e.g. what collect --export gs://... writes)")
        from phiguard.beam import pipeline
        from phiguard.beam.joins import plan_joins

        config.check_against(pack)
        self.pack = pack
        self.config = config
        self.engine = Engine(pack.rules, params=config.params, enable=config.enable,
                             disable=config.disable)
        names = [str(p) for p in paths]
        self.files = find_inputs(names)
        users_error: InputError | None = None
        try:
            users = _users(self.files)
        except InputError as exc:
            users, users_error = [], exc
        manifest = self.files.manifest
        raw_time = (manifest or {}).get("read_time", (manifest or {}).get("readTime"))
        manifest_time = parse_time(raw_time) if raw_time else None
        content, gaps = coverage_from_manifest(manifest)
        fallback = (clock or _utc_now)()
        self.work = _work_dir(pipeline_args)
        spec = pipeline.Spec(
            files=self.files.asset_files,
            wanted=frozenset(self.engine.context_types()) | HIERARCHY_TYPES,
            fields=dict(self.engine.context_fields()),
            reach_only=frozenset(self.engine.reach_only_types()),
            keys=plan_joins((cr.rule for cr in self.engine.rules), self.engine.context_types(),
                            self.engine.reach_only_types()),
            types=self.engine.subject_types(), needs=self.engine.any_type_needs(),
            engine=self.engine, users=users, phi=config.phi,
            missing=[t for t in SOURCE_DEPENDENT_TYPES if not users],
            content=content, gaps=gaps, asset_types=types_from_manifest(manifest),
            waivers=config.waivers, at=at,
            manifest_time=manifest_time, fallback_now=fallback,
            organization=config.organization, work=self.work)
        try:
            self._run(spec, pipeline_args)
            gathered = pipeline.load(f"{self.work}/{pipeline.ERRORS}")
            meta: pipeline.Meta = pipeline.load(f"{self.work}/{pipeline.META}")
            matched = pipeline.load(f"{self.work}/{pipeline.WAIVERS}")
            # Never a partial result: every element that crossed a stage boundary arrived,
            # and (when the run judged) every judged line is in the shards.
            self.lines = pipeline.check_run(self._result, spec, meta, gathered, matched)
            error = gathered[0]
            if error is not None and error.key[0] <= _BEFORE_USERS:
                raise error.error()
            if users_error is not None:
                raise users_error
            self.records = sum(m.records for m in meta.files)
            if self.records == 0 and not users:
                raise UsageError(f"{', '.join(names)}: the snapshot holds no records (an empty "
                                 "export judges nothing; check the export or collection)")
            if error is not None:
                raise error.error()
        except BaseException:
            cleanup(self.work)
            raise
        # The findings shards stay readable (every format reads them; a second JSON output
        # reads them again) until the scan is closed, collected, or the process exits.
        self._finalizer = weakref.finalize(self, cleanup, self.work)
        self.meta = meta
        report = os.environ.get("PHIGUARD_BEAM_SIZES")
        if report:  # for benchmarks: what was broadcast and grouped (docs/scale.md)
            Path(report).write_text(json.dumps(pipeline.sizes(self._result, meta)) + "\n",
                                    encoding="utf-8")
        self.users = users
        self.inputs = self._inputs()  # now: a caller may remove staged inputs after the run
        self.counts: Counter[str] = Counter(meta.counts)
        self.counts.update(u.asset_type for u in users)
        self.read_time = manifest_time or meta.latest
        self.notes = [f"skipped {path}: {why}" for path, why in self.files.skipped]
        self.scope_warnings = meta.scope_warnings
        self.notes += [f"warning: {w}" for w in self.scope_warnings]
        self.content_missing = meta.content_missing
        self.notes += [f"warning: {w}" for w in self.content_missing]
        self.asset_types_missing = run_types_missing(
            (cr.rule for cr in self.engine.rules), manifest, meta.counts)
        # the types rules judge that the snapshot does not know to be collected, and pre-v1
        # type names no rule judges: from the manifest and the counts, as the local engine
        self.run_coverage = run_coverage((cr.rule for cr in self.engine.rules), manifest,
                                         self.counts)
        assert meta.now is not None
        self.now = meta.now
        if at is None and self.read_time is None:
            self.notes.append(
                "the snapshot carries no read time (no manifest read_time, no update_time on "
                f"any record): judged as of now, {format_time(self.now)}; time-dependent rules "
                "(key age, waiver expiry) count from then. Pass --at TIME to judge it as of "
                "another time")
        self.book = WaiverBook(config.waivers, self.now)
        for i, count in matched:
            self.book.matched[i] += count

    def _run(self, spec: Any, pipeline_args: Sequence[str]) -> None:
        import apache_beam as beam
        from apache_beam.options.pipeline_options import PipelineOptions

        from phiguard.beam import pipeline
        from phiguard.beam.options import local_runner

        options = PipelineOptions(list(pipeline_args))
        p = beam.Pipeline(runner=local_runner(pipeline_args), options=options)
        pipeline.build(p, spec)
        result = p.run()
        result.wait_until_finish()
        self._result = result

    def _inputs(self) -> list[dict[str, str]]:
        shas = {self.files.asset_files[m.number]: m.sha256 for m in self.meta.files}
        names = [*self.files.asset_files, *self.files.user_files,
                 *([self.files.manifest_file] if self.files.manifest_file else [])]
        out = []
        for name in sorted(set(names), key=_path_key):
            sha = shas.get(name)
            if sha is None:
                with local_copy(name) as (copy, digest):
                    sha = digest or sha256_of(copy)
            out.append({"path": name, "sha256": sha})
        return out

    def run_info(self) -> dict[str, Any]:
        """The `run` block of findings JSON, as the local engine writes it."""
        manifest = self.files.manifest or {}
        return {
            "tool": "phiguard",
            "tool_version": __version__,
            "rule_pack_digest": f"sha256:{self.pack.digest}",
            "rules_evaluated": [cr.rule.id for cr in self.engine.rules],
            "snapshot_time": format_time(self.read_time) if self.read_time else None,
            "evaluated_at": format_time(self.now),
            "inputs": self.inputs,
            "asset_counts": dict(sorted(self.counts.items())),
            "records": self.records,
            "config": self.config.to_json(),
            **({"scope_warnings": self.scope_warnings} if self.scope_warnings else {}),
            **({"content_missing": self.content_missing} if self.content_missing else {}),
            **({"asset_types_missing": self.asset_types_missing}
               if self.asset_types_missing else {}),
            **self.run_coverage,
            **({"coverage_gaps": gaps} if (gaps := manifest.get("coverage_gaps")) else {}),
        }

    def _lines(self) -> Iterator[str]:
        from phiguard.beam.pipeline import shard_lines

        yield from shard_lines(self.work)

    def close(self) -> None:
        """Remove the run's work files (also done when the scan is garbage collected or the
        process exits)."""
        self._finalizer()

    def findings(self) -> Iterator[Finding]:
        """Every finding, waivers applied, in the local engine's order."""
        for line in self._lines():
            yield Finding.from_json(orjson.loads(line))

    def write_json(self, out: IO[str], tally: Tally) -> None:
        """The findings document (JSON v1), byte for byte the local engine's."""
        write_header(out, self.run_info())
        first = True
        for line in self._lines():
            tally.add(Finding.from_json(orjson.loads(line)))
            out.write(("\n" if first else ",\n") + line)
            first = False
        write_footer(out, tally, self.waivers)

    def tally(self, tally: Tally) -> None:
        for finding in self.findings():
            tally.add(finding)

    @property
    def waivers(self) -> list[dict[str, Any]]:
        return self.book.report()


def _path_key(name: str) -> tuple[str, Any]:
    if is_remote(name):
        scheme, _, rest = name.partition("://")
        return scheme, PurePosixPath(rest)
    return "", Path(name)
