"""The Inventory: assets the rules join to, indexed by every reference spelling, plus IAM and
org-policy views over the resource hierarchy and the PHI scope.

During a scan only the asset types that rules join to are held here (plus the hierarchy and
every IAM / org policy); the assets being judged stream past it, so memory stays bounded by
the referenced types, not by the size of the organization.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from phiguard.inventory.asset import Asset, UnknownValue
from phiguard.inventory.coverage import (
    ACCESS_POLICY,
    IAM_POLICY,
    ORG_POLICY,
    RESOURCE,
    SNAPSHOT,
    Coverage,
)
from phiguard.inventory.records import CONDITIONAL
from phiguard.inventory.refs import project_of_name, ref_key, region_of
from phiguard.inventory.scope import PhiConfig, PhiScope, ProjectIndex, Tenancy
from phiguard.inventory.types import (
    FOLDER_TYPE,
    HIERARCHY_TYPES,
    NETWORK_PATHS,
    PROJECT_TYPE,
    extract,
    path_levels,
    principals_of,
)

__all__ = ["REACH_TYPES", "TENANT_PATHS", "Inventory", "MaybeItems", "MaybeMember",
           "learn_project", "note_tenancy", "reach_fields"]

_RM = "//cloudresourcemanager.googleapis.com/"
_NUMBER = re.compile(r"^\d+$")
_NODE_TYPES = HIERARCHY_TYPES - {PROJECT_TYPE}  # folders and organizations
_INSTANCE = "compute.googleapis.com/Instance"
_SUBNETWORK = "compute.googleapis.com/Subnetwork"

# The types that can carry an IAM policy (Google's Compute Engine v1 discovery document gives
# `instances` and `subnetworks` a getIamPolicy method; no other type of NETWORK_PATHS has one)
# and whose PHI scope their own data decides: the VPC network they sit on. `grants within:
# phi` must read that data for a binding on one, so a scan holds these types (projected to
# `reach_fields`) whether or not a rule joins to them.
REACH_TYPES = frozenset({_INSTANCE, _SUBNETWORK})


@cache
def reach_fields(asset_type: str) -> frozenset[str]:
    """The top-level `data` keys PHI scope reads of an asset of this type (its network)."""
    return frozenset(p.split(".", 1)[0].removesuffix("[*]")
                     for p in NETWORK_PATHS.get(asset_type, ()))


# The types of NETWORK_PATHS whose network may be another project's (a Shared VPC host's), with
# the paths that name it, and whether Google's API always shows it (Compute Engine v1:
# `Instance.networkInterfaces[]`, each with its `network`; a forwarding rule's or address's
# `network` is for internal ones only, a Cloud SQL instance's `privateNetwork` for private IP
# only, a DNS policy's `networks` may be empty). Networks, subnetworks, firewalls and routes
# sit in their network's own project, whose scope is its own.
TENANT_PATHS: dict[str, tuple[tuple[str, ...], bool]] = {
    asset_type: (NETWORK_PATHS[asset_type], asset_type == _INSTANCE)
    for asset_type in ("compute.googleapis.com/Instance", "compute.googleapis.com/ForwardingRule",
                       "compute.googleapis.com/Address", "sqladmin.googleapis.com/Instance",
                       "redis.googleapis.com/Instance", "container.googleapis.com/Cluster",
                       "dns.googleapis.com/Policy")}


def note_tenancy(tenancy: Tenancy, asset_type: str, name: str, ancestors: Any,
                 data: Any) -> None:
    """Add to `tenancy` the networks a resource of a TENANT_PATHS type sits on, under its
    project (the number its ancestors start with, else the project its name shows); a
    network it must show and does not, or one known only after apply, leaves its project
    undecided. Tolerant of bad input: the record is validated where it is judged."""
    paths, required = TENANT_PATHS[asset_type]
    first = ancestors[0] if isinstance(ancestors, list | tuple) and ancestors else None
    if isinstance(first, str) and first.startswith("projects/"):
        project: str | None = first[9:]
    else:
        project = project_of_name(name) if isinstance(name, str) else None
    if not project:
        return
    keys: set[str] = set()
    open_ = False
    for path in paths:
        for value in _path_ends(data, _split_path(path), required):
            if isinstance(value, str) and value:
                keys.add(network_key(value))
            else:  # absent where Google always shows it, or known only after apply
                open_ = True
    tenancy.note(project, keys, open_)


_NETWORK_KEYS: dict[str, str] = {}  # network reference -> ref_key


def network_key(value: str) -> str:
    """`ref_key` of a network reference, remembered (a few hundred networks are referenced
    by every resource on them; at most 100,000 kept)."""
    key = _NETWORK_KEYS.get(value)
    if key is None:
        key = ref_key(value)
        if len(_NETWORK_KEYS) < 100_000:
            _NETWORK_KEYS[value] = key
    return key


@cache
def _split_path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _path_ends(value: Any, parts: tuple[str, ...], required: bool) -> Iterator[Any]:
    """The values at the end of a dotted path (`[*]` fans out a list); None where a key is
    absent and `required`; a value known only after apply where it stands."""
    if not parts:
        yield value
        return
    if isinstance(value, UnknownValue):
        yield value
        return
    part = parts[0]
    fan = part.endswith("[*]")
    key = part[:-3] if fan else part
    if not isinstance(value, dict) or value.get(key) is None:
        if required:
            yield None
        return
    child = value[key]
    if fan and isinstance(child, list):
        for item in child:
            yield from _path_ends(item, parts[1:], required)
    else:
        yield from _path_ends(child, parts[1:], required)


def learn_project(projects: ProjectIndex, asset: Asset) -> None:
    """Teach the project index what one asset reveals about project ids and numbers."""
    if asset.asset_type == PROJECT_TYPE:
        # `data` is the producer's REST body: take only values of the documented types.
        data = asset.data
        number = data.get("projectNumber")
        if isinstance(number, int) and not isinstance(number, bool):
            number = str(number)
        if not isinstance(number, str) or not number:
            name = data.get("name")
            number = (name.split("/", 1)[1] if isinstance(name, str)
                      and name.startswith("projects/") else asset.name.rsplit("/", 1)[-1])
        project_id = data.get("projectId")
        labels = data.get("labels") if isinstance(data.get("labels"), dict) else None
        # A project outside any organization: Cloud Asset Inventory lists it alone in its
        # ancestors, and its Resource Manager body (v1 `parent`, v3 `parent`) names no parent.
        # Only a snapshot's record with its resource shows that (a plan's never does).
        orgless = (asset.content is not None and RESOURCE in asset.content and bool(data)
                   and "parent" not in data and asset.ancestors == (f"projects/{number}",))
        projects.learn(number=number,
                       project_id=project_id if isinstance(project_id, str) and project_id
                       else None,
                       labels=labels, ancestors=asset.ancestors, orgless=orgless)
        return
    first = asset.ancestors[0] if asset.ancestors else ""
    in_name = project_of_name(asset.name)
    if first.startswith("projects/"):
        number = first.split("/", 1)[1]
        project_id = in_name if in_name and not _NUMBER.match(in_name) else None
        projects.learn(number=number, project_id=project_id, ancestors=asset.ancestors)


class Inventory:
    """Join targets, hierarchy, policies and PHI scope for one evaluation."""

    def __init__(
        self,
        assets: Iterable[Asset],
        *,
        phi: PhiConfig | None = None,
        policies: Iterable[Asset] = (),
        projects: ProjectIndex | None = None,
        missing_sources: Iterable[str] = (),
        content: Iterable[str] | None = None,
        content_gaps: Iterable[tuple[str, str]] = (),
        origin: str = SNAPSHOT,
        asset_types: Iterable[str] = (),
        tenancy: Tenancy | None = None,
    ) -> None:
        """`content`: the content types the snapshot was collected with (None: those some
        asset carries); `content_gaps`: (content type, parent) pairs not collected; `origin`:
        where the assets come from (see `Coverage`), so a reason names what is missing;
        `asset_types`: the asset types the input says were collected (`ALL_TYPES`: every
        one), to which a snapshot adds those it holds (a plan overlay's caller gives the
        snapshot's: a planned asset does not tell what the snapshot lacks); `tenancy`: the
        networks each project's resources sit on, read from every record (a scan holds few
        of them), to which the resources held here add theirs."""
        self.projects = projects or ProjectIndex()
        # A project's other spellings (its id for its number and back), by the one written.
        self._other_spellings: dict[str, tuple[str, ...]] = {}
        self._by_key: dict[str, Asset] = {}
        self._by_type: dict[str, list[Asset]] = defaultdict(list)
        self._by_name: dict[str, Asset] = {}
        for asset in assets:
            self._add(asset)
        # Every asset that carries an IAM or org policy, judged or not: the hierarchy views and
        # the grants index need them all.
        self._policy_owners: dict[str, Asset] = {}
        for asset in policies:
            self._policy_owners[asset.name] = asset
        for asset in self._by_name.values():
            if asset.iam_policy is not None or asset.org_policy:
                self._policy_owners.setdefault(asset.name, asset)
        for asset in [*self._by_name.values(), *self._policy_owners.values()]:
            learn_project(self.projects, asset)
        held_tenancy = Tenancy()
        if tenancy is not None:
            held_tenancy.update(tenancy)
        for asset_type in TENANT_PATHS:
            for asset in self._by_type.get(asset_type, ()):
                if asset.content is None or RESOURCE in asset.content:
                    note_tenancy(held_tenancy, asset_type, asset.name, asset.ancestors,
                                 asset.data)
        self.scope = PhiScope(phi or PhiConfig(), self.projects, {
            ref_key(a.name): a.ancestors
            for a in [*self._by_type.get(FOLDER_TYPE, ()), *self._policy_owners.values()]
            if a.asset_type == FOLDER_TYPE and a.ancestors}, held_tenancy)
        held = {RESOURCE, *(content or ())}
        for owner in self._policy_owners.values():
            if owner.iam_policy is not None:
                held.add(IAM_POLICY)
            if owner.org_policy:
                held.add(ORG_POLICY)
            if owner.access_policy is not None:
                held.add(ACCESS_POLICY)
        types = set(asset_types)
        if origin == SNAPSHOT:
            types.update(t for t, of_type in self._by_type.items() if of_type)
        self.coverage = Coverage(held, [(kind, alt) for kind, parent in content_gaps
                                        for alt in (parent, *self._project_spellings(parent))],
                                 origin, types)
        self.missing_sources = frozenset(missing_sources)
        # A plan's values may be known only after apply (a snapshot's never are).
        self._planned = origin != SNAPSHOT
        self._node_policies: dict[str, Asset] = {}
        for owner in self._policy_owners.values():
            if owner.asset_type in HIERARCHY_TYPES:
                self._node_policies[ref_key(owner.name)] = owner
        # The folders and organizations the input holds (a record of the node or of its
        # policies): one an asset lists among its ancestors but the input does not hold (a
        # project-scoped export) has policies nobody here can read (`absent_ancestors`).
        self._held_nodes = frozenset(
            {ref_key(a.name) for a in self.of_types(_NODE_TYPES)}
            | {node for node in self._node_policies if not node.startswith("projects/")})
        self._absent: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._referrers: dict[tuple[tuple[str, ...], str], dict[str, list[Asset]]] = {}
        self._in_project: dict[tuple[str, ...], dict[str, list[Asset]]] = {}
        self._grants: dict[str, list[tuple[dict[str, Any], str, str]]] | None = None
        self._facts: dict[str, dict[str, Any]] = {}
        self._node_reasons: dict[str, UnknownValue] = {}
        self._owner_facts: dict[str, dict[str, Any]] = {}
        self._places: dict[tuple[str, str | None, str | None], tuple[
            str | None, str | None, str | None, str | None]] = {}

    def _add(self, asset: Asset) -> None:
        if asset.name in self._by_name:
            return
        self._by_name[asset.name] = asset
        self._by_type[asset.asset_type].append(asset)
        keys = {ref_key(asset.name)}
        self_link = asset.data.get("selfLink")
        if isinstance(self_link, str):
            keys.add(ref_key(self_link))
        keys.update(_account_keys(asset))
        for key in keys:
            self._by_key.setdefault(key, asset)

    # lookups ---------------------------------------------------------------------------------

    def get(self, name: str) -> Asset | None:
        """The held asset with this exact CAI name."""
        return self._by_name.get(name) or self._policy_owners.get(name)

    def lookup(self, ref: str, types: Iterable[str] | None = None) -> Asset | None:
        """The held asset a reference points to, in any spelling, optionally of given types."""
        key = ref_key(ref)
        asset = self._by_key.get(key)
        if asset is None:
            asset = self._lookup_other_project_spelling(key)
        if asset is not None and types is not None and asset.asset_type not in set(types):
            return None
        return asset

    def _project_spellings(self, key: str) -> list[str]:
        """The key with its project spelled the other way (`projects/<number>` vs `<id>`)."""
        if not key.startswith("projects/"):
            return []
        parts = key.split("/", 2)
        others = self._other_spellings.get(parts[1])
        if others is None:
            info = self.projects.get(parts[1])
            if info is None:
                return []
            others = tuple(alt for alt in (info.id, info.number) if alt and alt != parts[1])
            self._other_spellings[parts[1]] = others
        return ["/".join(["projects", alt, *parts[2:]]) for alt in others]

    def _lookup_other_project_spelling(self, key: str) -> Asset | None:
        for alt in self._project_spellings(key):
            found = self._by_key.get(alt)
            if found is not None:
                return found
        return None

    def of_types(self, types: Iterable[str]) -> list[Asset]:
        out: list[Asset] = []
        for t in types:
            out.extend(self._by_type.get(t, ()))
        return out

    def _project_index(self, types: tuple[str, ...]) -> dict[str, list[Asset]]:
        index = self._in_project.get(types)
        if index is None:
            index = defaultdict(list)
            for asset in self.of_types(types):
                facts = self.facts(asset)
                for key in {facts["project"], facts["project_number"]}:
                    if key:
                        index[key].append(asset)
            self._in_project[types] = index
        return index

    def _referrer_index(self, types: tuple[str, ...], path: str) -> dict[str, list[Asset]]:
        index = self._referrers.get((types, path))
        if index is None:
            index = defaultdict(list)
            for asset in self.of_types(types):
                for value in extract(asset.data, path):
                    if isinstance(value, str):
                        index[ref_key(value)].append(asset)
            self._referrers[(types, path)] = index
        return index

    def warm(self, referrers: Iterable[tuple[tuple[str, ...], str]] = (),
             projects: Iterable[tuple[str, ...]] = ()) -> None:
        """Build the lazy indexes now: before worker processes fork, so they share them
        instead of each building (and holding) its own copy."""
        for asset in self._policy_owners.values():
            self.reach(asset)  # grants within PHI scope ask each owner's
        if self._grants is None:
            self._grants = self._build_grants()
        for types, path in referrers:
            self._referrer_index(types, path)
        for types in projects:
            self._project_index(types)

    def in_project(self, types: tuple[str, ...], project: str | None) -> list[Asset]:
        """Held assets of these types in the same project (by id or number)."""
        index = self._project_index(types)
        if not project:
            return []
        return list(index.get(project, ()))

    def referrers(self, types: tuple[str, ...], path: str, target: Asset) -> list[Asset]:
        """Held assets of these types whose `path` references `target`."""
        index = self._referrer_index(types, path)
        keys = {ref_key(target.name)}
        link = target.data.get("selfLink")
        if isinstance(link, str):
            keys.add(ref_key(link))
        keys.update(_account_keys(target))
        keys |= {alt for key in keys for alt in self._project_spellings(key)}
        seen: dict[str, Asset] = {}
        for key in keys:
            for asset in index.get(key, ()):
                seen.setdefault(asset.name, asset)
        return list(seen.values())

    def content_gap(self, kind: str, asset: Asset) -> UnknownValue | None:
        """Why the snapshot cannot tell `kind` content of this asset (None: it can)."""
        content = asset.content
        if content is not None and kind in content:
            return None
        if kind == RESOURCE:
            return None if content is None else self.coverage.resource_absent
        return self.coverage.gap_for(kind, asset.ancestors or _own_node(asset))

    # derived facts ---------------------------------------------------------------------------

    def facts(self, asset: Asset) -> dict[str, Any]:
        """The `asset` root rules see: project, region, PHI membership and the like."""
        # A policy owner without its resource (an IAM or org policy record: no `data`, no
        # location) has facts of its own, kept apart: the grants index asks about it, and its
        # answer must never stand in for the resource judged later under the same name.
        whole = asset.content is None or RESOURCE in asset.content
        cache = self._facts if whole else self._owner_facts
        cached = cache.get(asset.name)
        if cached is not None and cached["asset_type"] == asset.asset_type:
            return cached
        facts = self._compute_facts(asset)
        # Kept for the assets joins and grants ask about again; not for an instance or
        # subnetwork held only for its network (REACH_TYPES) that carries no IAM policy.
        if asset.name in self._policy_owners or (asset.name in self._by_name
                                                 and asset.asset_type not in REACH_TYPES):
            cache[asset.name] = facts
        return facts

    def phi(self, asset: Asset) -> bool | UnknownValue:
        """`facts(asset)["phi"]` without the other facts: the engine asks it of every judged
        asset (`scope: phi`), and most need no other."""
        whole = asset.content is None or RESOURCE in asset.content
        cached = (self._facts if whole else self._owner_facts).get(asset.name)
        if cached is not None and cached["asset_type"] == asset.asset_type:
            return cached["phi"]  # type: ignore[no-any-return]
        first = asset.ancestors[0] if asset.ancestors else ""
        return self._scope_of(asset, self._placed(asset, first)[0])

    def _placed(self, asset: Asset, first: str, location: str | None = None,
                ) -> tuple[str | None, str | None, str | None, str | None]:
        """`_place`, kept per project and location (the same for every asset there)."""
        if asset.asset_type == PROJECT_TYPE:
            return self._place(asset, first, location)
        place_key = (first, project_of_name(asset.name), location)
        place = self._places.get(place_key)
        if place is None:
            place = self._places[place_key] = self._place(asset, first, location)
        return place

    def _scope_of(self, asset: Asset, project: str | None) -> bool | UnknownValue:
        """The facts' `phi` of an asset in this project."""
        phi: bool | UnknownValue = self.asset_is_phi(asset, project)
        if not phi and self._planned and asset.asset_type in NETWORK_PATHS:
            phi = self._planned_scope(asset)
        return phi

    def _compute_facts(self, asset: Asset) -> dict[str, Any]:
        first = asset.ancestors[0] if asset.ancestors else ""
        location = asset.location or _location_from_data(asset.data)
        project, number, location, region = self._placed(asset, first, location)
        phi = self._scope_of(asset, project)
        # A grant on this asset reaches PHI: it is in PHI scope, or a folder or organization
        # above a PHI project (`grants within: phi` asks the same of each binding's owner).
        reach: bool | UnknownValue = phi
        if not reach and asset.asset_type == PROJECT_TYPE:
            reach = self._project_reach(project, number)
        if not reach and asset.asset_type in _NODE_TYPES:
            reach = self._node_reach(ref_key(asset.name))
        if not reach and asset.asset_type in REACH_TYPES:
            reach = self._network_unknown(asset) or False
        return {
            "name": asset.name,
            "asset_type": asset.asset_type,
            "project": project,
            "project_number": number,
            "location": location,
            "region": region,
            "ancestors": list(asset.ancestors),
            "phi": phi,
            "phi_reach": reach,
            "update_time": asset.update_time,
        }

    def _project_reach(self, project: str | None, number: str | None) -> bool | UnknownValue:
        """Whether a grant on a project outside PHI scope reaches PHI: it hosts a PHI network,
        or a resource of it sits on one (a Shared VPC's service project: the resource
        inherits the project's policy); unknown when a resource of it does not show the
        network it is on."""
        scope = self.scope
        info = self.projects.get(project) or self.projects.get(number)
        spellings = {project, number} | ({info.id, info.number} if info is not None else set())
        if any(s in scope.network_hosts for s in spellings if s):
            return True
        found = scope.tenant_reach(*spellings)
        if found is None:
            return UnknownValue(
                f"unknown: whether a resource of project {project} is on a PHI network is not "
                f"known (its record does not show the network it is on), so whether a grant "
                f"on the project reaches PHI is not known")
        return found

    def _place(self, asset: Asset, first: str, location: str | None,
               ) -> tuple[str | None, str | None, str | None, str | None]:
        """(project id or number, project number, location, region) of an asset."""
        number = None
        if first.startswith("projects/"):
            number = first.split("/", 1)[1]
        project_id = None
        if asset.asset_type == PROJECT_TYPE:
            raw_id = asset.data.get("projectId")
            project_id = raw_id if isinstance(raw_id, str) and raw_id else None
            number = number or asset.name.rsplit("/", 1)[-1]
        else:
            in_name = project_of_name(asset.name)
            if in_name:
                if _NUMBER.match(in_name):
                    number = number or in_name
                else:
                    project_id = in_name
        info = self.projects.get(number) or self.projects.get(project_id)
        if info is not None:
            number = number or info.number
            project_id = project_id or info.id
        region = region_of(location)
        # Interned: a large org repeats a few hundred projects and regions across 100k+ facts.
        project = project_id or number
        return (sys.intern(project) if project else None, sys.intern(number) if number else None,
                sys.intern(location) if location else None, sys.intern(region) if region else None)

    def _network_unknown(self, asset: Asset) -> UnknownValue | None:
        """Why the network that would put this asset in PHI scope is not known (None: it is
        known, or no network can be in PHI scope)."""
        if not self.scope.networks_possible:
            return None
        if asset.content is not None and RESOURCE not in asset.content:
            missing = "the snapshot holds its IAM policy but not its resource"
        elif any(key not in asset.data for key in reach_fields(asset.asset_type)):
            missing = "its record does not show the network it is on"
        elif any(_unknown_on(asset.data, path) for path in NETWORK_PATHS[asset.asset_type]):
            missing = "the network it is on is known only after apply"
        else:
            return None
        return UnknownValue(f"unknown: whether {asset.name} is on a PHI network is not known "
                            f"({missing}), so whether a grant on it reaches PHI is not known")

    def undecided_scope(self, asset: Asset) -> UnknownValue | None:
        """Why whether a planned asset is in PHI scope is not known (a network it may be on is
        known only after apply: its facts' `phi`); None when it is known, always in a scan."""
        if not self._planned or asset.asset_type not in NETWORK_PATHS:
            return None
        phi = self.facts(asset)["phi"]
        return phi if isinstance(phi, UnknownValue) else None

    def _planned_scope(self, asset: Asset) -> bool | UnknownValue:
        """PHI scope of a planned asset outside PHI projects and known PHI networks, when a
        network that would decide it is known only after apply: PHI when what the plan does
        show settles it (an instance's subnetwork in a PHI project, or held, on a PHI
        network), else unknown; never "not PHI" on a value the plan does not know yet."""
        if not self.scope.networks_possible:
            return False
        if asset.asset_type == _INSTANCE:
            nics = asset.data.get("networkInterfaces")
            if not isinstance(nics, list | UnknownValue):
                return False
            open_ = isinstance(nics, UnknownValue)
            for nic in nics if isinstance(nics, list) else ():
                if isinstance(nic, UnknownValue):
                    open_ = True
                elif isinstance(nic, dict) and isinstance(nic.get("network"), UnknownValue):
                    # Terraform computes the network of an interface given only its subnetwork.
                    via = self._subnetwork_scope(nic.get("subnetwork"))
                    if via:
                        return True
                    open_ = open_ or via is None
            if not open_:
                return False
        elif not any(_unknown_on(asset.data, path) for path in NETWORK_PATHS[asset.asset_type]):
            return False
        return UnknownValue(f"unknown: whether {asset.name} is in PHI scope is not known (the "
                            f"network it is on is known only after apply)")

    def _subnetwork_scope(self, ref: Any) -> bool | None:
        """Whether the network of a subnetwork (a reference) is a PHI network (None: not
        known). A subnetwork sits in its network's project, so a PHI project settles it."""
        if not isinstance(ref, str):
            return None
        project = project_of_name(ref_key(ref))
        if project and self.scope.project_is_phi(project):
            return True
        subnetwork = self.lookup(ref, (_SUBNETWORK,))
        network = subnetwork.data.get("network") if subnetwork is not None else None
        return self.scope.network_is_phi(network) if isinstance(network, str) else None

    def asset_is_phi(self, asset: Asset, project: str | None) -> bool:
        scope = self.scope
        if scope.config.all:
            return True
        if project and scope.project_is_phi(project, asset.ancestors):
            return True
        if any(a in scope.config.folders for a in asset.ancestors):
            return True
        for path in NETWORK_PATHS.get(asset.asset_type, ()):
            for ref in extract(asset.data, path):
                if isinstance(ref, str) and scope.network_is_phi(ref):
                    return True
        return False

    # hierarchy views -------------------------------------------------------------------------

    def _chain(self, asset: Asset) -> list[Asset]:
        """The asset, then each ancestor that carries policies, nearest first."""
        chain = [asset]
        own = ref_key(asset.name) if asset.asset_type in HIERARCHY_TYPES else None
        for node in asset.ancestors:
            if node == own:
                continue
            owner = self._node_policies.get(node)
            if owner is not None and owner.name != asset.name:
                chain.append(owner)
        return chain

    def _policy_of(self, asset: Asset) -> dict[str, Any] | None:
        if asset.iam_policy is not None:
            return asset.iam_policy
        owner = self._policy_owners.get(asset.name)
        return owner.iam_policy if owner is not None else None

    def absent_ancestors(self, asset: Asset) -> tuple[str, ...]:
        """The folders and organization above the asset (its `ancestors`) that the input does
        not hold at all: neither their record nor any of their policies. A node held with no
        IAM policy line has no policy; one not held has policies that are not known."""
        chain = asset.ancestors
        found = self._absent.get(chain)
        if found is None:
            found = self._absent[chain] = tuple(
                node for node in chain if node.startswith(("folders/", "organizations/"))
                and node not in self._held_nodes)
        own = ref_key(asset.name) if asset.asset_type in _NODE_TYPES else None
        return tuple(n for n in found if n != own) if own in found else found

    def _absent_reason(self, asset: Asset, what: str) -> UnknownValue | None:
        """Why `what` of the asset's ancestors is not known (None: every ancestor is held)."""
        absent = self.absent_ancestors(asset)
        if not absent:
            return None
        return UnknownValue(f"unknown: the input holds no record of {', '.join(absent)} "
                            f"(above {asset.name}), so the {what} there are not known")

    def effective_iam(self, asset: Asset) -> list[Any]:
        """Bindings on the asset and on every ancestor, each with the resource that holds it;
        an ancestor the input does not hold (`absent_ancestors`) adds an unknown element (its
        bindings may add any role), so no verdict rests on the bindings it does not show."""
        out: list[Any] = []
        for node in self._chain(asset):
            policy = self._policy_of(node)
            for binding in (policy or {}).get("bindings", ()):
                entry = {"role": binding["role"], "members": binding["members"],
                         "resource": node.name}
                if "condition" in binding:
                    entry["condition"] = binding["condition"]
                out.append(entry)
        absent = self._absent_reason(asset, "IAM bindings")
        if absent is not None:
            out.append(absent)
        return out

    def effective_audit_configs(self, asset: Asset) -> list[Any]:
        """Audit configs on the asset and every ancestor, each with its resource; an ancestor
        the input does not hold adds an unknown element (it may enable logs or exempt members:
        only what the known configs settle alone, an exemption, stands)."""
        out: list[Any] = []
        for node in self._chain(asset):
            policy = self._policy_of(node)
            configs = (policy or {}).get("auditConfigs", ())
            if isinstance(configs, UnknownValue):  # a policy the plan does not declare
                return configs  # type: ignore[return-value]
            for cfg in configs:
                log_types = [c["logType"] for c in cfg["auditLogConfigs"]]
                exempted = sorted({m for c in cfg["auditLogConfigs"] for m in c["exemptedMembers"]})
                out.append({"service": cfg["service"], "logTypes": log_types,
                            "exemptedMembers": exempted, "resource": node.name})
        absent = self._absent_reason(asset, "audit configs")
        if absent is not None:
            out.append(absent)
        return out

    def org_policy(self, asset: Asset, constraint: str) -> dict[str, Any] | None:
        """The effective org policy for a constraint: nearest set policy, list merges inherited."""
        found: list[tuple[Asset, dict[str, Any]]] = []
        for node in self._chain(asset):
            policies = node.org_policy
            if not policies:
                owner = self._policy_owners.get(node.name)
                policies = owner.org_policy if owner is not None else ()
            for policy in policies:
                if policy.get("constraint") == constraint:
                    found.append((node, policy))
                    break
        absent = self.absent_ancestors(asset)
        if absent:
            # A policy inherited from (or merged with) an ancestor the input does not hold is
            # not known: the policies found decide only when one of them, below every absent
            # ancestor, stops the inheritance (a boolean policy, a reset, a list that does not
            # inherit).
            place = {n: i for i, n in enumerate(asset.ancestors)}
            stop = next((place.get(ref_key(holder.name), -1) for holder, policy in found
                         if "listPolicy" not in policy
                         or not (policy.get("listPolicy") or {}).get("inheritFromParent")
                         or policy.get("restoreDefault") is not None), None)
            if stop is None or any(place[n] < stop for n in absent):
                return self._absent_reason(  # type: ignore[return-value]
                    asset, f"org policies for {constraint}")
        if not found:
            return None
        node, nearest = found[0]
        for holder, policy in found:  # the policies that decide: the nearest, and for a list
            why = policy.get(CONDITIONAL)  # constraint those it inherits from
            if why:
                return UnknownValue(  # type: ignore[return-value]
                    f"unknown: the {constraint} policy on {holder.name}: {why}")
            if "listPolicy" not in policy or not (policy.get("listPolicy") or {}).get(
                    "inheritFromParent"):
                break
        result: dict[str, Any] = {"constraint": constraint, "resource": node.name}
        if nearest.get("restoreDefault") is not None:
            result.update(enforced=False, restoreDefault=True)
            return result
        if "booleanPolicy" in nearest:
            result["enforced"] = bool(nearest["booleanPolicy"].get("enforced", False))
            return result
        allowed: list[str] = []
        denied: list[str] = []
        all_values = None
        for _node, policy in found:
            lp = policy.get("listPolicy") or {}
            allowed.extend(lp.get("allowedValues") or [])
            denied.extend(lp.get("deniedValues") or [])
            all_values = all_values or lp.get("allValues")
            if not lp.get("inheritFromParent"):
                break
        result.update(enforced=bool(allowed or denied or all_values == "DENY"),
                      allowedValues=allowed, deniedValues=denied)
        if all_values:
            result["allValues"] = all_values
        return result

    def grants(self, asset: Asset, within: str = "all") -> list[Any] | UnknownValue:
        """The bindings that grant roles to a principal asset (user, service account).

        `within="phi"` keeps those on a resource that reaches PHI (`reach`). A binding whose
        reach is not known stands in the list as an unknown value; when no binding surely
        reaches PHI and one may, the whole answer is that unknown value: never "no PHI
        grant" on data the snapshot does not hold."""
        members = principals_of(asset.asset_type, asset.data)
        if not members:
            return []
        if self._grants is None:
            self._grants = self._build_grants()
        index = self._grants
        return self.grants_of((entry for member in members for entry in index.get(member, ())),
                              within)

    def grants_of(self, entries: Iterable[tuple[dict[str, Any], Asset | str, str]],
                  within: str = "all") -> list[Any] | UnknownValue:
        """`grants` of (binding, the resource holding it or its name, member as written)."""
        out: list[Any] = []
        unknown: UnknownValue | None = None
        for binding, resource, spelled in entries:
            name = resource if isinstance(resource, str) else resource.name
            reach: bool | UnknownValue = True
            if within == "phi":
                reach = self.reach(resource)
                if not reach:
                    continue
            grant = {"role": binding["role"], "resource": name, "member": spelled}
            if "condition" in binding:
                grant["condition"] = binding["condition"]
            if isinstance(reach, UnknownValue):
                # In the list only if it reaches PHI: a member that may or may not be there.
                unknown = unknown or reach
                out.append(MaybeMember(f"{reach.why} (the grant of {binding['role']})", grant))
                continue
            out.append(grant)
        if unknown is not None and all(isinstance(g, UnknownValue) for g in out):
            return MaybeItems(unknown.why, out)
        return out

    def reach(self, resource: Asset | str) -> bool | UnknownValue:
        """Whether a grant on this resource reaches PHI: it is in PHI scope (unknown when
        its network would tell and the snapshot does not show it: `phi_reach` of its facts),
        or it is a folder or organization above a PHI project. The resource held is asked
        (its data may put it on a PHI network), else the policy owner given."""
        name = resource if isinstance(resource, str) else resource.name
        owner = self.get(name)
        if owner is None:
            if isinstance(resource, str):
                node = ref_key(name)
                if name.startswith(_RM) and node.startswith(("folders/", "organizations/")):
                    return self._node_reach(node)
                return False
            owner = resource
        if owner.asset_type in _NODE_TYPES:
            return self._node_reach(ref_key(owner.name))
        reach: bool | UnknownValue = self.facts(owner)["phi_reach"]
        return reach

    def _node_reach(self, node: str) -> bool | UnknownValue:
        """Whether a grant on a folder or organization reaches PHI (see `PhiScope.node_reach`);
        when that is not known, the reason names the PHI projects or folders not placed."""
        known = self.scope.node_reach(node)
        if known is not None:
            return known
        reason = self._node_reasons.get(node)
        if reason is None and self.scope.phi_ancestry_known:
            reason = self._node_reasons[node] = UnknownValue(
                f"unknown: whether {node} is above a resource on a PHI network is not known (a "
                f"resource of a project below it does not show the network it is on)")
        elif reason is None:
            reason = self._node_reasons[node] = UnknownValue(
                f"unknown: whether {node} is above a PHI project is not known (the folders and "
                f"organization above {self.scope.unplaced_text()} are not known)")
        return reason

    def _build_grants(self) -> dict[str, list[tuple[dict[str, Any], str, str]]]:
        # (binding, resource, member as written): the bindings themselves are shared, not
        # copied, so the index stays small on an organization with many policies.
        index: dict[str, list[tuple[dict[str, Any], str, str]]] = defaultdict(list)
        for owner in self._policy_owners.values():
            for binding in (owner.iam_policy or {}).get("bindings", ()):
                members = binding["members"]
                for member in members if isinstance(members, list) else ():
                    if not isinstance(member, str):
                        continue  # a plan value known only after apply
                    index[sys.intern(member.lower())].append((binding, owner.name, member))
        return index


class MaybeMember(UnknownValue):
    """An element of a list that belongs to it only if something not known holds (a grant
    whose PHI reach is not known, in `grants within: phi`), with the value it would have.

    Anything that does not know it sees an unknown value. The quantifiers judge `value` and
    let it decide nothing: the verdict it would decide as a member (`some`, `none`: its
    condition passes; `every`: fails) is UNKNOWN with `why`; any other, as if it were absent.
    So a grant of a role no rule cares about never makes the verdict unknown."""

    __slots__ = ("value",)

    def __init__(self, why: str, value: Any) -> None:
        super().__init__(why)
        self.value = value


class MaybeItems(UnknownValue):
    """A list all of whose elements are `MaybeMember`s: as a whole it is not known (how many
    elements it has, whether it is empty), but a quantifier judges its `items`."""

    __slots__ = ("items",)

    def __init__(self, why: str, items: list[Any]) -> None:
        super().__init__(why)
        self.items = items


def _account_keys(asset: Asset) -> list[str]:
    """A service account's other spellings: CAI names it by unique id, references name it
    `projects/P/serviceAccounts/EMAIL` (or `projects/-/...`, as the IAM API accepts)."""
    if asset.asset_type != "iam.googleapis.com/ServiceAccount":
        return []
    email = asset.data.get("email")
    if not isinstance(email, str) or "@" not in email:
        return []
    project = asset.data.get("projectId") or project_of_name(asset.name)
    keys = [f"projects/-/serviceAccounts/{email}"]
    if isinstance(project, str) and project:
        keys.append(f"projects/{project}/serviceAccounts/{email}")
    return keys


def _own_node(asset: Asset) -> tuple[str, ...]:
    """A hierarchy asset without ancestors listed is still below itself."""
    if asset.asset_type in HIERARCHY_TYPES:
        return (ref_key(asset.name),)
    return ()


def _unknown_on(data: Any, path: str) -> bool:
    """Whether a value known only after apply stands on the dotted path (`[*]` fans out)."""
    return any(isinstance(value, UnknownValue)
               for level in path_levels(data, path, keep=True) for value in level)


def _location_from_data(data: dict[str, Any]) -> str | None:
    for key in ("region", "zone", "location"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value.rsplit("/", 1)[-1]
    return None
