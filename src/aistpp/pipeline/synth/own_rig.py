"""A synthetic recording of one's own rig: 4 portrait cameras named cam01..cam04, two image widths,
detections from two OpenPose-style tools with different file naming, and a calibration that
rounds the width the way some tools do (the cameras say 544 px, the videos are 540).

```
<out>/detections/<sequence>/cam01/cam01.0000.json ...            tool A: <view>.<frame:04d>.json
<out>/detections/<sequence>/cam03/<sequence>_cam03_000000000000_keypoints.json   tool B
<out>/videos/<sequence>/<view>.mp4                              60 fps renders
<out>/cameras/studio.json, mapping.txt                          the true cameras (sizes as the tool wrote them)
<out>/truth/keypoints3d/<sequence>.pkl                          exact COCO-17 keypoints (cm)
<out>/smpl/SMPL_NEUTRAL.pkl                                     the generated body model
```
Run as ``python -m aistpp.pipeline.synth.own_rig --out DIR`` (what ``examples/own_rig.sh`` does
when it has no data of its own).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from aistpp.core import formats
from aistpp.core.cameras import CameraRig

SEQUENCE = "studio_session_2026-12-01_dancer_ayumi_take_03_full_routine"
VIEWS = ("cam01", "cam02", "cam03", "cam04")
VIDEO_SIZES = ((540, 960), (540, 960), (480, 960), (480, 960))  # portrait, two widths
CAMERA_WIDTHS = (544, 544, 480, 480)  # what the calibration tool wrote (540 rounded up to 16 px)


def own_rig(rng: np.random.Generator) -> CameraRig:
    """4 portrait cameras on a half ring, named cam01..cam04, sized as the videos."""
    from aistpp.pipeline.synth.rig import make_rig, scale_rig

    full = scale_rig(make_rig(0, rng, num_views=4, size=(1080, 1920)), 0.5)  # 540x960, f ~450
    K, sizes = full.K.copy(), full.sizes.copy()
    K[:, :2, :2] *= 1.8  # a longer lens: the dancer fills more of the portrait frame
    for v, (w, h) in enumerate(VIDEO_SIZES):  # narrower views: a centred crop
        K[v, 0, 2] -= (sizes[v, 0] - w) / 2
        sizes[v] = (w, h)
    return CameraRig(VIEWS, sizes, K, full.dist, full.rvec, full.tvec)


def _frame_file(view_index: int, view: str, frame: int) -> str:
    if view_index < 2:
        return f"{view}.{frame:04d}.json"
    return f"{SEQUENCE}_{view}_{frame:012d}_keypoints.json"


def write_own_rig(out: Path, frames: int = 90, seed: int = 0, videos: bool = True) -> dict:
    """Write the recording under ``out`` (see the module docstring); returns what it wrote."""
    from aistpp.core.body import load_smpl, smpl_forward
    from aistpp.core.body_models import SMPL
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model
    from aistpp.pipeline.synth.detections import FOOT_TO_SMPL, make_detections
    from aistpp.pipeline.synth.motion import make_motion
    from aistpp.pipeline.synth.openpose import _person, body25_from_coco

    out = Path(out)
    rng = np.random.default_rng([seed, 17])
    write_body_model(SMPL.model_path(out / "smpl", "neutral"), make_body_model("neutral"))
    model = load_smpl(out / "smpl")
    rig = own_rig(rng)
    motion = make_motion(frames, rng, model=model)
    points = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"])
    kp3d = points[:, SMPL.observed_index("coco17")].astype(np.float32)
    det = make_detections(rig, kp3d, rng, noise_px=1.0, outlier_rate=0.0, missing_frame_rate=0.02,
                          feet3d=points[:, FOOT_TO_SMPL])
    body25 = body25_from_coco(det["keypoints2d"], det["feet2d"])
    for v, view in enumerate(VIEWS):
        folder = out / "detections" / SEQUENCE / view
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(frames):
            if det["missing"][v, i] and i % 2:  # a missed frame: no file at all, or a file without people
                continue
            people = [] if det["missing"][v, i] else [_person(body25[v, i])]
            (folder / _frame_file(v, view, i)).write_text(json.dumps({"version": 1.3, "people": people}))
    said = CameraRig(rig.names, np.array([(w, h) for w, (_, h) in zip(CAMERA_WIDTHS, VIDEO_SIZES)]), rig.K,
                     rig.dist, rig.rvec, rig.tvec)
    formats.save_cameras(out / "cameras" / "studio.json", said)
    formats.write_mapping(out / "cameras" / "mapping.txt", {SEQUENCE: "studio"})
    formats.save_keypoints3d(out / "truth" / "keypoints3d" / f"{SEQUENCE}.pkl", kp3d, kp3d)
    if videos:
        from aistpp.pipeline.synth.video import outward_faces, render_view_video

        _, verts = smpl_forward(model, motion["smpl_poses"], motion["smpl_trans"], motion["smpl_scaling"],
                                vertices=True)
        faces = outward_faces(model.v_template.numpy(), model.faces.astype(np.int64))
        for v, view in enumerate(VIEWS):
            render_view_video(out / "videos" / SEQUENCE / f"{view}.mp4", rig, v, verts, faces)
    return {"sequence": SEQUENCE, "views": list(VIEWS), "frames": frames, "out": str(out)}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder to write into")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-videos", action="store_true")
    args = ap.parse_args(argv)
    info = write_own_rig(args.out, args.frames, args.seed, not args.no_videos)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
