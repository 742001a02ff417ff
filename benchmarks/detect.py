"""Benchmark ``aistpp detect``: frames/s at 1080p against decode-only and model-only time, and
detect -> triangulate accuracy against the same run on synthetic detections.

Makes one synthetic sequence (``--views`` views x ``--frames`` frames, rendered at 1920x1080),
then, in one process, for each model (BlazePose full; an ONNX top-down model of RTMPose's input
size, built here from torch, when onnxruntime and onnx are installed):

- ``decode``: ``core.video.read_frames`` over one view (frames by time, BGR), nothing else;
- ``model``: ``detector.detect`` on frames decoded beforehand (held in memory), tracking as in
  a run (for BlazePose: the MediaPipe graph plus the BGR->RGB conversion);
- ``detect``: ``pipeline.detect.detect_video`` on the same view (decode + model + our work).
Target: ``detect`` within 1.25x of ``decode + model`` (our own overhead small), judged on the
process's CPU time (all its threads): on a shared machine wall time mostly measures the
neighbours. Rates: frames per wall second and frames per CPU second (per core).

Then ``run_detect`` on every view (BlazePose) and ``run_triangulate`` with the true cameras on
(a) those detections and (b) the reference: synthetic detections of the same sequence with a
real detector's errors (``synth.detector_errors``: per joint and confidence class, the error
distribution of the released AIST++ 2D detections against their released 3D keypoints, relative
to the person's size, with their scores; measured in this run on the real slice in tests/data,
gJS_sBM, the calmer of the two sequences there, so the stricter reference; no synth faults on
top, the profile holds the real ones). MPJPE (cm) of each against the true 3D joints (synth's COCO-17
keypoints: SMPL joints and mesh landmarks); target: (a) within 1.5x of (b). Also shown: synth's
default detections (2 px i.i.d. noise: a better detector than any real one) and a diagnostic that
splits (a): the error left after removing each joint's constant offset in the body's frame (from
the true hips and the vertical), i.e. without where BlazePose's convention puts a joint on our
body (a shoulder, an ear) compared with the SMPL joints of the ground truth. A per-joint table
gives both MPJPEs and that constant offset (left, up, forward). The reference has no such offset
by construction (its errors are measured against keypoints3d triangulated from the same released
detections), and it shrinks with more views while a constant offset does not: the ratio grows with
``--views``. A last table sets the geometry of the keypoints (shoulder, hip, ear widths, the face's
depth, where the hips sit) of the released AIST++ keypoints3d (the real slice in tests/data) beside
synth's truth and detect's: where our body or BlazePose's points on it are unlike the real dancers.

Run: ``python benchmarks/detect.py [--quick] [--frames N] [--views V]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table


def timed(fn) -> tuple[float, float, object]:
    """(wall s, process CPU s, result) of ``fn()``."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def onnx_model(path: Path) -> Path:
    """A small conv net with RTMPose-m's input (256x192) and SimCC outputs (17 x 384 / 512)."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(3, 32, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(32, 64, 3, 2, 1), torch.nn.ReLU(),
                torch.nn.Conv2d(64, 128, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(128, 17, 3, 2, 1))
            self.fx, self.fy = torch.nn.Linear(16 * 12, 384), torch.nn.Linear(16 * 12, 512)

        def forward(self, x):
            f = self.body(x).flatten(2)  # (1, 17, 192)
            return self.fx(f), self.fy(f)

    torch.onnx.export(Net().eval(), torch.zeros(1, 3, 256, 192), str(path), input_names=["input"], dynamo=False)
    return path


def bench_model(name: str, make, video: Path, frames: int) -> dict:
    from aistpp.core.video import read_frames
    from aistpp.pipeline.detect import detect_video

    det = make()
    dec_w, dec_c, _ = timed(lambda: sum(1 for _ in read_frames(video, 0, frames)))
    held = [f for _, f in read_frames(video, 0, frames)]

    def model_only():
        det.reset()
        for f in held:
            det.detect(f)

    det.detect(held[0])  # warm-up (graph / session start)
    mod_w, mod_c, _ = timed(model_only)
    del held
    run_w, run_c, (kp, _) = timed(lambda: detect_video(video, det, frames))
    det.close()
    return {"model": name, "frames": frames, "decode_s": dec_w, "model_s": mod_w, "detect_s": run_w,
            "decode_cpu_s": dec_c, "model_cpu_s": mod_c, "detect_cpu_s": run_c,
            "ratio_wall": run_w / (dec_w + mod_w), "ratio": run_c / (dec_c + mod_c),
            "detected_pct": float(100 * np.isfinite(kp[:, 0, :, 0]).all(-1).mean())}


def body_frame_errors(est: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(N, J, 3) cm errors est - ref in the body's frame (x: right hip -> left hip, horizontal; y: up)."""
    up = np.array([0.0, 1.0, 0.0])
    x = ref[:, 11] - ref[:, 12]
    x = x - (x @ up)[:, None] * up
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    R = np.stack([x, np.broadcast_to(up, x.shape), np.cross(x, up)], 1)
    return np.einsum("nij,nkj->nki", R, est - ref)


DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
sys.path.insert(0, str(DATA.parent))  # tests/_released.py: the real slice in tests/data, decoded
from _released import PROFILE_SEQUENCE  # noqa: E402
from _released import error_profile as released_profile  # noqa: E402

GEOMETRY = ("shoulder width", "hip width", "ear width", "eye width", "eyes to ears' midpoint",
            "nose to ears' midpoint", "eyes above ears", "hip level (knee 0, shoulder 1)")


def geometry(k: np.ndarray) -> dict:
    """Medians over frames of the keypoints' (N, 17, 3) cm geometry (``GEOMETRY``; cm but the last)."""
    k = np.asarray(k, np.float64)
    width = lambda a, b: np.linalg.norm(k[:, a] - k[:, b], axis=-1)  # noqa: E731
    mid = lambda a, b: (k[:, a] + k[:, b]) / 2  # noqa: E731
    eyes, ears, knees = mid(1, 2), mid(3, 4), mid(13, 14)
    hips, shoulders = mid(11, 12), mid(5, 6)
    values = (width(5, 6), width(11, 12), width(3, 4), width(1, 2), np.linalg.norm(eyes - ears, axis=-1),
              np.linalg.norm(k[:, 0] - ears, axis=-1), eyes[:, 1] - ears[:, 1],
              (hips[:, 1] - knees[:, 1]) / (shoulders[:, 1] - knees[:, 1]))
    return {name: float(np.nanmedian(v)) for name, v in zip(GEOMETRY, values)}


def released_geometry() -> dict:
    """``geometry`` of the released keypoints3d of both sequences of the real slice in tests/data."""
    z = np.load(DATA / "setting4_keypoints3d.npz")
    return {key.split("_")[0] + "_" + key.split("_")[1]: geometry(z[key]) for key in z.files
            if key.endswith(".keypoints3d")}


def reference_detections(root: Path, seq: str, out: Path, profile) -> Path:
    """``<out>/<seq>.pkl``: synthetic detections of ``seq`` with ``profile``'s errors (see the docstring)."""
    from aistpp.core import formats
    from aistpp.pipeline.synth.detector_errors import realistic_detections

    anno = root / "annotations"
    setting = formats.read_mapping(anno / "cameras" / "mapping.txt")[seq]
    rig = formats.load_cameras(anno / "cameras" / f"{setting}.json")
    gt = formats.load_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
    # no synth faults on top: the profile holds the real detector's misses and gross errors at their real rates
    det = realistic_detections(rig, gt, np.random.default_rng(23), profile, outlier_rate=0.0, missing_frame_rate=0.0)
    formats.save_keypoints2d(out / f"{seq}.pkl", det["keypoints2d"], det["det_scores"],
                             formats.frame_timestamps(len(gt)))
    return out


def mpjpe_after_triangulate(root: Path, keypoints_dir: Path, seq: str, work: Path) -> dict:
    """MPJPE (cm) of triangulating ``keypoints_dir`` against the true 3D joints: ``all``, ``varying``
    (each joint's constant body-frame offset removed), per joint ``joints`` (J,) and that constant
    offset ``offset`` (J, 3) (x: the body's left, y: up, z: forward)."""
    from aistpp.core import formats
    from aistpp.pipeline.triangulate import TriangulateConfig, run_triangulate

    anno = work / "anno"
    shutil.rmtree(anno, ignore_errors=True)
    shutil.copytree(root / "annotations" / "cameras", anno / "cameras")
    shutil.copytree(keypoints_dir, anno / "keypoints2d")
    report = run_triangulate(TriangulateConfig(anno_dir=anno, save_dir=anno / "keypoints3d", executor="serial",
                                               quiet=True, optimise=False))
    assert not report.failed, report.failed[0].error
    est = formats.load_keypoints3d(anno / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
    ref = formats.load_keypoints3d(root / "annotations" / "keypoints3d" / f"{seq}.pkl")["keypoints3d"]
    err = body_frame_errors(est, ref)
    constant = np.nanmean(err, axis=0)  # (J, 3): each joint's mean offset in the body frame
    dist = np.linalg.norm(err, axis=-1)
    return {"all": float(np.nanmean(dist)), "varying": float(np.nanmean(np.linalg.norm(err - constant, axis=-1))),
            "joints": np.nanmean(dist, axis=0), "offset": constant, "geometry": geometry(est),
            "truth_geometry": geometry(ref)}


def main() -> None:
    import importlib.util

    from aistpp.core.detectors import load_detector
    from aistpp.pipeline.detect import DetectConfig, run_detect
    from aistpp.pipeline.synth.generate import SynthConfig, generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="60 frames, 4 views")
    ap.add_argument("--frames", type=int, default=180)
    ap.add_argument("--views", type=int, default=6)
    args = ap.parse_args()
    frames, views = (60, 4) if args.quick else (args.frames, args.views)
    console = Console(width=170)
    tmp = Path(tempfile.mkdtemp(prefix="aistpp-bench-detect-"))
    try:
        root = tmp / "synth"
        t = time.perf_counter()
        summary = generate(root, SynthConfig(out=root, seed=11, sequences=1, frames=frames, views=views,
                                             image_scale=1.0, executor="serial", quiet=True))
        seq = summary["sequences"][0]
        console.print(f"synthetic sequence: {views} views x {frames} frames at {summary['size']} "
                      f"({time.perf_counter() - t:.0f} s)")
        video = sorted((root / "videos").glob("*.mp4"))[0]
        rows = [bench_model("blazepose (full)", lambda: load_detector("blazepose"), video, frames)]
        if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):
            path = onnx_model(tmp / "toy_rtmpose.onnx")
            rows.append(bench_model("onnx 256x192 SimCC (toy)", lambda: load_detector(str(path), boxes="previous"),
                                    video, frames))
        # accuracy: detect -> triangulate vs synth's simulated detections -> triangulate
        det_dir = tmp / "detected"
        w, _, report = timed(lambda: run_detect(DetectConfig(video_dir=root / "videos", save_dir=det_dir,
                                                               executor="serial", quiet=True)))
        assert not report.failed, report.failed[0].error
        det = mpjpe_after_triangulate(root, det_dir, seq, tmp / "a")
        simulated = mpjpe_after_triangulate(root, root / "annotations" / "keypoints2d", seq, tmp / "b")["all"]
        profile = released_profile()
        ref = mpjpe_after_triangulate(root, reference_detections(root, seq, tmp / "ref", profile), seq, tmp / "c")
        detected, detected_varying, reference = det["all"], det["varying"], ref["all"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    table = Table(title=f"detect at 1920x1080, {frames} frames of one view (one process)")
    for col in ("model", "decode f/s", "model f/s", "detect f/s", "decode f/cpu-s", "model f/cpu-s",
                "detect f/cpu-s", "detect / (decode+model) cpu (wall)", "detected %"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        n = r["frames"]
        per_cpu = lambda key: f"{n / max(r[key], 1e-9):.1f}"  # noqa: E731
        table.add_row(r["model"], f"{n / r['decode_s']:.1f}", f"{n / r['model_s']:.1f}", f"{n / r['detect_s']:.1f}",
                      per_cpu("decode_cpu_s"), per_cpu("model_cpu_s"), per_cpu("detect_cpu_s"),
                      f"{r['ratio']:.2f}x ({r['ratio_wall']:.2f}x); target <= 1.25", f"{r['detected_pct']:.0f}")
    console.print(table)
    acc = Table(title=f"triangulate (true cameras, no optimisation), {views} views x {frames} frames")
    acc.add_column("2D keypoints")
    acc.add_column("MPJPE cm", justify="right")
    acc.add_row("aistpp detect (BlazePose) on the videos", f"{detected:.2f}")
    acc.add_row("reference: synthetic detections with the released AIST++ detector's errors", f"{reference:.2f}")
    acc.add_row("ratio (target <= 1.5)", f"{detected / reference:.2f}x")
    acc.add_row("synth's default detections (2 px i.i.d. noise)", f"{simulated:.2f}")
    acc.add_row("detect, each joint's constant body-frame offset removed (diagnostic)", f"{detected_varying:.2f}")
    acc.add_row("its ratio to the reference", f"{detected_varying / reference:.2f}x")
    console.print(acc)
    from aistpp.core.joint_sets import COCO17

    per = Table(title="per joint: MPJPE cm, and detect's constant offset in the body frame (cm)")
    for col in ("joint", "detect", "reference", "ratio", "offset left", "offset up", "offset forward", "|offset|"):
        per.add_column(col, justify="left" if col == "joint" else "right")
    for j, name in enumerate(COCO17):
        o = det["offset"][j]
        d, r = det["joints"][j], ref["joints"][j]
        per.add_row(name, f"{d:.2f}", f"{r:.2f}", f"{d / r:.2f}x",
                    f"{o[0]:+.2f}", f"{o[1]:+.2f}", f"{o[2]:+.2f}", f"{np.linalg.norm(o):.2f}")
    console.print(per)
    real = released_geometry()
    shapes = {**{f"released {k} (real)": g for k, g in real.items()}, "synth truth": det["truth_geometry"],
              "aistpp detect": det["geometry"]}
    geo = Table(title="keypoint geometry (medians over frames, cm): released AIST++ keypoints3d, synth's truth, detect")
    geo.add_column("")
    for col in shapes:
        geo.add_column(col, justify="right")
    for name in GEOMETRY:
        digits = 2 if name.startswith("hip level") else 1
        geo.add_row(name, *(f"{g[name]:.{digits}f}" for g in shapes.values()))
    console.print(geo)
    console.print(f"run_detect on {views} views: {w:.1f} s ({views * frames / w:.1f} frames/s, serial)")
    print(json.dumps({"benchmark": "detect", "frames": frames, "views": views, "models": rows,
                      "mpjpe_detect_cm": detected, "mpjpe_reference_cm": reference,
                      "mpjpe_ratio": detected / reference, "mpjpe_synth_default_cm": simulated,
                      "reference_profile": {"sequence": PROFILE_SEQUENCE, **profile.to_json()},
                      "mpjpe_detect_without_constant_offsets_cm": detected_varying, "run_detect_s": w,
                      "per_joint": {name: {"detect_cm": float(det["joints"][j]),
                                           "reference_cm": float(ref["joints"][j]),
                                           "offset_left_up_forward_cm": [round(float(x), 3) for x in det["offset"][j]]}
                                    for j, name in enumerate(COCO17)},
                      "geometry": shapes}))


if __name__ == "__main__":
    main()
