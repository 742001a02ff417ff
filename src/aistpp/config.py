"""Command configuration: TOML file values merged under command-line values, then validated.

``--config FILE`` may hold any option, at the top level or in a table named after the
command (``[triangulate]``); options given on the command line win. Keys use the option
names with ``_`` or ``-`` (``anno_dir`` or ``anno-dir``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aistpp.errors import AistppError

M = TypeVar("M", bound=BaseModel)


def read_toml(path: Path, section: str) -> dict[str, Any]:
    from aistpp.core.files import read_regular_text

    if not Path(path).exists():
        raise AistppError("config file not found", path)
    text = read_regular_text(path, what="config file")  # a folder, a pipe: one line, no hang
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError) as exc:
        raise AistppError(f"not valid TOML ({exc})", path) from None
    flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
    flat.update(data.get(section, {}) or {})
    return {k.replace("-", "_"): v for k, v in flat.items()}


def build_config(model: type[M], cli: dict[str, Any], config_file: Path | None = None, section: str = "") -> M:
    """Validate ``model`` from CLI values (``None`` = not given) over the config file's values."""
    values: dict[str, Any] = read_toml(config_file, section) if config_file else {}
    unknown = set(values) - set(model.model_fields)
    if config_file and unknown:
        raise AistppError(f"unknown option(s) {', '.join(sorted(unknown))} for '{section}'", config_file)
    values.update({k: v for k, v in cli.items() if v is not None and k in model.model_fields})
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "options"
        raise AistppError(f"invalid value for {where.replace('_', '-')}: {err['msg']}", config_file) from None
