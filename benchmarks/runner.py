"""Benchmark: the shared runner's backends on `aistpp triangulate` over 20 synthetic sequences.

    python benchmarks/runner.py [--sequences 20] [--frames 600]

Builds an annotation folder of ``--sequences`` sequences (synth's keypoints2d, 9 views, 2 px
noise and synth's detection faults; two generated sequences copied under 20 names so every
job is the same size), then triangulates all of them (robust + temporal optimisation) with
  serial (1 worker), processes with 2 workers, and Ray with 2 CPUs (a local instance),
checks that the three give identical outputs, and reports the scaling ratio of 2 workers
over 1 (target >= 1.7 on 2 cores) and Ray against local processes. Ray's overhead per task
is measured with a job that does nothing (200 tasks on the running instance), and its start
time separately. Prints a rich table and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from aistpp.core import formats
from aistpp.core.runner import RunOptions, run_jobs
from aistpp.pipeline.synth.generate import SynthConfig, generate
from aistpp.pipeline.triangulate import TriangulateConfig, run_triangulate


def make_dataset(root: Path, sequences: int, frames: int) -> Path:
    generate(root / "synth", SynthConfig(out=root / "synth", sequences=2, frames=frames, videos=False,
                                         executor="serial", quiet=True))
    src = root / "synth" / "annotations"
    anno = root / "anno"
    shutil.copytree(src / "cameras", anno / "cameras")
    files = sorted((src / "keypoints2d").glob("*.pkl"))
    names = [f"gBR_sBM_cAll_d04_mBR0_ch{i + 1:02d}" for i in range(sequences)]
    (anno / "keypoints2d").mkdir(parents=True)
    for i, name in enumerate(names):
        shutil.copy(files[i % len(files)], anno / "keypoints2d" / f"{name}.pkl")
    formats.write_mapping(anno / "cameras" / "mapping.txt", {n: "setting1" for n in names})
    return anno


def noop(name: str) -> dict:
    return {}


def outputs(folder: Path) -> dict:
    return {p.name: formats.load_keypoints3d(p) for p in sorted(folder.glob("*.pkl"))}


def identical(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[n][k], b[n][k], equal_nan=True) for n in a for k in ("keypoints3d", "keypoints3d_optim"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=20)
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--ray-tasks", type=int, default=200, help="no-op tasks for Ray's per-task overhead")
    args = parser.parse_args()

    import ray

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        anno = make_dataset(root, args.sequences, args.frames)
        runs = {}
        for label, executor, workers in (("serial, 1 worker", "serial", 1), ("processes, 2 workers", "processes", 2),
                                         ("ray, 2 CPUs (incl. start)", "ray", 2)):
            out = root / f"out_{executor}"
            start = time.perf_counter()
            report = run_triangulate(TriangulateConfig(anno_dir=anno, save_dir=out, executor=executor,
                                                       workers=workers, quiet=True))
            runs[label] = {"seconds": time.perf_counter() - start, "done": report.count("done")}
            runs[label]["outputs"] = outputs(out)
        ref = runs["serial, 1 worker"]["outputs"]
        same = all(identical(ref, r.pop("outputs")) for r in runs.values())

        start = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - start
        names = [f"t{i}" for i in range(args.ray_tasks)]
        start = time.perf_counter()
        run_jobs(noop, names, RunOptions(executor="ray", workers=2, quiet=True))
        ray_per_task = (time.perf_counter() - start) / len(names)
        ray.shutdown()

    t1 = runs["serial, 1 worker"]["seconds"]
    table = Table(title=f"triangulate over {args.sequences} synth sequences x {args.frames} frames (9 views)")
    for col in ("backend", "seconds", "per sequence s", "speed-up vs 1 worker", "done"):
        table.add_column(col, justify="left" if col == "backend" else "right")
    for label, r in runs.items():
        table.add_row(label, f"{r['seconds']:.2f}", f"{r['seconds'] / args.sequences:.3f}",
                      f"{t1 / r['seconds']:.2f}x", str(r["done"]))
    console.print(table)
    scaling = t1 / runs["processes, 2 workers"]["seconds"]
    ray_vs_processes = runs["ray, 2 CPUs (incl. start)"]["seconds"] / runs["processes, 2 workers"]["seconds"]
    console.print(f"outputs identical across backends: {same}")
    console.print(f"scaling 2 workers / 1 worker: {scaling:.2f}x (target >= 1.7x)")
    console.print(f"Ray: start {ray_start:.2f} s, overhead per task {ray_per_task * 1000:.1f} ms "
                  f"(no-op job, {args.ray_tasks} tasks); Ray run / processes run = {ray_vs_processes:.2f}")
    print(json.dumps({
        "benchmark": "runner", "sequences": args.sequences, "frames": args.frames,
        "seconds": {k: round(v["seconds"], 3) for k, v in runs.items()},
        "scaling_2_workers": round(scaling, 3), "ray_vs_processes": round(ray_vs_processes, 3),
        "ray_start_s": round(ray_start, 3), "ray_overhead_per_task_ms": round(ray_per_task * 1000, 2),
        "identical_outputs": same,
    }))


if __name__ == "__main__":
    main()
