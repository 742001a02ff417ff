"""Map a per-sequence job over many sequences: serial, local processes, or Ray.

A job is a picklable callable ``job(name) -> dict | None`` (a module-level function, or a
``functools.partial`` of one) that reads its inputs, computes, and writes its outputs
atomically. The runner skips names whose outputs all exist (unless ``overwrite``), isolates
failures (one failing sequence does not stop the others), shows progress (and the stages
jobs report with ``report_stage``), and returns a report; commands turn a report with failures
into exit code 2 when every failure is bad input (an ``AistppError``), else 1.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Literal, Sequence

from pydantic import BaseModel, Field

from aistpp.errors import AistppError

Executor = Literal["serial", "processes", "ray"]


class RunOptions(BaseModel):
    """How to run a batch (shared by every multi-sequence command). The descriptions are the options' help."""

    executor: Executor = Field("processes", description="How sequences run: one after another, in local "
                               "processes, or on Ray.")
    workers: int | None = Field(default=None, ge=1, le=1024, description="Parallel workers.",
                                json_schema_extra={"unset": "number of cores"})
    overwrite: bool = Field(False, description="Redo sequences whose outputs exist (else skip them).")
    dry_run: bool = Field(False, description="List what would run, run nothing.")
    quiet: bool = Field(False, description="No progress bar (for scripts).")
    report: Path | None = Field(None, description="Write a JSON report of the run here.")
    log_file: Path | None = Field(None, description="Append one JSON line per sequence here.")
    ray_address: str | None = Field(None, description="Ray cluster address (auto or HOST:PORT).",
                                    json_schema_extra={"unset": "start a local Ray"})
    gpus_per_task: float = Field(default=1.0, ge=0, description="GPU share each Ray task asks for with --device cuda.")
    device: str = "cpu"
    split: str | None = Field(None, description="Process the sequences of splits/<NAME>.txt.")
    include_ignored: bool = Field(False, description="Also process sequences on ignore_list.txt (else skip them).")

    def num_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass
class ItemResult:
    name: str
    status: Literal["done", "skipped", "failed", "pending"]
    seconds: float = 0.0
    info: dict = field(default_factory=dict)
    error: str = ""
    bad_input: bool = False  # the failure is an AistppError (bad input), not a bug


@dataclass
class RunReport:
    title: str
    items: list[ItemResult]
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for it in self.items if it.status == status)

    @property
    def failed(self) -> list[ItemResult]:
        return [it for it in self.items if it.status == "failed"]

    def to_json(self) -> dict:
        return {
            "title": self.title,
            "done": self.count("done"), "skipped": self.count("skipped"), "failed": self.count("failed"),
            "interrupted": self.interrupted,
            "items": [asdict(it) for it in self.items],
        }  # fmt: skip


def _call(job: Callable[[str], dict | None], name: str) -> ItemResult:
    """Run one job, catching its failure (user errors in one line, bugs with a traceback)."""
    global _stages_seen
    start = time.perf_counter()
    _stages_seen = []
    if _stage_sink is not None:
        _stage_sink(name, _STARTED)
    try:
        info = job(name) or {}
        if _stages_seen:
            info.setdefault("stages", list(_stages_seen))
        return ItemResult(name, "done", time.perf_counter() - start, info)
    except AistppError as exc:
        return ItemResult(name, "failed", time.perf_counter() - start, _stage_info(), str(exc), bad_input=True)
    except Exception as exc:  # a bug of ours: keep the traceback in the error text
        tb = traceback.format_exc(limit=8)
        return ItemResult(name, "failed", time.perf_counter() - start, _stage_info(), f"{type(exc).__name__}: {exc}\n{tb}")


def _stage_info() -> dict:
    """A failed job's stages: where it was when it failed."""
    return {"stages": list(_stages_seen)} if _stages_seen else {}


# ---- per-sequence stages: a long job says where it is; the runner shows it ------------------
_stage_sink: Callable[[str, str], None] | None = None  # live display (this process, or a queue to it)
_stages_seen: list[str] | None = None  # the stages of the job running in this process


def report_stage(name: str, stage: str) -> None:
    """Called by a job: sequence ``name`` entered ``stage`` (e.g. "fit body"). Shown beside the
    progress bar while it runs, and kept in the report (``info["stages"]``); a no-op outside
    the runner."""
    if _stages_seen is not None:
        _stages_seen.append(stage)
    if _stage_sink is not None:
        _stage_sink(name, stage)


def _worker_init(threads: int, stages=None, parent: int | None = None) -> None:
    """In each worker process: die with the parent (even on SIGKILL), leave Ctrl-C to the
    parent (it stops the pool), send stages to the parent's queue, and cap torch's threads so
    workers x threads fits the cores. torch is only touched if already imported (importing it
    costs seconds per worker for steps that never use it)."""
    global _stage_sink
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if stages is not None:
        _stage_sink = lambda name, stage: stages.put((name, stage))  # noqa: E731
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _die_with_parent(parent: int | None) -> None:
    """Linux: ask the kernel for SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG); elsewhere,
    and in case the parent died before that call, a thread that exits once re-parented."""
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    import threading

    threading.Thread(target=watch, daemon=True, name="aistpp-parent-watch").start()


def _owner_alive(tmp: Path, output: Path) -> int | None:
    """The pid of the live process that owns temporary ``tmp`` (``formats.atomic_path`` names
    it ``.<output>.<pid>-<random>.tmp``), or None (no owner named, or it is gone)."""
    middle = tmp.name[len(output.name) + 2:-len(".tmp")]
    pid_text = middle.split("-", 1)[0]
    if "-" not in middle or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except (PermissionError, OSError):
        pass  # exists (another user's process)
    # a reused pid: a live process that is not Python, or a temporary nobody wrote for an hour
    # (a run writes its temporaries within seconds; a video's grows as frames are added)
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        if cmdline.exists() and b"python" not in cmdline.read_bytes() and b"aistpp" not in cmdline.read_bytes():
            return None
    with contextlib.suppress(OSError):
        if time.time() - tmp.stat().st_mtime > STALE_TEMPORARY_S:
            return None
    return pid


STALE_TEMPORARY_S = 3600.0


def remove_stale_temporaries(outputs: Sequence[Path]) -> int:
    """Delete temporary files an interrupted run left beside ``outputs`` (``.<name>.*.tmp``,
    the pattern of ``formats.atomic_path``); returns how many. A temporary whose owner process
    is alive belongs to a run still writing: it is kept, and ``AistppError`` says so."""
    removed = 0
    for out in outputs:
        out = Path(out)
        if out.parent.is_dir():
            for tmp in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
                owner = _owner_alive(tmp, out)
                if owner is not None:
                    raise AistppError(f"another aistpp run (pid {owner}) is writing into this folder; wait for it "
                                      "to finish or stop it, then run again", out.parent)
                with contextlib.suppress(OSError):
                    tmp.unlink()
                    removed += 1
    return removed


def _check_writable_file(path: Path | None, what: str) -> None:
    """``--report`` / ``--log-file``: refuse a folder, a pipe or a device before any work."""
    if path is None:
        return
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise AistppError(f"cannot use this {what} ({exc.strerror})", path) from None
    if stat.S_ISDIR(st.st_mode):
        raise AistppError(f"the {what} is a folder; give a file name", path)
    if not stat.S_ISREG(st.st_mode):
        raise AistppError(f"the {what} is not a regular file (a pipe or a device?)", path)


def _written_since(outputs: Sequence[Path], since: float) -> bool:
    return is_complete(outputs) and all(Path(p).stat().st_mtime >= since - 1 for p in outputs)


def is_complete(outputs: Sequence[Path]) -> bool:
    return bool(outputs) and all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in outputs)


def run_jobs(job: Callable[[str], dict | None], names: Sequence[str], options: RunOptions,
             outputs: Callable[[str], Sequence[Path]] | None = None, title: str = "sequences") -> RunReport:
    """Run ``job`` over ``names``; skip a name whose ``outputs(name)`` all exist unless overwriting."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    run_start = time.time()
    results = {n: ItemResult(n, "pending") for n in names}
    todo = []
    for n in names:
        if outputs is not None and not options.overwrite and is_complete(outputs(n)):
            results[n].status = "skipped"
        else:
            todo.append(n)
    report = RunReport(title, list(results.values()))
    if options.dry_run:
        return report

    if outputs is not None:
        for n in todo:
            remove_stale_temporaries(outputs(n))
    for path, what in ((options.report, "report"), (options.log_file, "log file")):
        _check_writable_file(path, what)  # before any work, not after it
    log = None
    if options.log_file is not None:
        try:
            log = open(options.log_file, "a")  # noqa: SIM115
        except OSError as exc:
            raise AistppError(f"cannot write the log file ({exc.strerror})", options.log_file) from None
        for n in names:
            if results[n].status == "skipped":
                log.write(json.dumps(asdict(results[n])) + "\n")
    progress = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    stage_line = Progress(TextColumn("{task.description}"))  # what the running sequences are doing
    if options.quiet:
        display = contextlib.nullcontext()
    else:
        from rich.console import Group
        from rich.live import Live

        display = Live(Group(progress, stage_line), refresh_per_second=8, transient=False)
    global _stage_sink
    try:
        with display:
            bar = progress.add_task(title, total=len(todo))
            detail = stage_line.add_task("", total=None, visible=False)
            running: dict[str, str] = {}
            log_failed: list[OSError] = []

            def on_stage(name: str, stage: str) -> None:
                if stage == _STARTED:
                    return
                running[name] = stage
                text = " | ".join(f"{n}: {s}" for n, s in list(running.items())[-4:])
                stage_line.update(detail, description=f"  {text}", visible=True)

            def done(res: ItemResult) -> None:
                running.pop(res.name, None)
                if not running:
                    stage_line.update(detail, visible=False)
                results[res.name] = res
                progress.advance(bar)
                if log is not None and not log_failed:  # one line per sequence as it ends: a killed run keeps its log
                    try:
                        log.write(json.dumps(asdict(res)) + "\n")
                        log.flush()
                    except OSError as exc:  # a full disk: the outputs matter more than the log
                        import warnings

                        from aistpp.errors import AistppWarning

                        warnings.warn(f"{options.log_file}: cannot write the log any more ({exc.strerror}); "
                                      "the run goes on", AistppWarning, stacklevel=2)
                        log_failed.append(exc)

            workers = min(options.num_workers(), max(1, len(todo)))
            if options.executor == "serial" or workers == 1 and options.executor != "ray":
                _stage_sink = on_stage
                for n in todo:
                    done(_call(job, n))
            elif options.executor == "processes":
                _run_pool(job, todo, workers, done, on_stage)
            else:
                from aistpp.core.ray_backend import run_on_ray

                run_on_ray(_call, job, todo, options, done)
    except KeyboardInterrupt:
        report.interrupted = True
        if outputs is not None:  # outputs a job finished writing before its result came back
            for n in todo:
                if results[n].status == "pending" and _written_since(outputs(n), run_start):
                    results[n] = ItemResult(n, "done", 0.0, {"note": "written before the interruption"})
    finally:
        _stage_sink = None
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()
    report.items = [results[n] for n in names]
    if options.report is not None:
        from aistpp.core.formats import save_json

        save_json(options.report, report.to_json())
    return report


_STARTED = "\x00started"  # sent by a job as it starts (so a dead worker's sequence is known)
WORKER_DIED = ("the worker process died while running this sequence (killed, out of memory, or a crash in "
               "compiled code); the other sequences were finished")


def _run_pool(job: Callable, todo: list[str], workers: int, done: Callable[[ItemResult], None],
              on_stage: Callable[[str, str], None]) -> None:
    """Local process pool. A worker that dies (``BrokenProcessPool``) costs only its sequence:
    the sequences that were running are rerun one at a time in a fresh pool (the one that kills
    its worker again is marked failed), the others continue in a fresh pool."""
    remaining, suspects = list(todo), []
    while remaining or suspects:
        if suspects:
            name = suspects.pop(0)
            if _pool_pass(job, [name], 1, done, on_stage) is not None:
                done(ItemResult(name, "failed", 0.0, {}, WORKER_DIED))
            continue
        broken = _pool_pass(job, remaining, workers, done, on_stage)
        if broken is None:
            return
        unfinished, started = broken
        suspects = [n for n in unfinished if n in started] or list(unfinished)
        remaining = [n for n in unfinished if n not in suspects]


def _pool_pass(job: Callable, todo: list[str], workers: int, done: Callable[[ItemResult], None],
               on_stage: Callable[[str, str], None]) -> tuple[list[str], set[str]] | None:
    """One pool over ``todo``: None when every job ended, or (unfinished names, started names)
    when the pool broke. On Ctrl-C cancel what has not started and stop the workers at once
    (their outputs are atomic, so a stopped job leaves at most a temporary file, removed on
    rerun); results already finished are kept. Workers send their stages through a queue."""
    import multiprocessing
    import queue
    from concurrent.futures.process import BrokenProcessPool

    threads = max(1, (os.cpu_count() or 1) // workers)
    stages = multiprocessing.get_context().Queue()
    pool = ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(threads, stages, os.getpid()))
    started: set[str] = set()

    def drain() -> None:
        while True:
            try:
                name, stage = stages.get_nowait()
            except (queue.Empty, OSError, ValueError, EOFError):
                return
            if stage == _STARTED:
                started.add(name)
            else:
                on_stage(name, stage)

    futures: dict = {}
    handled: set = set()
    reported: set[str] = set()

    def harvest(finished) -> list[str]:
        """Pass on finished results; the names whose worker died."""
        lost = []
        for fut in finished:
            if fut in handled:
                continue
            handled.add(fut)
            if fut.cancelled() or isinstance(fut.exception(), BrokenProcessPool):
                lost.append(futures[fut])
                continue
            reported.add(futures[fut])
            if fut.exception() is not None:  # the result could not be sent back (unpicklable...)
                done(ItemResult(futures[fut], "failed", 0.0, {}, f"{type(fut.exception()).__name__}: {fut.exception()}"))
            else:
                done(fut.result())
        return lost

    try:
        for n in todo:
            futures[pool.submit(_call, job, n)] = n
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            lost = harvest(finished)
            if lost:
                raise BrokenProcessPool
    except BrokenProcessPool:  # a worker died (submit() raises it too, if one died early)
        wait(set(futures), timeout=5)
        drain()
        harvest({f for f in futures if f.done()})
        _stop(pool, stages)
        return [n for n in todo if n not in reported], started
    except BaseException:
        with contextlib.suppress(Exception):
            harvest({f for f in futures if f.done()})  # what finished before the interruption counts
        _stop(pool, stages)
        raise
    pool.shutdown(wait=True)
    return None


def _stop(pool: ProcessPoolExecutor, stages) -> None:
    """Cancel what has not started and stop the workers now."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.terminate()
    # let the pool's manager thread see the stopped workers and end now: left to the
    # interpreter's exit, it can race with its wake-up pipe ("Bad file descriptor")
    with contextlib.suppress(Exception):
        pool.shutdown(wait=True)
    stages.close()
    stages.cancel_join_thread()
