"""What a pass-1 worker's byte range costs the parent: surveys the first ranges of a snapshot
as a worker does (`_survey._survey_task`), pickles each result as the worker sends it and
unpickles it as the parent receives it, and prints the CPU seconds of each step and the
pickled bytes by field of `Survey`.

    .venv/bin/python benchmarks/survey_pickle.py SNAPSHOT_DIR [--ranges 6]

SNAPSHOT_DIR holds assets.ndjson and phiguard.yaml (benchmarks/generate.py's layout). With
pass 1 in two processes the parent surveys ranges itself and unpickles the worker's: the
unpickling is what keeps its share of pass 1 above half.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("snapshot", type=Path)
    ap.add_argument("--ranges", type=int, default=6)
    args = ap.parse_args(argv)

    from phiguard.config import load_config
    from phiguard.inventory import _survey
    from phiguard.inventory.snapshot import RANGE_BYTES
    from phiguard.inventory.types import HIERARCHY_TYPES
    from phiguard.policy.engine import Engine
    from phiguard.runs.common import load_pack

    config = load_config(args.snapshot / "phiguard.yaml")
    engine = Engine(load_pack([]).rules, params=config.params, enable=config.enable,
                    disable=config.disable)
    plan = _survey._Plan(frozenset(engine.context_types()) | HIERARCHY_TYPES,
                         dict(engine.context_fields()), frozenset())
    path = args.snapshot / "assets.ndjson"
    tasks = [(str(path), lo, hi) for lo, hi in _survey._ranges(path, RANGE_BYTES)]
    survey = dumps = loads = 0.0
    size = 0
    fields: Counter[str] = Counter()
    for task in tasks[:args.ranges]:
        cpu = time.process_time()
        result = _survey._survey_task(plan, task)
        survey += time.process_time() - cpu
        cpu = time.process_time()
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        dumps += time.process_time() - cpu
        cpu = time.process_time()
        pickle.loads(data)
        loads += time.process_time() - cpu
        size += len(data)
        for name, value in vars(result).items():
            fields[name] += len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    n = min(args.ranges, len(tasks))
    print(f"{n} ranges of {RANGE_BYTES // 2**20} MiB: survey {survey / n:.3f} CPU s each, "
          f"pickle {dumps / n:.3f}, unpickle {loads / n:.3f} ({loads / survey:.0%} of a "
          f"survey); {size / n / 2**20:.2f} MiB pickled each")
    for name, got in fields.most_common():
        print(f"  {name:14s} {got / size:6.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
