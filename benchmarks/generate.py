"""Generate a deterministic synthetic Google Cloud organization as a `gcloud asset export` snapshot.

The output is NDJSON in the export's snake_case envelope (RESOURCE records, with IAM_POLICY records
as separate lines of the same name), either one file or a directory of shards, plain or gzip, plus
a `phiguard.yaml` for the synthetic organization and a `generate.json` describing what was written:

    OUT/assets.ndjson[.gz]                        --shards 1: the snapshot is this file
    OUT/assets/part-00000-of-0000K.ndjson[.gz]    --shards K: the snapshot is this directory
    OUT/users.json or OUT/assets/users.json       Admin SDK users.list: 2-Step Verification
    OUT/phiguard.yaml                             config: PHI projects by label and by id
    OUT/generate.json                             counts per asset type, sizes, timing

The same `--assets` and `--seed` always give the same records, whatever the shard count or the
number of worker processes: every project is split into parts of at most `PART_ASSETS` assets and
every part draws from its own random stream, seeded by (seed, project, part). Memory stays flat
because at most a few parts are in flight at a time and each is written as soon as it is ready.

Usage:
    python benchmarks/generate.py --assets 1000000 --out benchmarks/out/org-1m --shards 4 --gzip

`--assets` counts resources (distinct asset names); IAM_POLICY lines come on top (the manifest
reports both).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _cai import (
    ASSETS_PER_PROJECT,
    ENVS,
    GENERATOR_VERSION,
    MANIFEST,
    PART_ASSETS,
    TEAMS,
    Ctx,
    Folder,
    OrgPlan,
    Project,
    Writer,
    directory_users,
    layout,
    number,
)
from _records import gen_firewall, gen_header, gen_project_base, pick_group


def plan_org(assets: int, seed: int) -> OrgPlan:
    """Lay out the organization: folder tree and projects with their asset budgets summing to N."""
    rng = random.Random(f"{seed}:org")
    org_id = number(rng, 12)
    n_projects = max(2, round(assets / ASSETS_PER_PROJECT))
    top = [
        Folder(f, disp, f"organizations/{org_id}", (f"folders/{f}", f"organizations/{org_id}"))
        for disp in ("production", "non-production", "shared-services", "sandbox")
        for f in [number(rng, 12)]
    ]
    n_sub = max(2, n_projects // 10)
    subs = []
    for i in range(n_sub):
        parent = top[i % len(top)]
        fid = number(rng, 12)
        disp = f"{TEAMS[i % len(TEAMS)]}-{parent.name.split('-')[0]}-{i // len(TEAMS)}"
        anc = (f"folders/{fid}", *parent.ancestors)
        subs.append(Folder(fid, disp, f"folders/{parent.id}", anc))
    folders = (*top, *subs)
    # organization, folders, two org log sinks and their buckets, a log metric and a DNS policy
    header = 1 + len(folders) + 6

    # Skewed project sizes: a few big data projects, many small ones (log-normal weights).
    weights = [rng.lognormvariate(0, 0.9) for _ in range(n_projects)]
    budget = max(0, assets - header)
    total_w = sum(weights)
    sizes = [int(budget * w / total_w) for w in weights]
    for i in range(budget - sum(sizes)):
        sizes[i % n_projects] += 1

    projects = []
    used_ids: set[str] = set()
    for i in range(n_projects):
        team = TEAMS[rng.randrange(len(TEAMS))]
        folder = subs[rng.randrange(len(subs))]
        env = "prod" if folder.ancestors[1] == top[0].ancestors[0] else rng.choice(ENVS[1:])
        pid = f"{team}-{env}-{rng.getrandbits(16):04x}"
        while pid in used_ids:
            pid = f"{team}-{env}-{rng.getrandbits(16):04x}"
        used_ids.add(pid)
        pnum = number(rng, 12)
        phi = rng.random() < (0.7 if env == "prod" else 0.15)
        labelled = phi and rng.random() < 0.7
        projects.append(
            Project(
                i, pid, pnum, team, env, folder, phi, labelled, sizes[i],
                (f"projects/{pnum}", *folder.ancestors),
            )
        )
    # Even a tiny org has a labelled PHI project, a PHI project listed by id and a non-PHI one.
    def force(i: int, phi: bool, labelled: bool) -> None:
        p = projects[i]
        projects[i] = Project(p.index, p.id, p.number, p.team, p.env, p.folder, phi, labelled,
                              p.assets, p.ancestors)

    if not any(p.labelled for p in projects):
        force(0, True, True)
    if not any(p.phi and not p.labelled for p in projects) and n_projects >= 3:
        force(1, True, False)
    if all(p.phi for p in projects):
        force(n_projects - 1, False, False)
    return OrgPlan(seed, assets, org_id, folders, tuple(projects), header)


def config_yaml(plan: OrgPlan) -> str:
    """The phiguard.yaml for the synthetic org: PHI by label, plus unlabelled PHI projects by id."""
    listed = [p.id for p in plan.projects if p.phi and not p.labelled]
    lines = [
        "# Generated by benchmarks/generate.py for the synthetic organization.",
        f'organization: "organizations/{plan.org_id}"',
        "phi:",
        "  projects:" + ("" if listed else " []"),
        *[f"    - {pid}" for pid in listed],
        "  project_labels:",
        "    data-classification: phi",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Parts: the unit of work, of parallelism and of output.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    project: int  # -1: the organization header (org, folders, org sinks)
    index: int
    assets: int


def parts(plan: OrgPlan) -> list[Part]:
    out = [Part(-1, 0, plan.header_assets)]
    for p in plan.projects:
        n, i = p.assets, 0
        while n > 0:
            take = min(n, PART_ASSETS)
            out.append(Part(p.index, i, take))
            n -= take
            i += 1
    return out


def render_part(plan: OrgPlan, part: Part) -> Writer:
    """Generate exactly `part.assets` resources (and their IAM policies) for one part."""
    rng = random.Random(f"{plan.seed}:{part.project}:{part.index}")
    w = Writer(rng)
    if part.project < 0:
        gen_header(plan, w)
        return w
    p = plan.projects[part.project]
    regions, networks, subnets, sas, keys = layout(plan, p)
    good = rng.uniform(0.82, 0.97) if p.phi else rng.uniform(0.45, 0.8)
    c = Ctx(w, rng, plan, p, good, regions, networks, subnets, sas, keys,
            seq=part.index * 1_000_000)
    budget = part.assets
    groups: Iterator[Iterator[None]] = (
        _chain_base(c) if part.index == 0 else (pick_group(rng)(c) for _ in iter(int, 1))
    )
    for group in groups:
        for _ in group:
            if w.assets >= budget:
                break
        if w.assets >= budget:
            break
    if w.assets != budget:  # every step adds at most one resource, so this is a bug
        raise AssertionError(f"part {part}: {w.assets} assets, expected {budget}")
    return w


def _chain_base(c: Ctx) -> Iterator[Iterator[None]]:
    yield gen_project_base(c)
    for _ in range(8 + c.rng.randrange(12)):
        yield gen_firewall(c)
    while True:
        yield pick_group(c.rng)(c)


# --------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------


_PLAN: OrgPlan | None = None


def _init_worker(plan: OrgPlan) -> None:
    global _PLAN
    _PLAN = plan


def _encode_part(part: Part, compress: bool,
                 level: int) -> tuple[bytes, int, int, int, dict[str, int]]:
    """Render one part in a worker (the plan was sent once, by the pool initializer)."""
    assert _PLAN is not None
    w = render_part(_PLAN, part)
    payload = ("\n".join(w.lines) + "\n").encode()
    if compress:
        # Each part is its own gzip member; concatenated members are one valid gzip stream.
        payload = gzip.compress(payload, compresslevel=level, mtime=0)
    return payload, w.assets, w.iam, w.org_policies, dict(w.types)


def _shard_of(plan: OrgPlan, shards: int) -> dict[int, int]:
    """Projects to shards, largest first onto the lightest shard (deterministic balance)."""
    load = [0] * shards
    out = {-1: 0}
    load[0] = plan.header_assets
    for p in sorted(plan.projects, key=lambda p: (-p.assets, p.index)):
        s = min(range(shards), key=lambda i: (load[i], i))
        out[p.index] = s
        load[s] += p.assets
    return out


def generate(
    assets: int,
    out: Path,
    *,
    seed: int = 1,
    shards: int = 1,
    compress: bool = False,
    level: int = 1,
    workers: int | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Write the snapshot, phiguard.yaml and manifest.json under `out`; return the manifest."""
    started = time.perf_counter()
    plan = plan_org(assets, seed)
    out.mkdir(parents=True, exist_ok=True)
    suffix = ".ndjson.gz" if compress else ".ndjson"
    if shards == 1:
        files = [out / f"assets{suffix}"]
    else:
        (out / "assets").mkdir(exist_ok=True)
        files = [out / "assets" / f"part-{i:05d}-of-{shards:05d}{suffix}" for i in range(shards)]
    tmp = [f.with_name(f.name + ".tmp") for f in files]
    handles = [open(t, "wb") for t in tmp]  # noqa: SIM115  (closed in finally)
    shard_of = _shard_of(plan, shards)
    todo = parts(plan)
    workers = workers or min(os.cpu_count() or 1, 8)
    types: Counter[str] = Counter()
    n_assets = n_iam = n_org = n_bytes = 0
    try:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(plan,)) as pool:
            window: list[Future[tuple[bytes, int, int, int, dict[str, int]]]] = []
            it = iter(todo)
            next_part = 0
            done_parts = 0
            # Keep a bounded number of parts in flight and write them in order: O(1) memory.
            while True:
                while len(window) < 2 * workers:
                    part = next(it, None)
                    if part is None:
                        break
                    window.append(pool.submit(_encode_part, part, compress, level))
                if not window:
                    break
                payload, a, i, o, t = window.pop(0).result()
                part = todo[next_part]
                next_part += 1
                handles[shard_of[part.project]].write(payload)
                n_assets += a
                n_iam += i
                n_org += o
                n_bytes += len(payload)
                types.update(t)
                done_parts += 1
                if done_parts % 50 == 0:
                    log(f"  {n_assets:>10,} / {assets:,} assets")
    finally:
        for h in handles:
            h.close()
    for t, f in zip(tmp, files, strict=True):
        os.replace(t, f)
    # The Admin SDK directory export (2-Step Verification) beside the CAI records: inside the
    # snapshot directory when there is one, else next to the single file.
    users = directory_users(seed)
    users_file = (out if shards == 1 else out / "assets") / "users.json"
    users_file.write_text(json.dumps(users, separators=(",", ":")) + "\n")
    (out / "phiguard.yaml").write_text(config_yaml(plan))
    elapsed = time.perf_counter() - started
    manifest: dict[str, Any] = {
        "generator": "benchmarks/generate.py",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "assets": n_assets,
        "iam_policy_records": n_iam,
        "org_policy_records": n_org,
        "lines": n_assets + n_iam + n_org,
        "bytes": n_bytes,
        "gzip": compress,
        "shards": shards,
        "snapshot": str(files[0] if shards == 1 else out / "assets"),
        "files": [str(f) for f in files],
        "users": str(users_file),
        # What to pass to `phiguard scan`: the snapshot, and the users file when it is not inside.
        "scan_paths": [str(files[0]), str(users_file)] if shards == 1 else [str(out / "assets")],
        "directory_users": len(users["users"]),
        "config": str(out / "phiguard.yaml"),
        "organization": f"organizations/{plan.org_id}",
        "folders": len(plan.folders),
        "projects": len(plan.projects),
        "phi_projects": sum(p.phi for p in plan.projects),
        "seconds": round(elapsed, 2),
        "asset_types": dict(sorted(types.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    # Not "manifest.json": that name is a snapshot manifest to phiguard's reader.
    tmp_manifest = out / f"{MANIFEST}.tmp"
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp_manifest, out / MANIFEST)
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, required=True, help="number of resources (asset names)")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--shards", type=int, default=1, help="1: OUT/assets.ndjson; K: OUT/assets/*")
    ap.add_argument("--gzip", action="store_true", help="gzip the NDJSON")
    ap.add_argument("--level", type=int, default=1, help="gzip level (default 1: fastest)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.assets < 1 or args.shards < 1:
        ap.error("--assets and --shards must be positive")

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    m = generate(args.assets, args.out, seed=args.seed, shards=args.shards, compress=args.gzip,
                 level=args.level, workers=args.workers, log=log)
    log(
        f"wrote {m['assets']:,} assets + {m['iam_policy_records']:,} IAM policies + "
        f"{m['org_policy_records']:,} org policies "
        f"({m['bytes'] / 2**20:,.0f} MiB, {m['projects']} projects, {m['phi_projects']} PHI) "
        f"in {m['seconds']:.1f} s to {m['snapshot']}"
    )
    print(m["snapshot"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

