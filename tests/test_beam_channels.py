"""Every element that crosses a stage boundary of the Beam scan is accounted for: when one is
lost on the way (the DirectRunner lost elements between stages at 1M assets), the scan fails
with a PhiguardError naming the channel and how many are missing, and writes nothing; a lost
element never becomes a wrong verdict. Each test below loses exactly one element of one channel
at its receiving side, with the transforms of this module (in-process runner, demo org).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from apache_beam.pvalue import TaggedOutput

from _paths import DEMO
from phiguard.beam import pipeline
from phiguard.errors import PhiguardError
from phiguard.runs.outputs import Output
from phiguard.runs.scan import run_scan

AT = "2026-11-25T00:00:00Z"
IN_PROCESS = ["--runner", "DirectRunner", "--direct_running_mode=in_memory"]
_LOST: list[Any] = []  # in-process runner: the transforms share this module


def _scan(out: Path, snapshot: Path = DEMO, config: Path | None = DEMO / "phiguard.yaml"
          ) -> None:
    from phiguard.cli._options import parse_at

    run_scan([snapshot], config_path=config, outputs=[Output("json", str(out), "--output")],
             at=parse_at(AT), engine="beam", pipeline_args=IN_PROCESS)


def _refused(tmp_path: Path, *expected: str, snapshot: Path = DEMO,
             config: Path | None = DEMO / "phiguard.yaml") -> str:
    out = tmp_path / "beam.json"
    with pytest.raises(PhiguardError) as caught:
        _scan(out, snapshot, config)
    message = str(caught.value)
    assert _LOST, "the test lost nothing"
    for part in expected:
        assert part in message, message
    assert "no findings were written" in message
    assert not out.exists()
    return message


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    _LOST.clear()
    yield
    _LOST.clear()


def _once(value: Any) -> bool:
    """True the first time: this element is the one lost."""
    if _LOST:
        return False
    _LOST.append(value)
    return True


class _LosingContext(pipeline.BuildContext):
    """BuildContext given one element fewer of one gathered channel."""

    channel: ClassVar[str] = ""

    def process(self, pieces: list[Any], metas: list[Any], counts: list[Any],
                grants: list[Any], kinds: list[Any], error: Any,
                spec_blob: bytes) -> Iterator[tuple[str, bytes]]:
        gathered = {"pieces": pieces, "metas": metas, "counts": counts, "grants": grants,
                    "kinds": kinds}
        name = "pieces" if self.channel in ("held", "owner") else self.channel
        given = gathered[name] = list(gathered[name])
        for i, element in enumerate(given):
            if name == "pieces" and element[0] != self.channel:
                continue
            if name == "grants":  # one binding of one member's grants
                member, entries = element
                if len(entries) < 2 or not _once(entries[0]):
                    continue
                given[i] = (member, entries[1:])
            elif _once(element):
                del given[i]
            break
        return super().process(gathered["pieces"], gathered["metas"], gathered["counts"],
                               gathered["grants"], gathered["kinds"], error,
                               spec_blob=spec_blob)


@pytest.mark.parametrize(("channel", "named"), [
    ("held", "join targets: "),  # a held join target: every rule joining to it would change
    ("owner", "hierarchy policies: "),  # a folder's or project's policy: inherited grants
    ("grants", "grants: "),  # one binding between the join by member and the context
    ("counts", "asset type counts: "),  # run metadata's asset_counts
    ("kinds", "content kinds: "),  # content that looks missing (or collected)
    ("metas", "file metadata: "),  # records, sha256, read time, the project index
])
def test_a_context_piece_lost_fails_the_scan(channel: str, named: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_LosingContext, "channel", channel)
    monkeypatch.setattr(pipeline, "BuildContext", _LosingContext)
    message = _refused(tmp_path, named)
    if channel not in ("counts", "kinds"):  # those lose a (type or kind, how many) pair
        assert "(1 missing)" in message, message


_named_grants = pipeline._named_grants


def _losing_binding(element: Any) -> Iterator[Any]:
    member, joined = element
    bindings = list(joined["bindings"])
    if bindings and list(joined["principals"]) and _once(bindings[0]):
        joined = {**joined, "bindings": bindings[1:]}
    return _named_grants((member, joined))


def _losing_principal(element: Any) -> Iterator[Any]:
    member, joined = element
    principals = list(joined["principals"])
    if principals and list(joined["bindings"]) and _once(member):
        joined = {**joined, "principals": principals[1:]}
    return _named_grants((member, joined))


@pytest.mark.parametrize(("losing", "named"), [
    (_losing_binding, "bindings: "),  # a grant gone: least-privilege rules would pass
    (_losing_principal, "principals: "),  # a principal's grants gone with it
])
def test_an_element_lost_in_the_join_by_member_fails_the_scan(
        losing: Any, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "_named_grants", losing)
    message = _refused(tmp_path, named)
    assert "(1 missing)" in message, message


class _LosingFirstError(pipeline.FirstError):
    def add_input(self, acc: Any, error: Any) -> Any:
        if _once(error):
            return acc
        return super().add_input(acc, error)


def test_a_lost_error_never_lets_a_bad_snapshot_be_judged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "snap"
    snapshot.mkdir()
    bucket = {"name": "//storage.googleapis.com/b0", "asset_type": "storage.googleapis.com/Bucket",
              "ancestors": ["projects/111", "organizations/1"],
              "resource": {"data": {"name": "b0"}, "location": "us-central1"}}
    (snapshot / "a.ndjson").write_text(
        json.dumps(bucket) + '\n{"name": "//storage.googleapis.com/b1", "asset_\n',
        encoding="utf-8")
    monkeypatch.setattr(pipeline, "FirstError", _LosingFirstError)
    message = _refused(tmp_path, "errors: 1 found, 0 reached the first-error combine",
                       snapshot=snapshot, config=None)
    assert "a.ndjson" not in message  # the loss is reported, not a (possibly other) error


class _LosingMatchJudge(pipeline.Judge):
    """Emits a waiver match that never reaches the combine."""

    def process(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for out in super().process(*args, **kwargs):
            if isinstance(out, TaggedOutput) and out.tag == "matched" and _once(out.value):
                continue
            yield out


def test_a_lost_waiver_match_fails_the_scan(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "Judge", _LosingMatchJudge)
    message = _refused(tmp_path, "waiver matches: ")
    assert "(1 missing)" in message, message


class _LosingFile(pipeline.ReadFile):
    """Never given one input file (lost before it is read)."""

    def process(self, element: tuple[int, str], spec_blob: bytes) -> Iterator[Any]:
        if _once(element):
            return iter(())
        return super().process(element, spec_blob)


class _LosingRecord(pipeline.ResolveName):
    """One record lost in the grouping by asset name."""

    def process(self, element: tuple[str, Any], spec_blob: bytes) -> Iterator[Any]:
        name, group = element
        units = list(group)
        if len(units) > 1 and _once(name):
            units = units[1:]
        return super().process((name, units), spec_blob)


class _LosingTail(pipeline.JudgeTail):
    """Never given its one element: users and missing sources would go unjudged."""

    def process(self, element: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if _once(element):
            return iter(())
        return super().process(element, *args, **kwargs)


class _DroppingDeliveredJudge(pipeline.Judge):
    """Takes delivery of one asset and drops it (judges it as if the run had an error)."""

    def process(self, unit: Any, blob: Any, error: Any, spec_blob: bytes) -> Iterator[Any]:
        if _once(unit.name):
            return super().process(unit, blob, pipeline.ErrorAt((9,), "", None, None, None),
                                   spec_blob=spec_blob)
        return super().process(unit, blob, error, spec_blob=spec_blob)


@pytest.mark.parametrize(("stage", "transform", "named"), [
    ("ReadFile", _LosingFile, "input files: 4 given, 3 read (1 missing)"),
    ("ResolveName", _LosingRecord, "records: "),
    ("JudgeTail", _LosingTail, "judging of users and missing sources: 1 started, 0 delivered"),
    ("Judge", _DroppingDeliveredJudge, "delivered and dropped"),
])
def test_an_element_lost_at_a_stage_fails_the_scan(stage: str, transform: type, named: str,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, stage, transform)
    message = _refused(tmp_path, named)
    assert "1 missing" in message, message


class _LosingBroadcast(pipeline.BuildContext):
    """Builds the context (and the run metadata) but its one output never reaches judging."""

    def process(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, bytes]]:
        for built in super().process(*args, **kwargs):
            _once(built[0])
        return iter(())


def test_a_lost_broadcast_context_fails_the_scan(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Judge and the users' step judge nothing without it; it is reported, not retried."""
    monkeypatch.setattr(pipeline, "BuildContext", _LosingBroadcast)
    message = _refused(tmp_path, "context: ", "judging steps ran without the broadcast context")
    assert "Traceback" not in message


# The keyed join (phiguard.beam.joins): join targets, their offers and the judged assets'
# asks by key, the (asset, target) pairs, and the assets sent to be judged with their targets.


class _LosingTarget(pipeline.Offer):
    """One keyed join target never offered: the assets joining to it would not see it."""

    def process(self, target: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if _once(target):
            return iter(())
        return super().process(target, *args, **kwargs)


def _losing_in_join(side: str) -> Any:
    paired = pipeline._paired

    def losing(element: Any) -> Iterator[Any]:
        key, joined = element
        mine, other = list(joined[side]), list(joined["offers" if side == "asks" else "asks"])
        if mine and other and _once(key):
            joined = {**joined, side: mine[1:]}
        return paired((key, joined))
    return losing


class _LosingPair(pipeline.JudgeKeyed):
    """One target sent to an asking asset never reaches it."""

    def process(self, element: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        order, joined = element
        targets = list(joined["targets"])
        if targets and _once(order):
            joined = {**joined, "targets": targets[1:]}
        return super().process((order, joined), *args, **kwargs)


class _LosingAsker(pipeline.JudgeKeyed):
    """An asset sent to be judged with its targets never arrives (its targets do)."""

    def process(self, element: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        order, joined = element
        if list(joined["asker"]) and list(joined["targets"]) and _once(order):
            joined = {**joined, "asker": []}
        return super().process((order, joined), *args, **kwargs)


@pytest.mark.parametrize(("attribute", "replacement", "named"), [
    ("Offer", _LosingTarget, "keyed join targets: "),  # a snapshot a disk would not see
    ("_paired", _losing_in_join("offers"), "join offers: "),
    ("_paired", _losing_in_join("asks"), "join asks: "),
    ("_paired", _losing_in_join("bindings"), "bindings (join by key): "),  # a grant gone
    ("JudgeKeyed", _LosingPair, "join pairs: "),
    ("JudgeKeyed", _LosingAsker, "asking assets: "),
])
def test_an_element_lost_in_the_keyed_join_fails_the_scan(
        attribute: str, replacement: Any, named: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, attribute, replacement)
    message = _refused(tmp_path, named)
    assert "(1 missing" in message, message
