"""Cloud Storage objects of the buckets tests seed in CloudState, with Google's write rules.

Served for a bucket that exists in `CloudState.buckets` (export shards stay with ExportState):
objects.insert by simple (`uploadType=media`) and multipart (`uploadType=multipart`) upload under
`/upload/storage/v1/`, the storage.buckets.get grant of buckets.get, objects.get (metadata, or
the bytes with `alt=media`, whole or a `Range`), objects.list (prefix, pages), objects.delete and
buckets.testIamPermissions.

What Google refuses, refused the same way:
- `ifGenerationMatch` on a write: 0 means the object must not exist, another number must be its
  live generation; otherwise 412 conditionNotMet.
- A bucket retention policy (`retentionPolicy.retentionPeriod`, seconds): an object younger than
  the period cannot be deleted or replaced, 403 retentionPolicyNotMet; objects carry
  `retentionExpirationTime`. An event-based or temporary hold blocks delete and replace the same
  way (403) until it is released.
- A caller without the permission a call needs gets 403 (`permissions[bucket]`, when a test sets
  it; replacing an object needs storage.objects.delete as well as create, as Google documents).
With Object Versioning on, a replaced or deleted object stays as a noncurrent generation
(objects.get with `generation`, objects.list with `versions=true`). Locked policies and
versioning versus retention are enforced on buckets.patch in cloud.py.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from emulator.cloud import CloudState

__all__ = ["StorageState", "upload_metadata"]

Reply = tuple[int, Any]
PERMISSIONS = ("storage.objects.create", "storage.objects.delete", "storage.objects.get",
               "storage.objects.list", "storage.buckets.get", "storage.buckets.update",
               "storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy")


def _rfc3339(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _error(status: int, reason: str, message: str) -> Reply:
    return status, {"reason": reason, "message": message}


@dataclass
class StoredObject:
    data: bytes
    generation: int
    created: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    event_based_hold: bool = False
    temporary_hold: bool = False
    metageneration: int = 1


@dataclass
class StorageState:
    """Objects by (bucket, name); `permissions[bucket]` limits what the caller may do."""

    cloud: CloudState
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    # earlier generations, kept when the bucket has Object Versioning on (oldest first)
    noncurrent: dict[tuple[str, str], list[StoredObject]] = field(default_factory=dict)
    permissions: dict[str, set[str]] = field(default_factory=dict)
    now: datetime | None = None  # the emulator's clock (default: the real time)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _generations: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1_700_000_000_000_001))

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    # seeding / tampering (what someone with the rights could do, bypassing phiguard) ----------

    def put(self, bucket: str, name: str, data: bytes, **fields: Any) -> StoredObject:
        with self.cloud.lock, self.lock:
            obj = StoredObject(data, next(self._generations), self.clock(), **fields)
            self._replace(bucket, name, obj)
            return obj

    def _replace(self, bucket: str, name: str, obj: StoredObject | None) -> None:
        """Make `obj` the live generation (None: delete); with versioning the old live one
        becomes noncurrent instead of disappearing."""
        old = self.objects.pop((bucket, name), None)
        versioned = ((self.cloud.buckets.get(bucket) or {}).get("versioning") or {}).get(
            "enabled") is True
        if old is not None and versioned:
            self.noncurrent.setdefault((bucket, name), []).append(old)
        if obj is not None:
            self.objects[(bucket, name)] = obj

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(n for b, n in self.objects if b == bucket and n.startswith(prefix))

    # routing -------------------------------------------------------------------------------------

    def route(self, method: str, path: str, q: dict[str, list[str]], raw: bytes,
              headers: dict[str, str]) -> Reply | None:
        m = re.fullmatch(r"/upload/storage/v1/b/([^/]+)/o", path)
        if m and method == "POST":
            return self._locked(m.group(1), lambda b: self._insert(b, q, raw, headers))
        m = re.fullmatch(r"/storage/v1/b/([^/]+)", path)
        if m and method == "GET":  # buckets.get itself is CloudState's; the grant is checked here
            return self._locked(m.group(1), lambda b: self._denied(b, "storage.buckets.get"))
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/iam/testPermissions", path)
        if m and method == "GET":
            return self._locked(m.group(1), lambda b: self._test(b, q))
        m = re.fullmatch(r"/(?:download/)?storage/v1/b/([^/]+)/o/(.+)", path)
        if m and method in ("GET", "DELETE"):
            name = unquote(m.group(2))
            if method == "DELETE":
                return self._locked(m.group(1), lambda b: self._delete(b, name, q))
            return self._locked(m.group(1), lambda b: self._get(b, name, q, headers))
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/o", path)
        if m and method == "GET":
            return self._locked(m.group(1), lambda b: self._list(b, q))
        return None

    def _locked(self, bucket: str, fn: Any) -> Reply | None:
        with self.cloud.lock, self.lock:
            if bucket not in self.cloud.buckets:
                return None  # not a seeded bucket: ExportState's objects, or 404 there
            return fn(bucket)  # type: ignore[no-any-return]

    def _denied(self, bucket: str, *needed: str) -> Reply | None:
        held = self.permissions.get(bucket)
        if held is None:
            return None
        missing = [p for p in needed if p not in held]
        if missing:
            return _error(403, "forbidden", f"caller does not have {missing[0]} access to "
                                            f"the Google Cloud Storage bucket {bucket}.")
        return None

    def _resource(self, bucket: str, name: str, obj: StoredObject) -> dict[str, Any]:
        md5 = base64.b64encode(hashlib.md5(obj.data, usedforsecurity=False).digest()).decode()
        out: dict[str, Any] = {
            "kind": "storage#object", "id": f"{bucket}/{name}/{obj.generation}",
            "name": name, "bucket": bucket, "generation": str(obj.generation),
            "metageneration": str(obj.metageneration), "contentType": obj.content_type,
            "size": str(len(obj.data)), "md5Hash": md5, "timeCreated": _rfc3339(obj.created),
            "updated": _rfc3339(obj.created), "storageClass": "STANDARD",
        }
        if obj.metadata:
            out["metadata"] = dict(obj.metadata)
        if obj.event_based_hold:
            out["eventBasedHold"] = True
        if obj.temporary_hold:
            out["temporaryHold"] = True
        expires = self._expiry(bucket, obj)
        if expires is not None:
            out["retentionExpirationTime"] = _rfc3339(expires)
        return out

    def _expiry(self, bucket: str, obj: StoredObject) -> datetime | None:
        policy = self.cloud.buckets[bucket].get("retentionPolicy") or {}
        period = int(policy.get("retentionPeriod") or 0)
        return obj.created + timedelta(seconds=period) if period else None

    def _protected(self, bucket: str, name: str, obj: StoredObject) -> Reply | None:
        """403 when the live object may not be deleted or replaced (a hold, or retention)."""
        if obj.event_based_hold or obj.temporary_hold:
            kind = "Event-Based" if obj.event_based_hold else "Temporary"
            return _error(403, "forbidden", f"Object '{bucket}/{name}' is under active {kind} "
                                            "hold and cannot be deleted, overwritten or archived "
                                            "until hold is removed.")
        expires = self._expiry(bucket, obj)
        if expires is not None and expires > self.clock():
            return _error(403, "retentionPolicyNotMet",
                          f"Object '{bucket}/{name}' is subject to bucket's retention policy or "
                          "object retention and cannot be deleted or overwritten until "
                          f"{_rfc3339(expires)}")
        return None

    def _precondition(self, q: dict[str, list[str]], obj: StoredObject | None) -> Reply | None:
        want = q.get("ifGenerationMatch", [None])[0]
        if want is None:
            return None
        if not want.lstrip("-").isdigit():  # an int64 query parameter that is not one
            return _error(400, "invalid", f"Invalid value for ifGenerationMatch: {want}")
        live = obj.generation if obj is not None else 0
        if int(want) != live:
            return _error(412, "conditionNotMet",
                          "At least one of the pre-conditions you specified did not hold.")
        return None

    # methods -------------------------------------------------------------------------------------

    def _insert(self, bucket: str, q: dict[str, list[str]], raw: bytes,
                headers: dict[str, str]) -> Reply:
        kind = q.get("uploadType", [""])[0]
        if kind == "media":
            meta: dict[str, Any] = {"name": q.get("name", [""])[0]}
            data = raw
            content_type = headers.get("content-type", "application/octet-stream")
        elif kind == "multipart":
            parsed = _multipart(headers.get("content-type", ""), raw)
            if parsed is None:
                return _error(400, "invalid", "Invalid multipart request.")
            meta, data, content_type = parsed
            if "name" in q:
                meta.setdefault("name", q["name"][0])
        else:
            return _error(400, "invalid", f"Upload type {kind!r} is not served by the emulator "
                                          "(media and multipart are).")
        name = meta.get("name") or ""
        if not name:
            return _error(400, "required", "Required")
        unknown = set(meta) - {"name", "metadata", "contentType", "eventBasedHold",
                               "temporaryHold"}
        if unknown:
            return _error(400, "invalid", f"emulator: unhandled object fields {sorted(unknown)}")
        existing = self.objects.get((bucket, name))
        needed = ["storage.objects.create"] + (["storage.objects.delete"] if existing else [])
        denied = self._denied(bucket, *needed)
        if denied:
            return denied
        failed = self._precondition(q, existing)
        if failed:
            return failed
        if existing is not None:
            protected = self._protected(bucket, name, existing)
            if protected:
                return protected
        obj = StoredObject(data, next(self._generations), self.clock(),
                           {str(k): str(v) for k, v in (meta.get("metadata") or {}).items()},
                           meta.get("contentType") or content_type,
                           bool(meta.get("eventBasedHold")), bool(meta.get("temporaryHold")))
        self._replace(bucket, name, obj)
        return 200, self._resource(bucket, name, obj)

    def _get(self, bucket: str, name: str, q: dict[str, list[str]],
             headers: dict[str, str]) -> Reply:
        denied = self._denied(bucket, "storage.objects.get")
        if denied:
            return denied
        obj = self.objects.get((bucket, name))
        if obj is None:
            return _error(404, "notFound", f"No such object: {bucket}/{name}")
        generation = q.get("generation", [None])[0]
        if generation is not None and generation != str(obj.generation):
            older = [o for o in self.noncurrent.get((bucket, name), [])
                     if str(o.generation) == generation]
            if not older:
                return _error(404, "notFound", f"No such object: {bucket}/{name}#{generation}")
            obj = older[0]
        if q.get("alt", [""])[0] != "media":
            return 200, self._resource(bucket, name, obj)
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", headers.get("range", ""))
        if m is None:
            return 200, obj.data
        start = int(m.group(1))
        end = min(int(m.group(2)) if m.group(2) else len(obj.data) - 1, len(obj.data) - 1)
        if start >= len(obj.data):
            return 416, {"reason": "requestedRangeNotSatisfiable",
                         "message": "The requested range cannot be satisfied.",
                         "content-range": f"bytes */{len(obj.data)}"}
        return 206, (obj.data[start:end + 1], f"bytes {start}-{end}/{len(obj.data)}")

    def _delete(self, bucket: str, name: str, q: dict[str, list[str]]) -> Reply:
        denied = self._denied(bucket, "storage.objects.delete")
        if denied:
            return denied
        obj = self.objects.get((bucket, name))
        if obj is None:
            return _error(404, "notFound", f"No such object: {bucket}/{name}")
        failed = self._precondition(q, obj)
        if failed:
            return failed
        protected = self._protected(bucket, name, obj)
        if protected:
            return protected
        self._replace(bucket, name, None)
        return 204, b""

    def _list(self, bucket: str, q: dict[str, list[str]]) -> Reply:
        denied = self._denied(bucket, "storage.objects.list")
        if denied:
            return denied
        prefix = q.get("prefix", [""])[0]
        every = q.get("versions", ["false"])[0] == "true"  # noncurrent generations too
        items = [(n, o) for (b, n), olds in sorted(self.noncurrent.items())
                 if every and b == bucket and n.startswith(prefix) for o in olds]
        items += [(n, self.objects[(bucket, n)]) for n in self.names(bucket, prefix)]
        items.sort(key=lambda item: (item[0], item[1].generation))
        start = int(q.get("pageToken", ["0"])[0] or 0)
        size = min(int(q.get("maxResults", ["1000"])[0]), 1000)
        out: dict[str, Any] = {"kind": "storage#objects", "items": [
            self._resource(bucket, n, o) for n, o in items[start:start + size]]}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return 200, out

    def _test(self, bucket: str, q: dict[str, list[str]]) -> Reply:
        asked = q.get("permissions", [])
        held = self.permissions.get(bucket, set(PERMISSIONS))
        return 200, {"kind": "storage#testIamPermissionsResponse",
                     "permissions": [p for p in asked if p in held]}


def _multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], bytes, str] | None:
    """(metadata JSON, media bytes, media content type) of a multipart/related upload, split
    by hand so the media bytes come back exactly as sent."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or m is None:
        return None
    chunks = raw.split(b"--" + m.group(1).encode())
    if len(chunks) != 4 or not chunks[3].startswith(b"--"):
        return None
    parts = []
    for chunk in chunks[1:3]:
        chunk = chunk.removeprefix(b"\r\n") if chunk.startswith(b"\r\n") else \
            chunk.removeprefix(b"\n")
        head, sep, body = chunk.partition(b"\r\n\r\n")
        if not sep or b"\n\n" in head:
            head, sep, body = chunk.partition(b"\n\n")
        if not sep:
            return None
        body = body[:-2] if body.endswith(b"\r\n") else body.removesuffix(b"\n")
        kind = re.search(rb"(?im)^content-type:\s*([^\r\n;]+)", head)
        parts.append((kind.group(1).decode().strip() if kind else "", body))
    try:
        meta = json.loads(parts[0][1] or b"{}")
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    return meta, parts[1][1], parts[1][0] or "application/octet-stream"


def upload_metadata(headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    """The object resource an upload sends (multipart's JSON part; nothing for a media upload),
    for the contract check of storage.objects.insert's request body."""
    parsed = _multipart(headers.get("content-type", ""), raw)
    return parsed[0] if parsed is not None else {}
