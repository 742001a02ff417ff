"""2D person keypoint detectors: video frames in, per-frame people with named keypoints out.

A detector is made by ``load_detector(model, device)`` and used one video at a time::

    det = load_detector("blazepose")          # or "path/to/model.onnx"
    det.reset()                               # a new video: forget the tracking state
    people = det.detect(frame_bgr)            # uint8 (h, w, 3) -> People
    people.keypoints                          # (P, J, 3) float32: x px, y px, score (NaN: not found)
    det.joint_set, det.joint_names            # e.g. "blazepose33" and its 33 names

Backends: ``blazepose`` (MediaPipe's BlazePose full model, bundled with the optional
``aistpp[detect]`` install; single person, tracks from frame to frame) and ``onnx`` (a
top-down model file supplied by the user, SimCC or heatmap outputs; see ``onnx_topdown``).
A missing optional backend is an ``AistppError`` that says what to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from aistpp.core.joint_sets import BLAZEPOSE33
from aistpp.core.joints import COCO17, index_map
from aistpp.errors import AistppError

# BlazePose-33 is defined once, in the joint-set registry (core.joint_sets); COCO-17 joint k is
# BlazePose landmark BLAZEPOSE33_TO_COCO17[k] ([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, ..., 28]).
BLAZEPOSE33_TO_COCO17 = index_map(BLAZEPOSE33, COCO17)

INSTALL_HINT = "pip install 'aistpp[detect]'"


@dataclass
class People:
    """The people found in one frame: ``keypoints`` (P, J, 3) float32 (x px, y px, score;
    NaN rows where a keypoint was not found) and ``scores`` (P,) float32 per person."""

    keypoints: np.ndarray
    scores: np.ndarray

    @classmethod
    def none(cls, joints: int) -> "People":
        return cls(np.zeros((0, joints, 3), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.keypoints)


class Detector(Protocol):
    """What every backend provides (see the module docstring)."""

    joint_set: str
    joint_names: tuple[str, ...]

    def reset(self) -> None: ...

    def detect(self, frame_bgr: np.ndarray) -> People: ...

    def close(self) -> None: ...


def to_coco17(keypoints: np.ndarray, joint_set: str) -> np.ndarray:
    """(..., J, 3) keypoints of ``joint_set`` -> (..., 17, 3) COCO-17 (NaN where the set lacks a joint);
    the registry's conversion (``core.detections.to_coco17``)."""
    from aistpp.core import detections

    return detections.to_coco17(keypoints, joint_set)


def load_detector(model: str = "blazepose", device: str = "cpu", **options) -> Detector:
    """A detector for ``model``: ``blazepose`` (or ``blazepose-full``) or a ``.onnx`` file.

    ``device``: cpu, cuda or auto (ONNX only; BlazePose runs on the CPU). Raises ``AistppError``
    (saying what to install) when the backend's package is missing, or naming the model file
    when it cannot be used.
    """
    name = str(model)
    if name.lower() in ("blazepose", "blazepose-full", "blazepose_full"):
        if device == "cuda":
            raise AistppError("the BlazePose detector runs on the CPU only (use --device cpu, or an ONNX model)")
        from aistpp.core.detectors.blazepose import BlazePose

        return BlazePose(**options)
    if name.lower() in ("blazepose-lite", "blazepose-heavy"):
        raise AistppError(f"{name} is not bundled (only the full BlazePose model ships with {INSTALL_HINT}); "
                          "use --model blazepose")
    if name.lower().endswith(".onnx"):
        from aistpp.core.detectors.onnx_topdown import OnnxTopDown

        return OnnxTopDown(Path(name), device=device, **options)
    raise AistppError(f"unknown detector model {name!r}: use 'blazepose' or a path to a .onnx file")
