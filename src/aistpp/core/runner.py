"""Map a per-sequence job over many sequences: serial, local processes, or Ray.

A job is a picklable callable ``job(name) -> dict | None`` (a module-level function, or a
``functools.partial`` of one) that reads its inputs, computes, and writes its outputs
atomically. The runner skips names whose outputs all exist (unless ``overwrite``), isolates
failures (one failing sequence does not stop the others), shows progress, and returns a
report; commands turn a report with failures into exit code 1.
"""

from __future__ import annotations

import json
import os
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
    """How to run a batch (shared by every multi-sequence command)."""

    executor: Executor = "processes"
    workers: int | None = Field(default=None, ge=1, description="parallel workers (default: cores)")
    overwrite: bool = False
    dry_run: bool = False
    quiet: bool = False
    report: Path | None = None
    log_file: Path | None = None
    ray_address: str | None = None
    gpus_per_task: float = Field(default=1.0, ge=0)
    device: str = "cpu"

    def num_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass
class ItemResult:
    name: str
    status: Literal["done", "skipped", "failed", "pending"]
    seconds: float = 0.0
    info: dict = field(default_factory=dict)
    error: str = ""


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
    start = time.perf_counter()
    try:
        info = job(name) or {}
        return ItemResult(name, "done", time.perf_counter() - start, info)
    except AistppError as exc:
        return ItemResult(name, "failed", time.perf_counter() - start, error=str(exc))
    except Exception as exc:  # a bug of ours: keep the traceback in the error text
        tb = traceback.format_exc(limit=8)
        return ItemResult(name, "failed", time.perf_counter() - start, error=f"{type(exc).__name__}: {exc}\n{tb}")


def _worker_init(threads: int) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def is_complete(outputs: Sequence[Path]) -> bool:
    return bool(outputs) and all(Path(p).is_file() and Path(p).stat().st_size > 0 for p in outputs)


def run_jobs(job: Callable[[str], dict | None], names: Sequence[str], options: RunOptions,
             outputs: Callable[[str], Sequence[Path]] | None = None, title: str = "sequences") -> RunReport:
    """Run ``job`` over ``names``; skip a name whose ``outputs(name)`` all exist unless overwriting."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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

    progress = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        disable=options.quiet, transient=False)
    try:
        with progress:
            bar = progress.add_task(title, total=len(todo))

            def done(res: ItemResult) -> None:
                results[res.name] = res
                progress.advance(bar)

            workers = min(options.num_workers(), max(1, len(todo)))
            if options.executor == "serial" or workers == 1 and options.executor != "ray":
                for n in todo:
                    done(_call(job, n))
            elif options.executor == "processes":
                threads = max(1, (os.cpu_count() or 1) // workers)
                with ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(threads,)) as pool:
                    pending = {pool.submit(_call, job, n) for n in todo}
                    while pending:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            done(fut.result())
            else:
                from aistpp.core.ray_backend import run_on_ray

                run_on_ray(_call, job, todo, options, done)
    except KeyboardInterrupt:
        report.interrupted = True
    report.items = [results[n] for n in names]
    if options.report is not None:
        from aistpp.core.formats import save_json

        save_json(options.report, report.to_json())
    if options.log_file is not None:
        with open(options.log_file, "a") as f:
            for it in report.items:
                f.write(json.dumps(asdict(it)) + "\n")
    return report
