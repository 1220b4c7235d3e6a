"""The export path for very large organizations: Cloud Asset ExportAssets to a Cloud Storage
prefix, wait for the long-running operation, download the shards it wrote.

One export per content type and parent, all at the same `read_time`. Each writes under its own
`gs://BUCKET/PREFIX/<run>/<parent>/<content type>/` prefix (ExportAssets then appends the asset
type and a shard number); the objects under it are listed through the Cloud Storage JSON API and
downloaded with media downloads, and each line is parsed as an `Asset` (the export's snake_case
names and the API's camelCase both parse) and written in the snapshot's export shape.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phiguard.collect.retry import RetryPolicy
from phiguard.collect.sources import asset_record
from phiguard.errors import CollectError

__all__ = ["ExportError", "ExportPolling", "export_prefix", "parse_gcs_uri", "run_export"]

OnRetry = Callable[[int, BaseException], None]
_GCS = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:/(.*))?")


class ExportError(CollectError):
    """An export that did not produce its shards (the operation never finished, or the objects
    it reported are not there). `reason` goes to the manifest's coverage gap."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class ExportPolling:
    """How to wait for an ExportAssets operation: poll after `initial` seconds, each wait
    `multiplier` times longer up to `maximum`, and give up after `timeout` seconds."""

    initial: float = 2.0
    maximum: float = 60.0
    multiplier: float = 1.5
    timeout: float = 3600.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)


def parse_gcs_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/some/prefix` -> ("bucket", "some/prefix") (prefix without slashes around)."""
    m = _GCS.fullmatch(uri.strip())
    if not m:
        raise CollectError(f"--export {uri!r}: expected gs://BUCKET/PREFIX")
    return m.group(1), (m.group(2) or "").strip("/")


def export_prefix(base: str, run: str, parent: str, content_type: str) -> str:
    parts = [p for p in (base, run, parent.replace("/", "-"), content_type.lower()) if p]
    return "/".join(parts)


def _wait(op: Any, polling: ExportPolling, policy: RetryPolicy,
          on_poll: Callable[[int], None] | None, on_retry: OnRetry | None) -> Any:
    """The operation's response; raises its error, or ExportError when it does not finish."""
    start = polling.clock()
    delay = polling.initial
    polls = 0
    while not policy.call(op.done, on_retry):  # one GET of the operation per call
        waited = polling.clock() - start
        if waited >= polling.timeout:
            name = getattr(op.operation, "name", "?")
            raise ExportError("export did not finish in time",
                              f"ExportAssets operation {name} still running after "
                              f"{waited:.0f} s (timeout {polling.timeout:.0f} s); "
                              "check it with `gcloud asset operations describe`")
        polling.sleep(min(delay, max(0.0, polling.timeout - waited)))
        delay = min(polling.maximum, delay * polling.multiplier)
        polls += 1
        if on_poll is not None:
            on_poll(polls)
    return op.result(timeout=0)  # raises the operation's error (e.g. PermissionDenied)



def _objects(storage: Any, bucket: str, prefix: str, policy: RetryPolicy,
             on_retry: OnRetry | None) -> list[str]:
    names: list[str] = []
    request = storage.objects().list(bucket=bucket, prefix=prefix + "/", fields=
                                     "items(name),nextPageToken")
    while request is not None:
        response = policy.call(request.execute, on_retry)
        names.extend(item["name"] for item in response.get("items", []))
        request = storage.objects().list_next(request, response)
    return sorted(names)


def _download(storage: Any, bucket: str, name: str, target: Path, policy: RetryPolicy,
              on_retry: OnRetry | None) -> None:
    from googleapiclient.http import MediaIoBaseDownload

    def fetch() -> None:
        with target.open("wb") as fh:
            request = storage.objects().get_media(bucket=bucket, object=name)
            downloader = MediaIoBaseDownload(fh, request, chunksize=64 << 20)
            done = False
            while not done:
                _, done = downloader.next_chunk()

    policy.call(fetch, on_retry)


def _records(path: Path, uri: str) -> Iterator[dict[str, Any]]:
    """The records of one downloaded shard (NDJSON); a line that does not parse is an
    ExportError naming the object and line (a damaged or foreign object), never a traceback."""
    from google.cloud import asset_v1
    from google.protobuf.json_format import Error as ProtoJsonError

    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                asset = asset_v1.Asset.from_json(raw.decode("utf-8"), ignore_unknown_fields=True)
            except (ProtoJsonError, ValueError, TypeError) as exc:
                what = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise ExportError("export shard unreadable",
                                  f"{uri}:{number}: not a Cloud Asset record ({what})") from None
            yield asset_record(asset)


def run_export(client: Any, storage: Any, *, parent: str, content_type: str,
               asset_types: list[str], read_time: Any, bucket: str, prefix: str,
               scratch: Path, polling: ExportPolling, policy: RetryPolicy, timeout: float,
               on_retry: OnRetry | None = None,
               on_poll: Callable[[int], None] | None = None,
               on_objects: Callable[[int], None] | None = None
               ) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    """(records, read_time) per downloaded shard of one ExportAssets operation."""
    request: dict[str, Any] = {
        "parent": parent, "content_type": content_type,
        "output_config": {"gcs_destination": {"uri_prefix": f"gs://{bucket}/{prefix}"}}}
    if asset_types:
        request["asset_types"] = asset_types
    if read_time is not None:
        request["read_time"] = read_time

    def start() -> Any:
        return client.export_assets(request=request, retry=None, timeout=timeout)

    response = _wait(policy.call(start, on_retry), polling, policy, on_poll, on_retry)
    names = _objects(storage, bucket, prefix, policy, on_retry)
    reported = [u.removeprefix(f"gs://{bucket}/")
                for u in response.output_result.gcs_result.uris]
    missing = sorted(set(reported) - set(names))
    if missing:
        raise ExportError("export shards missing",
                          f"{len(missing)} shards the operation reported are not in "
                          f"gs://{bucket}/{prefix}/ (first: {missing[0]})")
    if on_objects is not None:
        on_objects(len(names))
    target = scratch / f".download-{prefix.replace('/', '-')}"
    try:
        for name in names:
            _download(storage, bucket, name, target, policy, on_retry)
            chunk: list[dict[str, Any]] = []
            for record in _records(target, f"gs://{bucket}/{name}"):
                chunk.append(record)
                if len(chunk) >= 1000:
                    yield chunk, response.read_time
                    chunk = []
            yield chunk, response.read_time
    finally:
        target.unlink(missing_ok=True)
    if not names:  # nothing of these types: still a (empty) success with its read time
        yield [], response.read_time
