"""The converter tables, one module per Google Cloud service: each turns the google_* resource
types of that service into the assets Cloud Asset Inventory would show after apply.

Importing this package registers every table (`phiguard.terraform.convert.register`). The
tables hold resource-type knowledge only (fields, names, API defaults); which Terraform change
fixes a rule is declared by the rule (`remediation.terraform_fixes` in its rule.yaml).
"""

from __future__ import annotations

from phiguard.terraform.tables import (
    alloydb,
    apikeys,
    bigquery,
    bigquery_tables,
    cloudfunctions,
    compute,
    container,
    dataproc,
    dns_policies,
    dns_zones,
    firestore,
    healthcare,
    healthcare_stores,
    iam,
    images,
    kms,
    logging_buckets,
    logging_metrics,
    logging_sinks,
    monitoring,
    pubsub,
    pubsub_topics,
    redis,
    resourcemanager,
    run,
    secretmanager,
    secretmanager_secrets,
    serviceusage,
    spanner,
    sql,
    storage,
)

__all__ = ["alloydb", "apikeys", "bigquery", "bigquery_tables", "cloudfunctions", "compute",
           "container", "dataproc", "dns_policies", "dns_zones",
           "firestore", "healthcare", "healthcare_stores", "iam", "images", "kms",
           "logging_buckets", "logging_metrics", "logging_sinks", "monitoring", "pubsub",
           "pubsub_topics", "redis",
           "resourcemanager", "run", "secretmanager", "secretmanager_secrets", "serviceusage",
           "spanner", "sql", "storage"]
