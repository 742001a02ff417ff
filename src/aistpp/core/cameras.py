"""Camera rigs as arrays, and projection with OpenCV's 5-coefficient distortion model.

A rig of V views: intrinsics ``K`` (V, 3, 3) px, ``dist`` (V, 5) (k1, k2, p1, p2, k3),
``rvec`` (V, 3) Rodrigues, ``tvec`` (V, 3) cm, world to camera ``X_cam = R X + t``;
``sizes`` (V, 2) (width, height) px. Same conventions as aniposelib's ``Camera``.
"""

from __future__ import annotations

import json

from dataclasses import dataclass, field

import numpy as np

from aistpp.errors import AistppError


def rodrigues(rvec: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3)."""
    rvec = np.asarray(rvec, dtype=np.float64)
    theta = np.linalg.norm(rvec, axis=-1, keepdims=True)
    small = theta < 1e-12
    axis = rvec / np.where(small, 1.0, theta)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*rvec.shape[:-1], 3, 3)
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.eye(3)
    rot = eye + s * k + (1 - c) * (k @ k)
    return np.where(small[..., None], eye, rot)


def rotation_to_rodrigues(rot: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (..., 3) from rotation matrices (..., 3, 3)."""
    from scipy.spatial.transform import Rotation

    rot = np.asarray(rot, dtype=np.float64)
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(*rot.shape[:-2], 3)


def distort(xy: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Apply OpenCV distortion to normalised coordinates.

    xy (V, ..., 2), dist (V, 5) -> (V, ..., 2).
    """
    dist = np.asarray(dist, dtype=np.float64).reshape(dist.shape[0], *([1] * (xy.ndim - 2)), 5)
    k1, k2, p1, p2, k3 = (dist[..., i] for i in range(5))
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def _only_numbers(value) -> bool:
    """True for a number or (nested) list of numbers (not text, not booleans, not null)."""
    if isinstance(value, (list, tuple)):
        return all(_only_numbers(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class CameraRig:
    """V cameras as arrays (see module docstring for units and conventions)."""

    names: tuple[str, ...]
    sizes: np.ndarray  # (V, 2) int, width, height
    K: np.ndarray  # (V, 3, 3)
    dist: np.ndarray  # (V, 5)
    rvec: np.ndarray  # (V, 3)
    tvec: np.ndarray  # (V, 3) cm
    R: np.ndarray = field(init=False, repr=False)  # (V, 3, 3), derived

    def __post_init__(self) -> None:
        V = len(self.names)
        for key, shape in (("sizes", (V, 2)), ("K", (V, 3, 3)), ("dist", (V, 5)), ("rvec", (V, 3)), ("tvec", (V, 3))):
            value = np.asarray(getattr(self, key), dtype=np.int64 if key == "sizes" else np.float64)
            if value.shape != shape:
                raise AistppError(f"camera {key} has shape {value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise AistppError(f"camera {key} holds NaN or inf")
            object.__setattr__(self, key, value)
        object.__setattr__(self, "names", tuple(self.names))
        if np.any(np.abs(np.linalg.det(self.K)) < 1e-9):
            raise AistppError("a camera intrinsic matrix is singular")
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
        pts = np.asarray(points, dtype=np.float64)
        flat = pts.reshape(-1, 3)
        cam = np.einsum("vij,pj->vpi", self.R, flat) + self.tvec[:, None, :]
        return cam.reshape(len(self), *pts.shape[:-1], 3)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Project world points (..., 3) cm into every view -> (V, ..., 2) px, distortion included.

        Points at or behind a camera's image plane project to NaN in that view.
        """
        cam = self.world_to_camera(points)
        z = cam[..., 2:3]
        xy = cam[..., :2] / np.where(z > 1e-6, z, np.nan)
        xy = distort(xy, self.dist)
        K = self.K.reshape(len(self), *([1] * (xy.ndim - 2)), 3, 3)
        u = K[..., 0, 0] * xy[..., 0] + K[..., 0, 1] * xy[..., 1] + K[..., 0, 2]
        v = K[..., 1, 1] * xy[..., 1] + K[..., 1, 2]
        return np.stack([u, v], axis=-1)

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels (V, ..., 2) -> normalised, undistorted image coordinates (V, ..., 2).

        NaN pixels stay NaN. Uses OpenCV's iterative undistortion, one call per view.
        """
        import cv2

        pixels = np.asarray(pixels, dtype=np.float64)
        out = np.full(pixels.shape, np.nan)
        for v in range(len(self)):
            flat = pixels[v].reshape(-1, 2)
            ok = np.all(np.isfinite(flat), axis=1)
            if ok.any():
                und = cv2.undistortPoints(
                    flat[ok].reshape(-1, 1, 2), self.K[v], self.dist[v], None, None, None,
                    (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 1e-10),
                )
                res = np.full(flat.shape, np.nan)
                res[ok] = und.reshape(-1, 2)
                out[v] = res.reshape(pixels[v].shape)
        return out

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
                    raise AistppError(f"camera {i} ({item.get('name')!r}): '{k}' must hold numbers, found "
                                      f"{json.dumps(item[k])[:60]}")
        try:
            names = [str(item["name"]) for item in items]
            arrays = {
                k: np.array([item[k] for item in items], dtype=np.float64)
                for k in ("size", "matrix", "distortions", "rotation", "translation")
            }
        except (TypeError, ValueError) as exc:
            raise AistppError(f"camera values must be numbers ({exc})") from None
        dist = arrays["distortions"]
        if dist.ndim == 2 and dist.shape[1] < 5:  # some tools write fewer coefficients
            dist = np.concatenate([dist, np.zeros((len(items), 5 - dist.shape[1]))], axis=1)
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
