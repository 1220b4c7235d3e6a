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
import stat
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from phiguard._util.hashing import sha256_file
from phiguard._util.outputs import output_file, put_bytes
from phiguard.errors import InputError, OutputError, UsageError
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
    label = f"--bundle {target}"
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    except OSError as exc:
        raise OutputError(f"{label}: cannot create a directory in {parent}: "
                          f"{exc.strerror or exc}") from None
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; a bundle is meant to be read
        kept: list[Finding] = []
        with output_file(tmp / "findings.json", label) as out:
            write_findings(out, dict(run), _keep(findings, kept), Tally(keep=0),
                           lambda: [dict(w) for w in waivers()])
        with output_file(tmp / "report.html", label) as out:
            render_html(out, kept, run, pack, list(waivers()), generated_at=created, trend=trend)
        put_bytes(tmp / "config.json", _dump(run.get("config") or {}), label)
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
        put_bytes(tmp / MANIFEST, body, label)
        if key is not None:
            put_bytes(tmp / SIGNATURE, base64.b64encode(key.sign(body)) + b"\n", label)
        try:
            for path in tmp.iterdir():
                with path.open("rb") as fh:
                    os.fsync(fh.fileno())
            if target.exists():
                target.rmdir()  # empty, checked above
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(f"{label}: cannot write: {exc.strerror or exc}") from None
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
    """What `verify` found: `problems` show the bundle is not intact; `unverified` says what
    could not be checked (an unreadable file, a signature without a trusted key)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    @property
    def unreadable(self) -> bool:
        return bool(self.unverified) and not self.problems

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 2 if self.unverified else 0

    def cannot_tell(self, problem: str) -> VerifyResult:
        self.unverified.append(problem)
        return self


# What write_bundle lists; a manifest without one of them was not written by phiguard.
STANDARD_OUTPUTS = frozenset({"report.html", "findings.json", "config.json"})
MAX_MANIFEST_BYTES = 64 << 20
_HEX = frozenset("0123456789abcdef")


def _kind(mode: int) -> str | None:
    """What a non-regular entry is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a special file"


def _entries(directory: Path) -> dict[str, int]:
    """Every entry under the bundle directory (links not followed) and its lstat mode."""
    found: dict[str, int] = {}
    pending = [(directory, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as it:
            for entry in it:
                rel = prefix + entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                found[rel] = mode
                if stat.S_ISDIR(mode) and len(found) < 10_000:
                    pending.append((Path(entry.path), rel + "/"))
    return found


def _listed_outputs(manifest: dict[str, Any], problems: list[str]) -> dict[str, str]:
    """name -> sha256 of the manifest's outputs; malformed entries become problems."""
    outputs = manifest.get("outputs")
    if not isinstance(outputs, list):
        problems.append(f"{MANIFEST}: `outputs` is not a list (not a manifest phiguard wrote)")
        return {}
    listed: dict[str, str] = {}
    for i, entry in enumerate(outputs):
        name = entry.get("path") if isinstance(entry, dict) else None
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not isinstance(digest, str):
            problems.append(f"{MANIFEST}: outputs[{i}] is not a {{path, sha256}} entry")
            continue
        if (not name or "/" in name or "\\" in name or name in (".", "..")
                or name in (MANIFEST, SIGNATURE)):
            problems.append(f"{MANIFEST}: outputs[{i}] {name!r}: listed path is not a file "
                            "name inside the bundle")
            continue
        if name in listed:
            problems.append(f"{MANIFEST}: {name} is listed twice")
            continue
        if len(digest) != 64 or not set(digest) <= _HEX:
            problems.append(f"{MANIFEST}: {name}: sha256 is not a hex digest")
        listed[name] = digest
    for name in sorted(STANDARD_OUTPUTS - set(listed)):
        problems.append(f"{name}: not listed in the manifest (every bundle lists it)")
    return listed


def verify_bundle(directory: Path, public_key: Path | None = None, *,
                  require_signature: bool = False) -> VerifyResult:
    """Check that a bundle is intact (exit 0), not intact (1) or cannot be checked (2).

    Intact: the directory holds exactly manifest.json, the files it lists and, when signed,
    manifest.sig; each is a regular file (no links, FIFOs or directories) whose sha256 matches.
    A signature is checked only against a key the caller trusts (`public_key`): a signed
    bundle without one cannot be called intact (2), since anyone can re-sign with a key of
    their own. An unsigned bundle is intact with a warning, unless `require_signature` or a
    trusted key is given, when it is not.
    """
    result = VerifyResult()
    key = None
    if public_key is not None:
        try:
            key = load_public_key(public_key)
        except InputError as exc:
            return result.cannot_tell(str(exc))
    try:
        entries = _entries(directory)
    except OSError as exc:
        return result.cannot_tell(f"{directory}: cannot read: {exc.strerror or exc}")
    manifest_path = directory / MANIFEST
    if MANIFEST not in entries:
        return result.cannot_tell(f"{manifest_path}: missing (not an evidence bundle?)")
    kind = _kind(entries[MANIFEST])
    if kind is not None:
        result.problems.append(f"{MANIFEST}: is {kind}, not a regular file in the bundle")
        return result
    try:
        with manifest_path.open("rb") as fh:
            body = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        return result.cannot_tell(f"{manifest_path}: cannot read: {exc.strerror or exc}")
    if len(body) > MAX_MANIFEST_BYTES:
        result.problems.append(f"{MANIFEST}: larger than {MAX_MANIFEST_BYTES >> 20} MiB "
                               "(not a manifest phiguard wrote)")
        return result
    try:
        manifest = orjson.loads(body)
    except orjson.JSONDecodeError:
        # A bundle whose manifest no longer parses was changed after it was written.
        result.problems.append(f"{MANIFEST}: not valid JSON (modified?)")
        return result
    if not isinstance(manifest, dict) or manifest.get("schema") != BUNDLE_SCHEMA:
        result.problems.append(f"{MANIFEST}: not a {BUNDLE_SCHEMA} manifest")
        return result
    listed = _listed_outputs(manifest, result.problems)
    for name, digest in listed.items():
        mode = entries.get(name)
        if mode is None:
            result.problems.append(f"{name}: missing")
            continue
        kind = _kind(mode)
        if kind is not None:  # never opened: a FIFO would block, a link leads elsewhere
            result.problems.append(f"{name}: is {kind}, not a regular file in the bundle")
            continue
        try:
            actual = sha256_file(directory / name)
        except OSError as exc:
            return result.cannot_tell(f"{directory / name}: cannot read: {exc.strerror}")
        if actual != digest:
            result.problems.append(f"{name}: sha256 differs from the manifest (modified)")
    sig = manifest.get("signature")
    expected = {MANIFEST, *listed}
    if sig is not None:
        expected.add(SIGNATURE)
        result.problems += _check_signature(body, sig, directory, entries, key, result)
    else:
        if SIGNATURE in entries:
            result.problems.append(f"{SIGNATURE} exists but the manifest names no signature")
        if key is not None or require_signature:
            why = ("a public key is configured" if key is not None
                   else "--require-signature was given")
            result.problems.append(f"the manifest is not signed, but {why}")
        else:
            result.warnings.append(
                "the bundle is not signed: this shows the files match the manifest, not that "
                "nobody rewrote both; sign bundles (--sign-key) and verify with --public-key")
    for rel in sorted(set(entries) - expected):
        kind = _kind(entries[rel])
        what = f" ({kind})" if kind else ""
        result.problems.append(f"{rel}: not listed in the manifest{what}")
    return result


def _check_signature(body: bytes, sig: Any, directory: Path, entries: dict[str, int], key: Any,
                     result: VerifyResult) -> list[str]:
    from cryptography.exceptions import InvalidSignature

    if not isinstance(sig, dict) or sig.get("algorithm") != "Ed25519":
        return [f"{MANIFEST}: the signature block is not Ed25519"]
    if not isinstance(sig.get("public_key"), str):
        return [f"{MANIFEST}: the signature block names no public key"]
    if SIGNATURE not in entries:
        return [f"{SIGNATURE}: missing"]
    kind = _kind(entries[SIGNATURE])
    if kind is not None:
        return [f"{SIGNATURE}: is {kind}, not a regular file in the bundle"]
    try:
        with (directory / SIGNATURE).open("rb") as fh:
            raw = fh.read(4096)
        signature = base64.b64decode(raw.strip(), validate=True)
    except OSError as exc:
        result.cannot_tell(f"{directory / SIGNATURE}: cannot read: {exc.strerror}")
        return []
    except ValueError:
        return [f"{SIGNATURE}: not base64 (modified)"]
    if key is None:
        # The key inside the manifest is whoever signed last: a signature that does not even
        # match it shows tampering, one that does proves nothing about who signed.
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            embedded = Ed25519PublicKey.from_public_bytes(
                base64.b64decode(sig["public_key"], validate=True))
            embedded.verify(signature, body)
        except (ValueError, InvalidSignature):
            return ["the signature does not match the manifest and the key it names"]
        result.cannot_tell("the bundle is signed, but no trusted key was given, so who signed "
                           "it is unknown: pass --public-key KEY.pub.pem (or set "
                           "PHIGUARD_PUBLIC_KEY) with the signer's public key")
        return []
    if _public_b64(key) != sig.get("public_key"):
        result.notes.append("the manifest names a different public key than --public-key")
    try:
        key.verify(signature, body)
    except InvalidSignature:
        return ["the signature does not match the manifest and the trusted public key"]
    return []
