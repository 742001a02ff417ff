"""``aistpp view``: the HTML page in a real headless Chromium (Debian's chromium + chromedriver,
driven by Selenium; selenium-manager is bypassed: the driver and browser paths are given).

The page must load with no console error and no request, draw something, advance its frame
counter at 60 fps when playing, and draw the skeleton where OpenCV's projection of the 3D
joints through the setting's camera puts it.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import tempfile
import time
import wave
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app
from aistpp.core import formats
from aistpp.core.names import parse_name
from aistpp.pipeline.view.mesh import pack_mesh, unpack_mesh
from aistpp.pipeline.view.pack import quantise, read_quantised, unpack

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # software WebGL (SwiftShader) without a GPU; any request would go to a dead proxy
         "--enable-unsafe-swiftshader", "--proxy-server=127.0.0.1:9", "--window-size=960,640",
         "--autoplay-policy=no-user-gesture-required", "--force-device-scale-factor=1"]
runner = CliRunner()


def _write_page(out: Path, *args: str) -> Path:
    res = runner.invoke(app, ["view", *args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="aistpp-view-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver, page: Path, reuse: bool = False) -> None:
    """Load ``page`` and wait for the viewer (``reuse``: keep it if it is the page shown)."""
    if reuse and driver.current_url == page.as_uri():
        driver.execute_script("aistppViewer.pause(); aistppViewer.orbit(); aistppViewer.setVisible("
                              "{skeleton: true, mesh: true, cameras: true, tracks: []})")
        return
    driver.get_log("browser"), driver.get_log("performance")  # forget earlier pages
    driver.get(page.as_uri())
    deadline = time.time() + 20
    while not driver.execute_script("return !!(window.aistppViewer && window.aistppViewer.ready)"):
        assert time.time() < deadline, driver.execute_script("return document.getElementById('status').textContent")
        time.sleep(0.05)


def _canvas_image(driver) -> np.ndarray:
    png = driver.find_element("id", "canvas").screenshot_as_png
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory) -> Path:
    """synth's neutral body model given pose-corrective blend shapes (synth's own has none, the
    real SMPL has): smooth fields over the body, a few cm at full bend, as SMPL_NEUTRAL.pkl."""
    from aistpp.pipeline.synth.body_model import make_body_model, write_body_model

    data = make_body_model("neutral")
    rng = np.random.default_rng(7)
    v = np.asarray(data["v_template"], np.float64)
    fields = np.stack([np.sin(v @ rng.normal(0, 3, 3) + rng.uniform(0, 6)) for _ in range(207)], -1)  # (V, 207)
    data["posedirs"] = fields[:, None, :] * rng.normal(0, 0.004, (1, 3, 207))
    folder = tmp_path_factory.mktemp("smpl_correctives")
    write_body_model(folder / "SMPL_NEUTRAL.pkl", data)
    return folder


@pytest.fixture(scope="module")
def page(synth_data, smpl_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("view") / "view.html"
    return _write_page(out, "--anno-dir", str(synth_data.anno_dir), "--smpl-dir", str(smpl_dir), "--gender", "neutral")


def test_page_loads_offline_and_plays_at_60_fps(browser, page):
    _open(browser, page)
    assert browser.execute_script("return aistppViewer.frames") == 120
    requests = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"]
    assert urls and all(u == page.as_uri() or u.startswith("data:") for u in urls), urls
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    # the canvas is not blank: many colours, and the dancers' saturated colours among them
    img = _canvas_image(browser)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200
    assert (hsv[..., 1] > 128).sum() > 200
    # playing: the counter advances by the elapsed time at 60 fps (times the speed). The clip is
    # 120 frames (2 s) and loops: a measurement that a loaded machine stretched past 1.5 s, or one
    # taken before the page repainted, says nothing about the clock and is taken again.
    for _attempt in range(5):
        t = browser.execute_script("aistppViewer.setFrame(0); aistppViewer.play(); return performance.now()")
        time.sleep(0.6)
        frame, now, clock, label = browser.execute_script(
            "return [aistppViewer.frame(), performance.now(), aistppViewer.clock(), document.getElementById('frame').textContent]")
        browser.execute_script("aistppViewer.pause()")
        if now - t < 1500 and frame > 10:
            break
    expected = (now - t) / 1000 * 60
    assert abs(clock - expected) <= 1, (clock, expected)  # the clock: frame i at i / 60 s
    assert 10 < frame <= clock, (frame, clock)  # drawn: the clock's frame at the last repaint
    assert label.startswith(f"frame {frame} / 119")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_skeleton_drawn_where_the_camera_projects_it(browser, page, synth_data):
    """Look through camera c03 at frame 37: every joint's pixel (OpenCV's projection of the
    3D joint, pinhole, the camera image fitted into the canvas) shows a saturated skeleton colour;
    the same pixels shifted away from the body show the grey floor or background."""
    _open(browser, page, reuse=True)
    seq, view, n = sorted(synth_data.sequences)[0], "c03", 37  # the first track (sorted names) is at the origin
    browser.execute_script(f"aistppViewer.setVisible({{mesh: false, cameras: false, tracks: [true, false]}});"
                           f"aistppViewer.lookThrough(0, '{view}'); aistppViewer.setFrame({n}); aistppViewer.render();")
    time.sleep(0.2)
    img = _canvas_image(browser)
    H, W = img.shape[:2]
    rig = synth_data.rig
    v = rig.index(view)
    (w, h) = rig.sizes[v]
    px, _ = cv2.projectPoints(synth_data.keypoints3d[seq][n].astype(np.float64), rig.rvec[v], rig.tvec[v], rig.K[v], None)
    s = min(W / w, H / h)
    px = px.reshape(-1, 2) * s + [(W - s * w) / 2, (H - s * h) / 2]
    sat = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[..., 1].astype(int)

    def hit(p, r=3):
        x, y = int(round(p[0])), int(round(p[1]))
        if not (r <= x < W - r and r <= y < H - r):
            return None
        return sat[y - r:y + r + 1, x - r:x + r + 1].max() > 120

    inside = [hit(p) for p in px]
    assert sum(1 for x in inside if x is not None) >= 15
    assert all(x for x in inside if x is not None), inside
    span = px.max(0) - px.min(0)
    away = [hit(p + [span[0] + 40, 0]) for p in px] + [hit(p - [span[0] + 40, 0]) for p in px]
    away = [x for x in away if x is not None]
    assert len(away) >= 10 and sum(away) <= 0.1 * len(away), away


def test_page_mesh_is_smplx_mesh(browser, page, synth_data, smpl_dir):
    """The mesh the page skins (its JavaScript, read back through the hook), pose correctives
    included, against smplx's vertices for the same frame; the floor at the lowest vertex."""
    from aistpp.core.body import load_smpl, smpl_forward

    _open(browser, page, reuse=True)
    seq, n = sorted(synth_data.sequences)[0], 45
    verts = np.asarray(browser.execute_script(f"return aistppViewer.meshVertices(0, {n})")).reshape(-1, 3)
    m = synth_data.motions[seq]
    model = load_smpl(smpl_dir, "neutral")
    _, exact = smpl_forward(model, m["smpl_poses"][n:n + 1], m["smpl_trans"][n:n + 1], m["smpl_scaling"], vertices=True)
    assert np.linalg.norm(verts - exact[0], axis=1).max() < 1.5
    floor = browser.execute_script("return aistppViewer.floorY")
    lowest = min(smpl_forward(model, mm["smpl_poses"], mm["smpl_trans"], mm["smpl_scaling"], vertices=True)[1][..., 1].min()
                 for mm in synth_data.motions.values())
    assert lowest - 0.5 <= floor <= lowest + 2.0, (floor, lowest)


def test_joint_colour_shows_the_reprojection_error(browser, synth_data, tmp_path):
    """The left wrist's detections moved 60 px in every view at one frame: through camera c05
    that joint is drawn red (error >= 20 px), the others green (a few px)."""
    anno = tmp_path / "anno"
    shutil.copytree(synth_data.anno_dir, anno)
    seq, n, wrist = sorted(synth_data.sequences)[0], 70, 9
    kp = dict(synth_data.keypoints2d[seq])
    k2 = np.array(kp["keypoints2d"])
    k2[:, n, wrist, :2] += [60.0, 0.0]
    k2[:, n, wrist, 2] = 1.0
    formats.save_keypoints2d(anno / "keypoints2d" / f"{seq}.pkl", k2, kp["det_scores"], kp["timestamps"])
    page = _write_page(tmp_path / "colour.html", "--anno-dir", str(anno), "--sequence-names", seq)
    _open(browser, page)
    browser.execute_script(f"aistppViewer.setVisible({{cameras: false}}); aistppViewer.lookThrough(0, 'c05');"
                           f"aistppViewer.setFrame({n}); aistppViewer.render();")
    img = _canvas_image(browser)
    H, W = img.shape[:2]
    rig = synth_data.rig
    v = rig.index("c05")
    w, h = rig.sizes[v]
    px, _ = cv2.projectPoints(synth_data.keypoints3d[seq][n].astype(np.float64), rig.rvec[v], rig.tvec[v], rig.K[v], None)
    s = min(W / w, H / h)
    px = px.reshape(-1, 2) * s + [(W - s * w) / 2, (H - s * h) / 2]
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(int)  # OpenCV hue 0-180: red 0, green 60
    green = (hsv[..., 0] >= 35) & (hsv[..., 0] <= 90) & (hsv[..., 1] > 100)
    red = ((hsv[..., 0] < 12) | (hsv[..., 0] > 170)) & (hsv[..., 1] > 100)

    def count(mask, p, r=2):
        x, y = int(round(p[0])), int(round(p[1]))
        return int(mask[y - r:y + r + 1, x - r:x + r + 1].sum())

    # the left wrist: red, no green (its bones are blue); the body's other joints: green
    # (bones are yellow, blue and red; the face joints overlap each other and are left out)
    assert count(red, px[wrist]) >= 3 and count(green, px[wrist]) == 0
    others = [count(green, p) for j, p in enumerate(px) if j > 4 and j != wrist]
    assert all(c >= 3 for c in others), others


def test_compare_dir_shows_the_per_frame_joint_error(browser, synth_data, tmp_path):
    """A copy of the annotations with one sequence's 3D keypoints moved 5 cm: both tracks are
    drawn and the page reports a 5.00 cm joint error on every frame."""
    other = tmp_path / "other"
    shutil.copytree(synth_data.anno_dir, other)
    seq = synth_data.sequences[1]
    kp = synth_data.keypoints3d[seq] + np.array([3.0, 0.0, 4.0], np.float32)
    formats.save_keypoints3d(other / "keypoints3d" / f"{seq}.pkl", kp, kp)
    page = _write_page(tmp_path / "cmp.html", "--anno-dir", str(synth_data.anno_dir), "--compare-dir", str(other),
                       "--sequence-names", seq, "--no-mesh")
    _open(browser, page)
    browser.execute_script("aistppViewer.setFrame(50)")
    text = browser.find_element("id", "error").text
    assert f"{seq}: 5.00 cm (mean 5.00)" in text, text
    legend = browser.find_element("id", "legend").text
    assert legend.count(seq) == 2 and "compare" in legend


def test_music_is_embedded_and_follows_the_frames(browser, synth_data, tmp_path):
    """A 3 s WAV (0.5 s of silence, then a tone) as the sequence's music, the page from frame 30
    on (--start 30). The page carries it as MP3 that the browser decodes to the same timing
    (onset at 0.5 s, 3 s long); playing, the audio is at the time of the frame shown,
    (30 + i) / 60 s, and the counter shows frame 30 + i."""
    seq = synth_data.sequences[0]
    music = tmp_path / "music"
    music.mkdir()
    rate, seconds, lead = 22050, 3.0, 0.5
    t = np.arange(int(rate * seconds)) / rate
    tone = np.where(t >= lead, 0.3 * np.sin(2 * np.pi * 440 * t), 0.0)
    with wave.open(str(music / f"{parse_name(seq).music}.wav"), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(rate), f.writeframes((tone * 32767).astype("<i2").tobytes())
    page = _write_page(tmp_path / "music.html", "--anno-dir", str(synth_data.anno_dir), "--sequence-names", seq,
                       "--music-dir", str(music), "--start", "30")
    _open(browser, page)
    mime, nbytes = browser.execute_script("const m = JSON.parse(document.getElementById('aistpp-data').textContent)"
                                          ".music; return [m.mime, m.b64.length * 3 / 4]")
    assert mime == "audio/mpeg" and nbytes < 0.5 * (music / f"{parse_name(seq).music}.wav").stat().st_size
    onset, duration = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const music = JSON.parse(document.getElementById('aistpp-data').textContent).music;
        const bin = atob(music.b64), bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
        new OfflineAudioContext(1, 44100, 44100).decodeAudioData(bytes.buffer).then((b) => {
          const x = b.getChannelData(0);
          let i = 0; while (i < x.length && Math.abs(x[i]) < 0.05) i++;
          done([i / b.sampleRate, b.duration]);
        });""")
    assert abs(onset - lead) < 0.01 and abs(duration - seconds) < 0.03, (onset, duration)
    browser.execute_script("aistppViewer.setFrame(60); aistppViewer.play()")
    time.sleep(0.5)
    frame, audio_t, paused, label = browser.execute_script(
        "const a = document.getElementById('music');"
        "return [aistppViewer.frame(), a.currentTime, a.paused, document.getElementById('frame').textContent]")
    browser.execute_script("aistppViewer.pause()")
    assert not paused and browser.execute_script("return aistppViewer.frames") == 90
    assert abs(audio_t - (30 + frame) / 60) < 0.12, (audio_t, frame)
    assert label.startswith(f"frame {30 + frame} / 119")


def test_quantised_arrays_and_mesh_against_smplx(synth_data, smpl_dir):
    """Packing round trips within half a step; the page's skinned mesh (numpy replica) stays
    within 1.5 cm of smplx's vertices for a body with pose correctives, which alone move
    vertices by more than 2 cm (so leaving them out would fail)."""
    from aistpp.core.body import load_smpl, smpl_forward

    x = np.random.default_rng(0).normal(0, 200, (50, 17, 3))
    x[3, 4] = np.nan
    q = quantise(x)
    back = read_quantised(q)
    assert np.isnan(back[3, 4]).all() and np.nanmax(np.abs(back - x)) <= q["step"] / 2 + 1e-9
    full = synth_data.motions[synth_data.sequences[0]]
    motion = {k: full[k][:60] for k in ("smpl_poses", "smpl_trans")} | {"smpl_scaling": full["smpl_scaling"]}
    model = load_smpl(smpl_dir, "neutral")
    mesh = pack_mesh(model, motion, check_frames=30)
    frames = np.array([0, 33, 59])
    args = (motion["smpl_poses"][frames], motion["smpl_trans"][frames], motion["smpl_scaling"])
    _, exact = smpl_forward(model, *args, vertices=True)
    _, without = smpl_forward(load_smpl(synth_data.smpl_dir, "neutral"), *args, vertices=True)
    assert np.linalg.norm(exact - without, axis=-1).max() > 2.0
    err = np.linalg.norm(unpack_mesh(mesh, frames) - exact, axis=-1)
    assert mesh["correctives"] > 0 and err.max() < 1.5 and mesh["error_cm"] < 1.5
    assert unpack(mesh["quaternions"]).shape == (60, 24, 4)


def test_bad_input_is_one_line_exit_2(synth_data, tmp_path):
    res = runner.invoke(app, ["view", "--anno-dir", str(synth_data.anno_dir), "--sequence-names", "gBR_sBM_cAll_d01_mBR0_ch01",
                              "--out", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "gBR_sBM_cAll_d01_mBR0_ch01" in res.output
    res = runner.invoke(app, ["view", "--anno-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "x.html")])
    assert res.exit_code == 2 and "not found" in res.output
    res = runner.invoke(app, ["view", "--anno-dir", str(synth_data.anno_dir), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "folder" in res.output
    assert not (tmp_path / "x.html").exists()


def test_reprojection_error_of_shifted_detections(synth_data):
    """Detections = synth's exact projections moved by (3, 4) px, full confidence: 5 px for every
    joint; views below the confidence threshold are left out of the median."""
    from aistpp.pipeline.view.scene import detection_confidence, reprojection_error

    seq = synth_data.sequences[0]
    clean = synth_data.truth[seq]["clean"]  # (V, N, 17, 2)
    det = np.concatenate([clean + [3.0, 4.0], np.ones(clean.shape[:3] + (1,))], -1)
    det[0, :, :, :2] += 100.0  # one view far off, but below the threshold
    det[0, :, :, 2] = 0.1
    err = reprojection_error(synth_data.keypoints3d[seq], det, synth_data.rig, min_confidence=0.15)
    assert np.allclose(err, 5.0, atol=1e-3)
    assert np.allclose(detection_confidence(det), (0.1 + 8) / 9)


def test_motions_only_folder_compared_through_smpl_joints(synth_data, tmp_path):
    """A comparison folder with motions only (generated dances, say): its skeleton is the COCO-17
    points of the SMPL joints, which for synth's motions are its keypoints3d: error ~0 cm."""
    from aistpp.pipeline.view.page import run_view
    from aistpp.pipeline.view.scene import ViewConfig

    other = tmp_path / "generated"
    shutil.copytree(synth_data.anno_dir / "motions", other / "motions")
    seq = sorted(synth_data.sequences)[1]
    res = run_view(ViewConfig(anno_dir=synth_data.anno_dir, compare_dir=other, smpl_dir=synth_data.smpl_dir,
                              gender="neutral", sequence_names=[seq], mesh=False, out=tmp_path / "g.html"))
    assert [t["skeleton"] for t in res["tracks"]] == ["keypoints3d_optim", "smpl joints"]
    assert res["pairs"][0]["mean_joint_error_cm"] < 0.05


def test_compare_dir_in_another_world_frame_is_said_so(synth_data, tmp_path):
    """A comparison folder whose 3D is the same motion in another gauge (turned 25 deg, 1.1x, 1 m
    away: a rebuild against the release): the raw joint error is the gauge's, and the same skeletons
    after one similarity transform agree to float32 rounding; the CLI line says so."""
    from scipy.spatial.transform import Rotation

    from aistpp.pipeline.view.page import run_view
    from aistpp.pipeline.view.scene import ViewConfig

    other = tmp_path / "rebuilt"
    seq = sorted(synth_data.sequences)[0]
    kp = synth_data.keypoints3d[seq].astype(np.float64)
    moved = 1.1 * kp @ Rotation.from_euler("y", 25, degrees=True).as_matrix().T + [100.0, 0.0, 30.0]
    formats.write_mapping(other / "cameras" / "mapping.txt", {seq: "elsewhere"})
    formats.save_keypoints3d(other / "keypoints3d" / f"{seq}.pkl", moved, moved)
    res = run_view(ViewConfig(anno_dir=synth_data.anno_dir, compare_dir=other, sequence_names=[seq], mesh=False,
                              out=tmp_path / "w.html"))
    (pair,) = res["pairs"]
    raw = np.linalg.norm(moved - kp, axis=-1)
    assert abs(pair["mean_joint_error_cm"] - np.nanmean(raw)) < 0.01 and pair["mean_joint_error_cm"] > 50
    assert pair["aligned_joint_error_cm"] < 0.01
    out = CliRunner().invoke(app, ["view", "--anno-dir", str(synth_data.anno_dir), "--compare-dir", str(other),
                                   "--sequence-names", seq, "--no-mesh", "--out", str(tmp_path / "w2.html")])
    assert out.exit_code == 0 and "after one similarity transform" in " ".join(out.output.split()), out.output
