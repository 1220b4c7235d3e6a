"""The plan gate's faster paths read and decide exactly as the slower ones did (issue 14)."""

from __future__ import annotations

import gc
import math
import os
import random
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import orjson
import pytest

from _paths import PLANS
from _plans import change, plan_doc
from phiguard.terraform import plan as plan_module
from phiguard.terraform.plan import PlanError, parse_plan


@pytest.fixture(autouse=True)
def _msgspec_for_every_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """msgspec reads plans from a few MiB on: here it reads these small ones too."""
    monkeypatch.setattr(plan_module, "_MSGSPEC_FROM", 0)


def _after(raw: bytes) -> dict[str, object]:
    after = parse_plan(raw, "p.json").changes[0].after
    assert isinstance(after, dict)
    return after


def _plan_with(value_text: str) -> bytes:
    doc = plan_doc([change("google_compute_network", "n", {"name": "n", "v": 0})])
    return orjson.dumps(doc).replace(b'"v":0', b'"v":' + value_text.encode())


@pytest.mark.parametrize("text", [
    "123456789012345678901234567890",  # beyond 64 bits: orjson reads a float
    "-9223372036854775809",  # below the smallest 64-bit integer: a float too
    "18446744073709551615",  # the largest unsigned 64-bit integer: an int
    "-9223372036854775808",
    "-0",
    "1e-400",
    "4.9e-324",
    "1.7976931348623157e308",
])
def test_numbers_are_read_as_orjson_reads_them(text: str) -> None:
    """The fast reader (msgspec) keeps every integer exact where orjson reads one beyond 64
    bits as a float: such a plan is read by orjson, so a value (and the evidence showing it)
    is the same whichever reader ran."""
    got = _after(_plan_with(text))["v"]
    want = orjson.loads(text)
    assert type(got) is type(want) and repr(got) == repr(want)


def test_random_floats_are_read_to_the_last_bit() -> None:
    rng = random.Random(14)
    items = []
    for _ in range(3000):
        x = struct.unpack("d", rng.randbytes(8))[0]
        if math.isfinite(x):
            items.append(rng.choice([repr(x), f"{x:.17e}", f"{x:.15g}", f"{x:.25e}"]))
    raw = _plan_with("[" + ",".join(items) + "]")
    got = _after(raw)["v"]
    assert isinstance(got, list)
    assert [repr(v) for v in got] == [repr(orjson.loads(t)) for t in items]


@pytest.mark.parametrize(("text", "message"), [
    ("1e400", "p.json:1:240: not JSON: number is infinity when parsed as double"),
    ('"\\ud800"', "p.json:1:241: not JSON: no low surrogate in string"),
    ("NaN", "p.json:1:240: not JSON: unexpected character, expected a JSON value"),
    ("[" * 1100 + "]" * 1100, "p.json:1:1260: not JSON: depth limit exceeded"),
])
def test_what_the_fast_reader_refuses_is_said_as_before(text: str, message: str) -> None:
    """The same message, line and column as before msgspec read plans."""
    with pytest.raises(PlanError) as err:
        parse_plan(_plan_with(text), "p.json")
    assert str(err.value) == message


@pytest.mark.parametrize("depth", [200, 300, 900])
def test_deep_nesting_is_decided_as_before(depth: int) -> None:
    """msgspec's and orjson's nesting limits differ: a deeply nested value is read (or
    refused) as it was before msgspec read plans."""
    raw = _plan_with("[" * depth + "]" * depth)
    value = _after(raw)["v"]
    for _ in range(depth - 1):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == []


def test_a_small_plan_is_read_by_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below `_MSGSPEC_FROM` bytes msgspec is not even imported (its import costs more than
    it saves on a small plan)."""
    monkeypatch.setattr(plan_module, "_MSGSPEC_FROM", 1 << 20)
    monkeypatch.setitem(sys.modules, "msgspec", None)  # importing it would fail
    assert _after(_plan_with("1"))["v"] == 1


def test_a_large_plan_is_read_by_msgspec_and_equals_orjsons_reading(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The ordinary plan is read by msgspec alone (orjson's reader is not called) and gives
    the same document, key order included."""
    doc = plan_doc([change("google_storage_bucket", f"b{i}",
                           {"name": f"b{i}", "location": "US", "labels": {"k": "v:" * i},
                            "size": i * 1.5, "n": i, "flag": i % 2 == 0, "none": None,
                            "text": "é\u2028\"\\/"})
                    for i in range(200)])
    raw = orjson.dumps(doc)

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("orjson's reader was used")

    monkeypatch.setattr(plan_module.orjson, "loads", refused)
    got = plan_module._loads(raw, "p.json")
    assert orjson.dumps(got) == raw
    assert list(got["resource_changes"][0]["change"]["after"]) == list(
        doc["resource_changes"][0]["change"]["after"])


# -- plugin discovery without importlib.metadata when nothing declares a phiguard group -------

def _dist(root: Path, name: str, entry_points: str | None) -> None:
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


def test_a_declared_group_is_found_through_importlib_metadata(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from phiguard.policy import plugins

    _dist(tmp_path, "other", "[console_scripts]\nother = other:main\n")
    _dist(tmp_path, "bare", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugins.entry_points("phiguard.perf-plan-test") == []
    _dist(tmp_path, "acme", "[phiguard.perf-plan-test]\nacme = acme_mod\n")
    monkeypatch.syspath_prepend(str(tmp_path / "again"))  # a new sys.path: scanned again
    found = plugins.entry_points("phiguard.perf-plan-test")
    assert [(ep.name, ep.value, ep.group) for ep in found] == [
        ("acme", "acme_mod", "phiguard.perf-plan-test")]


def test_a_zip_or_an_egg_on_the_path_is_always_asked(tmp_path: Path) -> None:
    """Places the quick scan does not read (a zip file, an unpacked egg) leave the answer to
    importlib.metadata."""
    from phiguard.policy import plugins

    plain = tmp_path / "plain"
    plain.mkdir()
    assert plugins._texts((str(plain), str(tmp_path / "missing"))) == ()
    archive = tmp_path / "lib.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("acme-0.1.dist-info/entry_points.txt", "[phiguard.operators]\na = b\n")
    assert plugins._texts((str(plain), str(archive))) is None
    egg = tmp_path / "acme-0.1.egg"
    (egg / "EGG-INFO").mkdir(parents=True)
    assert plugins._texts((str(egg),)) is None


def test_a_run_without_plugins_does_not_import_importlib_metadata(tmp_path: Path) -> None:
    """Loading every plugin group, with none installed, reads no distribution's metadata
    through importlib.metadata (its import and three scans were a tenth of a small plan's
    run)."""
    code = ("import sys\nfrom phiguard.plugins import load_plugins\nload_plugins()\n"
            "print('importlib.metadata' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"
    _dist(tmp_path, "acme", "[phiguard.controls]\n")  # declares the group, with no entry
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert out.stdout.strip() == "True"


# -- the command process: what the run built is left for the exit to give back ---------------



def test_the_plan_command_process_keeps_its_result_for_the_exit(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As its own process (`the_command`), the plan command exits at once after its body;
    the body leaves its result referenced, so returning from it does not free every asset
    and finding one by one first. Same exit code and report as in any other caller."""
    from click.testing import CliRunner

    from phiguard.cli import _errors, main
    from phiguard.cli import plan as plan_cli

    args = ["plan", str(PLANS / "public-principals.json"), "-c", str(PLANS / "phiguard.yaml"),
            "--at", "2026-11-25T00:00:00Z", "-f", "json", "-o"]
    want = CliRunner().invoke(main, [*args, str(tmp_path / "want.json")])
    assert want.exit_code == 1
    assert plan_cli._KEPT == []  # not the command process: nothing kept

    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(plan_cli, "the_command", lambda: True)
    monkeypatch.setattr(_errors, "the_command", lambda: True)
    monkeypatch.setattr(_errors.os, "_exit", fake_exit)
    monkeypatch.setattr(plan_cli, "_KEPT", [])
    collecting = gc.isenabled()
    try:
        got = CliRunner().invoke(main, [*args, str(tmp_path / "got.json")])
    finally:  # the command turns the cyclic collector off for the rest of its process
        if collecting:
            gc.enable()
    assert (got.exit_code, exits) == (1, [1])
    kept = plan_cli._KEPT
    assert len(kept) == 1 and type(kept[0]).__name__ == "PlanResult"
    assert (tmp_path / "got.json").read_bytes() == (tmp_path / "want.json").read_bytes()
