"""The one camera model (aistpp.core.camera) against OpenCV, finite differences and its compiled twin.

Peers: ``cv2.projectPoints`` / ``cv2.undistortPoints`` for every distortion model (5, 8, 12, 14
coefficients). OpenCV ignores the skew K[0, 1]; with skew the peer is OpenCV on normalised
coordinates (identity camera matrix) and the 3x3 matrix product ``K @ (x, y, 1)`` done here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp import AistppError, CameraRig
from aistpp.cli import app
from aistpp.core import camera, formats
from aistpp.core.camera import compiled

MODELS = (5, 8, 12, 14)
CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)


def random_coefficients(rng: np.random.Generator, views: int, n: int) -> np.ndarray:
    """Plausible lens coefficients (V, n): radial, tangential, rational, thin prism, tilt (rad)."""
    d = np.zeros((views, n))
    d[:, :5] = rng.uniform(-1, 1, (views, 5)) * [0.12, 0.05, 1e-3, 1e-3, 0.02]
    if n > 5:
        d[:, 5:8] = rng.uniform(-1, 1, (views, 3)) * [0.1, 0.03, 0.01]
    if n > 8:
        d[:, 8:12] = rng.uniform(-1, 1, (views, 4)) * 3e-3
    if n > 12:
        d[:, 12:14] = rng.uniform(-1, 1, (views, 2)) * 0.03
    return d


def random_rig(rng: np.random.Generator, n: int, views: int = 5, skew: bool = False) -> CameraRig:
    """Views on a ring around the origin, each with its own intrinsics, image size and coefficients."""
    ang = np.linspace(0, 2 * np.pi, views, endpoint=False) + rng.uniform(-0.2, 0.2, views)
    sizes = np.array([[1920, 1080], [1280, 720], [960, 540], [1080, 1920], [640, 480]])[rng.integers(0, 5, views)]
    f = rng.uniform(0.6, 1.4, views) * sizes.max(axis=1)
    K = np.zeros((views, 3, 3))
    K[:, 0, 0], K[:, 1, 1] = f, f * rng.uniform(0.97, 1.03, views)
    K[:, :2, 2] = sizes / 2 + rng.normal(0, 8, (views, 2))
    K[:, 2, 2] = 1
    if skew:
        K[:, 0, 1] = rng.uniform(-6, 6, views)
    centres = np.stack([450 * np.sin(ang), rng.uniform(80, 250, views), 450 * np.cos(ang)], 1)
    R = np.empty((views, 3, 3))
    for v in range(views):  # optical axis (z) towards a point near the dancer, then a random roll
        z = rng.normal([0, 100, 0], 20) - centres[v]
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 1.0, 0.0])
        x /= np.linalg.norm(x)
        R[v] = camera.rodrigues(np.array([0, 0, rng.normal(0, 0.15)])) @ np.stack([x, np.cross(z, x), z])
    tvec = -np.einsum("vij,vj->vi", R, centres)
    names = tuple(f"cam{i}" for i in range(views))
    return CameraRig(names, sizes, K, random_coefficients(rng, views, n), camera.rotation_to_rodrigues(R), tvec)


def points_in_view(rig: CameraRig, rng: np.random.Generator, count: int = 400) -> np.ndarray:
    """World points (count, 3) cm in front of every camera, around a dancer."""
    pts = rng.normal([0, 100, 0], [60, 50, 60], (count, 3))
    assert (rig.world_to_camera(pts)[..., 2] > 100).all()
    return pts


def cv_project(rig: CameraRig, v: int, pts: np.ndarray, K: np.ndarray | None = None) -> np.ndarray:
    K = rig.K[v] if K is None else K
    return cv2.projectPoints(pts.reshape(-1, 1, 3), rig.rvec[v], rig.tvec[v], K, rig.dist[v])[0].reshape(-1, 2)


def cv_undistort(rig: CameraRig, v: int, px: np.ndarray, K: np.ndarray | None = None) -> np.ndarray:
    K = rig.K[v] if K is None else K
    return cv2.undistortPoints(px.reshape(-1, 1, 2), K, rig.dist[v], None, None, None, CRITERIA).reshape(-1, 2)


@pytest.mark.parametrize("n", MODELS)
def test_projection_and_undistortion_match_opencv(n):
    rng = np.random.default_rng(n)
    rig = random_rig(rng, n)
    pts = points_in_view(rig, rng)
    ours = rig.project(pts)
    xy = rig.undistort(ours)
    for v in range(len(rig)):
        theirs = cv_project(rig, v, pts)
        assert np.abs(ours[v] - theirs).max() < 1e-6
        assert np.abs(xy[v] - cv_undistort(rig, v, theirs)).max() * rig.K[v, 0, 0] < 1e-6
    # and undistortion inverts projection: back to X_cam[:2] / z
    cam = rig.world_to_camera(pts)
    assert np.abs(xy - cam[..., :2] / cam[..., 2:]).max() < 1e-9
    # pixels anywhere in the image (not only where points project)
    px = rng.uniform(0, 1, (len(rig), 300, 2)) * rig.sizes[:, None]
    und = rig.undistort(px)
    for v in range(len(rig)):
        assert np.abs(und[v] - cv_undistort(rig, v, px[v])).max() * rig.K[v, 0, 0] < 1e-6


@pytest.mark.parametrize("n", (5, 14))
def test_skew_is_honoured_both_ways(n):
    rng = np.random.default_rng(20 + n)
    rig = random_rig(rng, n, skew=True)
    assert np.abs(rig.K[:, 0, 1]).min() > 0.1
    pts = points_in_view(rig, rng)
    ours = rig.project(pts)
    for v in range(len(rig)):
        normalised = cv_project(rig, v, pts, K=np.eye(3))  # OpenCV's distortion, no intrinsics
        theirs = (np.c_[normalised, np.ones(len(pts))] @ rig.K[v].T)[:, :2]
        assert np.abs(ours[v] - theirs).max() < 1e-6
        # undistortion: the full inverse of K (skew included), then OpenCV's undistortion
        back = np.c_[ours[v], np.ones(len(pts))] @ np.linalg.inv(rig.K[v]).T
        assert np.abs(rig.undistort(ours)[v] - cv_undistort(rig, v, back[:, :2], K=np.eye(3))).max() < 1e-9
    # the compiled undistortion (used by triangulation) agrees: one convention
    from aistpp.core.triangulation import undistort

    assert np.abs(undistort(rig, ours) - rig.undistort(ours)).max() < 1e-12
    # and skew matters: ignoring it (what OpenCV does) is off by more than a pixel somewhere
    assert max(np.abs(ours[v] - cv_project(rig, v, pts)).max() for v in range(len(rig))) > 1.0


@pytest.mark.parametrize("n", MODELS)
def test_compiled_equals_numpy(n):
    rng = np.random.default_rng(40 + n)
    rig = random_rig(rng, n, skew=True)
    pts = points_in_view(rig, rng)
    uv, depth = camera.project(rig.K, rig.dist, rig.R, rig.tvec, pts)
    cuv, cdepth = compiled.project_points(rig.K, rig.dist, rig.R, rig.tvec, pts)
    assert np.abs(uv - cuv).max() < 1e-9 and np.abs(depth - cdepth).max() < 1e-9
    px = np.concatenate([uv, rng.uniform(0, 1, (len(rig), 200, 2)) * rig.sizes[:, None]], axis=1)
    px[0, :7] = np.nan
    a, b = compiled.undistort_points(px, rig.K, rig.dist), camera.undistort(rig.K, rig.dist, px)
    assert np.array_equal(np.isnan(a), np.isnan(b)) and np.isnan(a[0, :7]).all()
    assert np.nanmax(np.abs(a - b)) < 1e-12


def _numeric(f, x: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of f (array -> array) w.r.t. each entry of x: (*f.shape, *x.shape)."""
    cols = []
    for i in range(x.size):
        d = np.zeros(x.size)
        d[i] = eps
        cols.append((f(x + d.reshape(x.shape)) - f(x - d.reshape(x.shape))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(*cols[0].shape, *x.shape)


@pytest.mark.parametrize("n", MODELS)
def test_distortion_jacobians_match_finite_differences(n):
    rng = np.random.default_rng(60 + n)
    dist = random_coefficients(rng, 3, n)
    xy = rng.uniform(-0.6, 0.6, (3, 40, 2))
    out, jxy, jk = camera.distort_jacobians(xy, dist)
    assert np.abs(out - camera.distort(xy, dist)).max() < 1e-15
    for v in range(3):
        num = _numeric(lambda p: camera.distort(p[None], dist[v:v + 1])[0], xy[v], 1e-6)  # (P, 2, P, 2)
        diag = num[np.arange(40), :, np.arange(40), :]  # (P, 2, 2)
        assert np.abs(diag - jxy[v]).max() < 1e-7
        numk = _numeric(lambda k: camera.distort(xy[v:v + 1], k[None])[0], dist[v], 1e-6)  # (P, 2, n)
        assert np.abs(numk - jk[v]).max() < 1e-7


@pytest.mark.parametrize("n", (5, 8, 14))
def test_projection_jacobians_match_finite_differences(n):
    rng = np.random.default_rng(80 + n)
    rig = random_rig(rng, n, views=3, skew=True)
    X = points_in_view(rig, rng, 25)
    jac = camera.project_jacobians(rig.K, rig.dist, rig.R, rig.tvec, X)
    assert np.abs(jac.uv - rig.project(X)).max() < 1e-9 and np.abs(jac.depth - rig.world_to_camera(X)[..., 2]).max() < 1e-9
    P = len(X)

    def proj(K=rig.K, dist=rig.dist, R=rig.R, t=rig.tvec, pts=X):
        return camera.project(K, dist, R, t, pts)[0]

    num = _numeric(lambda p: proj(pts=p), X, 1e-4)  # (V, P, 2, P, 3)
    assert np.abs(num[:, np.arange(P), :, np.arange(P), :].transpose(1, 0, 2, 3) - jac.point).max() < 1e-5
    def replaced(name: str, v: int):
        """proj as a function of view v's value of ``name`` (the other views unchanged)."""
        def f(a):
            full = getattr(rig, "tvec" if name == "t" else name).copy()
            full[v] = a
            return proj(**{name: full})[v]
        return f

    for v in range(3):
        rot = _numeric(lambda d: replaced("R", v)(camera.rodrigues(d) @ rig.R[v]), np.zeros(3), 1e-6)
        assert np.abs(rot - jac.rotation[v]).max() < 1e-4
        assert np.abs(_numeric(replaced("t", v), rig.tvec[v], 1e-4) - jac.translation[v]).max() < 1e-5
        Kn = _numeric(replaced("K", v), rig.K[v], 1e-4)  # (P, 2, 3, 3)
        mine = np.stack([Kn[..., 0, 0], Kn[..., 1, 1], Kn[..., 0, 2], Kn[..., 1, 2], Kn[..., 0, 1]], -1)
        assert np.abs(mine - jac.intrinsics[v]).max() < 1e-6
        dk = _numeric(replaced("dist", v), rig.dist[v], 1e-7)  # px per unit coefficient
        assert np.abs(dk - jac.distortion[v]).max() < 1e-5 * np.abs(jac.distortion[v]).max()
        # Rodrigues vector: the left-update derivative times the SO(3) left Jacobian
        rv = _numeric(lambda r: replaced("R", v)(camera.rodrigues(r)), rig.rvec[v], 1e-6)
        assert np.abs(rv - jac.rotation[v] @ camera.left_jacobian(rig.rvec[v])).max() < 1e-4


@pytest.mark.parametrize("n", (8, 12, 14))
def test_camera_json_with_more_coefficients_projects_like_opencv(tmp_path, n):
    """Issue 16 item 13: such a file used to be cut to 5 coefficients (12.8 px off) or refused."""
    rng = np.random.default_rng(100 + n)
    rig = random_rig(rng, n)
    items = rig.to_json_list()
    items[1]["distortions"] = items[1]["distortions"][:5]  # views may carry fewer: padded with zeros
    (tmp_path / "setting1.json").write_text(json.dumps(items))
    back = formats.load_cameras(tmp_path / "setting1.json")
    assert back.dist.shape == (len(rig), n) and not back.dist[1, 5:].any()
    pts = points_in_view(rig, rng)
    ours = back.project(pts)
    for v, item in enumerate(items):
        theirs = cv2.projectPoints(pts.reshape(-1, 1, 3), np.array(item["rotation"]), np.array(item["translation"]),
                                   np.array(item["matrix"]), np.array(item["distortions"]))[0].reshape(-1, 2)
        assert np.abs(ours[v] - theirs).max() < 1e-6
    # the coefficients are not lost: cut to 5 they would project elsewhere
    cut = CameraRig(back.names, back.sizes, back.K, back.dist[:, :5], back.rvec, back.tvec)
    assert np.abs(cut.project(pts) - ours).max() > 1.0
    # every other tool format keeps them too
    for name in ("rig.toml", "rig.yml", "emc"):
        res = CliRunner().invoke(app, ["cameras", "convert", str(tmp_path / "setting1.json"), str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        res = CliRunner().invoke(app, ["cameras", "convert", str(tmp_path / name), str(tmp_path / f"{name}.json")])
        assert res.exit_code == 0, res.output
        assert np.abs(formats.load_cameras(tmp_path / f"{name}.json").project(pts) - ours).max() < 1e-6


@pytest.mark.parametrize("count", (6, 7, 9, 13, 15))
def test_other_coefficient_counts_are_refused_naming_the_file(tmp_path, count):
    rig = random_rig(np.random.default_rng(0), 5, views=2)
    items = rig.to_json_list()
    items[1]["distortions"] = [0.01] * count
    path = tmp_path / "setting7.json"
    path.write_text(json.dumps(items))
    with pytest.raises(AistppError, match=f"{count} distortion coefficients") as err:
        formats.load_cameras(path)
    assert "setting7.json" in str(err.value)
    res = CliRunner().invoke(app, ["cameras", "convert", str(path), str(tmp_path / "out.toml")])
    assert res.exit_code == 2 and "setting7.json" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_intrinsic_matrix_must_be_upper_triangular():
    rig = random_rig(np.random.default_rng(1), 5, views=2)
    K = rig.K.copy()
    K[1, 1, 0] = 3.0
    with pytest.raises(AistppError, match="cam1"):
        CameraRig(rig.names, rig.sizes, K, rig.dist, rig.rvec, rig.tvec)


def test_points_behind_a_camera_project_to_nan():
    rig = random_rig(np.random.default_rng(2), 5, views=3)
    behind = rig.centers[0] - 50 * rig.R[0, 2]  # 50 cm behind camera 0, along its optical axis
    px = rig.project(behind[None])
    assert np.isnan(px[0]).all() and np.isfinite(px[1:]).all()


# ---- one model: no other projection or distortion code in src/ ----------------------------------------
SRC = Path(__file__).resolve().parents[1] / "src" / "aistpp"
FORBIDDEN = {
    "a distortion polynomial (r^2 terms)": re.compile(r"\br2\b|\br\*\*2\b"),
    "a distortion coefficient in arithmetic": re.compile(r"\b[kp][1-6]\b\s*[*+]|[*+]\s*\b[kp][1-6]\b"),
    "OpenCV's camera model": re.compile(r"cv2\.(projectPoints|undistortPoints|undistort|Rodrigues)\b"),
    "the skew entry": re.compile(r"K\[[^\[\]]*\b0, *1\]"),
}


def test_projection_and_distortion_live_only_in_the_camera_module():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if (SRC / "core" / "camera") in path.parents:
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            for what, pattern in FORBIDDEN.items():
                if pattern.search(code) and not code.strip().startswith(('"', "'")):
                    found.append(f"{path.relative_to(SRC)}:{i}: {what}: {line.strip()}")
    assert not found, "\n".join(found)
    # and the rule can fail: the camera module itself has each of them
    text = "\n".join(p.read_text() for p in (SRC / "core" / "camera").glob("*.py"))
    for what, pattern in list(FORBIDDEN.items())[:2]:
        assert pattern.search(text), what


def test_hostile_values_in_a_camera_json_are_one_error_naming_the_file(tmp_path):
    rig = random_rig(np.random.default_rng(3), 5, views=2)
    deep = 0.0
    for _ in range(200):
        deep = [deep]
    for key, value, words in (("translation", [10**400, 0, 0], "numbers"), ("matrix", deep, "must hold numbers"),
                              ("distortions", [[0.1, 0.0], [0.0]], "numbers"), ("rotation", [0.0, "x", 0.0], "numbers")):
        items = rig.to_json_list()
        items[1][key] = value
        path = tmp_path / f"bad_{key}.json"
        path.write_text(json.dumps(items))
        with pytest.raises(AistppError, match=words) as err:
            formats.load_cameras(path)
        assert path.name in str(err.value) and len(str(err.value)) < 400
