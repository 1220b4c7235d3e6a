"""The small organization of the PHI-reach tests, as Cloud Asset Inventory records:
organizations/123456789012 holds folders/222 (above phi-prod, 111111111111) and folders/444
(above web-prod, 333333333333, where the deployer service account lives)."""

from __future__ import annotations

from typing import Any

CRM = "//cloudresourcemanager.googleapis.com/"
ORG = "organizations/123456789012"
PHI_ANC = ["projects/111111111111", "folders/222", ORG]
WEB_ANC = ["projects/333333333333", "folders/444", ORG]
SA_EMAIL = "deployer@web-prod.iam.gserviceaccount.com"
SA_MEMBER = f"serviceAccount:{SA_EMAIL}"
SA_NAME = "//iam.googleapis.com/projects/web-prod/serviceAccounts/117730095516128349902"
CONFIG = {"phi": {"projects": ["phi-prod"]}}


def project(number: str, project_id: str, ancestors: list[str]) -> dict[str, Any]:
    """A project's record, its `parent` the next of its ancestors (none if it has none)."""
    kind, ident = ancestors[1].split("/") if len(ancestors) > 1 else ("", "")
    data: dict[str, Any] = {"projectNumber": number, "projectId": project_id,
                            "lifecycleState": "ACTIVE"}
    if kind:
        data["parent"] = {"type": kind.removesuffix("s"), "id": ident}
    return {"name": f"{CRM}projects/{number}",
            "asset_type": "cloudresourcemanager.googleapis.com/Project",
            "resource": {"data": data}, "ancestors": ancestors}


def web() -> dict[str, Any]:
    """web-prod, under folders/444: not in PHI scope."""
    return project("333333333333", "web-prod", WEB_ANC)


def account() -> dict[str, Any]:
    """The deployer service account, in web-prod."""
    return {"name": SA_NAME, "asset_type": "iam.googleapis.com/ServiceAccount",
            "resource": {"data": {"name": f"projects/web-prod/serviceAccounts/{SA_EMAIL}",
                                  "projectId": "web-prod", "uniqueId": "117730095516128349902",
                                  "email": SA_EMAIL}},
            "ancestors": WEB_ANC}


def user(email: str = "ann@example-health.com") -> dict[str, Any]:
    """A Cloud Identity user (Admin SDK Directory API) without 2-Step Verification."""
    return {"kind": "admin#directory#user", "id": "104857392018475629301",
            "primaryEmail": email, "isAdmin": False, "isDelegatedAdmin": False,
            "suspended": False, "archived": False, "isEnrolledIn2Sv": False,
            "isEnforcedIn2Sv": False}
