"""``aistpp cameras convert``: cameras between the dataset's JSON and other tools' formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from aistpp.commands._common import OneLineUsageErrors, console, user_errors
from aistpp.core.camera_formats import CameraFormat

app = typer.Typer(help="Camera files: convert between AIST++ JSON, anipose TOML, EasyMocap and OpenCV YAML.",
                  no_args_is_help=True, add_completion=False)

Units = Literal["mm", "cm", "m"]


@app.command("convert", cls=OneLineUsageErrors, help="Convert a camera file: aistpp (.json, cm), anipose (.toml, mm), easymocap "
             "(folder of intri.yml + extri.yml, m) or opencv (.yml/.yaml/.xml, cm). World -> camera everywhere.")
@user_errors
def convert(
    source: Annotated[Path, typer.Argument(help="Camera file (or EasyMocap folder) to read.")],
    target: Annotated[Path, typer.Argument(help="Camera file (or EasyMocap folder) to write.")],
    from_format: Annotated[Optional[CameraFormat], typer.Option("--from", help="Input format.", show_default="from the name")] = None,
    to_format: Annotated[Optional[CameraFormat], typer.Option("--to", help="Output format.", show_default="from the name")] = None,
    from_units: Annotated[Optional[Units], typer.Option("--from-units", help="Length unit of the input's translations.", show_default="the format's, see docs/interoperability.md")] = None,
    to_units: Annotated[Optional[Units], typer.Option("--to-units", help="Length unit of the output's translations.", show_default="the format's")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    from aistpp.core.camera_formats import read_cameras, write_cameras

    rig = read_cameras(source, from_format, from_units)
    write_cameras(target, rig, to_format, to_units, overwrite=overwrite)
    console.print(f"{len(rig)} cameras ({', '.join(rig.names)}) written to {target}", highlight=False)
