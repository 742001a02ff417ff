"""``aistpp demo``: synthetic dataset -> preprocess (or detect) -> calibrate -> triangulate -> fit-smpl -> vis."""

from __future__ import annotations

from rich.table import Table

from aistpp.commands._common import console, err_console, options_from, user_errors
from aistpp.config import build_config
from aistpp.pipeline.demo import DemoConfig

OPTIONS = ("out", "seed", "sequences", "frames", "videos", "overwrite", "from_video", "workers")


@user_errors
@options_from(DemoConfig, OPTIONS)
def command(given: dict) -> None:
    from aistpp.pipeline.demo import run_demo

    cfg = build_config(DemoConfig, given)
    with console.status("demo") as status:
        summary = run_demo(cfg, on_step=lambda s: status.update(f"demo: {s}"))
    table = Table(title=f"aistpp demo in {cfg.out} (errors against the synthetic ground truth)")
    for col in ("step", "seconds", "check", "result"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for s in summary["steps"]:
        table.add_row(s["step"], f"{s['seconds']:.1f}", s.get("metric", ""), s.get("value", ""))
    table.add_row("total", f"{summary['total_seconds']:.1f}", "", "")
    console.print(table)
    for line in summary["warnings"]:  # the steps ran quiet: what they warned of, under the table
        err_console.print(f"[yellow]warning[/] {line}", highlight=False, soft_wrap=True)
    for path in summary["videos"]:
        console.print(f"video: {path}")
