"""``generate``: a complete synthetic dataset in the AIST++ layout.

```
<out>/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl       generated body model (SMPL file format)
<out>/smpl/SMPLX_<GENDER>.npz, SMPLH_<GENDER>.pkl   with ``body_models``: SMPL-X / SMPL-H format (fingers)
with ``hands`` ("smplx" / "smplh"): the motions are that model's, hands moving (``synth.hands``),
keypoints3d also has the exact ``keypoints3d_full`` and keypoints2d the detected ``keypoints2d_full``
in WholeBody-133 (``joint_set``; face points NaN); the videos still show the SMPL body (no fingers)
<out>/annotations/cameras/setting<k>.json, mapping.txt   ground-truth cameras
<out>/annotations/motions/<seq>.pkl            ground-truth SMPL motion (smpl_gender "neutral")
<out>/annotations/keypoints3d/<seq>.pkl        exact COCO-17 keypoints (both keys); with --joint-set
                                               body25 / halpe26 also the exact keypoints3d_full(_optim)
<out>/annotations/keypoints2d/<seq>.pkl        noisy detections (timestamps in microseconds like
                                               the release: frame i at round(i * 1e6 / 60)); with
                                               --joint-set also keypoints2d_full + joint_set (feet...)
<out>/annotations/splits/pose_{train,val}.txt, ignore_list.txt (empty)
<out>/detections/<video>/<video>_<frame:012d>_keypoints.json   the same detections, OpenPose BODY_25
<out>/videos/<video>.mp4                       60 fps H.264 renders (unless videos=False)
<out>/truth/<seq>.pkl                          fault masks and exact projections, for tests
```
Every sequence draws from its own generator seeded by (seed, index): the same seed gives
the same bytes whatever the number of workers.
"""

from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aistpp.core import formats
from aistpp.core.names import GENRES, video_name
from aistpp.errors import AistppError

OUTPUT_FOLDERS = ("smpl", "annotations", "detections", "videos", "truth")
GENDERS = ("neutral", "male", "female")


class SynthConfig(BaseModel):
    """Options of ``aistpp synth`` (the descriptions are the options' help)."""

    model_config = ConfigDict(extra="forbid")

    out: Path = Field(description="Folder to write the dataset into (must be empty unless --overwrite).")
    seed: int = Field(0, description="Random seed: the same seed writes the same dataset.")
    sequences: int = Field(2, ge=1, le=1000, description="Number of sequences.")
    frames: int = Field(240, ge=2, le=1_000_000, description="Frames per sequence (60 fps).")
    settings: int = Field(1, ge=1, description="Camera settings (rigs); sequences are dealt to them in turn.")
    views: int = Field(9, ge=2, le=99, description="Cameras per setting (c01, c02, ...).")
    image_scale: float = Field(0.5, gt=0.0, le=2.0, description="Image size and intrinsics relative to 1920x1080 "
                               "(0.5 = 960x540, focal ~800).")
    videos: bool = Field(True, description="Render the 60 fps H.264 videos, or skip them.")
    noise_px: float = Field(2.0, ge=0.0, description="Std of the 2D detection noise in pixels (at the written image "
                            "size).")
    outlier_rate: float = Field(0.004, ge=0.0, le=1.0)
    missing_frame_rate: float = Field(0.01, ge=0.0, le=1.0)
    low_conf_rate: float = Field(0.03, ge=0.0, le=1.0)
    distractor_rate: float = Field(0.03, ge=0.0, le=1.0)
    joint_set: Literal["coco17", "body25", "halpe26"] = Field(
        "coco17", description="Also write keypoints2d_full in this joint set with its exact 3D keypoints3d_full: coco17 "
        "(none), body25 or halpe26 (heels, big and small toes, neck, mid-hip; halpe26 also the head top).")
    planted_feet: bool = Field(False, description="Let the dancer's path follow its feet, so a supporting foot (its "
                               "lowest heel or toe) does not slide on the floor (ground truth for foot contact); "
                               "default: a drawn path the feet slide along.")
    body_models: Optional[list[Literal["smplh", "smplx"]]] = Field(
        None, description="Also write synthetic SMPL-H / SMPL-X model files with fingers, in the files' own layout "
        "(SMPLH_<GENDER>.pkl, SMPLX_<GENDER>.npz), for fit-smpl --model.", json_schema_extra={"unset": "none"})
    hands: Optional[Literal["smplh", "smplx"]] = Field(
        None, description="The dancer's hands move (fingers and wrists), posed by that synthetic model (written to "
        "the smpl folder): the motions are that model's (left_hand_pose, right_hand_pose...), keypoints3d also holds "
        "the exact WholeBody-133 keypoints3d_full and keypoints2d the detected keypoints2d_full (joint_set "
        "wholebody133; face points NaN); the videos show the SMPL body.", json_schema_extra={"unset": "no hands"})
    overwrite: bool = Field(False, description="Write into a non-empty --out, replacing what synth wrote there before.")
    executor: Literal["serial", "processes"] = Field("processes", description="How sequences are written: one after "
                                                     "another, or in local processes.")
    workers: int | None = Field(None, ge=1, description="Parallel workers.", json_schema_extra={"unset": "number of cores"})
    quiet: bool = Field(False, description="No progress bar and no listing (for scripts).")

    @model_validator(mode="after")
    def _one_full_set(self):
        if self.hands and self.joint_set != "coco17":
            raise ValueError(f"--hands writes WholeBody-133 keypoints (feet included); it cannot be combined with "
                             f"--joint-set {self.joint_set}")
        return self


def sequence_names(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct valid AIST sequence names, genres cycling through all ten."""
    genres = list(GENRES)
    start = int(rng.integers(len(genres)))
    names: list[str] = []
    while len(names) < count:
        g = genres[(start + len(names)) % len(genres)]
        name = (f"{g}_s{rng.choice(['BM', 'FM'])}_cAll_d{rng.integers(1, 31):02d}"
                f"_m{g[1:]}{rng.integers(0, 6)}_ch{rng.integers(1, 31):02d}")
        if name not in names:
            names.append(name)
    return names


def _layout(out: Path) -> dict[str, Path]:
    anno = out / "annotations"
    return {"anno": anno, "smpl": out / "smpl", "detections": out / "detections", "videos": out / "videos",
            "truth": out / "truth", "cameras": anno / "cameras"}


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise AistppError("--out is a file, not a folder", out)
    for name in OUTPUT_FOLDERS:  # never write (or delete) through a link into another dataset
        if (out / name).is_symlink():
            raise AistppError(f"{out / name} is a symbolic link; synth does not write through links "
                              "(remove the link or choose another --out)", out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise AistppError("output folder is not empty: pass --overwrite, or choose an empty folder", out)
        for name in OUTPUT_FOLDERS:  # only what synth writes; other files stay
            shutil.rmtree(out / name, ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AistppError(f"cannot create the output folder ({exc.strerror})", out) from None


def synth_sequence(name: str, config: SynthConfig, index: dict[str, int], setting: dict[str, str]) -> dict:
    """Generate and write one sequence (motion, keypoints, detections, videos); returns counts."""
    from aistpp.core.body import load_smpl, motion_extra, smpl_forward
    from aistpp.core.body_models import SMPL
    from aistpp.pipeline.synth.detections import FOOT_TO_SMPL, make_detections
    from aistpp.pipeline.synth.motion import make_motion
    from aistpp.pipeline.synth.openpose import body25_from_coco, make_distractor, write_openpose_video

    paths = _layout(config.out)
    rng = np.random.default_rng([config.seed, 2, index[name]])
    model = load_smpl(paths["smpl"])
    rig = formats.load_cameras(paths["cameras"] / f"{setting[name]}.json")
    motion = make_motion(config.frames, rng, model=model, planted=config.planted_feet)
    points = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"])
    extra2d, extra3d, motion_keys = {}, {}, motion_extra("neutral")  # posed with load_smpl's default
    if config.hands:  # the same dance with moving hands, posed by the SMPL-H / SMPL-X model
        from aistpp.pipeline.synth.hands import hand_sequence

        hs = hand_sequence(paths["smpl"], config.hands, motion, rng)
        motion, points = hs["motion"], hs["points45"]
        motion_keys = dict(motion_keys, **{k: v for k, v in motion.items() if k not in (
            "smpl_poses", "smpl_trans", "smpl_scaling", "smpl_loss")})
        extra3d = {"keypoints3d_full": hs["wholebody"].astype(np.float32), "joint_set": "wholebody133"}
    kp3d = points[:, SMPL.observed_index("coco17")].astype(np.float32)
    det = make_detections(rig, kp3d, rng, noise_px=config.noise_px, outlier_rate=config.outlier_rate,
                          missing_frame_rate=config.missing_frame_rate, low_conf_rate=config.low_conf_rate,
                          feet3d=points[:, FOOT_TO_SMPL])
    if not config.hands:  # hands: WholeBody-133 below (SynthConfig refuses both)
        extra2d, extra3d = full_set_keypoints(config, model, motion, points, rig, det, index[name])
    anno = paths["anno"]
    if config.hands:
        from aistpp.pipeline.synth.hands import hand_detections

        full = hand_detections(rig, extra3d["keypoints3d_full"], det["missing"], rng, config.noise_px)
        full[:, :, :17] = det["keypoints2d"]  # the body as detected, faults included
        extra2d = {"keypoints2d_full": full, "joint_set": "wholebody133"}
    formats.save_motion(anno / "motions" / f"{name}.pkl", motion["smpl_poses"], motion["smpl_trans"],
                        motion["smpl_scaling"], motion["smpl_loss"], **motion_keys)
    formats.save_keypoints3d(anno / "keypoints3d" / f"{name}.pkl", kp3d, kp3d, **extra3d)
    formats.save_keypoints2d(anno / "keypoints2d" / f"{name}.pkl", det["keypoints2d"], det["det_scores"],
                             formats.frame_timestamps(config.frames), **extra2d)
    body25 = body25_from_coco(det["keypoints2d"], det["feet2d"])  # (V, N, 25, 3)
    V = len(rig)
    can_hide = (~det["missing"]) & (det["det_scores"] > 0.4)
    has_distractor = can_hide & (rng.random(can_hide.shape) < config.distractor_rate)
    for v in range(V):
        frames = np.flatnonzero(has_distractor[v])
        distractors = {int(i): (make_distractor(body25[v, i], rig.sizes[v], rng), bool(rng.random() < 0.5))
                       for i in frames}
        write_openpose_video(paths["detections"], video_name(name, rig.names[v]), body25[v], det["missing"][v],
                             distractors)
    truth = {k: det[k] for k in ("clean", "missing", "swapped", "outlier", "low_conf", "visible")}
    truth.update(feet2d=det["feet2d"], distractor=has_distractor, setting=setting[name])
    if extra3d:
        truth.update(keypoints3d_full=extra3d["keypoints3d_full"], joint_set=config.joint_set)
    formats.save_pickle(paths["truth"] / f"{name}.pkl", truth)
    if config.videos:
        from aistpp.core.render import outward_faces
        from aistpp.pipeline.synth.face import face_decals
        from aistpp.pipeline.synth.video import body_colours, render_view_video

        _, verts = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"],
                                vertices=True)
        faces = outward_faces(model.v_template.numpy(), model.faces.astype(np.int64))
        template = model.v_template.numpy()
        colours = body_colours(template, model.lbs_weights.numpy(),
                               np.random.default_rng([config.seed, 3, index[name]]))
        nose = next(lm.vertex for lm in SMPL.landmarks if lm.name == "nose")
        crown = np.argmax(template[:, 1])  # skin and hair colours
        decals = face_decals(template, faces, model.lbs_weights.numpy(), colours[nose], colours[crown],
                             np.random.default_rng([config.seed, 4, index[name]]))
        for v in range(V):
            render_view_video(paths["videos"] / f"{video_name(name, rig.names[v])}.mp4", rig, v, verts, faces,
                              colours, decals)
    return {"frames": config.frames, "missed view-frames": int(det["missing"].sum()),
            "outliers": int(det["outlier"].sum()), "distractors": int(has_distractor.sum())}


def full_set_keypoints(config: SynthConfig, model, motion: dict, points: np.ndarray, rig, det: dict,
                       index: int) -> tuple[dict, dict]:
    """The extra keys of keypoints2d and keypoints3d for ``config.joint_set`` (none for coco17):
    detections ``keypoints2d_full`` (V, N, J, 3) and exact ``keypoints3d_full(_optim)`` (N, J, 3) cm.
    The head top's detection noise has its own generator (seed, 4, index): the COCO-17 data stay
    the same bytes whatever the set."""
    from aistpp.core.body import smpl_forward
    from aistpp.core.joint_sets import REGISTRY
    from aistpp.pipeline.synth.keypoints import detect_points, head_top_vertex, set_detections, set_points_3d

    if config.joint_set == "coco17":
        return {}, {}
    head3d = head2d = None
    if "head_top" in REGISTRY[config.joint_set].names:
        vid = head_top_vertex(model.v_template.numpy(), model.lbs_weights.numpy())
        _, verts = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"],
                                vertices=True)
        head3d = verts[:, vid]
        head2d = detect_points(rig, head3d[:, None], det["missing"], np.random.default_rng([config.seed, 4, index]),
                               config.noise_px, config.low_conf_rate)
    full3d = set_points_3d(config.joint_set, points, head3d).astype(np.float32)
    full2d = set_detections(config.joint_set, det["keypoints2d"], det["feet2d"], head2d)
    return ({"keypoints2d_full": full2d, "joint_set": config.joint_set},
            {"keypoints3d_full": full3d, "keypoints3d_full_optim": full3d, "joint_set": config.joint_set})


def generate(out_dir: str | Path, config: SynthConfig | None = None) -> dict:
    """Write a synthetic dataset under ``out_dir`` (see the module docstring); returns a summary.

    Raises ``AistppError`` if ``out_dir`` is not empty and ``config.overwrite`` is false.
    """
    from aistpp.core.runner import RunOptions, run_jobs
    from aistpp.core.body_models import SMPL
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model
    from aistpp.pipeline.synth.rig import make_rig, scale_rig

    start = time.perf_counter()
    out = Path(out_dir)
    config = (config or SynthConfig(out=out)).model_copy(update={"out": out})
    _prepare(out, config.overwrite)
    paths = _layout(out)
    rng = np.random.default_rng([config.seed, 0])
    names = sequence_names(config.sequences, rng)
    paths["smpl"].mkdir(parents=True, exist_ok=True)
    for gender in GENDERS:
        write_body_model(SMPL.model_path(paths["smpl"], gender), make_body_model(gender))
    if config.body_models or config.hands:
        from aistpp.pipeline.synth.body_model_x import make_body_model_x, model_file_name, write_body_model_x

        for kind in dict.fromkeys((config.body_models or []) + ([config.hands] if config.hands else [])):
            for gender in GENDERS:
                write_body_model_x(paths["smpl"] / model_file_name(kind, gender), make_body_model_x(kind, gender))
    settings = [f"setting{k + 1}" for k in range(config.settings)]
    for k, s in enumerate(settings):
        rig = scale_rig(make_rig(k, np.random.default_rng([config.seed, 1, k]), num_views=config.views),
                        config.image_scale)
        formats.save_cameras(paths["cameras"] / f"{s}.json", rig)
    setting = {n: settings[i % len(settings)] for i, n in enumerate(names)}
    formats.write_mapping(paths["cameras"] / "mapping.txt", setting)
    n_val = len(names) // 5 if len(names) >= 5 else (1 if len(names) >= 2 else 0)
    formats.write_lines(paths["anno"] / "splits" / "pose_train.txt", names[: len(names) - n_val])
    formats.write_lines(paths["anno"] / "splits" / "pose_val.txt", names[len(names) - n_val:])
    formats.write_lines(paths["anno"] / "ignore_list.txt", [])
    for kind in ("motions", "keypoints2d", "keypoints3d"):
        (paths["anno"] / kind).mkdir(parents=True, exist_ok=True)
    job = functools.partial(synth_sequence, config=config, index={n: i for i, n in enumerate(names)},
                            setting=setting)
    options = RunOptions(executor=config.executor, workers=config.workers, overwrite=True, quiet=config.quiet)
    report = run_jobs(job, names, options, title="synth")
    return {
        "out": str(out), "sequences": names, "settings": settings, "frames": config.frames,
        "views": config.views, "size": [int(s) for s in rig.sizes[0]], "videos": config.videos,
        "paths": {k: str(v) for k, v in paths.items()}, "report": report,
        "seconds": time.perf_counter() - start,
    }
