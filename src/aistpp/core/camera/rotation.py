"""Rotations as axis-angle (Rodrigues) vectors and matrices, and the derivative that links them.

Args and returns state shapes; angles in radians. ``R = exp([r]x)`` with ``[r]x`` the cross-product
matrix of ``r``.
"""

from __future__ import annotations

import numpy as np


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices.

    Args: v (..., 3).
    Returns: (..., 3, 3) with ``skew(v) @ w == cross(v, w)``.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.shape[-1:] != (3,):
        raise ValueError(f"expected (..., 3) vectors, got {v.shape}")
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    return np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*v.shape[:-1], 3, 3)


def rodrigues(rvec: np.ndarray) -> np.ndarray:
    """Rotation matrices from axis-angle vectors.

    Args: rvec (..., 3) rad.
    Returns: R (..., 3, 3).
    """
    rvec = np.asarray(rvec, dtype=np.float64)
    theta = np.linalg.norm(rvec, axis=-1, keepdims=True)
    small = theta < 1e-12
    k = skew(rvec / np.where(small, 1.0, theta))
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.eye(3)
    rot = eye + s * k + (1 - c) * (k @ k)
    return np.where(small[..., None], eye, rot)


def rotation_to_rodrigues(rot: np.ndarray) -> np.ndarray:
    """Axis-angle vectors from rotation matrices.

    Args: rot (..., 3, 3).
    Returns: rvec (..., 3) rad, angle in [0, pi].
    """
    from scipy.spatial.transform import Rotation

    rot = np.asarray(rot, dtype=np.float64)
    if rot.shape[-2:] != (3, 3):
        raise ValueError(f"expected (..., 3, 3) matrices, got {rot.shape}")
    return Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(*rot.shape[:-2], 3)


def left_jacobian(rvec: np.ndarray) -> np.ndarray:
    """Left Jacobian of SO(3): ``exp([J dr]x) R(r) = R(r + dr)`` to first order.

    So the derivative of ``R(r) X`` w.r.t. ``r`` is ``-[R X]x J`` (the left-update derivative
    ``-[R X]x`` times J).

    Args: rvec (..., 3) rad.
    Returns: J (..., 3, 3).
    """
    rvec = np.asarray(rvec, dtype=np.float64)
    theta = np.linalg.norm(rvec, axis=-1)[..., None, None]
    k = skew(rvec)
    small = theta < 1e-6
    t = np.where(small, 1.0, theta)
    a = np.where(small, 0.5 - theta**2 / 24, (1 - np.cos(t)) / t**2)
    b = np.where(small, 1 / 6 - theta**2 / 120, (t - np.sin(t)) / t**3)
    return np.eye(3) + a * k + b * (k @ k)
