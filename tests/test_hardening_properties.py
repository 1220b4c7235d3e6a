"""Property tests: random mutations of valid inputs never crash phiguard or pass as intact.

Three input paths a user hands phiguard from elsewhere: a findings file (`report`), an evidence
bundle (`verify`) and a run store (`history`, `diff`). Each mutation (truncation, injected
bytes, flipped bytes, a field of another type, a deleted key or file) must end in a clean exit
(2 naming the problem, or 0 when the mutation left a valid input), never in a traceback or an
"internal error", never in exit 1 from a crash; a changed signed bundle is never intact.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.store.db import Store
from report_data import demo

pytestmark = pytest.mark.usefixtures("pack_loaded_once")  # the findings are the subject
SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _clean_exit(result: Any, allowed: tuple[int, ...] = (0, 2)) -> None:
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    assert crash is None, repr(crash)
    assert result.exit_code in allowed, result.output[-2000:]
    assert "Traceback" not in result.output
    assert "internal error" not in result.output, result.output[-2000:]


# --- mutations -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3),
    max_leaves=6)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location inside a JSON value (dict keys, list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, (*prefix, i))


def _mutate_json(doc: Any, path: tuple[Any, ...], new: Any, delete: bool) -> Any:
    if not path:
        return new
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return doc


@st.composite
def byte_mutation(draw: st.DrawFn, data: bytes) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["truncate", "inject", "flip"]))
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "truncate":
        return kind, data[:at]
    if kind == "inject":
        junk = draw(st.binary(min_size=1, max_size=8))
        return kind, data[:at] + junk + data[at:]
    bit = 1 << draw(st.integers(0, 7))
    return kind, data[:at] + bytes([data[at] ^ bit]) + data[at + 1:]


# --- findings files (`phiguard report`) -----------------------------------------------------


@cache
def _findings_doc() -> str:
    run, findings, waivers = demo()
    kept = [f for f in findings if f.outcome is not Outcome.PASS][:6] + list(findings[:4])
    doc = {"schema": "phiguard.findings/v1", "run": run,
           "results": [f.to_json() for f in kept], "summary": {}, "waivers": list(waivers)}
    return json.dumps(doc, indent=1)


def _report(body: bytes, fmt: str) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "findings.json"
        path.write_bytes(body)
        return CliRunner().invoke(main, ["report", str(path), "-f", fmt,
                                         "-o", str(Path(tmp) / "out")])


@SETTINGS
@given(st.data(), st.sampled_from(["html", "markdown", "csv", "junit", "sarif"]))
def test_report_survives_byte_mutations(data: st.DataObject, fmt: str) -> None:
    """Truncated or corrupted bytes: exit 2 (a truncation always), never a crash."""
    original = _findings_doc().encode()
    kind, body = data.draw(byte_mutation(original))
    assume(body != original)
    result = _report(body, fmt)
    _clean_exit(result)
    if kind == "truncate":
        assert result.exit_code == 2, result.output


@SETTINGS
@given(st.data(), st.sampled_from(["html", "markdown", "csv", "junit", "sarif"]))
def test_report_survives_field_mutations(data: st.DataObject, fmt: str) -> None:
    """A field given another type, or deleted, anywhere in the document: exit 0 when it is
    still a valid findings file, else 2 naming it; never a crash."""
    doc = json.loads(_findings_doc())
    # a section first, then a place in it, so the run block and waivers are hit as often as
    # the (many) results
    section = data.draw(st.sampled_from(sorted(doc)))
    path = data.draw(st.sampled_from(list(_paths(doc[section], (section,)))))
    if data.draw(st.booleans()):
        path = path[:2]
    delete = bool(path) and data.draw(st.booleans())
    new = data.draw(json_values)
    mutated = _mutate_json(doc, path, new, delete)
    _clean_exit(_report(json.dumps(mutated).encode(), fmt))


@pytest.mark.parametrize("field", ["outcome", "severity"])
@pytest.mark.parametrize("value", [["FAIL"], {"a": 1}])
def test_an_unhashable_outcome_or_severity_is_named(field: str, value: Any) -> None:
    """A result whose `outcome` or `severity` is an array or object is exit 2 naming the field
    (it was an internal error: the value was looked up in a set before its type was checked)."""
    doc = json.loads(_findings_doc())
    doc["results"][0][field] = value
    result = _report(json.dumps(doc).encode(), "csv")
    _clean_exit(result, (2,))
    assert f"`{field}` must be one of" in result.output


@SETTINGS
@given(st.data(), st.sampled_from(["html", "markdown", "sarif"]))
def test_report_survives_run_block_mutations(data: st.DataObject, fmt: str) -> None:
    """The run block (config, PHI scope, inputs, gaps) is what every report's cover shows:
    any field of it changed or deleted is exit 0 or 2, never a crash."""
    doc = json.loads(_findings_doc())
    path = data.draw(st.sampled_from([p for p in _paths(doc["run"], ("run",)) if len(p) > 1]))
    delete = data.draw(st.booleans())
    mutated = _mutate_json(doc, path, data.draw(json_values), delete)
    _clean_exit(_report(json.dumps(mutated).encode(), fmt))


# --- bundles (`phiguard verify`) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("prop-bundle")
    key = Ed25519PrivateKey.generate()
    private, public = base / "k.pem", base / "k.pub.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM,
                                                     PublicFormat.SubjectPublicKeyInfo))
    run, findings, waivers = demo()
    from phiguard.report.bundle import write_bundle
    from report_data import pack

    write_bundle(base / "b", run, list(findings[:30]), pack(), lambda: list(waivers),
                 sign_key=private)
    return base / "b", public


BUNDLE_FILES = ["manifest.json", "manifest.sig", "findings.json", "report.html", "config.json"]


@SETTINGS
@given(st.data())
def test_a_mutated_signed_bundle_is_never_intact(signed_bundle: tuple[Path, Path],
                                                 data: st.DataObject) -> None:
    """Any change to any file of a signed bundle, a deleted file or an added one: verify with
    the signer's key exits 1 (or 2 when the manifest is gone), never 0, never a crash."""
    bundle, public = signed_bundle
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "b"
        shutil.copytree(bundle, copy)
        action = data.draw(st.sampled_from(["bytes", "delete", "add", "manifest-field"]))
        name = data.draw(st.sampled_from(BUNDLE_FILES))
        if action == "bytes":
            original = (copy / name).read_bytes()
            _, body = data.draw(byte_mutation(original))
            assume(body != original)
            if name == "manifest.sig":
                # base64 ignores surrounding whitespace: a change there is not a change
                assume(body.strip() != original.strip())
            (copy / name).write_bytes(body)
        elif action == "delete":
            (copy / name).unlink()
        elif action == "add":
            extra = data.draw(st.text(alphabet="abcxyz._-", min_size=1, max_size=12))
            assume(extra not in BUNDLE_FILES and extra not in (".", ".."))
            (copy / extra).write_bytes(b"x")
        else:
            manifest = json.loads((copy / "manifest.json").read_text())
            section = data.draw(st.sampled_from(sorted(manifest)))
            path = data.draw(st.sampled_from(list(_paths(manifest[section], (section,)))))
            new = data.draw(json_values)
            delete = data.draw(st.booleans())
            before = json.dumps(manifest, sort_keys=True)
            mutated = _mutate_json(manifest, path, new, delete)
            assume(json.dumps(mutated, sort_keys=True) != before)
            (copy / "manifest.json").write_text(json.dumps(mutated))
        result = CliRunner().invoke(main, ["verify", str(copy), "--public-key", str(public)])
        missing_manifest = action == "delete" and name == "manifest.json"
        _clean_exit(result, (2,) if missing_manifest else (1,))


# --- stores (`phiguard history`, `diff`) ----------------------------------------------------


@cache
def _store_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.db"
        with Store(path) as store:
            for day in (1, 2, 3):
                store.record({"snapshot_time": f"2026-11-0{day}T00:00:00Z", "config": {},
                              "tool_version": "1", "rule_pack_digest": "sha256:x"},
                             [Finding("NET-001", f"//a/{i}", "t",
                                      Outcome.FAIL if (i + day) % 3 else Outcome.PASS, "high",
                                      ("hipaa/164.312(b)",), "m") for i in range(20)],
                             scope="organizations/1")
        return path.read_bytes()


def _history(body: bytes, setup: Any = None) -> list[Any]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h.db"
        path.write_bytes(body)
        if setup is not None:
            setup(path)
        for args in (["history"], ["history", "-f", "json"], ["diff"], ["diff", "1", "3"]):
            results.append(CliRunner().invoke(main, [*args, "--store", str(path)]))
    return results


@SETTINGS
@given(st.data())
def test_history_survives_a_damaged_store(data: st.DataObject) -> None:
    """Truncated, injected or flipped bytes in the SQLite file: exit 0 (damage SQLite cannot
    see) or 2 naming the store, never a crash."""
    original = _store_bytes()
    _, body = data.draw(byte_mutation(original))
    assume(body != original)
    for result in _history(body):
        _clean_exit(result)


COLUMNS = {"runs": ["id", "recorded_at", "snapshot_time", "scope", "config_digest",
                    "tool_version", "rule_pack_digest", "counts", "coverage_gaps"],
           "results": ["run_id", "fingerprint", "rule_id", "asset", "outcome", "severity"]}
sql_values = (st.none() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
              | st.text(max_size=30) | st.binary(max_size=10)
              | json_values.map(json.dumps))


@SETTINGS
@given(st.sampled_from(sorted(COLUMNS)), st.data(), sql_values)
def test_history_survives_hand_edited_rows(table: str, data: st.DataObject, value: Any) -> None:
    """A column of a stored run or result set to a value of any type: exit 0 or 2, never a
    crash."""
    column = data.draw(st.sampled_from(COLUMNS[table]))

    def edit(path: Path) -> None:
        db = sqlite3.connect(path)
        db.execute("PRAGMA foreign_keys = OFF")
        # rebuild without constraints so NULLs and other types can be stored, as a hand edit
        # with another tool could
        db.executescript(f"CREATE TABLE t2 AS SELECT * FROM {table}; DROP TABLE {table}; "
                         f"ALTER TABLE t2 RENAME TO {table};")
        db.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = 1", (value,))
        db.commit()
        db.close()

    for result in _history(_store_bytes(), edit):
        _clean_exit(result)
