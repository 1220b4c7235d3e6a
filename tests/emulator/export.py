"""Cloud Asset ExportAssets with its long-running operation, and the Cloud Storage objects it
writes (JSON API objects list and media download).

`POST /cloudasset/v1/{parent}:exportAssets` writes the matching records of the fixture org, in
the `gcloud asset export` shape (snake_case NDJSON), to an in-memory bucket laid out as
ExportAssets documents it (cloudasset v1 discovery, `GcsDestination`): with `uriPrefix`, one
object per asset type and shard, `PREFIX/<asset type>/<shard number>` from 0, no extension
(`PREFIX/compute.googleapis.com/Disk/0`), INVALID_ARGUMENT when an object named PREFIX exists;
with `uri`, every record in that one object. It answers an operation that is done after `polls`
GETs of `/cloudasset/v1/{operation name}`. Tests make one content type's operation fail
(`fail[content_type] = (grpc code, message)`) or never finish (`stuck`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

__all__ = ["ExportState"]

Reply = tuple[int, Any]
ENUM_NAMES = {"1": "RESOURCE", "2": "IAM_POLICY", "4": "ORG_POLICY", "5": "ACCESS_POLICY"}


def to_export_json(value: Any, path: str = "") -> Any:
    """The REST (camelCase) record back in the export's snake_case, `resource.data` as is."""
    if isinstance(value, dict):
        if path == "resource.data":
            return value
        out = {}
        for key, item in value.items():
            snake = re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), key)
            out[snake] = to_export_json(item, f"{path}.{snake}" if path else snake)
        return out
    if isinstance(value, list):
        return [to_export_json(v, path) for v in value]
    return value


def _invalid(message: str) -> Reply:
    return 400, message  # the server wraps it as an INVALID_ARGUMENT error body


@dataclass
class _Operation:
    name: str
    response: dict[str, Any]
    polls_left: int
    error: tuple[int, str] | None = None


@dataclass
class ExportState:
    """Operations and bucket objects; `records(content_type, asset_types, parent)` is the
    emulator's filtered fixture org."""

    records: Callable[[str, set[str], str], list[dict[str, Any]]]
    read_time: str
    polls: int = 1  # operation GETs answered `done: false` before `done: true`
    shard_lines: int = 40  # lines per written object
    list_page: int = 10  # objects per objects.list page
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)
    stuck: set[str] = field(default_factory=set)  # content types whose export never finishes
    drop_objects: set[str] = field(default_factory=set)  # written, reported, then deleted
    damaged: set[str] = field(default_factory=set)  # content types whose last shard is cut short
    operations: dict[str, _Operation] = field(default_factory=dict)
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def route(self, method: str, path: str, q: dict[str, list[str]], body: Any) -> Reply | None:
        m = re.fullmatch(r"/cloudasset/v1/((?:organizations|folders|projects)/[^/]+):exportAssets",
                         path)
        if m and method == "POST":
            with self.lock:
                return self._export(m.group(1), body)
        m = re.fullmatch(r"/cloudasset/v1/(.+/operations/.+)", path)
        if m and method == "GET":
            with self.lock:
                return self._operation(m.group(1))
        m = re.fullmatch(r"/storage/v1/b/([^/]+)/o", path)
        if m and method == "GET":
            return self._list(m.group(1), q)
        m = re.fullmatch(r"/(?:download/)?storage/v1/b/([^/]+)/o/(.+)", path)
        if m and method == "GET":
            data = self.objects.get((m.group(1), unquote(m.group(2))))
            if data is None:
                return 404, None
            if q.get("alt", [""])[0] == "media":
                return 200, data
            return 200, {"kind": "storage#object", "bucket": m.group(1),
                         "name": unquote(m.group(2)), "size": str(len(data))}
        return None

    def _export(self, parent: str, body: dict[str, Any]) -> Reply:
        self.requests.append({"parent": parent, **body})
        raw = str(body.get("contentType", "RESOURCE"))
        content = ENUM_NAMES.get(raw, raw)
        gcs = body.get("outputConfig", {}).get("gcsDestination", {})
        if ("uri" in gcs) == ("uriPrefix" in gcs):
            return _invalid("output_config.gcs_destination needs exactly one of uri and "
                            "uri_prefix")
        target = gcs.get("uri") or gcs["uriPrefix"]
        bucket, _, prefix = target.removeprefix("gs://").partition("/")
        if "uriPrefix" in gcs and (bucket, prefix) in self.objects:
            return _invalid(f"an object named {target} already exists; uri_prefix must not "
                            "name an existing object")
        records = self.records(content, set(body.get("assetTypes", [])), parent)
        by_type: dict[str, list[str]] = {}
        for rec in records:
            line = json.dumps(to_export_json(rec), separators=(",", ":"))
            by_type.setdefault(rec["assetType"], []).append(line)
        written: dict[str, list[str]] = {}
        if "uri" in gcs:
            written[prefix] = [line for _, lines in sorted(by_type.items()) for line in lines]
        else:
            for asset_type, lines in sorted(by_type.items()):
                for n, start in enumerate(range(0, len(lines), self.shard_lines)):
                    written[f"{prefix}/{asset_type}/{n}"] = lines[start:start + self.shard_lines]
        uris = []
        if content not in self.fail:
            for name, chunk in written.items():
                uris.append(f"gs://{bucket}/{name}")
                if content not in self.drop_objects:
                    self.objects[(bucket, name)] = ("\n".join(chunk) + "\n").encode()
            if content in self.damaged and uris:
                last = (bucket, uris[-1].removeprefix(f"gs://{bucket}/"))
                self.objects[last] = self.objects[last][:-40]
        name = f"{parent}/operations/ExportAssets/{content}/{next(self._serial)}"
        read_time = body.get("readTime") or self.read_time
        response = {"@type": "type.googleapis.com/google.cloud.asset.v1.ExportAssetsResponse",
                    "readTime": read_time, "outputConfig": body["outputConfig"],
                    "outputResult": {"gcsResult": {"uris": uris}}}
        polls = 10 ** 9 if content in self.stuck else self.polls
        op = _Operation(name, response, polls, self.fail.get(content))
        self.operations[name] = op
        return 200, self._op_json(op)

    def _op_json(self, op: _Operation) -> dict[str, Any]:
        out: dict[str, Any] = {"name": op.name, "metadata": {
            "@type": "type.googleapis.com/google.cloud.asset.v1.ExportAssetsRequest"}}
        if op.polls_left > 0:
            return {**out, "done": False}
        if op.error is not None:
            return {**out, "done": True, "error": {"code": op.error[0], "message": op.error[1]}}
        return {**out, "done": True, "response": op.response}

    def _operation(self, name: str) -> Reply:
        op = self.operations.get(name)
        if op is None:
            return 404, None
        op.polls_left -= 1
        return 200, self._op_json(op)

    def _list(self, bucket: str, q: dict[str, list[str]]) -> Reply:
        prefix = q.get("prefix", [""])[0]
        names = sorted(n for b, n in self.objects if b == bucket and n.startswith(prefix))
        start = int(q.get("pageToken", ["0"])[0] or 0)
        size = min(int(q.get("maxResults", [str(self.list_page)])[0]), self.list_page)
        out: dict[str, Any] = {"kind": "storage#objects", "items": [
            {"kind": "storage#object", "bucket": bucket, "name": n,
             "size": str(len(self.objects[(bucket, n)]))} for n in names[start:start + size]]}
        if start + size < len(names):
            out["nextPageToken"] = str(start + size)
        return 200, out
