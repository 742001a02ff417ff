"""``aistpp cameras convert``: cameras between the dataset's JSON and other tools' formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, get_args

import typer

from aistpp.commands._common import console, user_errors
from aistpp.core.camera_formats import UNIT_CM, CameraFormat
from aistpp.errors import AistppError

app = typer.Typer(help="Camera files: convert between AIST++ JSON, anipose TOML, EasyMocap and OpenCV YAML.",
                  no_args_is_help=True, add_completion=False)

FORMATS = get_args(CameraFormat)  # the formats camera_formats reads and writes
UNITS = tuple(UNIT_CM)


@app.command("convert", help="Convert a camera file: aistpp (.json, cm), anipose (.toml, mm), easymocap "
             "(folder of intri.yml + extri.yml, m) or opencv (.yml/.yaml/.xml, cm). World -> camera everywhere.")
@user_errors
def convert(
    source: Annotated[Path, typer.Argument(help="Camera file (or EasyMocap folder) to read.")],
    target: Annotated[Path, typer.Argument(help="Camera file (or EasyMocap folder) to write.")],
    from_format: Annotated[Optional[str], typer.Option("--from", help="Input format (default: from the name): aistpp, anipose, easymocap, opencv.")] = None,
    to_format: Annotated[Optional[str], typer.Option("--to", help="Output format (default: from the name).")] = None,
    from_units: Annotated[Optional[str], typer.Option("--from-units", help="Length unit of the input's translations: mm, cm or m (default: the format's, see docs/interoperability.md).")] = None,
    to_units: Annotated[Optional[str], typer.Option("--to-units", help="Length unit of the output's translations (default: the format's).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")] = False,
) -> None:
    from aistpp.core.camera_formats import read_cameras, write_cameras

    for value, allowed, what in ((from_format, FORMATS, "--from"), (to_format, FORMATS, "--to"),
                                 (from_units, UNITS, "--from-units"), (to_units, UNITS, "--to-units")):
        if value is not None and value not in allowed:
            raise AistppError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    rig = read_cameras(source, from_format, from_units)
    write_cameras(target, rig, to_format, to_units, overwrite=overwrite)
    console.print(f"{len(rig)} cameras ({', '.join(rig.names)}) written to {target}", highlight=False)
