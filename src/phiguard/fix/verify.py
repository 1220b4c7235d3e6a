"""Judge one resource, as the API returns it, with phiguard's own engine and rule.

After a change the re-read REST body is wrapped as a Cloud Asset Inventory record of the
finding's asset type and name (its resource `data`, or its IAM policy) and the finding's rule
is evaluated on it alone, with the whole snapshot in PHI scope. The rule is judged as the scan
that produced the findings judged it: a `Verifier` holds the rule pack and the parameters and
waivers the findings record (`run.rule_pack_digest`, `run.config.params`, `run.config.waivers`),
so a team that raised a parameter gets the same verdict in the fix journal as in its next scan.
When the findings were judged with another rule pack than the one phiguard has, the verdict is
NOT-EVALUATED, with why. Joins that need other assets (a proxy's SSL policy, a project's
ancestors) see only what the kind adds as context; without it the honest answer is UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from phiguard.config import Waiver

if TYPE_CHECKING:
    from phiguard.fix.api import FixApi
    from phiguard.fix.kinds import Kind
    from phiguard.policy.rule import Rule, RulePack

__all__ = ["NOT_EVALUATED", "Verifier", "record_for"]

NOT_EVALUATED = "NOT-EVALUATED"
_WAIVER_KEYS = ("rule", "asset", "reason", "approved_by", "expires")


@lru_cache(maxsize=1)
def _bundled() -> RulePack:
    from phiguard._util.bundled import rules_dir
    from phiguard.policy.rule import load_pack

    return load_pack([rules_dir()])


def record_for(kind: Kind, asset: str, body: Any) -> dict[str, Any]:
    """A REST body as the CAI record of `asset` (camelCase, as the Asset API writes it)."""
    record: dict[str, Any] = {"name": asset, "assetType": kind.asset_type}
    if kind.content == "IAM_POLICY":
        record["iamPolicy"] = body
    else:
        record["resource"] = {"data": body}
    return record


@dataclass(frozen=True)
class Verifier:
    """The rules, parameters and waivers findings were judged with, to judge a fix the same way.

    `recorded_digest` is the rule pack digest the findings name (None: they name none, as
    hand-written findings may); `pack` is the pack phiguard judges with (the bundled one)."""

    pack: RulePack
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    waivers: tuple[Waiver, ...] = ()
    recorded_digest: str | None = None

    @classmethod
    def of_findings(cls, doc: Mapping[str, Any], pack: RulePack | None = None) -> Verifier:
        """What a findings document records in `run` (its pack digest and configuration)."""
        run = doc.get("run")
        run = run if isinstance(run, Mapping) else {}
        config = run.get("config")
        config = config if isinstance(config, Mapping) else {}
        return cls.of_recorded({"rule_pack_digest": run.get("rule_pack_digest"),
                                "params": config.get("params"),
                                "waivers": config.get("waivers")}, pack)

    @classmethod
    def of_recorded(cls, recorded: Any, pack: RulePack | None = None) -> Verifier:
        """From what a fix plan records (`judged_with`, see `recorded`); ValueError names what
        is malformed."""
        pack = pack or _bundled()
        if recorded is None:
            return cls(pack)
        if not isinstance(recorded, Mapping):
            raise ValueError("`judged_with` must be an object")
        digest = recorded.get("rule_pack_digest")
        if digest is not None and not isinstance(digest, str):
            raise ValueError("`judged_with.rule_pack_digest` must be a string")
        params = recorded.get("params")
        params = {} if params is None else params
        if not isinstance(params, Mapping) or not all(
                isinstance(k, str) and isinstance(v, Mapping) for k, v in params.items()):
            raise ValueError("`judged_with.params` must map rule ids to parameter objects")
        waivers = recorded.get("waivers")
        waivers = [] if waivers is None else waivers
        if not isinstance(waivers, list):
            raise ValueError("`judged_with.waivers` must be a list")
        return cls(pack, {k: dict(v) for k, v in params.items()},
                   tuple(_waiver(w, i) for i, w in enumerate(waivers)), digest)

    def recorded(self) -> dict[str, Any] | None:
        """What a fix plan records so that `fix apply` judges as the findings did (None when
        the findings recorded nothing: the bundled pack and default parameters)."""
        if self.recorded_digest is None and not self.params and not self.waivers:
            return None
        return {"rule_pack_digest": self.recorded_digest,
                "params": {k: dict(v) for k, v in self.params.items()},
                "waivers": [w.to_json() for w in self.waivers]}

    def rule(self, rule_id: str) -> Rule | None:
        return self.pack.by_id().get(rule_id)

    def rules_fixed_by(self, action_id: str) -> list[Rule]:
        """The rules whose `remediation.fix` names this action."""
        return [r for r in self.pack.rules if r.remediation.get("fix") == action_id]

    def _other_pack(self) -> str | None:
        mine = f"sha256:{self.pack.digest}"
        if self.recorded_digest is None or self.recorded_digest == mine:
            return None
        return (f"the findings were judged with rule pack {self.recorded_digest}, phiguard "
                f"verifies with {mine}: scan again with this phiguard, then plan the fix")

    def judge(self, api: FixApi | None, rule_id: str, asset: str, kind: Kind,
              target: dict[str, str], body: Any, now: datetime) -> tuple[str, str]:
        """(outcome, message): PASS / FAIL / UNKNOWN / WAIVED from the engine, with the
        findings' parameters and waivers, or NOT-EVALUATED with why."""
        from phiguard.errors import PhiguardError
        from phiguard.fix.api import ApiError
        from phiguard.policy.waivers import WaiverBook
        from phiguard.testing import assets_from_records, run_rule

        other = self._other_pack()
        if other is not None:
            return NOT_EVALUATED, other
        rule = self.rule(rule_id)
        if rule is None:
            return NOT_EVALUATED, f"{rule_id} is not in the built-in rule pack"
        records = kind.records(kind, asset, target, body) if kind.records else [
            record_for(kind, asset, body)]
        try:
            if kind.context is not None and api is not None:
                records += kind.context(api, target, body)
            assets = assets_from_records(records, "<re-read>")
            finding = run_rule(rule, assets, config={"phi": {"all": True}},
                               params=dict(self.params.get(rule_id, {})), at=now).get(asset)
        except ApiError as exc:  # reading the context failed: the change itself stands
            return NOT_EVALUATED, f"context unreadable: {exc}"
        except PhiguardError as exc:  # after ApiError, which is one too
            return NOT_EVALUATED, str(exc)
        if finding is None:
            return NOT_EVALUATED, f"{rule_id} does not apply to the re-read resource"
        finding = WaiverBook(self.waivers, now).apply(finding)
        return finding.outcome.value, finding.message


def _waiver(raw: Any, i: int) -> Waiver:
    where = f"`judged_with.waivers[{i}]`"
    if not isinstance(raw, Mapping) or not all(isinstance(raw.get(k), str)
                                               for k in _WAIVER_KEYS):
        raise ValueError(f"{where} must be an object with the strings {', '.join(_WAIVER_KEYS)}")
    try:
        expires = date.fromisoformat(raw["expires"])
    except ValueError:
        raise ValueError(f"{where}.expires is not a date (YYYY-MM-DD)") from None
    return Waiver(raw["rule"], raw["asset"], raw["reason"], raw["approved_by"], expires)
