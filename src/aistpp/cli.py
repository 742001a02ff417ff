"""The ``aistpp`` command line: one Typer app dispatching to ``aistpp.commands.*``.

A command's options are generated from its pipeline's config model, so building it imports that
pipeline module (numpy, scipy, OpenCV...): commands are built when used (``LazyCommands``), not all
at every start.
"""

from __future__ import annotations

import importlib

import typer
from typer.core import TyperGroup

from aistpp import __version__
from aistpp.commands import cameras
from aistpp.commands._common import OneLineUsageErrors

# name -> (module of aistpp.commands, function, help), in the order of `aistpp --help`
COMMANDS = {
    "vis": ("vis", "command", "Draw annotations (2D, 3D, SMPL joints, SMPL mesh) onto the videos."),
    "view": ("view", "command", "One self-contained HTML file: motions, keypoints and cameras in 3D, side by side, with the music."),
    "detect": ("detect", "command", "2D keypoints from the multi-view videos (bundled BlazePose, or an ONNX model) -> keypoints2d pickles."),
    "preprocess": ("preprocess", "command", "Per-frame 2D detection JSON -> multi-view keypoints2d pickles."),
    "calibrate": ("calibrate", "command", "Estimate every setting's cameras from body keypoints (bundle adjustment)."),
    "triangulate": ("triangulate", "command", "3D keypoints from multi-view 2D keypoints: plain and temporally optimised."),
    "fit-smpl": ("fit_smpl", "command", "Fit SMPL motion (poses, translation, scale) to 3D keypoints."),
    "export": ("export", "command", "SMPL motions as BVH or AMASS-style npz (units, up axis, frame rate, floor)."),
    "features": ("features", "features_command", "The AIST++ API's kinetic and geometric features per motion (all frames and Bailando's protocol), motion beats, PFC."),
    "metrics": ("features", "metrics_command", "FID_k, FID_g, Div_k, Div_g (Bailando's protocol), BAS and PFC between two motion sets (their feature folders)."),
    "cameras": None,  # a group (aistpp cameras convert), added below
    "synth": ("synth", "command", "Write a synthetic dataset in the AIST++ layout (body model, motions, keypoints, videos)."),
    "info": ("info", "command", "What a dataset holds: sequences by genre, setting and split, frames, missing files."),
    "compare": ("compare", "command", "Compare a rebuilt annotation set with a reference one (cameras, 3D keypoints, SMPL)."),
    "demo": ("demo", "command", "Generate a small synthetic dataset and run the whole rebuild pipeline on it."),
}


class LazyCommands(TyperGroup):
    """The commands of ``COMMANDS``, each imported and built the first time it is asked for."""

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, cmd_name: str):
        if cmd_name not in self.commands and COMMANDS.get(cmd_name):
            module, function, text = COMMANDS[cmd_name]
            one = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            one.command(cmd_name, cls=OneLineUsageErrors, help=text)(
                getattr(importlib.import_module(f"aistpp.commands.{module}"), function))
            self.commands[cmd_name] = typer.main.get_command(one)
        return self.commands.get(cmd_name)


app = typer.Typer(
    name="aistpp",
    cls=LazyCommands,
    help="Load, visualise and rebuild the AIST++ dance-motion dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(cameras.app, name="cameras")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aistpp {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Load, visualise and rebuild the AIST++ dance-motion dataset."""


def main() -> None:
    app()
