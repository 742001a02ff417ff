"""Benchmark: fit-smpl's fit time per 1,000 frames for SMPL, SMPL-H and SMPL-X, in one run.

Input per model: synth's dance (``make_motion``) with synth's hand motion (``synth.hands``) on
synth's body model of that kind (``make_body_model`` / ``make_body_model_x``), posed by smplx;
targets are COCO-17 (all models) plus, for SMPL-H / SMPL-X, WholeBody's 42 hand points, with
0.5 cm Gaussian noise. Timed: ``fit_smpl`` (the body) and, for SMPL-H / SMPL-X, ``fit_extras``
(wrists and fingers), single-threaded, after one warm-up fit; reported as seconds per 1,000
frames and as a ratio to the SMPL fit measured in the same run (target: SMPL-X with hands
<= 3x SMPL), with the finger-tip error (cm) against the truth.

    python benchmarks/fit_smpl_models.py            # 1,000 frames
    python benchmarks/fit_smpl_models.py --quick    # 300 frames
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from aistpp.core.fast_body import BodyFK, body_view, full_pose
from aistpp.core.fast_smpl import FastSMPL
from aistpp.core.joint_sets import HANDS42
from aistpp.core.smplx_files import load_model_data
from aistpp.pipeline.fit_smpl import fit_smpl
from aistpp.pipeline.fit_smplx import fit_extras
from aistpp.pipeline.synth.body_model import make_body_model
from aistpp.pipeline.synth.body_model_x import make_body_model_x, model_file_name, write_body_model_x
from aistpp.pipeline.synth.hands import make_hand_motion, model_keypoints
from aistpp.pipeline.synth.motion import make_motion

TIPS = [i for i, n in enumerate(HANDS42) if n.endswith("4")]


def smpl_case(n: int, seed: int):
    """(fast model, COCO targets) for SMPL, posed by smplx.SMPL."""
    from smplx import SMPL
    from smplx.utils import Struct

    from aistpp.core.body import smpl_forward
    from aistpp.core.joints import COCO_TO_SMPL

    data = make_body_model("neutral")
    with contextlib.redirect_stdout(io.StringIO()):
        model = SMPL("synth.pkl", data_struct=Struct(**data), num_betas=10, dtype=torch.float32)
    rng = np.random.default_rng(seed)
    m = make_motion(n, rng)
    gt = smpl_forward(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"])[:, COCO_TO_SMPL]
    return FastSMPL(data), gt + rng.normal(0, 0.5, gt.shape)


def model_x_case(kind: str, n: int, seed: int, folder: Path):
    """(data, BodyFK, FastSMPL of the body view, COCO targets, hand targets, true hand points)."""
    import smplx

    path = folder / model_file_name(kind, "neutral")
    write_body_model_x(path, make_body_model_x(kind))
    data = load_model_data(path, kind)
    fk = BodyFK(data, kind)
    rng = np.random.default_rng(seed)
    m = make_motion(n, rng)
    hands = make_hand_motion(n, rng, np.asarray(data["J_regressor"] @ data["v_template"]), kind)
    pose = full_pose(kind, m["smpl_poses"], **hands)
    pose[:, 20], pose[:, 21] = hands["wrists"][:, 0], hands["wrists"][:, 1]
    cls = smplx.SMPLX if kind == "smplx" else smplx.SMPLH
    with contextlib.redirect_stdout(io.StringIO()):
        peer = cls(str(path), ext=path.suffix[1:], use_pca=False, flat_hand_mean=True, batch_size=n,
                   dtype=torch.float64)
    names = peer.NUM_BODY_JOINTS
    T = lambda a: torch.as_tensor(np.asarray(a, np.float64))  # noqa: E731
    kw = dict(global_orient=T(pose[:, 0]), body_pose=T(pose[:, 1:names + 1].reshape(n, -1)),
              left_hand_pose=T(hands["left_hand_pose"]), right_hand_pose=T(hands["right_hand_pose"]))
    with torch.no_grad():
        out = peer(**kw)
    pts = out.joints[:, : fk.nj + 21].numpy() * float(m["smpl_scaling"][0]) + m["smpl_trans"][:, None]
    full = model_keypoints(pts, kind, "wholebody133")
    noisy = full + rng.normal(0, 0.5, full.shape)
    return data, fk, FastSMPL(body_view(data, kind)), noisy[:, :17], noisy[:, -42:], full[:, -42:]


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 300 if args.quick else 1000
    torch.set_num_threads(1)
    rows = []
    fast, targets = smpl_case(n, 0)
    fit_smpl(fast, targets[:60])  # warm-up
    t_smpl, _ = timed(lambda: fit_smpl(fast, targets))
    rows.append({"model": "smpl", "frames": n, "body_s": t_smpl, "hands_s": 0.0, "s_per_1000": t_smpl * 1000 / n,
                 "ratio": 1.0, "tip_cm": None})
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("smplh", "smplx"):
            data, fk, fast_x, coco, hands, truth = model_x_case(kind, n, 0, Path(tmp))  # the same dance
            t_body, res = timed(lambda: fit_smpl(fast_x, coco))
            t_hands, (motion, _) = timed(lambda: fit_extras(kind, fk, res, hands))
            pose = full_pose(kind, motion["smpl_poses"], **{k: v for k, v in motion.items() if k.endswith("_pose")})
            pts = fk.pose_numpy(pose, res["smpl_trans"], res["smpl_scaling"])
            tip = float(np.linalg.norm(model_keypoints(pts, kind, "wholebody133")[:, -42:][:, TIPS]
                                       - truth[:, TIPS], axis=-1).mean())
            total = t_body + t_hands
            rows.append({"model": f"{kind} + hands", "frames": n, "body_s": t_body, "hands_s": t_hands,
                         "s_per_1000": total * 1000 / n, "ratio": total / t_smpl, "tip_cm": tip})
    table = Table(title=f"fit time per 1,000 frames ({n} frames fitted, 1 thread)")
    for col in ("model", "body s", "hands s", "s / 1,000 frames", "x SMPL", "finger-tip error cm"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["model"], f"{r['body_s']:.2f}", f"{r['hands_s']:.2f}", f"{r['s_per_1000']:.2f}",
                      f"{r['ratio']:.2f}", "-" if r["tip_cm"] is None else f"{r['tip_cm']:.2f}")
    Console().print(table)
    smplx_ratio = next(r["ratio"] for r in rows if r["model"].startswith("smplx"))
    print(json.dumps({"benchmark": "fit_smpl_models", "frames": n, "rows": rows,
                      "smplx_ratio": smplx_ratio, "target_ratio": 3.0, "meets_target": smplx_ratio <= 3.0}))


if __name__ == "__main__":
    main()
