"""`scan --engine beam --bigquery-shards TARGET` checks TARGET before any work: it must be a
folder (existing or new) or a gs:// prefix, and must not hold findings shards yet. A file, or a
path below a file, is exit 2 with the path and what was expected named, never an internal
error after the whole pipeline ran. A folder holding other files is used: those files are left
as they are and the shards are written beside them (phiguard never overwrites an input)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from _paths import DEMO
from phiguard.beam.bigquery import check_shards_target
from phiguard.cli import main
from phiguard.errors import OutputError

AT = "2026-11-25T00:00:00Z"


def _no_scan(*args: object, **kwargs: object) -> None:
    raise AssertionError("the scan started before --bigquery-shards was checked")


@pytest.mark.parametrize("below", [False, True])
def test_a_file_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           below: bool) -> None:
    from phiguard.beam import scan

    monkeypatch.setattr(scan.BeamScan, "__init__", _no_scan)
    existing = tmp_path / "existing.ndjson"
    existing.write_bytes(b"kept\n")
    target = existing / "rows" if below else existing
    out = tmp_path / "f.json"
    result = CliRunner().invoke(main, [
        "scan", str(DEMO), "-c", str(DEMO / "phiguard.yaml"), "--at", AT, "-f", "json",
        "-o", str(out), "--engine", "beam", "--bigquery-shards", str(target), "--",
        "--runner", "DirectRunner", "--direct_running_mode=in_memory"])
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert f"--bigquery-shards {target}: {existing} is a file" in result.output
    assert "expected a folder (existing or new) or a gs://BUCKET/PREFIX" in result.output
    assert existing.read_bytes() == b"kept\n" and not out.exists()


def test_a_folder_with_other_files_is_used_as_it_is(tmp_path: Path) -> None:
    """Other files stay; a findings shard (any `findings-*.ndjson`) refuses the folder."""
    folder = tmp_path / "rows"
    folder.mkdir()
    (folder / "notes.txt").write_bytes(b"mine\n")
    check_shards_target(str(folder))  # other files: accepted
    check_shards_target(str(tmp_path / "new" / "rows"))  # a new folder: accepted
    (folder / "findings-00000-of-00001.ndjson").write_bytes(b"{}\n")
    with pytest.raises(OutputError, match="already holds 1 findings shards"):
        check_shards_target(str(folder))
    assert (folder / "notes.txt").read_bytes() == b"mine\n"
