"""BigQuery rows of a Beam scan, written sharded by the workers (imports apache_beam).

`write_bigquery_shards(scan, PREFIX)` turns each findings shard a finished `BeamScan` holds
(`<work>/findings/*.ndjson`, the local engine's order) into one BigQuery NDJSON shard,
`PREFIX/findings-00000-of-00042.ndjson`, in a second small pipeline on the same runner, so no
machine reads every finding and

    bq load --source_format=NEWLINE_DELIMITED_JSON DATASET.TABLE 'PREFIX/findings-*' SCHEMA.json

loads them in parallel (`phiguard schema bigquery` prints SCHEMA.json). The shards, read in
name order, are byte for byte what `--format ndjson` writes for the same scan. Call it before
the scan is consumed (`findings()`, `write_json()` remove the work files).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from phiguard.beam.pipeline import FINDINGS, METRICS
from phiguard.report.bigquery import rows_from_lines, run_columns

__all__ = ["check_shards_target", "convert_shard", "write_bigquery_shards"]

SHARDS_CONVERTED, ROWS_WRITTEN = "bigquery_shards", "bigquery_rows"


def check_shards_target(prefix: str) -> None:
    """Before the scan, an OutputError (exit 2) unless `prefix` can take the shards: a local
    folder (existing or new; a file, or a path below a file, is refused: the workers could not
    create the shards there) or a gs:// prefix, holding no `findings-*.ndjson` yet (shards of
    two runs under one prefix would load as one table's worth, and phiguard never overwrites
    an input). A folder holding other files is used as it is: they are left untouched and the
    shards are written beside them."""
    from phiguard.errors import OutputError

    if FileSystems.get_scheme(prefix) is None:  # a local folder
        path = Path(prefix)
        for part in (path, *path.parents):
            if part.exists() and not part.is_dir():
                raise OutputError(f"--bigquery-shards {prefix}: {part} is a file; expected a "
                                  "folder (existing or new) or a gs://BUCKET/PREFIX")
    pattern = f"{prefix.rstrip('/')}/findings-*.ndjson"
    try:
        found = [m.path for r in FileSystems.match([pattern]) for m in r.metadata_list]
    except Exception as exc:  # Beam wraps a missing folder or bucket in its own errors
        if "No files found" in str(exc) or "not found" in str(exc).lower():
            return
        raise OutputError(f"--bigquery-shards {prefix}: cannot list it: {exc}") from None
    if found:
        raise OutputError(f"--bigquery-shards {prefix}: already holds {len(found)} findings "
                          f"shards (first: {sorted(found)[0]}): give a new prefix")


def convert_shard(element: tuple[int, str], total: int, prefix: str,
                  columns: Mapping[str, Any]) -> str:
    """Read one findings shard, write its rows as shard `index` of `total`; the new name."""
    index, name = element
    with FileSystems.open(name) as fh:
        lines = [raw for raw in fh.read().split(b"\n") if raw]
    target = _target(prefix, index, total)
    with FileSystems.create(target) as out:
        out.write("".join(rows_from_lines(lines, columns)).encode())
    Metrics.counter(METRICS, ROWS_WRITTEN).inc(len(lines))
    Metrics.counter(METRICS, SHARDS_CONVERTED).inc()
    return target


def _target(prefix: str, index: int, total: int) -> str:
    return f"{prefix.rstrip('/')}/findings-{index:05d}-of-{total:05d}.ndjson"


def write_bigquery_shards(scan: Any, prefix: str, pipeline_args: Sequence[str] = ()
                          ) -> list[str]:
    """The BigQuery NDJSON shards of a finished, unconsumed BeamScan, under `prefix` (local
    or gs://); their names, in order. `pipeline_args` choose the runner, as for the scan.
    Complete or absent: when a shard or a row went missing on the way (counted against the
    findings lines the scan holds), its shards are removed and a PhiguardError says so."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from phiguard.beam.pipeline import _counter
    from phiguard.errors import PhiguardError

    pattern = f"{scan.work}/{FINDINGS}/*.ndjson"
    names = sorted((m.path for r in FileSystems.match([pattern]) for m in r.metadata_list),
                   key=lambda n: n.rsplit("/", 1)[-1])
    columns = run_columns(scan.run_info())
    total = len(names)
    from phiguard.beam.options import local_runner

    p = beam.Pipeline(runner=local_runner(pipeline_args),
                      options=PipelineOptions(list(pipeline_args)))
    (p
     | "Findings shards" >> beam.Create(list(enumerate(names)))
     | "Spread shards" >> beam.Reshuffle()
     | "To BigQuery rows" >> beam.Map(convert_shard, total, prefix, dict(columns)))
    result = p.run()
    result.wait_until_finish()
    targets = [_target(prefix, i, total) for i in range(total)]
    converted = _counter(result, SHARDS_CONVERTED) or 0
    rows = _counter(result, ROWS_WRITTEN) or 0
    present = sum(1 for t in targets if FileSystems.exists(t))
    if converted == present == total and rows == scan.lines:
        return targets
    gone = [t for t in targets if FileSystems.exists(t)]
    if gone:
        FileSystems.delete(gone)
    raise PhiguardError(
        f"the Beam pipeline lost BigQuery rows: {total:,} findings shards holding "
        f"{scan.lines:,} lines were sent, {converted:,} converted into {rows:,} rows, "
        f"{present:,} of the {total:,} row shards were written "
        f"({scan.lines - rows:,} rows missing); the row shards were removed: rerun the scan")
