"""`python tests/emulator [FIXTURE_DIR]`: serve a fixture org on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.server import Emulator  # importable through the path above

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fixtures/orgs/demo-health")
with Emulator(root) as emu:
    print(f"export PHIGUARD_GCP_ENDPOINT={emu.base}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
