"""`python tests/emulator [FIXTURE_DIR]`: serve a fixture org on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.server import Emulator  # importable through the path above

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fixtures/orgs/demo-health")
with Emulator(root) as emu:
    # Two buckets for keeping evidence (docs/evidence.md): bundles under a locked six-year
    # retention policy, the run history in a versioned bucket.
    emu.cloud.add_bucket("demo-evidence", retentionPolicy={
        "retentionPeriod": "189216000", "isLocked": True,
        "effectiveTime": "2026-01-01T00:00:00Z"},
        iamConfiguration={"uniformBucketLevelAccess": {"enabled": True},
                          "publicAccessPrevention": "enforced"},
        softDeletePolicy={"retentionDurationSeconds": "604800"})
    emu.storage.permissions["demo-evidence"] = {
        "storage.objects.create", "storage.objects.get", "storage.objects.list",
        "storage.buckets.get"}
    emu.cloud.add_bucket("demo-state", versioning={"enabled": True})
    print(f"export PHIGUARD_GCP_ENDPOINT={emu.base}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
