"""Build the world a plan leaves behind (or started from): converted planned assets overlaid on
an optional current inventory, with IAM, org-policy and list pieces merged into their parents.

Creates add, updates replace, deletes remove. IAM members, bindings, policies and audit configs
of one project, folder, organization, bucket or service account merge into one effective
`iam_policy`, as CAI shows it. When a parent is known neither from the plan nor from a snapshot,
phiguard builds it from the pieces and marks it *partial*: the bindings it cannot see are an
`UnknownValue`, so no rule passes on what the plan does not show.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from phiguard.inventory.asset import Asset, Source, UnknownValue, new_asset
from phiguard.terraform.convert import CONVERTERS, PARTS, Context, Part
from phiguard.terraform.plan import Plan, ResourceChange

__all__ = ["World", "build_world", "load_tables"]


def _replace(asset: Asset, **changes: Any) -> Asset:
    """`dataclasses.replace(asset, ...)` through the slots (Asset has no `__post_init__`):
    a third of what the dataclass's `__init__` costs, once per created bucket or project of
    a large plan."""
    values = [changes.pop(name) if name in changes else getattr(asset, name)
              for name in _ASSET_FIELDS]
    if changes:  # pragma: no cover - a caller's typo, as replace would say
        raise TypeError(f"Asset has no fields {sorted(changes)}")
    return new_asset(*values)


_ASSET_FIELDS = tuple(f.name for f in fields(Asset))
_UNSEEN = UnknownValue("not in the plan (pass --snapshot to see the rest of the policy)")


def load_tables() -> None:
    """Register every converter table (imported for their side effect, once)."""
    importlib.import_module("phiguard.terraform.tables")


@dataclass
class World:
    """Assets by name on one side of the plan, and where each came from."""

    assets: dict[str, Asset]
    origin: dict[str, list[ResourceChange]] = field(default_factory=dict)  # name -> changes
    changed: dict[str, ResourceChange] = field(default_factory=dict)  # created/updated/touched
    partial: set[str] = field(default_factory=set)
    not_evaluated: list[ResourceChange] = field(default_factory=list)
    name_of: dict[str, str] = field(default_factory=dict)  # address -> asset name
    _accounts: dict[str, str] | None = None  # service account email -> asset name
    _removed: bool = False  # an asset was removed since `_accounts` was built
    # The IAM policies and binding member lists merging pieces made (by id, with the object
    # itself so the id stays its own): no other asset, base or converted value holds them, so
    # a further piece changes them in place instead of copying the policy once per piece
    # (quadratic in a plan of many members of one project). Member lists keep the set of
    # their members (None when one is unhashable: then the list is searched).
    _own: dict[int, Any] = field(default_factory=dict, repr=False)
    _members: dict[int, set[Any] | None] = field(default_factory=dict, repr=False)

    def own_policy(self, policy: dict[str, Any] | None) -> dict[str, Any]:
        """`policy` itself if merging made it, else a copy merging may change."""
        if policy is not None and id(policy) in self._own and self._own[id(policy)] is policy:
            return policy
        copy = _copy_policy(policy)
        self._own[id(copy)] = copy
        return copy

    def own_members(self, binding: dict[str, Any]) -> tuple[list[Any], set[Any] | None]:
        """The binding's member list, made one merging may change, and its set."""
        members = binding["members"]
        if self._own.get(id(members)) is not members:
            members = binding["members"] = list(members)
            self._own[id(members)] = members
            try:
                self._members[id(members)] = set(members)
            except TypeError:
                self._members[id(members)] = None
        return members, self._members[id(members)]

    def account(self, name: str) -> Asset | None:
        """The service account a name spells by email (`.../serviceAccounts/EMAIL`): CAI and
        Google's converter name accounts by unique id, Terraform references them by email."""
        email = name.rsplit("/", 1)[-1].lower()
        if "@" not in email:
            return None
        if self._accounts is None:
            self._accounts = {}
            self._removed = False
            for asset in self.assets.values():
                got = asset.data.get("email") if asset.asset_type == _SA else None
                if isinstance(got, str):
                    self._accounts.setdefault(got.lower(), asset.name)
        found = self._accounts.get(email)
        return self.assets.get(found) if found else None

    def forget_accounts(self) -> None:
        """An account was added or renamed: index the emails again when next asked."""
        self._accounts = None

    def added_account(self, asset: Asset) -> None:
        """A service account was added under a name not held before (so it comes last in
        `assets`): index its email as indexing all again would (the first name per email
        is kept), instead of indexing every asset again per account (quadratic in a plan
        of many accounts). After a removal that reindexing would see, forget the index."""
        if self._accounts is None:
            return
        if self._removed:
            self._accounts = None
            return
        email = asset.data.get("email")
        if isinstance(email, str):
            self._accounts.setdefault(email.lower(), asset.name)

    def remove(self, name: str) -> None:
        self.assets.pop(name, None)
        if self._accounts is not None:
            self._removed = True


def _exists(change: ResourceChange, side: str) -> bool:
    if side == "before":
        return change.before is not None and change.actions != ("create",)
    return change.exists_after and change.after is not None


def _touches(change: ResourceChange) -> bool:
    return any(a in ("create", "update", "delete") for a in change.actions)


def build_world(plan: Plan, side: str, base: Mapping[str, Asset] | None = None, *,
                numbers: Mapping[str, str] | None = None,
                ancestors: Mapping[str, tuple[str, ...]] | None = None,
                only: Callable[[ResourceChange], bool] | None = None,
                base_iam: bool = True) -> World:
    """The assets on `side` ("before" or "after") of the plan, overlaid on `base`; with
    `only`, just the converted resources it accepts (IAM and other pieces always apply).
    `base_iam`: the base holds IAM content (False for a resource-only snapshot)."""
    load_tables()
    ctx = Context(plan, side, numbers, ancestors)
    before = ctx if side == "before" else Context(plan, "before", numbers, ancestors)
    world = World(assets=dict(base or {}))
    parts: list[tuple[ResourceChange, Part]] = []
    for change in plan.changes:
        conv = CONVERTERS.get(change.type)
        part = PARTS.get(change.type)
        if conv is None and part is None:
            if side == "after":
                world.not_evaluated.append(change)
            continue
        if part is not None:
            parts.append((change, part))
        if conv is None or (only is not None and not only(change)):
            continue
        if side == "after" and change.is_delete:
            gone = before.asset_of(change)
            if gone is not None and not (change.is_create and _same(ctx, change, gone)):
                world.remove(gone.name)
                world.name_of.setdefault(change.address, gone.name)
        if not _exists(change, side):
            continue
        asset = ctx.asset_of(change)
        if asset is None:
            continue
        if asset.asset_type == _SA and asset.name not in world.assets:
            email = asset.data.get("email")  # one account, however each side names it
            same = world.account(f"serviceAccounts/{email}") if isinstance(email, str) else None
            if same is not None:
                asset = _replace(asset, name=same.name)
        prior = world.assets.get(asset.name)
        if prior is not None:
            asset = _replace(asset, iam_policy=prior.iam_policy, org_policy=prior.org_policy,
                            ancestors=prior.ancestors or asset.ancestors,
                            update_time=prior.update_time)
        elif (change.is_create and side == "after" and asset.asset_type in _POLICY_HOLDERS
              and asset.iam_policy is None):
            asset = _replace(asset, iam_policy={"bindings": []})
        world.assets[asset.name] = asset
        if asset.asset_type == _SA:
            if prior is None:
                world.added_account(asset)
            else:
                world.forget_accounts()
        world.name_of[change.address] = asset.name
        world.origin.setdefault(asset.name, []).append(change)
        if side == "after" and (change.is_create or change.is_update):
            world.changed.setdefault(asset.name, change)
    known_base = base if base is not None and base_iam else {}
    for change, part in parts:
        _apply_part(world, ctx, before, change, part, side, known_base)
    _mark_undeclared_iam(world, side, known_base, snapshot=base is not None)
    return world


def _mark_undeclared_iam(world: World, side: str, known_base: Mapping[str, Asset], *,
                         snapshot: bool) -> None:
    """Give every policy holder whose IAM policy neither the plan declares (it creates the
    holder, or plans pieces of its policy) nor the base holds an unknown policy, so rules
    that read its bindings or audit configs are UNKNOWN there, never judged against an empty
    policy because some other planned asset carries one."""
    for name, asset in list(world.assets.items()):
        if asset.iam_policy is not None or asset.asset_type not in _POLICY_HOLDERS:
            continue
        if name in known_base:
            continue
        if side == "after" and any(c.is_create for c in world.origin.get(name, ())):
            continue
        where = name.split("//cloudresourcemanager.googleapis.com/", 1)[-1]
        why = UnknownValue(
            f"unknown: the plan does not declare the IAM policies of {where} and "
            + ("the snapshot has no IAM_POLICY content for it" if snapshot else
               "no snapshot was given (pass --snapshot to judge the IAM_POLICY content that "
               "exists)"))
        world.assets[name] = _replace(asset, iam_policy={
            "bindings": [{"role": why, "members": why}], "auditConfigs": why})


_SA = "iam.googleapis.com/ServiceAccount"
# The types whose IAM policy rules read: one the plan creates has exactly the policy the plan
# gives it (its IAM resources, else none); one it updates without declaring it has an unknown one.
_POLICY_HOLDERS = {"storage.googleapis.com/Bucket", _SA,
                   "cloudresourcemanager.googleapis.com/Project",
                   "cloudresourcemanager.googleapis.com/Folder",
                   "cloudresourcemanager.googleapis.com/Organization",
                   "bigquery.googleapis.com/Dataset", "bigquery.googleapis.com/Table",
                   "healthcare.googleapis.com/Dataset", "healthcare.googleapis.com/FhirStore",
                   "healthcare.googleapis.com/Hl7V2Store", "healthcare.googleapis.com/DicomStore",
                   "pubsub.googleapis.com/Topic", "pubsub.googleapis.com/Subscription",
                   "secretmanager.googleapis.com/Secret", "cloudkms.googleapis.com/KeyRing",
                   "cloudkms.googleapis.com/CryptoKey", "run.googleapis.com/Service",
                   "cloudfunctions.googleapis.com/CloudFunction",
                   "cloudfunctions.googleapis.com/Function", "compute.googleapis.com/Image",
                   "artifactregistry.googleapis.com/Repository"}


def _same(ctx: Context, change: ResourceChange, gone: Asset) -> bool:
    now = ctx.asset_of(change)
    return now is not None and now.name == gone.name


def _parent_asset(world: World, ctx: Context, change: ResourceChange, part: Part,
                  values: Any, side: str, base: Mapping[str, Asset]) -> Asset | None:
    ctx.change = change
    found = part.parent(values, ctx)
    if found is None:
        return None
    asset_type, name = found
    asset = world.assets.get(name)
    if asset is None and asset_type == _SA:
        asset = world.account(name)
        name = asset.name if asset is not None else name
    if asset is not None:
        if asset.iam_policy is None and part.kind.startswith(("iam", "audit")):
            known = name in base or any(c.is_create for c in world.origin.get(name, ()))
            asset = _replace(asset, iam_policy={"bindings": [] if known else
                                               [{"role": _UNSEEN, "members": _UNSEEN}]})
            if not known:
                world.partial.add(name)
        return asset
    ident = name.rsplit("/", 1)[-1]
    ancestors: tuple[str, ...] = ()
    if asset_type == "cloudresourcemanager.googleapis.com/Project":
        project_id = next((p for p, n in ctx.project_numbers.items() if n == ident), ident)
        data: dict[str, Any] = {"projectId": project_id, "name": project_id}
        ancestors = ctx.ancestors_of(project_id)
    else:
        # Google's definitions are read only here (reading them takes longer than
        # converting a thousand resources)
        from phiguard.google import field_exists, schema_of

        # the short name, where the holder's REST schema has a `name` (a BigQuery dataset or
        # table has none: it is named by its reference)
        data = {"name": ident} if (
            schema_of(asset_type) is None or field_exists(asset_type, "name")) else {}
        if asset_type.startswith("cloudresourcemanager"):
            ancestors = (name.split("//cloudresourcemanager.googleapis.com/", 1)[-1],)
    world.partial.add(name)
    return Asset(name=name, asset_type=asset_type, data=data,
                 iam_policy={"bindings": [{"role": _UNSEEN, "members": _UNSEEN}]},
                 ancestors=ancestors, source=Source(file=ctx.plan.file, address=change.address))


def _apply_part(world: World, ctx: Context, before: Context, change: ResourceChange,
                part: Part, side: str, base: Mapping[str, Asset]) -> None:
    steps: list[tuple[Context, Any, bool]] = []  # (context, values, add?)
    if side == "after":
        if change.before is not None and (change.is_delete or change.is_update):
            steps.append((before, change.before, False))
        if _exists(change, "after"):
            steps.append((ctx, ctx.values(change), True))
    elif _exists(change, "before"):
        steps.append((ctx, change.before, True))
    for step_ctx, values, add in steps:
        if not isinstance(values, dict):
            continue
        parent = _parent_asset(world, step_ctx, change, part, values, side, base)
        if parent is None:
            continue
        step_ctx.change = change
        piece = part.piece(values, step_ctx)
        parent = _merge(world, parent, part, piece, add)
        world.assets[parent.name] = parent
        world.origin.setdefault(parent.name, []).append(change)
        world.name_of.setdefault(change.address, parent.name)
        if side == "after" and _touches(change):
            world.changed.setdefault(parent.name, change)


def _merge(world: World, asset: Asset, part: Part, piece: Any, add: bool) -> Asset:
    kind = part.kind
    if kind == "append":
        current = asset.data.get(part.target)
        items = list(current) if isinstance(current, list) else []
        named = piece.get(part.key) if part.key and isinstance(piece, dict) else None
        if named is not None:
            # the item of that name goes either way: the snapshot's copy carries output-only
            # fields (kind, ruleTupleCount) the plan's piece never equals
            items = [i for i in items if not (isinstance(i, dict) and i.get(part.key) == named)]
            if add:
                items.append(piece)
        elif add and piece not in items:
            items.append(piece)
        elif not add and piece in items:
            items.remove(piece)
        return _replace(asset, data={**asset.data, part.target: items})
    if kind == "org_policy":
        if not isinstance(piece, dict):
            return asset
        kept = tuple(p for p in asset.org_policy if p.get("constraint") != piece.get("constraint"))
        return _replace(asset, org_policy=(*kept, piece) if add else kept)
    if kind == "iam_policy":
        if add:
            policy = piece if isinstance(piece, dict) else {
                "bindings": [{"role": _UNSEEN, "members": _UNSEEN}]}
        else:
            policy = {"bindings": [{"role": _UNSEEN, "members": _UNSEEN}]}
        return _replace(asset, iam_policy=policy)
    policy = world.own_policy(asset.iam_policy)
    if kind == "audit_config":
        configs = [c for c in policy.get("auditConfigs", []) if c.get("service")
                   != piece.get("service")]
        if add:
            configs.append(piece)
        policy["auditConfigs"] = configs
    else:
        _merge_binding(world, policy, piece, kind, add)
    return asset if policy is asset.iam_policy else _replace(asset, iam_policy=policy)


def _copy_policy(policy: dict[str, Any] | None) -> dict[str, Any]:
    policy = policy or {"bindings": []}
    out = dict(policy)
    out["bindings"] = [dict(b) for b in policy.get("bindings", [])]
    if "auditConfigs" in policy:
        out["auditConfigs"] = list(policy["auditConfigs"])
    return out


def _merge_binding(world: World, policy: dict[str, Any], piece: Any, kind: str,
                   add: bool) -> None:
    if not isinstance(piece, dict):
        return
    role, members, cond = piece.get("role"), piece.get("members"), piece.get("condition")
    bindings: list[dict[str, Any]] = policy["bindings"]
    same = [b for b in bindings if b.get("role") == role and b.get("condition") == cond]
    if kind == "iam_binding":  # authoritative for the role (and condition)
        for b in same:
            bindings.remove(b)
        if add:
            entry: dict[str, Any] = {"role": role, "members": members}
            if cond:
                entry["condition"] = cond
            bindings.append(entry)
        return
    if not isinstance(members, list):
        return
    if same and isinstance(same[0].get("members"), list):
        target = same[0]
        current, seen = world.own_members(target)
        for member in members:
            if seen is not None:
                try:
                    present = member in seen
                except TypeError:  # unhashable: from now on the list is searched
                    seen = world._members[id(current)] = None
                    present = member in current
            else:
                present = member in current
            if add and not present:
                current.append(member)
                if seen is not None:
                    seen.add(member)
            elif not add and present:
                current.remove(member)
                if seen is not None and member not in current:
                    seen.discard(member)
        if not current:
            bindings.remove(target)
    elif add:
        entry = {"role": role, "members": list(members)}
        if cond:
            entry["condition"] = cond
        bindings.append(entry)
