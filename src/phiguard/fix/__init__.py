"""Fixes: findings become a reviewed plan of API changes, applied exactly and guarded.

`build_plan` reads each failing resource through the API and records the request, the state
before and after and the precondition (etag, fingerprint, metageneration, settings version);
`apply_plan` sends exactly those requests, skipping any resource changed since the plan, and
journals every action before the next one starts.
"""

from phiguard.fix.actions import ACTIONS, Action, action_by_id, actions_for, manual_reason
from phiguard.fix.api import ApiError, FixApi, FixError
from phiguard.fix.verify import Verifier

__all__ = ["ACTIONS", "Action", "ApiError", "FixApi", "FixError", "Verifier", "action_by_id",
           "actions_for", "manual_reason"]
