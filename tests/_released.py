"""The slice of real released AIST++ annotations in tests/data (CC BY 4.0, see NOTICE), decoded.

One reader for the tests and the benchmarks: setting4's keypoints2d are stored as
``<seq>.xy`` (int16, (x + 256) * 16 px), ``<seq>.conf`` (uint8, confidence * 255) and
``<seq>.frames``; keypoints3d as ``<seq>.keypoints3d`` (cm) of the same frames.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from aistpp.core import formats
from aistpp.core.align import rig_errors
from aistpp.core.cameras import CameraRig

DATA = Path(__file__).parent / "data"
SEQS = ["gJS_sBM_cAll_d03_mJS2_ch07", "gJS_sFM_cAll_d02_mJS4_ch09"]  # setting4's two sequences
PROFILE_SEQUENCE = SEQS[0]  # the sequence whose detection errors make the synthetic detector profile


def keypoints2d(seq: str) -> np.ndarray:
    """The released keypoints2d of ``seq`` (9, F, 17, 3) float64: x, y px and confidence."""
    z = np.load(DATA / "setting4_keypoints2d.npz")
    return np.concatenate([z[f"{seq}.xy"] / 16.0 - 256.0, z[f"{seq}.conf"][..., None] / 255.0], axis=-1)


def cameras(setting: str = "setting4") -> CameraRig:
    """A released camera setting (tests/data holds all 13 released camera files)."""
    return formats.load_cameras(DATA / f"{setting}.json")


def keypoints_and_projections(seq: str = PROFILE_SEQUENCE) -> tuple[np.ndarray, np.ndarray]:
    """Released keypoints2d (9, F, 17, 3) and the projections (9, F, 17, 2) px of the released
    keypoints3d of the same frames with the released setting4 cameras."""
    z2, z3 = np.load(DATA / "setting4_keypoints2d.npz"), np.load(DATA / "setting4_keypoints3d.npz")
    assert np.array_equal(z2[f"{seq}.frames"], z3[f"{seq}.frames"])
    return keypoints2d(seq), cameras().project(z3[f"{seq}.keypoints3d"].astype(np.float64))


@functools.cache
def error_profile(seq: str = PROFILE_SEQUENCE):
    """``synth.detector_errors.measure_errors`` of the released detections of ``seq``."""
    from aistpp.pipeline.synth.detector_errors import measure_errors

    return measure_errors(*keypoints_and_projections(seq))


def rig_summary(estimate: CameraRig, truth: CameraRig) -> dict[str, float]:
    """Median and largest rotation / centre / focal error of ``estimate`` against ``truth``
    (``core.align.rig_errors``, after a similarity alignment of the centres)."""
    e = rig_errors(estimate, truth)
    return {f"{k}_{stat}": float(f(e[k])) for k in ("rotation_deg", "center_cm", "focal_rel")
            for stat, f in (("median", np.median), ("max", np.max))}
