"""``aistpp synth``: write a synthetic dataset (stub until the generator lands)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from aistpp.commands._common import not_implemented, user_errors


@user_errors
def command(
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder to write the dataset into.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same dataset).")] = 0,
) -> None:
    not_implemented("synth")
