"""Benchmark: aistpp fit-smpl against the original AIST++ recipe on the same targets.

Input: synth's dance motion on synth's body model (``make_body_model``), COCO-17 targets
from smplx (``smpl_forward``) plus 1 cm Gaussian noise. Reports
  ours: wall time for the whole sequence, error to the targets and to the ground truth
        (COCO-17 and all 24 SMPL joints);
  recipe (full smplx forward, plain SGD on MSE, staged trans+scale / +orient / +pose,
        ``aistpp.pipeline.fit_smpl_recipe``): seconds per SGD step measured on the same
        sequence, the PROJECTED time of 10,000 steps, and its error after a full run on a
        short clip (ours is run on that clip too);
  peak RSS (VmHWM) of a fit of 1,000 and 10,000 frames, each in a fresh subprocess that
        loads the model file and the targets as the job does (the targets repeat the
        benchmark sequence; few iterations: memory does not grow with iterations).

    python benchmarks/fit_smpl.py            # 1,000 frames, 10,000 recipe steps on a 4-frame clip
    python benchmarks/fit_smpl.py --quick    # 200 frames, 1,000 recipe steps
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from aistpp.core.body import smpl_forward
from aistpp.core.fast_smpl import FastSMPL
from aistpp.core.joints import COCO_TO_SMPL
from aistpp.pipeline.fit_smpl import fit_smpl
from aistpp.pipeline.synth.motion import make_motion
from fit_smpl_recipe import fit_recipe  # benchmarks/ is on sys.path when run as a script


def body_model():
    """(model dict, smplx.SMPL) of synth's generated body."""
    from smplx import SMPL
    from smplx.utils import Struct

    from aistpp.pipeline.synth.body_model import make_body_model

    data = make_body_model("neutral")
    return data, SMPL("synth.pkl", data_struct=Struct(**data), num_betas=10, dtype=torch.float32)


def make_targets(model, n: int, seed: int, noise: float):
    rng = np.random.default_rng(seed)
    m = make_motion(n, rng, model=model)
    gt = smpl_forward(model, m["smpl_poses"], m["smpl_trans"], m["smpl_scaling"])
    return gt, gt[:, COCO_TO_SMPL] + rng.normal(0, noise, (n, 17, 3))


def errors(model, res, gt, y) -> dict:
    fit = smpl_forward(model, res["smpl_poses"], res["smpl_trans"], res["smpl_scaling"])
    return {
        "to_targets_cm": float(np.linalg.norm(fit[:, COCO_TO_SMPL] - y, axis=-1).mean()),
        "coco_to_gt_cm": float(np.linalg.norm(fit[:, COCO_TO_SMPL] - gt[:, COCO_TO_SMPL], axis=-1).mean()),
        "smpl24_to_gt_cm": float(np.linalg.norm(fit[:, :24] - gt[:, :24], axis=-1).mean()),
    }


def memory_run(model_path: str, targets_path: str) -> None:
    """What a fit-smpl job holds: the model file loaded safely, the targets, the fit."""
    from aistpp.core.body import load_smpl_data

    fast = FastSMPL(load_smpl_data(model_path))
    fit_smpl(fast, np.load(targets_path), iterations=5, init_iterations=2)
    print(peak_rss_mb())


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--frames", type=int)
    ap.add_argument("--clip", type=int, default=4, help="frames of the short clip for the full recipe run")
    ap.add_argument("--steps", type=int, help="recipe SGD steps on the clip (default 10,000)")
    ap.add_argument("--memory", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory:
        memory_run(*args.memory)
        return
    n = args.frames or (200 if args.quick else 1000)
    steps = args.steps or (1000 if args.quick else 10000)
    torch.set_num_threads(1)  # small tensors: on this shared 2-core machine extra threads only contend
    data, model = body_model()
    fast = FastSMPL(data)
    gt, y = make_targets(model, n, 0, 1.0)

    t = time.perf_counter()
    ours = fit_smpl(fast, y, threads=1)
    ours_s = time.perf_counter() - t
    ours_err = errors(model, ours, gt, y)

    # recipe: seconds per step on the same sequence (a few steps), then a full run on a clip
    t = time.perf_counter()
    probe = fit_recipe(model, y, steps=3)
    step_s = probe["seconds_per_step"]
    projected = step_s * 10000
    clip_gt, clip_y = gt[:args.clip], y[:args.clip]
    t = time.perf_counter()
    rec = fit_recipe(model, clip_y, steps=steps)
    rec_s = time.perf_counter() - t
    rec_err = errors(model, rec, clip_gt, clip_y)
    ours_clip = errors(model, fit_smpl(fast, clip_y), clip_gt, clip_y)

    import tempfile
    from pathlib import Path

    from aistpp.pipeline.synth.body_model import write_body_model

    mem = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_body_model(Path(tmp) / "SMPL_NEUTRAL.pkl", data)
        for m in (1000, 10000):
            reps = -(-m // n)
            np.save(Path(tmp) / "y.npy", np.concatenate([y] * reps)[:m])
            out = subprocess.run([sys.executable, __file__, "--memory", str(Path(tmp) / "SMPL_NEUTRAL.pkl"),
                                  str(Path(tmp) / "y.npy")], capture_output=True, text=True)
            mem[m] = float(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else float("nan")

    table = Table(title=f"fit-smpl, {n} frames, 1 cm target noise (errors: mean cm)")
    for col in ("method", "time s", "to targets", "COCO to GT", "24 joints to GT"):
        table.add_column(col, justify="right")
    table.add_row(f"ours ({n} frames, {sum(ours['iterations'])} L-BFGS its)", f"{ours_s:.2f}",
                  *(f"{ours_err[k]:.2f}" for k in ours_err))
    table.add_row(f"recipe ({n} frames, 10,000 steps) PROJECTED", f"{projected:.0f}", "-", "-", "-")
    table.add_row(f"recipe ({args.clip}-frame clip, {steps} steps)", f"{rec_s:.1f}", *(f"{rec_err[k]:.2f}" for k in rec_err))
    table.add_row(f"ours ({args.clip}-frame clip)", "", *(f"{ours_clip[k]:.2f}" for k in ours_clip))
    Console().print(table)
    Console().print(f"recipe: {step_s:.3f} s per SGD step on {n} frames; projected speed-up of ours: "
                    f"{projected / ours_s:,.0f}x (PROJECTED)")
    Console().print(f"peak RSS: {mem[1000]:.0f} MB (1,000 frames), {mem[10000]:.0f} MB (10,000 frames)")
    print(json.dumps({
        "frames": n, "ours_s": ours_s, "ours_iterations": ours["iterations"], "ours": ours_err,
        "recipe_s_per_step": step_s, "recipe_projected_s_10000_steps": projected,
        "projected_speedup": projected / ours_s, "clip_frames": args.clip, "recipe_clip_steps": steps,
        "recipe_clip_s": rec_s, "recipe_clip": rec_err, "ours_clip": ours_clip,
        "peak_rss_mb": {str(k): v for k, v in mem.items()},
    }))


if __name__ == "__main__":
    main()
