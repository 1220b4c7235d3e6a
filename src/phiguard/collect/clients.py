"""One factory for every Google client phiguard uses.

With `PHIGUARD_GCP_ENDPOINT` set, every client talks to that base URL with anonymous
credentials (the emulator in tests and the demo); otherwise Application Default Credentials.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from importlib import resources
from typing import Any

from phiguard.errors import CollectError

__all__ = ["ENDPOINT_ENV", "Clients"]

ENDPOINT_ENV = "PHIGUARD_GCP_ENDPOINT"
CLOUD_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"
NO_CREDENTIALS = (
    "no Google Cloud credentials found: run `gcloud auth application-default login` "
    "(or set GOOGLE_APPLICATION_CREDENTIALS, or use Workload Identity Federation in CI); "
    f"to use a local emulator instead, set {ENDPOINT_ENV}=http://127.0.0.1:PORT"
)


class Clients:
    """Builds the asset, resource manager and directory clients against one endpoint."""

    def __init__(self, endpoint: str | None = None, credentials: Any = None) -> None:
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self._credentials = credentials

    @classmethod
    def from_env(cls) -> Clients:
        return cls(os.environ.get(ENDPOINT_ENV) or None)

    @cached_property
    def credentials(self) -> Any:
        if self._credentials is not None:
            return self._credentials
        if self.endpoint is not None:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            creds, _ = google.auth.default(scopes=[CLOUD_SCOPE, DIRECTORY_SCOPE])
        except DefaultCredentialsError:
            raise CollectError(NO_CREDENTIALS) from None
        return creds

    def _options(self, prefix: str) -> dict[str, str] | None:
        return {"api_endpoint": self.endpoint + prefix} if self.endpoint else None

    def asset(self) -> Any:
        from google.cloud import asset_v1

        return asset_v1.AssetServiceClient(credentials=self.credentials, transport="rest",
                                           client_options=self._options("/cloudasset"))

    def folders(self) -> Any:
        from google.cloud import resourcemanager_v3

        return resourcemanager_v3.FoldersClient(credentials=self.credentials, transport="rest",
                                                client_options=self._options("/crm"))

    def projects(self) -> Any:
        from google.cloud import resourcemanager_v3

        return resourcemanager_v3.ProjectsClient(credentials=self.credentials, transport="rest",
                                                 client_options=self._options("/crm"))

    def directory(self) -> Any:
        """Admin SDK Directory v1 from the discovery document shipped in the package."""
        from googleapiclient.discovery import build_from_document

        doc = resources.files("phiguard.collect").joinpath("discovery/admin.directory_v1.json")
        document = json.loads(doc.read_text(encoding="utf-8"))
        return build_from_document(document, credentials=self.credentials,
                                   client_options=self._options("/"))

    def storage(self) -> Any:
        """Cloud Storage JSON API v1 (objects list and media download of export shards), from
        the discovery document bundled with google-api-python-client."""
        from googleapiclient.discovery import build

        return build("storage", "v1", credentials=self.credentials, static_discovery=True,
                     cache_discovery=False, client_options=self._options("/storage/v1/"))
