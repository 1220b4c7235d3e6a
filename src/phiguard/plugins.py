"""Every kind of installed plugin, loaded once before a run judges anything.

Three entry point groups (see docs/extending.md):

- `phiguard.operators`: a module whose import registers operators with
  `phiguard.policy.operator(...)` (or a function that does, called once);
- `phiguard.controls`: a control catalog file with its own `catalog` name and `id_pattern`
  (a path, or a function returning one or several);
- `phiguard.converters`: Terraform converters, a `phiguard.terraform.convert.Converter` or
  `Part`, or a list of them (or a function returning that), for google_* resource types
  phiguard does not convert itself.

The policy layer loads operators and catalogs itself when a rule pack loads (it needs them to
validate rules); this module adds the converters, which belong to the Terraform layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from phiguard.errors import PluginError
from phiguard.policy.language import ASSET_TYPE, TF_TYPE
from phiguard.policy.plugins import (
    CONTROLS_GROUP,
    CONVERTERS_GROUP,
    OPERATORS_GROUP,
    catalog_files,
    load_group,
    load_operator_plugins,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["CONTROLS_GROUP", "CONVERTERS_GROUP", "OPERATORS_GROUP", "load_converter_plugins",
           "load_plugins"]

_registered: dict[str, str] = {}  # Terraform type -> the plugin that converts it


def load_plugins() -> None:
    """Load every installed plugin (each group once per process)."""
    load_operator_plugins()
    catalog_files()
    load_converter_plugins()


def load_converter_plugins(found: Iterable[EntryPoint] | None = None) -> None:
    """Register the converters `phiguard.converters` plugins provide, refusing a Terraform type
    phiguard or another plugin already converts. `found` replaces the installed entry points."""
    loaded = load_group(CONVERTERS_GROUP, found)
    if not loaded:
        return  # nothing installed: the Terraform layer is not even imported
    from phiguard.terraform.convert import CONVERTERS, PARTS, Converter, Part, register
    from phiguard.terraform.world import load_tables

    load_tables()  # the built-in converters first, so a collision with one is seen
    for who, obj in loaded:
        items: list[Any] = list(obj) if isinstance(obj, list | tuple) else [obj]
        for item in items:
            if not isinstance(item, Converter | Part):
                raise PluginError(f"{who}: a converter entry point gives Converter or Part "
                                  f"objects (phiguard.terraform.convert), not "
                                  f"{type(item).__name__}")
            if _registered.get(item.tf_type) == who:
                continue  # the same plugin loaded again (tests passing `found`)
            if not TF_TYPE.match(item.tf_type):
                raise PluginError(f"{who}: {item.tf_type!r} is not a Terraform resource type "
                                  "of the google provider (google_...)")
            if isinstance(item, Converter) and not ASSET_TYPE.match(item.asset_type):
                raise PluginError(f"{who}: {item.asset_type!r} is not a Cloud Asset Inventory "
                                  "asset type (service.googleapis.com/Kind)")
            if item.tf_type in CONVERTERS or item.tf_type in PARTS:
                other = _registered.get(item.tf_type, "phiguard's built-in converters")
                raise PluginError(f"{who}: Terraform type {item.tf_type} is already converted "
                                  f"by {other}")
            _registered[item.tf_type] = who
            register(item)
