"""`phiguard audit` hands the trend its run block and scope: a failure of the last run with no
result in this one (its rule judged nothing: the IAM policies were not collected) is "now
UNKNOWN" in the HTML report's changes, with the reason as the badge's title, not "resolved"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from _paths import DEMO
from phiguard.cli import main

ORG = "123456789012"


def _audit(emu: Any, store: Path, *extra: str) -> Any:
    runner = CliRunner(env={"PHIGUARD_GCP_ENDPOINT": emu.base})
    result = runner.invoke(main, ["audit", "--org", ORG, "--config", str(DEMO / "phiguard.yaml"),
                                  "--store", str(store), "--directory-customer", "my_customer",
                                  *extra], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result


def _rows(page: str, kind: str) -> list[str]:
    start = page.index('id="changes-since-last-run"')
    table = page[start:page.index("</table>", start)]
    return [row for row in table.split("<tr ")[1:] if row.startswith(f'data-change="{kind}"')]


def test_no_result_for_want_of_content_is_not_resolved(emu: Any, tmp_path: Path) -> None:
    store = tmp_path / "h.db"
    _audit(emu, store)
    emu.fault("/assets", status=403, times=None, content_type="IAM_POLICY")
    _audit(emu, store, "--output", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text()
    resolved, unknown = _rows(page, "resolved"), _rows(page, "unknown")
    # MFA-004 judges users' IAM grants: without IAM policies it gives no result at all
    assert not [r for r in resolved if "MFA-004" in r], resolved
    noted = [r for r in unknown if "MFA-004" in r]
    assert noted and all('title="no result in this run' in r for r in noted), noted
