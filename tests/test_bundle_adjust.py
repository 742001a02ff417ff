"""Bundle adjustment on the one camera model: any OpenCV coefficient can be refined, and points
that start behind a camera neither stop the solver nor count as converged (issue 16 item 12)."""

from __future__ import annotations

import numpy as np
import pytest

from test_camera_model import points_in_view, random_rig

from aistpp import CameraRig
from aistpp.core.bundle_adjust import bundle_adjust, project_jacobians, reprojection_errors, update_rig
from aistpp.core.rig import perturb_rig


def perturbed(rig: CameraRig, rng: np.random.Generator) -> CameraRig:
    """Cameras turned 1.2 deg, moved 6 cm, focal lengths 2 % off: a start near the truth."""
    return perturb_rig(rig, rng, rotation_deg=1.2, center_cm=6.0, focal_rel=0.02)


def test_jacobians_of_every_coefficient_match_finite_differences():
    rng = np.random.default_rng(3)
    rig = random_rig(rng, 14, views=3, skew=True)
    X = points_in_view(rig, rng, 12)
    intr = ("f", "cx", "cy", "k1", "p1", "k4", "s1", "s4", "tx", "ty")
    uv, jc, jp, depth = project_jacobians(rig, X, intr)
    assert np.abs(uv - rig.project(X)).max() < 1e-9 and (depth > 0).all()
    eps = 1e-7
    for i in range(jc.shape[-1]):
        d = np.zeros((3, jc.shape[-1]))
        d[:, i] = eps
        num = (update_rig(rig, d, intr).project(X) - update_rig(rig, -d, intr).project(X)) / (2 * eps)
        assert np.abs(jc[..., i] - num).max() < 1e-5 * max(1.0, np.abs(num).max()), intr[i - 6] if i >= 6 else i
    with pytest.raises(ValueError, match="k4"):
        project_jacobians(random_rig(rng, 5, views=2), X, ("k4",))  # a 5-coefficient rig has no k4


def _scene(seed: int, n: int = 8):
    rng = np.random.default_rng(seed)
    truth = random_rig(rng, n, views=5)
    X = points_in_view(truth, rng, 150)
    obs = truth.project(X) + rng.normal(0, 0.3, (5, 150, 2))
    return rng, truth, X, obs


def test_a_point_behind_a_camera_gets_zero_weight_and_the_solver_still_runs():
    """A point behind camera 0 with a (necessarily wrong) weighted observation there: its error is
    undefined. It used to make the cost inf, so no step was accepted and the solver stopped at
    once reporting converged=True."""
    rng, truth, X, obs = _scene(5)
    X[7] = truth.centers[0] - 40 * truth.R[0, 2]  # 40 cm behind camera 0, in front of the others
    depth = truth.world_to_camera(X[7])[:, 2]
    assert depth[0] < 0 and (depth[1:] > 50).all()
    obs[:, 7] = truth.project(X[7])
    obs[0, 7] = truth.sizes[0] / 2  # a detection where the point cannot be seen
    init = perturbed(truth, rng)
    X0 = X + rng.normal(0, 2, X.shape)
    before = np.nanmedian(reprojection_errors(init, X0, obs))
    res = bundle_adjust(init, obs, np.ones((5, 150)), X0, intrinsics=("f",), loss="huber", max_iterations=60)
    assert res.behind == 1
    assert np.isfinite(res.cost).all() and res.iterations > 3 and res.converged
    err = reprojection_errors(res.rig, res.points3d, obs)
    assert np.nanmedian(err) < 0.6 < before
    assert np.isnan(err[0, 7]) and np.nanmax(err[1:, 7]) < 2.0


def test_converged_only_when_the_tolerance_is_met():
    rng, truth, X, obs = _scene(6)
    init = perturbed(truth, rng)
    X0 = X + rng.normal(0, 2, X.shape)
    short = bundle_adjust(init, obs, np.ones((5, 150)), X0, intrinsics=("f",), max_iterations=2, tol=1e-12)
    assert short.iterations == 2 and not short.converged
    X0[3] = np.nan  # a weighted observation of an unknown point: the cost cannot be evaluated
    bad = bundle_adjust(init, obs, np.ones((5, 150)), X0, intrinsics=("f",))
    assert not bad.converged and bad.iterations == 0


def test_refines_rational_coefficients_of_an_8_coefficient_rig():
    rng, truth, X, obs = _scene(7, n=8)
    X = X[:60]
    obs = truth.project(X)  # exact
    dist = truth.dist.copy()
    dist[:, [0, 5]] += rng.normal(0, 0.02, (5, 2))  # k1 and k4 wrong
    init = CameraRig(truth.names, truth.sizes, truth.K, dist, truth.rvec, truth.tvec)
    res = bundle_adjust(init, obs, np.ones((5, 60)), X, intrinsics=("k1", "k4"), loss="linear", tol=1e-10)
    assert res.rig.dist.shape == (5, 8)
    assert np.nanmax(reprojection_errors(res.rig, res.points3d, obs)) < 0.05
    assert np.nanmax(reprojection_errors(init, X, obs)) > 1.0
