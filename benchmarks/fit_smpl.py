"""Benchmark: aistpp fit-smpl at every length and rate, and against the original AIST++ recipe.

Input: synth's dance motion on synth's body model (``make_body_model``), COCO-17 targets plus
1 cm Gaussian noise and 5 % missing joints. Reports

  accuracy sweep: 24-joint error to the ground truth (smplx) at 1,000 and 3,000 frames (60 fps),
        the same motion at 30, 20, 5 and 1.5 fps and with 2-second gaps, as a ratio to the
        1,000-frame 60 fps figure and to the 3,000-frame one (the same span of the dance as the
        lower rates: the rate's effect without the content's); converged, iterations, final loss;
  scaling: time per 1,000 frames (and its ratio to the longest run's; JSON ``flatness_cpu``: the
        largest over the smallest) and peak RSS (VmHWM) of a fit of 1,000 ... 20,000 frames, each in
        a fresh subprocess that loads the model file and the targets as the job does (targets from
        FastSMPL, which agrees with smplx, for one dancer's ``long_dance``; full fits, to convergence);
  recipe (``benchmarks/fit_smpl_recipe.py``: full smplx forward, plain SGD on MSE, staged
        trans+scale / +orient / +pose): its FULL staged schedule (10,000 steps) run on a short
        clip (measured time and error, ours on the same clip), and its seconds per step measured
        on 1,000 frames (a few steps) -> the PROJECTED time of 10,000 steps on 1,000 frames;
  device: with CUDA present, the 1,000-frame fit again on the GPU (largest joint difference).

    python benchmarks/fit_smpl.py            # scaling 1,000 / 3,000 / 10,000 / 20,000 frames, 10-frame clip
    python benchmarks/fit_smpl.py --quick    # scaling 1,000 / 3,000, recipe 2,000 steps (NOT the full schedule)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from fit_smpl_recipe import fit_recipe  # benchmarks/ is on sys.path when run as a script
from rich.console import Console
from rich.table import Table

from aistpp.core.body import smpl_forward
from aistpp.core.fast_smpl import FastSMPL
from aistpp.core.joints import COCO_TO_SMPL
from aistpp.pipeline.fit_smpl import fit_smpl
from aistpp.pipeline.synth.motion import make_motion


def body_model():
    """(model dict, smplx.SMPL) of synth's generated body."""
    from smplx import SMPL
    from smplx.utils import Struct

    from aistpp.pipeline.synth.body_model import make_body_model

    data = make_body_model("neutral")
    return data, SMPL("synth.pkl", data_struct=Struct(**data), num_betas=10, dtype=torch.float32)


def make_targets(model, n: int, seed: int, noise: float = 1.0, missing: float = 0.05):
    rng = np.random.default_rng(seed)
    m = make_motion(n, rng, model=model)
    gt = smpl_forward(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"])
    y = gt[:, COCO_TO_SMPL] + rng.normal(0, noise, (n, 17, 3))
    y[rng.random((n, 17)) < missing] = np.nan
    return gt, y


def errors(model, res, gt, y) -> dict:
    fit = smpl_forward(model, res["smpl_poses"], res["smpl_trans"], res["smpl_scaling"])
    ok = np.isfinite(y).all(-1)
    return {
        "to_targets_cm": float(np.linalg.norm(fit[:, COCO_TO_SMPL] - y, axis=-1)[ok].mean()),
        "coco_to_gt_cm": float(np.linalg.norm(fit[:, COCO_TO_SMPL] - gt[:, COCO_TO_SMPL], axis=-1).mean()),
        "smpl24_to_gt_cm": float(np.linalg.norm(fit[:, :24] - gt[:, :24], axis=-1).mean()),
    }


def long_dance(frames: int, rng, block: int = 2000, blend: int = 60) -> dict:
    """One dancer's motion of any length (no body model: ``make_motion``'s nominal root height):
    ``make_motion`` dances of ``block`` frames (generating one long dance takes memory that grows
    with its length: 3 GB at 20,000 frames), each moved to continue where the one before ends and
    cross-faded into it over ``blend`` frames (rotations slerped), all at the first one's scaling.
    Joined without that, they would be different people (scaling 90-100 each) jumping at every
    join, which no single body fits: the shared scale's stage then took 22 / 56 / 98 iterations
    at 1,000 / 3,000 / 6,000 frames, and the windows of the dances far from that compromise longer."""
    from scipy.spatial.transform import Rotation

    first = make_motion(min(frames, block), rng)
    s = float(first["smpl_scaling"][0])
    poses, trans = [first["smpl_poses"].astype(np.float64)], [first["smpl_trans"].astype(np.float64)]
    done = len(poses[0])
    while done < frames:
        m = make_motion(min(block, frames - done) + blend, rng)
        p, tr = m["smpl_poses"].astype(np.float64), m["smpl_trans"].astype(np.float64)
        tr[:, 1] -= 0.93 * (float(m["smpl_scaling"][0]) - s)  # the same dancer's height
        prev_p, prev_t = poses[-1][-blend:], trans[-1][-blend:]
        tr[:, [0, 2]] += prev_t[:, [0, 2]].mean(0) - tr[:blend, [0, 2]].mean(0)  # continues where it was
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(blend) + 0.5) / blend)  # 0 -> 1, smooth
        a = Rotation.from_rotvec(prev_p.reshape(-1, 3))
        b = Rotation.from_rotvec(p[:blend].reshape(-1, 3))
        step = (a.inv() * b).as_rotvec() * np.repeat(w, p.shape[1] // 3)[:, None]
        poses[-1][-blend:] = (a * Rotation.from_rotvec(step)).as_rotvec().reshape(blend, -1)
        trans[-1][-blend:] = prev_t + w[:, None] * (tr[:blend] - prev_t)
        poses.append(p[blend:])
        trans.append(tr[blend:])
        done += len(p) - blend
    return {"smpl_poses": np.concatenate(poses)[:frames], "smpl_trans": np.concatenate(trans)[:frames],
            "smpl_scaling": np.array([s])}


def scaling_run(model_path: str, frames: int) -> None:
    """What a fit-smpl job holds: the model file loaded safely, the targets, the fit (printed:
    seconds, peak RSS MB, converged, iterations)."""
    from aistpp.core.body import load_smpl_data

    torch.set_num_threads(1)
    fast = FastSMPL(load_smpl_data(model_path))
    rng = np.random.default_rng(frames)
    m = long_dance(frames, rng)
    pts = []
    for a in range(0, frames, 2000):  # posed in pieces: memory does not grow with the length
        with torch.no_grad():
            p = fast(torch.as_tensor(m["smpl_poses"][a:a + 2000], dtype=torch.float64),
                     torch.as_tensor(m["smpl_trans"][a:a + 2000], dtype=torch.float64), float(m["smpl_scaling"][0]))
        pts.append(p[:, fast.coco_index()].numpy())
    y = np.concatenate(pts) + rng.normal(0, 1.0, (frames, 17, 3))
    y[rng.random((frames, 17)) < 0.05] = np.nan
    t, c = time.perf_counter(), time.process_time()
    res = fit_smpl(fast, y)
    print(json.dumps({"s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "rss_mb": peak_rss_mb(),
                      "converged": res["converged"], "iterations": res["iterations"],
                      "iterations_median": res["iterations_median"], "solves": len(res["solves"]),
                      "globals_iterations": res["solves"][0]["iterations"], "loss": res["loss"]}))


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MB): VmHWM, which, unlike ru_maxrss, does not
    inherit the parent's peak across fork + exec."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sweep(model, fast) -> list[dict]:
    gt, y = make_targets(model, 3000, 0)
    rows = []

    def one(label, idx, **kw):
        t = time.perf_counter()
        res = fit_smpl(fast, y[idx], **kw)
        s = time.perf_counter() - t
        e = errors(model, res, gt[idx], y[idx])
        rows.append({"case": label, "frames": len(idx), "s": s, "converged": res["converged"],
                     "iterations": res["iterations"], "iterations_median": res["iterations_median"],
                     "loss": res["loss"], **e})

    one("1,000 frames, 60 fps", np.arange(1000))
    one("3,000 frames, 60 fps", np.arange(3000))
    for step, fps in ((2, 30), (3, 20), (12, 5), (40, 1.5)):
        one(f"{fps} fps (every {step}th of 3,000)", np.arange(0, 3000, step), fps=fps)
    keep = np.ones(3000, bool)
    for a in range(300, 3000, 600):
        keep[a:a + 120] = False  # 2-second gaps
    idx = np.flatnonzero(keep)
    one("60 fps with 2 s gaps", idx, times=idx / 60)
    ref, span = rows[0]["smpl24_to_gt_cm"], rows[1]["smpl24_to_gt_cm"]
    for r in rows:
        r["ratio"] = r["smpl24_to_gt_cm"] / ref
        # the lower rates and the gaps cover the whole 3,000-frame dance, not its first 1,000 frames:
        # their error against the same span fitted at 60 fps separates the rate from the content
        r["ratio_same_span"] = r["smpl24_to_gt_cm"] / span if r is not rows[0] else 1.0
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--clip", type=int, default=10, help="frames of the short clip for the full recipe run")
    ap.add_argument("--steps", type=int, help="recipe SGD steps on the clip (default: the full 10,000)")
    ap.add_argument("--scaling", type=int, nargs="*", help="frame counts of the scaling runs")
    ap.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        scaling_run(args.run[0], int(args.run[1]))
        return
    steps = args.steps or (2000 if args.quick else 10000)
    lengths = args.scaling or ([1000, 3000] if args.quick else [1000, 3000, 10000, 20000])
    torch.set_num_threads(1)  # small tensors: on this shared 2-core machine extra threads only contend
    data, model = body_model()
    fast = FastSMPL(data)
    console = Console(width=200)

    rows = sweep(model, fast)
    table = Table(title="fit-smpl accuracy: 1 cm noise, 5 % missing (24-joint error vs the 1,000-frame 60 fps figure)")
    for col in ("case", "frames", "converged", "iterations median / max", "loss", "24 joints cm", "ratio",
                "vs 3,000 at 60 fps", "s"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(r["case"], str(r["frames"]), str(r["converged"]), f"{r['iterations_median']:g} / {r['iterations']}",
                      f"{r['loss']:.2f}",
                      f"{r['smpl24_to_gt_cm']:.3f}", f"{r['ratio']:.2f}", f"{r['ratio_same_span']:.2f}", f"{r['s']:.1f}")
    console.print(table)

    scaling = []
    from aistpp.pipeline.synth.body_model import write_body_model

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "SMPL_NEUTRAL.pkl"
        write_body_model(path, data)
        for n in lengths:
            out = subprocess.run([sys.executable, __file__, "--run", str(path), str(n)], capture_output=True, text=True)
            if out.returncode:
                raise SystemExit(f"scaling run of {n} frames failed:\n{out.stderr[-2000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            scaling.append({"frames": n, "s_per_1000": r["s"] / n * 1000, "cpu_s_per_1000": r["cpu_s"] / n * 1000, **r})
    for r in scaling:  # flat: each length's CPU time per 1,000 frames against the longest run's
        r["cpu_ratio_to_longest"] = r["cpu_s_per_1000"] / scaling[-1]["cpu_s_per_1000"]
    table = Table(title="fit-smpl scaling (fresh process per run, 1 thread; CPU seconds: wall time on a shared "
                  "machine follows the load)")
    for col in ("frames", "s", "s per 1,000 frames", "CPU s per 1,000 frames", "vs longest", "peak RSS MB", "converged",
                "iterations per solve: median / max", "scale stage", "solves"):
        table.add_column(col, justify="right")
    for r in scaling:
        table.add_row(str(r["frames"]), f"{r['s']:.1f}", f"{r['s_per_1000']:.2f}", f"{r['cpu_s_per_1000']:.2f}",
                      f"{r['cpu_ratio_to_longest']:.2f}",
                      f"{r['rss_mb']:.0f}", str(r["converged"]), f"{r['iterations_median']:g} / {r['iterations']}",
                      str(r["globals_iterations"]), str(r["solves"]))
    console.print(table)

    # the original recipe: seconds per step on 1,000 frames (measured), the full schedule on a clip
    gt, y = make_targets(model, 1000, 1)
    probe = fit_recipe(model, y, steps=3)
    step_s = probe["seconds_per_step"]
    t = time.perf_counter()
    ours = fit_smpl(fast, y)
    ours_s = time.perf_counter() - t
    clip_gt, clip_y = gt[: args.clip], y[: args.clip]
    t = time.perf_counter()
    rec = fit_recipe(model, clip_y, steps=steps)
    rec_s = time.perf_counter() - t
    t = time.perf_counter()
    ours_clip_res = fit_smpl(fast, clip_y)
    ours_clip_s = time.perf_counter() - t
    rec_err, ours_clip = errors(model, rec, clip_gt, clip_y), errors(model, ours_clip_res, clip_gt, clip_y)
    ours_err = errors(model, ours, gt, y)
    table = Table(title="fit-smpl vs the original recipe (errors: mean cm)")
    for col in ("method", "time s", "to targets", "COCO to GT", "24 joints to GT"):
        table.add_column(col, justify="right")
    full = "full schedule" if steps == 10000 else "SHORTENED schedule"
    table.add_row(f"recipe, {args.clip}-frame clip, {steps:,} steps ({full}), measured", f"{rec_s:.1f}",
                  *(f"{rec_err[k]:.2f}" for k in rec_err))
    table.add_row(f"ours, {args.clip}-frame clip, measured", f"{ours_clip_s:.2f}", *(f"{ours_clip[k]:.2f}" for k in ours_clip))
    table.add_row("ours, 1,000 frames, measured", f"{ours_s:.2f}", *(f"{ours_err[k]:.2f}" for k in ours_err))
    table.add_row(f"recipe, 1,000 frames, 10,000 steps: PROJECTED from {step_s:.3f} s/step measured",
                  f"{step_s * 10000:.0f}", "-", "-", "-")
    console.print(table)
    console.print(f"projected speed-up on 1,000 frames: {step_s * 10000 / ours_s:,.0f}x (PROJECTED: the recipe's "
                  "10,000 steps were not run on 1,000 frames)")
    device = {"cuda": "not available here"}
    if torch.cuda.is_available():  # the same fit on the GPU: joints within 1e-3 cm of the CPU's
        cuda = fit_smpl(FastSMPL(data, device="cuda"), y)
        a = smpl_forward(model, ours["smpl_poses"], ours["smpl_trans"], ours["smpl_scaling"])[:, :24]
        b = smpl_forward(model, cuda["smpl_poses"], cuda["smpl_trans"], cuda["smpl_scaling"])[:, :24]
        device = {"cuda_max_joint_diff_cm": float(np.abs(a - b).max()), "cuda_converged": cuda["converged"],
                  "cuda_iterations": cuda["iterations"], "cpu_iterations": ours["iterations"]}
    console.print(f"--device cuda: {device}")
    print(json.dumps({
        "sweep": rows, "scaling": scaling, "device": device,
        "flatness_cpu": max(r["cpu_s_per_1000"] for r in scaling) / min(r["cpu_s_per_1000"] for r in scaling),
        "recipe": {"s_per_step_1000_frames": step_s, "projected_s_10000_steps_1000_frames": step_s * 10000,
                   "clip_frames": args.clip, "clip_steps": steps, "clip_s": rec_s, "clip": rec_err},
        "ours": {"s_1000_frames": ours_s, "errors_1000_frames": ours_err, "clip_s": ours_clip_s, "clip": ours_clip},
        "projected_speedup": step_s * 10000 / ours_s,
    }))


if __name__ == "__main__":
    main()
