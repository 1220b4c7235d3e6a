"""LOG-003's failing message names what the log destination lacks, not the rule's internal
test of which kind of bucket it is (Google's converter's folder sink into a Cloud Storage
bucket showed "asset.asset_type is 'storage.googleapis.com/Bucket'; expected equals ...")."""

from __future__ import annotations

from _paths import RULES
from phiguard.policy.rule import load_pack
from phiguard.testing import check_examples


def test_log003_failures_name_only_what_the_destination_lacks() -> None:
    (rule,) = [r for r in load_pack([RULES]).rules if r.id == "LOG-003"]
    failures = [r for r in check_examples(rule) if r.expected == "FAIL"]
    assert len(failures) >= 4
    for result in failures:
        assert result.actual == "FAIL"
        assert "asset_type" not in result.message, result.message
        assert "expected" not in result.message, result.message
        assert result.message.startswith(("the log bucket", "the Cloud Storage bucket"))
