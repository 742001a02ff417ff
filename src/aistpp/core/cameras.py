"""Camera rigs as arrays; the camera model itself lives in ``aistpp.core.camera``.

A rig of V views: intrinsics ``K`` (V, 3, 3) px (``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``, skew
``s`` honoured), ``dist`` (V, n) OpenCV distortion with n = 5, 8, 12 or 14 coefficients
(``k1 k2 p1 p2 k3 [k4 k5 k6 [s1 s2 s3 s4 [tx ty]]]``; views with fewer are padded with zeros to
the rig's count), ``rvec`` (V, 3) Rodrigues, ``tvec`` (V, 3) cm, world to camera ``X_cam = R X + t``;
``sizes`` (V, 2) (width, height) px. Same conventions as aniposelib's ``Camera`` (which, like
OpenCV, ignores the skew).
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field

import numpy as np

from aistpp.core import camera
from aistpp.core.camera import distort, rodrigues, rotation_to_rodrigues  # noqa: F401 (re-exported)
from aistpp.errors import AistppError


def _only_numbers(value, depth: int = 3) -> bool:
    """True for a number or a list of numbers nested at most ``depth`` deep (not text, not
    booleans, not null; a camera value is at most a matrix, OpenCV's 1xN rows included)."""
    if isinstance(value, (list, tuple)):
        return depth > 0 and all(_only_numbers(v, depth - 1) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class CameraRig:
    """V cameras as arrays (see module docstring for units and conventions)."""

    names: tuple[str, ...]
    sizes: np.ndarray  # (V, 2) int, width, height
    K: np.ndarray  # (V, 3, 3)
    dist: np.ndarray  # (V, n), n in camera.MODELS
    rvec: np.ndarray  # (V, 3)
    tvec: np.ndarray  # (V, 3) cm
    R: np.ndarray = field(init=False, repr=False)  # (V, 3, 3), derived

    def __post_init__(self) -> None:
        V = len(self.names)
        object.__setattr__(self, "dist", camera.coefficients(self.dist, V))
        for key, shape in (("sizes", (V, 2)), ("K", (V, 3, 3)), ("rvec", (V, 3)), ("tvec", (V, 3))):
            value = np.asarray(getattr(self, key), dtype=np.int64 if key == "sizes" else np.float64)
            if value.shape != shape:
                raise AistppError(f"camera {key} has shape {value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise AistppError(f"camera {key} holds NaN or inf")
            object.__setattr__(self, key, value)
        object.__setattr__(self, "names", tuple(self.names))
        if np.any(np.abs(np.linalg.det(self.K)) < 1e-9):
            raise AistppError("a camera intrinsic matrix is singular")
        lower = np.abs(self.K[:, [1, 2, 2], [0, 0, 1]]).max(axis=1) > 1e-9 * np.abs(self.K).max(axis=(1, 2))
        bad = np.flatnonzero(lower | (np.abs(self.K[:, 2, 2] - 1) > 1e-9))
        if len(bad):
            raise AistppError(f"camera {self.names[bad[0]]!r}: intrinsic matrix must be [[fx, s, cx], [0, fy, cy], "
                              f"[0, 0, 1]], found {self.K[bad[0]].tolist()}")
        object.__setattr__(self, "R", rodrigues(self.rvec))

    def __len__(self) -> int:
        return len(self.names)

    @property
    def centers(self) -> np.ndarray:
        """Camera centres in world coordinates (V, 3) cm: C = -R^T t."""
        return -np.einsum("vji,vj->vi", self.R, self.tvec)

    def subset(self, views: list[str] | tuple[str, ...]) -> "CameraRig":
        idx = [self.index(v) for v in views]
        return CameraRig(tuple(views), self.sizes[idx], self.K[idx], self.dist[idx], self.rvec[idx], self.tvec[idx])

    def index(self, view: str) -> int:
        try:
            return self.names.index(view)
        except ValueError:
            raise AistppError(f"view {view!r} is not one of the rig's views {list(self.names)}") from None

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) cm -> camera-frame points (V, ..., 3) cm."""
        return camera.world_to_camera(self.R, self.tvec, points)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project world points (..., 3) cm into every view -> (V, ..., 2) px, distortion included.

        Points at or behind a camera's image plane project to NaN in that view.
        """
        uv, depth = camera.project(self.K, self.dist, self.R, self.tvec, points)
        return np.where((depth > camera.MIN_DEPTH)[..., None], uv, np.nan)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (V, ..., 2) -> normalised, undistorted image coordinates (V, ..., 2).

        NaN pixels stay NaN. OpenCV's iterative undistortion, run to convergence, skew honoured.
        """
        pixels = np.asarray(pixels, dtype=np.float64)
        if pixels.ndim < 2 or pixels.shape[0] != len(self) or pixels.shape[-1] != 2:
            raise AistppError(f"pixels must have shape (V={len(self)}, ..., 2), found {pixels.shape}")
        return camera.undistort(self.K, self.dist, pixels)

    def projection_matrices(self) -> np.ndarray:
        """P = [R | t] (V, 3, 4) in normalised coordinates (intrinsics removed)."""
        return np.concatenate([self.R, self.tvec[:, :, None]], axis=2)

    # ---- conversions -------------------------------------------------------------
    def to_json_list(self) -> list[dict]:
        """The dataset's camera JSON: one dict per view (aniposelib ``Camera.get_dict`` keys)."""
        return [
            {
                "name": name,
                "size": [int(s) for s in self.sizes[v]],
                "matrix": self.K[v].tolist(),
                "distortions": self.dist[v].tolist(),
                "rotation": self.rvec[v].tolist(),
                "translation": self.tvec[v].tolist(),
            }
            for v, name in enumerate(self.names)
        ]

    @classmethod
    def from_json_list(cls, items: list) -> "CameraRig":
        """Build a rig from the dataset's camera JSON list (raises AistppError when malformed)."""
        if not isinstance(items, list) or not items:
            raise AistppError("camera file must hold a non-empty list of camera objects")
        keys = ("name", "size", "matrix", "distortions", "rotation", "translation")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise AistppError(f"camera {i} is not an object")
            missing = [k for k in keys if k not in item]
            if missing:
                raise AistppError(f"camera {i} lacks key(s) {', '.join(missing)}")
        for i, item in enumerate(items):
            for k in ("size", "matrix", "distortions", "rotation", "translation"):
                if not _only_numbers(item[k]):
                    raise AistppError(f"camera {i} ({reprlib.repr(item.get('name'))}): '{k}' must hold numbers "
                                      f"(a vector or matrix), found {reprlib.repr(item[k])}")
        try:
            names = [str(item["name"]) for item in items]
            arrays = {
                k: np.array([item[k] for item in items], dtype=np.float64)
                for k in ("size", "matrix", "rotation", "translation")
            }
            dist = camera.coefficients([item["distortions"] for item in items])
        except (TypeError, ValueError, OverflowError) as exc:
            raise AistppError(f"camera values must be numbers of the right shape ({exc})") from None
        if len(set(names)) != len(names):
            raise AistppError(f"camera names repeat: {names}")
        return cls(tuple(names), arrays["size"], arrays["matrix"], dist, arrays["rotation"], arrays["translation"])

    def to_aniposelib(self):
        """An aniposelib ``CameraGroup`` with the same cameras."""
        from aniposelib.cameras import Camera, CameraGroup

        cams = [
            Camera(name=n, size=self.sizes[v].tolist(), matrix=self.K[v], dist=self.dist[v], rvec=self.rvec[v], tvec=self.tvec[v])
            for v, n in enumerate(self.names)
        ]
        return CameraGroup(cams)

    @classmethod
    def from_aniposelib(cls, group) -> "CameraRig":
        return cls.from_json_list([cam.get_dict() for cam in group.cameras])
