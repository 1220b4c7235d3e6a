"""TLS-006 reads an absent `sslMode` as the Cloud SQL Admin API's default, the value the plan
converter writes for it too: a scan and a plan of the same instance agree.

Google: "Allow non-SSL/non-TLS and SSL/TLS connections [...] This is the default" (Cloud SQL,
Configure SSL/TLS, https://cloud.google.com/sql/docs/postgres/configure-ssl-instance), i.e.
`ALLOW_UNENCRYPTED_AND_ENCRYPTED`; the legacy `requireSsl: true` of an instance from before
`sslMode` still refuses cleartext connections.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from _engines import interpreted
from _paths import RULES
from phiguard.findings import Finding, Outcome
from phiguard.inventory.asset import Asset
from phiguard.inventory.inventory import Inventory
from phiguard.inventory.scope import PhiConfig
from phiguard.policy.engine import Engine, evaluate
from phiguard.policy.rule import load_pack
from phiguard.terraform.tables.sql import SQL as SQL_CONVERTER

NOW = datetime(2026, 11, 25, tzinfo=UTC)
SQL = "sqladmin.googleapis.com/Instance"
RULE = next(r for r in load_pack([RULES]).rules if r.id == "TLS-006")
SSL_MODE = "data.settings.ipConfiguration.sslMode"


def _judge(kind: str, ip: dict[str, Any]) -> Finding:
    asset = Asset("//cloudsql.googleapis.com/projects/p/instances/db", SQL,
                  {"name": "db", "databaseVersion": "POSTGRES_16",
                   "settings": {"tier": "db-custom-1-3840", "ipConfiguration": ip}},
                  ancestors=("projects/111", "organizations/1"))
    if kind == "interpreted":
        with interpreted():
            found = evaluate([asset], Inventory([asset], phi=PhiConfig(all=True)),
                             Engine([RULE]), NOW)
    else:
        found = evaluate([asset], Inventory([asset], phi=PhiConfig(all=True)), Engine([RULE]),
                         NOW)
    (finding,) = [f for f in found if f.rule_id == "TLS-006"]
    return finding


def _leaf_defaults(node: Any) -> list[Any]:
    if isinstance(node, dict):
        here = [node["default"]] if node.get("path") == SSL_MODE and "default" in node else []
        return here + [d for v in node.values() for d in _leaf_defaults(v)]
    if isinstance(node, list):
        return [d for v in node for d in _leaf_defaults(v)]
    return []


def test_the_rule_defaults_ssl_mode_as_the_plan_converter_does() -> None:
    (field,) = [f for f in SQL_CONVERTER.fields
                if f.dst == "settings.ipConfiguration.sslMode"]
    assert field.api_default == "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
    assert set(_leaf_defaults(RULE.assert_)) == {field.api_default}


@pytest.mark.parametrize("kind", ["generated", "interpreted"])
def test_an_absent_ssl_mode_is_shown_as_the_api_default(kind: str) -> None:
    got = _judge(kind, {"ipv4Enabled": False})
    assert got.outcome is Outcome.FAIL, got
    assert dict(got.evidence)[SSL_MODE] == "ALLOW_UNENCRYPTED_AND_ENCRYPTED"


@pytest.mark.parametrize("kind", ["generated", "interpreted"])
@pytest.mark.parametrize(("ip", "outcome"), [
    ({"requireSsl": True}, Outcome.PASS),  # from before sslMode: the legacy flag decides
    ({"requireSsl": False}, Outcome.FAIL),
    ({"sslMode": "SSL_MODE_UNSPECIFIED", "requireSsl": True}, Outcome.PASS),
    ({"sslMode": "SSL_MODE_UNSPECIFIED"}, Outcome.FAIL),
    ({"sslMode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED", "requireSsl": True}, Outcome.FAIL),
    ({"sslMode": "ENCRYPTED_ONLY"}, Outcome.PASS),
    ({"sslMode": "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", "requireSsl": True}, Outcome.PASS),
])
def test_verdicts_stay_as_google_documents_them(kind: str, ip: dict[str, Any],
                                                outcome: Outcome) -> None:
    assert _judge(kind, ip).outcome is outcome
