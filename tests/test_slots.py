"""`_util.slots.slot_maker`: the hot paths' makers build exactly what the constructors build."""

from __future__ import annotations

import dataclasses
from dataclasses import astuple, dataclass

import pytest

from phiguard._util.slots import slot_maker


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int
    label: str | None = None
    origin: str = "here"


def test_positional_and_keyword_arguments_give_what_the_constructor_gives() -> None:
    make = slot_maker(Point)
    assert make(1, 2, "a", "b") == Point(1, 2, "a", "b")
    assert make(y=2, x=1, origin="o", label=None) == Point(1, 2, None, "o")
    made = make(3, 4, "c", "d")
    assert type(made) is Point and astuple(made) == (3, 4, "c", "d")
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.x = 5  # type: ignore[misc]


def test_fixed_fields_are_not_parameters_and_defaults_may_be_left_out() -> None:
    make = slot_maker(Point, fixed={"origin": "fixed"}, defaults={"label": None})
    assert make(1, 2) == Point(1, 2, None, "fixed")
    assert make(1, 2, "l") == Point(1, 2, "l", "fixed")
    with pytest.raises(TypeError):
        make(1, 2, "l", "extra")  # origin is not a parameter


def test_every_field_is_set_even_one_the_caller_cannot_see() -> None:
    """A field left out of the maker's source would be an unset slot: reading it raises."""
    made = slot_maker(Point, fixed={"label": "x", "origin": "y"})(1, 2)
    assert [getattr(made, f.name) for f in dataclasses.fields(Point)] == [1, 2, "x", "y"]


def test_unknown_field_names_are_refused() -> None:
    with pytest.raises(ValueError, match="no such fields"):
        slot_maker(Point, fixed={"z": 1})
