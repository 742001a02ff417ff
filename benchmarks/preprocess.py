"""Benchmark ``aistpp preprocess``: OpenPose JSON files read per second.

Writes one synthetic sequence of 9 views x 3,000 frames of OpenPose BODY_25 JSON (``--quick``:
300 frames) into a temporary folder (a few frames empty, some with a second person), then
times, on the same files (warm page cache):

- ``naive``: the peer, a straightforward loader in the style of the original pipeline
  (sorted glob per view, ``json.load`` per file, one numpy array per file, best score per frame);
- ``aistpp json`` / ``aistpp orjson``: ``preprocess_sequence`` in one process with the standard
  library parser or orjson (parsing, tracking, assembling and writing the pickle included);
- ``aistpp 2 processes (warm)``: two such sequences (the second made of hard links to the same
  files) in a pool of two processes already started: the steady-state rate of a long batch;
- ``run_preprocess --workers 2``: the same through the shared runner, pool start included.

Run: ``python benchmarks/preprocess.py [--quick] [--frames N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

SEQ = "gWA_sFM_cAll_d27_mWA2_ch21"
SEQ2 = "gBR_sBM_cAll_d04_mBR0_ch01"


def write_sequence(root: Path, frames: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    n = 0
    for v in range(1, 10):
        video = SEQ.replace("cAll", f"c{v:02d}")
        d = root / video
        d.mkdir(parents=True)
        base = rng.uniform(200, 1700, (25, 2))
        for i in range(frames):
            people = []
            if rng.random() > 0.01:
                kp = np.c_[base + rng.normal(0, 3, (25, 2)), rng.uniform(0.3, 1, (25, 1))]
                people.append({"person_id": [-1], "pose_keypoints_2d": np.round(kp, 6).ravel().tolist(),
                               "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
                               "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
                               "hand_right_keypoints_3d": []})
                if rng.random() < 0.05:
                    other = np.c_[rng.uniform(0, 1900, (25, 2)), rng.uniform(0.05, 0.3, (25, 1))]
                    people.append({"person_id": [-1], "pose_keypoints_2d": np.round(other, 6).ravel().tolist()})
            (d / f"{video}_{i:012d}_keypoints.json").write_text(json.dumps({"version": 1.3, "people": people}))
            n += 1
    return n


def link_sequence(root: Path) -> None:
    """A second sequence whose files are hard links to the first one's."""
    for v in range(1, 10):
        src, dst = SEQ.replace("cAll", f"c{v:02d}"), SEQ2.replace("cAll", f"c{v:02d}")
        (root / dst).mkdir()
        for e in os.scandir(root / src):
            os.link(e.path, root / dst / e.name.replace(src, dst))


def naive(root: Path, out: Path) -> None:
    """The peer: per-file json.load and numpy arrays, highest score per frame."""
    import pickle

    from aistpp.core.joints import COCO17, OPENPOSE_BODY25, index_map

    idx = index_map(OPENPOSE_BODY25, COCO17)
    views, stamps = [], set()
    for v in range(1, 10):
        video = SEQ.replace("cAll", f"c{v:02d}")
        paths = sorted(glob.glob(str(root / video / "*.json")))
        views.append(paths)
        stamps.update(int(p.split("_")[-2]) for p in paths)
    ts = np.array(sorted(stamps))
    kps, scores = [], []
    for paths in views:
        kv, sv = [], []
        for p in paths:
            with open(p) as f:
                data = json.load(f)
            people = [np.array(q["pose_keypoints_2d"], np.float32).reshape(25, 3)[idx] for q in data["people"]]
            if people:
                s = [float(np.mean(q[:, 2])) for q in people]
                kv.append(people[int(np.argmax(s))])
                sv.append(max(s))
            else:
                kv.append(np.full((17, 3), np.nan, np.float32))
                sv.append(0.0)
        kps.append(kv)
        scores.append(sv)
    with open(out, "wb") as f:
        pickle.dump({"keypoints2d": np.array(kps), "det_scores": np.array(scores), "timestamps": ts}, f)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300 frames per view instead of 3,000")
    ap.add_argument("--frames", type=int, default=None, help="frames per view (default 3000)")
    ap.add_argument("--repeat", type=int, default=3, help="best of R runs")
    args = ap.parse_args()
    frames = args.frames or (300 if args.quick else 3000)

    import aistpp.core.detections as det
    from aistpp.pipeline.preprocess import PreprocessConfig, preprocess_sequence, run_preprocess

    console = Console()
    tmp = Path(tempfile.mkdtemp(prefix="aistpp_bench_pre_"))
    try:
        t = time.perf_counter()
        files = write_sequence(tmp / "K", frames)
        console.print(f"wrote {files} JSON files in {time.perf_counter() - t:.1f} s")
        out = tmp / "out"
        out.mkdir()
        cfg = PreprocessConfig(keypoints_dir=tmp / "K", save_dir=out, executor="serial", quiet=True, overwrite=True)
        rows = {}
        rows["naive (json.load + numpy per file)"] = (files, best_of(lambda: naive(tmp / "K", out / "naive.pkl"), args.repeat))
        fast = det._loads
        det._loads = json.loads
        rows["aistpp, 1 process, json"] = (files, best_of(lambda: preprocess_sequence(SEQ, cfg), args.repeat))
        det._loads = fast
        rows[f"aistpp, 1 process, {fast.__module__}"] = (files, best_of(lambda: preprocess_sequence(SEQ, cfg), args.repeat))
        link_sequence(tmp / "K")
        with ProcessPoolExecutor(2) as pool:  # steady state: a warm pool of two processes
            list(pool.map(abs, [1, 2]))
            job = functools.partial(preprocess_sequence, config=cfg)
            rows[f"aistpp, 2 processes (warm), {fast.__module__}"] = (
                2 * files, best_of(lambda: list(pool.map(job, [SEQ, SEQ2])), args.repeat))
        par = cfg.model_copy(update={"executor": "processes", "workers": 2})
        rows["aistpp, run_preprocess --workers 2 (pool start incl.)"] = (
            2 * files, best_of(lambda: run_preprocess(par), args.repeat))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    peer = rows["naive (json.load + numpy per file)"]
    peer_rate = peer[0] / peer[1]
    table = Table(title=f"preprocess: 9 views x {frames} frames of OpenPose JSON (warm cache, best of {args.repeat})")
    for col in ("method", "files", "seconds", "files/s", "x naive"):
        table.add_column(col, justify="right" if col != "method" else "left")
    result = {"benchmark": "preprocess", "views": 9, "frames": frames, "peer": "naive", "rates": {}}
    for name, (n, s) in rows.items():
        rate = n / s
        table.add_row(name, str(n), f"{s:.2f}", f"{rate:,.0f}", f"{rate / peer_rate:.1f}")
        result["rates"][name] = {"files_per_s": round(rate), "x_peer": round(rate / peer_rate, 2)}
    console.print(table)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
