"""The snapshot input path as Google writes it and as a hostile or careless user hands it over:
extensionless export shards, links, pipes, unreadable folders, decompression bombs, blank-line
floods, byte order marks, snapshots without a read time, and random mutations of valid input."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, cast

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _records import ANCESTORS, BUCKET, PROJECT
from phiguard.cli import main
from phiguard.errors import SnapshotError
from phiguard.inventory import _files, readers
from phiguard.inventory.readers import discover
from phiguard.inventory.scope import PhiConfig
from phiguard.inventory.snapshot import load_context

USERS = {"kind": "admin#directory#users",
         "users": [{"primaryEmail": "a@example.com", "isEnrolledIn2Sv": True}]}


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _scan(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner(env=env).invoke(main, ["scan", *args], catch_exceptions=True)
    assert "Traceback" not in result.output, result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _records(path: Path) -> int:
    files = discover([path])
    return load_context(files, [], PhiConfig()).records


def export_prefix(root: Path) -> Path:
    """A download of `gcloud asset export --output-path-prefix=gs://b/snap`: objects named
    `<prefix>/<asset type>/<shard number>` with no file extension, shards from 0."""
    snap = root / "snap"
    for asset_type, shards in (("cloudresourcemanager.googleapis.com/Project", [[PROJECT]]),
                               ("storage.googleapis.com/Bucket", [[BUCKET], []])):
        folder = snap / asset_type
        folder.mkdir(parents=True)
        for n, records in enumerate(shards):
            (folder / str(n)).write_bytes(b"".join(_line(r) for r in records))
    return snap


# export layouts ---------------------------------------------------------------------------

def test_extensionless_export_shards_are_read(tmp_path: Path) -> None:
    """A `--output-path-prefix` download (no file extensions, one folder per asset type) is
    read by sniffing its content: every record is there."""
    snap = export_prefix(tmp_path)
    assert _records(snap) == 2
    result = _scan(str(snap), "-f", "json")
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["run"]["records"] == 2


def test_extensionless_shards_next_to_directory_users_are_not_zero_records(
        tmp_path: Path) -> None:
    """Shards beside a `directory-users.json` are scanned too, never a run of 0 records."""
    snap = export_prefix(tmp_path)
    (snap / "directory-users.json").write_text(json.dumps(USERS), encoding="utf-8")
    result = _scan(str(snap), "-f", "json")
    assert result.exit_code in (0, 1), result.output
    assert json.loads(result.stdout)["run"]["records"] == 2


def test_gzipped_extensionless_shard_is_read(tmp_path: Path) -> None:
    """A shard someone gzipped in place (`0.gz`, or `0` with gzip content) is read too."""
    snap = tmp_path / "snap" / "storage.googleapis.com" / "Bucket"
    snap.mkdir(parents=True)
    (snap / "0").write_bytes(gzip.compress(_line(BUCKET)))
    (snap / "1.gz").write_bytes(gzip.compress(_line(PROJECT)))
    assert _records(tmp_path / "snap") == 2


def test_extensionless_file_that_is_not_json_is_named_as_skipped(tmp_path: Path) -> None:
    """An extensionless file that is not JSON is not read, and the run says so."""
    snap = export_prefix(tmp_path)
    (snap / "LICENSE").write_text("Apache License\n", encoding="utf-8")
    files = discover([snap])
    assert [path for path, _ in files.skipped] == [snap / "LICENSE"]
    result = _scan(str(snap), "-f", "json")
    assert result.exit_code in (0, 1)
    assert f"phiguard: note: skipped {snap / 'LICENSE'}: " in result.stderr


def test_directory_of_only_non_json_shards_is_an_error_naming_them(tmp_path: Path) -> None:
    """A folder whose extensionless files are all something else is exit 2, naming them."""
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "0").write_bytes(b"\x00\x01binary")
    result = _scan(str(tmp_path / "snap"))
    assert result.exit_code == 2
    assert str(tmp_path / "snap" / "0") in result.stderr


# links, pipes, unreadable folders -----------------------------------------------------------

def test_shards_behind_a_directory_link_are_read(tmp_path: Path) -> None:
    """A folder linked into the snapshot is part of it (its shards are not skipped)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "buckets.ndjson").write_bytes(_line(BUCKET))
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "projects.ndjson").write_bytes(_line(PROJECT))
    (snap / "more").symlink_to(elsewhere, target_is_directory=True)
    assert _records(snap) == 2


def test_directory_link_loop_is_an_error(tmp_path: Path) -> None:
    """A link back into the snapshot (a loop) is exit 2 naming the link, not a silent skip."""
    snap = tmp_path / "snap"
    (snap / "sub").mkdir(parents=True)
    (snap / "a.ndjson").write_bytes(_line(PROJECT))
    (snap / "sub" / "back").symlink_to(snap, target_is_directory=True)
    result = _scan(str(snap))
    assert result.exit_code == 2
    assert str(snap / "sub" / "back") in result.stderr
    assert "already part of the snapshot" in result.stderr


def test_self_looping_link_is_an_error(tmp_path: Path) -> None:
    """`loop.ndjson -> loop.ndjson` is exit 2 naming it."""
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "a.ndjson").write_bytes(_line(PROJECT))
    (snap / "loop.ndjson").symlink_to(snap / "loop.ndjson")
    result = _scan(str(snap))
    assert result.exit_code == 2
    assert f"{snap / 'loop.ndjson'}: " in result.stderr
    assert "link" in result.stderr


def test_dangling_link_to_a_shard_is_an_error(tmp_path: Path) -> None:
    """A link to a shard that is gone is a missing shard: exit 2 naming it."""
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "a.ndjson").write_bytes(_line(PROJECT))
    (snap / "b.ndjson").symlink_to(tmp_path / "gone.ndjson")
    result = _scan(str(snap))
    assert result.exit_code == 2
    assert str(snap / "b.ndjson") in result.stderr


def test_fifo_in_a_snapshot_is_refused_without_hanging(tmp_path: Path) -> None:
    """A named pipe called `*.ndjson` is exit 2 at once (it is never opened, so never waited
    on)."""
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "a.ndjson").write_bytes(_line(PROJECT))
    os.mkfifo(snap / "b.ndjson")
    start = time.monotonic()
    result = _scan(str(snap))
    assert time.monotonic() - start < 10
    assert result.exit_code == 2
    assert f"{snap / 'b.ndjson'}: not a regular file" in result.stderr


def test_fifo_given_as_the_snapshot_is_refused(tmp_path: Path) -> None:
    """`phiguard scan <(zcat x.gz)` gets a pipe: refused with the reason (read twice)."""
    pipe = tmp_path / "p.ndjson"
    os.mkfifo(pipe)
    result = _scan(str(pipe))
    assert result.exit_code == 2
    assert f"{pipe}: not a regular file" in result.stderr
    assert "no such file" not in result.stderr


def test_unreadable_subdirectory_is_an_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder the user cannot list is exit 2 naming it (tests run as root, who can read
    anything, so listing it is made to fail as it does for everyone else)."""
    snap = tmp_path / "snap"
    (snap / "locked").mkdir(parents=True)
    (snap / "a.ndjson").write_bytes(_line(PROJECT))
    real = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == snap / "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(_files.os, "scandir", scandir)
    with pytest.raises(SnapshotError, match="cannot list this folder: Permission denied") as err:
        discover([snap])
    assert err.value.file == str(snap / "locked")


# decompression and blank lines --------------------------------------------------------------

def test_gzip_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    """A gzip shard that expands past the uncompressed-size limit is exit 2 with the limit and
    how to raise it."""
    path = tmp_path / "big.ndjson.gz"
    path.write_bytes(gzip.compress(_line(BUCKET) + b" " * (3 << 20) + b"\n"))
    result = _scan(str(path), env={"PHIGUARD_MAX_UNCOMPRESSED": "1M"})
    assert result.exit_code == 2
    assert f"phiguard: error: {path}" in result.stderr
    assert "PHIGUARD_MAX_UNCOMPRESSED" in result.stderr


def test_gzip_bomb_is_refused_by_its_ratio(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip that expands hundreds of times (a decompression bomb) is refused early: the
    ratio is checked once a little has been expanded."""
    monkeypatch.setattr(_files, "RATIO_CHECK_FROM", 1 << 20)
    path = tmp_path / "bomb.ndjson.gz"
    path.write_bytes(gzip.compress(_line(BUCKET) * 40000, 9))  # ~ 14 MB, ~ 600 x
    with pytest.raises(SnapshotError, match="expands more than 200 times") as err:
        _records(path)
    assert err.value.file == str(path)


def test_bad_limit_in_the_environment_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson.gz"
    path.write_bytes(gzip.compress(_line(BUCKET)))
    result = _scan(str(path), env={"PHIGUARD_MAX_GZIP_RATIO": "lots"})
    assert result.exit_code == 2
    assert "PHIGUARD_MAX_GZIP_RATIO" in result.stderr


class _CountingReads:
    """A file handle from `readers._open` that counts its `readline` calls and passes
    everything else (`raw`, `peek`, `seek`, ...) to the handle, so `is_compressed` still sees
    what it wraps."""

    def __init__(self, fh: Any, counter: list[int]) -> None:
        self._fh = fh
        self._counter = counter

    def readline(self, *args: Any) -> bytes:
        self._counter[0] += 1
        return cast(bytes, self._fh.readline(*args))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _CountingReads:
        self._fh.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.__exit__(*exc)


@pytest.mark.parametrize("compress", [False, True])
def test_a_flood_of_blank_lines_is_skipped_in_bulk(tmp_path: Path, compress: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Millions of blank lines are skipped in bulk, not one `readline` each (which took over a
    minute on a gzip of blank lines), and the line numbers after them stay right. The work is
    counted, not timed: how fast belongs to benchmarks/."""
    body = b"\n" * 8_000_000 + b"\r\n \t\n" + b'{"name": 1}\n'
    path = tmp_path / ("a.ndjson.gz" if compress else "a.ndjson")
    path.write_bytes(gzip.compress(body, 1) if compress else body)
    readlines = [0]
    opened = readers._open
    monkeypatch.setattr(readers, "_open", lambda p: _CountingReads(opened(p), readlines))
    with pytest.raises(SnapshotError) as err:
        _records(path)
    assert err.value.line == 8_000_003
    # a few per pass over the file; one per blank line would be millions
    assert 0 < readlines[0] < 100, readlines[0]


class _TooMuchWork(BaseException):
    """Raised from the tracer: not an Exception, so no handler in phiguard catches it."""


def test_whitespace_flood_inside_a_json_array_is_skipped_in_bulk(tmp_path: Path) -> None:
    """Megabytes of whitespace between array elements cost no per-character Python work: the
    Python lines run in phiguard's inventory code while reading the file are counted (a
    per-character skip would run tens of millions), and the count stops the read at the bound
    instead of letting it run on. Counted, not timed: how fast belongs to benchmarks/."""
    path = tmp_path / "a.json"
    path.write_bytes(b"[" + _line(PROJECT) + b" " * 24_000_000 + b"," + _line(BUCKET) + b"]")
    package = str(Path(readers.__file__).parent)
    limit = 100_000
    steps = [0]

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            steps[0] += 1
            if steps[0] > limit:
                raise _TooMuchWork(f"more than {limit} Python lines run")
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(package) else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        records = _records(path)
    finally:
        sys.settrace(previous)
    assert records == 2
    assert steps[0] > 0


# byte order marks -------------------------------------------------------------------------

def test_byte_order_marks_are_accepted_everywhere(tmp_path: Path) -> None:
    """Windows and some Google tools write a UTF-8 BOM: manifest.json, directory-users.json,
    JSON arrays and NDJSON shards all read with one."""
    bom = b"\xef\xbb\xbf"
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "manifest.json").write_bytes(bom + b'{"read_time": "2026-11-25T06:00:00Z"}')
    (snap / "directory-users.json").write_bytes(bom + json.dumps(USERS).encode())
    (snap / "a.ndjson").write_bytes(bom + _line(PROJECT))
    (snap / "b.json").write_bytes(bom + json.dumps([BUCKET]).encode())
    (snap / "0").write_bytes(bom + _line({**BUCKET, "name": "//storage.googleapis.com/b2"}))
    result = _scan(str(snap), "-f", "json")
    assert result.exit_code in (0, 1), result.stderr
    run = json.loads(result.stdout)["run"]
    assert run["records"] == 3
    assert run["snapshot_time"] == "2026-11-25T06:00:00Z"
    assert run["asset_counts"]["admin.googleapis.com/User"] == 1


# no read time -----------------------------------------------------------------------------

def test_snapshot_without_read_time_is_judged_now_and_says_so(tmp_path: Path) -> None:
    """Google's converter output and older export dumps carry no read time: the snapshot is
    judged as of the run's clock, the note says so, and the run records no snapshot time."""
    path = tmp_path / "old.json"
    bare = [{k: v for k, v in r.items() if k != "update_time"} for r in (PROJECT, BUCKET)]
    path.write_text(json.dumps(bare), encoding="utf-8")
    before = datetime.now(UTC).replace(microsecond=0)
    result = _scan(str(path), "-f", "json")
    after = datetime.now(UTC)
    assert result.exit_code in (0, 1), result.stderr
    run = json.loads(result.stdout)["run"]
    assert run["snapshot_time"] is None
    evaluated = datetime.fromisoformat(run["evaluated_at"].replace("Z", "+00:00"))
    assert before <= evaluated <= after
    assert "phiguard: note: the snapshot carries no read time" in result.stderr
    assert "--at" in result.stderr


def test_at_sets_the_evaluation_time_of_a_snapshot_without_read_time(tmp_path: Path) -> None:
    """`--at` judges such a snapshot as of the given time, with no note."""
    path = tmp_path / "old.json"
    path.write_text(json.dumps([{k: v for k, v in PROJECT.items() if k != "update_time"}]),
                    encoding="utf-8")
    result = _scan(str(path), "-f", "json", "--at", "2026-01-02T03:04:05Z")
    assert result.exit_code in (0, 1)
    assert json.loads(result.stdout)["run"]["evaluated_at"] == "2026-01-02T03:04:05Z"
    assert "no read time" not in result.stderr


# random mutations of valid input ----------------------------------------------------------

VALID = [PROJECT, BUCKET,
         {"name": PROJECT["name"], "asset_type": PROJECT["asset_type"], "ancestors": ANCESTORS,
          "iam_policy": {"version": 1, "bindings": [{"role": "roles/owner",
                                                     "members": ["user:a@example.com"]}]}}]


def _valid_ndjson() -> bytes:
    return b"".join(_line(r) for r in VALID)


def _mutate_value(value: Any, path: list[str], kind: str, replacement: Any) -> Any:
    """`value` with the item at `path` deleted or replaced."""
    if not path:
        return replacement
    if isinstance(value, dict) and path[0] in value:
        out = dict(value)
        if len(path) == 1 and kind == "delete":
            del out[path[0]]
        else:
            out[path[0]] = _mutate_value(value[path[0]], path[1:], kind, replacement)
        return out
    return value


def _paths(value: Any, prefix: list[str]) -> list[list[str]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, [*prefix, key]))
    return found


ALL_PATHS = [(i, p) for i, r in enumerate(VALID) for p in _paths(r, [])]
REPLACEMENTS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5),
                         st.just([]), st.just({}), st.just([1, "x"]), st.just({"a": None}))


@st.composite
def mutated(draw: Any) -> tuple[str, bytes]:
    """(how, bytes) of a snapshot shard mutated once."""
    how = draw(st.sampled_from(["truncate", "inject", "delete", "retype"]))
    body = _valid_ndjson()
    if how == "truncate":
        cut = draw(st.integers(0, len(body) - 1))
        return how, body[:cut]
    if how == "inject":
        at = draw(st.integers(0, len(body)))
        junk = draw(st.binary(min_size=1, max_size=6))
        return how, body[:at] + junk + body[at:]
    index, path = draw(st.sampled_from(ALL_PATHS))
    records = list(VALID)
    if how == "delete":
        records[index] = _mutate_value(records[index], path, "delete", None)
    else:
        records[index] = _mutate_value(records[index], path, "replace", draw(REPLACEMENTS))
    return how, b"".join(_line(r) for r in records)


@pytest.mark.usefixtures("pack_loaded_once")  # the snapshot is the subject, not the rules
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=mutated(), form=st.sampled_from(["ndjson", "gzip", "shard", "array"]))
def test_mutated_snapshots_never_crash_hang_or_pass_when_invalid(
        tmp_path_factory: pytest.TempPathFactory, case: tuple[str, bytes],
        form: str) -> None:
    """Truncated, retyped, pruned or byte-injected snapshots give exit 0/1 only when they
    still read as valid CAI, otherwise exit 2 naming the file; never a traceback, never more
    than a few seconds."""
    how, body = case
    folder = tmp_path_factory.mktemp("mut")
    if form == "array":
        lines = [ln for ln in body.split(b"\n") if ln.strip()]
        body = b"[" + b",\n".join(lines) + b"]"
    name = {"ndjson": "a.ndjson", "gzip": "a.ndjson.gz", "shard": "0", "array": "a.json"}[form]
    data = gzip.compress(body) if form == "gzip" else body
    (folder / name).write_bytes(data)
    valid = _still_valid(folder)
    start = time.monotonic()
    result = _scan(str(folder), "-f", "json", "--at", "2026-11-25T00:00:00Z")
    assert time.monotonic() - start < 20
    if valid:
        assert result.exit_code in (0, 1), (how, body, result.stderr)
    else:
        assert result.exit_code == 2, (how, body, result.output)
        _one_error(result.stderr)


def _one_error(stderr: str) -> None:
    """Exactly one `phiguard: error:` line (notes may come before it), nothing else."""
    lines = stderr.splitlines()
    assert all(line.startswith("phiguard: ") for line in lines), stderr
    assert [line for line in lines if line.startswith("phiguard: error: ")] == lines[-1:], stderr


def _still_valid(folder: Path) -> bool:
    """An independent judge of validity: the file is UTF-8 JSON (an optional BOM first), every
    non-blank line (or array element) a record of the shape Cloud Asset writes, at least one
    record, and no name with two asset types."""
    (path,) = list(folder.iterdir())
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return False
    stripped = text.strip(" \t\r\n")
    if not stripped:
        return False
    try:
        if stripped.startswith("["):
            values = json.loads(stripped, parse_constant=_no_constant)
        else:
            values = [json.loads(ln, parse_constant=_no_constant) for ln in text.split("\n")
                      if ln.strip(" \t\r")]
    except ValueError:
        return False
    return bool(values) and all(_valid_record(v) for v in values) and _consistent(values)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _optional(value: Any, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def _strings(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _valid_record(value: Any) -> bool:
    if not isinstance(value, dict) or not _text(value.get("name")):
        return False
    if not _text(value.get("asset_type")):
        return False
    resource, iam = value.get("resource"), value.get("iam_policy")
    if resource is None and iam is None:
        return False
    if resource is not None and not (
            isinstance(resource, dict) and _optional(resource.get("data"), dict)
            and _optional(resource.get("location"), str)
            and _optional(resource.get("parent"), str)):
        return False
    if iam is not None and not _valid_iam(iam):
        return False
    when = value.get("update_time")
    if when is not None and not (isinstance(when, str) and _rfc3339(when)):
        return False
    return _strings(value.get("ancestors"))


def _valid_iam(iam: Any) -> bool:
    if not isinstance(iam, dict):
        return False
    bindings = iam.get("bindings")
    if bindings is None:
        return True
    if not isinstance(bindings, list):
        return False
    return all(isinstance(b, dict) and isinstance(b.get("role"), str)
               and _strings(b.get("members")) and _optional(b.get("condition"), dict)
               for b in bindings)


def _rfc3339(text: str) -> bool:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _consistent(values: list[Any]) -> bool:
    """No name with two asset types (a single mutation can make a record disagree with its
    twin of the same name)."""
    types: dict[str, str] = {}
    return all(types.setdefault(v["name"], v["asset_type"]) == v["asset_type"] for v in values)


def test_pretty_printed_records_one_after_another_are_read(tmp_path: Path) -> None:
    """Records pretty-printed one after another (`jq . export.ndjson`, and some of Google's
    own test fixtures) read like NDJSON, each at the line where it starts."""
    path = tmp_path / "a.json"
    path.write_text(json.dumps(PROJECT, indent=4) + "\n" + json.dumps(BUCKET, indent=4) + "\n",
                    encoding="utf-8")
    files = discover([path])
    loaded = load_context(files, [], PhiConfig())
    assert loaded.records == 2
    path.write_text(json.dumps(PROJECT, indent=4) + "\n[1]\n", encoding="utf-8")
    with pytest.raises(SnapshotError, match="expected a JSON object") as err:
        _records(path)
    assert err.value.line == len(json.dumps(PROJECT, indent=4).splitlines()) + 1


def test_gzip_members_padding_and_trailing_garbage(tmp_path: Path) -> None:
    """Concatenated gzip members are one stream (each member CRC-checked), zero padding after
    the last is allowed, and anything else after it is an error naming the file."""
    path = tmp_path / "a.ndjson.gz"
    path.write_bytes(gzip.compress(_line(PROJECT)) + gzip.compress(_line(BUCKET)) + b"\0" * 9)
    assert _records(path) == 2
    path.write_bytes(gzip.compress(_line(PROJECT)) + b"trailing")
    with pytest.raises(SnapshotError, match="unreadable compressed data") as err:
        _records(path)
    assert err.value.file == str(path)
    body = bytearray(gzip.compress(_line(PROJECT)))
    body[-6] ^= 0xFF  # the CRC
    path.write_bytes(bytes(body))
    with pytest.raises(SnapshotError, match="unreadable compressed data"):
        _records(path)


@pytest.mark.parametrize(("key", "value"), [
    ("coverage_gaps", "x"), ("coverage_gaps", [1]), ("coverage_gaps", {"a": 1}),
    ("coverage_gaps", [None]), ("content_types", "RESOURCE"), ("content_types", [1]),
    ("sources", {"file": "x"}), ("sources", [[]]), ("read_time", 5), ("read_time", "")])
def test_mistyped_manifest_fields_are_named(tmp_path: Path, key: str, value: Any) -> None:
    """A manifest field of the wrong JSON type is exit 2 naming the manifest and the field,
    for every output format (the HTML report used to stop with an internal error)."""
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "a.ndjson").write_bytes(_line(PROJECT))
    (snap / "manifest.json").write_text(json.dumps({"read_time": "2026-11-25T06:00:00Z",
                                                    key: value}), encoding="utf-8")
    for fmt in ("text", "html"):
        result = _scan(str(snap), "-f", fmt, "-o", str(tmp_path / f"out.{fmt}"))
        assert result.exit_code == 2, result.output
        _one_error(result.stderr)
        assert result.stderr.splitlines()[-1].startswith(
            f"phiguard: error: {snap / 'manifest.json'}: "), result.stderr
        assert key in result.stderr


# random mutations of the manifest and the directory users ---------------------------------

MANIFEST = {"read_time": "2026-11-25T06:00:00Z", "content_types": ["RESOURCE", "IAM_POLICY"],
            "sources": [{"file": "a.ndjson", "content_type": "RESOURCE", "records": 2}],
            "coverage_gaps": []}
DIRECTORY = {"kind": "admin#directory#users", "users": [
    {"primaryEmail": "a@example.com", "isEnrolledIn2Sv": True, "isEnforcedIn2Sv": False,
     "aliases": ["b@example.com"], "suspended": False},
    {"primaryEmail": "c@example.com", "isEnrolledIn2Sv": False}]}
SIDE_FIELDS = {
    "manifest.json": ["read_time", "content_types", "sources", "coverage_gaps"],
    "directory-users.json": ["users", "users.0.primaryEmail", "users.0.isEnrolledIn2Sv",
                             "users.0.aliases", "users.0.suspended", "users.1.primaryEmail"],
}
SIDE_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(
    ["", "x", "a@example.com", "C@EXAMPLE.COM", "2026-11-25T06:00:00Z", "2026-13-01T00:00:00Z"]),
    st.just([]), st.just({}), st.just(["x"]), st.just([1]), st.just([{"a": 1}]))


def _set(doc: Any, path: list[str], value: Any, delete: bool) -> Any:
    if isinstance(doc, list):
        index = int(path[0])
        out_list = list(doc)
        out_list[index] = _set(doc[index], path[1:], value, delete) if path[1:] else value
        return out_list
    out = dict(doc)
    if len(path) == 1:
        if delete:
            out.pop(path[0], None)
        else:
            out[path[0]] = value
    else:
        out[path[0]] = _set(doc[path[0]], path[1:], value, delete)
    return out


@st.composite
def side_mutation(draw: Any) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SIDE_FIELDS)))
    doc = MANIFEST if name == "manifest.json" else DIRECTORY
    body = json.dumps(doc, indent=1).encode()
    how = draw(st.sampled_from(["truncate", "delete", "retype", "bom"]))
    if how == "truncate":
        return name, body[:draw(st.integers(0, len(body) - 1))]
    if how == "bom":
        return name, b"\xef\xbb\xbf" + body
    path = draw(st.sampled_from(SIDE_FIELDS[name])).split(".")
    changed = _set(doc, path, draw(SIDE_VALUES), how == "delete")
    return name, json.dumps(changed).encode()


def _side_valid(name: str, body: bytes) -> bool:
    if name != "manifest.json" and not body.removeprefix(b"\xef\xbb\xbf").strip():
        return True  # an empty *.json file is an empty shard: no users, MFA rules UNKNOWN
    try:
        doc = json.loads(body.decode("utf-8").removeprefix("\ufeff"),
                         parse_constant=_no_constant)
    except ValueError:
        return False
    if name == "manifest.json":
        return isinstance(doc, dict) and _manifest_valid(doc)
    pages = doc if isinstance(doc, list) else [doc]
    emails: list[str] = []
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("users", []), list):
            return False
        for user in page.get("users", []):
            if not _user_valid(user):
                return False
            emails.append(user["primaryEmail"].lower())
    return len(emails) == len(set(emails))


def _manifest_valid(doc: dict[str, Any]) -> bool:
    when = doc.get("read_time")
    if when is not None and not (isinstance(when, str) and when and _rfc3339(when)):
        return False
    for key, kind in (("content_types", str), ("sources", dict), ("coverage_gaps", dict)):
        items = doc.get(key)
        if items is not None and not (isinstance(items, list)
                                      and all(isinstance(i, kind) for i in items)):
            return False
    return True


def _user_valid(user: Any) -> bool:
    if not isinstance(user, dict):
        return False
    email = user.get("primaryEmail")
    if not isinstance(email, str) or "@" not in email:
        return False
    if any(k in user and not isinstance(user[k], bool)
           for k in ("isEnrolledIn2Sv", "isEnforcedIn2Sv", "suspended")):
        return False
    return _strings(user.get("aliases", [])) and user.get("aliases", []) is not None


@pytest.mark.usefixtures("pack_loaded_once")  # the snapshot is the subject, not the rules
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=side_mutation())
def test_mutated_manifest_or_directory_users_never_crash_or_pass_when_invalid(
        tmp_path_factory: pytest.TempPathFactory, case: tuple[str, bytes]) -> None:
    """A truncated, retyped or pruned manifest.json or directory-users.json (or one with a
    BOM) is exit 2 naming that file when it is invalid, and scans when it is valid."""
    name, body = case
    folder = tmp_path_factory.mktemp("side")
    (folder / "a.ndjson").write_bytes(_valid_ndjson())
    (folder / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    (folder / "directory-users.json").write_text(json.dumps(DIRECTORY), encoding="utf-8")
    (folder / name).write_bytes(body)
    result = _scan(str(folder), "-f", "json", "--at", "2026-11-25T00:00:00Z")
    if _side_valid(name, body):
        assert result.exit_code in (0, 1), (name, body, result.stderr)
    else:
        assert result.exit_code == 2, (name, body, result.output)
        _one_error(result.stderr)


def test_hidden_folders_are_not_entered_and_are_named(tmp_path: Path) -> None:
    """A `.git` (or any hidden folder) inside a snapshot is not read, and the run says so."""
    snap = export_prefix(tmp_path)
    (snap / ".git" / "objects").mkdir(parents=True)
    (snap / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (snap / ".git" / "config.json").write_text("{}", encoding="utf-8")
    files = discover([snap])
    assert files.skipped == [(snap / ".git", "a hidden folder, not read")]
    assert _records(snap) == 2


@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("bad", [{"name": "//x/bad"},  # caught in pass 1
                                 {**BUCKET, "name": "//x/bad", "ancestors": "projects/1"}])
def test_line_numbers_stay_right_after_blank_lines_across_byte_ranges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: str,
        bad: dict[str, Any]) -> None:
    """A large NDJSON file is read in byte ranges; blank lines at the end of a range are
    counted, so an error further on names its true line (it was off by their number)."""
    monkeypatch.setattr("phiguard.inventory.snapshot.RANGE_BYTES", 200)
    lines = [_line(PROJECT), b"\n" * 1000, _line(BUCKET), _line(bad)]
    path = tmp_path / "big.ndjson"
    path.write_bytes(b"".join(lines))
    result = _scan(str(path), "--jobs", jobs, "--at", "2026-11-25T00:00:00Z")
    assert result.exit_code == 2
    assert f"phiguard: error: {path}:1003: " in result.stderr, result.stderr


@pytest.mark.parametrize("compress", [False, True])
def test_records_after_many_leading_blank_lines_are_read(tmp_path: Path,
                                                         compress: bool) -> None:
    """A shard that starts with more than a few KiB of blank lines is not taken for an empty
    one (its records were silently dropped)."""
    body = b"\n" * 10_000 + _line(PROJECT) + _line(BUCKET)
    path = tmp_path / ("a.ndjson.gz" if compress else "a.ndjson")
    path.write_bytes(gzip.compress(body) if compress else body)
    assert _records(path) == 2


@pytest.mark.parametrize("name", ["a.json", "a.ndjson", "0", "manifest.json",
                                  "directory-users.json"])
def test_utf16_files_are_named_as_such(tmp_path: Path, name: str) -> None:
    """A UTF-16 file (a PowerShell `>` redirect of `gcloud asset list`) is exit 2 saying it is
    UTF-16 and what to do, not "not valid UTF-8" or a silent skip."""
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "b.ndjson").write_bytes(_line(PROJECT))
    (snap / name).write_text(json.dumps([BUCKET]), encoding="utf-16")
    result = _scan(str(snap), "--at", "2026-11-25T00:00:00Z")
    assert result.exit_code == 2
    assert f"phiguard: error: {snap / name}: UTF-16 text, not UTF-8" in result.stderr
