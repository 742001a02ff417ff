"""``demo``: a synthetic dataset, then the whole rebuild pipeline on it, with errors against
the synthetic ground truth.

```
<out>/data/          aistpp synth output (ground truth: annotations/, smpl/, detections/, videos/)
<out>/init_cameras/  the ground-truth rig perturbed (5 deg, 30 cm): calibration's starting point
<out>/rebuilt/       keypoints2d/ (preprocess, or detect on the videos with from_video),
                     cameras/ (calibrate), keypoints3d/ (triangulate),
                     motions/ (fit-smpl): an annotation folder in the AIST++ layout
<out>/vis/           smpl/ and mesh/ videos of the first sequence's first view
```
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
from pydantic import BaseModel, Field

from aistpp.core import formats
from aistpp.core.align import rig_errors
from aistpp.core.dataset import AISTDataset
from aistpp.core.names import video_name
from aistpp.core.rig import perturb_rig
from aistpp.core.runner import RunReport
from aistpp.errors import AistppError


class DemoConfig(BaseModel):
    """Options of ``aistpp demo`` (the descriptions are the options' help)."""

    out: Path = Field(Path("demo_out"), description="Folder for the demo's outputs.")
    seed: int = Field(0, description="Seed of the synthetic dataset.")
    sequences: int = Field(2, ge=1, description="Synthetic sequences.")
    frames: int = Field(240, ge=30, description="Frames per sequence at 60 fps.")
    workers: int | None = Field(None, ge=1, description="Parallel workers.", json_schema_extra={"unset": "number of cores"})
    overwrite: bool = Field(False, description="Replace the outputs of an earlier demo in --out.")
    videos: bool = Field(True, description="Render videos and run vis.")
    rotation_deg: float = 5.0
    center_cm: float = 30.0
    from_video: bool = Field(False, description="Detect 2D keypoints on the rendered videos (aistpp detect with "
                             "BlazePose, from the optional 'detect' extra) instead of preprocessing synth's "
                             "detections; reports the 2D error.")


def detection_errors(keypoints_dir: Path, truth: AISTDataset, truth_dir: Path) -> dict:
    """Detected keypoints2d against the synthetic ground truth: the true 3D joints projected by
    the true cameras, on the joints inside the image (synth's ``visible`` mask). Returns
    ``median_px``, ``p90_px`` (over detected visible joints) and ``detected_pct`` (view-frames)."""
    from aistpp.core.safe_pickle import safe_load

    errors, detected = [], []
    for seq in truth.sequence_names:
        kp = formats.load_keypoints2d(keypoints_dir / f"{seq}.pkl")["keypoints2d"]
        projected = truth.load_cameras(seq).project(truth.load_keypoints3d(seq, optim=False))
        visible = safe_load(truth_dir / f"{seq}.pkl")["visible"]
        found = np.isfinite(kp[..., 0]).all(axis=-1)
        err = np.linalg.norm(kp[..., :2] - projected, axis=-1)
        errors.append(err[visible & found[..., None]])
        detected.append(found.ravel())
    e = np.concatenate(errors)
    return {"median_px": float(np.median(e)) if e.size else float("nan"),
            "p90_px": float(np.percentile(e, 90)) if e.size else float("nan"),
            "detected_pct": float(100 * np.concatenate(detected).mean())}


def _check(report: RunReport, step: str, warnings: list[str] | None = None) -> None:
    """Raise for the first failed item of a step; collect the step's warnings into ``warnings``."""
    if report.failed:
        first = report.failed[0]
        raise AistppError(f"demo step {step} failed for {first.name}: {first.error.splitlines()[0]}")
    if warnings is not None:
        warnings.extend(step_warnings(step, report))


def step_warnings(step: str, report: RunReport) -> list[str]:
    """The warnings a pipeline step's run gave (each item's ``info["warnings"]``, which its own
    command prints too), one line each."""
    return [f"{step} {it.name}: {w}" for it in report.items for w in it.info.get("warnings", [])]


def run_demo(config: DemoConfig, on_step: Callable[[str], None] = lambda s: None) -> dict:
    """Run synth -> preprocess (or detect, ``from_video``) -> calibrate -> triangulate -> fit-smpl -> vis;
    return a summary.

    The summary has ``steps``: [{step, seconds, metric, value, numbers}] (``numbers``: the
    errors as floats), ``warnings``: what the steps warned of (``step_warnings``; the steps run
    quiet), and ``videos``: paths written.
    """
    from aistpp.pipeline.calibrate import CalibrateConfig, run_calibrate
    from aistpp.pipeline.compare import compare_datasets
    from aistpp.pipeline.fit_smpl import FitSmplConfig, run_fit_smpl
    from aistpp.pipeline.preprocess import PreprocessConfig, run_preprocess
    from aistpp.pipeline.synth.generate import SynthConfig, generate
    from aistpp.pipeline.triangulate import TriangulateConfig, run_triangulate
    from aistpp.pipeline.vis import VisConfig, run_vis

    out = config.out
    if config.from_video and not config.videos:
        raise AistppError("--from-video needs the videos: drop --no-videos")
    if out.exists() and any(out.iterdir()):
        if not config.overwrite:
            raise AistppError("demo folder is not empty (pass --overwrite to replace it)", out)
        for sub in ("data", "init_cameras", "rebuilt", "vis"):
            shutil.rmtree(out / sub, ignore_errors=True)
    data, rebuilt = out / "data", out / "rebuilt"
    common = dict(workers=config.workers, quiet=True)
    steps: list[dict] = []
    warned: list[str] = []

    def timed(name: str, fn: Callable):
        on_step(name)
        start = time.perf_counter()
        result = fn()
        steps.append({"step": name, "seconds": time.perf_counter() - start})
        return result

    timed("synth", lambda: generate(data, SynthConfig(out=data, seed=config.seed, sequences=config.sequences,
                                                       frames=config.frames, videos=config.videos, **common)))
    truth = AISTDataset(data / "annotations")
    steps[-1].update(metric="sequences x frames", value=f"{config.sequences} x {config.frames}")

    if config.from_video:  # 1. detect: the rendered videos -> keypoints2d, against the true 2D joints
        from aistpp.pipeline.detect import DetectConfig, run_detect

        _check(timed("detect", lambda: run_detect(DetectConfig(
            video_dir=data / "videos", save_dir=rebuilt / "keypoints2d", **common))), "detect", warned)
        err = detection_errors(rebuilt / "keypoints2d", truth, data / "truth")
        steps[-1].update(metric="2D error on visible joints (median / p90), frames detected",
                         value=f"{err['median_px']:.2f} / {err['p90_px']:.2f} px, {err['detected_pct']:.1f} %",
                         numbers=err)
    else:
        # 1. preprocess: detections JSON -> keypoints2d, compared with synth's own keypoints2d
        _check(timed("preprocess", lambda: run_preprocess(PreprocessConfig(
            keypoints_dir=data / "detections", save_dir=rebuilt / "keypoints2d", anno_dir=data / "annotations", **common))),
            "preprocess", warned)
        same = all(
            np.array_equal(formats.load_keypoints2d(rebuilt / "keypoints2d" / f"{s}.pkl")["keypoints2d"],
                           truth.load_keypoints2d(s)["keypoints2d"], equal_nan=True)
            for s in truth.sequence_names
        )
        steps[-1].update(metric="equal to synth keypoints2d", value="yes" if same else "NO", numbers={"equal": same})

    # 2. calibrate from a perturbed rig
    rng = np.random.default_rng([config.seed, 99])
    (rebuilt / "cameras").mkdir(parents=True, exist_ok=True)
    shutil.copy(data / "annotations" / "cameras" / "mapping.txt", rebuilt / "cameras" / "mapping.txt")
    for setting in truth.settings:
        init = perturb_rig(truth.load_cameras(setting), rng, config.rotation_deg, config.center_cm)
        formats.save_cameras(out / "init_cameras" / f"{setting}.json", init)
    _check(timed("calibrate", lambda: run_calibrate(CalibrateConfig(
        anno_dir=rebuilt, save_dir=rebuilt / "cameras", init_cameras=str(out / "init_cameras"), **common))),
        "calibrate", warned)
    rebuilt_ds = AISTDataset(rebuilt)
    errs = [rig_errors(rebuilt_ds.load_cameras(s), truth.load_cameras(s)) for s in truth.settings]
    rot = float(np.median(np.concatenate([e["rotation_deg"] for e in errs])))
    cen = float(np.median(np.concatenate([e["center_cm"] for e in errs])))
    # synth records every view in sync: each sequence's time offsets (what triangulate and vis apply) should be 0
    sync = max(float(np.abs(rebuilt_ds.load_frame_offsets(q, rebuilt_ds.load_cameras(q).names)).max())
               for q in truth.sequence_names)
    steps[-1].update(metric="camera rotation / centre error (median), largest time offset (truth 0)",
                     value=f"{rot:.3f} deg / {cen:.2f} cm, {sync:.2f} frames",
                     numbers={"rotation_deg": rot, "center_cm": cen, "offset_frames": sync})

    # 3. triangulate with the calibrated cameras
    _check(timed("triangulate", lambda: run_triangulate(TriangulateConfig(
        anno_dir=rebuilt, save_dir=rebuilt / "keypoints3d", **common))), "triangulate", warned)

    # 4. fit SMPL
    _check(timed("fit-smpl", lambda: run_fit_smpl(FitSmplConfig(
        anno_dir=rebuilt, smpl_dir=data / "smpl", save_dir=rebuilt / "motions", device="cpu", **common))),
        "fit-smpl", warned)

    cmp = compare_datasets(rebuilt, data / "annotations", data / "smpl")
    rows = list(cmp["sequences"].values())
    mean = lambda key: float(np.mean([r[key] for r in rows if key in r]))  # noqa: E731
    by_name = {s["step"]: s for s in steps}
    by_name["triangulate"].update(
        metric="MPJPE keypoints3d / keypoints3d_optim",
        value=f"{mean('keypoints3d_mpjpe_cm'):.2f} / {mean('keypoints3d_optim_mpjpe_cm'):.2f} cm",
        numbers={"keypoints3d_cm": mean("keypoints3d_mpjpe_cm"), "keypoints3d_optim_cm": mean("keypoints3d_optim_mpjpe_cm")})
    by_name["fit-smpl"].update(metric="SMPL joint error (24 joints)", value=f"{mean('smpl_joint_error_cm'):.2f} cm",
                               numbers={"smpl_joints_cm": mean("smpl_joint_error_cm")})

    # 5. vis: the first sequence's first view, SMPL joints and mesh over the synthetic video
    videos: list[str] = []
    if config.videos:
        seq = truth.sequence_names[0]
        video = video_name(seq, truth.load_cameras(seq).names[0])

        def draw():
            for mode in ("smpl", "mesh"):
                _check(run_vis(VisConfig(anno_dir=rebuilt, video_dir=data / "videos", smpl_dir=data / "smpl",
                                         save_dir=out / "vis" / mode, video_name=video, mode=mode,
                                         executor="serial", quiet=True)), "vis")
                videos.append(str(out / "vis" / mode / f"{video}.mp4"))

        timed("vis", draw)
        steps[-1].update(metric="videos written", value=str(len(videos)))
    return {"out": str(out), "steps": steps, "warnings": warned, "videos": videos, "compare": cmp,
            "total_seconds": sum(s["seconds"] for s in steps)}
