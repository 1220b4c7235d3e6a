"""phiguard.yaml: organization, PHI scope, rule parameters, rule selection and waivers.

The contract other tools rely on (extend it, never rename it):

    organization: "123456789012"
    phi: {all: false, projects: [...], folders: [...], project_labels: {k: v}, networks: [...]}
    params: {RULE-ID: {name: value}}
    rules: {enable: [RULE-ID], disable: [RULE-ID]}
    waivers: [{rule, asset, reason, approved_by, expires}]
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from phiguard._util.yamlloc import LocDict, LocList, load_yaml
from phiguard.errors import ConfigError
from phiguard.inventory.scope import PhiConfig, network_problem
from phiguard.policy.rule import RulePack, param_problem

__all__ = ["Config", "Waiver", "load_config"]

_TOP = ("organization", "phi", "params", "rules", "waivers")
_PHI = ("all", "projects", "folders", "project_labels", "networks")
_WAIVER = ("rule", "asset", "reason", "approved_by", "expires")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Waiver:
    """An accepted risk: turns one rule's FAIL on matching assets into WAIVED until it expires."""

    rule: str
    asset: str
    reason: str
    approved_by: str
    expires: date
    line: int = 0

    def matches(self, rule_id: str, asset: str) -> bool:
        if rule_id != self.rule:
            return False
        if any(c in self.asset for c in "*?["):
            return fnmatch.fnmatchcase(asset, self.asset)
        return asset == self.asset

    def expired(self, at: datetime) -> bool:
        """Expired once the evaluation time is past the end of the `expires` day (UTC)."""
        return at > datetime.combine(self.expires, time.max, tzinfo=UTC)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "asset": self.asset, "reason": self.reason,
                "approved_by": self.approved_by, "expires": self.expires.isoformat()}


@dataclass(frozen=True)
class Config:
    organization: str | None = None
    phi: PhiConfig = field(default_factory=PhiConfig)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    enable: frozenset[str] = frozenset()
    disable: frozenset[str] = frozenset()
    waivers: tuple[Waiver, ...] = ()
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The effective configuration, recorded with every run."""
        return {
            "organization": self.organization,
            "phi": self.phi.to_json(),
            "params": {k: dict(sorted(v.items())) for k, v in sorted(self.params.items())},
            "rules": {"enable": sorted(self.enable), "disable": sorted(self.disable)},
            "waivers": [w.to_json() for w in self.waivers],
        }

    def check_against(self, pack: RulePack) -> None:
        """Every rule id and parameter the config names must exist in the pack, typed right."""
        rules = pack.by_id()
        raw_params = self.raw.get("params") or LocDict()
        for rule_id, values in self.params.items():
            if rule_id not in rules:
                raise self._err(f"params names unknown rule {rule_id}", raw_params, rule_id)
            specs = rules[rule_id].params
            for name, value in values.items():
                node = raw_params.get(rule_id)
                if name not in specs:
                    known = ", ".join(specs) or "none"
                    raise self._err(f"rule {rule_id} has no parameter {name!r} (it has: {known})",
                                    node, name)
                problem = param_problem(rules[rule_id], name, value)
                if problem:
                    raise self._err(problem, node, name)
        raw_rules = self.raw.get("rules") or LocDict()
        for key in ("enable", "disable"):
            items = raw_rules.get(key) or []
            for i, rule_id in enumerate(items):
                if rule_id not in rules:
                    raise self._err(f"rules.{key} names unknown rule {rule_id}", items, i)
        raw_waivers = self.raw.get("waivers") or []
        for i, waiver in enumerate(self.waivers):
            if waiver.rule not in rules:
                raise self._err(f"waiver names unknown rule {waiver.rule}", raw_waivers[i], "rule")

    def _err(self, msg: str, node: Any, key: Any) -> ConfigError:
        line = col = None
        if isinstance(node, LocDict | LocList):
            line, col = node.pos(key)
        return ConfigError(msg, file=self.path, line=line, column=col)


def _strs(v: Any, node: LocDict, key: str, file: str) -> frozenset[str]:
    if v is None:
        return frozenset()
    if not isinstance(v, list) or not all(isinstance(x, str | int) and not isinstance(x, bool)
                                          for x in v):
        line, col = node.pos(key)
        raise ConfigError(f"`{key}` must be a list of strings", file=file, line=line, column=col)
    return frozenset(str(x) for x in v)


def _mapping(v: Any, what: str, parent: LocDict, key: str, file: str) -> LocDict:
    if v is None:
        return LocDict()
    if not isinstance(v, LocDict):
        line, col = parent.pos(key)
        raise ConfigError(f"{what} must be a mapping", file=file, line=line, column=col)
    return v


def _labels(node: LocDict, file: str) -> dict[str, str]:
    """Label values as GCP writes them: YAML `true` and `5` mean the label text "true", "5"."""
    out: dict[str, str] = {}
    for key, value in node.items():
        if isinstance(value, bool):
            out[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[str(key)] = str(value)
        else:
            line, col = node.pos(key)
            raise ConfigError(f"`phi.project_labels.{key}` must be a label value (text)",
                              file=file, line=line, column=col)
    return out


def _unknown_keys(node: LocDict, allowed: tuple[str, ...], where: str, file: str) -> None:
    for key in node:
        if key not in allowed:
            line, col = node.pos(key)
            raise ConfigError(f"unknown key `{key}` in {where} (expected one of: "
                              f"{', '.join(allowed)})", file=file, line=line, column=col)


NO_CONFIG_NOTE = ("no --config given: every resource is treated as holding PHI (write a "
                  "phiguard.yaml with a `phi:` scope to judge only what holds PHI)")


def load_config(path: Path | None) -> Config:
    """Load phiguard.yaml. Without one, everything is in PHI scope: a scanner that silently
    judged nothing for want of a scope would look like a pass."""
    if path is None:
        return Config(phi=PhiConfig(all=True))
    file = str(path)
    raw = load_yaml(path, ConfigError)
    if raw is None:
        raw = LocDict()
    if not isinstance(raw, LocDict):
        raise ConfigError("phiguard.yaml must be a mapping of settings", file=file, line=1)
    _unknown_keys(raw, _TOP, "phiguard.yaml", file)
    org = raw.get("organization")
    if org is not None and not isinstance(org, str | int):
        line, col = raw.pos("organization")
        raise ConfigError("`organization` must be the organization id, quoted",
                          file=file, line=line, column=col)
    phi_raw = _mapping(raw.get("phi"), "`phi`", raw, "phi", file)
    _unknown_keys(phi_raw, _PHI, "phi", file)
    everything = phi_raw.get("all", False)
    if not isinstance(everything, bool):
        line, col = phi_raw.pos("all")
        raise ConfigError("`phi.all` must be true or false", file=file, line=line, column=col)
    labels = _mapping(phi_raw.get("project_labels"), "`phi.project_labels`", phi_raw,
                      "project_labels", file)
    folders = _strs(phi_raw.get("folders"), phi_raw, "folders", file)
    for folder in folders:
        if not folder.startswith("folders/"):
            line, col = phi_raw.pos("folders")
            raise ConfigError(f"folder {folder!r} must be written folders/NUMBER",
                              file=file, line=line, column=col)
    networks = _strs(phi_raw.get("networks"), phi_raw, "networks", file)
    for i, entry in enumerate(phi_raw.get("networks") or ()):
        problem = network_problem(str(entry))
        if problem:
            items = phi_raw["networks"]
            line, col = items.pos(i) if isinstance(items, LocList) else phi_raw.pos("networks")
            raise ConfigError(f"phi.networks: {problem}", file=file, line=line, column=col)
    phi = PhiConfig(
        all=everything,
        projects=_strs(phi_raw.get("projects"), phi_raw, "projects", file),
        folders=folders,
        project_labels=_labels(labels, file),
        networks=networks,
    )
    params_raw = _mapping(raw.get("params"), "`params`", raw, "params", file)
    params: dict[str, dict[str, Any]] = {}
    for rule_id, values in params_raw.items():
        params[str(rule_id)] = dict(_mapping(values, f"params for {rule_id}", params_raw,
                                             rule_id, file))
    rules_raw = _mapping(raw.get("rules"), "`rules`", raw, "rules", file)
    _unknown_keys(rules_raw, ("enable", "disable"), "rules", file)
    waivers_raw = raw.get("waivers")
    if waivers_raw is None:
        waivers_raw = LocList()
    if not isinstance(waivers_raw, LocList):
        line, col = raw.pos("waivers")
        raise ConfigError("`waivers` must be a list", file=file, line=line, column=col)
    waivers = []
    for i, w in enumerate(waivers_raw):
        if not isinstance(w, LocDict):
            line, col = waivers_raw.pos(i)
            raise ConfigError("a waiver must be a mapping", file=file, line=line, column=col)
        _unknown_keys(w, _WAIVER, "a waiver", file)
        for key in _WAIVER:
            if key == "expires" and w.get(key) is not None and not isinstance(w[key], str):
                w[key] = str(w[key])  # `expires: 20270131` is a YAML number: report it as a date
            if not isinstance(w.get(key), str) or not w[key].strip():
                line, col = w.pos(key) if key in w else (w.line, w.column)
                raise ConfigError(f"a waiver needs `{key}` (text)", file=file, line=line,
                                  column=col)
        try:
            text = w["expires"].strip()
            if not _DATE.match(text):
                raise ValueError(text)
            expires = date.fromisoformat(text)
        except ValueError:
            line, col = w.pos("expires")
            raise ConfigError(f"waiver `expires` must be a date (YYYY-MM-DD), got {w['expires']!r}",
                              file=file, line=line, column=col) from None
        waivers.append(Waiver(w["rule"], w["asset"], w["reason"], w["approved_by"], expires,
                              w.line))
    return Config(
        organization=str(org) if org is not None else None,
        phi=phi,
        params=params,
        enable=_strs(rules_raw.get("enable"), rules_raw, "enable", file),
        disable=_strs(rules_raw.get("disable"), rules_raw, "disable", file),
        waivers=tuple(waivers),
        path=file,
        raw=raw,
    )
