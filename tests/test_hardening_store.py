"""The run store under hostile conditions: read-only, corrupt, or with rows of the wrong shape.

`history` and `diff` only read: they work on a store they may not write (an archived copy),
and say "read-only" where writing is needed (audit). A damaged store is exit 2 naming the file,
never a traceback and never "not a phiguard store" for a store that is one.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phiguard.cli import main
from phiguard.errors import StoreError
from phiguard.findings import Finding, Outcome
from phiguard.store.db import Store


def _f(rule: str, asset: str, outcome: str = "FAIL") -> Finding:
    return Finding(rule, asset, "t", Outcome(outcome), "high", ("hipaa/164.312(b)",), "m")


def _make_store(path: Path, runs: int = 2) -> Path:
    with Store(path) as store:
        for day in range(1, runs + 1):
            store.record({"snapshot_time": f"2026-11-{day:02d}T00:00:00Z", "config": {},
                          "tool_version": "1", "rule_pack_digest": "sha256:x"},
                         [_f("NET-001", "//a/b"), _f("LOG-001", "//a/c", "PASS")],
                         scope="organizations/1")
    return path


@pytest.fixture()
def shared_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is owner-only)."""
    path = Path(tempfile.mkdtemp(prefix="phiguard-store-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for p in [path, *path.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(path)


def _unprivileged() -> list[str]:
    """A command prefix under which the store's permission bits hold.

    Root writes a read-only file through CAP_DAC_OVERRIDE. Dropping that capability (and
    CAP_DAC_READ_SEARCH) from the bounding set keeps the user id, so the process still reaches
    the virtual environment wherever the checkout lives (a clone in a private temporary folder
    is not reachable by another user), while the store's mode 0444 in a 0555 folder applies.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test read-only stores as root"
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def _as_other_user(*args: str) -> subprocess.CompletedProcess[str]:
    """Run phiguard as a user who may not write the store."""
    return subprocess.run([*_unprivileged(), sys.executable, "-m", "phiguard.cli", *args],
                          capture_output=True, text=True, timeout=120, cwd="/",
                          env={**os.environ, "NO_GCE_CHECK": "true", "HOME": "/"})


def _read_only(directory: Path, store: Path) -> None:
    store.chmod(0o444)
    directory.chmod(0o555)


def test_history_and_diff_work_on_a_read_only_store(shared_dir: Path) -> None:
    """Reading needs no write access: history and diff show the runs of a store the user may
    not write (no journal files are left behind)."""
    store = _make_store(shared_dir / "h.db")
    _read_only(shared_dir, store)
    history = _as_other_user("history", "--store", str(store), "-f", "json")
    assert history.returncode == 0, history.stderr
    assert [r["counts"]["FAIL"] for r in json.loads(history.stdout)["runs"]] == [1, 1]
    diff = _as_other_user("diff", "--store", str(store), "-f", "json")
    assert diff.returncode == 0, diff.stderr
    assert len(json.loads(diff.stdout)["persisting"]) == 1
    assert sorted(p.name for p in shared_dir.iterdir()) == ["h.db"]


def test_writing_a_read_only_store_says_read_only(shared_dir: Path) -> None:
    """Opening for writing (what audit does) a store the user may not write says so, instead of
    'not a phiguard store'."""
    store = _make_store(shared_dir / "h.db")
    _read_only(shared_dir, store)
    code = ("import sys\nfrom pathlib import Path\nfrom phiguard.store.db import Store\n"
            "from phiguard.errors import StoreError\n"
            "try:\n    Store(Path(sys.argv[1]))\nexcept StoreError as e:\n    print(e)\n")
    proc = subprocess.run([*_unprivileged(), sys.executable, "-c", code, str(store)],
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert "read-only" in proc.stdout, proc.stdout + proc.stderr
    assert "not a phiguard store" not in proc.stdout


def test_a_truncated_or_zeroed_store_is_exit_2(tmp_path: Path) -> None:
    """Damage SQLite detects is exit 2 naming the file, with no traceback."""
    good = _make_store(tmp_path / "good.db")
    data = good.read_bytes()
    cases = {"half.db": data[: len(data) // 2], "zeroed.db": data[:100] + b"\0" * (len(data) - 100),
             "noise.db": os.urandom(len(data))}
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body)
        for command in (["history"], ["diff"]):
            result = CliRunner().invoke(main, [*command, "--store", str(tmp_path / name)])
            assert result.exit_code == 2, (name, result.output)
            assert name in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("column,value", [
    ("counts", "not json"), ("counts", "[1, 2]"), ("coverage_gaps", "{"),
    ("coverage_gaps", "3"), ("recorded_at", None), ("counts", '{"FAIL": "x"}'),
])
def test_a_row_of_the_wrong_shape_is_exit_2(tmp_path: Path, column: str, value: Any) -> None:
    """A run row edited by hand (bad JSON in counts or coverage_gaps, a NULL): exit 2 naming
    the store and the run, never a traceback."""
    store = _make_store(tmp_path / "h.db")
    db = sqlite3.connect(store)
    db.execute("PRAGMA ignore_check_constraints = ON")
    db.execute("PRAGMA writable_schema = OFF")
    if value is None:
        # NOT NULL columns: rebuild the row through a table without the constraint
        db.executescript("""
            CREATE TABLE runs2 AS SELECT * FROM runs; DROP TABLE runs;
            ALTER TABLE runs2 RENAME TO runs;""")
    db.execute(f"UPDATE runs SET {column} = ? WHERE id = 1", (value,))
    db.commit()
    db.close()
    for command in (["history"], ["history", "-f", "json"], ["diff"]):
        result = CliRunner().invoke(main, [*command, "--store", str(store)])
        assert result.exit_code == 2, (command, result.output)
        assert "h.db" in result.output and "Traceback" not in result.output
        assert "internal error" not in result.output


def test_store_errors_name_the_file(tmp_path: Path) -> None:
    """StoreError from a damaged store names the file (API level)."""
    path = tmp_path / "x.db"
    path.write_bytes(b"SQLite format 3\0" + b"\xff" * 200)
    with pytest.raises(StoreError, match=r"x\.db"):
        Store(path)


def test_a_failed_record_is_a_store_error_and_records_nothing(tmp_path: Path) -> None:
    """The disk filling up (SQLite: database or disk is full) while a run is recorded: a
    StoreError naming the store, and no half-recorded run."""
    path = _make_store(tmp_path / "h.db", runs=1)
    with Store(path) as store:
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")  # no room for another page
        many = [_f("NET-001", f"//a/{i}") for i in range(5000)]
        with pytest.raises(StoreError, match=r"h\.db"):
            store.record({"config": {}, "tool_version": "1", "rule_pack_digest": "x"}, many,
                         scope="organizations/1")
    with Store(path) as store:
        assert len(store.runs()) == 1
