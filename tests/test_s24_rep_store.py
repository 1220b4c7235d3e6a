"""The same result twice in one run (one asset under two spellings, or in two inputs) keeps
the outcome that says the least about compliance being fine: FAIL over WAIVED over UNKNOWN
over PASS, whatever the order. A PASS must not stand over an UNKNOWN of the same result."""

from __future__ import annotations

import itertools
from pathlib import Path

from phiguard.findings import Finding, Outcome
from phiguard.store.db import Store

ASSET = "//compute.googleapis.com/projects/p/global/firewalls/fw"
ORDER = ("FAIL", "WAIVED", "UNKNOWN", "PASS")


def _f(outcome: str, asset: str = ASSET) -> Finding:
    return Finding("NET-001", asset, "t", Outcome(outcome), "high", ("hipaa/164.312(a)(1)",),
                   "m")


def test_duplicates_keep_the_worst_outcome(tmp_path: Path) -> None:
    with Store(tmp_path / "h.db") as db:
        for first, second in itertools.permutations(ORDER, 2):
            # the second spelling: the same asset with a doubled slash and an upper-case host
            twin = ASSET.replace("//compute.googleapis.com/", "//COMPUTE.googleapis.com//")
            run = db.record({"config": {}}, [_f(first), _f(second, twin)], scope="o/1")
            [(outcome,)] = db.db.execute("SELECT outcome FROM results WHERE run_id = ?",
                                         (run,)).fetchall()
            assert outcome == min(first, second, key=ORDER.index), (first, second)


def test_a_result_row_that_is_not_text_is_exit_2(tmp_path: Path) -> None:
    """A results row edited by hand (a blob for an asset): history and diff exit 2 naming the
    store and the run, read through the one-query reading."""
    import sqlite3

    from click.testing import CliRunner

    from phiguard.cli import main

    path = tmp_path / "h.db"
    with Store(path) as db:
        db.record({"config": {}}, [_f("FAIL")], scope="o/1")
        db.record({"config": {}}, [_f("FAIL")], scope="o/1")
    con = sqlite3.connect(path)
    con.execute("UPDATE results SET asset = X'0102' WHERE run_id = 1")
    con.commit()
    con.close()
    for command in (["history"], ["diff"], ["diff", "1", "2"]):
        result = CliRunner().invoke(main, [*command, "--store", str(path)])
        assert result.exit_code == 2, (command, result.output)
        assert "h.db: run 1: a result row holds a value that is not text" in result.output
        assert "Traceback" not in result.output
