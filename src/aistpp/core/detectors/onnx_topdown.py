"""A user-supplied top-down ONNX pose model (RTMPose-style SimCC, or heatmaps), run by onnxruntime.

Per frame: a person box -> crop -> model -> decode -> image coordinates.

- Box: the bounding box of the BlazePose landmarks (``boxes="blazepose"``) or of the previous
  frame's keypoints scoring >= ``min_score`` (``boxes="previous"``; the whole image when there
  is none), enlarged by ``KEYPOINT_BOX_MARGIN`` (keypoints lie inside the body's outline), or a
  box given to ``detect``. ``boxes="auto"``: BlazePose when installed, else the previous frame.
- Crop (mmpose's top-down convention): the box's centre ``c`` and size ``s`` (w, h) times
  ``padding``, widened or heightened to the input's aspect ratio W/H; the affine map
  ``q = (p - c) * W / s_w + W / 2`` (same in y) takes image pixel ``p`` to input pixel ``q``
  (``cv2.warpAffine``, bilinear). The crop is RGB, ``(rgb - mean) / std``, NCHW float32.
- Outputs: two ``(1, K, Lx)``, ``(1, K, Ly)`` arrays -> SimCC: ``q = argmax / (L / W)``, score =
  min of the two maxima (mmpose's ``get_simcc_maximum``); one ``(1, K, h, w)`` array -> heatmaps:
  the argmax cell moved a quarter cell towards its higher neighbour, ``q = cell * W / w``, score =
  the maximum. Keypoints with score <= 0 are NaN.
- K = 17 is COCO-17, K = 26 HALPE-26.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aistpp.core.detectors import People
from aistpp.errors import AistppError

KEYPOINT_BOX_MARGIN = 1.15  # a box from keypoints, grown about its centre before ``padding``
RTMPOSE_MEAN = (123.675, 116.28, 103.53)  # RGB, 0-255
RTMPOSE_STD = (58.395, 57.12, 57.375)
_JOINT_SETS = {17: "coco17", 26: "halpe26"}


def import_onnxruntime():
    try:
        import onnxruntime as ort
    except ImportError:
        raise AistppError("the ONNX detector backend needs onnxruntime, which is not installed: "
                          "pip install 'aistpp[detect]' (or onnxruntime-gpu for CUDA)") from None
    return ort


def providers_for(device: str, available: list[str]) -> list[str]:
    """onnxruntime execution providers for ``device`` (cpu, cuda, auto); cuda fails clearly when absent."""
    if device == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise AistppError("--device cuda: onnxruntime has no CUDA provider here (install onnxruntime-gpu "
                              "on a machine with CUDA, or use --device cpu)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "auto" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device not in ("cpu", "auto"):
        raise AistppError(f"unknown device {device!r}: use cpu, cuda or auto")
    return ["CPUExecutionProvider"]


def crop_transform(box: np.ndarray, input_size: tuple[int, int], padding: float = 1.25) -> np.ndarray:
    """The 2x3 affine map (image px -> model input px) of a box ``(x0, y0, x1, y1)`` for an input
    of ``input_size`` (W, H): see the module docstring."""
    W, H = input_size
    x0, y0, x1, y1 = (float(b) for b in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    sw, sh = max(x1 - x0, 1.0) * padding, max(y1 - y0, 1.0) * padding
    if sw > sh * W / H:
        sh = sw * H / W
    else:
        sw = sh * W / H
    k = W / sw  # == H / sh
    return np.array([[k, 0.0, W / 2 - k * cx], [0.0, k, H / 2 - k * cy]])


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """(K, Lx), (K, Ly) SimCC vectors -> (K, 3) input px x, y and score."""
    W, H = input_size
    ix, iy = simcc_x.argmax(axis=1), simcc_y.argmax(axis=1)
    k = np.arange(len(ix))
    score = np.minimum(simcc_x[k, ix], simcc_y[k, iy])
    return np.stack([ix / (simcc_x.shape[1] / W), iy / (simcc_y.shape[1] / H), score], axis=1)


def decode_heatmaps(heatmaps: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """(K, h, w) heatmaps -> (K, 3) input px x, y and score (quarter-cell refinement)."""
    W, H = input_size
    K, h, w = heatmaps.shape
    flat = heatmaps.reshape(K, -1).argmax(axis=1)
    y, x = np.divmod(flat, w)
    k = np.arange(K)
    score = heatmaps[k, y, x]
    fx, fy = x.astype(np.float64), y.astype(np.float64)
    inx, iny = (x > 0) & (x < w - 1), (y > 0) & (y < h - 1)
    fx[inx] += 0.25 * np.sign(heatmaps[k[inx], y[inx], x[inx] + 1] - heatmaps[k[inx], y[inx], x[inx] - 1])
    fy[iny] += 0.25 * np.sign(heatmaps[k[iny], y[iny] + 1, x[iny]] - heatmaps[k[iny], y[iny] - 1, x[iny]])
    return np.stack([fx * W / w, fy * H / h, score], axis=1)


def keypoint_box(keypoints: np.ndarray, min_score: float, margin: float = KEYPOINT_BOX_MARGIN) -> np.ndarray | None:
    """The box (x0, y0, x1, y1) of keypoints (J, 3) scoring >= ``min_score``, grown by ``margin``; None if < 3."""
    ok = np.isfinite(keypoints[:, :2]).all(axis=1) & (np.nan_to_num(keypoints[:, 2], nan=-1) >= min_score)
    if ok.sum() < 3:
        return None
    lo, hi = keypoints[ok, :2].min(axis=0), keypoints[ok, :2].max(axis=0)
    c, half = (lo + hi) / 2, (hi - lo) / 2 * margin
    return np.concatenate([c - half, c + half])


class OnnxTopDown:
    """A top-down ONNX pose model (see the module docstring). ``boxes``: auto, blazepose or previous."""

    def __init__(self, path: Path, device: str = "cpu", boxes: str = "auto", padding: float = 1.25,
                 mean=RTMPOSE_MEAN, std=RTMPOSE_STD, min_score: float = 0.3, threads: int = 1):
        ort = import_onnxruntime()
        self.path = Path(path)
        if not self.path.is_file():
            raise AistppError("ONNX model file not found", self.path)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(self.path), opts,
                                                 providers=providers_for(device, ort.get_available_providers()))
        except AistppError:
            raise
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise AistppError(f"cannot load this ONNX model ({str(exc).splitlines()[0]})", self.path) from None
        inp = self._session.get_inputs()[0]
        shape = list(inp.shape)
        if len(shape) != 4 or not all(isinstance(d, int) for d in shape[2:]) or shape[1] not in (3, None, "N"):
            raise AistppError(f"the model's input must be (1, 3, H, W) with a fixed H, W, found {shape}", self.path)
        self._input = inp.name
        self.input_size = (int(shape[3]), int(shape[2]))  # W, H
        outs = self._session.get_outputs()
        self._simcc = len(outs) >= 2
        ranks = [len(o.shape) for o in outs]
        if (self._simcc and ranks[:2] != [3, 3]) or (not self._simcc and ranks[0] != 4):
            raise AistppError("the model's outputs must be SimCC (1, K, Lx), (1, K, Ly) or heatmaps (1, K, h, w), "
                              f"found ranks {ranks}", self.path)
        K = outs[0].shape[1]
        if not isinstance(K, int) or K not in _JOINT_SETS:
            raise AistppError(f"the model outputs {K} keypoints; known: 17 (COCO-17), 26 (HALPE-26)", self.path)
        from aistpp.core.joints import JOINT_SETS

        self.joint_set = _JOINT_SETS[K]
        self.joint_names = JOINT_SETS[self.joint_set]
        self.padding, self.min_score = padding, min_score
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self._box_detector = None
        if boxes == "auto":
            try:
                from aistpp.core.detectors.blazepose import BlazePose

                self._box_detector = BlazePose()
            except AistppError:
                self._box_detector = None
        elif boxes == "blazepose":
            from aistpp.core.detectors.blazepose import BlazePose

            self._box_detector = BlazePose()
        elif boxes != "previous":
            raise AistppError(f"unknown box source {boxes!r}: use auto, blazepose or previous")
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        self._previous = None
        if self._box_detector is not None:
            self._box_detector.reset()

    def person_box(self, frame_bgr: np.ndarray) -> np.ndarray:
        """The box (x0, y0, x1, y1) px the next crop is taken from (see the module docstring)."""
        h, w = frame_bgr.shape[:2]
        box = None
        if self._box_detector is not None:
            people = self._box_detector.detect(frame_bgr)
            box = keypoint_box(people.keypoints[0], 0.0) if len(people) else None
        elif self._previous is not None:
            box = keypoint_box(self._previous, self.min_score)
        return np.array([0.0, 0.0, w, h]) if box is None else box

    def preprocess(self, frame_bgr: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model input (1, 3, H, W) float32 of ``box`` and its affine map (2, 3) image -> input."""
        import cv2

        M = crop_transform(box, self.input_size, self.padding)
        crop = cv2.warpAffine(frame_bgr, M, self.input_size, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        rgb = crop[..., ::-1].astype(np.float32)
        return ((rgb - self.mean) / self.std).transpose(2, 0, 1)[None].copy(), M

    def detect(self, frame_bgr: np.ndarray, box: np.ndarray | None = None) -> People:
        """One BGR frame -> one person (1, K, 3) x px, y px, score (a box may be given: x0, y0, x1, y1)."""
        if box is None:
            box = self.person_box(frame_bgr)
        x, M = self.preprocess(frame_bgr, np.asarray(box, np.float64))
        outs = self._session.run(None, {self._input: x})
        if self._simcc:
            kp = decode_simcc(np.asarray(outs[0][0]), np.asarray(outs[1][0]), self.input_size)
        else:
            kp = decode_heatmaps(np.asarray(outs[0][0]), self.input_size)
        k = M[0, 0]
        kp[:, 0] = (kp[:, 0] - M[0, 2]) / k
        kp[:, 1] = (kp[:, 1] - M[1, 2]) / k
        kp = kp.astype(np.float32)
        kp[~(kp[:, 2] > 0)] = np.nan
        self._previous = kp
        return People(kp[None], np.array([float(np.nanmean(kp[:, 2])) if np.isfinite(kp[:, 2]).any() else 0.0],
                                         np.float32))

    def close(self) -> None:
        if self._box_detector is not None:
            self._box_detector.close()
