"""`phiguard verify`: a bundle is called intact only when it is, and every way to break it shows.

Intact means (docs/security.md): the directory holds exactly manifest.json, the files it lists
(report.html, findings.json, config.json) and, when signed, manifest.sig, each a regular file
(no links, FIFOs or directories), each matching its sha256; a signed bundle's signature is
checked against a key the verifier trusts (--public-key or PHIGUARD_PUBLIC_KEY), never against
the key the bundle carries; --require-signature (or a trusted key) makes an unsigned bundle
fail. Exit 0 intact, 1 not intact, 2 the verifier could not read what it needs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

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
from phiguard.report.bundle import verify_bundle
from report_data import DEMO

SCAN = ["scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml")]


def _keypair(directory: Path, name: str) -> tuple[Path, Path, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    private = directory / f"{name}.pem"
    public = directory / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM,
                                                     PublicFormat.SubjectPublicKeyInfo))
    return private, public, key


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A signed and an unsigned bundle of the demo org, and the signer's keys."""
    base = tmp_path_factory.mktemp("bundles")
    private, public, key = _keypair(base, "signer")
    runner = CliRunner()
    for name, extra in (("signed", ["--sign-key", str(private)]), ("unsigned", [])):
        result = runner.invoke(main, [*SCAN, "--bundle", str(base / name), "-f", "json",
                                      "-o", str(base / f"{name}.json"), *extra])
        assert result.exit_code == 1, result.output
    return {"signed": base / "signed", "unsigned": base / "unsigned", "public": public,
            "key": key, "base": base}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _verify(bundle: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner(env=env).invoke(main, ["verify", str(bundle), *args])


def _rehash(bundle: Path, sign_with: Ed25519PrivateKey | None = None,
            strip_signature: bool = False) -> None:
    """What an attacker who edited a file does next: recompute the manifest (and sign it)."""
    from phiguard._util.hashing import sha256_file

    manifest = json.loads((bundle / "manifest.json").read_text())
    for entry in manifest["outputs"]:
        entry["sha256"] = sha256_file(bundle / entry["path"])
        entry["bytes"] = (bundle / entry["path"]).stat().st_size
    if strip_signature:
        manifest.pop("signature", None)
        (bundle / "manifest.sig").unlink(missing_ok=True)
    if sign_with is not None:
        raw = sign_with.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        manifest["signature"] = {"algorithm": "Ed25519", "file": "manifest.sig",
                                 "public_key": base64.b64encode(raw).decode()}
    body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    (bundle / "manifest.json").write_bytes(body)
    if sign_with is not None:
        (bundle / "manifest.sig").write_text(base64.b64encode(sign_with.sign(body)).decode())


def _edit_findings(bundle: Path) -> None:
    path = bundle / "findings.json"
    path.write_text(path.read_text().replace('"FAIL"', '"PASS"'))


def _tampered(result: Any, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert "intact" not in result.stdout
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


# --- what passes ------------------------------------------------------------------------------


def test_signed_bundle_with_the_signers_key_is_intact(made: dict[str, Any]) -> None:
    result = _verify(made["signed"], "--public-key", str(made["public"]))
    assert result.exit_code == 0, result.output
    assert "intact" in result.stdout


def test_the_key_can_come_from_the_environment(made: dict[str, Any]) -> None:
    """PHIGUARD_PUBLIC_KEY configures the trusted key, like --public-key."""
    result = _verify(made["signed"], env={"PHIGUARD_PUBLIC_KEY": str(made["public"])})
    assert result.exit_code == 0, result.output


def test_unsigned_bundle_is_intact_with_a_warning(made: dict[str, Any]) -> None:
    """Without a signature only accidental change can be detected: verify says so."""
    result = _verify(made["unsigned"])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "not signed" in result.output


# --- signatures -------------------------------------------------------------------------------


def test_a_signed_bundle_without_a_trusted_key_is_not_called_intact(made: dict[str, Any],
                                                                    tmp_path: Path) -> None:
    """Re-signed by an attacker's key and checked without --public-key: the embedded key
    proves nothing, so verify cannot say intact (exit 2, naming the option)."""
    bundle = _copy(made["signed"], tmp_path / "b")
    _edit_findings(bundle)
    _rehash(bundle, sign_with=Ed25519PrivateKey.generate())
    result = _verify(bundle)
    assert result.exit_code == 2, result.output
    assert "intact" not in result.stdout and "--public-key" in result.output
    # the genuine bundle too: without a trusted key, who signed it is unknown
    assert _verify(made["signed"]).exit_code == 2


def test_re_signed_with_another_key_fails_with_the_right_key(made: dict[str, Any],
                                                              tmp_path: Path) -> None:
    bundle = _copy(made["signed"], tmp_path / "b")
    _edit_findings(bundle)
    _rehash(bundle, sign_with=Ed25519PrivateKey.generate())
    _tampered(_verify(bundle, "--public-key", str(made["public"])), "signature")


def test_stripped_signature_fails_when_a_key_is_configured(made: dict[str, Any],
                                                           tmp_path: Path) -> None:
    """Signature and its manifest block removed, files re-hashed: with a trusted key (option
    or environment) or --require-signature that is not intact."""
    bundle = _copy(made["signed"], tmp_path / "b")
    _edit_findings(bundle)
    _rehash(bundle, strip_signature=True)
    _tampered(_verify(bundle, "--public-key", str(made["public"])), "not signed")
    _tampered(_verify(bundle, env={"PHIGUARD_PUBLIC_KEY": str(made["public"])}), "not signed")
    _tampered(_verify(bundle, "--require-signature"), "not signed")


def test_unsigned_rehashed_bundle_fails_with_require_signature(made: dict[str, Any],
                                                               tmp_path: Path) -> None:
    bundle = _copy(made["unsigned"], tmp_path / "b")
    _edit_findings(bundle)
    _rehash(bundle)
    _tampered(_verify(bundle, "--require-signature"), "not signed")
    plain = _verify(bundle)
    assert plain.exit_code == 0 and "not signed" in plain.output  # the documented limit


def test_signature_file_without_signature_block_and_the_reverse(made: dict[str, Any],
                                                                tmp_path: Path) -> None:
    bundle = _copy(made["signed"], tmp_path / "b")
    (bundle / "manifest.sig").unlink()
    _tampered(_verify(bundle, "--public-key", str(made["public"])), "manifest.sig")
    other = _copy(made["unsigned"], tmp_path / "u")
    (other / "manifest.sig").write_text("AAAA\n")
    _tampered(_verify(other), "manifest.sig")


# --- links and entries ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["findings.json", "report.html", "manifest.json"])
def test_a_listed_file_that_is_a_symlink_is_tampered(made: dict[str, Any], tmp_path: Path,
                                                     name: str) -> None:
    """A listed file (or the manifest) replaced by a link to an identical copy outside the
    bundle: the bytes match, but the bundle no longer holds them."""
    bundle = _copy(made["signed"], tmp_path / "b")
    outside = tmp_path / f"outside-{name}"
    outside.write_bytes((bundle / name).read_bytes())
    (bundle / name).unlink()
    (bundle / name).symlink_to(outside)
    _tampered(_verify(bundle, "--public-key", str(made["public"])), name, "link")


def test_unlisted_entries_of_every_kind_are_tampered(made: dict[str, Any],
                                                     tmp_path: Path) -> None:
    """A dangling link, a FIFO, a directory, a link to a directory, a hidden file: each is an
    entry the manifest does not list."""
    makers = {
        "dangling": lambda p: p.symlink_to(tmp_path / "nowhere"),
        "fifo": lambda p: os.mkfifo(p),
        "subdir": lambda p: p.mkdir(),
        "dirlink": lambda p: p.symlink_to(tmp_path),
        ".hidden": lambda p: p.write_text("x"),
    }
    for name, make in makers.items():
        bundle = _copy(made["signed"], tmp_path / f"b-{name}")
        make(bundle / name)
        _tampered(_verify(bundle, "--public-key", str(made["public"])), name)


def test_a_listed_fifo_does_not_hang_verify(made: dict[str, Any], tmp_path: Path) -> None:
    """A FIFO in place of a listed file is reported, never opened (which would block)."""
    bundle = _copy(made["signed"], tmp_path / "b")
    (bundle / "report.html").unlink()
    os.mkfifo(bundle / "report.html")
    _tampered(_verify(bundle, "--public-key", str(made["public"])), "report.html")


# --- malformed manifests --------------------------------------------------------------------


@pytest.mark.parametrize("mutate", [
    lambda m: m.update(outputs=[1, 2]),
    lambda m: m.update(outputs={"path": "x"}),
    lambda m: m.update(outputs=[{"path": ["findings.json"], "sha256": "0"}]),
    lambda m: m.update(outputs=[{"path": "findings.json", "sha256": 5}]),
    lambda m: m.update(outputs=[{"path": "../escape", "sha256": "0"}]),
    lambda m: m.update(outputs=[{"path": "/etc/passwd", "sha256": "0"}]),
    lambda m: m.update(outputs=m["outputs"] + m["outputs"][:1]),
    lambda m: m.update(outputs=m["outputs"][1:]),
    lambda m: m.update(signature="yes"),
    lambda m: m.update(signature={"algorithm": "Ed25519", "public_key": 7}),
    lambda m: m.pop("outputs"),
])
def test_a_malformed_manifest_is_tampered_not_a_traceback(made: dict[str, Any], tmp_path: Path,
                                                          mutate: Any) -> None:
    """Wrong types, paths leaving the bundle, duplicates, a missing standard output: a manifest
    phiguard did not write is not intact (exit 1), said in one line, never a traceback."""
    bundle = _copy(made["unsigned"], tmp_path / "b")
    manifest = json.loads((bundle / "manifest.json").read_text())
    mutate(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = _verify(bundle)
    _tampered(result)
    assert "manifest" in result.output or "listed" in result.output


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b'{"schema": 1}', b"\xff\xfe{}",
                                  b'{"schema": "phiguard.bundle/v1"', b"1e999999"])
def test_an_unparsable_manifest_is_tampered(made: dict[str, Any], tmp_path: Path,
                                            body: bytes) -> None:
    bundle = _copy(made["unsigned"], tmp_path / "b")
    (bundle / "manifest.json").write_bytes(body)
    _tampered(_verify(bundle), "manifest.json")


def test_what_cannot_be_read_is_exit_2(made: dict[str, Any], tmp_path: Path) -> None:
    """A missing directory, a bundle without a manifest, a public key that is not one."""
    assert _verify(tmp_path / "missing").exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _verify(empty).exit_code == 2
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    result = _verify(made["signed"], "--public-key", str(bad))
    assert result.exit_code == 2 and "bad.pem" in result.output
    result = _verify(made["signed"], "--public-key", str(tmp_path / "absent.pem"))
    assert result.exit_code == 2 and "absent.pem" in result.output


def test_verify_bundle_api_reports_every_problem(made: dict[str, Any], tmp_path: Path) -> None:
    """The library call lists each problem, not only the first."""
    bundle = _copy(made["signed"], tmp_path / "b")
    _edit_findings(bundle)
    (bundle / "extra").write_text("x")
    result = verify_bundle(bundle, made["public"])
    assert result.exit_code == 1
    text = "\n".join(result.problems)
    assert "findings.json" in text and "extra" in text
