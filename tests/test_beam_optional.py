"""Apache Beam is an optional extra: the default install does not pull it, and neither
`phiguard --help` nor a local scan imports it."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from _paths import DEMO, REPO


def test_default_install_leaves_beam_out() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any("apache-beam" in dep for dep in project["dependencies"])
    assert any(dep.startswith("apache-beam") for dep in project["optional-dependencies"]["beam"])


def _imports_beam(code: str) -> bool:
    probe = f"{code}\nimport sys\nprint('apache_beam' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=REPO)
    return out.stdout.strip().splitlines()[-1] == "True"


def test_help_and_local_scan_do_not_import_beam() -> None:
    help_ = ("from click.testing import CliRunner\nfrom phiguard.cli import main\n"
             "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0\n"
             "r = CliRunner().invoke(main, ['scan', '--help'])\nassert r.exit_code == 0, r.output\n"
             "assert '--engine' in r.output")
    assert not _imports_beam(help_)
    scan = ("from click.testing import CliRunner\nfrom phiguard.cli import main\n"
            f"r = CliRunner().invoke(main, ['scan', {str(DEMO)!r}, '--config', "
            f"{str(DEMO / 'phiguard.yaml')!r}, '--format', 'json', '-o', '/dev/null'])\n"
            "assert r.exit_code in (0, 1), r.output")
    assert not _imports_beam(scan)
    assert _imports_beam("import phiguard.beam.pipeline")  # the probe can see it
