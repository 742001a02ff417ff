"""Benchmark: motion features of a 10,000-frame sequence (target: under 1 s), vectorised vs a
per-frame Python loop computing the same kinetic features (the peer, measured in the same run).

    python benchmarks/features.py [--frames 10000]

Uses synth's generated SMPL-format body model and random poses; prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from aistpp.pipeline.features import _fast, geometric_features, kinetic_features, smpl_joints_m
from aistpp.pipeline.synth.body_model import make_body_model, write_body_model


def loop_kinetic(joints: np.ndarray, fps: float) -> np.ndarray:
    """The same kinetic features, frame by frame and joint by joint in Python."""
    n, J, _ = joints.shape
    dt = 1.0 / fps
    out = np.zeros((J, 3))
    for j in range(J):
        for i in range(n):
            lo, hi = max(i - 1, 0), min(i + 1, n - 1)
            v = (joints[hi, j] - joints[lo, j]) / ((hi - lo) * dt)
            c = min(max(i, 1), n - 2)
            a = (joints[c + 1, j] - 2 * joints[c, j] + joints[c - 1, j]) / (dt * dt)
            out[j, 0] += 0.5 * (v[0] ** 2 + v[2] ** 2)
            out[j, 1] += 0.5 * v[1] ** 2
            out[j, 2] += np.linalg.norm(a) * np.linalg.norm(v)
    return (out / n).reshape(-1)


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        write_body_model(f"{tmp}/SMPL_NEUTRAL.pkl", make_body_model("neutral"))
        fast = _fast(tmp, "neutral")
        rng = np.random.default_rng(0)
        motion = {"smpl_poses": rng.normal(0, 0.3, (args.frames, 72)), "smpl_trans": np.cumsum(
            rng.normal(0, 0.5, (args.frames, 3)), 0), "smpl_scaling": np.array([95.0])}
        t_joints, joints = best(lambda: smpl_joints_m(fast, motion))
    t_kin, kin = best(lambda: kinetic_features(joints))
    t_geo, _ = best(lambda: geometric_features(joints))
    t_loop, kin_loop = best(lambda: loop_kinetic(joints, 60.0), repeat=1)
    total = t_joints + t_kin + t_geo
    table = Table(title=f"motion features, {args.frames} frames")
    for col in ("step", "seconds"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for name, t in (("SMPL joints (24, FastSMPL)", t_joints), ("kinetic features", t_kin),
                    ("geometric features", t_geo), ("total", total), ("kinetic, per-frame Python loop (peer)", t_loop)):
        table.add_row(name, f"{t:.4f}")
    Console().print(table)
    same = bool(np.allclose(kin, kin_loop, rtol=1e-9, atol=1e-12))
    print(f"vectorised kinetic = loop: {same}; speed-up {t_loop / t_kin:.0f}x; total under 1 s: {total < 1.0}")
    print(json.dumps({"benchmark": "features", "frames": args.frames, "seconds": {
        "joints": round(t_joints, 4), "kinetic": round(t_kin, 4), "geometric": round(t_geo, 4),
        "total": round(total, 4), "loop_kinetic": round(t_loop, 3)}, "kinetic_speedup_vs_loop": round(t_loop / t_kin, 1),
        "same_as_loop": same}))


if __name__ == "__main__":
    main()
