"""Converter table for Cloud SQL instances."""

from __future__ import annotations

from typing import Any

from phiguard.terraform.convert import (
    Context,
    Converter,
    Field,
    each,
    register,
)
from phiguard.terraform.tables._refs import (
    NETWORK,
)
from phiguard.terraform.values import is_unknown, tf_get

SETTINGS = "settings."
BACKUP = SETTINGS + "backup_configuration."
IP_CONFIG = SETTINGS + "ip_configuration."


def _sql_build(data: dict[str, Any], values: Any, ctx: Context) -> None:
    if ctx.change is not None:
        data["project"] = ctx.project_of(ctx.change, values)
    master = data.get("masterInstanceName")
    if (is_unknown(master) and ctx.change is not None and ctx.change.is_create
            and ctx.configured(ctx.change, "master_instance_name") is False):
        # master_instance_name is optional and computed: the plan marks it known only after
        # apply even when the configuration leaves it out, and then the instance is a primary
        # (no primary to replicate), which CAI writes without masterInstanceName.
        del data["masterInstanceName"]
        master = None
    if "instanceType" not in data or is_unknown(data.get("instanceType")):
        if isinstance(master, str) and master:
            data["instanceType"] = "READ_REPLICA_INSTANCE"
        elif master is None:
            data["instanceType"] = "CLOUD_SQL_INSTANCE"
    # With public IPv4 off, the instance gets no PRIMARY (public) address after apply.
    addresses = tf_get(values, "ip_address")
    settings = data.get("settings")
    ip_config = settings.get("ipConfiguration") if isinstance(settings, dict) else None
    ipv4 = ip_config.get("ipv4Enabled") if isinstance(ip_config, dict) else None
    if (isinstance(ip_config, dict) and ip_config.get("requireSsl") is True
            and ctx.change is not None
            and ctx.configured(ctx.change, IP_CONFIG + "ssl_mode") is False
            and is_unknown(tf_get(values, IP_CONFIG + "ssl_mode"))):
        # sqladmin v1 allows only TRUSTED_CLIENT_CERTIFICATE_REQUIRED (MySQL, PostgreSQL) or
        # ENCRYPTED_ONLY (SQL Server) with requireSsl true: the API default of sslMode does not
        # apply, and the record carries the legacy flag alone, as an instance from before sslMode.
        ip_config.pop("sslMode", None)
    if isinstance(addresses, list):
        data["ipAddresses"] = [{"ipAddress": a.get("ip_address"), "type": a.get("type")}
                               for a in addresses if isinstance(a, dict)]
    elif ipv4 is False:
        data["ipAddresses"] = []


SQL = Converter(
    tf_type="google_sql_database_instance", asset_type="sqladmin.googleapis.com/Instance",
    name="//cloudsql.googleapis.com/projects/{project}/instances/{name}", location="{region}",
    constants={"kind": "sql#instance"},
    fields=(Field("name", "name"), Field("region", "region"),
            Field("database_version", "databaseVersion"),
            Field("master_instance_name", "masterInstanceName"),
            Field("instance_type", "instanceType"),
            Field("encryption_key_name", "diskEncryptionConfiguration.kmsKeyName", ref="{}"),
            Field(SETTINGS + "tier", "settings.tier"),
            Field(SETTINGS + "availability_type", "settings.availabilityType", api_default="ZONAL"),
            Field(SETTINGS + "deletion_protection_enabled", "settings.deletionProtectionEnabled",
                  api_default=False),
            Field(SETTINGS + "user_labels", "settings.userLabels"),
            Field(BACKUP + "enabled", "settings.backupConfiguration.enabled", api_default=False),
            Field(BACKUP + "binary_log_enabled", "settings.backupConfiguration.binaryLogEnabled",
                  api_default=False),
            Field(BACKUP + "point_in_time_recovery_enabled",
                  "settings.backupConfiguration.pointInTimeRecoveryEnabled", api_default=False),
            Field(BACKUP + "start_time", "settings.backupConfiguration.startTime"),
            Field(BACKUP + "location", "settings.backupConfiguration.location", api_default=None),
            Field(BACKUP + "transaction_log_retention_days",
                  "settings.backupConfiguration.transactionLogRetentionDays"),
            Field(BACKUP + "backup_retention_settings.retained_backups",
                  "settings.backupConfiguration.backupRetentionSettings.retainedBackups",
                  api_default=7),
            Field(BACKUP + "backup_retention_settings.retention_unit",
                  "settings.backupConfiguration.backupRetentionSettings.retentionUnit"),
            Field(IP_CONFIG + "ipv4_enabled", "settings.ipConfiguration.ipv4Enabled",
                  api_default=True),
            Field(IP_CONFIG + "private_network", "settings.ipConfiguration.privateNetwork",
                  ref=NETWORK),
            Field(IP_CONFIG + "ssl_mode", "settings.ipConfiguration.sslMode",
                  api_default="ALLOW_UNENCRYPTED_AND_ENCRYPTED"),
            Field(IP_CONFIG + "require_ssl", "settings.ipConfiguration.requireSsl"),
            Field(IP_CONFIG + "authorized_networks", "settings.ipConfiguration.authorizedNetworks",
                  each(Field("name", "name"), Field("value", "value"),
                       Field("expiration_time", "expirationTime"))),
            Field(SETTINGS + "database_flags", "settings.databaseFlags",
                  each(Field("name", "name"), Field("value", "value")))),
    build=_sql_build)


register(
    SQL,
)
