"""Converter table for Cloud Monitoring alert policies (CIS 2.5-2.12 read them)."""

from __future__ import annotations

from phiguard.terraform.convert import (
    Converter,
    Field,
    each,
    register,
)
from phiguard.terraform.tables._refs import (
    last_segment,
)

register(
    Converter(
        tf_type="google_monitoring_alert_policy",
        asset_type="monitoring.googleapis.com/AlertPolicy",
        # the id is assigned by the API: a new policy is named by its address until apply
        name="//monitoring.googleapis.com/projects/{project}/alertPolicies/{policy}",
        names={"policy": Field("name", "", last_segment)},
        location="global",
        fields=(Field("display_name", "displayName"), Field("combiner", "combiner"),
                # the provider's default, and what the API assumes on write when unset
                Field("enabled", "enabled", api_default=True),
                Field("notification_channels", "notificationChannels"),
                Field("severity", "severity"),
                Field("conditions", "conditions", each(
                    Field("display_name", "displayName"),
                    Field("condition_threshold.filter", "conditionThreshold.filter"),
                    Field("condition_threshold.comparison", "conditionThreshold.comparison"),
                    Field("condition_threshold.threshold_value",
                          "conditionThreshold.thresholdValue"),
                    Field("condition_threshold.duration", "conditionThreshold.duration"),
                    Field("condition_monitoring_query_language.query",
                          "conditionMonitoringQueryLanguage.query"))))),
)
