"""Benchmark: calibration from body keypoints - ours (no starting rig) against the original AIST++ recipe.

Part 1, real data: the released keypoints2d of setting4's two sequences (``../shared/data/aist-real``
when present, else the tests/data slice), compared with the released setting4.json after a
similarity alignment of the centres. Rows:
- ``ours``: ``calibrate_solve.solve`` from the keypoints alone (focal lengths unknown, offsets searched);
- ``recipe``: the original recipe - aniposelib's ``bundle_adjust_iter`` from the hand-made ring
  (``core.rig.original_ring``: f = 1600 px), keypoints with confidence < 0.5 dropped. The original
  ran 20 iterations with 500 / 5,000 samples on up to 20 sequences (~38 CPU-minutes for two
  sequences elsewhere); here it is BOUNDED (``--recipe-iters``, ``--recipe-samples``, labelled in the table);
- ``released+BA``: our adjustment of the extrinsics only, started from the released cameras: how
  far these two sequences' keypoints pull the released rig by themselves (a floor on the error
  any method can reach against the released cameras with this input); ``released+BA (extrinsics,
  f, k1)`` the same with the intrinsics free: the optimum these keypoints define, reached from the
  released rig (printed: how far it is from ours);
- ``ours, <sequence> alone``: each sequence by itself (printed: how far the focal lengths of one
  differ from the other's: how precisely this much data fixes them);
- held out: every rig (released, ours from both, ours from each sequence alone) reprojecting each
  recording's detections, offsets found with the rig held (``calibrate_offsets.held_out_reprojection``):
  a rig from one recording on the recording it never saw, against the released cameras.
- with ``--cross``: our adjustment started from the recipe's result and from the released rig,
  the recipe's started from ours and from the released rig (``deg_from_ours`` / ``deg_from_recipe``:
  where each lands against that cost's own result: a unique optimum, or a local minimum?), and the
  median reprojection of the released rig, ours and the recipe's on these keypoints.
Part 2, synthetic (``synth.rig.make_layout``, 2 px noise, 5 % outliers, swaps, two views 7 and 10
frames out of sync, focal lengths up to 40 % from the guess): our time and error as frames and
views grow.
Part 3, more sequences: a released rig (``--sequences-setting``, default setting4: the widest
focal spread) seeing 1, 2, 5, 10 synthetic dances (synth's SMPL motion, each its own stature
and path) with the released detections' error profile, swaps and two views out of sync
(``tests/test_calibrate_released.released_case``): error against the rig rendered with and
time, ``--sequence-frames`` frames each, ``solve``'s frame budget ``--max-frames`` (the CLI's
default 1,000) drawn from the pooled sequences. This is how the figures move with more sequences
(the released cameras came from up to 20).
Part 4, sub-frame offsets: released rigs (setting4, setting9_1) seeing synthetic dances whose
views are out of sync by FRACTIONAL offsets, different in every sequence
(``test_calibrate_released.fractional_case``: the SMPL motion generated at 20 x 60 fps and
each view's frame n taken at the instant n - o, so the truth never passes through the linear
interpolation ``core.frame_offsets.shift_views`` models),
the released detections' error profile: per view |estimated - true| offset in frames (median,
max, after each sequence's clock), and the MPJPE of triangulating every frame with the
calibrated rig and the sub-frame offsets, those rounded to whole frames, none, and the true ones.

``python benchmarks/calibrate.py [--quick] [--skip-recipe] [--skip-real] [--skip-layouts]
[--skip-sequences] [--skip-subframe]``;
prints tables and a final JSON line.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # BLAS threads must be set before numpy loads (see --blas-threads)
    _n = sys.argv[sys.argv.index("--blas-threads") + 1] if "--blas-threads" in sys.argv else "1"
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _n)

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from aistpp.core import formats
from aistpp.core.align import rig_errors
from aistpp.core.cameras import CameraRig
from aistpp.core.rig import original_ring
from aistpp.pipeline.calibrate import calibrate_views
from aistpp.pipeline.calibrate_offsets import held_out_reprojection
from aistpp.pipeline.calibrate_solve import solve
from aistpp.pipeline.synth.rig import make_layout

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/_released.py (the real slice, decoded) and the tests' synthetic cases
import _released as real_data  # noqa: E402
from _released import rig_summary  # noqa: E402

# ../shared/data/aist-real beside the repo (or beside the folder of worktrees holding it)
REAL = next((p / "shared" / "data" / "aist-real" for p in (ROOT.parent, ROOT.parent.parent)
             if (p / "shared" / "data" / "aist-real").is_dir()), ROOT.parent / "shared" / "data" / "aist-real")
SEQS = ["gJS_sBM_cAll_d03_mJS2_ch07", "gJS_sFM_cAll_d02_mJS4_ch09"]


def real_input() -> tuple[np.ndarray, np.ndarray, CameraRig, str]:
    """keypoints (9, N, 17, 3), seq_id (N,), released cameras, source label."""
    if (REAL / "keypoints2d" / f"{SEQS[0]}.pkl").is_file():
        arrays = [formats.load_keypoints2d(REAL / "keypoints2d" / f"{s}.pkl")["keypoints2d"].astype(np.float64)
                  for s in SEQS]
        released, label = formats.load_cameras(REAL / "cameras" / "setting4.json"), "aist-real (full sequences)"
    else:
        arrays = [real_data.keypoints2d(s) for s in SEQS]
        released, label = real_data.cameras(), "tests/data slice"
    seq_id = np.concatenate([np.full(a.shape[1], i) for i, a in enumerate(arrays)])
    return np.concatenate(arrays, axis=1), seq_id, released, label


def recipe(kp: np.ndarray, released: CameraRig, iters: int, samples: tuple[int, int], seed: int,
           start: CameraRig | None = None) -> CameraRig:
    """aniposelib's bundle_adjust_iter on kp (V, N, 17, 3) from ``start`` (default the hand-made ring)."""
    start = start or original_ring(tuple(int(x) for x in released.sizes[0]), 1600.0, released.names)
    usable = np.isfinite(kp[..., :2]).all(-1) & (kp[..., 2] >= 0.5)
    p2ds = np.where(usable[..., None], kp[..., :2], np.nan).reshape(len(start), -1, 2)
    group = start.to_aniposelib()
    np.random.seed(seed)  # aniposelib samples with the global generator
    group.bundle_adjust_iter(p2ds, n_iters=iters, n_samp_iter=samples[0], n_samp_full=samples[1], verbose=False)
    return CameraRig.from_aniposelib(group)


def moved(rig: CameraRig, other: CameraRig, name: str) -> dict:
    """Median rotation (deg) between two rigs after similarity alignment, keyed ``deg_from_<name>``."""
    return {f"deg_from_{name}": float(np.median(rig_errors(rig, other)["rotation_deg"]))}


def reprojection(rig: CameraRig, kp: np.ndarray) -> dict:
    """Median reprojection px of kp (V, N, 17, 3) (confidence >= 0.5) after robust triangulation with ``rig``."""
    from aistpp.core.triangulation import reprojection_errors, triangulate_robust

    ok = np.isfinite(kp[..., :2]).all(-1) & (kp[..., 2] >= 0.5)
    tri = triangulate_robust(rig, kp[..., :2], np.where(ok, kp[..., 2], 0.0), 0.5, 15.0)
    err = reprojection_errors(rig, tri.points3d, kp[..., :2])
    seen = ok & np.isfinite(err)
    return {"all": float(np.median(err[seen])), "inliers": float(np.median(err[seen & tri.inliers]))}


def synthetic(layout: str, frames: int, seed: int) -> tuple[CameraRig, np.ndarray, np.ndarray, np.ndarray]:
    from test_calibrate_layouts import dancer, faulty_detections

    rng = np.random.default_rng(seed)
    truth = make_layout(layout, rng)
    offsets = np.zeros(len(truth), int)
    offsets[len(truth) // 2], offsets[-1] = -10, 7
    det, conf = faulty_detections(truth, dancer(frames + 60, rng), rng, offsets)
    return truth, det, conf, offsets


def table(console: Console, title: str, rows: dict[str, dict], cols: tuple[str, ...]) -> None:
    t = Table(title=title)
    t.add_column("method")
    for c in cols:
        t.add_column(c.replace("_", " "), justify="right")
    for name, r in rows.items():
        t.add_row(name, *(f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "-")) for c in cols))
    console.print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames, a shorter recipe, fewer scaling points")
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument("--skip-real", action="store_true", help="skip part 1 (setting4's released keypoints)")
    ap.add_argument("--cross", action="store_true", help="part 1: each adjustment started from the other's result "
                    "and from the released rig, and each rig's reprojection (minutes more)")
    ap.add_argument("--skip-layouts", action="store_true", help="skip part 2 (synthetic layouts)")
    ap.add_argument("--skip-sequences", action="store_true", help="skip part 3 (more sequences)")
    ap.add_argument("--skip-subframe", action="store_true", help="skip part 4 (sub-frame offsets)")
    ap.add_argument("--sequences", type=str, default=None, help="part 3's sequence counts (default 1,2,5,10)")
    ap.add_argument("--sequence-frames", type=int, default=None, help="frames per sequence in part 3 (default 200)")
    ap.add_argument("--sequences-setting", type=str, default="setting4", help="part 3's released rig (tests/data)")
    ap.add_argument("--max-frames", type=int, default=1000, help="solve's frame budget in part 3")
    ap.add_argument("--recipe-iters", type=int, default=None, help="bundle_adjust_iter iterations (original: 20)")
    ap.add_argument("--recipe-samples", type=str, default=None, help="ITER,FULL samples (original: 500,5000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--blas-threads", type=int, default=1, help="BLAS threads (default 1: shared machine)")
    args = ap.parse_args()
    iters = args.recipe_iters or (2 if args.quick else 6)
    samples = tuple(int(x) for x in (args.recipe_samples or ("200,1000" if args.quick else "500,5000")).split(","))
    console = Console(width=200)
    out: dict = {"benchmark": "calibrate"}

    if not args.skip_real:
        real_part(args, console, out, iters, samples)
    if not args.skip_layouts:
        layouts_part(args, console, out)
    if not args.skip_sequences:
        sequences_part(args, console, out)
    if not args.skip_subframe:
        subframe_part(args, console, out)
    print(json.dumps(out))


def real_part(args, console: Console, out: dict, iters: int, samples: tuple[int, int]) -> None:
    kp, seq_id, released, label = real_input()
    max_frames = 300 if args.quick else 1000
    rows: dict[str, dict] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    sol = solve(kp[..., :2], kp[..., 2], seq_id, released.sizes, released.names, max_frames=max_frames, seed=args.seed)
    rows["ours (no start, f unknown)"] = {**rig_summary(sol.rig, released), "time_s": time.perf_counter() - t0,
                                         "cpu_s": time.process_time() - c0,
                                         "checks": "pass" if not sol.failed else "FAIL"}
    idx = np.sort(np.random.default_rng(args.seed).choice(kp.shape[1], min(max_frames, kp.shape[1]), replace=False))
    t0, c0 = time.perf_counter(), time.process_time()
    ref = calibrate_views(released, kp[:, idx, :, :2], kp[:, idx, :, 2], 0.5, (), height_cm=None)
    rows["released+BA (extrinsics)"] = {**rig_summary(ref.rig, released), "time_s": time.perf_counter() - t0,
                                        "cpu_s": time.process_time() - c0}
    t0, c0 = time.perf_counter(), time.process_time()
    free = calibrate_views(released, kp[:, idx, :, :2], kp[:, idx, :, 2], 0.5, ("f", "k1"), height_cm=None)
    rows["released+BA (extrinsics, f, k1)"] = {**rig_summary(free.rig, released), "time_s": time.perf_counter() - t0,
                                               "cpu_s": time.process_time() - c0}
    agree = rig_errors(free.rig, sol.rig)  # the data's own optimum, reached from the released cameras
    out["ours_vs_released_ba_free"] = {"rotation_deg_median": float(np.median(agree["rotation_deg"])),
                                       "center_cm_median": float(np.median(agree["center_cm"])),
                                       "focal_rel_median": float(np.median(agree["focal_rel"]))}
    focal, alone = {}, {}
    for i, name in enumerate(SEQS):  # one sequence at a time: how much the data move the answer
        m = seq_id == i
        t0, c0 = time.perf_counter(), time.process_time()
        one = solve(kp[:, m][..., :2], kp[:, m][..., 2], seq_id[m], released.sizes, released.names,
                    max_frames=max_frames, seed=args.seed)
        rows[f"ours, {name} alone ({int(m.sum())} frames)"] = {
            **rig_summary(one.rig, released), "time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "checks": "pass" if not one.failed else "FAIL"}
        focal[name] = one.rig.K[:, 0, 0]
        alone[name] = one.rig
    # each rig on each recording's detections (offsets found with the rig held): a rig made from one
    # recording, on the recording it never saw, against the released cameras (from up to 20 recordings)
    held = {}
    for i, name in enumerate(SEQS):
        k = kp[:, seq_id == i]
        rigs = {"released": released, "ours (both)": sol.rig, **{f"ours ({n} alone)": r for n, r in alone.items()}}
        held[name] = {r: held_out_reprojection(rig, k) for r, rig in rigs.items()}
    out["held_out_px"] = {seq: {r: {"median_px": v["median_px"], "p90_px": v["p90_px"], "inlier_share": v["inlier_share"]}
                                for r, v in d.items()} for seq, d in held.items()}
    between = np.abs(focal[SEQS[0]] / focal[SEQS[1]] - 1)
    out["focal_rel_between_sequences"] = {"median": float(np.median(between)), "max": float(between.max())}
    if not args.skip_recipe:
        t0, c0 = time.perf_counter(), time.process_time()
        rig = recipe(kp, released, iters, samples, args.seed)
        rows[f"recipe BOUNDED ({iters} it, {samples[0]}/{samples[1]})"] = {
            **rig_summary(rig, released), "time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
        if args.cross:  # each cost's optimum reached from the other's result and from the released rig
            sub = kp[:, idx]
            for name, start in (("recipe", rig), ("released", released)):
                t0, c0 = time.perf_counter(), time.process_time()
                again = calibrate_views(start, sub[..., :2], sub[..., 2], 0.5, ("f", "k1"), height_cm=None).rig
                rows[f"ours' adjustment from {name}"] = {**rig_summary(again, released), **moved(again, sol.rig, "ours"),
                                                        "time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
            for name, start in (("ours", sol.rig), ("released", released)):
                t0, c0 = time.perf_counter(), time.process_time()
                again = recipe(kp, released, iters, samples, args.seed, start=start)
                rows[f"recipe BOUNDED from {name}"] = {**rig_summary(again, released), **moved(again, rig, "recipe"),
                                                       "time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
            out["reprojection_px"] = {n: reprojection(r, kp[:, idx]) for n, r in
                                      (("released", released), ("ours", sol.rig), ("recipe", rig))}
            console.print(f"reprojection median px on these keypoints (robust triangulation, all / inliers): {out['reprojection_px']}")
    cols = ("rotation_deg_median", "rotation_deg_max", "center_cm_median", "center_cm_max", "focal_rel_median",
            "focal_rel_max", "deg_from_ours", "deg_from_recipe", "time_s", "cpu_s", "checks")
    table(console, f"setting4, released keypoints ({label}, {kp.shape[1]} frames) vs released cameras", rows, cols)
    a = out["ours_vs_released_ba_free"]
    console.print(f"ours vs released+BA (extrinsics, f, k1): {a['rotation_deg_median']:.2f} deg / "
                  f"{a['center_cm_median']:.1f} cm / {100 * a['focal_rel_median']:.1f} % (median); focal lengths "
                  f"of one sequence vs the other: {100 * out['focal_rel_between_sequences']['median']:.1f} % median, "
                  f"{100 * out['focal_rel_between_sequences']['max']:.1f} % max")
    t = Table(title="each rig reprojecting each recording's detections (median / p90 px; offsets found with the rig held)")
    t.add_column("rig")
    for seq in SEQS:
        t.add_column(seq)
    for r in next(iter(held.values())):
        t.add_row(r, *[f"{held[seq][r]['median_px']:.2f} / {held[seq][r]['p90_px']:.2f}" for seq in SEQS])
    console.print(t)
    out["real"] = {"input": label, "frames": int(kp.shape[1]), "rows": rows}


def layouts_part(args, console: Console, out: dict) -> None:
    grid = [("aist9", 150), ("aist9", 300)] if args.quick else [("aist9", 150), ("aist9", 300), ("aist9", 600)]
    grid += [("portrait4", 150), ("ring12", 150)] if args.quick else [("portrait4", 150), ("mixed5", 150),
                                                                       ("ring12", 150)]
    srows = {}
    for layout, frames in grid:
        truth, det, conf, offsets = synthetic(layout, frames, args.seed + 1)
        t0, c0 = time.perf_counter(), time.process_time()
        s = solve(det, conf, np.zeros(frames, int), truth.sizes, truth.names, max_frames=frames, seed=args.seed)
        srows[f"{layout} x {frames} frames"] = {**rig_summary(s.rig, truth), "views": len(truth), "frames": frames,
                                                "time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                                                "offsets_exact": bool(np.array_equal(s.offsets, offsets)),
                                                "checks": "pass" if not s.failed else "FAIL"}
    table(console, "synthetic layouts: ours from the keypoints alone, time vs frames and views", srows,
          ("views", "frames", "rotation_deg_median", "center_cm_median", "focal_rel_median", "focal_rel_max",
           "offsets_exact", "time_s", "cpu_s"))
    out["synthetic"] = srows


def sequences_part(args, console: Console, out: dict) -> None:
    from test_calibrate_released import released_case, released_rig

    counts = [int(x) for x in (args.sequences or ("1,2,5" if args.quick else "1,2,5,10")).split(",")]
    frames = args.sequence_frames or (100 if args.quick else 200)
    truth = released_rig(args.sequences_setting)
    offsets = np.zeros(len(truth), int)
    offsets[2], offsets[6] = 4, -6
    rows = {}
    for count in counts:
        rng = np.random.default_rng(args.seed + 100)  # the same first dances in every row: more data, not other data
        pts, conf, seq_id = released_case(truth, frames, count, rng, offsets)
        budget = min(args.max_frames, count * frames)
        t0, c0 = time.perf_counter(), time.process_time()
        s = solve(pts, conf, seq_id, truth.sizes, truth.names, max_frames=budget, seed=args.seed)
        rows[f"{count} x {frames} frames"] = {**rig_summary(s.rig, truth), "sequences": count, "fitted_frames": budget,
                                              "time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                                              "offsets_exact": bool(np.array_equal(s.offsets - s.offsets[0],
                                                                                   offsets - offsets[0])),
                                              "reprojection_px": s.report["after_median_px"],
                                              "checks": "pass" if not s.failed else "FAIL"}
    table(console, f"more sequences: {args.sequences_setting} (released rig) seeing synthetic dances with the released "
          "detections' error profile, ours from the keypoints alone", rows,
          ("sequences", "fitted_frames", "rotation_deg_median", "rotation_deg_max", "center_cm_median", "center_cm_max",
           "focal_rel_median", "focal_rel_max", "reprojection_px", "offsets_exact", "checks", "time_s", "cpu_s"))
    out["sequences"] = {"setting": args.sequences_setting, "frames_per_sequence": frames,
                        "max_frames": args.max_frames, "rows": rows}



def mpjpe_cm(rig: CameraRig, pts: np.ndarray, conf: np.ndarray, seq_id: np.ndarray, offsets, truth: np.ndarray,
             to_truth: tuple) -> dict:
    """Mean / median per-joint error (cm) of triangulating every frame (robust, confidence >= 0.5,
    15 px) of ``pts`` with ``rig`` and ``offsets`` (S, V), the result moved by the similarity
    ``to_truth`` (s, R, t: the rig's centres onto the true rig's, one for every row), against
    ``truth`` (N, 17, 3); and the share of true joints triangulated."""
    from aistpp.core.frame_offsets import shift_sequences
    from aistpp.core.triangulation import triangulate_robust

    shifted = shift_sequences(pts, offsets, seq_id)
    sconf = shift_sequences(conf[..., None], offsets, seq_id)[..., 0]
    X = triangulate_robust(rig, shifted, np.nan_to_num(sconf), 0.5, 15.0).points3d
    s, R, t = to_truth
    err = np.linalg.norm(s * X @ R.T + t - truth, axis=-1)
    ok = np.isfinite(err)
    return {"mpjpe_cm": float(err[ok].mean()), "median_cm": float(np.median(err[ok])), "seen": float(ok.mean())}


def subframe_part(args, console: Console, out: dict) -> None:
    from test_calibrate_released import SUBFRAME_STEPS, fractional_case, fractional_offsets

    from aistpp.core.align import similarity_transform

    settings = ["setting4"] if args.quick else ["setting4", "setting9_1"]
    frames, count = (150, 2) if args.quick else (200, 3)
    rows, views_rows, result = {}, {}, {}
    for k, setting in enumerate(settings):
        truth_rig = real_data.cameras(setting)
        rng = np.random.default_rng(args.seed + 200 + k)
        true = fractional_offsets(len(truth_rig), count, rng)
        pts, conf, seq_id, X = fractional_case(truth_rig, frames, true, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        sol = solve(pts, conf, seq_id, truth_rig.sizes, truth_rig.names, max_frames=min(args.max_frames, len(seq_id)),
                    seed=args.seed)
        took = {"time_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
        fine = np.asarray(sol.frame_offsets, np.float64)
        err = fine - true
        clock = np.median(err, axis=1, keepdims=True)  # each sequence's clock against the truth's
        err = np.abs(err - clock)  # (S, V) frames
        moved = true[:, 1:] != 0  # the views recorded out of sync
        to_truth = similarity_transform(sol.rig.centers, truth_rig.centers)
        name = f"{setting}, {count} x {frames} frames"
        whole_err = np.abs(np.round(fine) - true)
        rows[name] = {**rig_summary(sol.rig, truth_rig), **took, "checks": "pass" if not sol.failed else "FAIL",
                      "offset_err_median": float(np.median(err)), "offset_err_max": float(err.max()),
                      "offset_err_desynced_max": float(err[:, 1:][moved].max()),
                      "whole_err_max": float(whole_err.max()), "clock_shift_max": float(np.abs(clock).max()),
                      "weak_views": len(sol.report["weak_offsets"])}
        for label, offs in (("sub-frame (ours)", fine), ("whole frames (ours, rounded)", np.round(fine)),
                            ("none", np.zeros_like(fine)), ("true offsets", true)):
            views_rows[f"{setting}: {label}"] = mpjpe_cm(sol.rig, pts, conf, seq_id, offs, X, to_truth)
        result[setting] = {"true": true.tolist(), "estimated": fine.tolist(),
                           "per_view_err_frames": {n: {"median": float(np.median(err[:, v])), "max": float(err[:, v].max())}
                                                   for v, n in enumerate(truth_rig.names)}}
    table(console, "sub-frame offsets: released rigs, synthetic dances with fractional offsets (per sequence), "
          "|estimated - true| frames after each sequence's clock", rows,
          ("offset_err_median", "offset_err_max", "offset_err_desynced_max", "whole_err_max", "clock_shift_max",
           "weak_views", "rotation_deg_median", "center_cm_median", "focal_rel_median", "checks", "time_s", "cpu_s"))
    per_view = {s: {n: f"{e['median']:.2f} / {e['max']:.2f}" for n, e in r["per_view_err_frames"].items()}
                for s, r in result.items()}
    names = list(next(iter(per_view.values())))
    table(console, "per view: |estimated - true| offset, median / max over the sequences (frames)", per_view,
          tuple(names))
    table(console, "triangulation with the calibrated rig, every frame, against the true 3D points", views_rows,
          ("mpjpe_cm", "median_cm", "seen"))
    out["subframe"] = {"frames_per_sequence": frames, "sequences": count, "steps_per_frame": SUBFRAME_STEPS,
                       "rows": rows, "triangulation": views_rows, "offsets": result}


if __name__ == "__main__":
    main()
