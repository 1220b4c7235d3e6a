"""Where one run writes its reports: several formats from one evaluation.

A command names the formats (`--format`, repeatable) and where each goes: one `--output FILE`
for a single format, `--output FORMAT=PATH` (repeatable) per format, or `--output-dir DIR`
(each format as `DIR/phiguard.<ext>`). A single format with no destination goes to standard
output. Every path is checked with phiguard._util.outputs before anything is read, and all
files of a run are written atomically and replaced together once every report is complete.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from phiguard._util.outputs import atomic_output, check_outputs, refuse_inputs, writable_target
from phiguard.errors import OutputError, UsageError

__all__ = ["EXTENSIONS", "Output", "check", "choose_outputs", "open_outputs"]

# The file name each format gets in --output-dir.
EXTENSIONS = {"text": "txt", "json": "json", "html": "html", "sarif": "sarif", "junit": "xml",
              "markdown": "md", "csv": "csv", "ndjson": "ndjson"}


@dataclass(frozen=True)
class Output:
    """One report of a run: its format and file (None: standard output)."""

    fmt: str
    path: str | None = None
    option: str = "--output"  # the option that named it, for messages

    @property
    def to_stdout(self) -> bool:
        return self.path in (None, "-")


def choose_outputs(formats: Sequence[str], outputs: Sequence[str], output_dir: str | None, *,
                   choices: Sequence[str], default: str | None = "text") -> list[Output]:
    """The reports asked for, in the order the formats were given; a UsageError when a format
    has no destination, two reports share one, or a file cannot be told apart."""
    named: dict[str, str] = {}
    plain: list[str] = []
    for value in outputs:
        fmt, sep, path = value.partition("=")
        if sep and fmt in choices:
            if not path:
                raise UsageError(f"--output {value}: give a path after {fmt}=")
            if fmt in named:
                raise UsageError(f"--output {fmt}=...: given twice ({named[fmt]}, {path})")
            named[fmt] = path
        else:
            plain.append(value)
    order = list(dict.fromkeys([*formats, *named]))
    if not order:
        if default is None:
            raise UsageError("give --format FORMAT (or --output FORMAT=PATH)")
        order = [default]
    unplaced = [f for f in order if f not in named]
    if len(plain) > 1:
        raise UsageError(f"--output {plain[0]} --output {plain[1]}: one --output FILE per run; "
                         "for several formats use --output FORMAT=PATH or --output-dir DIR")
    chosen: dict[str, Output] = {f: Output(f, p) for f, p in named.items()}
    if plain:
        if output_dir is not None:
            raise UsageError(f"--output {plain[0]} with --output-dir: name the format "
                             "(--output FORMAT=PATH)")
        if len(unplaced) != 1:
            shown = " ".join(f"--format {f}" for f in unplaced) or "no format left"
            raise UsageError(f"--output {plain[0]}: {shown}: a plain --output FILE takes exactly "
                             "one format; use --output FORMAT=PATH or --output-dir DIR")
        chosen[unplaced[0]] = Output(unplaced[0], plain[0])
    elif output_dir is not None:
        for fmt in unplaced:
            chosen[fmt] = Output(fmt, str(Path(output_dir) / f"phiguard.{EXTENSIONS[fmt]}"),
                                 "--output-dir")
    elif len(unplaced) == 1:
        chosen[unplaced[0]] = Output(unplaced[0], None)
    elif unplaced:
        shown = " ".join(f"--format {f}" for f in unplaced)
        raise UsageError(f"{shown}: only one format can go to standard output; give "
                         "--output-dir DIR or --output FORMAT=PATH for each")
    result = [chosen[f] for f in order]
    to_stdout = [o.fmt for o in result if o.to_stdout]
    if len(to_stdout) > 1:
        raise UsageError(f"{' and '.join(to_stdout)}: only one format can go to standard "
                         "output; give --output-dir DIR or --output FORMAT=PATH for each")
    seen: dict[str, str] = {}
    for out in result:
        if out.to_stdout:
            continue
        key = str(Path(str(out.path)).resolve())
        if key in seen:
            raise UsageError(f"--output {out.path}: both the {seen[key]} and the {out.fmt} "
                             "report would be written there")
        seen[key] = out.fmt
    return result


def check(outputs: Sequence[Output], inputs: Sequence[str | Path | None], *,
          output_dir: str | None = None,
          others: Sequence[tuple[str, str | Path | None]] = ()) -> None:
    """Before reading anything: no report may be an input or lie inside one (see
    phiguard._util.outputs), nor inside the run's --bundle; each can be written as asked
    (a missing --output-dir needs an existing parent; it is created when the reports are
    written, so a run refused for its input leaves no new directory)."""
    targets: list[tuple[str, str | Path | None]] = [*others]
    if output_dir is not None:
        targets.append(("--output-dir", output_dir))
    in_dir = [(o.option, o.path) for o in outputs if o.option == "--output-dir"]
    check_outputs([*targets, *((o.option, o.path) for o in outputs if o.option != "--output-dir")],
                  inputs)
    if output_dir is not None:
        refuse_inputs(in_dir, inputs)  # DIR/phiguard.json may be an input file
        if Path(output_dir).is_dir():  # else created when the reports are written
            for label, path in in_dir:
                assert path is not None
                writable_target(label, path)


@contextmanager
def open_outputs(outputs: Sequence[Output]) -> Iterator[list[IO[str]]]:
    """One stream per report. Files are written to temporary names and all replaced when the
    block ends without error; an error leaves none of them (and no partial file). A missing
    --output-dir is created first."""
    for directory in dict.fromkeys(Path(str(o.path)).parent for o in outputs
                                   if o.option == "--output-dir"):
        try:
            directory.mkdir(exist_ok=True)
        except OSError as exc:
            raise OutputError(f"--output-dir {directory}: cannot create it: "
                              f"{exc.strerror or exc}") from None
    with ExitStack() as stack:
        yield [stack.enter_context(atomic_output(o.path, o.option)) for o in outputs]
