"""``aistpp demo``: synthetic dataset -> whole pipeline (stub until the steps land)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import not_implemented, user_errors


@user_errors
def command(out: Annotated[Optional[Path], typer.Option("--out", help="Folder for the demo's outputs.")] = None) -> None:
    not_implemented("demo")
