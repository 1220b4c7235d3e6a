"""Redaction's fast paths (a mapping of scalars under names already seen to be plain, a list of
scalars, dict and list tested by exact type before the Mapping ABC) keep what the walk gives:
secrets still redacted whatever was learned before, the very same object when nothing is."""

from __future__ import annotations

from collections import OrderedDict, UserDict
from typing import Any

import pytest

from phiguard import redaction
from phiguard.redaction import REDACTED, redact, redact_evidence


@pytest.fixture(autouse=True)
def _fresh_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_PLAIN_NAMES", set())


def test_a_plain_mapping_is_kept_as_the_same_object_once_its_names_are_known() -> None:
    rule = {"IPProtocol": "tcp", "priority": 1000, "disabled": False, "note": None}
    first = {"IPProtocol": "udp", "priority": 10, "disabled": True, "note": "x"}
    assert redact("data.allowed[0]", first) is first  # walked: names learned
    assert set(first) <= redaction._PLAIN_NAMES
    assert redact("data.allowed[0]", rule) is rule


def test_a_secret_name_is_never_learned_and_stays_redacted() -> None:
    plain = {"name": "db", "tier": "db-f1"}
    assert redact("data.settings", plain) is plain
    with_secret = {"name": "db", "password": "hunter2", "tier": "db-f1"}
    for _ in range(2):  # the second time after everything else in it was learned
        assert redact("data.settings", with_secret) == {"name": "db", "password": REDACTED,
                                                        "tier": "db-f1"}
    assert "password" not in redaction._PLAIN_NAMES
    assert redact("data.settings", {"password": None}) == {"password": None}
    assert "password" not in redaction._PLAIN_NAMES


def test_names_learned_elsewhere_do_not_unredact_metadata_or_environment() -> None:
    assert redact("data.x", {"name": "k", "value": "v"}) == {"name": "k", "value": "v"}
    assert "value" in redaction._PLAIN_NAMES
    item = {"key": "startup-script", "value": "echo secret"}
    assert redact("data.metadata.items", [item]) == [{"key": "startup-script",
                                                      "value": REDACTED}]
    assert redact("data.containers[0].env", [{"name": "TOKEN", "value": "t"}]) == [
        {"name": "TOKEN", "value": REDACTED}]
    # a list of scalars read as `value` inside metadata is still redacted item by item
    assert redact("data.metadata.items[0].value", ["a", "b"]) == [REDACTED, REDACTED]
    # a map of user-chosen names inside metadata: every scalar value redacted
    assert redact("data.config.metadata", {"note": "n", "enable-oslogin": "TRUE"}) == {
        "note": REDACTED, "enable-oslogin": "TRUE"}


def test_a_list_of_scalars_is_the_same_object() -> None:
    ranges = ["0.0.0.0/0", "10.0.0.0/8", 22, True, None, 1.5]
    assert redact("data.sourceRanges", ranges) is ranges
    assert redact("data.password", ["p"]) == REDACTED


@pytest.mark.parametrize("value", [
    OrderedDict([("name", "n"), ("apiKey", "k")]),
    UserDict({"name": "n", "clientSecret": "s"}),
])
def test_mapping_types_other_than_dict_are_walked(value: Any) -> None:
    out = redact("data.x", value)
    assert out == {"name": "n", **{k: REDACTED for k in value if k != "name"}}
    plain = UserDict({"name": "n"})
    learned = redact("data.y", plain)
    assert learned == {"name": "n"}
    assert type(learned) is dict  # walked and copied, as before: only a dict is kept whole


def test_non_string_keys_take_the_walk() -> None:
    value = {1: "one", "name": "n"}
    assert redact("data.labels", value) is value
    assert redact_evidence((("data.labels", value), ("data.token", "t"))) == [
        ("data.labels", value), ("data.token", REDACTED)]


def test_learning_stops_at_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_PLAIN_NAMES_MAX", 2)
    value = {f"field{i}": i for i in range(5)}
    assert redact("data.x", value) is value
    assert len(redaction._PLAIN_NAMES) == 2
    assert redact("data.x", value) is value
