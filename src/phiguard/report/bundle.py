"""The evidence bundle: report, findings, effective config and a manifest of hashes, maybe signed.

Layout of a bundle directory:

    report.html       the auditor report
    findings.json     findings JSON v1
    config.json       the effective configuration the run evaluated
    manifest.json     sha256 of every input and output, rule pack digest, tool version, time
    manifest.sig      (with a key) base64 Ed25519 signature over manifest.json's bytes

The bundle is built in a temporary sibling directory and renamed into place, so a failed run
leaves nothing. `verify_bundle` re-hashes every listed file, rejects files the manifest does not
list, and checks the signature.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from phiguard._util.hashing import sha256_file
from phiguard.errors import InputError, UsageError
from phiguard.findings import Finding
from phiguard.policy.rule import RulePack
from phiguard.report.html_report import render_html
from phiguard.report.json_report import write_findings
from phiguard.report.summary import Tally

__all__ = ["BUNDLE_SCHEMA", "VerifyResult", "sha256_file", "verify_bundle", "write_bundle"]

BUNDLE_SCHEMA = "phiguard.bundle/v1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"



def _dump(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def load_private_key(path: Path) -> Any:
    """An Ed25519 private key from a PEM file (`openssl genpkey -algorithm ed25519`)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise InputError(f"cannot read signing key: {exc.strerror}", file=str(path)) from None
    except (ValueError, TypeError) as exc:
        raise InputError(f"not an unencrypted PEM private key: {exc}", file=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the signing key must be Ed25519", file=str(path))
    return key


def load_public_key(path: Path) -> Any:
    """An Ed25519 public key from a PEM file (SubjectPublicKeyInfo)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read public key: {exc.strerror}", file=str(path)) from None
    except ValueError as exc:
        raise InputError(f"not a PEM public key: {exc}", file=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("the public key must be Ed25519", file=str(path))
    return key


def _public_b64(public_key: Any) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def write_bundle(target: Path, run: Mapping[str, Any], findings: Iterable[Finding],
                 pack: RulePack, waivers: Callable[[], Sequence[Mapping[str, Any]]], *,
                 config_file: Path | None = None, sign_key: Path | None = None,
                 now: datetime | None = None,
                 trend: Mapping[str, Any] | None = None) -> list[Finding]:
    """Write the bundle at `target` atomically and return the findings it holds."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"--bundle {target}: exists and is not an empty directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--bundle {target}: directory {parent} does not exist")
    key = load_private_key(sign_key) if sign_key else None
    created = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; a bundle is meant to be read
    try:
        kept: list[Finding] = []
        with (tmp / "findings.json").open("w", encoding="utf-8") as out:
            write_findings(out, dict(run), _keep(findings, kept), Tally(keep=0),
                           lambda: [dict(w) for w in waivers()])
        with (tmp / "report.html").open("w", encoding="utf-8") as out:
            render_html(out, kept, run, pack, list(waivers()), generated_at=created, trend=trend)
        (tmp / "config.json").write_bytes(_dump(run.get("config") or {}))
        inputs = [dict(i) for i in run.get("inputs") or []]
        if config_file is not None:
            inputs.append({"path": str(config_file), "sha256": sha256_file(config_file),
                           "role": "config"})
        outputs = [{"path": name, "sha256": sha256_file(tmp / name),
                    "bytes": (tmp / name).stat().st_size}
                   for name in ("report.html", "findings.json", "config.json")]
        manifest: dict[str, Any] = {
            "schema": BUNDLE_SCHEMA,
            "tool": "phiguard",
            "tool_version": run.get("tool_version"),
            "created_at": created,
            "rule_pack_digest": run.get("rule_pack_digest", f"sha256:{pack.digest}"),
            "snapshot_time": run.get("snapshot_time"),
            "evaluated_at": run.get("evaluated_at"),
            "inputs": inputs,
            "outputs": outputs,
        }
        if key is not None:
            manifest["signature"] = {"algorithm": "Ed25519", "file": SIGNATURE,
                                     "public_key": _public_b64(key.public_key())}
        body = _dump(manifest)
        (tmp / MANIFEST).write_bytes(body)
        if key is not None:
            (tmp / SIGNATURE).write_text(base64.b64encode(key.sign(body)).decode() + "\n")
        for path in tmp.iterdir():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return kept


def _keep(findings: Iterable[Finding], into: list[Finding]) -> Iterable[Finding]:
    for finding in findings:
        into.append(finding)
        yield finding


@dataclass
class VerifyResult:
    """What `verify` found: intact, or the problems; `unreadable` when it could not tell."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unreadable: bool = False

    @property
    def exit_code(self) -> int:
        return 2 if self.unreadable else 1 if self.problems else 0


def verify_bundle(directory: Path, public_key: Path | None = None) -> VerifyResult:
    """Re-hash every file the manifest lists and check the signature (0 intact, 1, 2)."""
    result = VerifyResult()
    manifest_path = directory / MANIFEST
    try:
        body = manifest_path.read_bytes()
        manifest = orjson.loads(body)
    except OSError as exc:
        result.unreadable = True
        result.problems.append(f"{manifest_path}: cannot read: {exc.strerror}")
        return result
    except orjson.JSONDecodeError:
        # A bundle whose manifest no longer parses was changed after it was written.
        result.problems.append(f"{manifest_path}: not valid JSON (modified?)")
        return result
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        result.problems.append(f"{manifest_path}: not a {BUNDLE_SCHEMA} manifest")
        return result
    key = None
    if public_key is not None:
        try:
            key = load_public_key(public_key)
        except InputError as exc:
            result.unreadable = True
            result.problems.append(str(exc))
            return result
    listed = {MANIFEST}
    for entry in manifest.get("outputs") or []:
        name = str(entry.get("path", ""))
        path = directory / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            result.problems.append(f"{name}: listed path leaves the bundle")
            continue
        listed.add(name)
        if not path.is_file():
            result.problems.append(f"{name}: missing")
        elif sha256_file(path) != entry.get("sha256"):
            result.problems.append(f"{name}: sha256 differs from the manifest (modified)")
    sig = manifest.get("signature")
    sig_path = directory / SIGNATURE
    if sig is not None:
        listed.add(SIGNATURE)
        result.problems += _check_signature(body, sig, sig_path, key, result.notes)
    elif key is not None:
        result.problems.append("the manifest is not signed, but a public key was given")
    elif sig_path.exists():
        result.problems.append(f"{SIGNATURE} exists but the manifest names no signature")
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel not in listed:
            result.problems.append(f"{rel}: not listed in the manifest")
    return result


def _check_signature(body: bytes, sig: Any, sig_path: Path, key: Any,
                     notes: list[str]) -> list[str]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(sig, dict) or sig.get("algorithm") != "Ed25519":
        return ["the manifest's signature block is not Ed25519"]
    try:
        signature = base64.b64decode(sig_path.read_text().strip(), validate=True)
    except OSError:
        return [f"{SIGNATURE}: missing"]
    except ValueError:
        return [f"{SIGNATURE}: not base64 (modified)"]
    if key is None:
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"]))
        except (KeyError, ValueError, TypeError):
            return ["the manifest's embedded public key is invalid"]
        notes.append("signature checked against the key embedded in the manifest; pass "
                     "--public-key to check who signed it")
    elif _public_b64(key) != sig.get("public_key"):
        notes.append("the manifest names a different public key than --public-key")
    try:
        key.verify(signature, body)
    except InvalidSignature:
        return ["the signature does not match the manifest and key"]
    return []
