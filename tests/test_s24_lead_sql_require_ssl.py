"""A planned Cloud SQL instance whose configuration sets `require_ssl = true` and leaves
`ssl_mode` to the provider: the plan shows `ssl_mode` known only after apply. Google's
sqladmin v1 (`IpConfiguration.sslMode`) allows only TRUSTED_CLIENT_CERTIFICATE_REQUIRED
(MySQL/PostgreSQL) or ENCRYPTED_ONLY (SQL Server) with `requireSsl` true, so the API default
ALLOW_UNENCRYPTED_AND_ENCRYPTED must not be written for it: the converted record carries no
`sslMode` and TLS-006 decides on the legacy flag, as on a scanned instance from before sslMode."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from _plans import change
from phiguard.terraform.plan import parse_plan
from phiguard.terraform.world import build_world


def _ip_config(require_ssl: bool | None, ssl_mode: str | None) -> dict[str, Any]:
    ip: dict[str, Any] = {"ipv4_enabled": False}
    unknown_ip: dict[str, Any] = {}
    expressions: dict[str, Any] = {"ipv4_enabled": {"constant_value": False}}
    if require_ssl is not None:
        ip["require_ssl"] = require_ssl
        expressions["require_ssl"] = {"constant_value": require_ssl}
    if ssl_mode is None:
        unknown_ip["ssl_mode"] = True
    else:
        ip["ssl_mode"] = ssl_mode
        expressions["ssl_mode"] = {"constant_value": ssl_mode}
    after = {"name": "db", "project": "phi-prod", "region": "us-central1",
             "database_version": "POSTGRES_15", "settings": [{"tier": "db-custom-2-7680",
                                                             "ip_configuration": [ip]}]}
    doc = {"format_version": "1.2", "resource_changes": [change(
        "google_sql_database_instance", "db", after,
        unknown={"settings": [{"ip_configuration": [unknown_ip]}]})],
        "configuration": {"root_module": {"resources": [
            {"address": "google_sql_database_instance.db", "mode": "managed",
             "type": "google_sql_database_instance", "name": "db",
             "expressions": {"name": {"constant_value": "db"},
                             "settings": [{"ip_configuration": [expressions]}]}}]}}}
    (asset,) = build_world(parse_plan(orjson.dumps(doc), "p.json"), "after").assets.values()
    ip_config: dict[str, Any] = asset.data["settings"]["ipConfiguration"]
    return ip_config


def test_require_ssl_without_ssl_mode_writes_no_api_default() -> None:
    ip = _ip_config(require_ssl=True, ssl_mode=None)
    assert ip.get("requireSsl") is True
    assert "sslMode" not in ip


@pytest.mark.parametrize("require_ssl", [False, None])
def test_without_require_ssl_the_api_default_stands(require_ssl: bool | None) -> None:
    assert _ip_config(require_ssl, None)["sslMode"] == "ALLOW_UNENCRYPTED_AND_ENCRYPTED"


def test_a_configured_ssl_mode_is_kept() -> None:
    ip = _ip_config(require_ssl=True, ssl_mode="TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
    assert ip["sslMode"] == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"
