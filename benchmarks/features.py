"""Benchmark: the AIST++ API's kinetic (72) and geometric (32) features under Bailando's
protocol (1,200 frames), vectorised (ours) vs per-frame Python loops (the peer: the reference's
definitions written loop-style here, as the reference computes them), in the same run.

    python benchmarks/features.py [--sequences 20] [--peer-sequences 1]

Target (issue 18): features of 1,000 sequences x 1,200 frames in under a minute on 2 cores.
We time ``--sequences`` sequences on one process and extrapolate to 1,000 (labelled so); the
runner's ``--workers 2`` would halve it. Joints: the real released motion of
tests/data/reference_features (1,919 frames), cut into 1,200-frame windows with a per-sequence
jitter. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from aistpp.pipeline.features import _fast, smpl_joints
from aistpp.pipeline.metrics import bailando_joints, geometric_features, kinetic_features
from aistpp.pipeline.metrics.geometric import FRAME_TIME, GEOMETRIC_SPEC, SHORT

REF = Path(__file__).resolve().parents[1] / "tests" / "data" / "reference_features"


# ---- the peer: frame-by-frame, joint-by-joint loops -------------------------------------------
def loop_kinetic(P: np.ndarray, dt: float = 1 / 60, w: int = 2) -> np.ndarray:
    n, J, _ = P.shape
    out = []
    for j in range(J):
        ke_h = ke_v = expend = 0.0
        for i in range(1, n):
            vel, cv = np.zeros(3), 0
            for o in range(-w, w + 1):
                k = i + o
                if 1 <= k <= n - 1:
                    vel += P[k, j] - P[k - 1, j]
                    cv += 1
            vel /= cv * dt
            ke_h += vel[0] ** 2 + vel[2] ** 2
            ke_v += vel[1] ** 2
            acc, ca = np.zeros(3), 0
            for o in range(-w, w + 1):
                k = i + o
                if 1 <= k <= n - 2:
                    acc += ((P[k + 1, j] - P[k, j]) / dt - (P[k, j] - P[k - 1, j] / dt)) / dt  # as published
                    ca += 1
            expend += np.linalg.norm(acc / ca)
        out += [ke_h / (n - 1), ke_v / (n - 1), expend / (n - 1)]
    return np.array(out)


def loop_geometric(P: np.ndarray) -> np.ndarray:
    idx = {name: i for i, name in enumerate(SHORT)}
    const = {"zero": np.zeros(3), "y_unit": np.array([0.0, 1, 0]), "minus_y_unit": np.array([0.0, -1, 0])}
    counts = np.zeros(len(GEOMETRIC_SPEC))
    for t in range(1, len(P)):
        def at(name, frame=t):
            if name in const:
                return const[name]
            if name == "y_min":
                return np.array([0.0, min(P[frame, :, 1]), 0.0])
            return P[frame, idx[name]]
        for c, (kind, names, th) in enumerate(GEOMETRIC_SPEC):
            with np.errstate(invalid="ignore", divide="ignore"):
                if kind == "plane":
                    a, b, cc, p = (at(n) for n in names)
                    nrm = np.cross(cc - a, b - a)
                    hit = np.dot(nrm, p - a) / np.linalg.norm(nrm) > th
                elif kind == "nplane":
                    n1, n2, a, p = (at(n) for n in names)
                    hit = np.dot(n2 - n1, p - a) / np.linalg.norm(n2 - n1) > th
                elif kind == "angle":
                    a, b, cc, d = (at(n) for n in names)
                    u, v = b - a, d - cc
                    ang = np.degrees(np.arccos(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))))
                    hit = th[0] < ang < th[1]
                elif kind in ("move", "nmove"):
                    a, p = names[0], names[2 if kind == "move" else 3]
                    rel = (at(p) - at(a)) - (at(p, t - 1) - at(a, t - 1))
                    if kind == "move":
                        dirn = at(names[1]) - at(a)
                    else:
                        dirn = np.cross(at(names[2]) - at(a), at(names[1]) - at(a))
                    hit = np.dot(rel, dirn) / np.linalg.norm(dirn) / FRAME_TIME > th
                else:
                    hit = np.linalg.norm(at(names[0]) - at(names[0], t - 1)) / FRAME_TIME > th
            counts[c] += bool(hit)
    return counts / (len(P) - 1)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--peer-sequences", type=int, default=1)
    args = parser.parse_args()
    base = np.load(REF / "gJS_sFM_cAll_d02_mJS4_ch09.joints24.npy").astype(np.float64)
    rng = np.random.default_rng(0)
    seqs = []
    for s in range(max(args.sequences, args.peer_sequences)):
        start = int(rng.integers(0, len(base) - 1200 + 1))
        seqs.append(base[start:start + 1200] + rng.normal(0, 0.002, (1200, 24, 3)))

    def ours(batch):
        return [(kinetic_features(b := bailando_joints(P)), geometric_features(b)) for P in batch]

    t_ours, res = timed(lambda: ours(seqs[: args.sequences]))
    t_peer, peer = timed(lambda: [(loop_kinetic(b := bailando_joints(P)), loop_geometric(b))
                                  for P in seqs[: args.peer_sequences]])
    err = max(max(np.max(np.abs(k - pk) / np.maximum(np.abs(pk), 1e-12)), np.max(np.abs(g - pg)))
              for (k, g), (pk, pg) in zip(res, peer))
    # posing the joints from SMPL motions (FastSMPL, float64), per sequence
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model

    with tempfile.TemporaryDirectory() as tmp:
        write_body_model(f"{tmp}/SMPL_MALE.pkl", make_body_model("male"))
        fast = _fast(tmp, "male")
        motion = {"smpl_poses": rng.normal(0, 0.3, (1200, 72)), "smpl_trans": rng.normal(0, 50, (1200, 3)),
                  "smpl_scaling": np.array([93.0])}
        smpl_joints(fast, motion)  # warm-up
        reps = 5
        t_pose, _ = timed(lambda: [smpl_joints(fast, motion) for _ in range(reps)])
    per_ours, per_peer, per_pose = t_ours / args.sequences, t_peer / args.peer_sequences, t_pose / reps
    table = Table(title="features of 1,200-frame sequences (Bailando's protocol: kinetic 72 + geometric 32)")
    for col in ("method", "measured", "s / sequence", "1,000 sequences (extrapolated, 1 process)"):
        table.add_column(col, justify="left" if col == "method" else "right")
    table.add_row("ours (vectorised)", f"{args.sequences} seq", f"{per_ours:.4f}", f"{1000 * per_ours:.1f} s")
    table.add_row("per-frame loops (peer)", f"{args.peer_sequences} seq", f"{per_peer:.3f}", f"{1000 * per_peer:.0f} s")
    table.add_row("posing 24 joints from a motion (FastSMPL)", f"{reps} x", f"{per_pose:.4f}", f"{1000 * per_pose:.1f} s")
    table.add_row("ours incl. posing", "", f"{per_ours + per_pose:.4f}", f"{1000 * (per_ours + per_pose):.1f} s")
    Console().print(table)
    total = 1000 * (per_ours + per_pose)
    print(f"ours = peer to {err:.1e} (relative); speed-up {per_peer / per_ours:.0f}x; 1,000 x 1,200 frames incl. "
          f"posing on 1 process, extrapolated: {total:.1f} s (target < 60 s on 2 cores: {total < 60})")
    print(json.dumps({"benchmark": "features", "frames": 1200, "sequences_measured": args.sequences,
                      "peer_sequences_measured": args.peer_sequences, "seconds_per_sequence": {
                          "ours": round(per_ours, 5), "peer_loops": round(per_peer, 4), "posing": round(per_pose, 5)},
                      "extrapolated_1000_sequences_s": {"ours": round(1000 * per_ours, 2),
                                                        "ours_incl_posing": round(total, 2),
                                                        "peer_loops": round(1000 * per_peer, 1)},
                      "speedup_vs_loops": round(per_peer / per_ours, 1), "max_rel_diff_vs_loops": float(err)}))


if __name__ == "__main__":
    main()
