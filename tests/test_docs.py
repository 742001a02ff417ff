"""docs/cli.md is the CLI as Typer sees it; every option has help text; README's commands are CI's."""

from __future__ import annotations

import re
from pathlib import Path

import click
import typer
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.cli_reference import render_cli_reference

ROOT = Path(__file__).resolve().parents[1]


def _commands():
    group = typer.main.get_command(app)
    ctx = click.Context(group, info_name="aistpp")
    return [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]


def test_cli_reference_is_current():
    on_disk = (ROOT / "docs" / "cli.md").read_text()
    assert on_disk.strip() == render_cli_reference().strip(), (
        "docs/cli.md is stale: python -m aistpp.cli_reference > docs/cli.md")


def test_every_command_in_help_is_documented():
    out = CliRunner().invoke(app, ["--help"]).output
    doc = (ROOT / "docs" / "cli.md").read_text()
    listed = [name for name, _ in _commands()]
    assert len(listed) >= 9
    for name in listed:
        assert name in out, name
        assert f"## `aistpp {name}`" in doc, name


def test_every_option_has_help():
    missing = [f"{name} {p.opts[0]}" for name, cmd in _commands() for p in cmd.params
               if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not missing, missing


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    commands = [line.strip() for b in blocks for line in b.splitlines() if line.strip() and not line.startswith("#")]
    assert "aistpp demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci, commands[1]
