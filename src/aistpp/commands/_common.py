"""Options and helpers shared by the thin Typer commands."""

from __future__ import annotations

import functools
import inspect
import types
import typing
import warnings
from pathlib import Path
from typing import Annotated, Any, Callable, Optional, Sequence

import typer
from pydantic import BaseModel
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.table import Table
from typer._click.exceptions import UsageError  # typer vendors click (typer >= 0.29)
from typer.core import TyperCommand

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

# ---- options generated from a config model -------------------------------------------------
# A command names the fields of its pydantic config that it offers as options, in help order; each
# option's type, choices (Literal), range (ge/le), default and help come from the model. A bool field
# is ``--name`` when it defaults to False, ``--name/--no-name`` when True; an entry may give the flags
# itself ("--labels/--no-labels").
SELECT = ("sequence_names", "split", "--include-ignored/--skip-ignored")
BATCH = ("workers", "executor", "ray_address", "--overwrite/--no-overwrite", "dry_run", "quiet", "report", "log_file")

ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="TOML file supplying any option (command-line values win).")]


def batch_options(select: bool = True, gpus: bool = False) -> tuple[str, ...]:
    """The runner's options of a batch command: the sequence selection when ``select``, workers ...
    log file, and ``--gpus-per-task`` when ``gpus``."""
    return (*(SELECT if select else ()), *BATCH, *(("gpus_per_task",) if gpus else ()))


def shared_option(name: str, required: bool = False) -> Any:
    """``typer.Option`` of a field many configs share (``FIELD_HELP``), for commands without a config model."""
    from aistpp.config import FIELD_HELP

    text, unset = FIELD_HELP[name]
    return typer.Option("--" + name.replace("_", "-"), help=text, show_default=(unset or False) if not required else False)


def options_from(model: type[BaseModel], options: Sequence[str]) -> Callable:
    """Give a command the options ``options`` (field names, or flags for a bool field) of ``model``.

    The command is ``fn(given, ...)``: ``given`` holds only the values typed on the command line
    (``--a,b`` lists split), for ``build_config(model, given, config, section)`` to put over the
    ``--config`` TOML file, itself over the model's defaults. Its other parameters (``config``, options
    that are no config field) stay as they are, after the generated ones."""
    generated = [_option(model, spec) for spec in options]
    lists = {p.name for p in generated if typing.get_origin(_strip_optional(p.annotation.__origin__)) is list}

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for name, p in sig.parameters.items() if name != "given"]
        ctx = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
        params = [ctx, *generated, *own]

        @functools.wraps(fn)
        def wrapper(ctx: typer.Context, **kwargs):
            given = {}
            for p in generated:
                value = kwargs.pop(p.name)
                source = ctx.get_parameter_source(p.name)
                if source is not None and source.name != "DEFAULT":
                    given[p.name] = split_names(value) if p.name in lists else value
            return fn(given, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


def _strip_optional(annotation: Any) -> Any:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else str
    return annotation


def _option(model: type[BaseModel], spec: str) -> inspect.Parameter:
    """The Typer parameter of one field: its type, flags, default, choices, range and help."""
    from aistpp.config import FIELD_HELP

    name = spec.split("/")[0].removeprefix("--").replace("-", "_") if spec.startswith("--") else spec
    field = model.model_fields[name]
    shared_help, shared_unset = FIELD_HELP.get(name, (None, None))
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    kind = _strip_optional(field.annotation)
    metavar = extra.get("metavar")
    if typing.get_origin(kind) is list:
        item = typing.get_args(kind)[0]
        choices = typing.get_args(item) if typing.get_origin(item) is typing.Literal else ("str",)
        metavar = metavar or "<" + "|".join(map(str, choices)) + ">,..."
        kind = list[str]
    elif not (typing.get_origin(kind) is typing.Literal or kind in (str, int, float, bool, Path)):
        kind = str  # parsed by the model's validator (e.g. WIDTHxHEIGHT)
    required = field.is_required()
    default = None if required else field.get_default(call_default_factory=True)
    flag = "--" + name.replace("_", "-")
    if spec.startswith("--"):
        flag = spec
    elif kind is bool and default:
        flag = f"{flag}/--no-{flag[2:]}"
    text = (field.description or shared_help or "").strip()
    if required:
        text += " Required, here or in --config."
    unset = extra.get("unset") or shared_unset
    kwargs: dict[str, Any] = dict(help=text, show_default=(unset or False) if default is None else True)
    if typing.get_origin(kind) is typing.Literal:  # any case accepted; the choices shown as the model spells them
        kwargs["case_sensitive"] = False
        metavar = metavar or "<" + "|".join(map(str, typing.get_args(kind))) + ">"
    if metavar:
        kwargs["metavar"] = metavar
    for bound in field.metadata:
        if getattr(bound, "ge", None) is not None:
            kwargs["min"] = bound.ge
        if getattr(bound, "le", None) is not None:
            kwargs["max"] = bound.le
    annotation = Optional[kind] if default is None else kind
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, typer.Option(flag, **kwargs)])


def split_names(values: list[str] | None) -> list[str] | None:
    """``--sequence-names a,b --sequence-names c`` -> [a, b, c]."""
    if not values:
        return None
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


class OneLineUsageErrors(TyperCommand):
    """A command whose usage errors (a value out of range or not a choice, a missing or unknown option)
    print as one line on stderr with exit 2, like every other user error (Typer's own is a box)."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            message = exc.format_message().replace("Value error, ", "")  # pydantic's prefix in typer's message
            err_console.print(f"[bold red]error:[/] {escape(message)}{where}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None


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


def run_batch(cfg: Any, run: Callable[[Any], RunReport], columns: tuple[str, ...] = (),
              notes: Callable[[RunReport], None] | None = None) -> RunReport | None:
    """Run a batch command's pipeline ``run(cfg)``. With ``--dry-run``: what would run (returns None).
    Else: each item's ``info["warnings"]``, ``notes(report)`` (the command's own warnings), the table of
    ``columns`` and the done/skipped/failed line (exit 1 or 2 on failures, see ``print_report``)."""
    report = run(cfg)
    if cfg.dry_run:
        print_dry_run(report)
        return None
    for it in report.items:
        for warning in it.info.get("warnings", []):
            err_console.print(f"[yellow]warning[/] {it.name}: {warning}", highlight=False, soft_wrap=True)
    if notes is not None:
        notes(report)
    print_report(report, columns=columns, quiet=cfg.quiet)
    return report
