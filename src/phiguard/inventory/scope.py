"""PHI scope: which projects, folders and networks hold PHI, from configuration."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from phiguard.inventory.refs import ref_key

__all__ = ["PhiConfig", "PhiScope", "ProjectIndex", "ProjectInfo", "Tenancy", "network_problem"]


_NETWORK = re.compile(r"projects/[^/]+/global/networks/[^/]+")


def network_problem(entry: str) -> str | None:
    """Why a `phi.networks` entry cannot be used (None: it names one network). A network's
    name is unique only within its project, so a name alone would put a network of that name
    in every project (`default`, say) in PHI scope: the entry must name the project."""
    if _NETWORK.fullmatch(ref_key(entry)):
        return None
    return (f"network {entry!r} must name its project: write its selfLink or "
            f"projects/PROJECT/global/networks/NAME (a name alone would match a network of "
            f"that name in every project)")


@dataclass(frozen=True)
class PhiConfig:
    """The `phi:` block of phiguard.yaml. Each network is named with its project (see
    `network_problem`); a bare name is refused with ValueError."""

    all: bool = False
    projects: frozenset[str] = frozenset()
    folders: frozenset[str] = frozenset()
    project_labels: Mapping[str, str] = field(default_factory=dict)
    networks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for entry in sorted(self.networks):
            problem = network_problem(entry)
            if problem:
                raise ValueError(f"phi.networks: {problem}")

    def to_json(self) -> dict[str, Any]:
        return {
            "all": self.all,
            "projects": sorted(self.projects),
            "folders": sorted(self.folders),
            "project_labels": dict(sorted(self.project_labels.items())),
            "networks": sorted(self.networks),
        }


@dataclass
class ProjectInfo:
    """What the snapshot tells about one project."""

    number: str | None = None
    id: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    ancestors: tuple[str, ...] = ()
    # Shown to have no parent: a Cloud Asset Inventory record of the project whose ancestors
    # are the project alone and whose Resource Manager body has no `parent` (a project outside
    # any organization). Its place is known: nothing is above it.
    orgless: bool = False


class ProjectIndex:
    """Projects by id and by number, learned from Project assets and from asset names."""

    def __init__(self) -> None:
        self._by_key: dict[str, ProjectInfo] = {}

    def learn(self, *, number: str | None, project_id: str | None,
              labels: Mapping[str, str] | None = None, ancestors: Iterable[str] = (),
              orgless: bool = False) -> None:
        info = (self._by_key.get(number) if number else None) or (
            self._by_key.get(project_id) if project_id else None) or ProjectInfo()
        info.number = info.number or number
        info.id = info.id or project_id
        if labels:
            info.labels = {str(k): str(v) for k, v in labels.items()}
        anc = tuple(ancestors)
        if len(anc) > len(info.ancestors):
            info.ancestors = anc
        info.orgless = info.orgless or orgless
        for key in (info.number, info.id):
            if key:
                self._by_key[key] = info

    def get(self, key: str | None) -> ProjectInfo | None:
        if not key:
            return None
        if key.startswith("projects/"):
            key = key[len("projects/"):]
        return self._by_key.get(key)

    def all(self) -> list[ProjectInfo]:
        seen: dict[int, ProjectInfo] = {id(i): i for i in self._by_key.values()}
        return list(seen.values())


@dataclass
class Tenancy:
    """The VPC networks the resources of each project sit on: `networks`, project number (or
    id) -> keys (`ref_key`) of the networks its resources reference; `undecided`, the projects
    a resource of which does not show its network (no value, or one known only after apply).
    Only the types whose network may be another project's are read (`TENANT_PATHS`)."""

    networks: dict[str, set[str]] = field(default_factory=dict)
    undecided: set[str] = field(default_factory=set)

    def update(self, other: Tenancy) -> None:
        for project, keys in other.networks.items():
            self.networks.setdefault(project, set()).update(keys)
        self.undecided.update(other.undecided)

    def note(self, project: str, keys: set[str], undecided: bool) -> None:
        """One resource of `project`: the network keys it references (`keys`, kept as the
        project's set when it is the first), and whether one it should show is missing."""
        if keys:
            known = self.networks.get(project)
            if known is None:
                self.networks[project] = keys
            else:
                known.update(keys)
        if undecided:
            self.undecided.add(project)


class PhiScope:
    """Answers whether a project, network or hierarchy node holds PHI."""

    def __init__(self, config: PhiConfig, projects: ProjectIndex,
                 folders: Mapping[str, Iterable[str]] | None = None,
                 tenancy: Tenancy | None = None) -> None:
        """`folders`: the ancestors of folders the input holds (`folders/F` -> its ancestors,
        itself first), so that a PHI project's chain ending at a folder can be continued.
        `tenancy`: the VPC networks each project's resources sit on (see `Tenancy`)."""
        self.config = config
        self.projects = projects
        self._network_keys = {ref_key(n) for n in config.networks}
        self._project_cache: dict[str, bool] = {}
        self._ref_keys: dict[str, str] = {}
        # The folders and organization above each PHI project (and PHI folder). A place is known
        # when its chain ends at an organization, as Cloud Asset Inventory lists every ancestor;
        # a Terraform plan without a snapshot may name a PHI project with no parent, or only its
        # folder, and a configured PHI project may be missing from the input altogether.
        above_of = _chains(projects, folders or {})
        phi_ancestors: set[str] = set()
        unplaced = [p for p in sorted(config.projects) if projects.get(p) is None]
        for info in projects.all():
            if self._info_is_phi(info):
                node = next((a for a in info.ancestors if a.startswith("projects/")), None)
                above = _continued([a for a in info.ancestors if not a.startswith("projects/")],
                                   above_of)
                phi_ancestors.update(above)
                if info.orgless and len(info.ancestors) <= 1:
                    continue  # outside any organization: nothing is above it
                if not above or not above[-1].startswith("organizations/"):
                    unplaced.append(info.id or info.number or node or "?")
        # The host projects of the PHI networks (a Shared VPC host is often outside the PHI
        # projects): a grant on one, or above it, reaches the network and what sits on it.
        self.network_hosts = frozenset(key.split("/")[1] for key in self._network_keys)
        for host in sorted(self.network_hosts):
            hosting = projects.get(host)
            if hosting is not None:
                phi_ancestors.update(_continued(
                    [a for a in hosting.ancestors if not a.startswith("projects/")], above_of))
        # The projects with a resource on a PHI network (a Shared VPC's service projects, or
        # any project whose resource uses a PHI network): a grant on one, or above it, reaches
        # that resource (it inherits the project's policy), as a host project's does.
        tenancy = tenancy or Tenancy()
        tenants: set[str] = set()
        undecided: set[str] = set()
        for project, keys in sorted(tenancy.networks.items()):
            if any(self.network_is_phi(key) for key in keys):
                tenants.add(project)
        undecided.update(p for p in tenancy.undecided if p not in tenants)
        self.network_tenants = self._spellings(tenants)
        for project in sorted(tenants):
            tenant = projects.get(project)
            if tenant is not None:
                phi_ancestors.update(_continued(
                    [a for a in tenant.ancestors if not a.startswith("projects/")], above_of))
        for folder in sorted(config.folders):
            above = _continued([folder], above_of)
            phi_ancestors.update(above[1:])
            if not above[-1].startswith("organizations/"):
                unplaced.append(folder)
        self.phi_ancestors = frozenset(phi_ancestors)
        # The PHI projects and folders whose place in the hierarchy is not known: while there
        # is one, a folder or organization not known to be above a PHI project may still be.
        self.unplaced: tuple[str, ...] = tuple(dict.fromkeys(unplaced))
        self.phi_ancestry_known = not self.unplaced
        # Whether some VPC network can be in PHI scope: one named in `phi.networks`, or one
        # whose host project is in PHI scope (`network_is_phi`).
        self.networks_possible = bool(config.all or config.networks or config.projects
                                      or phi_ancestors or any(
                                          self._info_is_phi(i) for i in projects.all()))
        # The projects a resource of which does not show the network it is on, when some
        # network can be a PHI one: a grant on one (or above it, unless known to reach PHI
        # otherwise) may reach PHI.
        if not self.networks_possible:
            undecided.clear()
        self.undecided_tenants = self._spellings(undecided)
        self.undecided_above = frozenset(
            node for project in sorted(undecided) if (placed := projects.get(project))
            for node in _continued([a for a in placed.ancestors if not a.startswith("projects/")],
                                   above_of))

    def _spellings(self, keys: Iterable[str]) -> frozenset[str]:
        """Projects by id and number, each as given and spelled the other way."""
        out = set(keys)
        for key in list(out):
            info = self.projects.get(key)
            if info is not None:
                out.update(k for k in (info.id, info.number) if k)
        return frozenset(out)

    def tenant_reach(self, *spellings: str | None) -> bool | None:
        """Whether the project (by its id or number) has a resource on a PHI network (True),
        has none (False), or a resource of it does not show its network (None)."""
        if any(s in self.network_tenants for s in spellings if s):
            return True
        if any(s in self.undecided_tenants for s in spellings if s):
            return None
        return False

    def _info_is_phi(self, info: ProjectInfo) -> bool:
        cfg = self.config
        if cfg.all:
            return True
        if (info.id and info.id in cfg.projects) or (info.number and info.number in cfg.projects):
            return True
        if any(a in cfg.folders for a in info.ancestors):
            return True
        return any(info.labels.get(k) == v for k, v in cfg.project_labels.items())

    def project_is_phi(self, key: str | None, ancestors: Iterable[str] = ()) -> bool:
        """Whether the project with this id or number (or `projects/X`) holds PHI."""
        if self.config.all:
            return True
        if not key:
            return False
        if key.startswith("projects/"):
            key = key[len("projects/"):]
        cached = self._project_cache.get(key)
        if cached is not None:
            return cached
        info = self.projects.get(key)
        if info is None:
            anc = tuple(ancestors)
            result = key in self.config.projects or any(a in self.config.folders for a in anc)
            return result
        result = self._info_is_phi(info)
        self._project_cache[key] = result
        return result

    def network_is_phi(self, ref: str | None) -> bool:
        """Whether a VPC network (selfLink, path or name) is a PHI network."""
        if self.config.all:
            return True
        if not ref:
            return False
        # A few hundred networks are referenced by every resource on them: keys made once.
        key = self._ref_keys.get(ref)
        if key is None:
            key = ref_key(ref)
            if len(self._ref_keys) < 100_000:
                self._ref_keys[ref] = key
        if key in self._network_keys:
            return True
        if key.startswith("projects/"):
            return self.project_is_phi(key.split("/")[1])
        return False

    def unmatched(self) -> list[str]:
        """The `phi:` project, folder and label entries that match nothing in the snapshot.

        Networks are not checked: a network is matched by the references resources make to
        it (often to a host or producer project outside the export), seen only while judging.
        """
        cfg = self.config
        if cfg.all:
            return []
        infos = self.projects.all()
        out = [f"phi.projects: {p}" for p in sorted(cfg.projects) if self.projects.get(p) is None]
        seen = {a for info in infos for a in info.ancestors}
        out += [f"phi.folders: {f}" for f in sorted(cfg.folders) if f not in seen]
        out += [f"phi.project_labels: {k}={v}" for k, v in sorted(cfg.project_labels.items())
                if not any(info.labels.get(k) == v for info in infos)]
        return out

    def warnings(self) -> list[str]:
        """What a user must hear about the scope before trusting the results."""
        out = [f"PHI scope entry matches nothing in the snapshot: {entry}"
               for entry in self.unmatched()]
        cfg = self.config
        if cfg.all or any(self._info_is_phi(info) for info in self.projects.all()):
            return out
        if cfg.networks:
            out.append("no PHI project, folder or label matches the snapshot: only resources "
                       "on the PHI networks are in PHI scope")
        else:
            out.append("nothing in the snapshot is in PHI scope: rules with scope phi judge "
                       "nothing (check the `phi:` block of phiguard.yaml)")
        return out

    def node_is_phi(self, node: str) -> bool:
        """Whether a hierarchy node (`projects/N`, `folders/F`, `organizations/O`) holds PHI."""
        if self.config.all:
            return True
        if node.startswith("projects/"):
            return self.project_is_phi(node)
        return node in self.phi_ancestors or node in self.config.folders

    def node_reach(self, node: str) -> bool | None:
        """Whether a grant on a folder or organization reaches PHI: it holds PHI or is above a
        PHI project, a PHI folder, a PHI network's host project or a project with a resource
        on a PHI network (True), it is known not to (False), or that is not known (None: some
        PHI project's or folder's place in the hierarchy is not known, `unplaced`, or a project
        below it has a resource that does not show its network, `undecided_above`)."""
        if self.node_is_phi(node):
            return True
        if node.startswith("projects/"):
            return False
        if self.phi_ancestry_known and node not in self.undecided_above:
            return False
        return None

    def unplaced_text(self) -> str:
        """The PHI projects and folders whose place is not known, for a reason (a few named)."""
        names = list(self.unplaced[:3])
        more = len(self.unplaced) - len(names)
        return ", ".join(names) + (f" and {more} more" if more else "")


def _chains(projects: ProjectIndex, folders: Mapping[str, Iterable[str]],
            ) -> dict[str, tuple[str, ...]]:
    """Each folder the input places, with the nodes above it (nearest first)."""
    out: dict[str, tuple[str, ...]] = {}
    lists = [tuple(a) for a in folders.values()]
    lists += [info.ancestors for info in projects.all()]
    for chain in lists:
        for i, node in enumerate(chain):
            if node.startswith("folders/") and len(chain) - i - 1 > len(out.get(node, ())):
                out[node] = chain[i + 1:]
    return out


def _continued(above: list[str], above_of: Mapping[str, tuple[str, ...]]) -> list[str]:
    """A chain of nodes continued above its last folder from what the input tells of it."""
    seen = set(above)
    while above and above[-1].startswith("folders/") and above_of.get(above[-1]):
        extra = [n for n in above_of[above[-1]] if n not in seen]
        if not extra:
            break
        above += extra
        seen.update(extra)
    return above
