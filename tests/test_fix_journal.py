"""The fix journal tells the truth under faults: an intent is fsynced before every write, a
journal that cannot be written stops the run before the API is touched, a lost answer is settled
by re-reading (never by sending again), a SIGKILL mid-write resumes to the end, and unreachable,
hanging or proxied endpoints end in one line with exit 2."""
# ruff: noqa: F811  (pytest fixtures imported from _fix are requested as parameters)

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

# The fixtures `emu` and `findings` are shared with the other fix tests, requested by name.
from _fix import (  # noqa: F401
    cli,
    emu,
    findings,
    journal_lines,
    journal_records,
    make_plan,
    one_line_exit_2,
)
from emulator import Emulator
from phiguard.cli import main

DB_RULES = ("--asset", "*/instances/db1")


def sql_writes(emu: Emulator) -> list[dict[str, Any]]:
    return [w for w in emu.cloud.writes if "/sqladmin/" in w["path"]]


def test_unwritable_journal_sends_nothing(emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """A journal on a full disk (/dev/full): the intent cannot be written, so nothing is sent,
    and the run ends with exit 2 in one line."""
    plan = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    line = one_line_exit_2(cli(emu, "fix", "apply", str(plan), "--journal", "/dev/full",
                               "--yes"))
    assert "cannot write the journal /dev/full" in line and "nothing was sent" in line
    assert emu.cloud.writes == []
    assert emu.cloud.firewalls[("p1", "open-ssh")]["disabled"] is False


def test_disk_full_after_the_write_is_settled_on_resume(emu: Emulator, findings: Path,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills between the intent and the outcome: exit 2 saying the change was sent;
    the journal keeps the intent, and --resume records the change as applied by re-reading,
    without sending it again."""
    plan = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    journal = tmp_path / "j.ndjson"
    real_fsync, sizes = os.fsync, []

    def fsync(fd: int) -> None:
        """The intent is persisted; the next record is not (the disk is full)."""
        if stat.S_ISDIR(os.fstat(fd).st_mode):  # the journal's directory entry
            real_fsync(fd)
            return
        if sizes:
            os.ftruncate(fd, sizes[0])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)
        sizes.append(os.fstat(fd).st_size)

    monkeypatch.setattr(os, "fsync", fsync)
    line = one_line_exit_2(cli(emu, "fix", "apply", str(plan), "--journal", str(journal),
                               "--yes"))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "No space left on device" in line and "the change was sent" in line
    assert "--resume" in line
    assert len(emu.cloud.writes) == 1
    assert journal_records(journal)[0]["result"] == "intent"
    resumed = cli(emu, "fix", "apply", str(plan), "--journal", str(journal), "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert len(emu.cloud.writes) == 1
    last = journal_lines(journal)[-1]
    assert (last["result"], last["reconciled"]) == ("applied", True)


def test_lost_answer_is_reconciled_not_resent(emu: Emulator, findings: Path,
                                              tmp_path: Path) -> None:
    """The API applies a write but its answer never arrives: the write is not sent again (which
    would be refused as a conflict); the re-read shows the change and the journal says applied,
    and the other actions on the same instance still apply."""
    plan = make_plan(emu, findings, tmp_path, *DB_RULES)
    emu.fault("/sqladmin/v1/projects/p1/instances/db1", method="PATCH", lost=True)
    journal = tmp_path / "j.ndjson"
    result = cli(emu, "fix", "apply", str(plan), "--journal", str(journal), "--yes")
    assert result.exit_code == 0, result.output
    assert len(sql_writes(emu)) == 3  # three actions, each sent once
    lines = journal_lines(journal)
    assert [x["result"] for x in lines] == ["applied"] * 3
    assert lines[0]["reconciled"] is True and "answer was lost" in lines[0]["message"]
    settings = emu.cloud.sql[("p1", "db1")]["settings"]
    assert settings["ipConfiguration"]["sslMode"] == "ENCRYPTED_ONLY"
    assert settings["deletionProtectionEnabled"] is True


def test_lost_answer_of_a_write_that_did_not_happen_stops(emu: Emulator, findings: Path,
                                                          tmp_path: Path) -> None:
    """The connection drops before the API acts: the re-read shows no change, the write is not
    resent blindly, the run stops (exit 2) and --resume finishes it."""
    plan = make_plan(emu, findings, tmp_path, "--rule", "BAK-005")
    emu.fault("/storage/v1/b/phi-bkt", method="PATCH", drop=True)
    journal = tmp_path / "j.ndjson"
    line = one_line_exit_2(cli(emu, "fix", "apply", str(plan), "--journal", str(journal),
                               "--yes"))
    assert "does not show the change" in line and emu.cloud.writes == []
    assert "versioning" not in emu.cloud.buckets["phi-bkt"]
    resumed = cli(emu, "fix", "apply", str(plan), "--journal", str(journal), "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert emu.cloud.buckets["phi-bkt"]["versioning"] == {"enabled": True}


def test_sigkill_mid_write_then_resume_finishes_the_plan(emu: Emulator, findings: Path,
                                                         tmp_path: Path) -> None:
    """`fix apply` killed with SIGKILL while its first write to an instance is in flight (the
    API already applied it): --resume records that write as applied by re-reading, follows the
    settings version it moved, and applies the instance's other actions: nothing is skipped as
    'changed' and nothing is sent twice."""
    plan = make_plan(emu, findings, tmp_path, *DB_RULES)
    emu.fault("/sqladmin/v1/projects/p1/instances/db1", method="PATCH", lost=True, delay=60)
    journal = tmp_path / "j.ndjson"
    env = {**os.environ, "PHIGUARD_GCP_ENDPOINT": emu.base, "NO_GCE_CHECK": "true"}
    phiguard = str(Path(sys.executable).parent / "phiguard")
    proc = subprocess.Popen([phiguard, "fix", "apply", str(plan),
                             "--journal", str(journal), "--yes"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not sql_writes(emu) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert sql_writes(emu), "the first write never arrived"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert [r["result"] for r in journal_records(journal)] == ["intent"]
    resumed = cli(emu, "fix", "apply", str(plan), "--journal", str(journal), "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "skipped" not in resumed.output
    assert len(sql_writes(emu)) == 3
    lines = journal_lines(journal)
    assert [x["result"] for x in lines] == ["applied"] * 3 and lines[0]["reconciled"] is True


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_unreachable_endpoint_is_one_line(findings: Path, tmp_path: Path) -> None:
    """Nothing listens at the endpoint: plan and apply end with exit 2 in one line saying the
    API gave no answer; nothing is journalled."""
    env = {"PHIGUARD_GCP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"}
    line = one_line_exit_2(_run(env, "fix", "plan", str(findings), "-o",
                                str(tmp_path / "p.json")))
    assert "no answer" in line and "Connection refused" in line
    assert not (tmp_path / "p.json").exists()


def test_apply_against_an_unreachable_endpoint(emu: Emulator, findings: Path,
                                               tmp_path: Path) -> None:
    """A plan applied when the API cannot be reached: exit 2, one line, nothing journalled."""
    plan = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    env = {"PHIGUARD_GCP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}"}
    journal = tmp_path / "j.ndjson"
    line = one_line_exit_2(_run(env, "fix", "apply", str(plan), "--journal", str(journal),
                                "--yes"))
    assert "no answer" in line
    assert not journal.exists() or journal.read_text() == ""


def test_hanging_endpoint_times_out(emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """An endpoint that accepts and never answers: --timeout bounds the wait, and the run ends
    with exit 2 in one line."""
    plan = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    emu.fault("/compute/v1/projects/p1/global/firewalls/open-ssh", delay=120, times=None)
    started = time.monotonic()
    line = one_line_exit_2(cli(emu, "fix", "apply", str(plan), "--timeout", "0.5"))
    # far below the endpoint's 120 s (that wait ends when the emulator stops), far above what
    # a loaded machine needs for a few 0.5 s timeouts
    assert time.monotonic() - started < 60
    assert "timed out" in line.lower() and emu.cloud.writes == []


def test_proxy_from_the_environment(emu: Emulator, findings: Path, tmp_path: Path) -> None:
    """An HTTP proxy in the environment is used (the emulator answers proxied requests); a dead
    one, or a SOCKS proxy, ends with exit 2 in one line naming the proxy; no_proxy bypasses."""
    out = tmp_path / "p.json"
    base = {"PHIGUARD_GCP_ENDPOINT": emu.base}
    ok = _run({**base, "HTTP_PROXY": emu.base, "http_proxy": emu.base},
              "fix", "plan", str(findings), "-o", str(out), "--rule", "NET-001")
    assert ok.exit_code == 0, ok.output
    dead = f"http://127.0.0.1:{_closed_port()}"
    line = one_line_exit_2(_run({**base, "HTTP_PROXY": dead, "http_proxy": dead},
                                "fix", "plan", str(findings), "-o", str(out)))
    assert f"through proxy {dead}" in line
    line = one_line_exit_2(_run({**base, "http_proxy": "socks5://127.0.0.1:1080"},
                                "fix", "plan", str(findings), "-o", str(out)))
    assert "socks5://127.0.0.1:1080" in line
    bypass = _run({**base, "http_proxy": dead, "no_proxy": "127.0.0.1"},
                  "fix", "plan", str(findings), "-o", str(out), "--rule", "NET-001")
    assert bypass.exit_code == 0, bypass.output


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda lines: ["{not json", *lines], "journal line is not JSON"),
    (lambda lines: [json.dumps({**json.loads(lines[0]), "plan_digest": "sha256:0"}), *lines[1:]],
     "belongs to another plan"),
    (lambda lines: [json.dumps({**json.loads(lines[0]), "result": "done"}), *lines[1:]],
     "result 'done'"),
    (lambda lines: [json.dumps({**json.loads(lines[0]), "action_id": ["x"]}), *lines[1:]],
     "action_id"),
    (lambda lines: [json.dumps([1, 2]), *lines], "expected a JSON object"),
    (lambda lines: [json.dumps({**json.loads(lines[0]), "token_before": 7}), *lines[1:]],
     "token_before"),
], ids=["not-json", "other-plan", "unknown-result", "action-id-list", "array", "token-int"])
def test_malformed_journal_on_resume_is_one_line(emu: Emulator, findings: Path, tmp_path: Path,
                                                 mutate: Any, reason: str) -> None:
    """A journal line that is not a record of this plan's apply: --resume ends with exit 2 in
    one line naming the journal and the line, and sends nothing."""
    plan = make_plan(emu, findings, tmp_path, "--rule", "TLS-003")
    journal = tmp_path / "j.ndjson"
    first = cli(emu, "fix", "apply", str(plan), "--journal", str(journal), "--yes")
    assert first.exit_code == 0, first.output
    journal.write_text("\n".join(mutate(journal.read_text().splitlines())) + "\n")
    writes = len(emu.cloud.writes)
    line = one_line_exit_2(cli(emu, "fix", "apply", str(plan), "--journal", str(journal),
                               "--yes", "--resume"))
    assert f"{journal}:" in line and reason in line
    assert len(emu.cloud.writes) == writes


def test_report_rows_show_only_unsettled_intents() -> None:
    """The auditor report lists an intent only while no outcome follows it for that action."""
    from phiguard.report.fixes import fix_rows

    def rec(action_id: str, result: str) -> dict[str, Any]:
        return {"plan_digest": "sha256:p", "action_id": action_id, "rule_id": "NET-001",
                "asset": "a", "result": result}

    rows = fix_rows([rec("001", "intent"), rec("001", "applied"), rec("002", "intent")])
    assert [(r["result"]) for r in rows] == ["applied", "intent"]


@pytest.mark.parametrize("flags", [("--yes",), ("--yes", "--resume"), ()],
                         ids=["yes", "resume", "dry-run"])
@pytest.mark.parametrize("how", ["plan", "plan-symlink", "plan-hardlink", "findings"])
def test_journal_onto_the_plan_or_its_findings_is_refused(emu: Emulator, findings: Path,
                                                          tmp_path: Path, how: str,
                                                          flags: tuple[str, ...]) -> None:
    """A --journal that is the plan file (its path, a link to it, the same inode) or the
    findings file the plan was made from is an input: exit 2 in one line, nothing sent and
    neither file changed, whatever the flags."""
    plan = make_plan(emu, findings, tmp_path, "--rule", "NET-001")
    journal = {"plan": plan, "findings": findings, "plan-symlink": tmp_path / "soft.ndjson",
               "plan-hardlink": tmp_path / "hard.ndjson"}[how]
    if how == "plan-symlink":
        journal.symlink_to(plan)
    elif how == "plan-hardlink":
        os.link(plan, journal)
    before = {p: p.read_bytes() for p in (plan, findings)}
    line = one_line_exit_2(cli(emu, "fix", "apply", str(plan), "--journal", str(journal),
                               *flags))
    assert f"--journal {journal}: is an input of this command" in line
    assert emu.cloud.writes == []
    assert {p: p.read_bytes() for p in (plan, findings)} == before
