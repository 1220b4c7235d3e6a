"""Generate a `terraform show -json` plan with N google_* resources, about half non-compliant.

Deterministic for a (resources, seed) pair. The mix follows what a platform repository plans:
SSL policies and HTTPS proxies that reference them through `configuration` (the proxy's
`ssl_policy` is known only after apply), firewalls, Cloud SQL instances in a module with
`count`, buckets with `for_each`, project IAM members and service-account keys.

    .venv/bin/python benchmarks/plan_generate.py --resources 10000 --out /tmp/plan.json
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import orjson

PROJECT = "phi-prod"
PROVIDER = "registry.terraform.io/hashicorp/google"
KINDS = ("ssl", "proxy", "firewall", "sql", "bucket", "iam", "key")


def _sql(i: int, bad: bool) -> dict[str, Any]:
    return {"name": f"db-{i}", "project": PROJECT, "region": "us-east4",
            "database_version": "POSTGRES_15", "deletion_protection": True,
            "master_instance_name": None, "encryption_key_name": None if bad else
            f"projects/{PROJECT}/locations/us-east4/keyRings/r/cryptoKeys/sql",
            "settings": [{"tier": "db-custom-2-8192",
                          "availability_type": "ZONAL" if bad else "REGIONAL",
                          "deletion_protection_enabled": not bad,
                          "backup_configuration": [{
                              "enabled": not bad, "binary_log_enabled": False,
                              "point_in_time_recovery_enabled": not bad, "start_time": "03:00",
                              "location": "us", "transaction_log_retention_days": 7,
                              "backup_retention_settings": [{"retained_backups": 14,
                                                             "retention_unit": "COUNT"}]}],
                          "ip_configuration": [{"ipv4_enabled": bad, "ssl_mode":
                                                "ALLOW_UNENCRYPTED_AND_ENCRYPTED" if bad
                                                else "ENCRYPTED_ONLY",
                                                "authorized_networks": [],
                                                "private_network": None}],
                          "database_flags": [{"name": "log_connections", "value": "on"}],
                          "user_labels": {"app": f"svc-{i % 50}"}}]}


def resource(kind: str, i: int, bad: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """(resource_change, configuration resource) for one generated resource."""
    module, rtype, name, index = "", "", f"r{i}", None
    unknown: dict[str, Any] = {"id": True}
    refs: dict[str, Any] = {}
    if kind == "ssl":
        rtype = "google_compute_ssl_policy"
        after = {"name": f"tls-{i}", "project": PROJECT, "description": None,
                 "profile": "COMPATIBLE" if bad else "RESTRICTED",
                 "min_tls_version": "TLS_1_0" if bad else "TLS_1_2", "custom_features": None}
        unknown.update(self_link=True, fingerprint=True, enabled_features=True,
                       creation_timestamp=True)
    elif kind == "proxy":
        rtype = "google_compute_target_https_proxy"
        after = {"name": f"web-{i}", "project": PROJECT, "quic_override": "NONE",
                 "ssl_certificates": [f"projects/{PROJECT}/global/sslCertificates/c{i}"],
                 "url_map": f"projects/{PROJECT}/global/urlMaps/m{i}", "certificate_map": None}
        unknown.update(self_link=True, ssl_policy=True, proxy_id=True)
        # the proxy's policy is the SSL policy planned just before it
        refs = {"ssl_policy": {"references": [f"google_compute_ssl_policy.r{i - 1}.id",
                                              f"google_compute_ssl_policy.r{i - 1}"]}}
    elif kind == "firewall":
        rtype = "google_compute_firewall"
        after = {"name": f"fw-{i}", "project": PROJECT, "network": "phi-vpc",
                 "direction": "INGRESS", "disabled": False, "priority": 1000,
                 "source_ranges": ["0.0.0.0/0"] if bad else ["10.0.0.0/8"],
                 "allow": [{"protocol": "tcp", "ports": ["22" if bad else "443"]}],
                 "deny": [], "target_tags": ["app"], "source_tags": None, "log_config": []}
        unknown.update(self_link=True, creation_timestamp=True, destination_ranges=True)
    elif kind == "sql":
        module, rtype, name, index = "module.db", "google_sql_database_instance", "main", i
        after = _sql(i, bad)
        unknown.update(self_link=True, ip_address=True, connection_name=True,
                       instance_type=True)
    elif kind == "bucket":
        rtype, name, index = "google_storage_bucket", "data", f"b{i}"
        after = {"name": f"phi-prod-data-{i}", "project": PROJECT,
                 "location": "US-EAST4" if bad else "US", "storage_class": "STANDARD",
                 "uniform_bucket_level_access": not bad,
                 "public_access_prevention": "inherited" if bad else "enforced",
                 "versioning": [{"enabled": not bad}], "labels": {"data": "phi"},
                 "encryption": [] if bad else [{"default_kms_key_name":
                                                f"projects/{PROJECT}/locations/us/keyRings/r/"
                                                "cryptoKeys/gcs"}],
                 "soft_delete_policy": [{"retention_duration_seconds": 604800}],
                 "force_destroy": False}
        unknown.update(self_link=True, url=True)
    elif kind == "iam":
        rtype = "google_project_iam_member"
        after = {"project": PROJECT, "condition": [],
                 "role": "roles/editor" if bad else "roles/logging.viewer",
                 "member": f"user:person{i}@example-health.com" if bad
                 else f"group:team{i}@example-health.com"}
        unknown.update(etag=True)
    else:
        rtype = "google_service_account_key"
        after = {"service_account_id": f"projects/{PROJECT}/serviceAccounts/"
                                       f"sa{i}@{PROJECT}.iam.gserviceaccount.com",
                 "key_algorithm": "KEY_ALG_RSA_2048", "keepers": None,
                 "private_key_type": "TYPE_GOOGLE_CREDENTIALS_FILE",
                 "public_key_type": "TYPE_X509_PEM_FILE"}
        unknown.update(name=True, private_key=True, public_key=True, valid_after=True,
                       valid_before=True)
    key = "" if index is None else (f"[{index}]" if isinstance(index, int) else f'["{index}"]')
    local = f"{rtype}.{name}"
    address = f"{module}.{local}{key}" if module else f"{local}{key}"
    change: dict[str, Any] = {"address": address, "mode": "managed", "type": rtype,
                              "name": name, "provider_name": PROVIDER,
                              "change": {"actions": ["create"], "before": None, "after": after,
                                         "after_unknown": unknown, "before_sensitive": False,
                                         "after_sensitive": {}}}
    if module:
        change["module_address"] = module
    if index is not None:
        change["index"] = index
    expressions = {k: {"constant_value": v} for k, v in after.items()
                   if not isinstance(v, list | dict) and v is not None}
    expressions.update(refs)
    config = {"address": local, "mode": "managed", "type": rtype, "name": name,
              "provider_config_key": "google", "expressions": expressions, "schema_version": 0}
    return change, config


def generate(resources: int, seed: int = 1) -> bytes:
    """The plan document for `resources` resources."""
    rng = random.Random(seed)
    changes: list[dict[str, Any]] = []
    root: dict[str, dict[str, Any]] = {}
    module: dict[str, dict[str, Any]] = {}
    planned: list[dict[str, Any]] = []
    i = 0
    while i < resources:
        kind = KINDS[(i // 2) % len(KINDS)] if i % 2 == 0 else None
        if kind is None:  # the second of a pair: a proxy after its policy, else the same kind
            kind = "proxy" if KINDS[(i // 2) % len(KINDS)] == "ssl" else KINDS[
                (i // 2) % len(KINDS)]
        bad = rng.random() < 0.5
        change, config = resource(kind, i, bad)
        changes.append(change)
        target = module if change.get("module_address") else root
        target.setdefault(config["address"], config)
        planned.append({k: change[k] for k in ("address", "mode", "type", "name")}
                       | {"values": change["change"]["after"], "schema_version": 0})
        i += 1
    doc = {
        "format_version": "1.2", "terraform_version": "1.9.5",
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {"provider_config": {"google": {"name": "google",
                                                         "full_name": PROVIDER}},
                          "root_module": {"resources": list(root.values()), "module_calls": {
                              "db": {"source": "./modules/db",
                                     "module": {"resources": list(module.values())}}}}},
        "timestamp": "2026-11-25T09:00:00Z", "errored": False,
    }
    return orjson.dumps(doc)


CONFIG = 'organization: "123456789012"\nphi:\n  projects: [phi-prod]\n'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.write_bytes(generate(args.resources, args.seed))
    args.out.with_name("phiguard.yaml").write_text(CONFIG)


if __name__ == "__main__":
    main()
