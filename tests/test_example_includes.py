"""Examples that include shared records (`<pack>/_examples/NAME.json`) by name: resolved in place
before the example runs, every problem located in the file that has it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from _paths import RULES
from phiguard.cli import main
from phiguard.errors import RuleError
from phiguard.google.contracts import check_record
from phiguard.policy.rule import load_rule
from phiguard.testing import check_examples, load_example

RULE = """\
id: TST-001
title: PHI buckets sit in production projects
severity: low
controls: [hipaa/164.312(e)(1)]
description: a test rule that reads the bucket's project through the hierarchy
asset_types: [storage.googleapis.com/Bucket]
let:
  project:
    find: {types: [cloudresourcemanager.googleapis.com/Project], within: ancestry, one: true}
assert: {path: project.data.labels.env, equals: prod}
remediation:
  summary: move it
"""

ANCESTORS = ["projects/111111111111", "folders/222", "organizations/123456789012"]
PROJECT = {
    "name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
    "asset_type": "cloudresourcemanager.googleapis.com/Project",
    "resource": {"version": "v1", "discovery_name": "Project",
                 "parent": "//cloudresourcemanager.googleapis.com/folders/222",
                 "data": {"projectNumber": "111111111111", "projectId": "phi-prod",
                          "lifecycleState": "ACTIVE", "labels": {"env": "prod"}}},
    "ancestors": ANCESTORS,
}
PROJECT_IAM = {
    "name": "//cloudresourcemanager.googleapis.com/projects/111111111111",
    "asset_type": "cloudresourcemanager.googleapis.com/Project",
    "iam_policy": {"bindings": [{"role": "roles/viewer", "members": ["user:a@example.com"]}]},
    "ancestors": ANCESTORS,
}
BUCKET = {
    "name": "//storage.googleapis.com/phi-records",
    "asset_type": "storage.googleapis.com/Bucket",
    "resource": {"version": "v1", "discovery_name": "Bucket",
                 "parent": "//cloudresourcemanager.googleapis.com/projects/111111111111",
                 "data": {"name": "phi-records", "location": "US-EAST4"}},
    "ancestors": ANCESTORS,
}
USER = {"primaryEmail": "a@example.com", "isEnrolledIn2Sv": True}


def write_pack(tmp_path: Path, example: dict[str, Any], shared: dict[str, Any] | None = None,
               raw_shared: dict[str, str] | None = None) -> Path:
    """A pack with rule TST-001, one pass/ example, a fail/ example and shared files."""
    folder = tmp_path / "hipaa" / "TST-001"
    (folder / "pass").mkdir(parents=True, exist_ok=True)
    (folder / "fail").mkdir(exist_ok=True)
    (folder / "rule.yaml").write_text(RULE)
    path = folder / "pass" / "a.json"
    # include entries on one line each, as the bundled examples write them
    path.write_text(re.sub(r'\{\s+("include": [^\n]+)\s+\}', r"{\1}",
                           json.dumps(example, indent=2)))
    failing = json.loads(json.dumps(PROJECT))
    failing["resource"]["data"]["labels"]["env"] = "dev"
    (folder / "fail" / "b.json").write_text(json.dumps({"assets": [BUCKET, failing]}))
    shared_dir = tmp_path / "hipaa" / "_examples"
    shared_dir.mkdir(exist_ok=True)
    for name, doc in (shared or {}).items():
        (shared_dir / f"{name}.json").write_text(json.dumps(doc, indent=2))
    for name, text in (raw_shared or {}).items():
        (shared_dir / f"{name}.json").write_text(text)
    return path


def shared_project(*records: dict[str, Any]) -> dict[str, Any]:
    return {"project-phi-prod": {"description": "project phi-prod",
                                 "assets": list(records) or [PROJECT]}}


def outcomes(path: Path) -> list[tuple[str, str, str, str]]:
    rule = load_rule(path.parent.parent / "rule.yaml")
    return [(Path(r.example).name, r.asset, r.actual, r.message) for r in check_examples(rule)]


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_an_include_is_the_record_written_out(tmp_path: Path) -> None:
    """An example that includes the project gives exactly what the example with the project
    written out gives (outcome and message), and the record is in place in the list."""
    inline = write_pack(tmp_path / "inline", {"assets": [BUCKET, PROJECT]})
    included = write_pack(tmp_path / "shared",
                          {"assets": [BUCKET, {"include": "project-phi-prod"}]}, shared_project())
    assert outcomes(included) == outcomes(inline)
    assert outcomes(included)[0][2] == "PASS"
    example = load_example(included)
    assert example.assets == [BUCKET, PROJECT] and example.includes == ("project-phi-prod",)
    shared_file = str(tmp_path / "shared" / "hipaa" / "_examples" / "project-phi-prod.json")
    assert example.asset_origins[1] == (shared_file, 4)
    assert example.asset_origins[0] == (str(included), 3)


def test_the_include_decides_the_outcome(tmp_path: Path) -> None:
    """Without the included project the rule cannot read it (the include really is used)."""
    path = write_pack(tmp_path, {"assets": [BUCKET]})
    assert outcomes(path)[0][2] != "PASS"


def test_an_included_resource_merges_with_the_examples_own_iam_policy(tmp_path: Path) -> None:
    """A record of other content (the project's IAM policy) beside an included resource record
    of the same asset merges as in a snapshot."""
    path = write_pack(tmp_path, {"assets": [BUCKET, {"include": "project-phi-prod"},
                                            PROJECT_IAM]}, shared_project())
    assert outcomes(path)[0][2] == "PASS"


def test_users_may_be_included(tmp_path: Path) -> None:
    """`users` takes includes too, from a shared file's `users`."""
    path = write_pack(tmp_path, {"assets": [BUCKET, PROJECT], "users": [{"include": "alice"}]},
                      {"alice": {"description": "a user", "users": [USER]}})
    assert load_example(path).users == [USER]


def test_unknown_include(tmp_path: Path) -> None:
    """An include that names no shared file: the example file and the include's line, and the
    names there are."""
    path = write_pack(tmp_path, {"assets": [BUCKET, {"include": "project-phi-prd"}]},
                      shared_project())
    with pytest.raises(RuleError) as info:
        load_example(path)
    assert info.value.file == str(path)
    assert info.value.line == line_of(path, "project-phi-prd")
    assert "unknown include 'project-phi-prd'" in info.value.message
    assert "known: project-phi-prod" in info.value.message


@pytest.mark.parametrize(("entry", "needle", "brace"), [
    # (the entry of two keys is written over several lines: its line is its opening brace's)
    ({"include": "project-phi-prod", "name": "x"}, 'an include entry is {"include": NAME} alone',
     1),
    ({"include": "../TST-001/pass/a"}, "`include` takes the name of a file in _examples/", 0),
    ({"include": 7}, "`include` takes the name of a file in _examples/", 0),
])
def test_malformed_include_entries(tmp_path: Path, entry: dict[str, Any], needle: str,
                                   brace: int) -> None:
    """An include entry is a name alone, of a file in the shared folder."""
    path = write_pack(tmp_path, {"assets": [BUCKET, entry]}, shared_project())
    with pytest.raises(RuleError) as info:
        load_example(path)
    assert needle in info.value.message
    assert info.value.line == line_of(path, '"include"') - brace


@pytest.mark.parametrize(("assets", "after"), [
    # after: where the later of the two sits, from the last include line (the record written
    # out after the include starts on the next line)
    ([BUCKET, {"include": "project-phi-prod"}, PROJECT], 1),
    ([BUCKET, PROJECT, {"include": "project-phi-prod"}], 0),
    ([BUCKET, {"include": "project-phi-prod"}, {"include": "project-phi-prod"}], 0),
])
def test_a_conflicting_duplicate_is_refused(tmp_path: Path, assets: list[Any],
                                            after: int) -> None:
    """An included record whose content the example gives again (written out or included
    twice) is an error at the later one's line, naming the asset and the include."""
    path = write_pack(tmp_path, {"assets": assets}, shared_project())
    with pytest.raises(RuleError) as info:
        load_example(path)
    assert "conflicting duplicate: //cloudresourcemanager.googleapis.com/projects/111111111111" \
        in info.value.message
    assert "include 'project-phi-prod'" in info.value.message
    assert info.value.file == str(path)
    includes = [i for i, line in enumerate(path.read_text().splitlines(), 1)
                if '"include"' in line]
    assert info.value.line == includes[-1] + after


def test_a_shared_file_that_is_not_json(tmp_path: Path) -> None:
    """Invalid JSON in a shared file: that file, line and column."""
    path = write_pack(tmp_path, {"assets": [BUCKET, {"include": "broken"}]},
                      raw_shared={"broken": '{"description": "x",\n "assets": [}\n'})
    with pytest.raises(RuleError) as info:
        load_example(path)
    assert info.value.file == str(tmp_path / "hipaa" / "_examples" / "broken.json")
    assert (info.value.line, info.value.column) == (2, 13)


@pytest.mark.parametrize(("doc", "needle"), [
    ({"assets": [PROJECT]}, "a shared example file is an object with a `description`"),
    ({"description": "x", "assets": [PROJECT], "subject": "y"},
     "a shared example file is an object with a `description`"),
    ({"description": "x", "assets": []}, "`assets` must be a non-empty list"),
    ({"description": "x", "assets": [{"include": "other"}]},
     "a shared example file cannot include another"),
    ({"description": "x", "users": [USER]}, "include 'p' has no `assets`"),
])
def test_malformed_shared_files(tmp_path: Path, doc: dict[str, Any], needle: str) -> None:
    """A shared file holds a description and records (no example keys, no further include)."""
    path = write_pack(tmp_path, {"assets": [BUCKET, {"include": "p"}]}, {"p": doc})
    with pytest.raises(RuleError) as info:
        load_example(path)
    assert needle in info.value.message


def test_a_malformed_included_record_is_located_in_its_shared_file(tmp_path: Path) -> None:
    """A record the snapshot reader refuses is reported at its line in the shared file."""
    bad = {k: v for k, v in PROJECT.items() if k != "asset_type"}
    path = write_pack(tmp_path, {"assets": [BUCKET, {"include": "p"}]},
                      {"p": {"description": "x", "assets": [bad]}})
    rule = load_rule(path.parent.parent / "rule.yaml")
    with pytest.raises(RuleError) as info:
        check_examples(rule)
    assert info.value.file == str(tmp_path / "hipaa" / "_examples" / "p.json")
    assert info.value.line == 4 and "has no `asset_type`" in info.value.message


def test_included_records_reach_the_contract_checks(tmp_path: Path) -> None:
    """The records an example resolves are those the contract tests validate: a field Google
    does not define, put into a shared record, is found through the example."""
    invented = json.loads(json.dumps(PROJECT))
    invented["resource"]["data"]["inventedField"] = True
    path = write_pack(tmp_path, {"assets": [BUCKET, {"include": "p"}]},
                      {"p": {"description": "x", "assets": [invented]}})
    problems = [str(p) for record in load_example(path).assets for p in check_record(record)]
    assert any("inventedField" in p for p in problems)


def test_cli_rules_test_exits_2_on_an_unknown_include(tmp_path: Path) -> None:
    """`phiguard rules test`: exit 2 with the example file and line, no traceback."""
    path = write_pack(tmp_path, {"assets": [BUCKET, {"include": "nope"}]}, shared_project())
    result = CliRunner().invoke(main, ["rules", "test", str(tmp_path / "hipaa")])
    assert result.exit_code == 2
    assert f"{path}:{line_of(path, 'nope')}: unknown include 'nope'" in result.output
    assert "Traceback" not in result.output


def test_examples_without_includes_read_as_before(tmp_path: Path) -> None:
    """An example with no include is read as it always was (records numbered by position)."""
    path = write_pack(tmp_path, {"assets": [BUCKET, PROJECT]})
    example = load_example(path)
    assert example.doc == {"assets": [BUCKET, PROJECT]} and example.includes == ()
    assert example.asset_origins == [(str(path), 1), (str(path), 2)]


# The bundled pack --------------------------------------------------------------------------

def _bundled_examples() -> list[Path]:
    return sorted(p for p in (RULES / "hipaa").glob("*/*/*.json")
                  if p.parent.name in ("pass", "fail", "unknown"))


def test_every_bundled_shared_record_is_included() -> None:
    """Each file of rules/hipaa/_examples is included by at least one example (a shared record
    nobody includes is checked by nothing)."""
    shared = {p.stem for p in (RULES / "hipaa" / "_examples").glob("*.json")}
    assert len(shared) >= 20
    used = {name for path in _bundled_examples() for name in load_example(path).includes}
    assert shared - used == set()


def test_bundled_examples_write_out_what_they_judge() -> None:
    """In the bundled examples the subject and every asset in `expect` are written out in the
    example, never included, so the example shows what decides its outcome."""
    hidden = []
    for path in _bundled_examples():
        example = load_example(path)
        if not example.includes:
            continue
        judged = {example.doc.get("subject") or example.assets[0].get("name"),
                  *(example.doc.get("expect") or {})}
        for record, (file, _) in zip(example.assets, example.asset_origins, strict=True):
            if file != str(path) and record.get("name") in judged:
                hidden.append(f"{path.relative_to(RULES)}: {record['name']}")
    assert hidden == []
