"""Named runs: what a phiguard command does, as a library call that returns data.

Each run checks its outputs against its inputs before reading anything, loads the rule pack
and configuration, judges once, writes the reports it was asked for and returns what it found
(findings, tallies, files written). Rendering for a terminal and exit codes belong to
phiguard.cli, which calls these.

- `phiguard.runs.scan.run_scan`: a Cloud Asset Inventory snapshot.
- `phiguard.runs.plan.run_plan_gate`: a Terraform plan, before it is applied.
- `phiguard.runs.audit.run_audit`: collect, scan, report and record in the history store.
- `phiguard.runs.collect.run_collect`: collect a snapshot from the live organization.
- `phiguard.runs.fix`: a fix plan from findings, and applying it.
- `phiguard.runs.report.run_report`: re-render a findings file.
"""
