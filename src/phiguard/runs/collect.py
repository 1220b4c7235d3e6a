"""The collect run: a snapshot of the live organization, of what the rule pack needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phiguard.runs.common import load_pack

if TYPE_CHECKING:
    from phiguard.config import Config
    from phiguard.policy.rule import RulePack

__all__ = ["asset_types_for", "collect_snapshot", "run_collect", "scope_parents"]


def scope_parents(org: str | None, folder: str | None, projects: Sequence[str]) -> list[str]:
    """The Cloud Asset parents of the chosen scope (exactly one kind of scope)."""
    from phiguard.errors import UsageError

    given = [bool(org), bool(folder), bool(projects)]
    if sum(given) != 1:
        raise UsageError("give exactly one scope: --org N, --folder N or --project ID "
                         "(repeatable)")
    for flag, value, prefix in (("--org", org, "organizations/"), ("--folder", folder, "folders/")):
        if value and not value.removeprefix(prefix).isdigit():
            raise UsageError(f"{flag} {value!r}: expected the numeric id (e.g. 123456789012), "
                             "as `gcloud organizations list` / `gcloud resource-manager "
                             "folders list` show it")
    if org:
        return [f"organizations/{org.removeprefix('organizations/')}"]
    if folder:
        return [f"folders/{folder.removeprefix('folders/')}"]
    return [f"projects/{p.removeprefix('projects/')}" for p in projects]


def asset_types_for(pack: RulePack, config: Config) -> dict[str, list[str]]:
    """Per content type, the asset types the enabled rules judge or join to; an empty list
    (every type) for the content types a rule on `*` reads."""
    from phiguard.collect.sources import CONTENT_TYPES
    from phiguard.policy.engine import Engine

    engine = Engine(pack.rules, params=config.params, enable=config.enable,
                    disable=config.disable)
    types = sorted(set(engine.subject_types()) | engine.context_types())
    needs = engine.any_type_needs()
    every = set(CONTENT_TYPES) if needs == frozenset() else set(needs or ())
    return {c: ([] if c in every else types) for c in CONTENT_TYPES}


def collect_snapshot(parents: list[str], output: Path, pack: RulePack, config: Config, *,
                     asset_types: Sequence[str] = (), directory_customer: str | None = None,
                     concurrency: int = 4, export_uri: str | None = None,
                     export_timeout: float = 3600.0,
                     on_gap: Callable[[dict[str, Any]], None] = lambda gap: None,
                     ) -> dict[str, Any]:
    """Collect into the new snapshot directory `output`; the manifest (with its coverage
    gaps, each also told to `on_gap`) is returned. Progress goes to standard error (bars on
    a terminal)."""
    from phiguard.collect.clients import Clients
    from phiguard.collect.collector import CollectOptions, collect
    from phiguard.collect.export import ExportPolling
    from phiguard.collect.progress import progress_for_stderr
    from phiguard.collect.sources import CONTENT_TYPES

    options = CollectOptions(parents, output,
                             asset_types=({c: list(asset_types) for c in CONTENT_TYPES}
                                          if asset_types else asset_types_for(pack, config)),
                             directory_customer=directory_customer, concurrency=concurrency,
                             export=export_uri,
                             export_polling=ExportPolling(timeout=export_timeout))
    with progress_for_stderr() as progress:  # bars on a terminal, plain lines in CI
        manifest = collect(Clients.from_env(), options, progress=progress)
    for gap in manifest["coverage_gaps"]:
        on_gap(gap)
    return manifest


def run_collect(output: Path, *, org: str | None = None, folder: str | None = None,
                projects: Sequence[str] = (), rules: Sequence[Path] = (),
                config_path: Path | None = None, asset_types: Sequence[str] = (),
                directory_customer: str | None = None, concurrency: int = 4,
                export_uri: str | None = None, export_timeout: float = 3600.0,
                on_gap: Callable[[dict[str, Any]], None] = lambda gap: None,
                ) -> dict[str, Any]:
    """Collect one scope into `output`; `on_gap` hears each coverage gap. The manifest."""
    from phiguard.config import load_config

    parents = scope_parents(org, folder, projects)
    pack = load_pack(rules)
    manifest = collect_snapshot(parents, output, pack, load_config(config_path),
                                asset_types=asset_types, directory_customer=directory_customer,
                                concurrency=concurrency, export_uri=export_uri,
                                export_timeout=export_timeout, on_gap=on_gap)
    return manifest
