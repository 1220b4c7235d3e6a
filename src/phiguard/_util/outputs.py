"""Output targets, checked before a command reads anything: an output never replaces an input.

Every command that writes a file (`scan`, `plan`, `report`, `audit`, `fix plan`, `--bundle`)
calls `refuse_inputs` first with what it will write and what it will read. An output is
refused when it is an input (the same path once links are resolved, or the same inode: a hard
link), or lies inside an input directory (a snapshot directory is read whole, so a report
written into it would become part of the next scan's input). `plan --tf-root DIR` reads only
the `.tf` files there, so `refuse_terraform_files` refuses Terraform's files under DIR, not a
report beside them. `writable_target` turns what would otherwise fail midway (a directory, a
parent that does not exist) into one clear error first.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, cast

from phiguard.errors import OutputError, UsageError

__all__ = ["OutputWriter", "atomic_output", "check_outputs", "output_file", "put_bytes",
           "refuse_inputs", "refuse_inside", "refuse_terraform_files", "writable_target"]

Target = tuple[str, "str | Path | None"]


class OutputWriter:
    """A text file whose write errors (a full disk, /dev/full) are an OutputError naming the
    output, so they are told apart from errors reading an input."""

    def __init__(self, fh: IO[str], label: str) -> None:
        self._fh = fh
        self._label = label

    def failed(self, exc: OSError) -> OutputError:
        return OutputError(f"{self._label}: cannot write: {exc.strerror or exc}")

    def write(self, text: str) -> int:
        try:
            return self._fh.write(text)
        except OSError as exc:
            raise self.failed(exc) from None

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as exc:
            raise self.failed(exc) from None

    def write_bytes(self, data: bytes | bytearray) -> None:
        """Write UTF-8 `data` past the text layer (flushed first, so the order holds); a
        stream without a UTF-8 binary buffer gets it decoded."""
        buffer = getattr(self._fh, "buffer", None)
        encoding = (getattr(self._fh, "encoding", None) or "").lower().replace("-", "")
        if buffer is None or encoding != "utf8":
            self.write(data.decode())
            return
        try:
            self._fh.flush()
            buffer.write(data)
        except OSError as exc:
            raise self.failed(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


@contextmanager
def output_file(path: Path, label: str) -> Iterator[IO[str]]:
    """A new text file at `path` whose open, write, flush and close errors are one
    OutputError naming `label` (a close failing after another error does not replace it)."""
    try:
        fh = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"{label}: cannot write {path.name}: {exc.strerror or exc}") from None
    writer = OutputWriter(fh, label)
    done = False
    try:
        yield cast(IO[str], writer)
        writer.flush()
        done = True
    finally:
        try:
            fh.close()
        except OSError as exc:
            if done:
                raise writer.failed(exc) from None


def put_bytes(path: Path, data: bytes, label: str) -> None:
    """Write `data` to `path`; an OSError is an OutputError naming `label`."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"{label}: cannot write {path.name}: {exc.strerror or exc}") from None


def _is_stdout(path: str | Path | None) -> bool:
    return path is None or str(path) == "-"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare the path as given
        return Path(os.path.abspath(path))


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def writable_target(label: str, path: str | Path, *, directory: bool = False) -> None:
    """Refuse an output that cannot be written as asked: a directory where a file is meant, a
    parent directory that does not exist."""
    target = Path(path)
    if not directory and target.is_dir():
        raise OutputError(f"{label} {path}: is a directory; give a file name (e.g. "
                          f"{target / 'report.html'})")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{label} {path}: directory {parent} does not exist")


def refuse_inputs(outputs: Iterable[Target], inputs: Iterable[str | Path | None]) -> None:
    """Raise UsageError when an output is an input, or lies inside an input directory.

    `outputs` are (option, path) pairs; None and '-' (standard output) are skipped, and so are
    inputs that do not exist (the command reports those itself).
    """
    given = [Path(p) for p in inputs if p is not None and not _is_stdout(p)]
    for label, raw in outputs:
        if _is_stdout(raw):
            continue
        out = Path(str(raw))
        where = _resolved(out)
        same = _identity(out)
        for source in given:
            if not source.exists():
                continue
            resolved = _resolved(source)
            if source.is_dir():
                if _inside(where, resolved):
                    raise UsageError(f"{label} {raw}: is inside the input directory {source}; "
                                     "an output there would change or become part of that "
                                     "input: write it elsewhere")
                continue
            if where == resolved or (same is not None and same == _identity(source)):
                raise UsageError(f"{label} {raw}: is an input of this command ({source}); "
                                 "refusing to overwrite it: write the output elsewhere")


# Terraform's own files in a configuration directory: configuration, variable values, the
# dependency lock file; and everything under `.terraform/` (its working data).
_TERRAFORM_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tfvars.json")
_TERRAFORM_NAMES = (".terraform.lock.hcl",)


def _terraform_name(name: str) -> bool:
    return name.endswith(_TERRAFORM_SUFFIXES) or name in _TERRAFORM_NAMES


def _terraform_file(path: Path, root: Path) -> bool:
    return _terraform_name(path.name) or ".terraform" in path.relative_to(root).parts[:-1]


def refuse_terraform_files(outputs: Iterable[Target], root: str | Path | None,
                           option: str = "--tf-root") -> None:
    """Raise UsageError when an output is a Terraform file under the Terraform root `root`
    (once links are resolved, at any depth, existing or not), or a hard link to one of the
    root's own. Other files there (a report beside the configuration) may be written: the root
    is read for its `.tf` files alone, never whole."""
    if root is None or not Path(root).is_dir():
        return
    base = _resolved(Path(root))
    own: dict[tuple[int, int], Path] = {}
    with suppress(OSError):
        for entry in Path(root).iterdir():
            ident = _identity(entry)
            if ident is not None and _terraform_name(entry.name):
                own.setdefault(ident, entry)
    for label, raw in outputs:
        if _is_stdout(raw):
            continue
        out = Path(str(raw))
        where = _resolved(out)
        same = _identity(out)
        if (_inside(where, base) and where != base and _terraform_file(where, base)) \
                or (same is not None and same in own):
            raise UsageError(f"{label} {raw}: is a Terraform file under {option} {root}; "
                             "refusing to write Terraform configuration: write the output "
                             "elsewhere")


def refuse_inside(outputs: Iterable[Target], directory: Path, label: str) -> None:
    """Raise UsageError when an output lies inside `directory`, another output of the run."""
    root = _resolved(directory)
    for name, raw in outputs:
        if not _is_stdout(raw) and _inside(_resolved(Path(str(raw))), root):
            raise UsageError(f"{name} {raw}: is inside {label} {directory}, which holds only "
                             "what its manifest lists: write it elsewhere")


@contextmanager
def atomic_output(path: str | Path | None, option: str = "--output") -> Iterator[IO[str]]:
    """Standard output (None or '-'), or a file written atomically: a failed run leaves no
    partial output. Write errors are an OutputError naming `option` and the path."""
    if _is_stdout(path):
        yield sys.stdout
        return
    assert path is not None
    label = f"{option} {path}"
    writable_target(option, path)
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if target.exists() and not target.is_file():
        # /dev/null and other special files are written directly.
        try:
            raw = target.open("w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"{label}: cannot write: {exc.strerror or exc}") from None
        writer = OutputWriter(raw, label)
        try:
            yield cast(IO[str], writer)
            writer.flush()
        finally:
            with suppress(OSError):  # a failed flush above already said why
                raw.close()
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise OutputError(f"{label}: cannot create a file in {directory}: "
                          f"{exc.strerror or exc}") from None
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it owner-only; a report is meant to be read
        fh = os.fdopen(fd, "w", encoding="utf-8")
        try:
            writer = OutputWriter(fh, label)
            yield cast(IO[str], writer)
            writer.flush()
            try:
                os.fsync(fh.fileno())
            except OSError as exc:
                raise writer.failed(exc) from None
        finally:
            # Closed here, not by `with`: a close that fails again (the same full disk) must
            # not replace the error that names the output.
            with suppress(OSError):
                fh.close()
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(f"{label}: cannot replace: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_outputs(outputs: list[Target], inputs: Iterable[str | Path | None]) -> None:
    """Before reading anything: no output is an input or lies in an input directory, none lies
    inside the run's --bundle, and each can be written as asked."""
    refuse_inputs(outputs, inputs)
    bundles = [path for label, path in outputs if label == "--bundle" and path is not None]
    others = [(label, path) for label, path in outputs if label != "--bundle"]
    for bundle in bundles:
        # A file written into the bundle would be one its manifest does not list.
        refuse_inside(others, Path(bundle), "--bundle")
    for label, raw in outputs:
        if raw is not None and str(raw) != "-":
            writable_target(label, raw, directory=label in ("--bundle", "--output-dir"))
