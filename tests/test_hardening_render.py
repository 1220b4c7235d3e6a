"""Hostile strings in findings reach no terminal, comment or report as anything but text.

Asset names, messages, evidence and waiver fields come from the snapshot, the config or a
findings file someone else wrote: rich markup (`[/]`), terminal escape sequences, Markdown
@mentions and links must show as the characters they are, and a findings file of the wrong
shape is exit 2 naming the field, never a traceback.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phiguard.cli import main
from phiguard.findings import Finding, Outcome
from phiguard.report.markdown import render_markdown
from phiguard.report.summary import Tally
from phiguard.report.text import render_text
from report_data import demo, finding, pack

ORG = "organizations/123456789012"
ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31m\u202e"
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _text(findings: list[Finding], waivers: list[dict[str, Any]] | None = None,
          run_extra: dict[str, Any] | None = None) -> str:
    run, _, _ = demo()
    tally = Tally()
    for f in findings:
        tally.add(f)
    out = io.StringIO()
    render_text(out, dict(run, **(run_extra or {})), tally, pack(), waivers or [], color=True)
    return out.getvalue()


@pytest.mark.parametrize("outcome", [Outcome.FAIL, Outcome.UNKNOWN])
def test_rich_markup_in_an_asset_name_is_printed_literally(outcome: Outcome) -> None:
    """`[/]` (rich's closing tag) and `[bold]` in a name are characters, not markup: no
    MarkupError traceback, and the name appears as written."""
    name = "//compute.googleapis.com/projects/p/global/firewalls/a[/]b[bold red]c[/bold red]"
    text = _text([finding(name, outcome, message=f"msg [/] {name}")])
    assert "a[/]b[bold red]c[/bold red]" in text


def test_emoji_codes_stay_as_written() -> None:
    name = "//compute.googleapis.com/projects/p/global/firewalls/fw-:warning:"
    assert ":warning:" in _text([finding(name, Outcome.UNKNOWN)])


def test_terminal_escapes_from_a_snapshot_are_shown_escaped() -> None:
    """ESC, BEL, C1 and bidi overrides in an asset name, message, evidence or waiver reach the
    terminal as visible escapes (\\x1b), even with colour on."""
    name = f"//compute.googleapis.com/projects/p/global/firewalls/fw{ESCAPES}"
    waiver = {"rule": "NET-001", "asset": name, "status": "active", "reason": ESCAPES,
              "approved_by": f"a{ESCAPES}", "expires": "2027-01-01", "matched": 1}
    findings = [finding(name, Outcome.FAIL, message=ESCAPES,
                         evidence=((f"data.{ESCAPES}", ESCAPES),)),
                finding(name + "2", Outcome.UNKNOWN, message=ESCAPES)]
    text = _text(findings, [waiver], {"snapshot_time": ESCAPES,
                                      "config": {"organization": ESCAPES}})
    # strip the renderer's own colour codes: what remains must hold no raw control character
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert not _RAW_CONTROL.search(plain), repr(plain[:400])
    assert "\\x1b]0;owned\\x07" in plain


def test_scan_text_output_with_a_hostile_asset_name(tmp_path: Path) -> None:
    """End to end: a snapshot whose instance name holds markup and escapes; scan exits 1 (the
    finding), prints the name as text, and never a traceback."""
    name = f"//compute.googleapis.com/projects/phi-prod/zones/z/instances/vm[/]{ESCAPES}"
    records = [
        {"name": name, "asset_type": "compute.googleapis.com/Instance",
         "resource": {"version": "v1", "discovery_name": "Instance",
                      "data": {"name": "vm", "status": "RUNNING"}},
         "ancestors": ["projects/111111111111", ORG], "update_time": "2026-11-24T12:00:00Z"},
        {"name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
         "asset_type": "cloudresourcemanager.googleapis.com/Project",
         "resource": {"version": "v1", "data": {"projectNumber": "111111111111",
                                                "projectId": "phi-prod",
                                                "lifecycleState": "ACTIVE"}},
         "ancestors": ["projects/111111111111", ORG], "update_time": "2026-11-24T12:00:00Z"},
    ]
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "resources.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))
    result = CliRunner().invoke(main, ["scan", str(snap), "--color"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert "vm[/]" in result.output
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    assert not _RAW_CONTROL.search(plain)


# --- Markdown (PR comment) --------------------------------------------------------------------


def _markdown(findings: list[Finding], waivers: list[dict[str, Any]]) -> str:
    run, _, _ = demo()
    out = io.StringIO()
    render_markdown(out, findings, run, pack(), waivers)
    return out.getvalue()


def test_mentions_in_names_and_waivers_notify_nobody() -> None:
    """`@org/team` in an asset name, message or waiver would notify people on GitHub."""
    waiver = {"rule": "NET-001", "asset": "@octo/admins", "status": "active",
              "reason": "ask @alice", "approved_by": "@bob", "expires": "2027-01-01",
              "matched": 1}
    text = _markdown([finding("//x/@octocat", message="cc @security-team")], [waiver])
    assert not re.search(r"@[A-Za-z0-9]", text), [m for m in re.findall(r"@\S+", text)]
    assert "octocat" in text and "security-team" in text


def test_issue_references_link_nothing() -> None:
    """`#1` and `owner/repo#1` would link (and back-reference) issues from the comment."""
    text = _markdown([finding("//x/octo/repo#12", message="see #7 and a/b#3")], [])
    assert not re.search(r"(?<!&)#[0-9]", text)  # &#8203; is the entity itself
    assert "repo\\#&#8203;12" in text


def test_a_crafted_waiver_status_injects_no_link() -> None:
    """A findings file's waiver `status` is shown escaped like every other field."""
    waiver = {"rule": "NET-001", "asset": "a", "status": "[click](https://evil.example/x)",
              "reason": "r", "approved_by": "b", "expires": "2027-01-01", "matched": 1}
    text = _markdown([], [waiver])
    assert "](" not in text and "https://evil" not in text


def test_report_markdown_from_a_findings_file_with_a_crafted_waiver(tmp_path: Path) -> None:
    """The same through `phiguard report`: the file is accepted, its waiver status escaped."""
    run, findings, _ = demo()
    doc = {"schema": "phiguard.findings/v1", "run": run,
           "results": [f.to_json() for f in findings[:5]],
           "waivers": [{"rule": "NET-001", "asset": "a", "reason": "r", "approved_by": "b",
                        "expires": "2027-01-01", "matched": 0,
                        "status": "<img src=x onerror=alert(1)>[x](https://evil.example)"}]}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["report", str(path), "-f", "markdown"])
    assert result.exit_code in (0, 2), result.output
    assert "](" not in result.output and "<img" not in result.output


# --- findings files of the wrong shape ----------------------------------------------------------


@pytest.mark.parametrize("config", [
    "phi-only", {"phi": "x"}, {"phi": {"projects": 3}}, {"phi": {"project_labels": [1]}},
    {"phi": {"folders": [{"a": 1}]}}, {"phi": {"all": "yes"}}, {"organization": {"a": 1}},
    {"organization": 5},
])
@pytest.mark.parametrize("fmt", ["html", "markdown", "sarif", "junit", "csv"])
def test_a_mistyped_run_config_is_exit_2(tmp_path: Path, config: Any, fmt: str) -> None:
    """`report -f html` on a findings file whose run.config has the wrong shape: exit 2 naming
    the field, never a traceback (which exits 1)."""
    run, findings, _ = demo()
    doc = {"schema": "phiguard.findings/v1", "run": dict(run, config=config),
           "results": [f.to_json() for f in findings[:3]]}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(main, ["report", str(path), "-f", fmt])
    assert result.exit_code == 2, result.output
    assert "run.config" in result.output and "Traceback" not in result.output


def test_plan_text_shows_escapes_in_addresses_and_messages(tmp_path: Path) -> None:
    """`phiguard plan` text: a resource key chosen by the pull request's author that holds
    terminal escapes is printed escaped."""
    import orjson

    from _plans import change, plan_doc

    weak = {"name": "p", "project": "phi-prod", "profile": "COMPATIBLE",
            "min_tls_version": "TLS_1_0"}
    plan = tmp_path / "plan.json"
    plan.write_bytes(orjson.dumps(plan_doc([change("google_compute_ssl_policy", "p", weak,
                                                   index=f"k{ESCAPES}")])))
    result = CliRunner().invoke(main, ["plan", str(plan)])
    assert result.exit_code == 1, result.output
    assert "\\x1b]0;owned\\x07" in result.output
    assert not _RAW_CONTROL.search(result.output)
