"""How a collection shows its progress: rich progress bars when stderr is a terminal, plain
`phiguard: ...` log lines otherwise (CI logs stay readable and greppable)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import click

__all__ = ["PlainProgress", "Progress", "RichProgress", "progress_for_stderr"]


class Progress:
    """The no-op base: log lines go to `log`, tasks are ignored."""

    def __init__(self, log: Callable[[str], None] | None = None) -> None:
        self._log = log or (lambda _msg: None)

    def log(self, msg: str) -> None:
        self._log(msg)

    def task(self, description: str, total: int | None = None) -> Any:
        return None

    def update(self, task: Any, *, advance: int = 0, total: int | None = None,
               description: str | None = None) -> None:
        pass

    def finish(self, task: Any, description: str | None = None) -> None:
        pass

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        pass


class PlainProgress(Progress):
    """CI: one `phiguard: ...` line per event on stderr, no bars."""

    def __init__(self) -> None:
        super().__init__(lambda msg: click.echo(f"phiguard: {msg}", err=True))


class RichProgress(Progress):
    """A terminal: one live bar per source (records so far, elapsed time), log lines above."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                             TextColumn("{task.completed} records"), TimeElapsedColumn(),
                             console=self.console)
        self.lock = threading.Lock()
        super().__init__(lambda msg: self.console.log(msg))

    def task(self, description: str, total: int | None = None) -> Any:
        with self.lock:
            return self.bars.add_task(description, total=total)

    def update(self, task: Any, *, advance: int = 0, total: int | None = None,
               description: str | None = None) -> None:
        kwargs: dict[str, Any] = {"advance": advance}
        if total is not None:
            kwargs["total"] = total
        if description is not None:
            kwargs["description"] = description
        with self.lock:
            self.bars.update(task, **kwargs)

    def finish(self, task: Any, description: str | None = None) -> None:
        with self.lock:
            done = next(t.completed for t in self.bars.tasks if t.id == task) or 1
            self.bars.update(task, total=done, completed=done, description=description)

    def __enter__(self) -> RichProgress:
        self.bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.bars.stop()


def progress_for_stderr(tty: bool | None = None) -> Progress:
    """Bars on a terminal, plain lines otherwise."""
    if tty is None:
        tty = sys.stderr.isatty()
    return RichProgress() if tty else PlainProgress()
