"""Resource kinds whose IAM grants the public-exposure fixes remove: Pub/Sub topics and Secret
Manager secrets (their IAM policies, guarded by the policy `etag`) and BigQuery datasets (their
`access` list, written with `datasets.patch`)."""

from __future__ import annotations

import re
from typing import Any

from phiguard.fix.kinds import Kind

__all__ = ["BIGQUERY_DATASET", "PUBSUB_TOPIC_IAM", "SECRET_IAM"]

Json = dict[str, Any]
# googleapiclient's keyword for the query parameter `options.requestedPolicyVersion`: version 3
# returns conditional bindings as they are (an older version would refuse or mangle them).
POLICY_VERSION = "options_requestedPolicyVersion"


def _iam_request(resource: str) -> Any:
    def request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
        # setIamPolicy fails (409 ABORTED) when the policy changed since the etag was read
        return {"resource": resource.format(**target)}, {"policy": {**after, "etag": token}}
    return request


_TOPIC = "projects/{project}/topics/{topic}"
PUBSUB_TOPIC_IAM = Kind(
    "pubsub.Topic IAM policy",
    re.compile(r"//pubsub\.googleapis\.com/projects/(?P<project>[^/]+)/topics/(?P<topic>[^/]+)"),
    "pubsub.projects.topics.getIamPolicy", "pubsub.projects.topics.setIamPolicy", "etag",
    lambda t: {"resource": _TOPIC.format(**t), POLICY_VERSION: 3},
    lambda cur: str(cur.get("etag", "")), _iam_request(_TOPIC),
    terraform_type="google_pubsub_topic_iam_member", asset_type="pubsub.googleapis.com/Topic",
    content="IAM_POLICY")

# CAI names a secret by its project number, which the Secret Manager API accepts as well
_SECRET = "projects/{project}/secrets/{secret}"
SECRET_IAM = Kind(
    "secretmanager.Secret IAM policy",
    re.compile(r"//secretmanager\.googleapis\.com/projects/(?P<project>[^/]+)/secrets/"
               r"(?P<secret>[^/]+)"),
    "secretmanager.projects.secrets.getIamPolicy", "secretmanager.projects.secrets.setIamPolicy",
    "etag",
    lambda t: {"resource": _SECRET.format(**t), POLICY_VERSION: 3},
    lambda cur: str(cur.get("etag", "")), _iam_request(_SECRET),
    terraform_type="google_secret_manager_secret_iam_member",
    asset_type="secretmanager.googleapis.com/Secret", content="IAM_POLICY")


def _dataset_params(target: dict[str, str]) -> Json:
    # accessPolicyVersion 3: conditional access entries are read and written as they are
    return {"projectId": target["project"], "datasetId": target["dataset"],
            "accessPolicyVersion": 3}


def _dataset_request(target: dict[str, str], after: Json, token: str) -> tuple[Json, Any]:
    # the access list alone (updateMode UPDATE_ACL): the dataset's metadata is not written
    return {**_dataset_params(target), "updateMode": "UPDATE_ACL"}, after


BIGQUERY_DATASET = Kind(
    "bigquery.Dataset access list",
    re.compile(r"//bigquery\.googleapis\.com/projects/(?P<project>[^/]+)/datasets/"
               r"(?P<dataset>[^/]+)"),
    "bigquery.datasets.get", "bigquery.datasets.patch",
    "etag, compared on a re-read just before the write (datasets.patch checks an etag only "
    "in an If-Match header, which phiguard's discovery client does not send: a change landing "
    "between that re-read and the write is not detected)",
    _dataset_params, lambda cur: str(cur.get("etag", "")), _dataset_request,
    terraform_type="google_bigquery_dataset", asset_type="bigquery.googleapis.com/Dataset",
    server_checked=False)
