"""The three live sources, each a function of a client: Cloud Asset listings, the Resource
Manager folder/project tree, and Directory users. Records come out as plain JSON values."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from phiguard.collect.retry import RetryPolicy

__all__ = ["CONTENT_TYPES", "asset_record", "list_asset_pages", "list_hierarchy", "list_users"]

CONTENT_TYPES = ("RESOURCE", "IAM_POLICY", "ORG_POLICY", "ACCESS_POLICY")
OnRetry = Callable[[int, BaseException], None]


def _integral(value: Any) -> Any:
    """Struct numbers arrive as floats (7 -> 7.0); give whole numbers back as ints, as the
    export writes them."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def asset_record(asset: Any) -> dict[str, Any]:
    """A Cloud Asset `Asset` message in the `gcloud asset export` shape (snake_case envelope,
    `resource.data` in the resource API's own camelCase)."""
    from google.protobuf import json_format

    raw = json_format.MessageToDict(asset._pb, preserving_proto_field_name=True)
    record: dict[str, Any] = _integral(raw)
    return record


def list_asset_pages(client: Any, parent: str, content_type: str, asset_types: list[str],
                     read_time: Any, *, page_size: int, policy: RetryPolicy,
                     timeout: float, on_retry: OnRetry | None = None
                     ) -> Iterator[tuple[list[dict[str, Any]], Any]]:
    """(records, read_time) per page of ListAssets, each page retried on its own."""
    token = ""
    while True:
        request: dict[str, Any] = {"parent": parent, "content_type": content_type,
                                   "page_size": page_size, "page_token": token}
        if asset_types:
            request["asset_types"] = asset_types
        if read_time is not None:
            request["read_time"] = read_time

        def fetch(request: dict[str, Any] = request) -> Any:
            # The library's own retry would wait up to 60 s on 503; ours is bounded.
            return client.list_assets(request=request, retry=None, timeout=timeout)

        page = policy.call(fetch, on_retry)
        response = page._response if hasattr(page, "_response") else page
        yield [asset_record(a) for a in response.assets], response.read_time
        token = response.next_page_token
        if not token:
            return


def _project_json(project: Any) -> dict[str, Any]:
    return {"name": project.name, "project_id": project.project_id, "parent": project.parent,
            "display_name": project.display_name, "state": project.state.name,
            "labels": dict(project.labels)}


def _folder_json(folder: Any) -> dict[str, Any]:
    return {"name": folder.name, "parent": folder.parent, "display_name": folder.display_name,
            "state": folder.state.name}


def _all(method: Callable[..., Any], parent: str, timeout: float) -> list[Any]:
    return list(method(request={"parent": parent}, retry=None, timeout=timeout))


def list_hierarchy(folders_client: Any, projects_client: Any, parents: list[str], *,
                   policy: RetryPolicy, timeout: float, on_retry: OnRetry | None = None
                   ) -> dict[str, list[dict[str, Any]]]:
    """Folders and projects (with labels) under organizations/folders, walked breadth first;
    `projects/ID` parents are fetched one by one."""
    folders: list[dict[str, Any]] = []
    projects: list[dict[str, Any]] = []
    queue = [p for p in parents if not p.startswith("projects/")]
    for parent in parents:
        if parent.startswith("projects/"):
            got = policy.call(partial(projects_client.get_project, name=parent, retry=None,
                                      timeout=timeout), on_retry)
            projects.append(_project_json(got))
    while queue:
        parent = queue.pop(0)
        found = policy.call(partial(_all, folders_client.list_folders, parent, timeout),
                            on_retry)
        for folder in found:
            folders.append(_folder_json(folder))
            queue.append(folder.name)
        listed = policy.call(partial(_all, projects_client.list_projects, parent, timeout),
                             on_retry)
        projects.extend(_project_json(p) for p in listed)
    return {"folders": folders, "projects": projects}


def list_users(directory: Any, customer: str, *, policy: RetryPolicy,
               on_retry: OnRetry | None = None) -> list[dict[str, Any]]:
    """Every Directory user of `customer` (2SV enrollment and enforcement included)."""
    users: list[dict[str, Any]] = []
    request = directory.users().list(customer=customer, projection="full", maxResults=500)
    while request is not None:
        response = policy.call(request.execute, on_retry)
        users.extend(response.get("users", []))
        request = directory.users().list_next(request, response)
    return users
