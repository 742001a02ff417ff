"""Two-view and one-view geometry for calibration without a starting rig (OpenCV underneath).

- ``pair_pose``: the relative pose of two views from point correspondences, by the essential
  matrix (RANSAC) on coordinates normalised with a focal-length guess, then ``recoverPose``.
- ``resect``: a camera's pose and focal length from 3D points and their pixels (PnP with
  RANSAC over a few focal guesses, then a robust least-squares refinement of pose + focal).

Conventions as ``core.cameras``: OpenCV cameras, ``X_cam = R X + t``, pixels (P, 2),
principal point at the image centre, no distortion at this stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aistpp.core.cameras import CameraRig, rodrigues


def intrinsic_matrix(focal: float, size: tuple[int, int] | np.ndarray) -> np.ndarray:
    """K (3, 3) with square pixels, zero skew, principal point at the centre of ``size`` (w, h)."""
    w, h = (float(x) for x in size)
    return np.array([[focal, 0.0, w / 2], [0.0, focal, h / 2], [0.0, 0.0, 1.0]])


def single_camera(name: str, size, focal: float, R: np.ndarray | None = None,
                  t: np.ndarray | None = None) -> CameraRig:
    """A one-view ``CameraRig`` (no distortion)."""
    from aistpp.core.cameras import rotation_to_rodrigues

    R = np.eye(3) if R is None else np.asarray(R, np.float64)
    t = np.zeros(3) if t is None else np.asarray(t, np.float64)
    return CameraRig((name,), np.asarray([size], np.int64), intrinsic_matrix(focal, size)[None], np.zeros((1, 5)),
                     rotation_to_rodrigues(R)[None], t[None])


def normalise(pixels: np.ndarray, focal: float, size) -> np.ndarray:
    """Pixels (P, 2) -> normalised image coordinates (P, 2) of a distortion-free camera."""
    return single_camera("v", size, focal).undistort(np.asarray(pixels, np.float64)[None])[0]


@dataclass
class PairPose:
    """R (3, 3), t (3,) unit: view b's pose relative to view a (X_b = R X_a + t); inliers (P,) bool;
    front: how many inliers triangulate in front of both cameras; angle_deg: their median
    triangulation angle."""

    R: np.ndarray
    t: np.ndarray
    inliers: np.ndarray
    front: int
    angle_deg: float


def pair_pose(xa: np.ndarray, xb: np.ndarray, threshold: float, seed: int = 0) -> PairPose | None:
    """Relative pose from normalised correspondences xa, xb (P, 2); ``threshold`` in normalised
    units (pixels / focal). None when OpenCV finds no essential matrix."""
    import cv2

    if len(xa) < 8:
        return None
    cv2.setRNGSeed(seed)
    E, mask = cv2.findEssentialMat(xa, xb, np.eye(3), method=cv2.RANSAC, prob=0.999, threshold=threshold,
                                   maxIters=2000)
    if E is None or E.shape != (3, 3):
        if E is None or E.shape[0] < 3:
            return None
        E = E[:3]
    inl = mask.ravel() > 0
    n, R, t, mask2 = cv2.recoverPose(E, xa, xb, np.eye(3), mask=mask.copy())
    front = mask2.ravel() > 0
    t = t.ravel() / max(np.linalg.norm(t), 1e-12)
    # triangulation angle of the inliers in front: between the two rays in camera a's frame
    ra = np.c_[xa[front], np.ones(front.sum())]
    rb = np.c_[xb[front], np.ones(front.sum())] @ R  # view b's rays expressed in a's frame
    cos = np.sum(ra * rb, 1) / (np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1))
    angle = float(np.degrees(np.median(np.arccos(np.clip(cos, -1, 1))))) if front.any() else 0.0
    return PairPose(R, t, inl, int(n), angle)


@dataclass
class Resection:
    """rvec (3,), tvec (3,), focal px, inliers (P,) bool, median_px: median error of the inliers."""

    rvec: np.ndarray
    tvec: np.ndarray
    focal: float
    inliers: np.ndarray
    median_px: float


def pnp_ransac(points3d: np.ndarray, pixels: np.ndarray, focal: float, size, threshold_px: float, seed: int = 0,
               iterations: int = 100):
    """PnP-RANSAC (EPnP hypotheses) with a known focal length: (rvec (3,), tvec (3,), inliers (P,) bool) or None."""
    import cv2

    cv2.setRNGSeed(seed)
    ok, rvec, tvec, inl = cv2.solvePnPRansac(points3d, pixels, intrinsic_matrix(focal, size), None,
                                             iterationsCount=iterations, reprojectionError=threshold_px,
                                             confidence=0.999, flags=cv2.SOLVEPNP_EPNP)
    if not ok or inl is None or len(inl) < 6:
        return None
    mask = np.zeros(len(points3d), bool)
    mask[inl.ravel()] = True
    rvec, tvec = cv2.solvePnPRefineLM(points3d[mask], pixels[mask], intrinsic_matrix(focal, size), None, rvec, tvec)
    return rvec.ravel(), tvec.ravel(), mask


def pnp_cost(points3d: np.ndarray, pixels: np.ndarray, focal: float, size, threshold_px: float,
             seed: int = 0) -> float:
    """Mean truncated squared reprojection error (px^2, errors capped at ``threshold_px``) of the
    best PnP pose (``pnp_ransac`` + refinement); ``threshold_px``^2 when no pose is found."""
    res = pnp_ransac(points3d, pixels, focal, size, threshold_px, seed)
    if res is None:
        return threshold_px ** 2
    cam = single_camera("v", size, focal, rodrigues(res[0]), res[1])
    err = np.linalg.norm(cam.project(points3d)[0] - pixels, axis=-1)
    return float(np.mean(np.minimum(np.nan_to_num(err, nan=threshold_px), threshold_px) ** 2))


def resect(points3d: np.ndarray, pixels: np.ndarray, size, focals: list[float], threshold_px: float,
           seed: int = 0, refine_focal: bool = True, max_points: int = 1500) -> Resection | None:
    """Pose and focal of one camera from 3D points (P, 3) and their pixels (P, 2).

    Tries PnP-RANSAC with each focal guess in ``focals``, keeps the one with the most inliers,
    then refines rotation, translation and (``refine_focal``) log-focal by robust least
    squares (soft L1 with ``threshold_px``) on the points. None when no guess gives a pose.
    """
    from scipy.optimize import least_squares

    X = np.ascontiguousarray(points3d, np.float64)
    u = np.ascontiguousarray(pixels, np.float64)
    X_all, u_all = X, u
    if len(X) > max_points:  # a random subset is plenty for the pose and focal; inliers use all
        keep = np.random.default_rng(seed).choice(len(X), max_points, replace=False)
        X, u = X[keep], u[keep]
    best = None
    for f in focals:
        res = pnp_ransac(X, u, f, size, threshold_px, seed)
        if res is not None and (best is None or res[2].sum() > best[3].sum()):
            best = (f, *res)
    if best is None or best[3].sum() < 6:
        return None
    f, rvec, tvec, _ = best

    def residuals(p):
        cam = single_camera("v", size, float(np.exp(p[6])) if refine_focal else f)
        R = rodrigues(p[:3])
        Xc = X @ R.T + p[3:6]
        uv = cam.project(Xc)[0]  # the one-view rig has the identity pose: Xc are its world points
        r = uv - u
        return np.nan_to_num(r, nan=1e4).ravel()

    p0 = np.r_[rvec, tvec, np.log(f)]
    sol = least_squares(residuals, p0 if refine_focal else p0[:6], loss="soft_l1", f_scale=threshold_px / 2,
                        max_nfev=60, x_scale="jac")
    p = sol.x if refine_focal else np.r_[sol.x, np.log(f)]
    X, u = X_all, u_all
    err = np.linalg.norm(residuals(p if refine_focal else p[:6]).reshape(-1, 2), axis=1)
    inl = err < threshold_px
    focal = float(np.exp(p[6]))
    return Resection(p[:3].copy(), p[3:6].copy(), focal, inl, float(np.median(err[inl])) if inl.any() else np.inf)
