"""The command-line options are generated from the config models: --help shows each one's default and
choices as the model declares them, and a value comes from the command line, else --config, else the
model's default (a value typed on the command line wins even when it equals the default)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core.runner import RunReport
from aistpp.pipeline.vis import VisConfig

WIDE = {"COLUMNS": "400", "TERMINAL_WIDTH": "400"}


def _help_rows(command: str) -> dict[str, str]:
    """``--flag`` -> its whole row of ``aistpp <command> --help`` (one line each on a wide terminal)."""
    res = CliRunner().invoke(app, [command, "--help"], env=WIDE)
    assert res.exit_code == 0, res.output
    rows = {}
    for line in res.output.splitlines():
        m = re.match(r"[│|]\s+(--[\w-]+)", line)
        if m:
            rows[m.group(1)] = " ".join(line.split())
    return rows


def _choices(annotation) -> tuple:
    """The Literal values of a field's type (``Optional`` and ``list`` looked through)."""
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is typing.Literal:
            return typing.get_args(arg)
        if typing.get_origin(arg) is list:
            return _choices(typing.get_args(arg)[0])
    return ()


def _models():
    from aistpp.pipeline.calibrate import CalibrateConfig
    from aistpp.pipeline.demo import DemoConfig
    from aistpp.pipeline.detect import DetectConfig
    from aistpp.pipeline.export import ExportConfig
    from aistpp.pipeline.features import FeaturesConfig
    from aistpp.pipeline.fit_smpl import FitSmplConfig
    from aistpp.pipeline.preprocess import PreprocessConfig
    from aistpp.pipeline.synth.generate import SynthConfig
    from aistpp.pipeline.triangulate import TriangulateConfig
    from aistpp.pipeline.view.scene import ViewConfig

    return {"vis": VisConfig, "view": ViewConfig, "detect": DetectConfig, "preprocess": PreprocessConfig,
            "calibrate": CalibrateConfig, "triangulate": TriangulateConfig, "fit-smpl": FitSmplConfig,
            "export": ExportConfig, "features": FeaturesConfig, "synth": SynthConfig, "demo": DemoConfig}


def _shown(default) -> str:
    """How click prints a default in ``[default: ...]``."""
    if isinstance(default, (list, tuple)):
        return ", ".join(map(str, default))
    return str(default)


def _check_help_against_model(command: str, model=None) -> tuple[int, int]:
    """Every option that is a field of ``model`` shows the field's default and choices; no help restates a
    default in prose. Returns (defaults, choice lists) checked."""
    rows = _help_rows(command)
    seen_default = seen_choices = 0
    for flag, row in rows.items():
        assert re.search(r"\(default[ :]|\bdefault [0-9]|Default:", row) is None, f"prose restates a default: {row}"
        name = flag[2:].replace("-", "_")
        field = model.model_fields.get(name) if model is not None else None
        if field is None:
            continue
        choices = _choices(field.annotation)
        if choices:
            assert f"<{'|'.join(map(str, choices))}>" in row, (command, name, row)
            seen_choices += 1
        if field.is_required():
            assert "Required" in row and "[default:" not in row, row
            continue
        default = field.default
        if default is None or default is False:  # unset: explained in words; a False flag: nothing to show
            continue
        shown = name.replace("_", "-") if default is True else _shown(default)
        assert f"[default: {shown}" in row, (command, name, row)
        seen_default += 1
    return seen_default, seen_choices


def test_vis_help_shows_every_default_and_choice_of_the_model():
    rows = _help_rows("vis")
    offered = [name for name in VisConfig.model_fields if "--" + name.replace("_", "-") in rows]
    assert len(offered) >= 20, offered
    defaults, choices = _check_help_against_model("vis", VisConfig)
    assert defaults >= 5 and choices >= 3, (defaults, choices)
    assert "[default: no-labels]" in rows["--labels"] and "<serial|processes|ray>" in rows["--executor"]
    assert "[default: serial]" in rows["--executor"]  # vis's own default, not the runner's "processes"
    assert "<2d|3d|smpl|mesh>" in rows["--mode"] and "[default: 2d]" in rows["--mode"]


@pytest.mark.parametrize("command", ["view", "detect", "preprocess", "calibrate", "triangulate", "fit-smpl",
                                     "export", "features", "synth", "demo"])
def test_every_commands_help_shows_its_models_defaults_and_choices(command):
    defaults, _ = _check_help_against_model(command, _models()[command])
    assert defaults >= 2


def test_commands_without_a_model_restate_no_default_either():
    for command in ("info", "compare", "metrics"):
        _check_help_against_model(command, None)


@pytest.fixture
def captured(monkeypatch):
    """Run ``aistpp vis`` up to its pipeline call; return the VisConfig it would run with."""
    import aistpp.pipeline.vis as vis

    seen = {}

    def fake_run(cfg):
        seen["cfg"] = cfg
        return RunReport("vis", [])

    monkeypatch.setattr(vis, "run_vis", fake_run)
    return seen


BASE = ["vis", "--anno-dir", "A", "--save-dir", "S", "--video-name", "gBR_sBM_c01_d04_mBR0_ch01", "--quiet"]
# one option of each kind: (field, TOML text, the value it gives, command line, the value it gives)
KINDS = [
    ("mode", 'mode = "3d"', "3d", ["--mode", "2d"], "2d"),  # str Literal; the CLI value is the default
    ("start", "start = 7", 7, ["--start", "0"], 0),  # int
    ("min_confidence", "min_confidence = 0.5", 0.5, ["--min-confidence", "0.25"], 0.25),  # float
    ("labels", "labels = true", True, ["--no-labels"], False),  # bool flag
    ("music_dir", 'music_dir = "from_toml"', Path("from_toml"), ["--music-dir", "cli"], Path("cli")),  # path
    ("views", 'views = ["c02", "c05"]', ["c02", "c05"], ["--views", "c01,c03"], ["c01", "c03"]),  # list
]


@pytest.mark.parametrize("field, toml, toml_value, cli, cli_value", KINDS, ids=[k[0] for k in KINDS])
def test_command_line_over_toml_over_default(field, toml, toml_value, cli, cli_value, captured, tmp_path):
    default = VisConfig.model_fields[field].default
    assert default != toml_value and toml_value != cli_value
    config = tmp_path / "c.toml"
    config.write_text(f"[vis]\n{toml}\n")

    def run(*args):
        res = CliRunner().invoke(app, [*BASE, *args])
        assert res.exit_code == 0, res.output
        return getattr(captured.pop("cfg"), field)

    assert run() == default
    assert run("--config", str(config)) == toml_value
    assert run("--config", str(config), *cli) == cli_value
    assert run(*cli) == cli_value


def test_required_options_come_from_the_command_line_or_the_toml(captured, tmp_path):
    res = CliRunner().invoke(app, ["vis", "--save-dir", "S"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--anno-dir" in lines[0] and "--video-name" in lines[0] and "--save-dir" not in lines[0]
    config = tmp_path / "c.toml"
    config.write_text('anno_dir = "A"\nvideo_name = "gBR_sBM_c01_d04_mBR0_ch01"\n')
    res = CliRunner().invoke(app, ["vis", "--save-dir", "S", "--config", str(config)])
    assert res.exit_code == 0, res.output
    assert captured["cfg"].anno_dir == Path("A") and captured["cfg"].save_dir == Path("S")


def test_workers_without_executor_run_vis_in_processes(captured, tmp_path):
    """vis draws serially by default; a worker count, on the command line or in TOML, means processes
    unless an executor is named."""
    def executor(*args):
        assert CliRunner().invoke(app, [*BASE, *args]).exit_code == 0
        return captured.pop("cfg").executor

    config = tmp_path / "c.toml"
    config.write_text("workers = 3\n")
    assert executor() == "serial"
    assert executor("--workers", "2") == "processes"
    assert executor("--config", str(config)) == "processes"
    assert executor("--workers", "2", "--executor", "serial") == "serial"


def test_a_bad_choice_or_range_is_one_line_before_any_work(captured):
    """Typer's checks (a choice, a range, a missing option) print one line with exit 2, as our own errors do."""
    for args, expected in (([*BASE, "--mode", "4d"], "'4d' is not one of '2d', '3d', 'smpl', 'mesh'"),
                           ([*BASE, "--min-confidence", "1.5"], "--min-confidence"),
                           ([*BASE, "--workers", "0"], "--workers"),
                           ([*BASE, "--no-such-option"], "--no-such-option"),
                           (["metrics", "--gt", "x"], "Missing option '--pred'")):
        res = CliRunner().invoke(app, args)
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.exit_code == 2 and len(lines) == 1 and expected in lines[0], (args, res.stderr)
        assert "cfg" not in captured
    res = CliRunner().invoke(app, [*BASE, "--mode", "MESH"])  # case-insensitive, as before
    assert res.exit_code == 0 and captured["cfg"].mode == "mesh"
