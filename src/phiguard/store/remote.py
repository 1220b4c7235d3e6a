"""The run-history store kept in Cloud Storage: `--store gs://BUCKET/phiguard.db`.

One audit: download the SQLite file and note its generation (0 when it does not exist yet), run,
record, and upload with `ifGenerationMatch` = that generation. When another audit uploaded in
between, the precondition fails (412): this run is not recorded, the other run is kept whole, and
the audit exits 2 saying to run it again. Nothing is lost.

A restored older copy (someone copies a noncurrent generation back, or uploads an old file) would
silently restart the history. Run markers catch it: after each successful upload, the audit
creates `gs://BUCKET/phiguard.db.runs/<run number, 12 digits>` (ifGenerationMatch=0, never
replaced). Markers are read one object at a time (objects.get of run N+1, N+2, N+4 ...), never
listed, so the job needs object rights only on names that start with the store's name.
Markers live beside the store, not inside it, so restoring the store does not restore them. Before
a run, the highest marker must not exceed the highest run number the store has ever assigned
(SQLite's AUTOINCREMENT counter, which survives deleted rows); the store object's own metadata
(`phiguard-last-run`) is checked the same way. A store behind its markers is refused (exit 2)
unless `--accept-store-rollback` is given, which continues from the older copy and moves its run
counter past the highest marker, so no run number is ever issued twice.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from phiguard.errors import StoreError
from phiguard.store.gcs import Gcs, GcsError, GcsUrl, Precondition, parse_gcs_url

__all__ = ["LAST_RUN_KEY", "MARKERS_SUFFIX", "RemoteStore", "Rollback", "highest_run"]

LAST_RUN_KEY = "phiguard-last-run"
MARKERS_SUFFIX = ".runs"


@dataclass(frozen=True)
class Rollback:
    """The store holds runs up to `store_run`, but run `recorded` was recorded before."""

    store_run: int
    recorded: int
    evidence: str

    def message(self, url: GcsUrl) -> str:
        return (f"--store {url}: the store's runs end at {self.store_run}, but run "
                f"{self.recorded} was recorded before ({self.evidence}): this is an older copy "
                "(restored from a backup or an earlier generation?), and using it would restart "
                "the history. Restore the newest generation (`gcloud storage ls -a "
                f"{url}` lists them), or pass --accept-store-rollback to continue from this copy "
                "(its next run is numbered after the highest recorded one)")


def highest_run(path: Path) -> int:
    """The highest run number the store ever assigned (0 for a new or empty store)."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
            top = db.execute("SELECT max(id) FROM runs").fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: not a phiguard store: {exc}") from None
    return max(int(seq[0]) if seq and seq[0] is not None else 0,
               int(top[0]) if top and top[0] is not None else 0)


class RemoteStore:
    """A downloaded store: `path` is the local copy to open with phiguard.store.db.Store."""

    def __init__(self, value: str, gcs: Gcs | None = None, option: str = "--store") -> None:
        self.url = parse_gcs_url(value, option, object_required=True)
        self.gcs = gcs or Gcs()
        self._own_gcs = gcs is None
        self.scratch = Path(tempfile.mkdtemp(prefix="phiguard-store-"))
        self.path = self.scratch / (self.url.name.rsplit("/", 1)[-1] or "phiguard.db")
        self.generation = 0
        self.last_run_metadata = 0
        self.rollback: Rollback | None = None
        self.warnings: list[str] = []

    @property
    def markers(self) -> GcsUrl:
        return GcsUrl(self.url.bucket, self.url.name + MARKERS_SUFFIX)

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self._own_gcs:
            self.gcs.close()

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, what: str, exc: GcsError) -> StoreError:
        return StoreError(f"--store {self.url}: cannot {what}: {exc}")

    def download(self) -> RemoteStore:
        """Fetch the store (if it exists) and look for a rollback against the run markers."""
        try:
            meta = self.gcs.stat(self.url)
            if meta is not None:
                self.generation = int(meta["generation"])
                self.gcs.download(self.url, self.path, generation=str(self.generation))
                raw = (meta.get("metadata") or {}).get(LAST_RUN_KEY, "")
                self.last_run_metadata = int(raw) if str(raw).isdigit() else 0
        except GcsError as exc:
            raise self._fail("read the store", exc) from None
        store_run = highest_run(self.path)
        try:
            marker = self._highest_marker(store_run)
        except GcsError as exc:
            if exc.status != 403:
                raise self._fail("read the run markers", exc) from None
            marker = 0
            self.warnings.append(
                f"--store {self.url}: cannot read the run markers under {self.markers}/ "
                f"({exc}); a restored older copy is detected from the store object's metadata "
                "only: grant the job storage.objects.get and .create on them")
        candidates = []
        if marker:
            candidates.append((marker, f"marker {self.markers.child(f'{marker:012d}')}"))
        if self.last_run_metadata:
            candidates.append((self.last_run_metadata,
                               f"the store object's {LAST_RUN_KEY} metadata"))
        for recorded, evidence in sorted(candidates, reverse=True):
            if recorded > store_run:
                self.rollback = Rollback(store_run, recorded, evidence)
                break
        return self

    def _marker_exists(self, run: int) -> bool:
        return self.gcs.stat(self.markers.child(f"{run:012d}")) is not None

    def _highest_marker(self, store_run: int) -> int:
        """The highest run marker above `store_run` (0 if none): markers are written one per
        run in order, so the marker of store_run + 1 exists exactly when a later run was
        recorded. Found by reading single objects (objects.get), not by listing, so the job
        needs no bucket-wide list permission: double the step while markers exist, then
        halve it back."""
        if not self._marker_exists(store_run + 1):
            return 0
        low, step = store_run + 1, 1
        while self._marker_exists(low + step):
            low += step
            step *= 2
        high = low + step  # absent
        while high - low > 1:
            middle = (low + high) // 2
            if self._marker_exists(middle):
                low = middle
            else:
                high = middle
        return low

    def accept_rollback(self) -> None:
        """Continue from an older copy: its next run is numbered after the highest recorded."""
        assert self.rollback is not None
        from phiguard.store.db import Store

        with Store(self.path):  # a store that is gone entirely starts as a new one
            pass
        db = sqlite3.connect(self.path)
        try:
            with db:
                db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'runs'",
                           (self.rollback.recorded,))
                if db.total_changes == 0:
                    db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('runs', ?)",
                               (self.rollback.recorded,))
        except sqlite3.Error as exc:
            raise StoreError(f"--store {self.url}: cannot move the run counter: {exc}") from None
        finally:
            db.close()

    def upload(self, run_id: int, on_warning: Callable[[str], None] = lambda text: None) -> None:
        """Upload the local copy over exactly the generation downloaded, then mark the run."""
        db = sqlite3.connect(self.path)
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        finally:
            db.close()
        try:
            stored = self.gcs.upload(self.path, self.url, if_generation=self.generation,
                                     metadata={LAST_RUN_KEY: str(run_id)},
                                     content_type="application/vnd.sqlite3")
        except Precondition:
            now = ""
            try:
                meta = self.gcs.stat(self.url)
                now = f", now {meta['generation']}" if meta else ", now deleted"
            except GcsError:
                pass
            raise StoreError(
                f"--store {self.url}: changed since this audit downloaded it (generation "
                f"{self.generation}{now}): another audit recorded a run meanwhile. Run {run_id} "
                "was NOT recorded and the other run is kept; run the audit again (it is safe to "
                "retry)") from None
        except GcsError as exc:
            raise StoreError(f"--store {self.url}: run {run_id} was NOT recorded: upload "
                             f"failed: {exc}; the stored history is unchanged, run the audit "
                             "again") from None
        marker = self.markers.child(f"{run_id:012d}")
        body = self.scratch / "marker"
        body.write_text(f"run {run_id} recorded in {self.url} generation "
                        f"{stored.get('generation')}\n")
        try:
            self.gcs.upload(body, marker, if_generation=0, content_type="text/plain",
                            metadata={"store-generation": str(stored.get("generation"))})
        except Precondition:
            on_warning(f"--store {self.url}: run marker {marker} already exists: two copies of "
                       "the store have issued the same run number (a rollback was accepted, or "
                       "a copy was used outside phiguard)")
        except GcsError as exc:
            on_warning(f"--store {self.url}: run {run_id} is recorded, but its marker could not "
                       f"be written ({exc}); a later rollback to before this run will be caught "
                       "by the store's metadata only")
