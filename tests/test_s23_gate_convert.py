"""The converters' shortcuts answer as what they replace: `References.get` as `Mapping.get`,
world's `_replace` as `dataclasses.replace` on an Asset."""

from __future__ import annotations

import dataclasses

import pytest

from phiguard.inventory.asset import Asset, Source, UnknownValue
from phiguard.terraform.plan import References
from phiguard.terraform.world import _replace


def test_references_get_is_mapping_get() -> None:
    refs = References()
    refs.raw["google_x.a"] = {"network": {"references": ["google_compute_network.n.id",
                                                         "google_compute_network.n"]},
                              "name": {"constant_value": "a"}}
    refs.raw["google_x.none"] = None
    want = {"network": ["google_compute_network.n.id", "google_compute_network.n"], "name": []}
    assert refs.get("google_x.a") == want
    assert refs.get("google_x.a") is refs.get("google_x.a")  # flattened once
    assert refs.get("google_x.none") == {}
    assert refs.get("google_x.missing") is None
    assert refs.get("google_x.missing", {}) == {}
    from collections.abc import Mapping

    for key in ("google_x.a", "google_x.none", "google_x.missing"):
        assert refs.get(key, "d") == Mapping.get(refs, key, "d")


ASSET = Asset(name="//storage.googleapis.com/b", asset_type="storage.googleapis.com/Bucket",
              data={"name": "b"}, iam_policy=None, ancestors=("projects/1",),
              location="us", source=Source(file="plan.json", address="google_storage_bucket.b"))


@pytest.mark.parametrize("changes", [
    {"iam_policy": {"bindings": []}},
    {"name": "//storage.googleapis.com/c"},
    {"iam_policy": {"bindings": [{"role": UnknownValue("x"), "members": UnknownValue("x")}]},
     "org_policy": ({"constraint": "c"},), "ancestors": ("projects/2",)},
    {"data": {"name": "b", "labels": {"k": "v"}}},
    {},
])
def test_replace_is_dataclasses_replace(changes: dict[str, object]) -> None:
    got = _replace(ASSET, **dict(changes))
    want = dataclasses.replace(ASSET, **changes)  # type: ignore[arg-type]
    assert got == want
    assert got is not ASSET
    for f in dataclasses.fields(Asset):
        assert getattr(got, f.name) is getattr(want, f.name)


def test_replace_refuses_a_field_asset_has_not() -> None:
    with pytest.raises(TypeError):
        _replace(ASSET, colour="blue")
