"""Tests of ``aistpp detect``: the bundled BlazePose backend offline on synthetic videos against the
synthetic ground truth, the ONNX backend's pre/post-processing exactly (small models exported
from torch whose outputs are known), the derived confidence, the output file, the CLI."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys

import numpy as np

import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.detectors import BLAZEPOSE33, BLAZEPOSE33_TO_COCO17, to_coco17
from aistpp.core.joints import COCO17
from aistpp.core.video import probe
from aistpp.pipeline.detect import DetectConfig, derived_confidence, run_detect, timestamps

import _released as real_data

HAVE_MEDIAPIPE = importlib.util.find_spec("mediapipe") is not None
HAVE_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None
needs_mediapipe = pytest.mark.skipif(not HAVE_MEDIAPIPE, reason="optional backend not installed: "
                                     "MediaPipe (pip install 'aistpp[detect]')")
needs_ort = pytest.mark.skipif(not HAVE_ORT, reason="optional backend not installed: onnxruntime + onnx "
                               "(pip install 'aistpp[detect,test]')")


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection refused: the detectors must run offline."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_blazepose_coco_map_by_name():
    assert len(BLAZEPOSE33) == 33
    assert [BLAZEPOSE33[i] for i in BLAZEPOSE33_TO_COCO17] == list(COCO17)
    kp = np.random.default_rng(0).normal(size=(2, 4, 33, 3)).astype(np.float32)
    assert np.array_equal(to_coco17(kp, "blazepose33"), kp[..., BLAZEPOSE33_TO_COCO17, :])


def test_timestamps_are_microseconds_at_60fps():
    assert timestamps(5).tolist() == [0, 16667, 33333, 50000, 66667]


# ---- derived confidence: a jumpy point loses its score, a smooth one keeps it ------------------
def test_derived_confidence_flags_jumps_the_score_does_not():
    rng = np.random.default_rng(3)
    N, J = 300, 17
    t = np.arange(N)[:, None] / 60.0
    phase = rng.uniform(0, 6, J)
    centre = np.stack([480 + 60 * np.sin(1.3 * t + phase), 270 + 90 * np.cos(0.9 * t + phase)], -1)  # (N, J, 2)
    xy = centre + rng.normal(0, 0.7, centre.shape)  # a good detector's noise
    bad = rng.random((N, J)) < 0.05
    xy[bad] += rng.normal(0, 25, (bad.sum(), 2))  # wrong points, off by ~25 px
    score = np.where(bad, rng.uniform(0.9, 1.0, (N, J)), rng.uniform(0.85, 1.0, (N, J)))  # uninformative
    missing = rng.random((N, J)) < 0.02
    kp = np.concatenate([xy, score[..., None]], -1).astype(np.float32)
    kp[missing] = np.nan
    conf = derived_confidence(kp)
    assert conf.shape == (N, J) and np.all((conf >= 0) & (conf <= 1))
    assert np.all(conf[missing] == 0)
    good, wrong = conf[~bad & ~missing], conf[bad & ~missing]
    # AUC of "good scores above wrong": the raw score is at chance (<= 0.5), the derived one high
    auc = (good[:, None] > wrong[None, :]).mean()
    assert auc > 0.9, auc
    assert np.median(good) > 0.7


# ---- the bundled default: BlazePose on synthetic videos, offline ----------------------------------
@pytest.fixture(scope="module")
def synth_videos(tmp_path_factory):
    from conftest import make_synth_data

    return make_synth_data(tmp_path_factory.mktemp("detect_synth"), seed=5, sequences=1, frames=72, views=3,
                           image_scale=0.5, videos=True)


@needs_mediapipe
def test_blazepose_on_synthetic_video_matches_ground_truth(synth_videos, tmp_path, no_network):
    d = synth_videos
    seq = d.sequences[0]
    cfg = DetectConfig(video_dir=d.video_dir, save_dir=tmp_path / "kp2d", json_dir=tmp_path / "json",
                       executor="serial", quiet=True)
    report = run_detect(cfg)
    assert not report.failed, report.failed[0].error
    out = formats.load_keypoints2d(tmp_path / "kp2d" / f"{seq}.pkl")
    V, N = len(d.rig), d.config.frames
    assert tuple(d.rig.sizes[0]) == (960, 540)
    assert out["keypoints2d"].shape == (V, N, 17, 3) and out["keypoints2d_full"].shape == (V, N, 33, 3)
    assert out["joint_set"] == "blazepose33" and out["view_names"] == list(d.rig.names)
    assert out["image_sizes"].tolist() == d.rig.sizes.tolist()
    assert out["timestamps"].tolist() == [round(i * 1e6 / 60) for i in range(N)]
    assert np.array_equal(out["keypoints2d"], out["keypoints2d_full"][:, :, BLAZEPOSE33_TO_COCO17], equal_nan=True)

    truth = d.rig.project(d.keypoints3d[seq])  # (V, N, 17, 2): ground truth, independent of the detector
    visible = d.truth[seq]["visible"]
    kp = out["keypoints2d"]
    detected = np.isfinite(kp[..., 0]).all(axis=-1)  # (V, N)
    assert detected.mean() >= 0.95, detected.mean()
    err = np.linalg.norm(kp[..., :2] - truth, axis=-1)
    use = visible & detected[..., None]
    assert np.median(err[use]) <= 8.0, np.median(err[use])
    # the derived confidence means something: the least confident points are the worse ones
    conf = kp[..., 2][use]
    e = err[use]
    lo, hi = np.quantile(conf, [0.1, 0.5])
    assert np.median(e[conf <= lo]) > 1.5 * np.median(e[conf >= hi])
    # det_scores: the mean COCO-17 confidence of the frame
    assert np.allclose(out["det_scores"][detected], np.nanmean(kp[..., 2], axis=-1)[detected], atol=1e-6)
    # the OpenPose JSON reads back (preprocess's reader) to the same COCO-17 points
    from aistpp.core.detections import read_video
    from aistpp.core.names import video_name

    back = read_video(tmp_path / "json" / video_name(seq, d.rig.names[1]))
    assert back.joint_set == "body25"
    coco = to_coco17(back.keypoints[:, 0], "body25")  # (F, 17, 3): one person per frame
    rows = back.timestamps
    assert np.array_equal(rows, np.flatnonzero(detected[1]))  # a frame without the person has none
    assert np.allclose(coco[..., :2], kp[1, rows, :, :2], atol=1e-3, equal_nan=True)

    # resumable: a second run skips the sequence; asking for JSON elsewhere redoes it
    again = run_detect(cfg)
    assert again.count("skipped") == 1
    assert run_detect(cfg.model_copy(update={"json_dir": tmp_path / "json2"})).count("done") == 1


# ---- the ONNX backend: small models with known outputs ---------------------------------------------
W, H = 48, 64  # model input size


def _export(tmp_path, kind: str):
    import torch

    class SimCC(torch.nn.Module):
        """keypoint k reads RGB channel k % 3: its column maxima (x) and row maxima (y), 2 bins per px."""

        def forward(self, x):
            ch = x[:, torch.arange(17) % 3]  # (1, 17, H, W)
            return ch.amax(dim=2).repeat_interleave(2, dim=-1), ch.amax(dim=3).repeat_interleave(2, dim=-1)

    class Heatmap(torch.nn.Module):
        """keypoint k: RGB channel k % 3 (+ 3: positive, as scores must be) averaged over 4x4 cells, (1, 17, H/4, W/4)."""

        def forward(self, x):
            ch = x[:, torch.arange(17) % 3] + 3.0
            return torch.nn.functional.avg_pool2d(ch, 4)

    model = SimCC() if kind == "simcc" else Heatmap()
    path = tmp_path / f"{kind}.onnx"
    torch.onnx.export(model, torch.zeros(1, 3, H, W), str(path), input_names=["input"], dynamo=False)
    return path


def _image_with_dots(dots: dict[int, tuple[int, int]], size=(640, 480), value=255) -> np.ndarray:
    """A black BGR image with one bright pixel per RGB channel c at dots[c] = (x, y)."""
    img = np.zeros((size[1], size[0], 3), np.uint8)
    for c, (x, y) in dots.items():
        img[y, x, 2 - c] = value  # RGB channel c is BGR channel 2 - c
    return img


@needs_ort
def test_onnx_simcc_crop_decode_and_back_to_image_exactly(tmp_path):
    from aistpp.core.detectors import load_detector
    from aistpp.core.detectors.onnx_topdown import RTMPOSE_MEAN, RTMPOSE_STD

    det = load_detector(str(_export(tmp_path, "simcc")), "cpu", boxes="previous")
    assert det.joint_set == "coco17" and det.input_size == (W, H)
    # a box whose padded size is 2x the input: input pixel q <- image pixel 2 (q - input centre) + box centre
    c = np.array([300.0, 200.0])
    half = np.array([W, H]) / 1.25  # padded box = (2W, 2H)
    box = np.concatenate([c - half, c + half])
    dots = {0: (300 + 2 * 7, 200 - 2 * 11), 1: (300 - 2 * 20, 200 + 2 * 5), 2: (300 + 2 * 3, 200 + 2 * 30)}
    det.reset()
    people = det.detect(_image_with_dots(dots), box=box)
    kp = people.keypoints[0]
    for k in range(17):
        assert kp[k, :2].tolist() == list(dots[k % 3]), k
        expected_score = (255 - RTMPOSE_MEAN[k % 3]) / RTMPOSE_STD[k % 3]
        assert kp[k, 2] == pytest.approx(expected_score, rel=1e-5)
    # the next frame's box is the previous keypoints' box, grown by the margin (no box given)
    from aistpp.core.detectors.onnx_topdown import KEYPOINT_BOX_MARGIN

    xs, ys = [p[0] for p in dots.values()], [p[1] for p in dots.values()]
    centre = np.array([(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2])
    halfw = np.array([max(xs) - min(xs), max(ys) - min(ys)]) / 2 * KEYPOINT_BOX_MARGIN
    assert np.allclose(det.person_box(np.zeros((480, 640, 3), np.uint8)), np.concatenate([centre - halfw, centre + halfw]))
    # the first frame of a video (after reset) is taken whole: the dots land where they are
    det.reset()
    assert det.person_box(np.zeros((480, 640, 3), np.uint8)).tolist() == [0, 0, 640, 480]


@needs_ort
def test_onnx_heatmap_decode_with_quarter_offset(tmp_path):
    from aistpp.core.detectors import load_detector

    det = load_detector(str(_export(tmp_path, "heatmap")), "cpu", boxes="previous")
    c = np.array([320.0, 240.0])
    half = np.array([W, H]) / 1.25
    box = np.concatenate([c - half, c + half])
    # channel 0: one dot -> one hot cell, equal neighbours: no offset; x_in = 4 * cell
    # channel 1: a dot and a dimmer one in the next cell to the right: +1/4 cell in x
    q0 = np.array([4 * 3 + 1, 4 * 9 + 2])  # input px inside cell (3, 9)
    q1 = np.array([4 * 7 + 3, 4 * 4 + 0])  # cell (7, 4); its right neighbour gets the dim dot
    img = np.zeros((480, 640, 3), np.uint8)
    to_img = lambda q: (2 * (q - np.array([W, H]) / 2) + c).astype(int)  # noqa: E731
    x, y = to_img(q0)
    img[y, x, 2] = 255
    x, y = to_img(q1)
    img[y, x, 1] = 255
    x, y = to_img(q1 + [4, 0])
    img[y, x, 1] = 120
    kp = det.detect(img, box=box).keypoints[0]
    back = lambda q: (np.asarray(q, float) - np.array([W, H]) / 2) / 0.5 + c  # noqa: E731
    assert np.allclose(kp[0, :2], back([4 * 3, 4 * 9]), atol=1e-4)
    assert np.allclose(kp[1, :2], back([4 * 7.25, 4 * 4]), atol=1e-4)


def test_crop_transform_centres_the_box_and_keeps_the_aspect():
    from aistpp.core.detectors.onnx_topdown import crop_transform

    M = crop_transform([100, 50, 160, 250], (192, 256), padding=1.25)  # a tall box: height rules
    apply = lambda p: M[:, :2] @ np.asarray(p, float) + M[:, 2]  # noqa: E731
    assert np.allclose(apply([130, 150]), [96, 128])  # centre -> input centre
    assert np.allclose(apply([130, 150 - 1.25 * 100]), [96, 0])  # padded top edge -> input top
    assert M[0, 0] == pytest.approx(M[1, 1])  # no stretching


def test_onnx_cuda_fails_clearly_when_absent():
    from aistpp.core.detectors.onnx_topdown import providers_for
    from aistpp.errors import AistppError

    with pytest.raises(AistppError, match="CUDA"):
        providers_for("cuda", ["CPUExecutionProvider"])
    assert providers_for("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert providers_for("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"])[0] == "CUDAExecutionProvider"


@needs_ort
def test_detect_with_an_onnx_model_writes_the_sequence_file(synth_videos, tmp_path, no_network):
    d = synth_videos
    seq = d.sequences[0]
    model = _export(tmp_path, "simcc")
    cfg = DetectConfig(video_dir=d.video_dir, save_dir=tmp_path / "kp2d", model=str(model), executor="serial",
                       quiet=True)
    report = run_detect(cfg)
    assert not report.failed, report.failed[0].error
    out = formats.load_keypoints2d(tmp_path / "kp2d" / f"{seq}.pkl")
    assert out["joint_set"] == "coco17" and "keypoints2d_full" not in out
    assert out["keypoints2d"].shape == (len(d.rig), d.config.frames, 17, 3)


@needs_ort
def test_frames_are_taken_by_time_at_60fps(tmp_path):
    """A 30 fps video: annotation frame i is the source frame nearest i/60 s (each shown twice)."""
    from aistpp.core.detectors import load_detector
    from aistpp.core.video import VideoWriter
    from aistpp.pipeline.detect import detect_video

    n = 12
    path = tmp_path / "gWA_sFM_c01_d27_mWA2_ch21.mp4"
    xs = 40 + 9 * np.arange(n)  # the dot moves 9 px per source frame
    with VideoWriter(path, fps=30, size=(192, 256)) as w:
        for k in range(n):
            img = np.zeros((256, 192, 3), np.uint8)
            img[100:108, xs[k]:xs[k] + 8] = 255  # white: every channel
            w.write(img)
    # min_score above any score: the box is always the whole image (no padding: 4x the 48x64 input)
    det = load_detector(str(_export(tmp_path, "simcc")), "cpu", boxes="previous", min_score=1e9, padding=1.0)
    kp, scores = detect_video(path, det)
    assert kp.shape[1] == 1 and np.isfinite(scores).all()  # one person per frame
    kp = kp[:, 0]
    assert len(kp) == 2 * n  # the last source frame still lies within half a frame of (2n - 1) / 60 s
    x = kp[:, 0, 0]
    source = np.arange(2 * n) // 2  # nearest source frame of i/60 s (a tie goes to the earlier one)
    assert np.all(np.abs(x - xs[source]) <= 8), (x, xs[source])  # the input samples every 4 px
    assert np.array_equal(x[0::2], x[1::2])  # annotation frames 2k and 2k + 1 show source frame k
    assert len(np.unique(x)) == n


# ---- CLI: missing backend, bad input ---------------------------------------------------------------
def _fake_videos(folder):
    folder.mkdir()
    (folder / "gWA_sFM_c01_d27_mWA2_ch21.mp4").write_bytes(b"")
    return folder


@pytest.mark.parametrize("module, model", [("mediapipe", None), ("onnxruntime", "model.onnx")])
def test_missing_backend_exits_2_saying_what_to_install(tmp_path, monkeypatch, module, model):
    monkeypatch.setitem(sys.modules, module, None)  # import it -> ImportError
    if model is not None:
        (tmp_path / model).write_bytes(b"not read: the backend is missing first")
    extra = [] if model is None else ["--model", str(tmp_path / model)]
    result = CliRunner().invoke(app, ["detect", "--video-dir", str(_fake_videos(tmp_path / "v")),
                                      "--save-dir", str(tmp_path / "out")] + extra)
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'aistpp[detect]'" in lines[0], result.output
    assert not (tmp_path / "out").exists()


def test_bad_model_and_empty_folder_are_user_errors(tmp_path):
    videos = _fake_videos(tmp_path / "v")
    result = CliRunner().invoke(app, ["detect", "--video-dir", str(videos), "--save-dir", str(tmp_path / "o"),
                                      "--model", "yolo"])
    assert result.exit_code == 2 and "unknown detector model" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["detect", "--video-dir", str(empty), "--save-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no AIST-named videos" in result.output
    result = CliRunner().invoke(app, ["detect", "--video-dir", str(videos), "--save-dir", str(tmp_path / "o"),
                                      "--sequence-names", "gBR_sBM_cAll_d04_mBR0_ch01"])
    assert result.exit_code == 2 and "no video of sequence" in result.output


# ---- aistpp demo --from-video ---------------------------------------------------------------------
@pytest.mark.slow
@needs_mediapipe
def test_demo_from_video_reports_the_detection_error(tmp_path, no_network):
    from aistpp.pipeline.demo import DemoConfig, run_demo

    # 60 frames: calibrate from BlazePose points is rough (4-7 deg) and on 30 frames may fail its checks
    summary = run_demo(DemoConfig(out=tmp_path / "demo", sequences=1, frames=60, from_video=True, workers=1))
    steps = {s["step"]: s for s in summary["steps"]}
    assert "preprocess" not in steps and "detect" in steps
    err = steps["detect"]["numbers"]
    assert err["detected_pct"] >= 95 and err["median_px"] <= 8.0, err
    seq = next(iter(summary["compare"]["sequences"]))
    kp = formats.load_keypoints2d(tmp_path / "demo" / "rebuilt" / "keypoints2d" / f"{seq}.pkl")
    assert kp["joint_set"] == "blazepose33"
    # the rest of the pipeline ran on the detections: 3D error of a real detector, not of synth's noise model
    assert 0.5 < steps["triangulate"]["numbers"]["keypoints3d_cm"] < 10.0
    # the vis step: two videos (SMPL joints, mesh), every annotation frame, the camera's size
    assert list(steps)[-1] == "vis" and len(summary["videos"]) == 2
    rig = formats.load_cameras(tmp_path / "demo" / "data" / "annotations" / "cameras" / "setting1.json")
    # the first view, on the rebuilt rig's common clock: its video frame i + offset shows instant i
    rebuilt = json.loads((tmp_path / "demo" / "rebuilt" / "cameras" / "setting1.json").read_text())
    offset = int(round(rebuilt[0].get("frame_offset", 0)))
    for path in summary["videos"]:
        info = probe(path)
        assert (info.frames, info.width, info.height) == (60 - max(offset, 0), *map(int, rig.sizes[0]))


def test_demo_from_video_needs_videos(tmp_path):
    from aistpp.errors import AistppError
    from aistpp.pipeline.demo import DemoConfig, run_demo

    with pytest.raises(AistppError, match="needs the videos"):
        run_demo(DemoConfig(out=tmp_path / "d", from_video=True, videos=False))


# ---- several people: the dancer chosen over time and across views (core.people, as preprocess) ----
class SeveralPeople:
    """A fake backend: per view (one ``reset`` per video) and frame, the people listed in ``people``
    (V, N, P, 17, 3) with ``scores`` (V, N, P) (NaN: nobody in that slot)."""

    joint_set, joint_names = "coco17", COCO17

    def __init__(self, people, scores):
        self.people, self.scores, self.view, self.frame = people, scores, -1, 0

    def reset(self):
        self.view, self.frame = self.view + 1, 0

    def detect(self, frame):
        from aistpp.core.detectors import People

        here = np.isfinite(self.scores[self.view, self.frame])
        out = People(self.people[self.view, self.frame][here].astype(np.float32),
                     self.scores[self.view, self.frame][here].astype(np.float32))
        self.frame += 1
        return out

    def close(self):
        pass


def _blank_videos(videos, seq: str, rig, N: int):
    """Tiny black videos of ``N`` frames, one per view of ``rig`` (the fake backends ignore pixels)."""
    from aistpp.core.video import VideoWriter

    videos.mkdir()
    for name in rig.names:
        with VideoWriter(videos / f"{seq.replace('cAll', name)}.mp4", fps=60, size=(64, 48)) as w:
            for _ in range(N):
                w.write(np.zeros((48, 64, 3), np.uint8))
    return videos


def _two_people_world(tmp_path, N=24, views=4):
    """A dancer seen in every view and a passer-by seen in view 0 only (every frame, scoring higher)
    and in view 1 for frames 8-11 (scoring higher), both projected through a synthetic rig; tiny
    videos (the fake backend ignores pixels) and an annotation folder with cameras + mapping."""
    from aistpp.pipeline.synth import make_rig

    rng = np.random.default_rng(3)
    rig = make_rig(0, rng, num_views=views)
    seq = "gWA_sFM_cAll_d27_mWA2_ch21"
    t = np.arange(N)[:, None]
    body = rng.uniform([-20, 0, -10], [20, 170, 10], (17, 3))  # a 1.7 m tall cloud of joints, cm
    dancer = body + np.concatenate([30 * np.sin(t / 7), 0 * t, 20 * np.cos(t / 9)], 1)[:, None]
    passer = body + np.array([160.0, 0.0, 120.0]) + np.concatenate([-3 * t, 0 * t, 0 * t], 1)[:, None]
    P = np.zeros((views, N, 2, 17, 3))
    S = np.full((views, N, 2), np.nan)
    P[:, :, 0, :, :2], P[:, :, 0, :, 2], S[:, :, 0] = rig.project(dancer), 0.8, 0.7
    P[:, :, 1, :, :2], P[:, :, 1, :, 2] = rig.project(passer), 0.95
    S[0, :, 1] = 0.9
    S[1, 8:12, 1] = 0.9
    P[0] = P[0, :, ::-1]  # view 0 lists the passer-by first: slot order means nothing
    S[0] = S[0, :, ::-1]
    videos = _blank_videos(tmp_path / "videos", seq, rig, N)
    anno = tmp_path / "anno"
    formats.save_cameras(anno / "cameras" / "setting1.json", rig)
    formats.write_mapping(anno / "cameras" / "mapping.txt", {seq: "setting1"})
    return seq, rig, videos, anno, P, S, rig.project(dancer)


@pytest.mark.parametrize("cameras", [True, False])
def test_detect_chooses_the_dancer_over_time_and_across_views(tmp_path, monkeypatch, cameras):
    import aistpp.core.detectors as detectors

    seq, rig, videos, anno, P, S, truth = _two_people_world(tmp_path)
    monkeypatch.setattr(detectors, "load_detector", lambda *a, **k: SeveralPeople(P, S))
    save = (anno if cameras else tmp_path / "elsewhere") / "keypoints2d"
    report = run_detect(DetectConfig(video_dir=videos, save_dir=save, executor="serial", quiet=True))
    assert not report.failed, report.failed[0].error
    kp = formats.load_keypoints2d(save / f"{seq}.pkl")["keypoints2d"]
    best = np.nanargmax(np.nan_to_num(S, nan=-1), axis=-1)  # the best-scored person is not the dancer here:
    assert (best[0] == 0).all() and (best[1, 8:12] == 1).all()  # the passer-by (view 0 lists it first)
    on_dancer = np.all(np.abs(kp[..., :2] - truth) < 1e-3, axis=(-1, -2))  # (V, N)
    assert on_dancer[1:].all()  # over time: a passer-by for 4 frames costs two jumps and is not taken
    if cameras:  # across views: the one the other views see is the dancer, though view 0 scores it lower
        assert on_dancer[0].all()
        assert report.items[0].info["agreement"] >= len(S[0])
    else:  # one view alone cannot tell: it keeps the consistently higher-scored track
        assert not on_dancer[0].any()


def test_detect_compares_a_late_view_at_the_instant_it_shows(tmp_path, monkeypatch):
    """View 0 runs 12 frames late (its camera's frame_offsets entry): its frame n shows instant
    n - 12. It sees the dancer and, scored higher, a second person on the dancer's path 12 frames
    ahead, i.e. where the other views see the dancer at their frame n. Compared frame for frame,
    the views would agree on that person; compared at the instant each frame shows, on the dancer."""
    import shutil

    import aistpp.core.detectors as detectors
    from aistpp.pipeline.synth import make_rig

    from tests.conftest import save_setting

    N, views, late = 40, 4, 12
    rng = np.random.default_rng(5)
    rig = make_rig(0, rng, num_views=views)
    seq = "gWA_sFM_cAll_d27_mWA2_ch21"
    body = rng.uniform([-20, 0, -10], [20, 170, 10], (17, 3))

    def dancer(t):  # (len(t), 17, 3) cm: crossing the stage at 8 cm a frame
        t = np.asarray(t, float)[:, None, None]
        return body + np.concatenate([-150 + 8 * t, 0 * t, 10 * np.sin(t / 5)], -1)

    n = np.arange(N)
    P = np.zeros((views, N, 2, 17, 3))
    S = np.full((views, N, 2), np.nan)
    P[1:, :, 0, :, :2], S[1:, :, 0] = rig.project(dancer(n))[1:], 0.8
    P[0, :, 0, :, :2], S[0, :, 0] = rig.project(dancer(n - late))[0], 0.7  # the instant view 0 shows
    P[0, :, 1, :, :2], S[0, :, 1] = rig.project(dancer(n))[0], 0.9  # someone 12 frames ahead on the path
    P[..., 2] = 0.9
    videos = _blank_videos(tmp_path / "videos", seq, rig, N)
    truth = rig.project(dancer(n - late))[0]
    on_dancer = {}
    for synced in (False, True):
        anno = save_setting(tmp_path / f"anno_{synced}", rig, seq, {0: late} if synced else None)
        monkeypatch.setattr(detectors, "load_detector", lambda *a, **k: SeveralPeople(P, S))
        report = run_detect(DetectConfig(video_dir=videos, save_dir=anno / "keypoints2d", executor="serial",
                                         quiet=True))
        assert not report.failed, report.failed[0].error
        kp = formats.load_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl")["keypoints2d"]
        on_dancer[synced] = np.all(np.abs(kp[0, :, :, :2] - truth) < 1e-3, axis=(-1, -2))  # (N,)
        shutil.rmtree(anno / "keypoints2d")
    assert on_dancer[True][late:].all()  # every frame that shows an instant the other views saw
    assert not on_dancer[False][late:].any()  # frame for frame: the wrong person, all along


# ---- the reference for detect's accuracy: synthetic detections with a real detector's errors -------
_released_slice = real_data.keypoints_and_projections  # (tests/data, see NOTICE)


def test_released_detections_err_far_more_than_two_pixels_and_unsure_points_most():
    from aistpp.pipeline.synth.detector_errors import LEVELS, measure_errors

    kp, proj = _released_slice()
    prof = measure_errors(kp, proj)
    med = prof.distance[:, :, np.searchsorted(LEVELS, 0.5)]  # (17, 2) over the person's size
    size = np.nanmedian(np.linalg.norm(np.nanmax(proj, 2) - np.nanmin(proj, 2), axis=-1))  # ~460 px
    assert np.all(med[:, 0] * size > 2.0), med[:, 0] * size  # every joint: more than 2 px i.i.d. would give
    assert np.all(med < 0.06)  # and not absurd: a few % of the person's size
    assert (med[:, 1] > med[:, 0]).sum() >= 13  # the unsure class errs more (the score means something)
    assert np.all((prof.confident_share > 0.4) & (prof.confident_share < 0.99))


def test_realistic_detections_draw_the_profile_they_are_given():
    """A hand-made profile (independent of any measurement) -> detections -> measured back."""
    from aistpp.pipeline.synth import make_rig
    from aistpp.pipeline.synth.detector_errors import LEVELS, ErrorProfile, measure_errors, realistic_detections

    rng = np.random.default_rng(8)
    rig = make_rig(0, rng, num_views=6)
    N = 1000
    body = rng.uniform([-20, 0, -10], [20, 170, 10], (17, 3))
    gt = body + np.stack([40 * np.sin(np.arange(N) / 20), np.zeros(N), 30 * np.cos(np.arange(N) / 25)], 1)[:, None]
    share = np.linspace(0.5, 0.9, 17)
    dist = np.stack([np.outer(np.linspace(0.005, 0.02, 17), LEVELS * 2),  # uniform on [0, 2 m] x size
                     np.outer(np.linspace(0.02, 0.06, 17), LEVELS * 2)], axis=1)
    score = np.stack([np.broadcast_to(0.5 + 0.5 * LEVELS, (17, len(LEVELS))),
                      np.broadcast_to(0.5 * LEVELS, (17, len(LEVELS)))], axis=1)
    given = ErrorProfile(share, dist, score)
    det = realistic_detections(rig, gt, rng, given, outlier_rate=0.0, missing_frame_rate=0.0)
    back = measure_errors(det["keypoints2d"], det["clean"])
    assert np.allclose(back.confident_share, share, atol=0.03)
    half = np.searchsorted(LEVELS, 0.5)
    assert np.allclose(back.distance[:, :, half], dist[:, :, half], rtol=0.12)
    assert np.abs(back.score[:, :, half] - score[:, :, half]).max() < 0.04, back.score[:, :, half] - score[:, :, half]
    unsure = det["unsure"] & np.isfinite(det["keypoints2d"][..., 0])
    score_of = det["keypoints2d"][..., 2]
    assert np.all(score_of[unsure] < 0.5) and np.all(score_of[~unsure & np.isfinite(score_of)] >= 0.5)


# ---- the renderer's face: features finer than the mesh, on the head, hidden from behind ----------
def test_face_decals_sit_on_the_landmarks_and_are_hidden_from_behind(tmp_path):
    from scipy.spatial.transform import Rotation

    from aistpp.core.body import load_smpl, smpl_forward
    from aistpp.core.cameras import CameraRig
    from aistpp.core.body_models import SMPL
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model
    from aistpp.pipeline.synth.face import face_decals
    from aistpp.core.render import outward_faces
    from aistpp.pipeline.synth.video import body_colours, render_body

    write_body_model(tmp_path / "SMPL_NEUTRAL.pkl", make_body_model("neutral"))
    model = load_smpl(tmp_path)
    v, w = model.v_template.numpy(), model.lbs_weights.numpy()
    faces = outward_faces(v, model.faces.astype(np.int64))
    colours = body_colours(v, w, np.random.default_rng(0))
    skin, hair = np.array([150.0, 180.0, 220.0]), np.array([30.0, 40.0, 60.0])
    decals = face_decals(v, faces, w, skin, hair, np.random.default_rng(1))
    pose = np.zeros((1, SMPL.pose_size))
    pose[0, 3 * SMPL.index("head") + 1] = 0.3  # the head turned: decals must follow the posed mesh
    joints, verts = smpl_forward(model, pose, np.zeros((1, 3)), 100.0, vertices=True)
    lm = {n: joints[0, SMPL.output_names.index(n)] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")}
    head = joints[0, SMPL.index("head")].astype(np.float64)
    forward = (lm["nose"] - head) * np.array([1, 0, 1])
    forward /= np.linalg.norm(forward)

    def look(direction):  # a camera 1.5 m from the head along ``direction``, looking at it
        c = head + 150.0 * direction
        z = (head - c) / np.linalg.norm(head - c)
        x = np.cross([0.0, -1.0, 0.0], z)
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        K = np.array([[[1500.0, 0, 320], [0, 1500, 240], [0, 0, 1]]])
        return CameraRig(names=("c01",), sizes=np.array([[640, 480]]), K=K,
                         dist=np.zeros((1, 5)), rvec=Rotation.from_matrix(R).as_rotvec()[None], tvec=(-R @ c)[None])

    def draw(cam, with_decals):
        return render_body(np.full((480, 640, 3), 128, np.uint8), cam, verts[0], faces, colours,
                           decals if with_decals else None).astype(int)

    front = look(forward)
    plain, dressed = draw(front, False), draw(front, True)
    for eye in ("left_eye", "right_eye"):
        x, y = np.round(front.project(lm[eye][None])[0, 0]).astype(int)
        patch = dressed[y - 1:y + 2, x - 1:x + 2]
        assert patch.sum(-1).min() < 150, patch  # a dark pupil at the landmark (the skin there is light)
        assert np.abs(plain[y - 1:y + 2, x - 1:x + 2] - patch).sum() > 0
    x, y = np.round(front.project(lm["nose"][None])[0, 0]).astype(int)
    assert np.array_equal(dressed[y, x], plain[y, x])  # nothing painted on the nose tip
    back = look(-forward)
    changed = np.argwhere((draw(back, True) != draw(back, False)).any(-1))[:, ::-1]  # (n, 2) x, y
    ears = back.project(np.stack([lm["left_ear"], lm["right_ear"]]))[0]
    near_ear = np.linalg.norm(changed[:, None] - ears[None], axis=-1).min(axis=1) < 45  # 4.5 cm at 10 px / cm
    assert near_ear.all()  # from behind the head hides the face: only the ears' rims show


@pytest.mark.parametrize("gender", ["neutral", "female"])
def test_face_keypoints_are_the_features_the_renderer_draws(tmp_path, gender):
    """The ground truth of each face keypoint is the feature drawn there, on any head pose:
    the nose the tip of the drawn nose (the head's frontmost point), each ear the outermost point
    of the head at its height and the centre of the drawn ear, each eye the centre of the drawn
    pupil (measured in rendered images, independently of where the decals were placed)."""
    from scipy.spatial.transform import Rotation

    from aistpp.core.body import load_smpl, smpl_forward
    from aistpp.core.body_models import SMPL
    from aistpp.core.cameras import CameraRig
    from aistpp.core.render import outward_faces
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model
    from aistpp.pipeline.synth.face import face_decals
    from aistpp.pipeline.synth.video import body_colours, render_body

    write_body_model(SMPL.model_path(tmp_path, gender), make_body_model(gender))
    model = load_smpl(tmp_path, gender)
    v, w = model.v_template.numpy().astype(np.float64), model.lbs_weights.numpy()
    faces = outward_faces(v, model.faces.astype(np.int64))
    rng = np.random.default_rng(5)
    colours = body_colours(v, w, rng)
    decals = face_decals(v, faces, w, np.array([150.0, 180.0, 220.0]), np.array([30.0, 40.0, 60.0]), rng)
    lm = {m.name: m.vertex for m in SMPL.landmarks}
    head = w.argmax(axis=1) == SMPL.index("head")
    # the template (facing +z, left +x): the nose tip is the frontmost point of the head, each ear the outermost
    assert v[lm["nose"], 2] >= v[head, 2].max() - 0.002
    for side, s in (("left_ear", 1.0), ("right_ear", -1.0)):
        band = head & (np.abs(v[:, 1] - v[lm[side], 1]) < 0.015)
        assert s * v[lm[side], 0] >= (s * v[band, 0]).max() - 0.002, side
    cm_px = 20.0  # the test cameras see 20 px per cm at the head
    K = np.array([[[100.0 * cm_px, 0, 320], [0, 100.0 * cm_px, 240], [0, 0, 1]]])

    def look(centre, direction):  # a camera 1 m from ``centre`` along ``direction``, looking at it
        c = centre + 100.0 * direction
        z = -direction / np.linalg.norm(direction)
        x = np.cross([0.0, -1.0, 0.0], z)
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        return CameraRig(names=("c01",), sizes=np.array([[640, 480]]), K=K, dist=np.zeros((1, 5)),
                         rvec=Rotation.from_matrix(R).as_rotvec()[None], tvec=(-R @ c)[None])

    for trial in range(3):
        pose = np.zeros((1, SMPL.pose_size))
        pose[0, 3 * SMPL.index("left_shoulder") + 2] = -1.2  # arms down, out of the side cameras' way
        pose[0, 3 * SMPL.index("right_shoulder") + 2] = 1.2
        for joint, spread in (("neck", 0.25), ("head", 0.3)):
            pose[0, 3 * SMPL.index(joint):3 * SMPL.index(joint) + 3] = rng.uniform(-spread, spread, 3)
        joints, verts = smpl_forward(model, pose, np.zeros((1, 3)), 100.0, vertices=True)
        point = {n: joints[0, SMPL.output_names.index(n)].astype(np.float64) for n in lm}
        # the posed head's frame from its rigidly moving vertices: lateral (+left) and forward
        R_head = Rotation.align_vectors(verts[0, head] - verts[0, head].mean(0), 100 * (v[head] - v[head].mean(0)))[0]
        lateral, forward = R_head.apply([1.0, 0.0, 0.0]), R_head.apply([0.0, 0.0, 1.0])

        def drawn(cam):  # pixels (n, 2) x, y the decals change
            plain = render_body(np.full((480, 640, 3), 128, np.uint8), cam, verts[0], faces, colours)
            dressed = render_body(np.full((480, 640, 3), 128, np.uint8), cam, verts[0], faces, colours, decals)
            return np.argwhere((plain != dressed).any(-1))[:, ::-1].astype(np.float64), dressed.astype(int)

        for side, s in (("left_ear", 1.0), ("right_ear", -1.0)):
            cam = look(point[side], s * lateral)
            where, _ = drawn(cam)
            truth = cam.project(point[side][None])[0, 0]
            ear = where[np.linalg.norm(where - truth, axis=1) < 4.0 * cm_px]  # the ear decal (3 x 5 cm)
            assert len(ear) > 0.5 * np.pi * 1.5 * 2.6 * cm_px**2, (trial, side, len(ear))  # most of it is seen
            assert np.linalg.norm(ear.mean(0) - truth) < 0.3 * cm_px, (trial, side, ear.mean(0), truth)
        eyes = (point["left_eye"] + point["right_eye"]) / 2
        cam = look(eyes, forward)
        _, image = drawn(cam)
        for side in ("left_eye", "right_eye"):
            truth = cam.project(point[side][None])[0, 0]
            x, y = np.round(truth).astype(int)
            c = int(cm_px)
            dark = image[y - c:y + c + 1, x - c:x + c + 1].sum(-1) < 150  # the pupil (and the lid line above it)
            assert dark[c, c], (trial, side)
            left = c - np.flatnonzero(~dark[c, :c + 1])[-1]  # from the truth to the pupil's rim, each way
            right, below = np.flatnonzero(~dark[c, c:])[0], np.flatnonzero(~dark[c:, c])[0]  # (the lid joins above)
            assert abs(left - right) <= 0.1 * cm_px + 1, (trial, side, left, right)  # 0.28 cm: the pupil's radius
            assert abs(left + right - 0.56 * cm_px) < 0.15 * cm_px + 1, (trial, side, left, right)
            assert abs(below - 0.28 * cm_px) < 0.1 * cm_px + 1, (trial, side, below)
        nose = cam.project(point["nose"][None])[0, 0]
        tip = cam.world_to_camera(verts[0, head])[0, :, 2].argmin()  # the head's vertex nearest the front camera
        assert np.linalg.norm(cam.project(verts[0, head][tip][None])[0, 0] - nose) < 0.3 * cm_px, trial
