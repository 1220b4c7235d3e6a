"""Discovery clients for the fix actions, built from the documents shipped in googleapiclient.

Endpoint and credentials come from the collect client factory (`PHIGUARD_GCP_ENDPOINT` gives
the emulator with anonymous credentials; otherwise Application Default Credentials).

Requests go through `_Transport`, an httplib2-shaped adapter over urllib3 (through google-auth's
`AuthorizedHttp`): httplib2, googleapiclient's default, silently sends a request again when the
connection drops before the answer, which for a write means a second, blind write. Here a read
is retried on connection errors, a write never: a write whose answer is lost raises `NoAnswer`
with `maybe_sent` set, and the caller re-reads the resource to learn what happened. Every
request has a bounded timeout, and proxies come from the environment (`https_proxy`,
`no_proxy`), with any failure to reach the endpoint said in one line.
"""

from __future__ import annotations

import urllib.request
from typing import Any
from urllib.parse import urlsplit

from phiguard.collect.clients import Clients
from phiguard.errors import FixError

__all__ = ["ApiError", "FixApi", "FixError", "NoAnswer"]

# service -> (version, path prefix under PHIGUARD_GCP_ENDPOINT, keeping each servicePath)
SERVICES = {
    "compute": ("v1", "/compute/v1/"),
    "sqladmin": ("v1", "/sqladmin/"),
    "storage": ("v1", "/storage/v1/"),
    "cloudresourcemanager": ("v3", "/crm/"),
    "iam": ("v1", "/iam/"),
    "pubsub": ("v1", "/pubsub/"),
    "secretmanager": ("v1", "/secretmanager/"),
    "bigquery": ("v2", "/bigquery/v2/"),
    "run": ("v1", "/run/"),
}
DEFAULT_TIMEOUT = 60.0  # seconds per request (connect and each read)


class ApiError(FixError):
    """An API call answered with an HTTP error (`status` 409/412 mean a failed precondition)."""

    def __init__(self, call: str, status: int, message: str) -> None:
        self.call = call
        self.status = status
        super().__init__(f"{call}: HTTP {status}: {message}")

    @property
    def precondition_failed(self) -> bool:
        return self.status in (409, 412)


class NoAnswer(FixError):
    """No answer came: the endpoint or proxy was unreachable, timed out or hung up.

    `maybe_sent` is false only when the connection was never made (nothing reached the API)."""

    def __init__(self, call: str, detail: str, *, maybe_sent: bool) -> None:
        self.call = call
        self.detail = detail
        self.maybe_sent = maybe_sent
        super().__init__(f"{call}: no answer: {detail}")


class _Transport:
    """The `request()` googleapiclient calls, over urllib3 with bounded time and no blind resend."""

    def __init__(self, credentials: Any, timeout: float) -> None:
        self.credentials = credentials
        self.timeout = timeout
        self._http: dict[str, Any] = {}

    def _authorized(self, uri: str) -> tuple[Any, str | None]:
        import urllib3
        from google.auth.transport.urllib3 import AuthorizedHttp

        parts = urlsplit(uri)
        proxy = urllib.request.getproxies().get(parts.scheme)
        if proxy and urllib.request.proxy_bypass(parts.hostname or ""):
            proxy = None
        key = proxy or ""
        if key not in self._http:
            try:
                manager = urllib3.proxy_from_url(proxy) if proxy else urllib3.PoolManager()
            except (ValueError, AssertionError, urllib3.exceptions.HTTPError) as exc:
                raise FixError(f"proxy {proxy} from the environment cannot be used: {exc} "
                               "(http:// and https:// proxies are supported)") from None
            self._http[key] = AuthorizedHttp(self.credentials, http=manager)  # type: ignore[no-untyped-call]
        return self._http[key], proxy

    def request(self, uri: str, method: str = "GET", body: Any = None,
                headers: dict[str, str] | None = None, **_: Any) -> tuple[Any, bytes]:
        import httplib2  # type: ignore[import-untyped]
        import urllib3
        from google.auth.exceptions import GoogleAuthError

        http, proxy = self._authorized(uri)
        retries = urllib3.Retry(total=2, connect=2, read=2 if method == "GET" else 0, status=0,
                                other=0, redirect=0, allowed_methods=frozenset({"GET"}),
                                raise_on_status=False)
        via = f" through proxy {proxy}" if proxy else ""
        try:
            resp = http.urlopen(method, uri, body=body, headers=headers or {}, retries=retries,
                                timeout=urllib3.Timeout(connect=self.timeout,
                                                        read=self.timeout),
                                preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            reason = (exc.reason if isinstance(exc, urllib3.exceptions.MaxRetryError)
                      else None) or exc
            connected = not isinstance(reason, urllib3.exceptions.NewConnectionError
                                       | urllib3.exceptions.ConnectTimeoutError
                                       | urllib3.exceptions.ProxyError)
            raise NoAnswer(f"{method} {uri}", f"{_one_line(reason)}{via}",
                           maybe_sent=connected and method != "GET") from None
        except (GoogleAuthError, OSError) as exc:
            raise NoAnswer(f"{method} {uri}", f"{_one_line(exc)}{via}",
                           maybe_sent=method != "GET") from None
        info = {k.lower(): v for k, v in resp.headers.items()}
        info["status"] = str(resp.status)
        return httplib2.Response(info), resp.data

    def close(self) -> None:
        for http in self._http.values():
            http.http.clear()
        self._http.clear()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:299] + "…"


class FixApi:
    """Calls `service.resource.method` by name, e.g. `compute.sslPolicies.patch`."""

    def __init__(self, clients: Clients | None = None, *,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.clients = clients or Clients.from_env()
        self.timeout = timeout
        self._built: dict[str, Any] = {}
        self._transport: _Transport | None = None

    def _options(self, name: str) -> dict[str, str] | None:
        prefix = SERVICES[name][1]
        return {"api_endpoint": self.clients.endpoint + prefix} if self.clients.endpoint else None

    def service(self, name: str) -> Any:
        if name not in self._built:
            from googleapiclient.discovery import build

            if self._transport is None:
                self._transport = _Transport(self.clients.credentials, self.timeout)
            self._built[name] = build(name, SERVICES[name][0], http=self._transport,
                                      static_discovery=True, cache_discovery=False,
                                      client_options=self._options(name))
        return self._built[name]

    def close(self) -> None:
        """Close every client's HTTP connections."""
        if self._transport is not None:
            self._transport.close()
        self._built.clear()

    def __enter__(self) -> FixApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, params: dict[str, Any], body: Any = None) -> Any:
        from googleapiclient.errors import HttpError

        try:
            return self._request(method, params, body, self.service).execute()
        except HttpError as exc:
            raise ApiError(method, exc.status_code, str(exc.reason or "")) from None
        except NoAnswer as exc:
            raise NoAnswer(method, f"{exc.detail} ({exc.call})",
                           maybe_sent=exc.maybe_sent) from None

    def describe(self, method: str, params: dict[str, Any], body: Any = None) -> tuple[str, str]:
        """(HTTP method, URL) the call sends, built by the discovery client without sending."""
        return describe(method, params, body, self.clients.endpoint)

    @staticmethod
    def _request(method: str, params: dict[str, Any], body: Any, service: Any) -> Any:
        name, *resources, verb = method.split(".")
        target = service(name)
        for resource in resources:
            target = getattr(target, resource)()
        kwargs = dict(params)
        if body is not None:
            kwargs["body"] = body
        try:
            return getattr(target, verb)(**kwargs)
        except (TypeError, AttributeError) as exc:  # a parameter or method the API lacks
            raise FixError(f"{method}: not a valid request: {exc}") from None


_DESCRIBERS: dict[tuple[str, str | None], Any] = {}


def describe(method: str, params: dict[str, Any], body: Any = None,
             endpoint: str | None = None) -> tuple[str, str]:
    """(HTTP method, URL) of a call, from the shipped discovery document; sends nothing."""
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    def service(name: str) -> Any:
        key = (name, endpoint)
        if key not in _DESCRIBERS:
            options = {"api_endpoint": endpoint.rstrip("/") + SERVICES[name][1]} \
                if endpoint else None
            _DESCRIBERS[key] = build(name, SERVICES[name][0], static_discovery=True,
                                     cache_discovery=False, client_options=options,
                                     credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        return _DESCRIBERS[key]

    request = FixApi._request(method, params, body, service)
    return str(request.method), str(request.uri)
