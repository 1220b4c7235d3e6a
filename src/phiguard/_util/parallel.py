"""One ordered parallel map over forked worker processes, with its serial fallback.

`ordered_map(work, state, tasks, jobs=...)` yields `work(state, task)` for every task, in task
order, whatever `jobs` is. With `jobs > 1` (and `fork` available) it runs the calls in worker
processes forked from this one: `state` (an Inventory, an engine, a plan) is inherited through
the fork and shared copy-on-write, never pickled; each task goes to a worker pickled and each
result comes back pickled. A worker is replaced after `tasks_per_worker` tasks, so its heap and
the pages it copied go back to the system instead of growing through a long run. The heap is
frozen (`gc.freeze`) before each fork, so a worker's garbage collector does not touch, and so
copy, the pages it shares with the parent, and stays frozen until the map ends, so the parent's
collector does not walk the shared state (a large Inventory) over and over either.

When a worker fails (raises, is killed, or cannot be forked), every worker is stopped and the
tasks from the first one without a result on are run in this process, in order: the results
are exactly the serial ones, and an error a task raises is raised here, from this process,
as a serial run raises it.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, Pipe, wait
from typing import Any, Generic, TypeVar

__all__ = ["available_memory", "busy_cpus", "can_fork", "cpu_ticks", "long_lived_heap",
           "ordered_map", "parent_working", "release_free_memory", "settle_heap", "usable_cpus"]

S = TypeVar("S")
T = TypeVar("T")
R = TypeVar("R")

_OK, _FAILED = "ok", "failed"

YOUNG_THRESHOLD = 10_000  # allocations between collections of the youngest generation
_holding = [False]  # inside long_lived_heap: the heap is frozen by this module's policy


def can_fork() -> bool:
    return hasattr(os, "fork")


# --- what the machine allows ---------------------------------------------------------------------


def usable_cpus() -> float:
    """The CPUs this process may run on: its affinity set, capped by a cgroup (v2) CPU quota."""
    try:
        cpus: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return cpus


def _cpu_ticks(cpus: set[int] | None) -> tuple[int, int] | None:
    """(busy, total) jiffies summed over `cpus` (None: every CPU), from /proc/stat."""
    busy = total = 0
    try:
        with open("/proc/stat") as fh:
            for line in fh:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *fields = line.split()
                if cpus is not None and int(name[3:]) not in cpus:
                    continue
                ticks = [int(f) for f in fields[:8]]  # user .. steal (guests are in user)
                total += sum(ticks)
                busy += sum(ticks) - ticks[3] - ticks[4]  # less idle and iowait
    except (OSError, ValueError):
        return None
    return (busy, total) if total else None


cpu_ticks = _cpu_ticks  # (public: the plan gate reads how busy the CPUs were without sleeping)


def busy_cpus(sample: float = 0.2) -> float:
    """How many of this process's CPUs other processes keep busy.

    What they used over the next `sample` seconds (this process sleeps meanwhile, so all of
    it is theirs), or the 1-minute load average less one where that is more: the average
    remembers a machine busy over the last minute that a short sample may catch in a lull,
    and lags a minute behind, so up to one CPU of it may be a process that has just ended
    (the previous step of the same job); the sample speaks for that one."""
    try:
        mine: set[int] | None = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = None
    cpus = len(mine) if mine is not None else (os.cpu_count() or 1)
    lagging = 0.0
    with contextlib.suppress(OSError):
        lagging = max(0.0, os.getloadavg()[0] - 1)
    before = _cpu_ticks(mine)
    if before is None:
        return lagging
    time.sleep(sample)
    after = _cpu_ticks(mine)
    if after is None or after[1] <= before[1]:
        return lagging
    now = cpus * (after[0] - before[0]) / (after[1] - before[1])
    return max(now, lagging)


def available_memory() -> int | None:
    """Bytes of memory this process can still use without swapping: the kernel's
    MemAvailable, capped by what a cgroup (v2) memory limit leaves; None where unknown."""
    found: int | None = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        return None
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            used = int(fh.read())
        if limit != "max":
            left = max(0, int(limit) - used)
            found = left if found is None else min(found, left)
    except (OSError, ValueError):
        pass
    return found


def release_free_memory() -> None:
    """Give the C allocator's free pages back to the system (glibc's `malloc_trim`): what a
    finished pass freed between live blocks otherwise stays resident, in this process and in
    every worker forked from it. Elsewhere (no glibc) nothing happens."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass
class _Worker:
    pid: int
    conn: Connection
    done: int = 0
    held: list[int] = field(default_factory=list)  # indexes of the tasks it holds, in order

    @property
    def task(self) -> int | None:
        return self.held[0] if self.held else None


@dataclass
class _Run(Generic[T, R]):
    tasks: Iterator[T]
    pending: dict[int, T] = field(default_factory=dict)  # sent, no result yet
    results: dict[int, R] = field(default_factory=dict)  # received, not yet yielded
    sent: int = 0
    exhausted: bool = False
    handed: dict[int, float] = field(default_factory=dict)  # index -> when a worker got it
    taken: set[int] = field(default_factory=set)  # run here while a worker held them
    own: list[float] = field(default_factory=lambda: [0.0, 0.0])  # tasks run here, seconds

    def next_task(self) -> tuple[int, T] | None:
        if self.exhausted:
            return None
        try:
            task = next(self.tasks)
        except StopIteration:
            self.exhausted = True
            return None
        index = self.sent
        self.sent += 1
        return index, task


# Tasks a worker holds at once when the parent works too: one to work on and one queued, so
# it never waits for the parent (busy with a task of its own) to hand it the next.
_DEPTH = 2
# the default of `ordered_map(parent_works=None)` in each thread: see `parent_working`
_parent_works = threading.local()


@contextmanager
def parent_working() -> Iterator[None]:
    """Inside this block, `ordered_map` calls of this thread that do not say otherwise run
    tasks in this process too (see `ordered_map`'s `parent_works`); other threads' calls (a
    server judging several scans at once) are left as they were."""
    was = getattr(_parent_works, "on", False)
    _parent_works.on = True
    try:
        yield
    finally:
        _parent_works.on = was


def ordered_map(work: Callable[[S, T], R], state: S, tasks: Iterable[T], *, jobs: int,
                tasks_per_worker: int | None = None, window: int | None = None,
                parent_works: bool | None = None, first_here: int = 0) -> Iterator[R]:
    """`work(state, task)` for each task, in order; in up to `jobs` processes.

    `parent_works` (default: inside `parent_working`): this process runs tasks too, between
    handing tasks out and collecting results, so `jobs` processes work in all (`jobs - 1`
    forked workers); otherwise `jobs` workers work and this one waits. `work` must then leave
    `state` as it found it (what a task changes in a worker is lost; here it would stay).
    `window` bounds how far ahead of the oldest result not yet yielded tasks are handed out
    (default: twice `jobs`), which bounds the results held here.
    `first_here` (with `parent_works`): this process runs that many tasks before it forks
    any worker, so what `work` builds on first use and keeps in `state` (caches, lazy
    indexes) is built once, here, and shared by every worker instead of each building its
    own; the garbage those tasks left is collected before the first fork.
    """
    if jobs <= 1 or not can_fork():
        for task in tasks:
            yield work(state, task)
        return
    helping = getattr(_parent_works, "on", False) if parent_works is None else parent_works
    forks = jobs - 1 if helping else jobs
    depth = _DEPTH if helping else 1
    run: _Run[T, R] = _Run(iter(tasks))
    ahead = max(forks * depth + 1, window or 2 * jobs)
    workers: list[_Worker] = []
    following = 0  # index of the next result to yield
    failed = False
    # leave a heap the caller froze as it was
    thaw = not _holding[0] and gc.get_freeze_count() == 0
    try:
        if helping and first_here > 0:
            for _ in range(first_here):
                got = run.next_task()
                if got is None:
                    break
                index, task = got
                run.pending[index] = task
                if not _run_here(work, state, run, index):
                    failed = True  # raised again in order by the serial run below
                    break
            if not failed and not run.exhausted:
                gc.collect()  # (what the tasks left is not frozen into the workers' heap)
        while not failed:
            # hand out tasks to workers with room, forking new ones as needed
            while not failed and following + ahead > run.sent:
                idle = min((w for w in workers if len(w.held) < depth and (
                    tasks_per_worker is None or w.done + len(w.held) < tasks_per_worker)),
                    key=lambda w: len(w.held), default=None)
                if idle is None and len(workers) >= forks:
                    break
                got = run.next_task()
                if got is None:
                    break
                index, task = got
                run.pending[index] = task
                if idle is None:
                    idle = _fork(work, state, workers, threaded=helping)
                    if idle is None:
                        failed = True
                        break
                    workers.append(idle)
                try:
                    idle.conn.send((index, task))
                    idle.held.append(index)
                    run.handed[index] = time.perf_counter()
                except OSError:
                    failed = True
            if failed:
                break
            while following in run.results:
                result = run.results.pop(following)
                following += 1
                yield result
            if not run.pending:
                if run.exhausted:
                    return
                if not helping:
                    continue
            if helping and following + ahead > run.sent:
                got = run.next_task()
                if got is not None:
                    index, task = got
                    run.pending[index] = task
                    if not _run_here(work, state, run, index):
                        failed = True  # raised again in order by the serial run below
                        break
                    failed = _receive(run, workers, tasks_per_worker, timeout=0)
                    if failed:
                        break
                    continue
            if not run.pending:
                continue
            timeout = _patience(run, workers, following) if helping else None
            failed = _receive(run, workers, tasks_per_worker, timeout=timeout)
            if failed:
                break
            if timeout is not None and following in run.pending and following not in run.taken:
                # The worker holding the next result is far slower than this process (its
                # CPU busy with other work): run that task here rather than wait for it.
                run.taken.add(following)
                if not _run_here(work, state, run, following):
                    failed = True
                    break
    finally:
        for worker in list(workers):
            _retire(workers, worker, kill=True)
        if thaw:
            gc.unfreeze()
    # A task failed: the results already received stand; every other task runs here.
    for index in range(following, run.sent):
        if index in run.results:
            yield run.results.pop(index)
        else:
            yield work(state, run.pending.pop(index))
    for task in run.tasks:
        yield work(state, task)


# A worker that takes this many times as long as this process would to run a task, counted
# from when it could have started it, has it taken from it (`parent_works`): a worker starved
# of CPU by other work costs a few repeated tasks, never a run slower than one process.
SLOWER = 2.0


def _run_here(work: Callable[[Any, Any], Any], state: Any, run: _Run[Any, Any],
              index: int) -> bool:
    """Run a pending task in this process; False when it raised (it stays pending)."""
    started = time.perf_counter()
    try:
        value = work(state, run.pending[index])
    except Exception:
        return False
    run.own[0] += time.perf_counter() - started
    run.own[1] += 1
    run.pending.pop(index)
    run.results[index] = value
    return True


def _patience(run: _Run[Any, Any], workers: list[_Worker], following: int) -> float | None:
    """How long to wait for the next result before running its task here (None: as long as
    it takes): until its worker has taken SLOWER times as long as this process takes on
    average for it and the tasks it held before it."""
    if not run.own[1] or following not in run.handed or following in run.taken:
        return None
    holder = next((w for w in workers if following in w.held), None)
    if holder is None:
        return None
    mean = run.own[0] / run.own[1]
    due = run.handed[following] + SLOWER * mean * (holder.held.index(following) + 1)
    return max(0.0, due - time.perf_counter())


def _receive(run: _Run[Any, Any], workers: list[_Worker], tasks_per_worker: int | None, *,
             timeout: float | None) -> bool:
    """Take in the results workers have sent, waiting up to `timeout` seconds (None: until
    one comes); True when a worker failed."""
    busy = {w.conn: w for w in workers if w.held}
    if not busy:
        return False
    failed = False
    for ready in wait(list(busy), timeout=timeout):
        worker = busy[ready]  # type: ignore[index]
        while True:
            try:
                index, status, value = worker.conn.recv()
            except (EOFError, OSError):
                failed = True
                _retire(workers, worker, kill=True)
                break
            if status != _OK or index != worker.task:
                failed = True
                _retire(workers, worker, kill=True)
                break
            worker.held.pop(0)
            run.handed.pop(index, None)
            if index in run.taken:  # run here meanwhile: its result stands
                run.taken.discard(index)
            else:
                run.pending.pop(index)
                run.results[index] = value
            worker.done += 1
            if not worker.held and tasks_per_worker is not None and \
                    worker.done >= tasks_per_worker:
                _retire(workers, worker, kill=False)
                break
            if not worker.held or not worker.conn.poll():
                break
    return failed


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


@contextmanager
def long_lived_heap() -> Iterator[None]:
    """The garbage collector's policy for a long run over a large heap (a scan's two passes).

    Almost everything a scan allocates either dies young (a record, its findings) or lives to
    the end (the Inventory, the policies, the project index, which pass 1 builds and pass 2
    reads). The collector's full collections walk every tracked object each time, and the
    heap is large and keeps growing through pass 1, so at 1M assets 22 of them took a fifth
    of the CPU time to free a few hundred objects. Here whatever was alive when the block
    began, and whatever survives a full collection inside it, is moved to the permanent
    generation (`gc.freeze`): later full collections walk only what is newer. The youngest
    generation is collected every YOUNG_THRESHOLD allocations (not 700), so fewer objects
    that die soon anyway are promoted; short-lived cycles are still freed. On leaving,
    everything is unfrozen (a long-lived process, a test run, gets its heap back as it was).
    A heap the caller froze, or a collector the caller disabled, is left alone.
    """
    # (gc.get_freeze_count walks the frozen objects: asked only when nothing here froze them)
    if _holding[0] or not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.callbacks.append(_freeze_survivors)
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    _holding[0] = True
    try:
        yield
    finally:
        _holding[0] = False
        gc.set_threshold(*thresholds)
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(_freeze_survivors)
        gc.unfreeze()


def settle_heap() -> None:
    """Inside `long_lived_heap`: what is alive now lives to the end (a pass just built it), so
    it goes to the permanent generation at once instead of after the next collections walk
    it only to find it alive (the first youngest-generation collection after pass 1 walked
    all it kept: 0.2 CPU s at 200,000 assets). Outside it, nothing: a heap frozen there would
    never be unfrozen."""
    if _holding[0]:
        gc.freeze()


def _fork(work: Callable[[Any, Any], Any], state: Any, workers: list[_Worker], *,
          threaded: bool = False) -> _Worker | None:
    parent_end, child_end = Pipe(duplex=True)
    gc.freeze()  # the inherited heap stays shared: no collector pass in the worker touches it
    try:
        pid = os.fork()
    except OSError:
        parent_end.close()
        child_end.close()
        return None
    if pid == 0:  # pragma: no cover - runs in the worker
        code = 1
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what stops
            parent_end.close()
            for other in workers:
                other.conn.close()
            (_serve_threaded if threaded else _serve)(work, state, child_end)
            code = 0
        finally:
            os._exit(code)
    child_end.close()
    return _Worker(pid, parent_end)


def _serve(work: Callable[[Any, Any], Any], state: Any, conn: Connection,
           put: Callable[[tuple[int, str, Any]], Any] | None = None,
           ) -> None:  # pragma: no cover - runs in the worker
    """Judge the tasks `conn` hands over until it closes, each result (or the first failure,
    which ends the loop) given to `put` (default: sent back on `conn`)."""
    put = conn.send if put is None else put
    while True:
        try:
            index, task = conn.recv()
        except EOFError:
            return
        try:
            result = work(state, task)
        except BaseException as exc:
            put((index, _FAILED, repr(exc)))
            return
        put((index, _OK, result))


def _serve_threaded(work: Callable[[Any, Any], Any], state: Any,
                    conn: Connection) -> None:  # pragma: no cover - runs in the worker
    """`_serve`, with results sent by a thread of their own: a result larger than the pipe
    holds does not keep the worker from its next task while the parent is busy with one."""
    import queue
    import threading

    out: queue.SimpleQueue[tuple[int, str, Any] | None] = queue.SimpleQueue()

    def send() -> None:
        while (item := out.get()) is not None:
            try:
                conn.send(item)
            except OSError:
                return

    sender = threading.Thread(target=send, name="phiguard-results", daemon=True)
    sender.start()
    try:
        _serve(work, state, conn, out.put)
    finally:
        out.put(None)
        sender.join()


def _retire(workers: list[_Worker], worker: _Worker, *, kill: bool) -> None:
    """Stop a worker (closing its pipe ends its loop; `kill` does not wait for it) and reap it."""
    workers.remove(worker)
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
    worker.conn.close()
    with contextlib.suppress(ChildProcessError):
        os.waitpid(worker.pid, 0)
