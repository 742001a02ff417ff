"""Render the CLI reference (docs/cli.md) from the Typer app itself, so the docs cannot drift.

``python -m aistpp.cli_reference > docs/cli.md`` regenerates it; a test checks it is current.
"""

from __future__ import annotations

import typer


def render_cli_reference() -> str:
    from aistpp.cli import app

    group = typer.main.get_command(app)
    ctx = typer.Context(group, info_name="aistpp")  # typer vendors click: no click import
    lines = ["# CLI reference", "", "Generated from `aistpp --help` by `python -m aistpp.cli_reference`; do not edit by hand.", ""]
    def document(cmd, path: str) -> None:
        if hasattr(cmd, "list_commands"):  # a group (aistpp cameras ...): its subcommands
            sub = typer.Context(cmd, info_name=path, parent=ctx)
            for name in cmd.list_commands(sub):
                document(cmd.get_command(sub, name), f"{path} {name}")
            return
        lines.extend([f"## `{path}`", "", (cmd.help or "").strip().splitlines()[0] if cmd.help else "", ""])
        args = [p for p in cmd.params if getattr(p, "param_type_name", "") == "argument"]
        if args:
            lines.append("Arguments: " + ", ".join(f"`{p.name.upper()}`" for p in args))
            lines.append("")
        lines.extend(["| option | help |", "|---|---|"])
        here = typer.Context(cmd, info_name=path, parent=ctx)
        for p in cmd.params:
            if getattr(p, "param_type_name", "") != "option" or getattr(p, "hidden", False):
                continue
            names, text = p.get_help_record(here)  # "--mode <2d|3d>", "help  [default: 2d; x>=0]"
            cells = (" / ".join(f"`{n.strip()}`" for n in names.split(" / ")), " ".join(text.split()))
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")

    for name in group.list_commands(ctx):
        document(group.get_command(ctx, name), f"aistpp {name}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_cli_reference())
