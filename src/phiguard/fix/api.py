"""Discovery clients for the fix actions, built from the documents shipped in googleapiclient.

Endpoint and credentials come from the collect client factory (`PHIGUARD_GCP_ENDPOINT` gives
the emulator with anonymous credentials; otherwise Application Default Credentials).
"""

from __future__ import annotations

from typing import Any

from phiguard.collect.clients import Clients
from phiguard.errors import FixError

__all__ = ["ApiError", "FixApi", "FixError"]

# service -> (version, path prefix under PHIGUARD_GCP_ENDPOINT, keeping each servicePath)
SERVICES = {
    "compute": ("v1", "/compute/v1/"),
    "sqladmin": ("v1", "/sqladmin/"),
    "storage": ("v1", "/storage/v1/"),
    "cloudresourcemanager": ("v3", "/crm/"),
    "iam": ("v1", "/iam/"),
}


class ApiError(Exception):
    """An API call answered with an HTTP error (`status` 409/412 mean a failed precondition)."""

    def __init__(self, call: str, status: int, message: str) -> None:
        self.call = call
        self.status = status
        super().__init__(f"{call}: HTTP {status}: {message}")

    @property
    def precondition_failed(self) -> bool:
        return self.status in (409, 412)


class FixApi:
    """Calls `service.resource.method` by name, e.g. `compute.sslPolicies.patch`."""

    def __init__(self, clients: Clients | None = None) -> None:
        self.clients = clients or Clients.from_env()
        self._built: dict[str, Any] = {}

    def service(self, name: str) -> Any:
        if name not in self._built:
            from googleapiclient.discovery import build

            version, prefix = SERVICES[name]
            options = ({"api_endpoint": self.clients.endpoint + prefix}
                       if self.clients.endpoint else None)
            self._built[name] = build(name, version, credentials=self.clients.credentials,
                                      static_discovery=True, client_options=options,
                                      cache_discovery=False)
        return self._built[name]

    def close(self) -> None:
        """Close every client's HTTP connections."""
        for service in self._built.values():
            service.close()
        self._built.clear()

    def __enter__(self) -> FixApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any], body: Any = None) -> Any:
        from googleapiclient.errors import HttpError

        service, *resources, verb = method.split(".")
        target = self.service(service)
        for resource in resources:
            target = getattr(target, resource)()
        kwargs = dict(params)
        if body is not None:
            kwargs["body"] = body
        try:
            return getattr(target, verb)(**kwargs).execute()
        except HttpError as exc:
            raise ApiError(method, exc.status_code, str(exc.reason or "")) from None
