"""fit-smpl with foot keypoints (issue 19): ankles and feet fitted to heel / toe keypoints, a
planted foot held in place; COCO-17-only input unchanged.

Ground truth: synth with ``joint_set="halpe26"`` and ``planted_feet=True`` (the dancer's path
follows its feet, so a supporting heel or toe is exactly still away from changes of support);
joints and foot vertices of truth and fit are posed by ``smplx.SMPL`` (``smpl_forward``), not by
the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aistpp.core import formats
from aistpp.core.body import load_smpl, load_smpl_data, smpl_forward, smpl_model_path
from aistpp.pipeline import fit_smpl_feet as ff
from aistpp.pipeline.fit_smpl import FitSmplConfig, fit_smpl_sequence
from aistpp.pipeline.triangulate import TriangulateConfig, triangulate_sequence
from tests.conftest import make_synth_data

FOOT_JOINTS = [7, 8, 10, 11]
FOOT_VERTEX_OUTPUTS = list(range(29, 35))  # smplx's big toe, small toe, heel of each foot


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("feet")
    data = make_synth_data(root / "synth", seed=3, sequences=1, frames=240, videos=False, joint_set="halpe26",
                           planted_feet=True)
    seq = data.sequences[0]
    triangulate_sequence(seq, TriangulateConfig(anno_dir=data.anno_dir, save_dir=data.anno_dir / "keypoints3d",
                                                executor="serial", quiet=True))
    fits = {}
    for feet in (True, False):
        save = root / f"motions_{feet}"
        info = fit_smpl_sequence(seq, FitSmplConfig(anno_dir=data.anno_dir, smpl_dir=data.smpl_dir, save_dir=save,
                                                    feet=feet, executor="serial", quiet=True))
        fits[feet] = (formats.load_motion(save / f"{seq}.pkl"), info)
    return data, seq, fits


def _pose(model, motion):
    return smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"])


def _sliding(truth_pts, fit_pts, fps=60.0):
    """Mean horizontal speed (cm/s) of the fitted foot points over the frame pairs where the true
    point is planted (below 1 cm and moving slower than 1 cm/s), and the number of such pairs."""
    h = truth_pts[..., 1]
    v_true = np.linalg.norm(np.diff(truth_pts[..., [0, 2]], axis=0), axis=-1) * fps
    contact = (h[1:] < 1.0) & (h[:-1] < 1.0) & (v_true < 1.0)
    v_fit = np.linalg.norm(np.diff(fit_pts[..., [0, 2]], axis=0), axis=-1) * fps
    return float(v_fit[contact].mean()), int(contact.sum())


def test_feet_fit_meets_the_acceptance_on_planted_synthetic_feet(planted):
    data, seq, fits = planted
    model = load_smpl(data.smpl_dir)
    truth = _pose(model, data.motions[seq])
    with_feet, info = fits[True]
    without, _ = fits[False]
    got, base = _pose(model, with_feet), _pose(model, without)
    err = np.linalg.norm(got[:, FOOT_JOINTS] - truth[:, FOOT_JOINTS], axis=-1).mean(axis=0)
    err_base = np.linalg.norm(base[:, FOOT_JOINTS] - truth[:, FOOT_JOINTS], axis=-1).mean(axis=0)
    assert err.max() <= 2.0, err  # ankle and foot joints within 2 cm
    assert err_base[2:].min() > 2.0, err_base  # the body fit alone leaves the feet rigid: the test can fail
    slide, pairs = _sliding(truth[:, FOOT_VERTEX_OUTPUTS], got[:, FOOT_VERTEX_OUTPUTS])
    slide_base, _ = _sliding(truth[:, FOOT_VERTEX_OUTPUTS], base[:, FOOT_VERTEX_OUTPUTS])
    assert pairs > 60  # a second of planted foot points at least
    assert slide <= 1.0, slide  # cm/s during ground contact
    assert slide_base > 3.0, slide_base
    # the rest of the body stays as good as the body fit
    coco_err = np.linalg.norm(got[:, :24] - truth[:, :24], axis=-1).mean()
    assert coco_err < np.linalg.norm(base[:, :24] - truth[:, :24], axis=-1).mean() + 0.2
    assert info["feet_error_cm"] < 1.5 and info["feet_converged"] and 0 < info["planted_pct"] < 100
    assert with_feet["smpl_poses"].shape == (240, 72)


def test_coco17_only_keypoints_give_the_body_fit_bit_for_bit(planted, tmp_path):
    """Without keypoints3d_full the feet stage does nothing: the motion file equals --no-feet's."""
    data, seq, _ = planted
    kp = formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")
    anno = tmp_path / "anno"
    formats.save_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl", kp["keypoints3d"], kp["keypoints3d_optim"])
    outs = []
    for feet in (True, False):
        info = fit_smpl_sequence(seq, FitSmplConfig(anno_dir=anno, smpl_dir=data.smpl_dir, save_dir=tmp_path / str(feet),
                                                    feet=feet, fps=60.0, executor="serial", quiet=True))
        assert "feet_error_cm" not in info
        outs.append((tmp_path / str(feet) / f"{seq}.pkl").read_bytes())
    assert outs[0] == outs[1]


def test_contacts_are_low_and_slow_points():
    n = 120
    t = np.arange(n) / 60.0
    pts = np.zeros((n, 3, 3))
    pts[:, 0] = [0.0, 0.5, 0.0]  # planted on the floor
    pts[:, 1] = np.stack([30 * t, np.full(n, 0.5), np.zeros(n)], 1)  # low but sliding at 30 cm/s
    pts[:, 2] = [10.0, 12.0, 0.0]  # still but in the air
    pts[60:, 0, 1] = 0.5 + 100 * (t[60:] - t[60])  # lifts off at frame 60 at 1 m/s
    c = ff.contacts(pts, t, height_cm=3.0, speed_cm_s=10.0)
    assert c[:60, 0].all() and not c[62:, 0].any()
    assert not c[:, 1].any() and not c[:, 2].any()


def test_banded_solve_equals_a_dense_solve():
    rng = np.random.default_rng(0)
    n, U = 5, ff.U
    A = rng.normal(size=(n * U, n * U)) * 0.1
    band = np.abs(np.subtract.outer(np.arange(n * U) // U, np.arange(n * U) // U)) <= 2
    H = (A @ A.T) * band + np.eye(n * U) * 5
    D = np.stack([H[t * U:(t + 1) * U, t * U:(t + 1) * U] for t in range(n)])
    U1 = np.stack([H[t * U:(t + 1) * U, (t + 1) * U:(t + 2) * U] for t in range(n - 1)])
    U2 = np.stack([H[t * U:(t + 1) * U, (t + 2) * U:(t + 3) * U] for t in range(n - 2)])
    g = rng.normal(size=(n, U))
    x = ff.banded_solve(D, U1, U2, g, 0.0)
    np.testing.assert_allclose(x.reshape(-1), -np.linalg.solve(H, g.reshape(-1)), rtol=1e-6, atol=1e-8)


def test_points_and_jacobian_agree_with_smplx_and_autograd(planted):
    """The feet model's points equal smplx.SMPL's joints / foot vertices; the batched central
    differences equal torch autograd's Jacobian."""
    data, seq, _ = planted
    model = ff.feet_model(load_smpl_data(smpl_model_path(data.smpl_dir, "neutral")))
    m = data.motions[seq]
    rng = np.random.default_rng(1)
    poses = np.asarray(m["smpl_poses"][:4], np.float64)
    poses[:, 3 * np.array(FOOT_JOINTS)] += rng.normal(0, 0.3, (4, 4))
    P, T, s = torch.as_tensor(poses), torch.as_tensor(np.asarray(m["smpl_trans"][:4], np.float64)), float(m["smpl_scaling"][0])
    pts, J = ff.points_and_jacobian(model, P, T, s, None)
    peer = smpl_forward(load_smpl(data.smpl_dir), poses, m["smpl_trans"][:4], s)
    names = {"left_knee": 4, "left_ankle": 7, "right_knee": 5, "right_ankle": 8, "left_big_toe": 29,
             "left_small_toe": 30, "left_heel": 31, "right_big_toe": 32, "right_small_toe": 33, "right_heel": 34}
    np.testing.assert_allclose(pts, peer[:, [names[n] for n in ff.POINT_NAMES]], atol=2e-3)  # smplx in float32
    lay = ff.feet_layout(model.model)
    cols = [3 * j + c for j in lay.joints for c in range(3)]
    for t in range(2):
        def f(x, t=t):
            p = P[t:t + 1].clone()
            p[0, cols] = x
            return model.forward(p, T[t:t + 1], s)[0, lay.point_index]

        auto = torch.autograd.functional.jacobian(f, P[t, cols]).numpy()
        np.testing.assert_allclose(J[t], auto, atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_short_sequences_and_missing_foot_points(planted, n):
    """A frame or two, and a foot point missing: finite poses, the other points still fitted."""
    data, seq, fits = planted
    model = ff.feet_model(load_smpl_data(smpl_model_path(data.smpl_dir, "neutral")))
    kp = formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")
    body = fits[False][0]
    feet = ff.foot_targets(kp["keypoints3d_full_optim"][:n], "halpe26")
    feet[0, :3] = np.nan  # the left foot unseen in the first frame
    out = ff.fit_feet(model, body["smpl_poses"][:n], body["smpl_trans"][:n], float(body["smpl_scaling"][0]),
                      kp["keypoints3d_optim"][:n], feet, np.arange(n) / 60.0)
    assert np.isfinite(out["smpl_poses"]).all() and out["converged"]
    assert np.nanmax(out["foot_error_cm"]) < 2.0
    assert np.isnan(out["foot_error_cm"][:3]).all() == (n == 1)


def test_blazepose_heels_and_foot_tips_feed_the_feet_stage(planted, tmp_path):
    """``aistpp detect``'s BlazePose-33 points (a heel and one toe tip per foot, no small toe) are
    fitted by the feet stage: the ankle and foot joints near the truth and far better than the
    body fit alone (the same check as with HALPE-26's three points per foot, a little looser)."""
    from aistpp.core.joint_sets import BLAZEPOSE33, HALPE26

    data, seq, fits = planted
    kp = formats.load_keypoints3d(data.anno_dir / "keypoints3d" / f"{seq}.pkl")
    # the triangulated HALPE-26 points re-filed in BlazePose's order (its foot tip: the big toe's)
    source = {n: k for k, n in enumerate(HALPE26)}
    source.update({"left_foot_index": source["left_big_toe"], "right_foot_index": source["right_big_toe"]})
    full = {}
    for key in ("keypoints3d_full", "keypoints3d_full_optim"):
        out = np.full((len(kp[key]), len(BLAZEPOSE33), 3), np.nan, np.float32)
        for k, name in enumerate(BLAZEPOSE33):
            if name in source:
                out[:, k] = kp[key][:, source[name]]
        full[key] = out
    assert np.isnan(full["keypoints3d_full"][:, BLAZEPOSE33.index("mouth_left")]).all()
    anno = tmp_path / "anno"
    formats.save_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl", kp["keypoints3d"], kp["keypoints3d_optim"],
                             **full, joint_set="blazepose33")
    save = tmp_path / "motions"
    info = fit_smpl_sequence(seq, FitSmplConfig(anno_dir=anno, smpl_dir=data.smpl_dir, save_dir=save,
                                                executor="serial", quiet=True))
    assert "feet_error_cm" in info, info
    model = load_smpl(data.smpl_dir)
    truth = _pose(model, data.motions[seq])
    got = _pose(model, formats.load_motion(save / f"{seq}.pkl"))
    base = _pose(model, fits[False][0])
    err = np.linalg.norm(got[:, FOOT_JOINTS] - truth[:, FOOT_JOINTS], axis=-1).mean(axis=0)
    err_base = np.linalg.norm(base[:, FOOT_JOINTS] - truth[:, FOOT_JOINTS], axis=-1).mean(axis=0)
    assert err.max() <= 2.5, err
    assert (err[2:] < 0.6 * err_base[2:]).all(), (err, err_base)
