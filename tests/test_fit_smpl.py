"""aistpp fit-smpl: fast SMPL posing vs smplx, fit accuracy on synthetic ground truth, CLI.

The body model is a crude SMPL-format dict built here (6890 vertices, a human-like rest
skeleton, face vertices at the head, random pose/shape blend shapes), loaded by smplx for
ground truth; motion comes from ``aistpp.pipeline.synth.motion.make_motion``.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from typer.testing import CliRunner

from aistpp.core.body import load_smpl, smpl_forward
from aistpp.core.fast_smpl import FastSMPL, axis_angle_to_matrix
from aistpp.core.joints import COCO_TO_SMPL, SMPL_PARENTS, SMPL_VERTEX_JOINTS
from aistpp.pipeline.fit_smpl import continuous_rotvec, fit_smpl
from aistpp.pipeline.synth.motion import make_motion

REST = np.array([
    [0, .95, 0], [.09, .86, 0], [-.09, .86, 0], [0, 1.05, -.01], [.10, .48, .01], [-.10, .48, .01],
    [0, 1.18, 0], [.10, .08, -.02], [-.10, .08, -.02], [0, 1.24, .02], [.11, .02, .10], [-.11, .02, .10],
    [0, 1.45, 0], [.07, 1.37, 0], [-.07, 1.37, 0], [0, 1.52, .04], [.18, 1.40, 0], [-.18, 1.40, 0],
    [.44, 1.40, -.01], [-.44, 1.40, -.01], [.70, 1.40, 0], [-.70, 1.40, 0], [.78, 1.40, 0], [-.78, 1.40, 0]])
FACE = {"nose": [0, 1.58, .12], "right_eye": [-.03, 1.62, .09], "left_eye": [.03, 1.62, .09],
        "right_ear": [-.07, 1.59, 0], "left_ear": [.07, 1.59, 0]}


def crude_model(seed: int = 0) -> dict:
    """A valid SMPL-format dict (metres): sparse J_regressor, weights rows summing to 1."""
    rng = np.random.default_rng(seed)
    nv = 6890
    bone = rng.integers(1, 24, nv)
    u = rng.random(nv)[:, None]
    par = SMPL_PARENTS[bone]
    v = REST[par] * (1 - u) + REST[bone] * u + rng.normal(0, 0.03, (nv, 3))
    W = np.zeros((nv, 24))
    W[np.arange(nv), par] = 0.7 + 0.3 * rng.random(nv)
    W[np.arange(nv), bone] += 1 - W[np.arange(nv), par]
    ids = 100 + np.arange(96)  # each joint regressed as the mean of 4 vertices around it
    off = rng.normal(0, 0.01, (24, 4, 3))
    v[ids] = (REST[:, None] + off - off.mean(1, keepdims=True)).reshape(-1, 3)
    J = sp.csc_matrix((np.full(96, 0.25), (np.repeat(np.arange(24), 4), ids)), shape=(24, nv))
    for name, vid in SMPL_VERTEX_JOINTS:
        if name in FACE:
            v[vid] = FACE[name]
            W[vid] = 0
            W[vid, [15, 12]] = [0.9, 0.1]
    kintree = np.stack([np.r_[4294967295, SMPL_PARENTS[1:]], np.arange(24)]).astype(np.int64)
    return {
        "v_template": v, "f": rng.integers(0, nv, (13776, 3)).astype(np.uint32), "J_regressor": J,
        "weights": W, "posedirs": rng.normal(0, 1e-3, (nv, 3, 207)), "shapedirs": rng.normal(0, 1e-2, (nv, 3, 10)),
        "kintree_table": kintree,
    }


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    """(model dict, smplx.SMPL, smpl folder)."""
    folder = tmp_path_factory.mktemp("smpl")
    data = crude_model()
    with open(folder / "SMPL_NEUTRAL.pkl", "wb") as f:
        pickle.dump(data, f)
    return data, load_smpl(folder), folder


def synth_targets(model, n: int, seed: int, noise: float = 0.0):
    rng = np.random.default_rng(seed)
    motion = make_motion(n, rng, model=model)
    gt = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"])
    return motion, gt, gt[:, COCO_TO_SMPL] + rng.normal(0, noise, (n, 17, 3))


def test_fast_smpl_matches_smplx(body):
    data, model, _ = body
    rng = np.random.default_rng(5)
    n = 16
    poses, trans, betas = rng.normal(0, 0.4, (n, 72)), rng.normal(0, 50, (n, 3)), rng.normal(0, 1, 10)
    fast = FastSMPL(data)
    for b in (None, betas):
        ref = smpl_forward(model, poses, trans, 93.5, betas=b)
        out = fast(torch.tensor(poses), torch.tensor(trans), 93.5, None if b is None else torch.tensor(b)).numpy()
        assert np.abs(out[:, fast.coco_index()] - ref[:, COCO_TO_SMPL]).max() < 1e-4
        assert np.abs(out[:, :24] - ref[:, :24]).max() < 1e-4
    # the pose blend shapes matter: without them the face vertices move
    no_pd = dict(data, posedirs=np.zeros_like(data["posedirs"]))
    out = FastSMPL(no_pd)(torch.tensor(poses), torch.tensor(trans), 93.5).numpy()
    assert np.abs(out[:, fast.coco_index()] - ref[:, COCO_TO_SMPL]).max() > 1e-3


def test_rodrigues_matches_scipy():
    from scipy.spatial.transform import Rotation

    r = np.random.default_rng(0).normal(0, 1.5, (50, 3))
    r[0] = 0
    r[1] = [1e-7, 0, 0]
    ours = axis_angle_to_matrix(torch.tensor(r)).numpy()
    assert np.abs(ours - Rotation.from_rotvec(r).as_matrix()).max() < 1e-12


def test_continuous_rotvec_removes_flips():
    from scipy.spatial.transform import Rotation

    t = np.linspace(0, 1, 200)
    rot = Rotation.from_euler("YXZ", np.stack([1.8 * np.pi * t, 0.2 * np.sin(6 * t), 0.1 * t], 1))
    canon = rot.as_rotvec()
    assert np.abs(np.diff(canon, axis=0)).max() > 3  # canonical rotvecs flip past pi
    cont = continuous_rotvec(canon[:, None])[:, 0]
    assert np.abs(np.diff(cont, axis=0)).max() < 0.1
    assert np.allclose(Rotation.from_rotvec(cont).as_matrix(), rot.as_matrix(), atol=1e-9)


def test_fit_noise_free(body):
    data, model, _ = body
    motion, gt, y = synth_targets(model, 120, seed=1)
    res = fit_smpl(FastSMPL(data), y)
    fit = smpl_forward(model, res["smpl_poses"], res["smpl_trans"], res["smpl_scaling"])
    e17 = np.linalg.norm(fit[:, COCO_TO_SMPL] - y, axis=-1)
    e24 = np.linalg.norm(fit[:, :24] - gt[:, :24], axis=-1)
    assert e17.mean() < 1.0
    assert e24.mean() < 3.0
    assert abs(res["smpl_scaling"][0] / motion["smpl_scaling"][0] - 1) < 0.02
    assert np.allclose(res["joint_error_cm"], e17.mean(0), atol=1e-3)
    assert res["smpl_poses"].shape == (120, 72) and res["smpl_trans"].shape == (120, 3)
    # no impossible twists: knees and elbows stay (nearly) hinges and never hyperextend
    p = res["smpl_poses"].reshape(120, 24, 3)
    assert np.abs(p[:, [4, 5]][..., 1:]).max() < 0.25 and p[:, [4, 5], 0].min() > -0.1
    assert np.abs(p[:, [18, 19], 2]).max() < 0.25
    assert p[:, 18, 1].max() < 0.1 and p[:, 19, 1].min() > -0.1


def test_fit_noisy_nan_and_outliers(body):
    data, model, _ = body
    rng = np.random.default_rng(7)
    _, gt, y = synth_targets(model, 150, seed=2, noise=1.0)
    y = y.copy()
    y[rng.random((150, 17)) < 0.05] = np.nan  # 5% missing
    y[10:20] = np.nan  # a gap of whole frames
    out = rng.random((150, 17)) < 0.01
    y[out] += 40.0  # a few wild points
    res = fit_smpl(FastSMPL(data), y)
    fit = smpl_forward(model, res["smpl_poses"], res["smpl_trans"], res["smpl_scaling"])
    e17 = np.linalg.norm(fit[:, COCO_TO_SMPL] - gt[:, COCO_TO_SMPL], axis=-1)
    e24 = np.linalg.norm(fit[:, :24] - gt[:, :24], axis=-1)
    assert np.isfinite(res["smpl_poses"]).all()
    keep = np.ones(150, bool)
    keep[10:20] = False
    assert e17[keep].mean() < 1.5
    assert e24[keep].mean() < 3.0
    assert e17[10:20].mean() < 4.0  # the gap is bridged by the smoothness term


def test_fit_betas(body):
    data, model, _ = body
    _, _, y = synth_targets(model, 60, seed=3)
    res = fit_smpl(FastSMPL(data), y, fit_betas=True)
    assert res["smpl_betas"].shape == (10,)
    fit = smpl_forward(model, res["smpl_poses"], res["smpl_trans"], res["smpl_scaling"], betas=res["smpl_betas"])
    assert np.linalg.norm(fit[:, COCO_TO_SMPL] - y, axis=-1).mean() < 1.0


def _anno(tmp_path, model, names=("gWA_sFM_cAll_d27_mWA2_ch21",), n=40):
    from aistpp.core import formats

    anno = tmp_path / "anno"
    for i, name in enumerate(names):
        _, gt, y = synth_targets(model, n, seed=10 + i)
        formats.save_keypoints3d(anno / "keypoints3d" / f"{name}.pkl", y + 5.0, y)  # raw differs from optim
    return anno


def test_cli_fit_smpl(body, tmp_path):
    from aistpp.cli import app
    from aistpp.core import formats

    data, model, smpl_dir = body
    name = "gWA_sFM_cAll_d27_mWA2_ch21"
    anno = _anno(tmp_path, model)
    out = tmp_path / "out"
    args = ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(smpl_dir), "--save-dir", str(out),
            "--executor", "serial", "--device", "cpu"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    m = formats.load_motion(out / f"{name}.pkl")
    assert m["smpl_poses"].shape == (40, 72) and m["smpl_trans"].shape == (40, 3) and m["smpl_scaling"].shape == (1,)
    assert "smpl_betas" not in m and m["smpl_loss"] < 1.0
    y = formats.load_keypoints3d(anno / "keypoints3d" / f"{name}.pkl")["keypoints3d_optim"]
    fit = smpl_forward(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"])[:, COCO_TO_SMPL]
    assert np.linalg.norm(fit - y, axis=-1).mean() < 1.0  # the optim keypoints were fitted
    assert "left_wrist" in res.output  # per-joint error table
    # resumable: the second run skips; --keypoints raw with --overwrite fits the shifted set
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0 and "1 skipped" in res.output
    res = CliRunner().invoke(app, args + ["--keypoints", "raw", "--overwrite", "--fit-betas"])
    assert res.exit_code == 0, res.output
    m = formats.load_motion(out / f"{name}.pkl")
    assert m["smpl_betas"].shape == (10,)
    fit = smpl_forward(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"], betas=m["smpl_betas"])
    assert np.linalg.norm(fit[:, COCO_TO_SMPL] - (y + 5.0), axis=-1).mean() < 1.0


def test_cli_user_errors(body, tmp_path):
    from aistpp.cli import app

    _, model, smpl_dir = body
    anno = _anno(tmp_path, model, n=5)
    base = ["fit-smpl", "--anno-dir", str(anno), "--save-dir", str(tmp_path / "o"), "--executor", "serial"]
    res = CliRunner().invoke(app, base + ["--smpl-dir", str(tmp_path / "nowhere")])
    assert res.exit_code == 2 and "SMPL" in res.output
    res = CliRunner().invoke(app, base + ["--smpl-dir", str(smpl_dir), "--gender", "female"])
    assert res.exit_code == 2 and "SMPL_FEMALE.pkl" in res.output
    if not torch.cuda.is_available():  # on a CUDA machine the benchmark compares the devices
        res = CliRunner().invoke(app, base + ["--smpl-dir", str(smpl_dir), "--device", "cuda"])
        assert res.exit_code == 2 and "CUDA" in res.output and len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(app, base + ["--smpl-dir", str(smpl_dir), "--sequence-names", "gWA_sFM_cAll_d01_mWA0_ch01"])
    assert res.exit_code == 2 and "not found" in res.output


def test_cuda_path_without_a_gpu(body, tmp_path, monkeypatch):
    """--device cuda as far as it goes here: the solver's tensors all stay on the model's device
    (run on torch's 'meta' device, which has no data: a tensor made on the host instead would
    show up as a host tensor); a CUDA device reported available but unusable (this CPU build)
    fails in one line, exit 2, naming the device, and nothing is written."""
    from aistpp.cli import app
    from aistpp.pipeline import fit_smpl as fit_mod
    from aistpp.pipeline import fit_smpl_solve as fs
    from aistpp.pipeline.fit_smpl import FitWeights, _twist_axes, joint_limits

    fast = FastSMPL(body[0], device="meta")
    solver = fs.Solver(fast, FitWeights(), joint_limits(), _twist_axes())
    n, kw = 5, dict(dtype=torch.float64, device="meta")
    fr = fs.Frames(torch.zeros(17, 3, n, **kw), torch.ones(17, n, **kw), torch.zeros(3, 3, n, **kw),
                   torch.zeros(n - 2, 3, **kw), torch.zeros(n - 2, **kw))
    theta, log_s, betas = torch.zeros(fs.P, n, **kw), torch.zeros((), **kw), torch.zeros(10, **kw)
    H = solver.normal_equations(theta, log_s, betas, fr, 95.0, True)
    assert set(H) == {"D", "U1", "U2", "B", "C"} and all(v.device.type == "meta" for v in H.values())
    assert H["B"].shape == (n, fs.P, 11) and solver.objective(theta, log_s, betas, fr, 95.0).device.type == "meta"
    if torch.cuda.is_available():
        return  # a real GPU: the benchmark compares the devices
    _, model, smpl_dir = body
    anno = _anno(tmp_path, model, n=5)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    fit_mod._fast_model.cache_clear()
    out = tmp_path / "o"
    res = CliRunner().invoke(app, ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(smpl_dir),
                                   "--save-dir", str(out), "--executor", "serial", "--device", "cuda"])
    fit_mod._fast_model.cache_clear()
    assert res.exit_code == 2, res.output
    assert "--device cuda" in res.output and len(res.output.strip().splitlines()) == 1
    assert not list(out.glob("*.pkl"))


def test_cli_frame_rate_and_convergence_report(body, tmp_path):
    """The frame rate comes from keypoints2d's timestamps (microseconds) unless --fps is given;
    convergence, iterations and the final loss reach the table and the JSON report; a cap that
    is hit is a warning (and converged: false); timestamps that go back are a user error."""
    import json

    from aistpp.cli import app
    from aistpp.core import formats

    _, model, smpl_dir = body
    name = "gWA_sFM_cAll_d27_mWA2_ch21"
    anno = _anno(tmp_path, model, n=30)
    kp2d = anno / "keypoints2d" / f"{name}.pkl"
    ts = np.round(np.arange(30) * 1e6 / 30).astype(np.int64)  # 30 fps
    formats.save_keypoints2d(kp2d, np.zeros((1, 30, 17, 3)), np.ones((1, 30)), ts)
    report = tmp_path / "report.json"
    base = ["fit-smpl", "--anno-dir", str(anno), "--smpl-dir", str(smpl_dir), "--save-dir", str(tmp_path / "o"),
            "--executor", "serial", "--device", "cpu", "--report", str(report), "--overwrite"]

    def info(args):
        res = CliRunner().invoke(app, base + args)
        assert res.exit_code == 0, res.output
        return json.loads(report.read_text())["items"][0]["info"], res.output

    got, out = info([])
    assert abs(got["fps"] - 30) < 0.01 and got["time_source"] == "keypoints2d timestamps"
    assert got["converged"] is True and 1 < got["iterations"] < 200 and got["loss"] > 0
    assert len(got["solves"]) == 1 and got["iterations_median"] == got["iterations"] == got["solves"][0]["iterations"]
    assert "True" in out and "warning" not in out  # the converged column (narrow terminal: header wraps)
    got, _ = info(["--fps", "50"])
    assert abs(got["fps"] - 50) < 1e-6 and got["time_source"] == "--fps"
    got, out = info(["--iterations", "1"])
    assert got["converged"] is False and got["iterations"] == 1 and "iteration cap" in got["warnings"][0]
    assert "warning" in out and "iteration cap" in out
    formats.save_keypoints2d(kp2d, np.zeros((1, 30, 17, 3)), np.ones((1, 30)), ts[::-1].copy())
    res = CliRunner().invoke(app, base)
    assert res.exit_code == 2 and "timestamps" in res.output and f"{name}.pkl" in res.output


def test_cli_on_synth_dataset(synth_data, tmp_path):
    """End to end on synth's dataset and body model: fitted joints vs the ground-truth motion."""
    from aistpp.cli import app
    from aistpp.core import formats

    out = tmp_path / "motions"
    args = ["fit-smpl", "--anno-dir", str(synth_data.anno_dir), "--smpl-dir", str(synth_data.smpl_dir),
            "--save-dir", str(out), "--keypoints", "raw", "--workers", "2", "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    model = load_smpl(synth_data.smpl_dir)
    for seq in synth_data.sequences:
        m, gt = formats.load_motion(out / f"{seq}.pkl"), synth_data.motions[seq]
        fit = smpl_forward(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"])[:, :24]
        ref = smpl_forward(model, gt["smpl_poses"], gt["smpl_trans"], gt["smpl_scaling"])[:, :24]
        assert np.linalg.norm(fit - ref, axis=-1).mean() < 3.0


# ---- the solver's pieces ---------------------------------------------------------------
def test_solver_jacobians_match_autograd(body):
    """Analytic point and rotation Jacobians = autograd's (pose blend shapes off: the Hessian
    leaves them out by design), betas' forward-mode Jacobian too."""
    from scipy.spatial.transform import Rotation

    from aistpp.pipeline import fit_smpl_solve as fs
    from aistpp.pipeline.fit_smpl import FitWeights, _twist_axes, joint_limits

    data = dict(body[0], posedirs=np.zeros_like(body[0]["posedirs"]))
    fast = FastSMPL(data)
    solver = fs.Solver(fast, FitWeights(), joint_limits(), _twist_axes())
    n, rng = 3, np.random.default_rng(0)
    theta = torch.tensor(rng.normal(0, 0.5, (fs.P, n)))
    root0 = torch.tensor(Rotation.random(n, random_state=1).as_matrix().transpose(1, 2, 0).copy())
    zeros = torch.zeros(17, 3, n, dtype=torch.float64)
    fr = fs.Frames(zeros, torch.ones(17, n, dtype=torch.float64), root0, torch.zeros(0, 3), torch.zeros(0))
    log_s, betas = torch.tensor(0.1, dtype=torch.float64), torch.tensor(rng.normal(0, 1, 10))
    Jd, Jg, JR, _ = solver.jacobians(theta, log_s, betas, fr, 95.0)

    def points(x, b=betas):
        th = x.reshape(fs.P, n)
        R = solver._full(solver.rotations(th, fr))
        return fast.forward_frames_last(R, b)[solver.cidx] * (95.0 * torch.exp(log_s)) + th[3:6][None]

    J = torch.autograd.functional.jacobian(points, theta.reshape(-1)).reshape(17, 3, n, fs.P, n)
    JRref = torch.autograd.functional.jacobian(lambda x: solver.rotations(x.reshape(fs.P, n), fr),
                                               theta.reshape(-1)).reshape(16, 3, 3, n, fs.P, n)
    Jb = torch.autograd.functional.jacobian(lambda b: points(theta.reshape(-1), b), betas)  # (17, 3, n, 10)
    for k in range(n):
        assert torch.allclose(Jd[k], J[:, :, k, :, k], atol=1e-9)
        assert torch.allclose(Jg[k, ..., 1:], Jb[:, :, k], atol=1e-9)
        for m, col in enumerate(fs.COLS):
            assert torch.allclose(JR[k, m], JRref[m, :, :, k, col:col + 3, k].reshape(9, 3), atol=1e-12)


def test_normal_equations_are_gauss_newton(body):
    """The assembled residual blocks = J^T H J from autograd: J the Jacobian of the model's points
    and rotations in every unknown (frames, scale, betas), H the Hessian of the objective in them,
    plus the priors' Hessian; uneven frame times. (The acceleration's effect on the scale and betas
    was once left out of the border and corner.)"""
    from scipy.spatial.transform import Rotation

    from aistpp.pipeline import fit_smpl_solve as fs
    from aistpp.pipeline.fit_smpl import FitWeights, _twist_axes, joint_limits

    data = dict(body[0], posedirs=np.zeros_like(body[0]["posedirs"]))
    fast = FastSMPL(data, num_betas=3)
    solver = fs.Solver(fast, FitWeights(), joint_limits(), _twist_axes())
    n, rng, P = 6, np.random.default_rng(4), fs.P
    theta = torch.tensor(rng.normal(0, 0.4, (P, n)))
    theta[3:6] = torch.tensor(rng.normal(0, 5, (3, n)))
    root0 = torch.tensor(Rotation.random(n, random_state=2).as_matrix().transpose(1, 2, 0).copy())
    c, q = fs.temporal_coefficients(np.cumsum(rng.uniform(0.01, 0.05, n)), 0.5)
    fr = fs.Frames(torch.tensor(rng.normal(0, 20, (17, 3, n))), torch.tensor((rng.random((17, n)) > 0.1) * 1.0),
                   root0, torch.tensor(c), torch.tensor(q))
    log_s, betas, s0 = torch.tensor(0.05, dtype=torch.float64), torch.tensor(rng.normal(0, 1, 3)), 95.0
    H = solver.normal_equations(theta, log_s, betas, fr, s0, True)
    x0 = torch.cat([theta.T.reshape(-1), log_s.reshape(1), betas])

    def split(x):
        return x[: n * P].reshape(n, P).T, x[n * P], x[n * P + 1:]

    def model(x):
        pts, R = solver.model(*split(x), fr, s0)
        return torch.cat([pts.reshape(-1), R.reshape(-1)])

    k = 17 * 3 * n
    J = torch.autograd.functional.jacobian(model, x0)
    Hm = torch.autograd.functional.hessian(lambda v: solver.cost(v[:k].reshape(17, 3, n), v[k:].reshape(16, 3, 3, n),
                                                                 theta, betas, fr), model(x0))
    Hp = torch.autograd.functional.hessian(lambda x: solver.cost(*solver.model(theta, log_s, betas, fr, s0),
                                                                 split(x)[0], split(x)[2], fr), x0)
    ref = (J.T @ Hm @ J + Hp).numpy()
    blk = lambda i, j: ref[i * P:(i + 1) * P, j * P:(j + 1) * P]  # noqa: E731
    tol = 1e-8 * np.abs(ref).max()
    for t in range(n):
        assert np.abs(H["D"][t].numpy() - blk(t, t)).max() < tol
        assert np.abs(H["B"][t].numpy() - ref[t * P:(t + 1) * P, n * P:]).max() < tol
        if t + 1 < n:
            assert np.abs(H["U1"][t].numpy() - blk(t, t + 1)).max() < tol
        if t + 2 < n:
            assert np.abs(H["U2"][t].numpy() - blk(t, t + 2)).max() < tol
    assert np.abs(H["C"].numpy() - ref[n * P:, n * P:]).max() < tol


def test_block_cholesky_step_matches_dense():
    """The O(n) block-pentadiagonal solve with a Schur-complemented border = a dense solve."""
    from aistpp.pipeline import fit_smpl_solve as fs
    from aistpp.pipeline.fit_smpl_lm import lm_step

    rng = np.random.default_rng(3)
    n, P, G = 7, fs.P, 3
    rows = []  # residuals touching three consecutive frames and the globals: pentadiagonal + border
    for i in range(n - 2):
        r = np.zeros((60, n * P + G))
        r[:, i * P:(i + 3) * P] = rng.normal(0, 1, (60, 3 * P))
        r[:, n * P:] = rng.normal(0, 1, (60, G))
        rows.append(r)
    J = np.concatenate(rows)
    H = J.T @ J + np.eye(n * P + G)
    blk = lambda i, j: H[i * P:(i + 1) * P, j * P:(j + 1) * P]  # noqa: E731
    Hd = {"D": np.stack([blk(t, t) for t in range(n)]), "U1": np.stack([blk(t, t + 1) for t in range(n - 1)]),
          "U2": np.stack([blk(t, t + 2) for t in range(n - 2)]), "B": H[: n * P, n * P:].reshape(n, P, G),
          "C": H[n * P:, n * P:]}
    g = rng.normal(0, 1, n * P + G)
    d, dg = lm_step(Hd, g[: n * P].reshape(n, P), g[n * P:], 0.0)
    assert np.allclose(np.r_[d.reshape(-1), dg], np.linalg.solve(H, -g), atol=1e-6)
    d, _ = lm_step(Hd, g[: n * P].reshape(n, P), None, 0.0)
    assert np.allclose(d.reshape(-1), np.linalg.solve(H[: n * P, : n * P], -g[: n * P]), atol=1e-6)


def test_windows_cover_and_blend():
    from aistpp.pipeline.fit_smpl import windows

    # 761 and 1500: a window shares frames with both neighbours and the two ramps meet (the
    # evenly spaced windows of 1,500 frames overlap by 125; before, the last window sat 20 frames
    # from the one before and the weights summed to up to 2 there: 12 cm errors at 30 fps)
    for n in (5, 400, 401, 761, 1234, 1500, 3000):
        total = np.zeros(n)
        wins = windows(n, 400, 40)
        for a, b, w in wins:
            assert b - a == min(n, 400) and (w > 0).all()
            total[a:b] += w
        assert np.allclose(total, 1.0)
        assert all(b0 - a1 >= 40 for (_, b0, _), (a1, _, _) in zip(wins, wins[1:]))  # neighbours overlap
        starts = [a for a, _, _ in wins]
        assert len(set(np.diff(starts))) <= 2 if len(starts) > 1 else True  # evenly spread (rounding)


def test_globals_runs_are_the_same_problem_at_every_length():
    """The scale's stage sees runs of consecutive frames, evenly spread, whatever the length (single
    frames spread over 6,000 frames sat 15 frames apart: 98 iterations there vs 22 at 1,000)."""
    from aistpp.pipeline.fit_smpl import spread_runs

    assert np.array_equal(spread_runs(300, 400, 40), np.arange(300))
    for n in (401, 480, 1000, 6000, 20000):
        idx = spread_runs(n, 400, 40)
        assert idx[0] == 0 and idx[-1] == n - 1 and (np.diff(idx) > 0).all()
        assert 360 <= len(idx) <= 400
        breaks = np.flatnonzero(np.diff(idx) > 1)
        runs = np.diff(np.r_[0, breaks + 1, len(idx)])
        if n >= 1000:  # far apart: ten separate runs of 40 consecutive frames, evenly spaced
            assert len(runs) == 10 and (runs == 40).all()
            assert np.ptp(np.diff(idx[np.r_[0, breaks + 1]])) <= 1
        else:  # close: some runs touch, never a lone frame
            assert runs.min() >= 40


def test_globals_stage_share_of_the_frames():
    """The scale stage's frames are a fixed share of the sequence (at least three runs, at most
    400): its cost is the same share of the fit at every length."""
    from aistpp.pipeline.fit_smpl import Solve, spread_runs

    cfg = Solve()
    for n, want in ((401, 120), (480, 120), (1000, 150), (2000, 300), (3000, 400), (20000, 400)):
        assert cfg.globals_count(n) == want
    assert len(spread_runs(1000, cfg.globals_count(1000), cfg.globals_run)) == 160  # four runs of 40


def test_globals_response_is_the_dense_schur_complement(body):
    """The windows' globals step pieces = a dense computation: g the autograd gradient of E in the
    globals (scale, betas), Y = H^-1 B and S = C - B^T H^-1 B from the dense Gauss-Newton Hessian
    (H the frames' block, B the border, C the corner), uneven frame times."""
    from scipy.spatial.transform import Rotation

    from aistpp.pipeline import fit_smpl_solve as fs
    from aistpp.pipeline.fit_smpl import FitWeights, _twist_axes, joint_limits

    fast = FastSMPL(body[0], num_betas=3)
    solver = fs.Solver(fast, FitWeights(), joint_limits(), _twist_axes())
    n, rng, P = 7, np.random.default_rng(8), fs.P
    theta = rng.normal(0, 0.3, (P, n))
    theta[3:6] = rng.normal(0, 5, (3, n))
    root0 = torch.tensor(Rotation.random(n, random_state=3).as_matrix().transpose(1, 2, 0).copy())
    c, q = fs.temporal_coefficients(np.cumsum(rng.uniform(0.01, 0.05, n)), 0.5)
    fr = fs.Frames(torch.tensor(rng.normal(0, 20, (17, 3, n))), torch.tensor((rng.random((17, n)) > 0.1) * 1.0),
                   root0, torch.tensor(c), torch.tensor(q))
    log_s, betas, s0 = 0.03, rng.normal(0, 1, 3), 95.0
    out = fs.globals_response(solver, theta, log_s, betas, fr, s0)
    H = {k: v.numpy() for k, v in solver.normal_equations(torch.tensor(theta), torch.tensor(log_s),
                                                           torch.tensor(betas), fr, s0, True).items()}
    dense = np.zeros((n * P, n * P))
    for t in range(n):
        dense[t * P:(t + 1) * P, t * P:(t + 1) * P] = H["D"][t]
        for d, U in ((1, H["U1"]), (2, H["U2"])):
            if t + d < n:
                dense[t * P:(t + 1) * P, (t + d) * P:(t + d + 1) * P] = U[t]
                dense[(t + d) * P:(t + d + 1) * P, t * P:(t + 1) * P] = U[t].T
    B = H["B"].reshape(n * P, -1)
    Y = np.linalg.solve(dense + 1e-9 * np.eye(n * P), B)
    assert np.allclose(out["Y"], Y.reshape(n, P, -1).transpose(1, 0, 2), rtol=1e-6, atol=1e-9 * np.abs(Y).max())
    assert np.allclose(out["S"], H["C"] - B.T @ Y, rtol=1e-6)
    x = torch.tensor(np.r_[log_s, betas], requires_grad=True)
    E = solver.objective(torch.tensor(theta), x[0], x[1:], fr, s0)
    assert np.allclose(out["g"], torch.autograd.grad(E, x)[0].numpy(), rtol=1e-9)


# ---- acceptance: every length, rate and gap (issue 22) ---------------------------------
@pytest.fixture(scope="module")
def sweep():
    """synth's body model (smplx for the truth) and a 60 fps dance that breaks the fitter's
    assumptions: sharp accents (80 ms bumps) on the limbs, moving wrists and ankles (which the
    fitter keeps at zero) and a body shape of sd 0.5 per beta (it fits betas = 0); 1 cm noise, 5 % of the
    joints missing. Returns the fit-and-score function and the reference figure (480 frames,
    60 fps: two windows; the benchmark sweeps 1,000 to 20,000)."""
    from smplx import SMPL
    from smplx.utils import Struct

    from aistpp.pipeline.synth.body_model import make_body_model

    data = make_body_model("neutral")
    model = SMPL("synth.pkl", data_struct=Struct(**data), num_betas=10, dtype=torch.float32)
    rng = np.random.default_rng(22)
    n = 480
    m = make_motion(n, rng, model=model)
    poses = m["smpl_poses"].reshape(n, 24, 3).astype(np.float64)
    t = np.arange(n) / 60
    for _ in range(12):  # accents: a joint jerks by up to 0.25 rad and back within ~0.1 s
        j = rng.choice([1, 2, 4, 5, 16, 17, 18, 19])
        poses[:, j] += rng.uniform(-0.25, 0.25, 3) * np.exp(-0.5 * ((t - rng.uniform(0, t[-1])) / 0.04) ** 2)[:, None]
    betas = rng.normal(0, 0.5, 10)  # realistic body variety: shape sd 0.5
    gt = smpl_forward(model, poses.reshape(n, 72), m["smpl_trans"], m["smpl_scaling"], betas=betas)
    y = gt[:, COCO_TO_SMPL] + rng.normal(0, 1.0, (n, 17, 3))
    y[rng.random((n, 17)) < 0.05] = np.nan
    fast = FastSMPL(data)

    def error(idx, **kw) -> tuple[float, dict]:
        res = fit_smpl(fast, y[idx], **kw)
        fit = smpl_forward(model, res["smpl_poses"], res["smpl_trans"], res["smpl_scaling"])
        return float(np.linalg.norm(fit[:, :24] - gt[idx, :24], axis=-1).mean()), res

    ref, res = error(np.arange(n))
    assert res["converged"] and len(res["solves"]) > 1  # long enough for windows
    return error, ref


CASES = {  # name: (frame indices into the 60 fps motion, fps given, times given, bound on the ratio)
    "10 frames": (np.arange(10), 60, False, 1.2),
    "25 frames": (np.arange(25), 60, False, 1.2),
    "60 frames": (np.arange(60), 60, False, 1.2),
    "250 frames": (np.arange(250), 60, False, 1.2),
    "30 fps": (np.arange(0, 480, 2), 30, False, 1.2),
    "20 fps": (np.arange(0, 480, 3), 20, False, 1.2),
    "5 fps": (np.arange(0, 480, 12), 5, False, 1.6),
    "1.5 fps": (np.arange(0, 480, 40), 1.5, False, 1.7),
    "2 s gaps": (np.r_[0:60, 180:300, 420:480], None, True, 1.2),
}


@pytest.mark.parametrize("case", list(CASES))
def test_accuracy_every_length_and_rate(sweep, case):
    """24-joint error against the 480-frame 60 fps figure: within 1.2x for 10 to 250 frames, 30 and
    20 fps and 2-second gaps, and under 2 cm at >= 20 fps;
    1.6x at 5 fps and 1.7x at 1.5 fps, where frames 0.2 and 0.67 s apart are fitted one by one (no
    smoothing across more than 0.12 s) under the pose prior the sequence gives (measured 1.36x and
    1.49x; at 1.5 fps it was 10x when the temporal terms assumed contiguous 60 fps frames, 1.9x with
    the generic prior alone; 5 fps smoothed across 0.2 s: 1.46x). Below ~8 fps a frame fitted alone
    cannot average its own 1 cm noise away, which the 60 fps reference does."""
    error, ref = sweep
    idx, fps, timed, bound = CASES[case]
    err, res = error(idx, fps=fps or 60, times=idx / 60 if timed else None)
    assert res["converged"]
    assert abs(res["fps"] - (fps or 60)) < 1e-6
    print(f"{case}: {err:.3f} cm, reference {ref:.3f} cm, ratio {err / ref:.2f}, {res['iterations']} iterations")
    assert err < bound * ref
    if fps is None or fps >= 20:
        assert err < 2.0


def test_isolated_frame_missing_a_wrist_keeps_the_dancers_elbow_bend():
    """At 1.5 fps no smoothing reaches a frame; with its wrist missing, the elbow's bend is
    unobserved. Truth: a dance whose right elbow stays bent (1.1-1.5 rad); the fit must put the
    wrist of such frames far nearer the truth than the straight arm a zero-centred prior gives
    (the truth with the elbow zeroed, computed here by smplx), and leave the other frames as they
    were (an all-seen sequence has no centre)."""
    from smplx import SMPL
    from smplx.utils import Struct

    from aistpp.pipeline.fit_smpl import prior_centre
    from aistpp.pipeline.synth.body_model import make_body_model

    data = make_body_model("neutral")
    model = SMPL("synth.pkl", data_struct=Struct(**data), num_betas=10, dtype=torch.float32)
    rng = np.random.default_rng(5)
    n = 16
    m = make_motion(n * 40, rng, model=model)
    poses = m["smpl_poses"].reshape(-1, 24, 3)[::40].astype(np.float64)
    poses[:, 19] = 0.0
    poses[:, 19, 1] = rng.uniform(1.1, 1.5, n)  # the right elbow's flexion (SMPL: +y)
    trans = m["smpl_trans"][::40]
    gt = smpl_forward(model, poses.reshape(n, 72), trans, m["smpl_scaling"])
    straight = poses.copy()
    straight[:, 19] = 0.0
    gt_straight = smpl_forward(model, straight.reshape(n, 72), trans, m["smpl_scaling"])
    y = gt[:, COCO_TO_SMPL] + rng.normal(0, 1.0, (n, 17, 3))
    gone = np.array([3, 8, 12])
    y[gone, 10] = np.nan  # COCO right wrist
    res = fit_smpl(FastSMPL(data), y, fps=1.5)
    fit = smpl_forward(model, res["smpl_poses"], res["smpl_trans"], res["smpl_scaling"])
    err = np.linalg.norm(fit[gone, 21] - gt[gone, 21], axis=-1)  # SMPL right wrist
    err_straight = np.linalg.norm(gt_straight[gone, 21] - gt[gone, 21], axis=-1)
    print("wrist error", err.round(1), "straight arm", err_straight.round(1))
    assert err_straight.min() > 15  # the case is a real one
    bend = res["smpl_poses"].reshape(n, 24, 3)[gone, 19, 1]
    print("elbow", bend.round(2), "true", poses[gone, 19, 1].round(2))
    assert err.mean() < 0.5 * err_straight.mean()
    assert np.abs(bend - poses[gone, 19, 1]).max() < 0.4
    # the centre: only where a joint moving a missing keypoint has no fully seen frame within the gap
    mask = np.ones((5, 2), bool)
    mask[2, 1] = False
    moves = np.array([[1, 0], [1, 1]], bool)  # keypoint 1 moves with joints 0 and 1
    start = np.arange(30.0).reshape(6, 5)
    c = prior_centre(start, mask, moves, np.arange(5) * 0.6, 0.5)
    assert np.allclose(c[:, 2], np.median(start[:, [0, 1, 3, 4]], axis=1)) and not c[:, [0, 1, 3, 4]].any()
    assert prior_centre(start, mask, moves, np.arange(5) * 0.1, 0.5) is None  # neighbours smooth it
    assert prior_centre(start, np.ones((5, 2), bool), moves, np.arange(5) * 0.6, 0.5) is None


def test_sequence_prior_and_isolated_frames():
    """The frames no smoothing reaches, and the prior a sequence gives them: per unknown, the
    median of its fitted values and noise / (1.4826 MAD)^2, clipped to [floor, 100 x noise]."""
    from aistpp.pipeline.fit_smpl import isolated_frames, sequence_prior

    t = np.r_[0:10, 30, 60:62, 90:95] / 60.0  # a run, a frame alone, a pair, a run
    assert isolated_frames(t, 0.12).tolist() == [10, 11, 12]  # alone, and a pair (the acceleration needs three)
    assert isolated_frames(np.arange(5) * 0.5, 0.12).tolist() == [0, 1, 2, 3, 4]
    assert isolated_frames(np.arange(5) / 60, 0.12).tolist() == []
    rng = np.random.default_rng(0)
    body = np.stack([rng.normal(0.3, 0.2, 4001), rng.normal(-1.0, 0.01, 4001), rng.normal(0, 5.0, 4001)])
    mu, w = sequence_prior(body, 2.0, 0.6)
    assert np.all(np.abs(mu - [0.3, -1.0, 0.0]) < [0.02, 0.002, 0.5])
    np.testing.assert_allclose(w[0], 2.0 / 0.2**2, rtol=0.08)  # a Gaussian's 1.4826 MAD is its sd
    assert w[1] == 200.0 and w[2] == 0.6  # held to 0.1 rad at most; never weaker than the generic prior
