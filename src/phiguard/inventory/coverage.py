"""Which CAI content a snapshot holds, so a rule never judges content that was not collected.

A resource-only export has no IAM policies: a rule that reads bindings would find none and
pass. `Coverage` answers, per asset, whether a content type was collected for it; when it was
not, rules see an unknown value (UNKNOWN, with the reason), never an empty policy. It knows:

- the content types the snapshot holds: the manifest's `content_types` when a manifest says so,
  else the types some record carries;
- the coverage gaps: (content type, parent) pairs whose collection failed (manifest `sources`
  entries with an `error`), which leave every asset below that parent uncovered;
- the asset types whose resources were collected, so a rule that looks for assets of a type
  (`find`, `referrers`) on a partial export (`gcloud asset export --asset-types=...`) is UNKNOWN,
  not "none exist": a type is collected when the manifest says every type was requested
  (`asset_types_requested` of RESOURCE content `"*"`, as `phiguard collect` writes it), when
  the manifest lists it (requested or counted), or when the snapshot holds at least one
  resource of it. A type with no assets and no such statement is not known to be collected.

A `find` or `referrers` over several types, some collected and some not, is known in part
(`PartialItems`): the assets of the collected types are elements of it, more may exist. What
they decide stands (`judge_partial`); only what the missing types could change is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from phiguard.inventory.asset import CONTENT_TYPES, USER_TYPE, UnknownValue

__all__ = ["ALL_TYPES", "IAM_POLICY", "PARTIAL_OPS", "PLAN", "PLAN_AND_SNAPSHOT", "SNAPSHOT",
           "Coverage", "PartialItems", "asset_types_missing", "coverage_from_manifest",
           "judge_partial", "pre_v1_types", "run_coverage", "run_coverage_warnings",
           "run_types_missing", "subject_types", "types_cited", "types_from_manifest",
           "types_missing_warning", "types_sought", "unassessed_rules"]

RESOURCE, IAM_POLICY, ORG_POLICY, ACCESS_POLICY = CONTENT_TYPES

_WHAT = {RESOURCE: "resource", IAM_POLICY: "IAM policies", ORG_POLICY: "org policies",
         ACCESS_POLICY: "access policies"}

SNAPSHOT, PLAN, PLAN_AND_SNAPSHOT = "snapshot", "plan", "plan+snapshot"
ALL_TYPES = "*"  # in the asset types collected: every type was
# Why assets of some types may exist that the snapshot does not hold, by where the assets come
# from (a plan alone declares every asset the gate judges against: see `Coverage`).
_TYPES_ABSENT = {
    SNAPSHOT: "unknown: the snapshot has no {types} assets and does not say they were "
              "collected (a partial export? export them too, at the organization: gcloud "
              "asset export --organization=ORG --asset-types={listed}, or export every asset "
              "type, or use phiguard collect)",
    PLAN_AND_SNAPSHOT: "unknown: the snapshot has no {types} assets and does not say they "
                       "were collected (a partial export? export them too, at the "
                       "organization: gcloud asset export --organization=ORG "
                       "--asset-types={listed}), so those the plan does not declare are not "
                       "known",
}
# Why a content type is absent everywhere, by where the content comes from ...
_ABSENT = {
    SNAPSHOT: "unknown: the snapshot has no {what} (no {kind} content was collected)",
    PLAN: "unknown: the plan declares no {what} and no snapshot was given (pass --snapshot "
          "to judge the {kind} content that exists)",
    PLAN_AND_SNAPSHOT: "unknown: neither the plan declares nor the snapshot holds {what} "
                       "(the snapshot has no {kind} content)",
}
# ... and below given hierarchy nodes (an asset's ancestors).
_ABSENT_AT = {
    PLAN: "unknown: the plan does not declare the {what} of {where} and no snapshot was "
          "given (pass --snapshot to judge the {kind} content that exists)",
    PLAN_AND_SNAPSHOT: "unknown: the plan does not declare the {what} of {where} and the "
                       "snapshot has no {kind} content",
}


class Coverage:
    """The content types held, and the parents below which one was not collected."""

    def __init__(self, held: Iterable[str], gaps: Iterable[tuple[str, str]] = (),
                 origin: str = SNAPSHOT, types: Iterable[str] = (ALL_TYPES,)) -> None:
        """`origin` says where the content comes from, so a reason names what is missing:
        the snapshot's content (SNAPSHOT), a plan's alone (PLAN) or a plan overlaid on a
        snapshot (PLAN_AND_SNAPSHOT). `types`: the asset types whose resources were collected
        (`ALL_TYPES` among them: every type). A plan alone (PLAN) judges what it declares:
        every type counts as collected there, as the gate has no snapshot to be partial."""
        self.held = frozenset(held)
        self.origin = origin
        self.types = frozenset(types)
        self.all_types = ALL_TYPES in self.types or origin == PLAN
        self._type_gaps: dict[tuple[str, ...], UnknownValue | None] = {}
        # Names of assets every referrer of which the input holds, whatever it says of their
        # types: those a plan creates (nothing that exists yet can refer to them).
        self.new: frozenset[str] = frozenset()
        self.gaps: dict[str, frozenset[str]] = {}
        for kind, parent in gaps:
            self.gaps[kind] = self.gaps.get(kind, frozenset()) | {parent}
        self._absent = {kind: UnknownValue(_ABSENT[origin].format(what=_WHAT[kind], kind=kind))
                        for kind in CONTENT_TYPES}
        self._resource_absent = UnknownValue(
            "unknown: the snapshot holds this asset's policies but not its resource "
            "(no RESOURCE record)")

    def gap_for(self, kind: str, nodes: Iterable[str]) -> UnknownValue | None:
        """The unknown value explaining why `kind` is missing below these hierarchy nodes
        (an asset's ancestors), or None when it was collected there."""
        if kind not in self.held:
            if self.origin == SNAPSHOT:
                return self._absent[kind]
            nodes = tuple(nodes)
            if not nodes:
                return self._absent[kind]
            return UnknownValue(_ABSENT_AT[self.origin].format(
                what=_WHAT[kind], kind=kind, where=", ".join(nodes)))
        parents = self.gaps.get(kind)
        if parents:
            for node in nodes:
                if node in parents:
                    return UnknownValue(f"unknown: {kind} content under {node} was not "
                                        "collected (a coverage gap in the snapshot's manifest)")
        return None

    def type_gap(self, types: tuple[str, ...]) -> UnknownValue | None:
        """Why assets of these types may exist that the snapshot does not hold (None: every
        one of them was collected, so the snapshot holds them all). Worked out once per tuple
        of types."""
        if self.all_types:
            return None
        found = self._type_gaps.get(types, _UNSEEN)
        if found is _UNSEEN:
            missing = [t for t in dict.fromkeys(types) if t not in self.types]
            found = self._type_gaps[types] = UnknownValue(
                _TYPES_ABSENT.get(self.origin, _TYPES_ABSENT[SNAPSHOT]).format(
                    types=" or ".join(missing), listed=",".join(missing))) if missing else None
        return found  # type: ignore[no-any-return]

    def known_in_part(self, types: tuple[str, ...], nodes: tuple[str, ...] | None) -> bool:
        """Whether the assets of these types (some not known to be collected: `type_gap`) are
        known in part (`PartialItems`): some of the types were collected, and no resource was
        left uncollected below `nodes` (the subject's ancestry; None: anywhere). The input
        holds no asset of a type not known to be collected, so those it holds of `types` are
        those of the collected ones (and, over a plan, the planned ones)."""
        if not any(t in self.types for t in types):
            return False
        return not (RESOURCE in self.gaps
                    and (nodes is None or self.gap_for(RESOURCE, nodes) is not None))

    def types_missing(self, types: Iterable[str]) -> list[str]:
        """Of these types, those not known to be collected."""
        return [] if self.all_types else sorted(set(types) - self.types)

    def gap_anywhere(self, kind: str) -> UnknownValue | None:
        """Why `kind` may be incomplete somewhere in the snapshot (None: complete)."""
        if kind not in self.held:
            return self._absent[kind]
        parents = self.gaps.get(kind)
        if parents:
            where = ", ".join(sorted(parents)[:3])
            return UnknownValue(f"unknown: {kind} content under {where} was not collected "
                                "(a coverage gap in the snapshot's manifest)")
        return None

    def missing(self) -> list[str]:
        """What the snapshot lacks, in sentences for the user (IAM and org policies, gaps)."""
        out = [f"the snapshot holds no {kind} content: rules that read {_WHAT[kind]} are "
               "UNKNOWN" for kind in (IAM_POLICY, ORG_POLICY) if kind not in self.held]
        for kind, parents in sorted(self.gaps.items()):
            out.append(f"{kind} content was not collected under {', '.join(sorted(parents))}: "
                       f"rules that read {_WHAT[kind]} are UNKNOWN below it")
        return out

    @property
    def resource_absent(self) -> UnknownValue:
        return self._resource_absent


_UNSEEN: Any = object()


class PartialItems(UnknownValue):
    """A list known only in part: `items` are elements of it, and more may exist that the input
    does not hold (`why`: the assets of a type not known to be collected, in a `find` or
    `referrers` over several types).

    Anything that does not know it sees an unknown value. A quantifier judges `items` and lets
    a verdict they decide stand (`some`: one passes; `every`: one fails; `none`: one matches),
    else it is UNKNOWN with `why`; a fan-out (`list[*].x`) gives the list of what it gives of
    the items, known in part too; an operator judges by `judge_partial`."""

    __slots__ = ("items",)

    def __init__(self, why: str, items: list[Any]) -> None:
        super().__init__(why)
        self.items = items


# Operators whose truth more elements cannot take away, and those whose falsity they cannot.
_MORE_KEEPS_TRUE = frozenset({"count_gte", "distinct_gte", "contains"})
_MORE_KEEPS_FALSE = frozenset({"count_lte", "not_contains"})
PARTIAL_OPS = _MORE_KEEPS_TRUE | _MORE_KEEPS_FALSE | {"empty"}  # those `judge_partial` decides


def judge_partial(op: str, fn: Callable[[Any, Any, Any], bool | None], value: PartialItems,
                  arg: Any, env: Any) -> bool | None:
    """An operator's answer on a list known in part: what its known elements decide whatever
    else it holds (at least N elements, N distinct values, an element found; not empty), None
    when that depends on the elements not known."""
    items = value.items
    if op == "empty":
        # more elements never make a non-empty list empty
        return (not arg) if items else None
    if op in _MORE_KEEPS_TRUE:
        return True if fn(items, arg, env) else None
    if op in _MORE_KEEPS_FALSE:
        return False if fn(items, arg, env) is False else None
    return None


def types_from_manifest(manifest: Mapping[str, Any] | None) -> frozenset[str]:
    """The asset types a snapshot manifest says were collected as RESOURCE content: `ALL_TYPES`
    when `asset_types_requested` requests every type (`"*"`, for RESOURCE or for all content),
    plus the types it requested by name and those its `asset_types` counts. Empty when it
    says nothing usable (then only the types the snapshot holds count)."""
    if not isinstance(manifest, Mapping):
        return frozenset()
    out: set[str] = set()
    requested = manifest.get("asset_types_requested")
    if isinstance(requested, Mapping):
        by_kind = {str(k).upper(): v for k, v in requested.items()}
        requested = by_kind.get(RESOURCE)
    if requested == ALL_TYPES:
        out.add(ALL_TYPES)
    elif isinstance(requested, list):
        out.update(t for t in requested if isinstance(t, str) and t)
    counted = manifest.get("asset_types")
    if isinstance(counted, Mapping):
        out.update(t for t, n in counted.items()
                   if isinstance(t, str) and isinstance(n, int) and n > 0)
    sources = manifest.get("sources")
    for source in sources if isinstance(sources, list) else ():
        if isinstance(source, Mapping) and not source.get("error"):
            out.update(_exported_types(source.get("command")))
    return frozenset(out)


_FLAG = re.compile(r"--([a-z-]+)(?:[= ]('[^']*'|\"[^\"]*\"|\S+))?")
_TYPE_NAME = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.googleapis\.com/[A-Za-z0-9]+")


def _exported_types(command: Any) -> set[str]:
    """The asset types a manifest source's recorded `gcloud asset export` command exported as
    RESOURCE content: every type (`ALL_TYPES`) without `--asset-types` ("otherwise, it will
    snapshot all asset types": Google's ExportAssetsRequest.asset_types), else the types it
    names exactly (a regular expression among them names nothing here: this only ever
    narrows). Nothing for another command, or another content type (without
    `--content-type` gcloud exports asset names only)."""
    if not isinstance(command, str) or not command.startswith(("gcloud asset export ",
                                                                "gcloud beta asset export ")):
        return set()
    flags = {m[1]: m[2].strip("'\"") for m in _FLAG.finditer(command)}
    if flags.get("content-type", "").lower() != "resource":
        return set()
    listed = flags.get("asset-types")
    if listed is None:
        return {ALL_TYPES}
    return {t for t in listed.split(",") if _TYPE_NAME.fullmatch(t)}


def coverage_from_manifest(manifest: Mapping[str, Any] | None,
                           ) -> tuple[frozenset[str] | None, tuple[tuple[str, str], ...]]:
    """(content types collected, coverage gaps) a snapshot manifest states; (None, ()) when
    it states nothing usable. Shapes not understood are ignored: this only ever narrows."""
    if not isinstance(manifest, Mapping):
        return None, ()
    raw = manifest.get("content_types")
    held = None
    if isinstance(raw, list) and all(isinstance(k, str) for k in raw):
        held = frozenset(k.upper() for k in raw) & frozenset(CONTENT_TYPES)
    gaps: list[tuple[str, str]] = []
    sources = manifest.get("sources")
    for source in sources if isinstance(sources, list) else ():
        if not isinstance(source, Mapping) or not source.get("error"):
            continue
        kind, parent = source.get("content_type"), source.get("parent")
        if isinstance(kind, str) and kind.upper() in CONTENT_TYPES and isinstance(parent, str):
            gaps.append((kind.upper(), parent))
    return held, tuple(gaps)


# The run level view of the types not known to be collected ------------------------------------

def types_sought(rules: Iterable[Any]) -> dict[str, list[str]]:
    """The asset types these rules look for with `find` or `referrers` lets (those of the
    definitions they use included), each with the ids of the rules that do, sorted. A rule's
    own asset types are left out: it looks for them only while judging an asset of them, so
    the type is then held (a rule that judges none of them is `subject_types_missing`)."""
    out: dict[str, set[str]] = {}
    for rule in rules:
        own = set(rule.asset_types)
        for form in rule.let.values():
            for kind in ("find", "referrers"):
                spec = form.get(kind) if isinstance(form, Mapping) else None
                if isinstance(spec, Mapping):
                    for asset_type in spec.get("types") or ():
                        if asset_type not in own:
                            out.setdefault(str(asset_type), set()).add(str(rule.id))
    return {t: sorted(ids) for t, ids in sorted(out.items())}


def asset_types_missing(coverage: Coverage, sought: Mapping[str, Sequence[str]],
                        ) -> list[dict[str, Any]]:
    """Of the types rules look for (`types_sought`), those the input does not know to be
    collected, each with the rules that look for it: the findings JSON's
    `run.asset_types_missing`, sorted by type (empty when the input says nothing is missing)."""
    return [{"asset_type": t, "rules": list(sought[t])} for t in coverage.types_missing(sought)]


def run_types_missing(rules: Iterable[Any], manifest: Mapping[str, Any] | None,
                      counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """`asset_types_missing` of a scan from what every engine has: the snapshot's manifest
    and its RESOURCE records by type (`run.asset_counts`). The same answer as its Inventory's
    coverage for the types rules look for: the Inventory holds every resource of them."""
    collected = types_from_manifest(manifest) | {t for t, n in counts.items() if n}
    return asset_types_missing(Coverage((), types=collected), types_sought(rules))


def subject_types(rules: Iterable[Any]) -> dict[str, list[str]]:
    """The asset types these rules judge (their own `asset_types`; `"*"` aside), each with the
    ids of the rules that judge it, sorted."""
    out: dict[str, set[str]] = {}
    for rule in rules:
        for asset_type in rule.asset_types:
            if asset_type != ALL_TYPES:
                out.setdefault(str(asset_type), set()).add(str(rule.id))
    return {t: sorted(ids) for t, ids in sorted(out.items())}


# Cloud Asset type names before v1 (2018 exports: google.compute.Firewall), which name no type
# a rule judges: Cloud Asset v1 names them service.googleapis.com/Kind.
_PRE_V1 = re.compile(r"google\.[a-z0-9]+(?:\.[a-z0-9]+)*\.[A-Z][A-Za-z0-9]*")


def pre_v1_types(counts: Mapping[str, int]) -> list[dict[str, Any]]:
    """The run's asset types of the pre-v1 form (`google.compute.Firewall`), each with its
    count of assets: the findings JSON's `run.pre_v1_asset_types`, sorted by type. No rule
    judges them, and their data has the older shape (`sourceRange`, `port`, `disk` where v1
    has `sourceRanges`, `ports`, `disks`), so they are named, not mapped."""
    return [{"asset_type": t, "assets": n} for t, n in sorted(counts.items())
            if n and _PRE_V1.fullmatch(t)]


def run_coverage(rules: Iterable[Any], manifest: Mapping[str, Any] | None,
                 counts: Mapping[str, int]) -> dict[str, Any]:
    """The run block's fields on the asset types rules judge that a scan cannot judge, from
    what every engine has (the snapshot's manifest, its assets by type: `run.asset_counts`,
    directory users included), each present only when not empty:
    - `subject_types_missing`: the types rules judge (their own `asset_types`) that the
      snapshot holds none of and does not know to be collected (`types_from_manifest`), each
      with those rules, which judged nothing of it: none may exist, or some may (a partial
      export). `[{"asset_type": ..., "rules": [...]}]`, sorted by type;
    - `pre_v1_asset_types`: `pre_v1_types`."""
    rules = list(rules)
    collected = types_from_manifest(manifest) | {t for t, n in counts.items() if n}
    out: dict[str, Any] = {}
    if ALL_TYPES not in collected:
        judged = subject_types(rules)
        missing = [{"asset_type": t, "rules": ids} for t, ids in judged.items()
                   if t not in collected]
        if missing:
            out["subject_types_missing"] = missing
    elif not counts.get(USER_TYPE):
        # directory users are no Cloud Asset type: every type exported leaves them unread
        ids = subject_types(rules).get(USER_TYPE)
        if ids:
            out["subject_types_missing"] = [{"asset_type": USER_TYPE, "rules": ids}]
    old = pre_v1_types(counts)
    if old:
        out["pre_v1_asset_types"] = old
    return out


def unassessed_rules(run: Mapping[str, Any]) -> frozenset[str]:
    """The rules a run block says judged nothing of an asset type of theirs that was not known
    to be collected (`subject_types_missing`): a control with one of them is not fully
    assessed, whatever its other rules found."""
    items = run.get("subject_types_missing")
    out: set[str] = set()
    for item in items if isinstance(items, list) else ():
        if isinstance(item, Mapping) and isinstance(item.get("rules"), list):
            out.update(str(r) for r in item["rules"])
    return frozenset(out)


_CITED = re.compile(r"has no (\S+(?: or \S+)*) assets and does not say they were collected")


def types_cited(message: str) -> list[str]:
    """The asset types a finding's message says were not known to be collected."""
    if "does not say they were collected" not in message:
        return []
    return sorted({t for found in _CITED.findall(message) for t in found.split(" or ")})


def _rule_ranges(ids: Sequence[str]) -> str:
    """Rule ids, runs of consecutive numbers of one prefix shortened: MON-001..008."""
    out: list[str] = []
    run: list[tuple[str, int, str]] = []

    def flush() -> None:
        if len(run) >= 3:
            out.append(f"{run[0][2]}..{run[-1][2].rsplit('-', 1)[1]}")
        else:
            out.extend(r[2] for r in run)
        run.clear()

    for rid in ids:
        prefix, _, number = rid.rpartition("-")
        if prefix and number.isdigit():
            if run and (run[-1][0] != prefix or run[-1][1] + 1 != int(number)
                        or len(run[-1][2]) != len(rid)):
                flush()
            run.append((prefix, int(number), rid))
        else:
            flush()
            out.append(rid)
    flush()
    return ", ".join(out)


def types_missing_warning(missing: Sequence[Mapping[str, Any]],
                          unknown_assets: Mapping[str, int] | None = None) -> str:
    """The one line for the user: each type not known to be collected, the rules that look
    for it and, when counted (`unknown_assets`), on how many assets they were UNKNOWN for it."""
    parts = []
    for item in missing:
        rules = _rule_ranges(list(item["rules"]))
        if unknown_assets is not None:
            n = unknown_assets.get(str(item["asset_type"]), 0)
            rules += (f" UNKNOWN on {n} asset{'' if n == 1 else 's'}" if n
                      else ": no finding UNKNOWN for want of it")
        parts.append(f"{item['asset_type']} ({rules})")
    return ("the snapshot has no assets of these types that rules look for, and does not say "
            f"they were collected: {'; '.join(parts)}; export every asset type, or use "
            "phiguard collect (a manifest with asset_types_requested)")


def run_coverage_warnings(fields: Mapping[str, Any]) -> list[str]:
    """The lines for the user (on stderr, before the results) of `run_coverage`'s fields: the
    rules that judged nothing of a type of theirs not known to be collected, and the pre-v1
    type names no rule judges."""
    out = []
    missing = fields.get("subject_types_missing") or ()
    if missing:
        parts = [f"{item['asset_type']} ({_rule_ranges(list(item['rules']))})"
                 for item in missing]
        out.append("rules not assessed: the snapshot holds no assets of these types that "
                   "rules judge, and nothing in it shows they were exported, so those rules "
                   "assessed none of them (their controls are UNKNOWN unless a result fails): "
                   f"{'; '.join(parts)}; export every asset type, or use phiguard collect (a "
                   "manifest with asset_types_requested)")
    old = fields.get("pre_v1_asset_types") or ()
    if old:
        parts = [f"{item['asset_type']} ({item['assets']} "
                 f"asset{'' if item['assets'] == 1 else 's'})" for item in old]
        out.append("assets with pre-v1 Cloud Asset type names, judged by no rule: "
                   f"{', '.join(parts)} (Cloud Asset v1 names types service.googleapis.com/Kind "
                   "and its data differs; export again with gcloud asset export)")
    return out
