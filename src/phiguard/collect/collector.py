"""Collect a snapshot directory from the live APIs, atomically.

Everything is written into a hidden sibling directory (`.NAME.partial-XXXX`) and renamed into
place only after `manifest.json`, the last file, is complete; an interrupted run leaves no
directory under the requested name, and a killed one leaves only the hidden partial directory,
which has no manifest. Failed sources do not stop the run: each is a coverage gap in the
manifest, which the scan and the report show.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from phiguard import __version__
from phiguard._util.hashing import sha256_file
from phiguard.collect.clients import Clients
from phiguard.collect.export import (
    ExportError,
    ExportPolling,
    export_prefix,
    parse_gcs_uri,
    run_export,
)
from phiguard.collect.progress import Progress
from phiguard.collect.retry import RetryPolicy, status_of
from phiguard.collect.sources import CONTENT_TYPES, list_asset_pages, list_hierarchy, list_users
from phiguard.errors import CollectError
from phiguard.google import is_cai_asset_type

__all__ = ["MANIFEST_FORMAT", "USERS_FILE", "CollectOptions", "collect"]

MANIFEST_FORMAT = "phiguard-snapshot/1"
USERS_FILE = "directory-users.json"
Log = Callable[[str], None]


@dataclass
class CollectOptions:
    """What to collect and how hard to push the APIs."""

    parents: list[str]  # organizations/N, folders/N or projects/ID
    output: Path
    # content type -> asset types to list; a missing or empty entry lists every type
    asset_types: dict[str, list[str]] = field(default_factory=dict)
    content_types: tuple[str, ...] = CONTENT_TYPES
    directory_customer: str | None = None
    concurrency: int = 4
    page_size: int = 500
    timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # gs://BUCKET/PREFIX: ExportAssets there and download the shards instead of listing
    export: str | None = None
    export_polling: ExportPolling = field(default_factory=ExportPolling)


@dataclass
class _Shard:
    parent: str
    content_type: str
    file: str
    records: int = 0
    pages: int = 0
    retries: int = 0
    types: Counter[str] = field(default_factory=Counter)
    error: dict[str, Any] | None = None
    operation: dict[str, Any] | None = None


def _slug(parent: str) -> str:
    return parent.replace("/", "-")


def _shard_name(content_type: str, parent: str, single: bool) -> str:
    base = content_type.lower()
    return f"{base}.ndjson" if single else f"{base}-{_slug(parent)}.ndjson"


def _describe(exc: BaseException) -> dict[str, Any]:
    status = status_of(exc)
    if isinstance(exc, ExportError):
        return {"error": type(exc).__name__, "status": None, "reason": exc.reason,
                "message": str(exc)[:500]}
    reason = {403: "permission denied", 429: "quota exhausted after retries",
              503: "service unavailable after retries", 404: "not found"}.get(status or 0)
    return {"error": type(exc).__name__, "status": status,
            "reason": reason or "request failed", "message": str(exc)[:500]}


def _time_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")
    return str(value)



def cai_request(options: CollectOptions) -> tuple[CollectOptions, list[str]]:
    """The options with only asset types Cloud Asset Inventory defines, and the types left
    out. Cloud Asset answers INVALID_ARGUMENT for a type it does not define (the whole listing
    fails), so phiguard's own directory-user type (the Admin SDK gives those) and any other
    type outside the CAI list are never sent; a content type whose every requested type is
    left out is not requested at all (an empty list would mean every type)."""
    kept: dict[str, list[str]] = {}
    dropped: set[str] = set()
    content_types = []
    for content in options.content_types:
        wanted = options.asset_types.get(content) or []
        real = [t for t in wanted if is_cai_asset_type(t)]
        dropped.update(t for t in wanted if t not in real)
        if wanted and not real:
            continue
        kept[content] = real
        content_types.append(content)
    return (replace(options, asset_types=kept, content_types=tuple(content_types)),
            sorted(dropped))


def _prepare_output(output: Path) -> Path:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise CollectError(f"--output {output}: already exists and is not an empty directory; "
                           "choose a new directory (snapshots are never overwritten)")
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise CollectError(f"--output {output}: directory {parent} does not exist")
    return Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=parent))


class _Run:
    def __init__(self, clients: Clients, options: CollectOptions, tmp: Path, log: Log,
                 progress: Progress) -> None:
        self.clients = clients
        self.options = options
        self.tmp = tmp
        self.log = log
        self.progress = progress
        self.run_id = datetime.now(UTC).strftime("phiguard-%Y%m%dT%H%M%S%fZ")
        self.read_time: Any = None
        self.lock = threading.Lock()
        self.gaps: list[dict[str, Any]] = []

    def gap(self, source: str, what: str, exc: BaseException, consequence: str) -> None:
        entry = {"source": source, "what": what, **_describe(exc), "consequence": consequence}
        with self.lock:
            self.gaps.append(entry)
        self.log(f"coverage gap: {source} {what}: {entry['reason']} ({entry['error']})")

    def _retried(self, shard: _Shard) -> Callable[[int, BaseException], None]:
        def on_retry(attempt: int, exc: BaseException) -> None:
            shard.retries += 1
            self.log(f"retry {attempt} of {shard.content_type} {shard.parent}: "
                     f"{type(exc).__name__}")
        return on_retry

    def _pages(self, client: Any, storage: Any, shard: _Shard, task: Any
               ) -> Iterator[tuple[list[dict[str, Any]], Any]]:
        opts = self.options
        types = opts.asset_types.get(shard.content_type, [])
        if opts.export is None:
            return list_asset_pages(client, shard.parent, shard.content_type, types,
                                    self.read_time, page_size=opts.page_size,
                                    policy=opts.retry, timeout=opts.timeout,
                                    on_retry=self._retried(shard))
        bucket, base = parse_gcs_uri(opts.export)
        prefix = export_prefix(base, self.run_id, shard.parent, shard.content_type)
        shard.operation = {"uri_prefix": f"gs://{bucket}/{prefix}"}
        what = f"{shard.content_type} {shard.parent}"

        def on_poll(polls: int) -> None:
            self.progress.update(task, description=f"{what}: export running ({polls} polls)")

        def on_objects(count: int) -> None:
            shard.operation = {**(shard.operation or {}), "objects": count}
            self.progress.update(task, description=f"{what}: downloading {count} shards")
            self.log(f"{what}: export done, downloading {count} shards")

        return run_export(client, storage, parent=shard.parent,
                          content_type=shard.content_type, asset_types=types,
                          read_time=self.read_time, bucket=bucket, prefix=prefix,
                          scratch=self.tmp, polling=opts.export_polling, policy=opts.retry,
                          timeout=opts.timeout, on_retry=self._retried(shard),
                          on_poll=on_poll, on_objects=on_objects)

    def list_shard(self, client: Any, shard: _Shard) -> _Shard:
        """One content type under one parent into its shard (listed, or exported and
        downloaded); a failure is a gap, and the partial shard is removed so nothing
        half-collected is scanned."""
        path = self.tmp / shard.file
        task = self.progress.task(f"{shard.content_type} {shard.parent}")
        # one storage client per export: googleapiclient's HTTP is not thread-safe
        storage = self.clients.storage() if self.options.export else None
        try:
            with path.open("w", encoding="utf-8") as out:
                for records, read_time in self._pages(client, storage, shard, task):
                    self._write(out, records, shard)
                    self.progress.update(task, advance=len(records))
                    shard.pages += 1
                    with self.lock:
                        if self.read_time is None and read_time is not None:
                            self.read_time = read_time
                out.flush()
                os.fsync(out.fileno())
        except Exception as exc:
            path.unlink(missing_ok=True)
            shard.error = _describe(exc)
            self.progress.finish(task, f"{shard.content_type} {shard.parent}: failed")
            self.gap("cloudasset", f"{shard.content_type} under {shard.parent}", exc,
                     f"no {shard.content_type} content for {shard.parent}: rules that need it "
                     "cannot see those assets")
            return shard
        finally:
            if storage is not None:
                storage.close()
        self.progress.finish(task)
        unit = "shards" if self.options.export else "pages"
        self.log(f"{shard.content_type} {shard.parent}: {shard.records} records in "
                 f"{shard.pages} {unit}")
        return shard

    @staticmethod
    def _write(out: IO[str], records: list[dict[str, Any]], shard: _Shard) -> None:
        for record in records:
            out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
            shard.types[record.get("asset_type", "")] += 1
        shard.records += len(records)

    def assets(self) -> list[_Shard]:
        opts = self.options
        single = len(opts.parents) == 1
        shards = [_Shard(p, c, _shard_name(c, p, single))
                  for p in opts.parents for c in opts.content_types]
        client = self.clients.asset()
        done: list[_Shard] = []
        pending = list(shards)
        try:
            # Until the API has told us its read time, list serially; then every other
            # listing asks for that same time, concurrently.
            while pending and self.read_time is None:
                done.append(self.list_shard(client, pending.pop(0)))
            with ThreadPoolExecutor(max_workers=max(1, opts.concurrency)) as pool:
                futures: list[Future[_Shard]] = [pool.submit(self.list_shard, client, s)
                                                 for s in pending]
                done.extend(f.result() for f in futures)
        finally:
            client.transport.close()
        return sorted(done, key=shards.index)

    def hierarchy(self) -> dict[str, Any] | None:
        opts = self.options
        folders, projects = self.clients.folders(), self.clients.projects()
        try:
            tree = list_hierarchy(folders, projects, opts.parents, policy=opts.retry,
                                  timeout=opts.timeout)
        except Exception as exc:
            self.gap("resourcemanager", "folders and projects", exc,
                     "scope and ancestry come from Cloud Asset records only")
            return None
        finally:
            folders.transport.close()
            projects.transport.close()
        self.log(f"resource manager: {len(tree['folders'])} folders, "
                 f"{len(tree['projects'])} projects")
        return tree

    def users(self) -> dict[str, Any] | None:
        customer = self.options.directory_customer
        if customer is None:
            return {"source": "directory", "status": "not requested (no --directory-customer)",
                    "records": 0}
        directory = self.clients.directory()
        try:
            users = list_users(directory, customer, policy=self.options.retry)
        except Exception as exc:
            self.gap("directory", f"users of customer {customer}", exc,
                     "rules on directory users (2-Step Verification) report UNKNOWN")
            return None
        finally:
            directory.close()
        path = self.tmp / USERS_FILE
        doc = {"kind": "admin#directory#users", "users": users}
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        self.log(f"directory: {len(users)} users")
        return {"file": USERS_FILE, "content_type": "DIRECTORY_USERS", "records": len(users),
                "customer": customer, "sha256": sha256_file(path)}


def collect(clients: Clients, options: CollectOptions, log: Log | None = None,
            progress: Progress | None = None) -> dict[str, Any]:
    """Collect into `options.output` (which must be new or empty); return the manifest.
    `log` gets one line per event; `progress` (default: none) shows bars."""
    if not options.parents:
        raise CollectError("nothing to collect: give --org, --folder or --project")
    if options.export is not None:
        parse_gcs_uri(options.export)  # a bad URI is a usage error before any work
    progress = progress or Progress(log)
    log = log or progress.log
    options, not_cai = cai_request(options)
    if not options.content_types:
        raise CollectError("nothing to request from Cloud Asset: "
                           + ", ".join(not_cai) + " is not a Cloud Asset Inventory asset type "
                           "(see docs/google-definitions.md)")
    if not_cai:
        log("not requested from Cloud Asset (not Cloud Asset Inventory asset types): "
            + ", ".join(not_cai))
    started = datetime.now(UTC)
    tmp = _prepare_output(options.output)
    try:
        _ = clients.credentials  # fail early, before any partial work, when there are none
        run = _Run(clients, options, tmp, log, progress)
        shards = run.assets()
        hierarchy = run.hierarchy()
        users = run.users()
        if run.read_time is None:
            raise CollectError("no Cloud Asset listing or export succeeded, so the snapshot has "
                               "no read time: " + "; ".join(f"{g['what']}: {g['reason']}"
                                                    for g in run.gaps))
        manifest = _manifest(options, shards, hierarchy, users, run, started)
        if not_cai:
            manifest["asset_types_not_requested"] = not_cai
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n",
                                           encoding="utf-8")
        if options.output.exists():
            options.output.rmdir()  # empty (checked above); rename needs it gone
        os.replace(tmp, options.output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _manifest(options: CollectOptions, shards: list[_Shard], hierarchy: dict[str, Any] | None,
              users: dict[str, Any] | None, run: _Run, started: datetime) -> dict[str, Any]:
    types: Counter[str] = Counter()
    sources: list[dict[str, Any]] = []
    for shard in shards:
        entry: dict[str, Any] = {"file": shard.file if shard.error is None else None,
                                 "content_type": shard.content_type, "parent": shard.parent,
                                 "records": shard.records, "pages": shard.pages,
                                 "retries": shard.retries}
        if shard.error is None:
            entry["sha256"] = sha256_file(run.tmp / shard.file)
            if shard.content_type == "RESOURCE":
                types.update(shard.types)
        else:
            entry["error"] = shard.error
        if shard.operation is not None:
            entry["export"] = shard.operation
        sources.append(entry)
    if users is not None:
        sources.append(users)
    scope = options.parents[0] if len(options.parents) == 1 else list(options.parents)
    return {
        "format": MANIFEST_FORMAT,
        "complete": not run.gaps,
        "scope": scope,
        "read_time": _time_text(run.read_time),
        "collected_at": _time_text(started),
        "tool": "phiguard",
        "tool_version": __version__,
        "method": "export" if options.export else "list",
        "content_types": list(options.content_types),
        "asset_types_requested": {c: options.asset_types.get(c) or "*"
                                  for c in options.content_types},
        "sources": sources,
        "asset_types": dict(sorted(types.items())),
        "coverage_gaps": run.gaps,
        "hierarchy": hierarchy,
    }
