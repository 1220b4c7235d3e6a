"""Evidence bundles in Cloud Storage: written once, never overwritten, verified in place.

`--bundle gs://BUCKET/PREFIX` builds the bundle in a local temporary directory, verifies it
(`verify_bundle`), then uploads it object by object, each with `ifGenerationMatch=0` so no
existing object is ever replaced, `manifest.json` last. The manifest is the completion mark: a
prefix holding objects but no manifest is an upload that did not finish, and `verify` calls it
incomplete (exit 1), never intact.

`verify gs://BUCKET/PREFIX/RUN` lists the objects under the prefix, downloads the manifest, its
signature and the files it lists into a private temporary directory, and runs the same checks as
a local verify (sha256 of each file, the signature against a trusted key, nothing unlisted).
Objects the manifest does not list are not downloaded: an empty stand-in is enough for
`verify_bundle` to report them; names with a `/` below the bundle are reported directly.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from phiguard.errors import OutputError, UsageError
from phiguard.report.bundle import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    SIGNATURE,
    VerifyResult,
    verify_bundle,
    write_bundle,
)
from phiguard.store.gcs import Gcs, GcsError, GcsUrl, Precondition, is_gcs, parse_gcs_url

if TYPE_CHECKING:
    from phiguard.findings import Finding
    from phiguard.policy.rule import RulePack

__all__ = ["Uploaded", "bundle_target", "check_free", "evidence_location", "upload_bundle",
           "verify_remote", "write_bundle_to"]


def bundle_target(value: str | Path | None, option: str = "--bundle") -> GcsUrl | Path | None:
    """A --bundle value: gs://BUCKET/PREFIX (a prefix is required) or a local directory."""
    if value is None:
        return None
    if is_gcs(str(value)):
        return parse_gcs_url(str(value), option, object_required=True)
    return Path(value)


def evidence_location(value: str, created: datetime, run_id: int | None) -> GcsUrl | Path:
    """Where `audit --evidence LOCATION` puts this run's bundle: LOCATION/RUN with RUN the
    run's UTC time and number (20261207T060012Z-run57), so every run has its own place."""
    name = created.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if run_id is not None:
        name += f"-run{run_id}"
    if is_gcs(value):
        return parse_gcs_url(value, "--evidence").child(name)
    return Path(value) / name


@dataclass
class Uploaded:
    """The objects written, in order; `complete` once the manifest is among them."""

    target: GcsUrl
    names: list[str] = field(default_factory=list)
    complete: bool = False


def check_free(gcs: Gcs, target: GcsUrl, option: str = "--bundle") -> None:
    """Exit 2 before any work when the prefix already holds objects: a bundle is written once."""
    for item in gcs.list(target):
        raise UsageError(f"{option} {target}: already holds objects (e.g. {item.get('name')}); "
                         "an evidence bundle is never overwritten or merged: choose a new prefix")


def upload_bundle(local: Path, target: GcsUrl, gcs: Gcs,
                  on_object: Callable[[str], None] = lambda name: None) -> Uploaded:
    """Upload a verified local bundle to `target`, manifest last, never replacing an object.

    An object that exists already stops the upload (UsageError, exit 2); any other failure is an
    OutputError (exit 2). Either way the message says what was uploaded and that the bundle is
    incomplete (no manifest), which `verify` reports."""
    result = verify_bundle(local)
    if result.problems:  # built a moment ago: a problem here is a bug or a hostile local disk
        raise OutputError(f"--bundle {target}: the bundle built locally does not verify: "
                          + "; ".join(result.problems))
    names = sorted(p.name for p in local.iterdir())
    order = [n for n in names if n not in (MANIFEST, SIGNATURE)]
    order += [n for n in (SIGNATURE, MANIFEST) if n in names]
    done = Uploaded(target)
    for name in order:
        url = target.child(name)
        kind = "application/json" if name.endswith(".json") else (
            "text/html; charset=utf-8" if name.endswith(".html") else "text/plain")
        try:
            gcs.upload(local / name, url, if_generation=0, content_type=kind)
        except Precondition:
            raise UsageError(f"--bundle {target}: {url} already exists (another bundle is being "
                             f"written here?); nothing was overwritten. {_partial(done)}"
                             ) from None
        except GcsError as exc:
            raise OutputError(f"--bundle {target}: upload failed at {name}: {exc}. "
                              f"{_partial(done)}") from None
        done.names.append(name)
        on_object(name)
    done.complete = True
    return done


def _partial(done: Uploaded) -> str:
    if not done.names:
        return "Nothing of this bundle was uploaded."
    return (f"Uploaded before the failure: {', '.join(done.names)}; without {MANIFEST} the "
            f"bundle at {done.target} is incomplete (`phiguard verify {done.target}` says so).")


def write_bundle_to(target: GcsUrl | Path, run: Mapping[str, Any], findings: Iterable[Finding],
                    pack: RulePack, waivers: Callable[[], Sequence[Mapping[str, Any]]], *,
                    config_file: Path | None = None, sign_key: Path | None = None,
                    trend: Mapping[str, Any] | None = None, gcs: Gcs | None = None,
                    on_object: Callable[[str], None] = lambda name: None) -> list[Finding]:
    """write_bundle for a local directory, or built locally and uploaded for gs://."""
    if isinstance(target, Path):
        return write_bundle(target, run, findings, pack, waivers, config_file=config_file,
                            sign_key=sign_key, trend=trend)
    scratch = Path(tempfile.mkdtemp(prefix="phiguard-bundle-"))
    try:
        kept = write_bundle(scratch / "bundle", run, findings, pack, waivers,
                            config_file=config_file, sign_key=sign_key, trend=trend)
        own = gcs or Gcs()
        try:
            upload_bundle(scratch / "bundle", target, own, on_object)
        finally:
            if gcs is None:
                own.close()
        return kept
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def verify_remote(target: GcsUrl, public_key: Path | None = None, *,
                  require_signature: bool = False, gcs: Gcs | None = None) -> VerifyResult:
    """verify_bundle for a bundle in Cloud Storage (see the module's description)."""
    own = gcs or Gcs()
    scratch = Path(tempfile.mkdtemp(prefix="phiguard-verify-"))
    try:
        return _verify(target, public_key, require_signature, own, scratch)
    except GcsError as exc:
        return VerifyResult().cannot_tell(str(exc))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if gcs is None:
            own.close()


def _verify(target: GcsUrl, public_key: Path | None, require_signature: bool, gcs: Gcs,
            scratch: Path) -> VerifyResult:
    base = target.name + "/"
    objects = {str(item["name"])[len(base):]: item for item in gcs.list(target)
               if str(item.get("name", "")).startswith(base)}
    if not objects:
        return VerifyResult().cannot_tell(f"{target}: no objects there (not an evidence "
                                          "bundle?)")
    extra: list[str] = []
    if MANIFEST not in objects:
        extra.append(f"incomplete: {len(objects)} object(s) but no {MANIFEST} (an upload that "
                     "did not finish, or a removed manifest); not intact")
    local = scratch / "bundle"
    local.mkdir()
    listed = set()
    if MANIFEST in objects and int(objects[MANIFEST].get("size") or 0) > MAX_MANIFEST_BYTES:
        extra.append(f"{MANIFEST}: larger than {MAX_MANIFEST_BYTES >> 20} MiB (not a manifest "
                     "phiguard wrote)")
        result = VerifyResult(problems=extra)
        return result
    if MANIFEST in objects:
        gcs.download(target.child(MANIFEST), local / MANIFEST,
                     generation=str(objects[MANIFEST].get("generation") or "") or None,
                     limit=MAX_MANIFEST_BYTES + 1)
        listed = _listed_names(local / MANIFEST)
    for rel, item in sorted(objects.items()):
        if rel == MANIFEST:
            continue
        if not rel or "/" in rel or rel in (".", ".."):
            extra.append(f"{rel or '(the prefix itself)'}: not listed in the manifest "
                         "(an object below the bundle)")
            continue
        path = local / rel
        if rel in listed or rel == SIGNATURE:
            gcs.download(target.child(rel), path,
                         generation=str(item.get("generation") or "") or None)
        else:
            path.touch()  # reported as unlisted by verify_bundle; its bytes do not matter
    result = verify_bundle(local, public_key, require_signature=require_signature)
    if MANIFEST not in objects:
        result.unverified.clear()  # "manifest missing" is the incompleteness said above
    result.problems = extra + result.problems
    result.unverified = [u.replace(str(local) + "/", str(target) + "/") for u in
                         result.unverified]
    return result


def _listed_names(manifest: Path) -> set[str]:
    """Names the manifest lists as outputs (empty when it does not parse: verify says why)."""
    with suppress(orjson.JSONDecodeError, OSError):
        doc = orjson.loads(manifest.read_bytes())
        if isinstance(doc, dict) and isinstance(doc.get("outputs"), list):
            return {str(e["path"]) for e in doc["outputs"]
                    if isinstance(e, dict) and isinstance(e.get("path"), str)}
    return set()
