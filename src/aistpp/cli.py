"""The ``aistpp`` command line: one Typer app dispatching to ``aistpp.commands.*``."""

from __future__ import annotations

import typer

from aistpp import __version__
from aistpp.commands import (calibrate, cameras, compare, demo, detect, export, features, fit_smpl, info, preprocess,
                             synth, triangulate, view, vis)

app = typer.Typer(
    name="aistpp",
    help="Load, visualise and rebuild the AIST++ dance-motion dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("vis", help="Draw annotations (2D, 3D, SMPL joints, SMPL mesh) onto the videos.")(vis.command)
app.command("view", help="One self-contained HTML file: motions, keypoints and cameras in 3D, side by side, with the music.")(view.command)
app.command("detect", help="2D keypoints from the multi-view videos (bundled BlazePose, or an ONNX model) -> keypoints2d pickles.")(detect.command)
app.command("preprocess", help="Per-frame 2D detection JSON -> multi-view keypoints2d pickles.")(preprocess.command)
app.command("calibrate", help="Estimate every setting's cameras from body keypoints (bundle adjustment).")(calibrate.command)
app.command("triangulate", help="3D keypoints from multi-view 2D keypoints: plain and temporally optimised.")(triangulate.command)
app.command("fit-smpl", help="Fit SMPL motion (poses, translation, scale) to 3D keypoints.")(fit_smpl.command)
app.command("export", help="SMPL motions as BVH or AMASS-style npz (units, up axis, frame rate, floor).")(export.command)
app.command("features", help="The AIST++ API's kinetic and geometric features per motion (all frames and Bailando's protocol), motion beats, PFC.")(features.features_command)
app.command("metrics", help="FID_k, FID_g, Div_k, Div_g (Bailando's protocol), BAS and PFC between two motion sets (their feature folders).")(features.metrics_command)
app.add_typer(cameras.app, name="cameras")
app.command("synth", help="Write a synthetic dataset in the AIST++ layout (body model, motions, keypoints, videos).")(synth.command)
app.command("info", help="What a dataset holds: sequences by genre, setting and split, frames, missing files.")(info.command)
app.command("compare", help="Compare a rebuilt annotation set with a reference one (cameras, 3D keypoints, SMPL).")(compare.command)
app.command("demo", help="Generate a small synthetic dataset and run the whole rebuild pipeline on it.")(demo.command)


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
