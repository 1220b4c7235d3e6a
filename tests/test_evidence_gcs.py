"""Evidence kept in Cloud Storage (issue 16), against the emulator's Cloud Storage routes:
bundles uploaded once and never overwritten, verified in place, a partial upload never called
intact; the run-history store updated only over the generation it was read at, a restored older
copy detected; `evidence check` on the bucket; and the emulator refusing what Google refuses."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from emulator import Emulator
from phiguard.cli import main
from phiguard.errors import StoreError, UsageError
from phiguard.report.remote import upload_bundle, verify_remote
from phiguard.store.gcs import Gcs, GcsUrl, Precondition
from phiguard.store.remote import RemoteStore
from report_data import DEMO

EVIDENCE = "phi-evidence"
STATE = "phi-state"
SIX_YEARS = "189216000"
LOCKED = {"retentionPeriod": SIX_YEARS, "isLocked": True,
          "effectiveTime": "2026-01-01T00:00:00Z"}
GOOD_BUCKET = {"retentionPolicy": LOCKED,
               "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True},
                                    "publicAccessPrevention": "enforced"},
               "softDeletePolicy": {"retentionDurationSeconds": "604800"}}
CREATOR = {"storage.objects.create", "storage.objects.get", "storage.objects.list",
           "storage.buckets.get"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("keys")
    key = Ed25519PrivateKey.generate()
    private, public = base / "signer.pem", base / "signer.pub.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM,
                                                     PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def local_bundle(tmp_path_factory: pytest.TempPathFactory, keys: tuple[Path, Path]) -> Path:
    """A signed bundle of the demo org, built once (scan --bundle DIR)."""
    bundle = tmp_path_factory.mktemp("bundle") / "evidence"
    result = CliRunner().invoke(main, ["scan", str(DEMO), "--config",
                                       str(DEMO / "phiguard.yaml"), "--bundle", str(bundle),
                                       "--sign-key", str(keys[0]), "--format", "json",
                                       "--output", str(bundle.parent / "scan.json")])
    assert result.exit_code == 1, result.output
    return bundle


@pytest.fixture()
def gcs_emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator with an evidence bucket (locked six-year retention) and a state bucket."""
    with Emulator() as server:
        server.cloud.add_bucket(EVIDENCE, **json.loads(json.dumps(GOOD_BUCKET)))
        server.cloud.add_bucket(STATE, versioning={"enabled": True})
        monkeypatch.setenv("PHIGUARD_GCP_ENDPOINT", server.base)
        yield server


def cli(emu: Emulator, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"PHIGUARD_GCP_ENDPOINT": emu.base})


def _uploaded(emu: Emulator, bundle: Path, prefix: str = "runs/r1") -> GcsUrl:
    target = GcsUrl(EVIDENCE, prefix)
    with Gcs() as gcs:
        done = upload_bundle(bundle, target, gcs)
    assert done.complete
    return target


def _verify(emu: Emulator, location: str, public: Path | None) -> Result:
    args = ["verify", location] + (["--public-key", str(public)] if public else [])
    return cli(emu, *args)


# uploading ------------------------------------------------------------------------------------


def test_scan_bundle_to_cloud_storage_is_uploaded_manifest_last_and_verifies_in_place(
        gcs_emu: Emulator, keys: tuple[Path, Path], tmp_path: Path) -> None:
    """scan --bundle gs://: every object is created with ifGenerationMatch=0, manifest.json
    last; verify gs:// with the trusted key says intact (exit 0)."""
    result = cli(gcs_emu, "scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml"),
                 "--bundle", f"gs://{EVIDENCE}/runs/r1", "--sign-key", str(keys[0]),
                 "--format", "json", "--output", str(tmp_path / "out.json"))
    assert result.exit_code == 1, result.output  # failing findings, as a local bundle
    names = gcs_emu.storage.names(EVIDENCE, "runs/r1/")
    assert [n.split("/")[-1] for n in names] == ["config.json", "findings.json",
                                                 "manifest.json", "manifest.sig", "report.html"]
    uploads = [r for r in gcs_emu.requests if r.startswith(f"/upload/storage/v1/b/{EVIDENCE}/o")]
    assert len(uploads) == 5 and all("ifGenerationMatch=0" in r for r in uploads)
    objects = {n: gcs_emu.storage.objects[(EVIDENCE, n)] for n in names}
    last = max(objects, key=lambda n: objects[n].generation)
    assert last == "runs/r1/manifest.json"
    verified = _verify(gcs_emu, f"gs://{EVIDENCE}/runs/r1", keys[1])
    assert verified.exit_code == 0, verified.output
    assert f"gs://{EVIDENCE}/runs/r1: intact" in verified.output


def test_second_bundle_to_the_same_place_is_refused_with_exit_2_and_nothing_changes(
        gcs_emu: Emulator, local_bundle: Path, tmp_path: Path) -> None:
    target = _uploaded(gcs_emu, local_bundle)
    before = {k: (v.generation, v.data) for k, v in gcs_emu.storage.objects.items()}
    result = cli(gcs_emu, "scan", str(DEMO), "--config", str(DEMO / "phiguard.yaml"),
                 "--bundle", str(target), "--format", "json",
                 "--output", str(tmp_path / "out.json"))
    assert result.exit_code == 2, result.output
    assert "already holds objects" in result.output and "never overwritten" in result.output
    assert "Traceback" not in result.output
    after = {k: (v.generation, v.data) for k, v in gcs_emu.storage.objects.items()}
    assert after == before


def test_an_object_created_meanwhile_is_never_overwritten(gcs_emu: Emulator,
                                                          local_bundle: Path) -> None:
    """Another writer created one of the bundle's objects between the check and the upload:
    the upload stops at it (exit-2 error), that object keeps the other writer's bytes, and no
    manifest is written, so the place is not an intact bundle."""
    gcs_emu.storage.put(EVIDENCE, "runs/r1/findings.json", b"someone else's")
    with Gcs() as gcs, pytest.raises(UsageError, match=r"already exists.*nothing was overwri"):
        upload_bundle(local_bundle, GcsUrl(EVIDENCE, "runs/r1"), gcs)
    assert gcs_emu.storage.objects[(EVIDENCE, "runs/r1/findings.json")].data == b"someone else's"
    assert (EVIDENCE, "runs/r1/manifest.json") not in gcs_emu.storage.objects


def test_upload_with_generation_zero_refuses_an_existing_object(gcs_emu: Emulator,
                                                                tmp_path: Path) -> None:
    source = tmp_path / "x"
    source.write_bytes(b"new")
    gcs_emu.storage.put(STATE, "x", b"old")
    with Gcs() as gcs, pytest.raises(Precondition):
        gcs.upload(source, GcsUrl(STATE, "x"), if_generation=0)
    assert gcs_emu.storage.objects[(STATE, "x")].data == b"old"


def test_a_lost_answer_to_a_create_is_resolved_by_reading_the_object_back(
        gcs_emu: Emulator, tmp_path: Path) -> None:
    """The create lands but its answer is lost: the retry meets 412, reads the object back,
    finds our bytes and metadata, and succeeds without writing twice."""
    source = tmp_path / "x"
    source.write_bytes(b"payload")
    gcs_emu.fault("/upload/storage/v1/", lost=True, delay=0.1)
    with Gcs() as gcs:
        gcs.policy = type(gcs.policy)(attempts=3, initial=0.0, maximum=0.0)
        stored = gcs.upload(source, GcsUrl(STATE, "x"), if_generation=0, metadata={"a": "1"})
    assert stored["metadata"] == {"a": "1"}
    assert gcs_emu.storage.objects[(STATE, "x")].data == b"payload"


def test_partial_upload_is_reported_and_verify_says_incomplete_never_intact(
        gcs_emu: Emulator, local_bundle: Path, keys: tuple[Path, Path]) -> None:
    """The third object's upload fails for good (403: the identity lost its create grant
    after two objects): the error lists what was uploaded and says the bundle is incomplete;
    verify in place exits 1 with "incomplete", not "intact"."""
    from phiguard.errors import OutputError

    def revoke(name: str) -> None:
        if name == "findings.json":
            gcs_emu.storage.permissions[EVIDENCE] = CREATOR - {"storage.objects.create"}

    with Gcs() as gcs, pytest.raises(OutputError) as caught:
        upload_bundle(local_bundle, GcsUrl(EVIDENCE, "runs/r1"), gcs, on_object=revoke)
    message = str(caught.value)
    assert "upload failed at" in message and "incomplete" in message
    assert "config.json, findings.json" in message
    assert gcs_emu.storage.names(EVIDENCE, "runs/r1/") == ["runs/r1/config.json",
                                                           "runs/r1/findings.json"]
    result = _verify(gcs_emu, f"gs://{EVIDENCE}/runs/r1", keys[1])
    assert result.exit_code == 1, result.output
    assert "incomplete" in result.output and "intact" not in result.output.replace(
        "not intact", "")


def test_verify_of_an_empty_place_cannot_tell(gcs_emu: Emulator) -> None:
    result = _verify(gcs_emu, f"gs://{EVIDENCE}/nothing/here", None)
    assert result.exit_code == 2 and "no objects there" in result.output


# verifying in place: each kind of tampering local verify catches -------------------------------


def _manifest(emu: Emulator) -> dict[str, object]:
    return json.loads(emu.storage.objects[(EVIDENCE, "runs/r1/manifest.json")].data)


def _tamper_modified(emu: Emulator) -> None:
    emu.storage.put(EVIDENCE, "runs/r1/findings.json", b'{"results": []}\n')


def _tamper_missing(emu: Emulator) -> None:
    del emu.storage.objects[(EVIDENCE, "runs/r1/report.html")]


def _tamper_extra(emu: Emulator) -> None:
    emu.storage.put(EVIDENCE, "runs/r1/notes.txt", b"added later")


def _tamper_nested(emu: Emulator) -> None:
    emu.storage.put(EVIDENCE, "runs/r1/more/findings.json", b"{}")


def _tamper_manifest_not_json(emu: Emulator) -> None:
    emu.storage.put(EVIDENCE, "runs/r1/manifest.json", b"{not json")


def _tamper_manifest_rewritten(emu: Emulator) -> None:
    """Both a file and its manifest entry changed: only the signature shows it."""
    data = b'{"results": []}\n'
    import hashlib

    emu.storage.put(EVIDENCE, "runs/r1/findings.json", data)
    manifest = _manifest(emu)
    for entry in manifest["outputs"]:  # type: ignore[union-attr]
        if entry["path"] == "findings.json":
            entry["sha256"] = hashlib.sha256(data).hexdigest()
    emu.storage.put(EVIDENCE, "runs/r1/manifest.json",
                    json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")


def _tamper_signature_missing(emu: Emulator) -> None:
    del emu.storage.objects[(EVIDENCE, "runs/r1/manifest.sig")]


def _tamper_signature_garbage(emu: Emulator) -> None:
    emu.storage.put(EVIDENCE, "runs/r1/manifest.sig", b"!!! not base64 !!!")


def _tamper_resigned(emu: Emulator) -> None:
    """Re-signed with someone else's key (the manifest names the new key)."""
    key = Ed25519PrivateKey.generate()
    manifest = _manifest(emu)
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    manifest["signature"]["public_key"] = base64.b64encode(raw).decode()  # type: ignore[index]
    body = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    emu.storage.put(EVIDENCE, "runs/r1/manifest.json", body)
    emu.storage.put(EVIDENCE, "runs/r1/manifest.sig", base64.b64encode(key.sign(body)) + b"\n")


def _tamper_unsigned(emu: Emulator) -> None:
    """Signature block and file removed: an unsigned bundle where a key is trusted."""
    manifest = _manifest(emu)
    manifest.pop("signature")
    emu.storage.put(EVIDENCE, "runs/r1/manifest.json",
                    json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    del emu.storage.objects[(EVIDENCE, "runs/r1/manifest.sig")]


def _tamper_manifest_removed(emu: Emulator) -> None:
    del emu.storage.objects[(EVIDENCE, "runs/r1/manifest.json")]


TAMPERING = {
    "modified file": (_tamper_modified, "findings.json: sha256 differs"),
    "missing file": (_tamper_missing, "report.html: missing"),
    "unlisted object": (_tamper_extra, "notes.txt: not listed in the manifest"),
    "object below the bundle": (_tamper_nested, "more/findings.json: not listed"),
    "manifest not JSON": (_tamper_manifest_not_json, "not valid JSON"),
    "file and manifest rewritten": (_tamper_manifest_rewritten, "signature does not match"),
    "signature removed": (_tamper_signature_missing, "manifest.sig: missing"),
    "signature not base64": (_tamper_signature_garbage, "not base64"),
    "re-signed by another key": (_tamper_resigned, "signature does not match"),
    "signature stripped": (_tamper_unsigned, "the manifest is not signed"),
    "manifest removed": (_tamper_manifest_removed, "incomplete"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_verify_in_place_catches_each_kind_of_tampering(gcs_emu: Emulator, local_bundle: Path,
                                                        keys: tuple[Path, Path],
                                                        kind: str) -> None:
    _uploaded(gcs_emu, local_bundle)
    assert _verify(gcs_emu, f"gs://{EVIDENCE}/runs/r1", keys[1]).exit_code == 0
    tamper, expected = TAMPERING[kind]
    tamper(gcs_emu)
    result = _verify(gcs_emu, f"gs://{EVIDENCE}/runs/r1", keys[1])
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert ": intact" not in result.output


def test_verify_in_place_and_local_verify_agree_on_the_same_tampering(
        gcs_emu: Emulator, local_bundle: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    """The problems verify reports in place are those a local verify reports on a copy."""
    _uploaded(gcs_emu, local_bundle)
    _tamper_modified(gcs_emu)
    _tamper_extra(gcs_emu)
    remote = verify_remote(GcsUrl(EVIDENCE, "runs/r1"), keys[1])
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in gcs_emu.storage.names(EVIDENCE, "runs/r1/"):
        (copy / name.split("/")[-1]).write_bytes(gcs_emu.storage.objects[(EVIDENCE, name)].data)
    from phiguard.report.bundle import verify_bundle

    local = verify_bundle(copy, keys[1])
    assert remote.problems == local.problems and remote.problems


# the emulator refuses what Google refuses ------------------------------------------------------


def _storage_call(emu: Emulator, method: str, path: str) -> tuple[int, dict[str, object]]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(emu.base + path, method=method)
    try:
        with urllib.request.urlopen(request) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_objects_under_retention_cannot_be_deleted_or_replaced(gcs_emu: Emulator,
                                                               tmp_path: Path) -> None:
    gcs_emu.storage.put(EVIDENCE, "kept", b"evidence")
    status, body = _storage_call(gcs_emu, "DELETE", f"/storage/v1/b/{EVIDENCE}/o/kept")
    assert status == 403
    assert body["error"]["errors"][0]["reason"] == "retentionPolicyNotMet"  # type: ignore[index]
    source = tmp_path / "x"
    source.write_bytes(b"replacement")
    live = gcs_emu.storage.objects[(EVIDENCE, "kept")].generation
    with Gcs() as gcs, pytest.raises(Exception, match="HTTP 403"):
        gcs.upload(source, GcsUrl(EVIDENCE, "kept"), if_generation=live)
    assert gcs_emu.storage.objects[(EVIDENCE, "kept")].data == b"evidence"


def test_held_objects_cannot_be_deleted_until_released(gcs_emu: Emulator) -> None:
    gcs_emu.storage.put(STATE, "held", b"x", event_based_hold=True)
    status, _ = _storage_call(gcs_emu, "DELETE", f"/storage/v1/b/{STATE}/o/held")
    assert status == 403
    gcs_emu.storage.objects[(STATE, "held")].event_based_hold = False
    status, _ = _storage_call(gcs_emu, "DELETE", f"/storage/v1/b/{STATE}/o/held")
    assert status == 204


def test_a_locked_retention_policy_cannot_be_shortened_or_removed(gcs_emu: Emulator) -> None:
    from phiguard.fix.api import ApiError, FixApi

    with FixApi() as api:
        for patch in ({"retentionPolicy": None}, {"retentionPolicy": {"retentionPeriod": "60"}}):
            with pytest.raises(ApiError, match="HTTP 403"):
                api.call("storage.buckets.patch", {"bucket": EVIDENCE}, patch)
        with pytest.raises(ApiError, match="HTTP 400"):  # never together with versioning
            api.call("storage.buckets.patch", {"bucket": EVIDENCE},
                     {"versioning": {"enabled": True}})
        longer = api.call("storage.buckets.patch", {"bucket": EVIDENCE},
                          {"retentionPolicy": {"retentionPeriod": "200000000"}})
    assert longer["retentionPolicy"]["retentionPeriod"] == "200000000"


def test_upload_with_a_parameter_objects_insert_lacks_is_refused(gcs_emu: Emulator) -> None:
    status, _ = _storage_call(gcs_emu, "POST", f"/upload/storage/v1/b/{STATE}/o?uploadType="
                                               "media&name=x&ifGenerationMatches=0")
    assert status == 400
    status, _ = _storage_call(gcs_emu, "POST", f"/upload/storage/v1/b/{STATE}/o?uploadType="
                                               "media&name=x&ifGenerationMatch=zero")
    assert status == 400
    status, body = _storage_call(gcs_emu, "POST", f"/upload/storage/v1/b/{STATE}/o?"
                                                  "uploadType=media&name=x&ifGenerationMatch=0")
    assert status == 200 and body["name"] == "x"
    status, body = _storage_call(gcs_emu, "POST", f"/upload/storage/v1/b/{STATE}/o?"
                                                  "uploadType=media&name=x&ifGenerationMatch=0")
    assert status == 412
    assert body["error"]["errors"][0]["reason"] == "conditionNotMet"  # type: ignore[index]


def test_permissions_are_enforced_and_tested(gcs_emu: Emulator, tmp_path: Path) -> None:
    """Replacing an object needs storage.objects.delete, as Google requires; testIamPermissions
    answers the subset the caller holds."""
    gcs_emu.storage.permissions[STATE] = {"storage.objects.create", "storage.objects.get"}
    gcs_emu.storage.put(STATE, "db", b"v1")
    source = tmp_path / "x"
    source.write_bytes(b"v2")
    live = gcs_emu.storage.objects[(STATE, "db")].generation
    with Gcs() as gcs:
        with pytest.raises(Exception, match="HTTP 403"):
            gcs.upload(source, GcsUrl(STATE, "db"), if_generation=live)
        assert gcs.permissions(STATE, ["storage.objects.delete", "storage.objects.create"]) \
            == {"storage.objects.create"}


# evidence check --------------------------------------------------------------------------------


def test_evidence_check_passes_a_fit_bucket(gcs_emu: Emulator) -> None:
    gcs_emu.storage.permissions[EVIDENCE] = set(CREATOR)
    result = cli(gcs_emu, "evidence", "check", f"gs://{EVIDENCE}")
    assert result.exit_code == 0, result.output
    assert "fit to keep evidence for six years" in result.output
    for source in ("min_retention_seconds", "PUB-005", "BAK-005", "testIamPermissions"):
        assert source in result.output


FAILING = {
    "no retention": ({"retentionPolicy": None}, None, "retention", "no retention policy"),
    "short retention": ({"retentionPolicy": {"retentionPeriod": "86400", "isLocked": True}},
                        None, "retention", "shorter than the 189216000 s required"),
    "unlocked": ({"retentionPolicy": {"retentionPeriod": SIX_YEARS, "isLocked": False}}, None,
                 "retention", "not locked"),
    "no uniform access": ({"iamConfiguration": {"uniformBucketLevelAccess": {"enabled": False},
                                                "publicAccessPrevention": "enforced"}},
                          None, "PUB-005", "uniform bucket-level access is off"),
    "no public access prevention": ({"iamConfiguration": {
        "uniformBucketLevelAccess": {"enabled": True},
        "publicAccessPrevention": "inherited"}}, None, "PUB-005", "UNKNOWN"),
    "soft delete off": ({"softDeletePolicy": {"retentionDurationSeconds": "0"}}, None,
                        "BAK-005", "soft delete is off"),
    "identity can delete": ({}, CREATOR | {"storage.objects.delete"}, "no-delete",
                            "holds storage.objects.delete"),
    "identity cannot write": ({}, CREATOR - {"storage.objects.create"}, "can-write",
                              "cannot create objects"),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_evidence_check_fails_each_missing_property(gcs_emu: Emulator, case: str) -> None:
    change, held, check, why = FAILING[case]
    for key, value in change.items():
        if value is None:
            gcs_emu.cloud.buckets[EVIDENCE].pop(key, None)
        else:
            gcs_emu.cloud.buckets[EVIDENCE][key] = value
    gcs_emu.storage.permissions[EVIDENCE] = set(held if held is not None else CREATOR)
    result = cli(gcs_emu, "evidence", "check", f"gs://{EVIDENCE}", "--format", "json")
    assert result.exit_code == 1, result.output
    checks = {c["check"]: c for c in json.loads(result.output)["checks"]}
    if why == "UNKNOWN":  # inherited: decided by an org policy the check cannot read
        assert checks[check]["outcome"] == "UNKNOWN", checks[check]
        assert "set the property on the evidence bucket itself" in checks[check]["detail"]
    else:
        assert checks[check]["outcome"] == "FAIL" and why in checks[check]["detail"]
    assert [c for c in checks.values() if c["outcome"] != "PASS"] == [checks[check]]


def test_evidence_check_unreadable_bucket_is_unknown_never_pass(gcs_emu: Emulator) -> None:
    gcs_emu.storage.permissions[EVIDENCE] = {"storage.objects.create"}  # no buckets.get
    result = cli(gcs_emu, "evidence", "check", f"gs://{EVIDENCE}", "--format", "json")
    checks = {c["check"]: c["outcome"] for c in json.loads(result.output)["checks"]}
    assert checks["retention"] == checks["PUB-005"] == checks["BAK-005"] == "UNKNOWN"
    assert result.exit_code == 1


def test_evidence_check_takes_rule_parameters_from_the_config(gcs_emu: Emulator,
                                                               tmp_path: Path) -> None:
    """phiguard.yaml's params tune the rules applied: a 14-day soft-delete minimum fails the
    7-day bucket; a retention minimum below six years is not accepted as lowering the bar."""
    gcs_emu.storage.permissions[EVIDENCE] = set(CREATOR)
    config = tmp_path / "phiguard.yaml"
    config.write_text("params:\n  BAK-005: {min_soft_delete_seconds: 1209600}\n"
                      "  LOG-003: {min_retention_seconds: 60}\n")
    gcs_emu.cloud.buckets[EVIDENCE]["retentionPolicy"] = {"retentionPeriod": "86400",
                                                         "isLocked": True}
    result = cli(gcs_emu, "evidence", "check", f"gs://{EVIDENCE}", "--config", str(config),
                 "--format", "json")
    assert result.exit_code == 1, result.output
    checks = {c["check"]: c["outcome"] for c in json.loads(result.output)["checks"]}
    assert checks == {"retention": "FAIL", "PUB-005": "PASS", "BAK-005": "FAIL",
                      "no-delete": "PASS", "can-write": "PASS"}
    config.write_text("params:\n  LOG-003: {min_retention_seconds: 220752000}\n")  # 7 years
    gcs_emu.cloud.buckets[EVIDENCE]["retentionPolicy"] = dict(LOCKED)
    longer = cli(gcs_emu, "evidence", "check", f"gs://{EVIDENCE}", "--config", str(config),
                 "--format", "json")
    [retention] = [c for c in json.loads(longer.output)["checks"] if c["check"] == "retention"]
    assert retention["outcome"] == "FAIL" and "220752000" in retention["detail"]
    config.write_text("params:\n  BAK-005: {no_such_param: 1}\n")
    bad = cli(gcs_emu, "evidence", "check", f"gs://{EVIDENCE}", "--config", str(config))
    assert bad.exit_code == 2 and "no parameter 'no_such_param'" in bad.output


@pytest.mark.parametrize("bad", ["gs://x", "gs://phi-evidence/sub", "/tmp/bucket"])
def test_evidence_check_bad_location_is_exit_2(gcs_emu: Emulator, bad: str) -> None:
    result = cli(gcs_emu, "evidence", "check", bad)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_evidence_check_missing_bucket_is_exit_2(gcs_emu: Emulator) -> None:
    result = cli(gcs_emu, "evidence", "check", "gs://no-such-bucket")
    assert result.exit_code == 2 and "HTTP 404" in result.output


# the run-history store in Cloud Storage --------------------------------------------------------


def _audit(emu: Emulator, *extra: str) -> Result:
    return cli(emu, "audit", "--org", "123456789012", "--config", str(DEMO / "phiguard.yaml"),
               "--directory-customer", "my_customer", "--concurrency", "1",
               "--store", f"gs://{STATE}/phiguard.db", *extra)


@pytest.fixture()
def demo_emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with Emulator(DEMO) as server:
        server.cloud.add_bucket(EVIDENCE, **json.loads(json.dumps(GOOD_BUCKET)))
        server.cloud.add_bucket(STATE, versioning={"enabled": True})
        monkeypatch.setenv("PHIGUARD_GCP_ENDPOINT", server.base)
        yield server


def _runs(emu: Emulator, tmp_path: Path) -> list[int]:
    path = tmp_path / "copy.db"
    path.write_bytes(emu.storage.objects[(STATE, "phiguard.db")].data)
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT id FROM runs ORDER BY id")]
    finally:
        db.close()


def test_audit_with_cloud_store_and_evidence(demo_emu: Emulator, tmp_path: Path) -> None:
    """Two audits: the store gains run 1 then 2 (each upload over the generation read), each
    run leaves its marker and its own evidence folder, which verifies; history reads gs://."""
    first = _audit(demo_emu, "--evidence", f"gs://{EVIDENCE}/nightly")
    assert first.exit_code in (0, 1), first.output
    second = _audit(demo_emu, "--evidence", f"gs://{EVIDENCE}/nightly")
    assert second.exit_code in (0, 1), second.output
    assert _runs(demo_emu, tmp_path) == [1, 2]
    assert demo_emu.storage.names(STATE, "phiguard.db.runs/") == [
        "phiguard.db.runs/000000000001", "phiguard.db.runs/000000000002"]
    assert demo_emu.storage.objects[(STATE, "phiguard.db")].metadata == {
        "phiguard-last-run": "2"}
    store_writes = [r for r in demo_emu.requests if r.startswith(f"/upload/storage/v1/b/{STATE}")
                    and "ifGenerationMatch=0" not in r]
    assert len(store_writes) == 1  # the second upload names the generation it replaced
    # markers are read object by object: the job needs no list right on the state bucket
    assert not [r for r in demo_emu.requests if r.startswith(f"/storage/v1/b/{STATE}/o?")]
    folders = sorted({n.split("/")[1] for n in demo_emu.storage.names(EVIDENCE, "nightly/")})
    assert len(folders) == 2 and folders[0].endswith("-run1") and folders[1].endswith("-run2")
    verified = cli(demo_emu, "verify", f"gs://{EVIDENCE}/nightly/{folders[1]}")
    assert verified.exit_code == 0 and "intact" in verified.output
    history = cli(demo_emu, "history", "--store", f"gs://{STATE}/phiguard.db", "--format",
                  "json")
    assert history.exit_code == 0, history.output
    assert [r["id"] for r in json.loads(history.output)["runs"]] == [1, 2]


def test_concurrent_store_updates_lose_nothing(demo_emu: Emulator, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Two audits race: both download generation G; the other one uploads first. This one's
    upload over G fails (412): exit 2, a clear retryable message, nothing of the other run
    lost, no evidence uploaded for the unrecorded run; the retry records it."""
    assert _audit(demo_emu).exit_code in (0, 1)
    original = RemoteStore.upload

    def racing(self: RemoteStore, run_id: int, on_warning: object = None) -> None:
        other = RemoteStore(str(self.url))  # the other audit, which got there first
        other.download()
        from phiguard.store.db import Store

        with Store(other.path) as store:
            store.record({"tool_version": "x"}, [], scope="other")
        original(other, 2)
        other.close()
        original(self, run_id)

    monkeypatch.setattr(RemoteStore, "upload", racing)
    raced = _audit(demo_emu, "--evidence", f"gs://{EVIDENCE}/nightly")
    assert raced.exit_code == 2, raced.output
    assert "changed since this audit downloaded it" in raced.output
    assert "was NOT recorded" in raced.output and "run the audit again" in raced.output
    assert "Traceback" not in raced.output
    assert _runs(demo_emu, tmp_path) == [1, 2]  # the other audit's run is kept
    assert demo_emu.storage.names(EVIDENCE, "nightly/") == []
    monkeypatch.setattr(RemoteStore, "upload", original)
    retried = _audit(demo_emu)
    assert retried.exit_code in (0, 1), retried.output
    assert _runs(demo_emu, tmp_path) == [1, 2, 3]


def test_two_copies_racing_at_the_store_level(demo_emu: Emulator) -> None:
    """Both copies read generation G; the first upload wins, the second is refused."""
    with RemoteStore(f"gs://{STATE}/h.db") as a, RemoteStore(f"gs://{STATE}/h.db") as b:
        a.download()
        b.download()
        from phiguard.store.db import Store

        for copy in (a, b):
            with Store(copy.path) as store:
                store.record({"tool_version": "x"}, [], scope=str(id(copy)))
        a.upload(1)
        with pytest.raises(StoreError, match="another audit recorded a run meanwhile"):
            b.upload(1)


def test_a_restored_older_store_is_detected(demo_emu: Emulator, tmp_path: Path) -> None:
    """After runs 1 and 2, someone puts the run-1 copy back (an upload drops the metadata):
    the next audit refuses it (exit 2, the marker of run 2 named); with
    --accept-store-rollback it continues and numbers the new run 3, never 2 again."""
    assert _audit(demo_emu).exit_code in (0, 1)
    after_first = demo_emu.storage.objects[(STATE, "phiguard.db")].data
    assert _audit(demo_emu).exit_code in (0, 1)
    demo_emu.storage.put(STATE, "phiguard.db", after_first)  # restored, no metadata
    refused = _audit(demo_emu)
    assert refused.exit_code == 2, refused.output
    assert "older copy" in refused.output and "000000000002" in refused.output
    assert _runs(demo_emu, tmp_path) == [1]  # nothing was uploaded
    history = cli(demo_emu, "history", "--store", f"gs://{STATE}/phiguard.db")
    assert history.exit_code == 0 and "older copy" in history.output
    accepted = _audit(demo_emu, "--accept-store-rollback")
    assert accepted.exit_code in (0, 1), accepted.output
    assert "--accept-store-rollback" in accepted.output
    assert _runs(demo_emu, tmp_path) == [1, 3]
    assert "phiguard.db.runs/000000000003" in demo_emu.storage.names(STATE, "phiguard.db.runs/")


def test_a_restored_generation_with_its_metadata_is_detected_by_the_markers(
        demo_emu: Emulator) -> None:
    """Copying an earlier generation back keeps its metadata (last run 1), consistent with its
    content: the run markers still show run 2 was recorded."""
    assert _audit(demo_emu).exit_code in (0, 1)
    first = demo_emu.storage.objects[(STATE, "phiguard.db")]
    assert _audit(demo_emu).exit_code in (0, 1)
    demo_emu.storage.put(STATE, "phiguard.db", first.data, metadata=dict(first.metadata))
    refused = _audit(demo_emu)
    assert refused.exit_code == 2 and "marker" in refused.output


@pytest.mark.parametrize("args", [
    ["--store", "gs://Bad_Bucket/x.db"],
    ["--store", f"gs://{STATE}"],
    ["--store", f"gs://{STATE}/a.db", "--bundle", f"gs://{EVIDENCE}/a",
     "--evidence", f"gs://{EVIDENCE}/b"],
])
def test_bad_cloud_locations_are_exit_2(gcs_emu: Emulator, args: list[str]) -> None:
    result = cli(gcs_emu, "audit", "--org", "123456789012", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


# retries, large objects, degraded rights ---------------------------------------------------------


def test_transient_upload_failures_are_retried_within_bounds(gcs_emu: Emulator,
                                                             tmp_path: Path) -> None:
    """Two 503s, then success: three requests, one object. A 503 storm costs exactly the
    policy's attempts and ends in an error, with nothing written."""
    source = tmp_path / "x"
    source.write_bytes(b"payload")
    gcs_emu.fault("/upload/storage/v1/", status=503, times=2)
    with Gcs() as gcs:
        gcs.policy = type(gcs.policy)(attempts=4, initial=0.0, maximum=0.0)
        gcs.upload(source, GcsUrl(STATE, "a"), if_generation=0)
        assert gcs_emu.count("/upload/storage/v1/") == 3
        gcs_emu.fault("/upload/storage/v1/", status=503, times=None)
        with pytest.raises(Exception, match="HTTP 503"):
            gcs.upload(source, GcsUrl(STATE, "b"), if_generation=0)
    assert gcs_emu.count("/upload/storage/v1/") == 3 + 4
    assert (STATE, "b") not in gcs_emu.storage.objects


def test_a_large_object_is_downloaded_in_ranges(gcs_emu: Emulator, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import phiguard.store.gcs as gcs_module

    monkeypatch.setattr(gcs_module, "CHUNK", 1000)
    data = bytes(range(256)) * 20  # 5120 bytes: six ranges
    gcs_emu.storage.put(STATE, "big", data)
    with Gcs() as gcs:
        size = gcs.download(GcsUrl(STATE, "big"), tmp_path / "big")
    assert size == len(data) and (tmp_path / "big").read_bytes() == data
    assert gcs_emu.count("/storage/v1/b/phi-state/o/big") == 6


def test_audit_evidence_failure_after_recording_says_the_run_is_recorded(
        demo_emu: Emulator, tmp_path: Path) -> None:
    """The evidence bucket refuses the upload: exit 2, the message says the run is in the
    store and its bundle is not complete; the store holds the run."""
    demo_emu.storage.permissions[EVIDENCE] = CREATOR - {"storage.objects.create"}
    result = _audit(demo_emu, "--evidence", f"gs://{EVIDENCE}/nightly")
    assert result.exit_code == 2, result.output
    assert "run 1 is recorded in the store, but its evidence bundle was not completed" in \
        result.output
    assert "Nothing of this bundle was uploaded" in result.output
    assert _runs(demo_emu, tmp_path) == [1]


def test_a_bad_signing_key_fails_before_anything_is_recorded(demo_emu: Emulator,
                                                             tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("not a key")
    result = _audit(demo_emu, "--evidence", f"gs://{EVIDENCE}/nightly", "--sign-key", str(key))
    assert result.exit_code == 2 and "PEM" in result.output
    assert (STATE, "phiguard.db") not in demo_emu.storage.objects


def test_markers_the_job_may_not_read_degrade_to_a_warning(demo_emu: Emulator,
                                                           tmp_path: Path) -> None:
    """With no rights on the marker names (only the store object's), the audit still records
    its run and says that a restored copy is now detected from the metadata only."""
    assert _audit(demo_emu).exit_code in (0, 1)
    original = demo_emu.storage._get

    def no_markers(bucket: str, name: str, q: dict[str, list[str]],
                   headers: dict[str, str]) -> tuple[int, object]:
        if name.startswith("phiguard.db.runs/"):
            return 403, {"reason": "forbidden", "message": "denied"}
        return original(bucket, name, q, headers)

    demo_emu.storage._get = no_markers  # type: ignore[method-assign]
    result = _audit(demo_emu)
    assert result.exit_code in (0, 1), result.output
    assert "cannot read the run markers" in result.output
    assert _runs(demo_emu, tmp_path) == [1, 2]


def test_audit_evidence_in_a_local_directory(demo_emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "evidence").mkdir()
    result = _audit(demo_emu, "--evidence", str(tmp_path / "evidence"))
    assert result.exit_code in (0, 1), result.output
    [folder] = list((tmp_path / "evidence").iterdir())
    assert folder.name.endswith("-run1")
    verified = cli(demo_emu, "verify", str(folder))
    assert verified.exit_code == 0, verified.output


def test_two_audits_racing_in_parallel_one_fails_clearly(demo_emu: Emulator, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two audits run at once in two threads; both have downloaded the same generation when
    they reach the upload (a barrier holds each until the other is there). Exactly one records
    its run; the other fails with the retryable message and leaves no evidence behind."""
    import threading

    from phiguard.runs.audit import run_audit

    barrier = threading.Barrier(2, timeout=120)
    original = RemoteStore.upload

    def synced(self: RemoteStore, run_id: int, on_warning: object = None) -> None:
        barrier.wait()
        original(self, run_id)

    monkeypatch.setattr(RemoteStore, "upload", synced)
    outcome: dict[str, object] = {}

    def one(name: str) -> None:
        try:
            outcome[name] = run_audit(
                f"gs://{STATE}/phiguard.db", org="123456789012",
                config_path=DEMO / "phiguard.yaml", directory_customer="my_customer",
                concurrency=1, evidence=f"gs://{EVIDENCE}/{name}").run_id
        except StoreError as exc:
            outcome[name] = exc

    threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    won = [n for n, v in outcome.items() if v == 1]
    lost = [n for n, v in outcome.items() if isinstance(v, StoreError)]
    assert len(won) == 1 and len(lost) == 1, outcome
    assert "another audit recorded a run meanwhile" in str(outcome[lost[0]])
    assert _runs(demo_emu, tmp_path) == [1]
    assert demo_emu.storage.names(EVIDENCE, f"{lost[0]}/") == []
    assert len({n.split("/")[1] for n in demo_emu.storage.names(EVIDENCE, f"{won[0]}/")}) == 1


def test_restoring_the_newest_generation_resolves_a_detected_rollback(
        demo_emu: Emulator, tmp_path: Path) -> None:
    """The remedy docs/evidence.md gives: versioning kept every replaced generation; copying
    the newest one back (with its metadata, as `gcloud storage cp gs://...#GEN` does) makes
    the store whole again, and the next audit records run 3 with nothing refused."""
    assert _audit(demo_emu).exit_code in (0, 1)
    assert _audit(demo_emu).exit_code in (0, 1)
    newest = demo_emu.storage.objects[(STATE, "phiguard.db")]
    first = demo_emu.storage.noncurrent[(STATE, "phiguard.db")][0]
    demo_emu.storage.put(STATE, "phiguard.db", first.data)  # the mistake
    assert _audit(demo_emu).exit_code == 2
    with Gcs() as gcs:  # what `gcloud storage ls -a` shows: every generation
        listed = [i for i in gcs._retried("list", lambda: gcs._objects().list(
            bucket=STATE, prefix="phiguard.db", versions=True))["items"]
            if i["name"] == "phiguard.db"]
    assert [i["generation"] for i in listed] == [str(first.generation),
                                                 str(newest.generation),
                                                 str(demo_emu.storage.objects[
                                                     (STATE, "phiguard.db")].generation)]
    demo_emu.storage.put(STATE, "phiguard.db", newest.data, metadata=dict(newest.metadata))
    restored = _audit(demo_emu)
    assert restored.exit_code in (0, 1), restored.output
    assert _runs(demo_emu, tmp_path) == [1, 2, 3]


def test_verify_in_place_refuses_an_oversized_manifest_without_downloading_it(
        gcs_emu: Emulator, local_bundle: Path, keys: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import phiguard.report.remote as remote

    _uploaded(gcs_emu, local_bundle)
    monkeypatch.setattr(remote, "MAX_MANIFEST_BYTES", 100)
    result = verify_remote(GcsUrl(EVIDENCE, "runs/r1"), keys[1])
    assert result.exit_code == 1 and "manifest.json: larger than" in result.problems[0]
    assert not [r for r in gcs_emu.requests if "manifest.json?" in r and "alt=media" in r]


def test_an_unsigned_bundle_in_place_is_intact_with_the_local_warning(
        gcs_emu: Emulator, local_bundle: Path, tmp_path: Path) -> None:
    unsigned = tmp_path / "unsigned"
    result = CliRunner().invoke(main, ["scan", str(DEMO), "--config",
                                       str(DEMO / "phiguard.yaml"), "--bundle", str(unsigned),
                                       "--format", "json", "--output", str(tmp_path / "o")])
    assert result.exit_code == 1
    _uploaded(gcs_emu, unsigned, "runs/unsigned")
    verified = _verify(gcs_emu, f"gs://{EVIDENCE}/runs/unsigned", None)
    assert verified.exit_code == 0 and "not signed" in verified.output
    with_key = cli(gcs_emu, "verify", f"gs://{EVIDENCE}/runs/unsigned", "--require-signature")
    assert with_key.exit_code == 1 and "not signed" in with_key.output


def test_a_deleted_store_is_a_rollback_too(demo_emu: Emulator, tmp_path: Path) -> None:
    """The store object is gone but runs 1 and 2 were recorded: starting a new history
    silently is refused; accepted, the new store's first run is 3."""
    assert _audit(demo_emu).exit_code in (0, 1)
    assert _audit(demo_emu).exit_code in (0, 1)
    del demo_emu.storage.objects[(STATE, "phiguard.db")]
    refused = _audit(demo_emu)
    assert refused.exit_code == 2 and "runs end at 0, but run 2 was recorded" in refused.output
    accepted = _audit(demo_emu, "--accept-store-rollback")
    assert accepted.exit_code in (0, 1), accepted.output
    assert _runs(demo_emu, tmp_path) == [3]


MANIFEST_MUTATIONS = {
    "outputs of numbers": lambda m: m.update(outputs=[1, 2]),
    "outputs not a list": lambda m: m.update(outputs={"path": "x"}),
    "path not a string": lambda m: m.update(outputs=[{"path": ["findings.json"], "sha256": "0"}]),
    "digest not a string": lambda m: m.update(outputs=[{"path": "findings.json", "sha256": 5}]),
    "path leaving the bundle": lambda m: m.update(outputs=[{"path": "../x", "sha256": "0"}]),
    "absolute path": lambda m: m.update(outputs=[{"path": "/etc/passwd", "sha256": "0"}]),
    "listed twice": lambda m: m.update(outputs=m["outputs"] + m["outputs"][:1]),
    "a standard output unlisted": lambda m: m.update(outputs=m["outputs"][1:]),
    "signature block not an object": lambda m: m.update(signature="yes"),
    "signature key not a string": lambda m: m.update(
        signature={"algorithm": "Ed25519", "public_key": 7}),
    "no outputs": lambda m: m.pop("outputs"),
    "another schema": lambda m: m.update(schema="phiguard.bundle/v0"),
    "signature file but no block": lambda m: m.pop("signature"),
}


@pytest.mark.parametrize("kind", sorted(MANIFEST_MUTATIONS))
def test_a_malformed_manifest_in_place_is_judged_as_locally(
        gcs_emu: Emulator, local_bundle: Path, keys: tuple[Path, Path], tmp_path: Path,
        kind: str) -> None:
    """Each malformed manifest the local verify's tests use: not intact in place (exit 1),
    with exactly the problems a local verify of the same objects reports."""
    from phiguard.report.bundle import verify_bundle

    _uploaded(gcs_emu, local_bundle)
    manifest = _manifest(gcs_emu)
    MANIFEST_MUTATIONS[kind](manifest)
    gcs_emu.storage.put(EVIDENCE, "runs/r1/manifest.json", json.dumps(manifest).encode())
    remote = verify_remote(GcsUrl(EVIDENCE, "runs/r1"), keys[1])
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in gcs_emu.storage.names(EVIDENCE, "runs/r1/"):
        (copy / name.split("/")[-1]).write_bytes(gcs_emu.storage.objects[(EVIDENCE, name)].data)
    local = verify_bundle(copy, keys[1])
    assert remote.exit_code == local.exit_code == 1
    assert remote.problems == local.problems
