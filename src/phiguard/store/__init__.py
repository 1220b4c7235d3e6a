"""Run history in SQLite: runs, results keyed by a stable fingerprint, and drift between runs.

`phiguard.store.db` (Store, fingerprint) and `phiguard.store.drift` (drift); this package
imports neither, so registering the commands does not load sqlite3.
"""
