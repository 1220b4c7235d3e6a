"""Cloud Storage for phiguard's own records: evidence bundles and the run-history store.

Calls go through the Cloud Storage JSON API's discovery client that google-api-python-client
ships (already a dependency for collect and fix), over fix.api's transport: bounded timeouts,
and a write is never sent twice blindly. google-cloud-storage would add three packages
(google-cloud-storage, google-resumable-media, google-crc32c) for the five calls made here.

Every write carries a generation precondition (`ifGenerationMatch`): 0 creates an object that
must not exist yet, any other number replaces exactly that generation. A lost answer to a
create is resolved by reading the object back: the same bytes (md5) mean our write landed.
Transient failures (429, 5xx, dropped connections) are retried with the collect module's
bounded backoff (`RetryPolicy`).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phiguard.collect.retry import RetryPolicy
from phiguard.errors import PhiguardError, UsageError

__all__ = ["Gcs", "GcsError", "GcsUrl", "Precondition", "is_gcs", "parse_gcs_url"]

SCHEME = "gs://"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
CHUNK = 16 << 20  # bytes per media download request


def is_gcs(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


@dataclass(frozen=True)
class GcsUrl:
    bucket: str
    name: str  # object name or prefix, without a leading or trailing slash

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.name}" if self.name else f"{SCHEME}{self.bucket}"

    def child(self, name: str) -> GcsUrl:
        return GcsUrl(self.bucket, f"{self.name}/{name}" if self.name else name)


def parse_gcs_url(value: str, option: str, *, object_required: bool = False,
                  bucket_only: bool = False) -> GcsUrl:
    """gs://BUCKET[/NAME]; a malformed one is a usage error (exit 2) naming the option."""
    rest = value[len(SCHEME):] if value.startswith(SCHEME) else None
    if rest is None:
        raise UsageError(f"{option} {value}: not a gs://BUCKET/... location")
    bucket, _, name = rest.partition("/")
    name = name.strip("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UsageError(f"{option} {value}: {bucket!r} is not a Cloud Storage bucket name")
    if bucket_only and name:
        raise UsageError(f"{option} {value}: give the bucket alone (gs://{bucket})")
    if object_required and not name:
        raise UsageError(f"{option} {value}: give an object name after the bucket "
                         f"(gs://{bucket}/NAME)")
    if any(part in ("", ".", "..") for part in name.split("/")) and name:
        raise UsageError(f"{option} {value}: empty, '.' or '..' path segments are not allowed")
    if any(ord(c) < 32 or c == "\x7f" for c in name) or len(name.encode()) > 900:
        raise UsageError(f"{option} {value}: not a usable object name (control characters, or "
                         "longer than 900 bytes)")
    return GcsUrl(bucket, name)


class GcsError(PhiguardError):
    """An answer Cloud Storage gave (status), or none (status None). Callers turn it into a
    StoreError or OutputError naming the option; one that escapes still exits 2."""

    def __init__(self, call: str, status: int | None, message: str) -> None:
        self.call = call
        self.status = status
        super().__init__(f"{call}: " + (f"HTTP {status}: {message}" if status is not None
                                        else f"no answer: {message}"))

    @property
    def code(self) -> int | None:  # what collect.retry.status_of reads
        return self.status


class _Unanswered(ConnectionError):
    """A request that got no answer (collect.retry treats ConnectionError as transient)."""

    def __init__(self, detail: str, maybe_sent: bool) -> None:
        super().__init__(detail)
        self.maybe_sent = maybe_sent


class Precondition(GcsError):
    """412 conditionNotMet: the object's generation is not the one the write required."""


def md5_b64(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


class Gcs:
    """The Cloud Storage calls phiguard makes, each retried within `policy`."""

    def __init__(self, policy: RetryPolicy | None = None, *, timeout: float = 60.0,
                 on_retry: Callable[[int, BaseException], None] | None = None) -> None:
        from phiguard.fix.api import FixApi

        self.api = FixApi(timeout=timeout)
        self.policy = policy or RetryPolicy(attempts=5, initial=1.0, maximum=16.0)
        self.on_retry = on_retry

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Gcs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # one request --------------------------------------------------------------------------------

    def _objects(self) -> Any:
        return self.api.service("storage").objects()

    def _execute(self, call: str, make: Callable[[], Any]) -> Any:
        """make() builds a googleapiclient request; run it once, errors as GcsError /
        _Unanswered (the latter transient for the retry policy)."""
        from googleapiclient.errors import HttpError

        from phiguard.fix.api import NoAnswer

        try:
            return make().execute()
        except HttpError as exc:
            status = int(exc.status_code)
            kind = Precondition if status == 412 else GcsError
            raise kind(call, status, _reason(exc)) from None
        except NoAnswer as exc:
            raise _Unanswered(f"{call}: {exc.detail}", exc.maybe_sent) from None

    def _retried(self, call: str, make: Callable[[], Any]) -> Any:
        try:
            return self.policy.call(lambda: self._execute(call, make), self.on_retry)
        except _Unanswered as exc:
            raise GcsError(call, None, str(exc)) from None

    def _rebase(self, uri: str) -> str:
        """googleapiclient gives a media upload the API endpoint's host but keeps the https
        scheme of Google's rootUrl; against an http endpoint (the emulator) use its scheme."""
        from urllib.parse import urlsplit, urlunsplit

        endpoint = self.api.clients.endpoint
        if not endpoint:
            return uri
        base, parts = urlsplit(endpoint), urlsplit(uri)
        if parts.netloc != base.netloc:
            return uri
        return urlunsplit(parts._replace(scheme=base.scheme))

    # reads ----------------------------------------------------------------------------------------

    def bucket(self, bucket: str) -> dict[str, Any]:
        return dict(self._retried(f"storage.buckets.get {bucket}", lambda: self.api.service(
            "storage").buckets().get(bucket=bucket, projection="full")))

    def permissions(self, bucket: str, wanted: list[str]) -> set[str]:
        """The permissions of `wanted` the caller holds on the bucket (testIamPermissions)."""
        reply = self._retried(f"storage.buckets.testIamPermissions {bucket}",
                              lambda: self.api.service("storage").buckets()
                              .testIamPermissions(bucket=bucket, permissions=wanted))
        return set(reply.get("permissions") or [])

    def stat(self, url: GcsUrl) -> dict[str, Any] | None:
        """The object's metadata (generation, md5Hash, size, metadata ...), None if absent."""
        try:
            return dict(self._retried(f"storage.objects.get {url}", lambda: self._objects().get(
                bucket=url.bucket, object=url.name)))
        except GcsError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, prefix: GcsUrl) -> Iterator[dict[str, Any]]:
        """Every object whose name starts with `prefix.name` + "/" (or all, for a bucket)."""
        start = f"{prefix.name}/" if prefix.name else ""
        token: str | None = None
        while True:
            def page(token: str | None = token) -> Any:
                return self._objects().list(bucket=prefix.bucket, prefix=start, pageToken=token,
                                            maxResults=1000)
            reply = self._retried(f"storage.objects.list {prefix}", page)
            yield from reply.get("items") or []
            token = reply.get("nextPageToken")
            if not token:
                return

    def download(self, url: GcsUrl, target: Path, generation: str | None = None,
                 limit: int | None = None) -> int:
        """The object's bytes (of `generation` when given) into `target`; its size. A larger
        object than `limit` bytes stops the download with GcsError(status None)."""
        from googleapiclient.http import MediaIoBaseDownload

        call = f"storage.objects.get {url} (media)"

        def attempt() -> int:
            with target.open("wb") as fh:
                params: dict[str, Any] = {"bucket": url.bucket, "object": url.name}
                if generation is not None:
                    params["generation"] = generation
                request = self._objects().get_media(**params)
                down = MediaIoBaseDownload(fh, request, chunksize=CHUNK)
                done = False
                while not done:
                    _, done = self._execute(call, lambda: _Chunk(down))
                    if limit is not None and fh.tell() > limit:
                        raise GcsError(call, None, f"larger than {limit} bytes")
                return fh.tell()
        try:
            return self.policy.call(attempt, self.on_retry)
        except _Unanswered as exc:
            raise GcsError(call, None, str(exc)) from None

    # writes ---------------------------------------------------------------------------------------

    def upload(self, source: Path, url: GcsUrl, *, if_generation: int | str,
               metadata: dict[str, str] | None = None,
               content_type: str = "application/octet-stream") -> dict[str, Any]:
        """Create (if_generation=0) or replace exactly generation `if_generation` of `url`
        with `source`'s bytes. Raises Precondition when the object is not at that generation.
        A write whose answer was lost is retried; if the retry meets 412, the object is read
        back and taken as ours when its md5 and metadata are what we sent."""
        from googleapiclient.http import MediaFileUpload

        call = f"storage.objects.insert {url} (ifGenerationMatch={if_generation})"
        body: dict[str, Any] = {"name": url.name, "contentType": content_type}
        if metadata:
            body["metadata"] = dict(metadata)
        sent = {"maybe": False}

        def attempt() -> Any:
            def make() -> Any:
                media = MediaFileUpload(str(source), mimetype=content_type, resumable=False)
                request = self._objects().insert(bucket=url.bucket, body=body,
                                                 media_body=media,
                                                 ifGenerationMatch=str(if_generation))
                request.uri = self._rebase(request.uri)
                return request
            try:
                return self._execute(call, make)
            except _Unanswered as exc:
                sent["maybe"] = sent["maybe"] or exc.maybe_sent
                raise
            except GcsError as exc:
                if exc.status is not None and exc.status >= 500:
                    sent["maybe"] = True
                raise
        try:
            return dict(self.policy.call(attempt, self.on_retry))
        except _Unanswered as exc:
            raise GcsError(call, None, str(exc)) from None
        except Precondition:
            if sent["maybe"]:
                landed = self.stat(url)
                if (landed is not None and landed.get("md5Hash") == md5_b64(source)
                        and (landed.get("metadata") or {}) == (metadata or {})):
                    return landed
            raise


class _Chunk:
    """A MediaIoBaseDownload step shaped as a request (`execute()`), for _execute's errors."""

    def __init__(self, down: Any) -> None:
        self.down = down

    def execute(self) -> Any:
        return self.down.next_chunk()


def _reason(exc: Any) -> str:
    import json

    try:
        detail = json.loads(exc.content.decode("utf-8", "replace"))["error"]["message"]
    except (ValueError, KeyError, TypeError, AttributeError):
        detail = exc.reason or ""
    return " ".join(str(detail).split())[:300]
