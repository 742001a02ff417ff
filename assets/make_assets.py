"""Regenerate README's figures from aistpp's own outputs.

    python assets/make_assets.py [--work DIR]

Runs ``aistpp demo`` (one synthetic sequence) into DIR (default a temporary folder), then writes
- ``assets/pipeline.png``: the rebuild pipeline, each step shown by what it produced in that
  run: detections drawn by ``vis --mode 2d``, the calibrated rig seen from above (against the
  ground truth), the optimised 3D keypoints, and the fitted SMPL mesh (``vis --mode mesh``);
- ``assets/vis_frame.png``: one frame of the ``vis --mode mesh`` video the demo wrote.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from aistpp.core import formats
from aistpp.core.align import similarity_transform, transform_rig
from aistpp.core.draw import draw_named_skeleton
from aistpp.core.video import read_frames
from aistpp.pipeline.demo import DemoConfig, run_demo
from aistpp.pipeline.vis import VisConfig, run_vis

ASSETS = Path(__file__).resolve().parent
FRAME = 70  # the annotation frame shown
PANEL = (360, 300)  # width, height of one step's picture
INK, PAPER, ACCENT = (40, 40, 40), (250, 250, 250), (200, 120, 30)


def video_frame(path: Path, index: int) -> np.ndarray:
    for i, frame in read_frames(path, index, index + 1):
        return frame
    raise RuntimeError(f"{path} has no frame {index}")


def crop_person(image: np.ndarray, points: np.ndarray, margin: float = 0.35) -> np.ndarray:
    """The part of ``image`` around ``points`` (J, 2), at the panel's aspect ratio."""
    ok = np.isfinite(points).all(1)
    lo, hi = points[ok].min(0), points[ok].max(0)
    centre, half = (lo + hi) / 2, (hi - lo).max() / 2 * (1 + margin)
    aspect = PANEL[0] / PANEL[1]
    hw, hh = half * aspect, half
    h, w = image.shape[:2]
    x0, x1 = int(max(0, centre[0] - hw)), int(min(w, centre[0] + hw))
    y0, y1 = int(max(0, centre[1] - hh)), int(min(h, centre[1] + hh))
    return cv2.resize(image[y0:y1, x0:x1], PANEL, interpolation=cv2.INTER_AREA)


def rig_from_above(rebuilt, truth) -> np.ndarray:
    """Top view (x, z) of the calibrated cameras (filled), aligned to the true ones (rings) by a
    similarity of the centres as ``aistpp compare`` does (a calibration has its own gauge)."""
    rebuilt = transform_rig(rebuilt, *similarity_transform(rebuilt.centers, truth.centers))
    img = np.full((PANEL[1], PANEL[0], 3), PAPER, np.uint8)
    centres = np.concatenate([rebuilt.centers, truth.centers])[:, [0, 2]]
    scale = 0.42 * min(PANEL) / np.abs(centres).max()
    to_px = lambda p: (int(PANEL[0] / 2 + scale * p[0]), int(PANEL[1] / 2 + scale * p[1]))  # noqa: E731
    cv2.circle(img, to_px((0, 0)), int(scale * 60), (200, 200, 200), -1, cv2.LINE_AA)  # dance floor
    for rig, filled in ((truth, False), (rebuilt, True)):
        for c, R in zip(rig.centers, rig.R):
            axis = R[2]  # viewing direction in the world
            cv2.line(img, to_px(c[[0, 2]]), to_px(c[[0, 2]] + 90 * axis[[0, 2]]), ACCENT if filled else INK, 2,
                     cv2.LINE_AA)
            cv2.circle(img, to_px(c[[0, 2]]), 5 if filled else 9, ACCENT if filled else INK, -1 if filled else 2,
                       cv2.LINE_AA)
    return img


def skeleton_side_view(points: np.ndarray) -> np.ndarray:
    """Orthographic front view (x, y) of 3D keypoints (17, 3) cm, floor line at y = 0."""
    img = np.full((PANEL[1], PANEL[0], 3), PAPER, np.uint8)
    ok = np.isfinite(points).all(1)
    cx = float(np.mean(points[ok, 0]))
    scale = 0.8 * PANEL[1] / max(200.0, float(points[ok, 1].max()))
    px = np.stack([PANEL[0] / 2 + scale * (points[:, 0] - cx), PANEL[1] - 20 - scale * points[:, 1]], 1)
    cv2.line(img, (20, PANEL[1] - 20), (PANEL[0] - 20, PANEL[1] - 20), (180, 180, 180), 2)
    draw_named_skeleton(img, px, "coco17", thickness=4, joint_size=5)
    return img


def titled(image: np.ndarray, title: str, caption: str) -> np.ndarray:
    bar = np.full((58, image.shape[1], 3), PAPER, np.uint8)
    cv2.putText(bar, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, INK, 2, cv2.LINE_AA)
    cv2.putText(bar, caption, (8, 48), cv2.FONT_HERSHEY_SIMPLEX, 0.45, INK, 1, cv2.LINE_AA)
    panel = np.vstack([bar, image])
    cv2.rectangle(panel, (0, 0), (panel.shape[1] - 1, panel.shape[0] - 1), (190, 190, 190), 1)
    return panel


def arrow(height: int) -> np.ndarray:
    img = np.full((height, 44, 3), 255, np.uint8)
    cv2.arrowedLine(img, (6, height // 2), (38, height // 2), INK, 3, cv2.LINE_AA, tipLength=0.4)
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="folder for the demo run (default: temporary)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp) / "demo"
        summary = run_demo(DemoConfig(out=work, sequences=1, frames=120, seed=5, overwrite=True))
        truth_dir, rebuilt_dir = work / "data" / "annotations", work / "rebuilt"
        seq = next(iter(summary["compare"]["sequences"]))
        mesh_video = Path(next(v for v in summary["videos"] if "/mesh/" in v))
        video_name = mesh_video.stem
        run_vis(VisConfig(anno_dir=rebuilt_dir, video_dir=work / "data" / "videos", save_dir=work / "vis" / "2d",
                          video_name=video_name, mode="2d", start=FRAME, end=FRAME + 1, executor="serial",
                          quiet=True, overwrite=True))
        frame_2d = video_frame(work / "vis" / "2d" / f"{video_name}.mp4", 0)
        frame_mesh = video_frame(mesh_video, FRAME)
        cv2.imwrite(str(ASSETS / "vis_frame.png"), frame_mesh)

        rig = formats.load_cameras(rebuilt_dir / "cameras" / "setting1.json")
        kp2d = formats.load_keypoints2d(rebuilt_dir / "keypoints2d" / f"{seq}.pkl")["keypoints2d"]
        body = kp2d[0, FRAME, :, :2]
        kp3d = formats.load_keypoints3d(rebuilt_dir / "keypoints3d" / f"{seq}.pkl")["keypoints3d_optim"][FRAME]
        steps = {s["step"]: s for s in summary["steps"]}
        panels = [
            titled(crop_person(frame_2d, body), "preprocess", "2D detections -> keypoints2d"),
            titled(rig_from_above(rig, formats.load_cameras(truth_dir / "cameras" / "setting1.json")),
                   "calibrate", f"from above: dots ours, rings truth ({steps['calibrate']['value'].split(' /')[0]})"),
            titled(skeleton_side_view(kp3d), "triangulate", f"keypoints3d / _optim: {steps['triangulate']['value']}"),
            titled(crop_person(frame_mesh, body), "fit-smpl + vis", f"SMPL, {steps['fit-smpl']['value']} joint error"),
        ]
        row = [panels[0]]
        for p in panels[1:]:
            row += [arrow(p.shape[0]), p]
        figure = np.hstack(row)
        figure = cv2.copyMakeBorder(figure, 12, 12, 12, 12, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.imwrite(str(ASSETS / "pipeline.png"), figure)
    print(f"wrote {ASSETS / 'pipeline.png'} and {ASSETS / 'vis_frame.png'}")


if __name__ == "__main__":
    main()
