"""The SQLite run store: migrations, WAL, one transaction per run, drift."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phiguard.errors import StoreError
from phiguard.findings import Finding, Outcome
from phiguard.store.db import MIGRATIONS, SCHEMA_VERSION, Store, fingerprint
from phiguard.store.drift import drift, mean_time_to_remediate


def _f(rule: str, asset: str, outcome: str = "FAIL") -> Finding:
    return Finding(rule, asset, "t", Outcome(outcome), "high", ("hipaa/164.312(a)(1)",), "m")


def _run(day: int) -> dict[str, Any]:
    return {"snapshot_time": f"2026-11-{day:02d}T06:00:00Z", "tool_version": "0.1",
            "rule_pack_digest": "sha256:x", "config": {"organization": "1"}}


def test_fingerprint_is_stable_across_spellings() -> None:
    """The same rule and resource fingerprint alike whatever spelling the producer used."""
    assert fingerprint("TLS-002", "//compute.googleapis.com/projects/p/global/sslPolicies/x") == \
        fingerprint("tls-002", "https://www.googleapis.com/compute/v1/projects/p/global/"
                               "sslPolicies/x")
    assert fingerprint("TLS-002", "a/b") != fingerprint("TLS-003", "a/b")


def test_store_uses_wal_and_current_schema(tmp_path: Path) -> None:
    """A new store is in WAL mode at the latest schema version."""
    with Store(tmp_path / "s.db") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.version == SCHEMA_VERSION


def test_store_written_by_an_older_phiguard_migrates(tmp_path: Path) -> None:
    """A version-1 store with a run in it opens, migrates, and keeps the run."""
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("INSERT INTO runs (recorded_at, snapshot_time, scope, config_digest, "
               "tool_version, rule_pack_digest, counts) VALUES "
               "('2026-01-01T00:00:00Z', NULL, 'organizations/1', 'd', '0.0', 'p', "
               "'{\"FAIL\": 1}')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        [run] = store.runs()
        assert run.counts == {"FAIL": 1} and run.coverage_gaps == []


def test_store_from_a_newer_phiguard_is_refused(tmp_path: Path) -> None:
    """A schema version this phiguard does not know is an error, not a misread."""
    path = tmp_path / "new.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer phiguard"):
        Store(path)


def test_another_applications_database_is_not_migrated_into(tmp_path: Path) -> None:
    """`--store` pointing at some other SQLite file is refused, and the file is left as it was
    (it used to gain phiguard's tables and WAL mode, even from `history`)."""
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE accounts (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"not a phiguard store.*accounts"):
        Store(path)
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["accounts"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    db.close()


def test_run_that_fails_midway_records_nothing(tmp_path: Path) -> None:
    """An error while the findings stream is read rolls the whole run back."""
    def findings() -> Iterator[Finding]:
        yield _f("A-001", "x")
        raise RuntimeError("scan broke")

    with Store(tmp_path / "s.db") as store:
        with pytest.raises(RuntimeError):
            store.record(_run(1), findings(), scope="organizations/1")
        assert store.runs() == []
        assert store.db.execute("SELECT count(*) FROM results").fetchone()[0] == 0


def test_drift_new_resolved_persisting_with_first_seen_and_age(tmp_path: Path) -> None:
    """Across three nights: new, resolved and persisting failures, first-seen dates from the
    unbroken streak, ages in days, and mean time to remediate per area."""
    with Store(tmp_path / "s.db") as store:
        store.record(_run(1), [_f("TLS-001", "a"), _f("NET-001", "b"), _f("MFA-001", "c",
                                                                           "PASS")],
                     scope="o")
        store.record(_run(3), [_f("NET-001", "b"), _f("MFA-001", "c")], scope="o")
        store.record(_run(6), [_f("MFA-001", "c"), _f("TLS-001", "a")], scope="o")
        d = drift(store, 1, 2)
        assert [c.rule_id for c in d.new] == ["MFA-001"]
        assert [c.rule_id for c in d.resolved] == ["TLS-001"]
        assert [(c.rule_id, c.first_seen, c.age_days) for c in d.persisting] == [
            ("NET-001", "2026-11-01T06:00:00Z", 2.0)]
        last = drift(store)  # the last two runs
        assert [(c.rule_id, c.first_seen) for c in last.new] == [
            ("TLS-001", "2026-11-06T06:00:00Z")]  # failed again: a new streak
        assert [(c.rule_id, c.age_days) for c in last.persisting] == [("MFA-001", 3.0)]
        assert [c.rule_id for c in last.resolved] == ["NET-001"]
        assert mean_time_to_remediate(store) == {"NET": 5.0, "TLS": 2.0}


def test_concurrent_runs_do_not_corrupt_the_store(tmp_path: Path) -> None:
    """Two writers at once: both runs are recorded whole and the database is intact."""
    path = tmp_path / "s.db"
    Store(path).close()
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            with Store(path) as store:
                store.record(_run(n), [_f("TLS-001", f"asset-{n}-{i}") for i in range(2000)],
                             scope="o")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(path) as store:
        assert [r.counts for r in store.runs()] == [{"FAIL": 2000}, {"FAIL": 2000}]
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_reading_commands_leave_empty_files_and_directories_alone(tmp_path: Path) -> None:
    """`history`/`diff` on an empty file or a directory exit 2 saying what it is, and do not
    turn the empty file into a store."""
    from click.testing import CliRunner

    from phiguard.cli import main

    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    for args in (["history", "--store", str(empty)], ["diff", "--store", str(empty)]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2
        assert "empty file" in result.output
    assert empty.read_bytes() == b""
    result = CliRunner().invoke(main, ["history", "--store", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output
