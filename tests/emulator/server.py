"""Cloud Asset v1 list, Resource Manager v3 and Directory users.list, served from a fixture org.

The server binds 127.0.0.1 on an ephemeral port and answers the JSON-over-HTTP requests the real
client libraries send (REST transport for the GAPIC clients, discovery for the Admin SDK). Routes
carry a prefix per service so one port serves them all: `/cloudasset/v1/...`, `/crm/v3/...`,
`/admin/directory/v1/...`; ExportAssets, its operations and the Cloud Storage objects it writes
come from `emulator/export.py`. Faults are injected per request: a status (429, 503, 403), a delay,
a connection dropped before the answer, or (`lost`) a request served and its answer lost.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulator.cloud import CloudState
from emulator.contract import ApiError, check_asset_types, check_request, check_response
from emulator.export import ExportState
from emulator.holders import HolderState
from emulator.run import RunState
from emulator.storage import StorageState, upload_metadata

CONTENT_FILES = {
    "RESOURCE": "resources.ndjson",
    "IAM_POLICY": "iam_policy.ndjson",
    "ORG_POLICY": "org_policy.ndjson",
    "ACCESS_POLICY": "access_policy.ndjson",
}
CONTENT_ENUM = {"1": "RESOURCE", "2": "IAM_POLICY", "4": "ORG_POLICY", "5": "ACCESS_POLICY"}
STATUS_NAMES = {403: "PERMISSION_DENIED", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE",
                404: "NOT_FOUND", 400: "INVALID_ARGUMENT", 409: "ABORTED", 500: "INTERNAL",
                412: "FAILED_PRECONDITION", 405: "METHOD_NOT_ALLOWED"}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def to_api_json(value: Any, path: str = "") -> Any:
    """The `gcloud asset export` (snake_case) record as the REST API spells it (camelCase),
    leaving `resource.data` (the resource API's own JSON) as it is."""
    if isinstance(value, dict):
        if path == "resource.data":
            return value
        return {_camel(k): to_api_json(v, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list):
        return [to_api_json(v, path) for v in value]
    return value


@dataclass
class Fault:
    """One injected misbehaviour: matches requests whose path contains `route` (and, for asset
    listings, whose content type is `content_type`; `paged` matches only follow-up pages;
    `method` only that HTTP method). `lost`: the request is served (a write happens), then after
    `delay` the connection is closed without the answer."""

    route: str
    status: int | None = None
    delay: float = 0.0
    drop: bool = False
    times: int | None = 1  # None: every matching request
    content_type: str | None = None
    paged: bool | None = None
    method: str | None = None
    lost: bool = False
    hits: int = 0

    def matches(self, path: str, query: dict[str, list[str]], method: str | None = None) -> bool:
        if self.route not in path or self.method not in (None, method):
            return False
        if self.content_type is not None:
            raw = query.get("contentType", [""])[0]
            if CONTENT_ENUM.get(raw, raw) != self.content_type:
                return False
        if self.paged is not None and bool(query.get("pageToken", [""])[0]) != self.paged:
            return False
        return self.times is None or self.hits < self.times


@dataclass
class _Org:
    read_time: str
    records: dict[str, list[dict[str, Any]]]
    folders: list[dict[str, Any]]
    projects: list[dict[str, Any]]
    users: list[dict[str, Any]]
    project_numbers: dict[str, str] = field(default_factory=dict)


def load_org(root: Path | None) -> _Org:
    if root is None:  # only the mutable cloud state (fix tests)
        return _Org("2026-01-01T00:00:00Z", {}, [], [], [])
    manifest = json.loads((root / "manifest.json").read_text())
    records: dict[str, list[dict[str, Any]]] = {}
    for content, name in CONTENT_FILES.items():
        path = root / name
        lines = path.read_text().splitlines() if path.exists() else []
        records[content] = [to_api_json(json.loads(line)) for line in lines if line.strip()]
    folders, projects, numbers = [], [], {}
    for rec in records["RESOURCE"]:
        data = rec.get("resource", {}).get("data", {})
        if rec["assetType"] == "cloudresourcemanager.googleapis.com/Folder":
            folders.append({"name": data["name"], "displayName": data.get("displayName", ""),
                            "parent": data.get("parent", ""), "state": "ACTIVE"})
        elif rec["assetType"] == "cloudresourcemanager.googleapis.com/Project":
            parent = data.get("parent", {})
            numbers[data["projectId"]] = data["projectNumber"]
            projects.append({"name": f"projects/{data['projectNumber']}",
                             "projectId": data["projectId"],
                             "parent": f"{parent.get('type', '')}s/{parent.get('id', '')}",
                             "state": "ACTIVE", "displayName": data.get("name", ""),
                             "labels": data.get("labels", {})})
    users_doc = json.loads((root / "directory-users.json").read_text())
    pages = users_doc if isinstance(users_doc, list) else [users_doc]
    users = [u for page in pages for u in page.get("users", [])]
    return _Org(manifest["read_time"], records, folders, projects, users, numbers)


class Emulator:
    """`with Emulator(fixture_dir) as emu:` then point clients at `emu.base`."""

    def __init__(self, root: Path | None = None, *, page_size: int = 50) -> None:
        self.org = load_org(root)
        self.cloud = CloudState()
        self.storage = StorageState(self.cloud)
        self.run = RunState(self.cloud)
        self.holders = HolderState(self.cloud)
        self.export = ExportState(self.records, self.org.read_time)
        self.default_page_size = page_size
        self.faults: list[Fault] = []
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()  # ends a fault's delay when the emulator stops
        handler = type("Handler", (_Handler,), {"emu": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                       kwargs={"poll_interval": 0.05})

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def fault(self, route: str, **kwargs: Any) -> Fault:
        fault = Fault(route, **kwargs)
        self.faults.append(fault)
        return fault

    def count(self, needle: str) -> int:
        return sum(1 for r in self.requests if needle in r)

    def __enter__(self) -> Emulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # ------------------------------------------------------------------------------------------

    def take_fault(self, path: str, query: dict[str, list[str]],
                   method: str | None = None) -> Fault | None:
        with self.lock:
            self.requests.append(path + "?" + "&".join(f"{k}={v[0]}" for k, v in query.items()))
            for fault in self.faults:
                if fault.matches(path, query, method):
                    fault.hits += 1
                    return fault
        return None

    def in_scope(self, rec: dict[str, Any], parent: str) -> bool:
        if parent.startswith("organizations/"):
            return True
        kind, _, ident = parent.partition("/")
        if kind == "projects" and ident in self.org.project_numbers:
            ident = self.org.project_numbers[ident]
        return f"{kind}/{ident}" in rec.get("ancestors", [])

    def records(self, content: str, types: set[str], parent: str) -> list[dict[str, Any]]:
        """The records a listing or export returns; an asset type Cloud Asset does not define
        is INVALID_ARGUMENT (ApiError 400), as the API answers, never silently skipped."""
        wanted = set(check_asset_types(types))
        return [r for r in self.org.records.get(content, [])
                if (not types or r["assetType"] in wanted) and self.in_scope(r, parent)]

    def list_assets(self, parent: str, q: dict[str, list[str]]) -> dict[str, Any]:
        raw = q.get("contentType", ["RESOURCE"])[0]
        content = CONTENT_ENUM.get(raw, raw)
        records = self.records(content, set(q.get("assetTypes", [])), parent)
        size = int(q.get("pageSize", [str(self.default_page_size)])[0] or 0)
        size = min(size or self.default_page_size, self.default_page_size)
        start = int(q.get("pageToken", ["0"])[0] or 0)
        out: dict[str, Any] = {"readTime": q.get("readTime", [self.org.read_time])[0],
                               "assets": records[start:start + size]}
        if start + size < len(records):
            out["nextPageToken"] = str(start + size)
        return out

    def paged(self, items: list[dict[str, Any]], key: str, q: dict[str, list[str]],
              size_key: str = "pageSize", token_key: str = "nextPageToken") -> dict[str, Any]:
        size = int(q.get(size_key, ["2"])[0] or 2)
        start = int(q.get("pageToken", ["0"])[0] or 0)
        out: dict[str, Any] = {key: items[start:start + size]}
        if start + size < len(items):
            out[token_key] = str(start + size)
        return out

    def route(self, path: str, q: dict[str, list[str]]) -> tuple[int, Any]:
        m = re.fullmatch(r"/cloudasset/v1/((?:organizations|folders|projects)/[^/]+)/assets",
                         path)
        if m:
            return 200, self.list_assets(m.group(1), q)
        if path == "/crm/v3/folders":
            parent = q.get("parent", [""])[0]
            return 200, self.paged([f for f in self.org.folders if f["parent"] == parent],
                                   "folders", q)
        if path == "/crm/v3/projects":
            parent = q.get("parent", [""])[0]
            return 200, self.paged([p for p in self.org.projects if p["parent"] == parent],
                                   "projects", q)
        m = re.fullmatch(r"/crm/v3/projects/([^/]+)", path)
        if m:
            ident = m.group(1)
            for p in self.org.projects:
                if ident in (p["projectId"], p["name"].split("/")[1]):
                    return 200, p
            return 404, None
        if path == "/admin/directory/v1/users":
            body = self.paged(self.org.users, "users", q, "maxResults")
            return 200, {"kind": "admin#directory#users", **body}
        return 404, None


class _Handler(BaseHTTPRequestHandler):
    emu: Emulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body written separately: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        upload = parts.path.startswith("/upload/")  # media bytes, not a JSON body
        payload = (upload_metadata(headers, raw) if upload
                   else json.loads(raw) if raw.strip() else {})
        query = parse_qs(parts.query)
        fault = self.emu.take_fault(parts.path, query, self.command)
        if fault is not None and not fault.lost:
            if fault.delay:
                self.emu.stopped.wait(fault.delay)
            if fault.drop:
                self.close_connection = True
                self.connection.close()
                return
            if fault.status is not None:
                self._send(fault.status, None)
                return
        try:
            check_request(self.command, parts.path, query, payload)
            reply = self.emu.storage.route(self.command, parts.path, query, raw, headers)
            if reply is None:
                reply = self.emu.cloud.route(self.command, parts.path, query, payload)
            if reply is None:
                reply = self.emu.run.route(self.command, parts.path, query, payload)
            if reply is None:
                reply = self.emu.holders.route(self.command, parts.path, query, payload)
            if reply is None:
                reply = self.emu.export.route(self.command, parts.path, query, payload)
            status, body = reply if reply is not None else self.emu.route(parts.path, query)
            check_response(self.command, parts.path, status, body)
        except ApiError as exc:  # what Google answers instead (Google's error JSON shape)
            status, body = exc.status, exc.message
        if fault is not None and fault.lost:  # served, then the answer never arrives
            self.emu.stopped.wait(fault.delay)
            self.close_connection = True
            self.connection.close()
            return
        self._send(status, body)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _send(self, status: int, body: Any) -> None:
        extra: dict[str, str] = {}
        if status >= 400:
            # Cloud Storage names its own reason (conditionNotMet, retentionPolicyNotMet ...)
            given = body if isinstance(body, dict) and "reason" in body else {}
            if "content-range" in given:
                extra["Content-Range"] = given["content-range"]
            message = (body if isinstance(body, str) else given.get("message")
                       or f"emulated {status}")
            reason = given.get("reason") or STATUS_NAMES.get(status, "error").lower()
            body = {"error": {"code": status, "message": message,
                              "status": STATUS_NAMES.get(status, "UNKNOWN"),
                              "errors": [{"reason": reason, "message": message}]}}
        if isinstance(body, tuple):  # a ranged media download: (bytes, Content-Range)
            body, extra["Content-Range"] = body
        media = isinstance(body, bytes)  # a Cloud Storage media download
        data = body if media else json.dumps(body).encode()
        try:
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/octet-stream" if media
                             else "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
