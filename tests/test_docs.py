"""docs/cli.md is the CLI as Typer sees it; every option has help text; README's commands are CI's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import typer
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.cli_reference import render_cli_reference

ROOT = Path(__file__).resolve().parents[1]


def _commands(group=None, prefix=""):
    """(name, command) of every command, subcommands of groups (aistpp cameras convert) included."""
    group = group or typer.main.get_command(app)
    ctx = typer.Context(group, info_name="aistpp")
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if hasattr(cmd, "list_commands"):
            out += _commands(cmd, f"{prefix}{name} ")
        else:
            out.append((f"{prefix}{name}", cmd))
    return out


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
        assert name.split()[0] in out, name
        assert f"## `aistpp {name}`" in doc, name


def test_every_option_has_help():
    missing = [f"{name} {p.opts[0]}" for name, cmd in _commands() for p in cmd.params
               if getattr(p, "param_type_name", "") == "option" and not (p.help or "").strip()]
    assert not missing, missing


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    commands = [line.strip() for b in blocks for line in b.splitlines() if line.strip() and not line.startswith("#")]
    assert "aistpp demo" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci, commands[1]


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_api_examples_run_on_a_synthetic_dataset(synth_data, tmp_path, monkeypatch, capsys):
    """docs/api.md's code blocks, in order, in one namespace, on synth data laid out as the doc says."""
    (tmp_path / "synth").symlink_to(synth_data.root, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    blocks = _python_blocks(ROOT / "docs" / "api.md")
    assert len(blocks) >= 6
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, "docs/api.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "median reprojection error" in out and "(120, 24, 3)" in out
    # the numbers the examples print are what they claim: optimised 3D keypoints near the truth
    seq = namespace["seq"]
    truth = synth_data.keypoints3d[seq]
    err = np.linalg.norm(namespace["both"]["keypoints3d_optim"] - truth, axis=-1)
    assert np.nanmedian(err) < 2.0
    assert namespace["report"].count("done") == len(synth_data.sequences)
    assert (tmp_path / "out" / "mine" / "motion.pkl").is_file()
