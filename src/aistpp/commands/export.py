"""``aistpp export``: SMPL motions as BVH or AMASS-style npz, in other units, axes and frame rates."""

from __future__ import annotations

from aistpp.commands._common import ConfigFile, batch_options, options_from, run_batch, user_errors
from aistpp.config import build_config
from aistpp.pipeline.export import ExportConfig

OPTIONS = ("anno_dir", "smpl_dir", "save_dir", "format", "fps", "up", "units", "floor", "order", "gender")


@user_errors
@options_from(ExportConfig, OPTIONS + batch_options())
def command(given: dict, config: ConfigFile = None) -> None:
    """Write ``<save-dir>/<seq>.bvh`` or ``<seq>.npz`` for each motion of ``<anno-dir>/motions``."""
    from aistpp.pipeline.export import run_export

    cfg = build_config(ExportConfig, given, config, "export")
    run_batch(cfg, run_export, columns=("frames", "fps", "scaling", "floor_cm"))
