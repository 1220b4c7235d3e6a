"""Run a phiguard command in this process and report how much of its time the cyclic garbage
collector took, by generation (gc.callbacks), on stderr as JSON.

    .venv/bin/python benchmarks/gc_probe.py [--freeze-after-pass-1] scan SNAPSHOT ... --config CFG

`--freeze-after-pass-1` moves everything pass 1 built into the permanent generation
(`gc.freeze()`, as the parallel path does before forking) to see what the serial scan would
save if its collector stopped walking the held Inventory.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from typing import Any

_started: list[float] = []
totals: dict[int, list[float]] = {0: [0, 0.0, 0], 1: [0, 0.0, 0], 2: [0, 0.0, 0]}


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
        return
    got = totals[info["generation"]]
    got[0] += 1
    got[1] += time.perf_counter() - _started.pop()
    got[2] += info.get("collected", 0)


def _report() -> None:
    out = {f"gen{g}": {"collections": int(n), "seconds": round(s, 3), "collected": int(c)}
           for g, (n, s, c) in totals.items()}
    print("gc_probe: " + json.dumps(out), file=sys.stderr)


def main() -> int:
    args = sys.argv[1:]
    if args and args[0] == "--freeze-after-pass-1":
        args = args[1:]
        import phiguard.scan as scan_module

        real = scan_module.load_context

        def load_and_freeze(*a: Any, **k: Any) -> Any:
            loaded = real(*a, **k)
            gc.collect()
            gc.freeze()
            return loaded

        scan_module.load_context = load_and_freeze  # type: ignore[assignment]
    from phiguard.cli import main as cli

    gc.callbacks.append(_callback)
    try:
        cli.main(args, prog_name="phiguard", standalone_mode=False)
    except SystemExit:
        pass
    finally:
        _report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
