"""Reference helpers every service's tables share: resolving values known only after apply
through the configuration, and the name parts a reference holds."""

from __future__ import annotations

from typing import Any

from phiguard.inventory.refs import project_of_name, ref_key
from phiguard.terraform.convert import (
    Context,
)
from phiguard.terraform.values import is_unknown, tf_get

RESOURCE_MANAGER = "//cloudresourcemanager.googleapis.com/"
NETWORK = "projects/{project}/global/networks/{}"  # a network reference's expansion


def known(values: Any, attr: str, ctx: Context, want_ref: bool = True) -> Any:
    value = tf_get(values, attr)
    if is_unknown(value) and ctx.change is not None:
        value = ctx.resolve(ctx.change, attr, want_ref)
    return value


def placeholder(values: Any, attr: str, ctx: Context) -> str | None:
    """A holder known only after apply (`folder = random_string.x.result`) still holds the
    planned grant: it is named by the address, as Google's converter names it `placeholder-`."""
    if is_unknown(tf_get(values, attr)) and ctx.change is not None:
        return f"({ctx.change.address}.{attr})"
    return None


def last_segment(value: Any, ctx: Context) -> Any:
    """The last path segment of a reference (a bare name stays as it is)."""
    return value.rsplit("/", 1)[-1] if isinstance(value, str) else value


def ref_key_of(value: Any, ctx: Context) -> Any:
    return ref_key(value) if isinstance(value, str) else value


def project_in(ref: Any, ctx: Context) -> Any:
    """The project a reference names (`projects/P/...`); "" for a bare name, which names none
    (Google's converter then takes the provider's default project, which a plan does not show)."""
    return (project_of_name(ref) or "") if isinstance(ref, str) else ref


def location_scoped_name(data: dict[str, Any], values: Any, ctx: Context, collection: str,
                         where: str) -> None:
    """REST `name` = projects/P/locations/L/<collection>/N for the location-scoped APIs."""
    if ctx.change is None:
        return
    scope = ctx.scope(ctx.change, values)
    data["name"] = (f"projects/{scope['project']}/locations/{scope[where]}/{collection}/"
                    f"{scope['name']}")
