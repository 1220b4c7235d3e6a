"""The SQLite store: versioned migrations, WAL, one transaction per recorded run.

A store written by an older phiguard is migrated forward when opened; one written by a newer
phiguard (a schema version this one does not know) is refused rather than misread.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Collection, Generator, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from phiguard.errors import StoreError
from phiguard.findings import Finding
from phiguard.inventory.refs import ref_key

__all__ = ["MIGRATIONS", "WARNING_FIELDS", "Result", "Run", "Store", "fingerprint"]

# Each entry moves the schema from version i to i + 1. Never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        recorded_at TEXT NOT NULL,
        snapshot_time TEXT,
        scope TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        tool_version TEXT NOT NULL,
        rule_pack_digest TEXT NOT NULL,
        counts TEXT NOT NULL
    );
    CREATE TABLE results (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        fingerprint TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        asset TEXT NOT NULL,
        outcome TEXT NOT NULL,
        severity TEXT NOT NULL,
        PRIMARY KEY (run_id, fingerprint)
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN coverage_gaps TEXT NOT NULL DEFAULT '[]';
    CREATE INDEX results_fingerprint ON results(fingerprint, run_id);
    """,
    # The run's reasons for UNKNOWN results beside its coverage gaps: a JSON object of the
    # findings JSON run block's scope_warnings, content_missing and asset_types_missing (those
    # the run had); runs recorded before it have none recorded ('{}').
    """
    ALTER TABLE runs ADD COLUMN warnings TEXT NOT NULL DEFAULT '{}';
    """,
    # No table changes: a run's `warnings` may also hold subject_types_missing and
    # pre_v1_asset_types, which a phiguard of version 3 would call damage; it now says the
    # store was written by a newer phiguard.
    """
    -- runs.warnings: + subject_types_missing, pre_v1_asset_types
    """,
)
# The run block's fields a run's `warnings` keeps (its coverage_gaps have their own column).
WARNING_FIELDS = ("scope_warnings", "content_missing", "asset_types_missing",
                  "subject_types_missing", "pre_v1_asset_types")
SCHEMA_VERSION = len(MIGRATIONS)


def fingerprint(rule_id: str, asset: str) -> str:
    """Stable across runs and producers: the rule id and the asset's normalized name."""
    key = f"{rule_id.upper()}\0{ref_key(asset)}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Run:
    id: int
    recorded_at: str
    snapshot_time: str | None
    scope: str
    config_digest: str
    tool_version: str
    rule_pack_digest: str
    counts: dict[str, int]
    coverage_gaps: list[dict[str, Any]]
    # Why results of the run are UNKNOWN for want of data, by run block field (WARNING_FIELDS):
    # what the run's input lacked, so a drift can tell it from a change of the organization.
    warnings: dict[str, list[Any]] = field(default_factory=dict)


# One stored result: (outcome, rule id, asset, severity).
Result = tuple[str, str, str, str]


# How much an outcome says against compliance, for the one kept of two of the same result.
_RANK = ("(CASE {0}.outcome WHEN 'FAIL' THEN 3 WHEN 'WAIVED' THEN 2 WHEN 'UNKNOWN' THEN 1 "
         "ELSE 0 END)")


def _json_or_none(text: Any) -> Any:
    """The JSON value of a text column, or None when it is not text holding JSON."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _read_only_error(exc: sqlite3.Error) -> bool:
    return _code(exc) == sqlite3.SQLITE_READONLY or "readonly database" in str(exc)


def store_error(path: Path, exc: sqlite3.Error) -> StoreError:
    """The StoreError for an SQLite failure, saying what the user can do about it."""
    code = _code(exc)
    if _read_only_error(exc):
        return StoreError(f"{path}: the store is read-only for this user (recording a run "
                          "writes the file and a -wal journal beside it): make the file and "
                          "its directory writable, or record into a copy")
    if code == sqlite3.SQLITE_CANTOPEN:
        return StoreError(f"{path}: cannot open the store ({exc}); check that the file and its "
                          "directory exist and are accessible")
    if code == sqlite3.SQLITE_NOTADB or "not a database" in str(exc):
        return StoreError(f"{path}: not a phiguard store ({exc})")
    if code == sqlite3.SQLITE_CORRUPT or "malformed" in str(exc):
        return StoreError(f"{path}: the store is damaged ({exc}); restore it from a backup")
    return StoreError(f"{path}: cannot use the store ({exc})")


def _ro_uri(path: Path, immutable: bool) -> str:
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return uri + "&immutable=1" if immutable else uri


class Store:
    """`with Store(path) as store:`; opening migrates the schema to the current version.

    `Store.for_reading(path)` (history, diff) falls back to a read-only connection when the
    user may not write the store: reading needs no write access.
    """

    def __init__(self, path: Path, *, timeout: float = 30.0, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        try:
            if read_only:
                self.db = self._connect_read_only(timeout)
                self._check_readable()
                return
            self.db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            self._refuse_foreign()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise store_error(path, exc) from None

    @classmethod
    def for_reading(cls, path: Path) -> Store:
        """Open to read: writable (migrating an older schema) when allowed, else read-only."""
        try:
            return cls(path)
        except StoreError as exc:
            if "read-only" not in str(exc):
                raise
        return cls(path, read_only=True)

    def _connect_read_only(self, timeout: float) -> sqlite3.Connection:
        db = sqlite3.connect(_ro_uri(self.path, False), uri=True, timeout=timeout,
                             isolation_level=None)
        try:
            db.execute("PRAGMA user_version").fetchone()
            return db
        except sqlite3.Error as exc:
            db.close()
            if not _read_only_error(exc) and _code(exc) != sqlite3.SQLITE_CANTOPEN:
                raise
        # A WAL store in a directory we may not write cannot make its shared-memory file:
        # read the file as it is (a -wal journal left by a crashed writer is not seen).
        return sqlite3.connect(_ro_uri(self.path, True), uri=True, timeout=timeout,
                               isolation_level=None)

    def _check_readable(self) -> None:
        version = self.version
        if version == SCHEMA_VERSION:
            return
        self.db.close()
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: schema version {version} was written by a newer "
                             f"phiguard (this one knows up to {SCHEMA_VERSION})")
        raise StoreError(f"{self.path}: the store is read-only and its schema (version "
                         f"{version}) must be migrated first: run phiguard with write access "
                         "to it once")

    def _refuse_foreign(self) -> None:
        """Another application's SQLite database is not migrated into (nor switched to WAL)."""
        if self.version != 0:
            return
        tables = sorted(r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))
        if tables:
            self.db.close()
            raise StoreError(f"{self.path}: not a phiguard store (a SQLite database with other "
                             f"tables: {', '.join(tables[:5])})")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, target: int = SCHEMA_VERSION) -> None:
        self.db.execute("BEGIN IMMEDIATE")  # two phiguards opening a new store: one migrates
        try:
            version = self.version
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path}: schema version {version} was written by a "
                                 f"newer phiguard (this one knows up to {SCHEMA_VERSION})")
            for i in range(version, target):
                for statement in MIGRATIONS[i].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {i + 1}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def record(self, run_info: dict[str, Any], findings: Iterable[Finding], *, scope: str,
               coverage_gaps: list[dict[str, Any]] | None = None) -> int:
        """Store one run and all its results in one transaction; nothing if anything fails.
        The run block's reasons for UNKNOWN results (WARNING_FIELDS) are kept with it."""
        config = json.dumps(run_info.get("config"), sort_keys=True, separators=(",", ":"))
        counts: Counter[str] = Counter()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "INSERT INTO runs (recorded_at, snapshot_time, scope, config_digest, "
                "tool_version, rule_pack_digest, counts, coverage_gaps, warnings) "
                "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?)",
                (_now(), run_info.get("snapshot_time"), scope,
                 "sha256:" + hashlib.sha256(config.encode()).hexdigest(),
                 str(run_info.get("tool_version", "")), str(run_info.get("rule_pack_digest", "")),
                 json.dumps(coverage_gaps or []),
                 json.dumps({k: list(run_info[k]) for k in WARNING_FIELDS
                             if run_info.get(k)})))
            run_id = int(cur.lastrowid or 0)
            rows = []
            for f in findings:
                counts[f.outcome.value] += 1
                rows.append((run_id, fingerprint(f.rule_id, f.asset), f.rule_id, f.asset,
                             f.outcome.value, f.severity))
                if len(rows) >= 5000:
                    self._insert(rows)
                    rows = []
            self._insert(rows)
            self.db.execute("UPDATE runs SET counts = ? WHERE id = ?",
                            (json.dumps(dict(sorted(counts.items()))), run_id))
            self.db.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):  # a full disk can fail the rollback too
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise store_error(self.path, exc) from None
            raise
        return run_id

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        # The same (rule, asset) twice in one run keeps the worse outcome: FAIL over WAIVED
        # (a failure accepted) over UNKNOWN over PASS (a PASS never stands over an UNKNOWN).
        self.db.executemany(
            "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, fingerprint) "
            f"DO UPDATE SET outcome = excluded.outcome WHERE {_RANK.format('excluded')} > "
            f"{_RANK.format('results')}", rows)

    def runs(self, limit: int | None = None) -> list[Run]:
        """Runs, oldest first (the last `limit` if given)."""
        sql = ("SELECT id, recorded_at, snapshot_time, scope, config_digest, tool_version, "
               "rule_pack_digest, counts, coverage_gaps, warnings FROM runs ORDER BY id DESC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            rows = self.db.execute(sql).fetchall()
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        return [self._run_row(r) for r in reversed(rows)]

    def _run_row(self, r: tuple[Any, ...]) -> Run:
        """A runs row checked for the types phiguard writes: a row edited by hand or damaged
        is a StoreError naming the run, not a crash later."""
        def bad(column: str, expected: str) -> StoreError:
            return StoreError(f"{self.path}: run {r[0]}: `{column}` is not {expected} (the "
                              "store was edited or damaged)")

        if not isinstance(r[0], int):
            raise bad("id", "an integer")
        for i, column in ((1, "recorded_at"), (3, "scope"), (4, "config_digest"),
                          (5, "tool_version"), (6, "rule_pack_digest")):
            if not isinstance(r[i], str):
                raise bad(column, "text")
        if r[2] is not None and not isinstance(r[2], str):
            raise bad("snapshot_time", "text or NULL")
        counts, gaps = _json_or_none(r[7]), _json_or_none(r[8])
        if not (isinstance(counts, dict) and all(isinstance(k, str) and type(v) is int
                                                 for k, v in counts.items())):
            raise bad("counts", "a JSON object of outcome counts")
        if not (isinstance(gaps, list) and all(isinstance(g, dict) for g in gaps)):
            raise bad("coverage_gaps", "a JSON array of gaps")
        warnings = _json_or_none(r[9])
        if not (isinstance(warnings, dict) and all(k in WARNING_FIELDS and isinstance(v, list)
                                                   for k, v in warnings.items())):
            raise bad("warnings", "a JSON object of arrays (" + ", ".join(WARNING_FIELDS) + ")")
        return Run(r[0], r[1], r[2], r[3], r[4], r[5], r[6], counts, gaps, warnings)

    def run(self, run_id: int) -> Run:
        for r in self.runs():
            if r.id == run_id:
                return r
        raise StoreError(f"{self.path}: no run {run_id} (see `phiguard history`)")

    def rule_counts(self, run_ids: Collection[int]) -> dict[int, Counter[tuple[str, str]]]:
        """(rule id, outcome) -> number of results, of each of these runs: one query."""
        ids = sorted(set(run_ids))
        out: dict[int, Counter[tuple[str, str]]] = {i: Counter() for i in ids}
        if not ids:
            return out
        try:
            cur = self.db.execute("SELECT run_id, rule_id, outcome, COUNT(*) FROM results "
                                  "WHERE run_id BETWEEN ? AND ? GROUP BY run_id, rule_id, "
                                  "outcome", (ids[0], ids[-1]))
            for run_id, rule_id, outcome, n in cur:
                if run_id in out:
                    out[run_id][(str(rule_id), str(outcome))] += int(n)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        return out

    def counts_by_run(self, run_ids: Collection[int],
                      rules: Collection[str]) -> dict[int, dict[str, int]]:
        """Each of these runs' result counts by outcome, of these rules only (a framework's
        view): one query."""
        out: dict[int, dict[str, int]] = {}
        for run_id, counts in self.rule_counts(run_ids).items():
            mine: Counter[str] = Counter()
            for (rule_id, outcome), n in counts.items():
                if rule_id in rules:
                    mine[outcome] += n
            out[run_id] = dict(sorted(mine.items()))
        return out

    def results_by_run(self, runs: Sequence[Run], outcomes: Collection[str] = ("FAIL",
                                                                               "UNKNOWN"),
                       *, newest_first: bool = False, failed_in: Sequence[Run] = (),
                       passes_in: Collection[int] | None = None
                       ) -> Generator[tuple[Run, dict[str, Result]], None, None]:
        """For each of these runs (oldest first, or newest first), fingerprint -> Result of
        its results of these outcomes, and of every outcome for the results failing in one of
        the runs `failed_in` (so that a failure's PASS is told from its absence) in the runs
        `passes_in` (None: in all of them): one query, read run by run as the caller goes
        (memory: one run's rows). Close the iterator (or exhaust it) to end the query."""
        if not runs:
            return
        order = sorted(runs, key=lambda r: r.id, reverse=newest_first)
        wanted = sorted(set(outcomes))
        where = f"outcome IN ({', '.join('?' * len(wanted))})"
        args: list[Any] = [min(r.id for r in runs), max(r.id for r in runs), *wanted]
        if failed_in and (passes_in is None or passes_in):
            only = ("" if passes_in is None else
                    f"run_id IN ({', '.join(str(int(i)) for i in sorted(passes_in))}) AND ")
            where = (f"({where} OR ({only}fingerprint IN (SELECT fingerprint FROM results "
                     "WHERE outcome = 'FAIL' AND run_id BETWEEN ? AND ?)))")
            args += [min(r.id for r in failed_in), max(r.id for r in failed_in)]
        try:
            cur = self.db.execute(
                "SELECT run_id, fingerprint, outcome, rule_id, asset, severity, "
                "typeof(fingerprint) = 'text' AND typeof(rule_id) = 'text' AND "
                "typeof(asset) = 'text' AND typeof(severity) = 'text' FROM results "
                f"WHERE run_id BETWEEN ? AND ? AND {where} ORDER BY run_id "
                + ("DESC" if newest_first else "ASC"), args)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        try:
            groups = groupby(cur, key=itemgetter(0))
            group = next(groups, None)
            for run in order:
                # skip the runs between these runs that were not asked for
                while group is not None and (group[0] > run.id if newest_first
                                             else group[0] < run.id):
                    group = next(groups, None)
                if group is None or group[0] != run.id:
                    yield run, {}
                    continue
                rows = list(group[1])
                if not all(r[6] for r in rows):
                    raise StoreError(f"{self.path}: run {run.id}: a result row holds a value "
                                     "that is not text (the store was edited or damaged)")
                found: dict[str, Result] = {r[1]: (r[2], r[3], r[4], r[5]) for r in rows}
                group = next(groups, None)
                yield run, found
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None
        finally:
            cur.close()
