"""Options and helpers shared by the thin Typer commands."""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table

from aistpp.core.runner import RunReport
from aistpp.errors import AistppError, AistppWarning

PIPED_WIDTH = 10_000  # columns of output that is not a terminal (a log, a pipe): tables print whole


class WideWhenPiped(Console):
    """A rich console that, when its output is not a terminal (a file, a pipe; ``COLUMNS`` then ignored), is
    as wide as its widest line instead of 80 columns: tables print whole in logs and pipes."""

    @property
    def size(self) -> ConsoleDimensions:
        size = Console.size.fget(self)
        if self.is_terminal or self._width is not None:
            return size
        return ConsoleDimensions(PIPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)


console = WideWhenPiped()
err_console = WideWhenPiped(stderr=True)

# ---- shared option types (Typer style: Annotated) ------------------------------------
AnnoDir = Annotated[Optional[Path], typer.Option("--anno-dir", help="AIST++ annotation folder (motions/, keypoints2d/, keypoints3d/, cameras/, splits/).")]
VideoDir = Annotated[Optional[Path], typer.Option("--video-dir", help="Folder of the videos, <video_name>.mp4.")]
SmplDir = Annotated[Optional[Path], typer.Option("--smpl-dir", help="Folder holding SMPL_NEUTRAL.pkl, SMPL_MALE.pkl (the released motions' model), SMPL_FEMALE.pkl.")]
SaveDir = Annotated[Optional[Path], typer.Option("--save-dir", help="Output folder (created if missing).")]
KeypointsDir = Annotated[Optional[Path], typer.Option("--keypoints-dir", help="Folder of 2D detections, one subfolder or file per video.")]
CamerasDir = Annotated[Optional[Path], typer.Option("--cameras-dir", help="Camera folder (mapping.txt, <setting>.json); default <anno-dir>/cameras.")]
SequenceNames = Annotated[Optional[list[str]], typer.Option("--sequence-names", help="Sequences to process (repeat or comma-separate); default all.")]
Split = Annotated[Optional[str], typer.Option("--split", help="Process the sequences of splits/<NAME>.txt.")]
IncludeIgnored = Annotated[Optional[bool], typer.Option("--include-ignored/--skip-ignored", help="Also process sequences on ignore_list.txt (default: skip them).")]
Device = Annotated[Optional[str], typer.Option("--device", help="auto, cpu or cuda (cuda fails clearly when absent). Default auto.")]
Workers = Annotated[Optional[int], typer.Option("--workers", min=1, help="Parallel workers (default: number of cores).")]
ExecutorOpt = Annotated[Optional[str], typer.Option("--executor", help="serial, processes (default) or ray.")]
RayAddress = Annotated[Optional[str], typer.Option("--ray-address", help="Ray cluster address (auto or HOST:PORT); default: start a local Ray.")]
GpusPerTask = Annotated[Optional[float], typer.Option("--gpus-per-task", help="GPU share each Ray task asks for with --device cuda (default 1).")]
Overwrite = Annotated[Optional[bool], typer.Option("--overwrite/--no-overwrite", help="Redo sequences whose outputs exist (default: skip them).")]
DryRun = Annotated[Optional[bool], typer.Option("--dry-run", help="List what would run, run nothing.")]
Quiet = Annotated[Optional[bool], typer.Option("--quiet", help="No progress bar (for scripts).")]
ReportFile = Annotated[Optional[Path], typer.Option("--report", help="Write a JSON report of the run here.")]
LogFile = Annotated[Optional[Path], typer.Option("--log-file", help="Append one JSON line per sequence here.")]
MotionGender = Annotated[Optional[str], typer.Option("--gender", help="Body model the motions were made with: neutral, male or female (default: the motion's smpl_gender, else male, the model the released AIST++ motions were fitted with).")]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="TOML file supplying any option (command-line values win).")]


RUNNER_OPTIONS = {"workers": Workers, "executor": ExecutorOpt, "ray_address": RayAddress, "overwrite": Overwrite,
                  "dry_run": DryRun, "quiet": Quiet, "report": ReportFile, "log_file": LogFile}
SELECTION_OPTIONS = {"sequence_names": SequenceNames, "split": Split, "include_ignored": IncludeIgnored}


def runner_options(select: bool = True, gpus: bool = False) -> Callable:
    """Give a batch command the shared runner options (``--workers`` ... ``--log-file``), the
    sequence selection (``--sequence-names``, ``--split``, ``--include-ignored``) when
    ``select``, and ``--gpus-per-task`` when ``gpus``. The command declares a ``run`` parameter
    and receives them there as a dict of config values (``None`` = not given)."""
    extra = {**(SELECTION_OPTIONS if select else {}), **RUNNER_OPTIONS, **({"gpus_per_task": GpusPerTask} if gpus else {})}

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "run"]
        shared = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=a)
                  for n, a in extra.items()]
        last = [p for p in own if p.name == "config"]  # --config stays last in the help
        params = [p for p in own if p.name != "config"] + shared + last

        @functools.wraps(fn)
        def wrapper(**kwargs):
            run = {n: kwargs.pop(n, None) for n in extra}
            if "sequence_names" in run:
                run["sequence_names"] = split_names(run["sequence_names"])
            return fn(run=run, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


def split_names(values: list[str] | None) -> list[str] | None:
    """``--sequence-names a,b --sequence-names c`` -> [a, b, c]."""
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def user_errors(fn: Callable) -> Callable:
    """Print an ``AistppError`` as one line on stderr and exit 2 (no traceback); print an
    ``AistppWarning`` as one line too."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", AistppWarning)
                original = warnings.showwarning

                def show(message, category, *rest, **kw):
                    if issubclass(category, AistppWarning):
                        err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)
                    else:
                        original(message, category, *rest, **kw)

                warnings.showwarning = show
                return fn(*args, **kwargs)
        except AistppError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


def print_report(report: RunReport, columns: tuple[str, ...] = (), quiet: bool = False) -> None:
    """A rich table of a run (one row per sequence) and a done/skipped/failed line; exit 1 on failures."""
    if not quiet and report.items:
        table = Table(title=report.title)
        table.add_column("sequence")
        table.add_column("status")
        for col in columns:
            table.add_column(col, justify="right")
        table.add_column("s", justify="right")
        for it in report.items:
            style = {"failed": "red", "skipped": "dim", "pending": "yellow"}.get(it.status, "")
            cells = []
            for col in columns:
                v = it.info.get(col, "")
                cells.append(f"{v:.3g}" if isinstance(v, float) else str(v))
            status = it.status if it.status != "failed" else f"failed: {it.error.splitlines()[0] if it.error else ''}"
            table.add_row(it.name, f"[{style}]{status}[/]" if style else status, *cells, f"{it.seconds:.1f}")
        console.print(table)
    console.print(
        f"{report.title}: {report.count('done')} done, {report.count('skipped')} skipped, "
        f"{report.count('failed')} failed" + (", interrupted: run the same command again to resume" if report.interrupted else ""),
        soft_wrap=True,
    )
    for it in report.failed:
        err_console.print(f"[red]failed[/] {it.name}: {escape(it.error)}", highlight=False, soft_wrap=True)
    if report.interrupted:
        raise typer.Exit(130)
    if report.failed:
        # bad input (every failure an AistppError naming its file): 2, as for any user error;
        # anything else that failed: 1
        raise typer.Exit(2 if all(it.bad_input for it in report.failed) else 1)


def print_dry_run(report: RunReport) -> None:
    """``--dry-run``: what would run and what would be skipped, one line each, and a count."""
    for it in report.items:
        console.print(f"{it.name}: {'skip (output exists)' if it.status == 'skipped' else 'would run'}",
                      highlight=False)
    console.print(f"{report.title}: {report.count('pending')} would run, {report.count('skipped')} skipped "
                  "(dry run: nothing was written)")
