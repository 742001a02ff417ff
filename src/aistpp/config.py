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

# Help of the fields many configs share (a model's own ``Field(description=...)`` wins): (text, what
# happens when the field is unset (None), or None). The command line shows a field's default itself.
FIELD_HELP: dict[str, tuple[str, str | None]] = {
    "anno_dir": ("AIST++ annotation folder (motions/, keypoints2d/, keypoints3d/, cameras/, splits/).", None),
    "video_dir": ("Folder of the videos, <video_name>.mp4.", None),
    "smpl_dir": ("Folder holding SMPL_NEUTRAL.pkl, SMPL_MALE.pkl (the released motions' model), SMPL_FEMALE.pkl.", None),
    "save_dir": ("Output folder (created if missing).", None),
    "sequence_names": ("Sequences to process (repeat or comma-separate).", "all"),
    "gender": ("Body model the motions were made with.",
               "the motion's smpl_gender, else male, the model the released AIST++ motions were fitted with"),
}


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
    missing = [f"--{k.replace('_', '-')}" for k, f in model.model_fields.items() if f.is_required() and k not in values]
    if missing:
        where = "on the command line or in --config" if config_file is None else "on the command line or in this file"
        raise AistppError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required ({where})", config_file)
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        if not err["loc"]:  # a check of several options together (a model validator): its message alone
            raise AistppError(str(err["msg"]).removeprefix("Value error, "), config_file) from None
        where = ".".join(str(p) for p in err["loc"])
        raise AistppError(f"invalid value for {where.replace('_', '-')}: {err['msg']}", config_file) from None


def end_after_start(cfg: M) -> M:
    """A config's model validator (``model_validator(mode="after")(end_after_start)``): ``end`` (None: the
    last frame) after ``start``."""
    if cfg.end is not None and cfg.end <= cfg.start:
        raise ValueError(f"--end ({cfg.end}) must be after --start ({cfg.start})")
    return cfg
