"""Evidence bundles, `verify`, `report` and scan's new formats, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from phiguard.cli import main
from report_data import DEMO

SCAN = ["scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml")]


def _keypair(directory: Path, name: str) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = directory / f"{name}.pem"
    public = directory / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM,
                                                     PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A signed bundle of the demo org: (bundle dir, signing key, public key)."""
    base = tmp_path_factory.mktemp("bundle")
    private, public = _keypair(base, "signer")
    bundle = base / "evidence"
    result = CliRunner().invoke(main, [*SCAN, "--bundle", str(bundle), "--sign-key",
                                       str(private), "--format", "json",
                                       "--output", str(base / "scan.json")])
    assert result.exit_code == 1, result.output  # the demo has failing findings
    return bundle, private, public


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_bundle_holds_report_findings_config_and_manifest(signed: tuple[Path, Path, Path],
                                                         ) -> None:
    """The bundle has the report, findings (identical to --format json), the effective config
    and a manifest with the sha256 of every input and output and the rule pack digest."""
    bundle, _, public = signed
    names = sorted(p.name for p in bundle.iterdir())
    assert names == ["config.json", "findings.json", "manifest.json", "manifest.sig",
                     "report.html"]
    assert (bundle / "findings.json").read_bytes() == \
        (bundle.parent / "scan.json").read_bytes()
    manifest = json.loads((bundle / "manifest.json").read_text())
    findings = json.loads((bundle / "findings.json").read_text())
    assert manifest["rule_pack_digest"] == findings["run"]["rule_pack_digest"]
    assert manifest["tool_version"] == findings["run"]["tool_version"]
    inputs = {Path(i["path"]).name for i in manifest["inputs"]}
    assert {"resources.ndjson", "phiguard.yaml"} <= inputs
    assert {o["path"] for o in manifest["outputs"]} == {"report.html", "findings.json",
                                                       "config.json"}
    assert json.loads((bundle / "config.json").read_text()) == findings["run"]["config"]
    result = CliRunner().invoke(main, ["verify", str(bundle), "--public-key", str(public)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["report.html", "findings.json", "config.json",
                                  "manifest.json"])
def test_verify_detects_one_changed_byte(signed: tuple[Path, Path, Path], tmp_path: Path,
                                         name: str) -> None:
    """Flipping one byte of any bundled file makes verify exit 1."""
    bundle = _copy(signed[0], tmp_path / "b")
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / name).write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["verify", str(bundle), "--public-key", str(signed[2])])
    assert result.exit_code == 1, result.output


def test_verify_rejects_a_wrong_signature_and_a_wrong_key(signed: tuple[Path, Path, Path],
                                                          tmp_path: Path) -> None:
    """A manifest re-signed by another key, or checked against another public key, fails;
    an unreadable bundle exits 2."""
    bundle = _copy(signed[0], tmp_path / "b")
    _, other_public = _keypair(tmp_path, "other")
    runner = CliRunner()
    assert runner.invoke(main, ["verify", str(bundle), "--public-key",
                                str(other_public)]).exit_code == 1
    other_private = Ed25519PrivateKey.generate()
    import base64
    forged = other_private.sign((bundle / "manifest.json").read_bytes())
    (bundle / "manifest.sig").write_text(base64.b64encode(forged).decode())
    assert runner.invoke(main, ["verify", str(bundle)]).exit_code == 1
    assert runner.invoke(main, ["verify", str(tmp_path / "missing")]).exit_code == 2
    (bundle / "manifest.sig").unlink()
    assert runner.invoke(main, ["verify", str(bundle), "--public-key",
                                str(signed[2])]).exit_code == 1


def test_verify_rejects_an_added_file(signed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """A file the manifest does not list makes the bundle tampered."""
    bundle = _copy(signed[0], tmp_path / "b")
    (bundle / "extra.txt").write_text("x")
    assert CliRunner().invoke(main, ["verify", str(bundle)]).exit_code == 1


def test_failed_bundle_run_leaves_nothing(tmp_path: Path) -> None:
    """A run that fails (bad signing key) leaves no bundle and no temporary directory."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    result = CliRunner().invoke(main, [*SCAN, "--bundle", str(tmp_path / "ev"),
                                       "--sign-key", str(bad)])
    assert result.exit_code == 2 and "bad.pem" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pem"]
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "old.txt").write_text("keep")
    result = CliRunner().invoke(main, [*SCAN, "--bundle", str(tmp_path / "ev")])
    assert result.exit_code == 2 and (tmp_path / "ev" / "old.txt").read_text() == "keep"


RERENDERED = ["html", "sarif", "junit", "markdown", "csv"]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scan of the demo writing every format `report` re-renders, each to its own file."""
    out = tmp_path_factory.mktemp("scanned")
    args = [a for fmt in RERENDERED for a in ("--format", fmt, "--output", f"{fmt}={out / fmt}")]
    result = CliRunner().invoke(main, [*SCAN, *args])
    assert result.exit_code == 1, result.output
    return out


@pytest.mark.parametrize("fmt", RERENDERED)
def test_report_rerenders_findings_like_scan(signed: tuple[Path, Path, Path], tmp_path: Path,
                                             scanned: Path, fmt: str) -> None:
    """`phiguard report findings.json --format F` gives the same output as `scan --format F`."""
    out_report = tmp_path / f"r.{fmt}"
    result = CliRunner().invoke(main, ["report", str(signed[0] / "findings.json"), "--format",
                                       fmt, "--output", str(out_report)])
    assert result.exit_code == 0, result.output
    assert out_report.read_text() == (scanned / fmt).read_text()


def test_report_rejects_a_file_that_is_not_findings(tmp_path: Path) -> None:
    """A non-findings file is an input error (exit 2) naming the file."""
    bad = tmp_path / "x.json"
    bad.write_text('{"schema": "other"}')
    result = CliRunner().invoke(main, ["report", str(bad), "--format", "html"])
    assert result.exit_code == 2 and "x.json" in result.output
