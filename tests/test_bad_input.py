"""Bad input, per command: exit code 2, one line on stderr naming the file and what is wrong,
no traceback, and nothing in the save folder written or changed (an earlier result there is
kept even with --overwrite).

Every case starts from a fresh copy of a small synthetic dataset (1 sequence x 24 frames,
9 views with videos), breaks one thing, and runs the real command line.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aistpp.cli import app


@dataclass
class Env:
    root: Path
    anno: Path
    videos: Path
    smpl: Path
    detections: Path
    save: Path
    seq: str
    video: str
    sentinel: Path

    def kp2d(self) -> Path:
        return self.anno / "keypoints2d" / f"{self.seq}.pkl"

    def kp3d(self) -> Path:
        return self.anno / "keypoints3d" / f"{self.seq}.pkl"

    def motion(self) -> Path:
        return self.anno / "motions" / f"{self.seq}.pkl"

    def cameras(self) -> Path:
        return self.anno / "cameras" / "setting1.json"

    def load(self, path: Path) -> dict:
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 - our own test fixture, written by synth

    def dump(self, path: Path, obj) -> None:
        path.write_bytes(pickle.dumps(obj))

    def own_smpl(self) -> Path:
        """A private SMPL folder (a copy of the neutral model) that a case may break."""
        folder = self.root / "smpl_copy"
        folder.mkdir(exist_ok=True)
        shutil.copy(self.smpl / "SMPL_NEUTRAL.pkl", folder / "SMPL_NEUTRAL.pkl")
        return folder


class Hostile:
    """Unpickling this runs a shell command (the classic ``__reduce__`` attack)."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (os.system, (f"touch {self.sentinel}",))


# ---- the commands, with the folders of an Env ------------------------------------------------
def triangulate(e: Env, *extra: str) -> list[str]:
    return ["triangulate", "--anno-dir", str(e.anno), "--save-dir", str(e.save), "--executor", "serial",
            "--overwrite", "--quiet", *extra]


def fit_smpl(e: Env, smpl: Path | None = None) -> list[str]:
    return ["fit-smpl", "--anno-dir", str(e.anno), "--smpl-dir", str(smpl or e.smpl), "--save-dir", str(e.save),
            "--device", "cpu", "--executor", "serial", "--overwrite", "--quiet"]


def vis(e: Env, mode: str = "2d", smpl: Path | None = None) -> list[str]:
    return ["vis", "--anno-dir", str(e.anno), "--video-dir", str(e.videos), "--smpl-dir", str(smpl or e.smpl),
            "--save-dir", str(e.save), "--video-name", e.video, "--mode", mode, "--overwrite", "--quiet"]


def preprocess(e: Env, detections: Path | None = None) -> list[str]:
    return ["preprocess", "--keypoints-dir", str(detections or e.detections), "--anno-dir", str(e.anno),
            "--save-dir", str(e.save), "--executor", "serial", "--overwrite", "--quiet"]


def calibrate(e: Env, *extra: str) -> list[str]:
    return ["calibrate", "--anno-dir", str(e.anno), "--save-dir", str(e.save), "--executor", "serial",
            "--overwrite", "--quiet", *extra]


# ---- the cases: (id, break-and-build-args, text the error line must contain) ------------------
def _kp2d(e: Env, change) -> None:
    data = e.load(e.kp2d())
    change(data)
    e.dump(e.kp2d(), data)


def _camera_json(e: Env, change) -> None:
    items = json.loads(e.cameras().read_text())
    change(items)
    e.cameras().write_text(json.dumps(items))


def _video(e: Env, fps: int | None) -> None:
    """Replace c01's video by one at ``fps`` with 30 frames, or (None) by one with no frame."""
    import av

    path = e.videos / f"{e.video}.mp4"
    path.unlink()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps or 60)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(30 if fps else 0):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


CASES = [
    # triangulate: the keypoints2d file, the cameras, mapping.txt, names
    ("tri-missing-anno", lambda e: triangulate(e)[:2] + [str(e.root / "nowhere")] + triangulate(e)[3:], "nowhere"),
    ("tri-empty-file", lambda e: (e.kp2d().write_bytes(b""), triangulate(e))[1], "keypoints2d"),
    ("tri-truncated", lambda e: (e.kp2d().write_bytes(e.kp2d().read_bytes()[:500]), triangulate(e))[1], "keypoints2d"),
    ("tri-not-pickle", lambda e: (e.kp2d().write_text("x,y\n1,2\n"), triangulate(e))[1], "keypoints2d"),
    ("tri-wrong-keys", lambda e: (e.dump(e.kp2d(), {"points": np.zeros((9, 2, 17, 3))}), triangulate(e))[1],
     "keypoints2d"),
    ("tri-wrong-shape", lambda e: (_kp2d(e, lambda d: d.update(keypoints2d=d["keypoints2d"][0])), triangulate(e))[1],
     "keypoints2d"),
    ("tri-wrong-dtype", lambda e: (_kp2d(e, lambda d: d.update(keypoints2d=d["keypoints2d"].astype(str))),
                                   triangulate(e))[1], "keypoints2d"),
    ("tri-all-nan", lambda e: (_kp2d(e, lambda d: d["keypoints2d"].fill(np.nan)), triangulate(e))[1], "keypoints2d"),
    ("tri-inf", lambda e: (_kp2d(e, lambda d: d["keypoints2d"].__setitem__((0, 0, 0, 0), np.inf)), triangulate(e))[1],
     "keypoints2d"),
    ("tri-8-views", lambda e: (_kp2d(e, lambda d: d.update(keypoints2d=d["keypoints2d"][:8],
                                                           det_scores=d["det_scores"][:8])), triangulate(e))[1],
     "8 views"),
    ("tri-not-in-mapping", lambda e: ((e.anno / "cameras" / "mapping.txt").write_text("gBR_sBM_cAll_d04_mBR0_ch01 setting1\n"),
                                      triangulate(e, "--sequence-names", e.seq))[1], "mapping.txt"),
    ("tri-camera-missing-key", lambda e: (_camera_json(e, lambda c: c[0].pop("rotation")), triangulate(e))[1],
     "setting1.json"),
    ("tri-camera-strings", lambda e: (_camera_json(e, lambda c: c[0].update(translation=["1", "2", "3"])),
                                      triangulate(e))[1], "setting1.json"),
    ("tri-camera-singular", lambda e: (_camera_json(e, lambda c: c[0].update(matrix=[[0, 0, 0], [0, 0, 0], [0, 0, 1]])),
                                       triangulate(e))[1], "setting1.json"),
    ("tri-camera-not-json", lambda e: (e.cameras().write_text("{not json"), triangulate(e))[1], "setting1.json"),
    ("tri-hostile-pickle", lambda e: (e.dump(e.kp2d(), {"keypoints2d": Hostile(e.sentinel)}), triangulate(e))[1],
     "keypoints2d"),
    ("tri-name-escapes", lambda e: triangulate(e, "--sequence-names", "../../x"), "../../x"),
    ("vis-name-escapes", lambda e: [a if a != e.video else "../../gLH_sFM_c01_d23_mLH5_ch02" for a in vis(e)],
     "../../"),
    ("pre-name-escapes", lambda e: preprocess(e) + ["--sequence-names", "a/../../b"], "a/../../b"),
    # fit-smpl: its keypoints3d input and the SMPL model file
    ("fit-all-nan", lambda e: (e.dump(e.kp3d(), {"keypoints3d": np.full((24, 17, 3), np.nan, np.float32)}),
                               fit_smpl(e))[1], "keypoints3d"),
    ("fit-wrong-kind", lambda e: (shutil.copy(e.motion(), e.kp3d()), fit_smpl(e))[1], "keypoints3d"),
    ("fit-smpl-wrong-format", lambda e: fit_smpl(e, _bad_smpl(e, lambda p: shutil.copy(e.kp3d(), p))), "SMPL_NEUTRAL"),
    ("fit-smpl-not-pickle", lambda e: fit_smpl(e, _bad_smpl(e, lambda p: p.write_text("not a model"))), "SMPL_NEUTRAL"),
    ("fit-smpl-hostile", lambda e: fit_smpl(e, _bad_smpl(e, lambda p: e.dump(p, {"v_template": Hostile(e.sentinel)}))),
     "SMPL_NEUTRAL"),
    # vis: videos, motions, SMPL
    ("vis-unreadable-video", lambda e: ((e.videos / f"{e.video}.mp4").write_bytes(os.urandom(4096)), vis(e))[1],
     ".mp4"),
    ("vis-zero-frames", lambda e: (_video(e, None), vis(e))[1], ".mp4"),
    ("vis-30fps", lambda e: (_video(e, 30), vis(e))[1], "30 fps"),
    ("vis-missing-video", lambda e: ((e.videos / f"{e.video}.mp4").unlink(), vis(e))[1], ".mp4"),
    ("vis-motion-wrong-kind", lambda e: (shutil.copy(e.kp3d(), e.motion()), vis(e, "smpl"))[1], "motions"),
    ("vis-smpl-missing", lambda e: vis(e, "mesh", e.root / "no_smpl"), "SMPL_NEUTRAL"),
    ("vis-smpl-hostile", lambda e: vis(e, "smpl", _bad_smpl(e, lambda p: e.dump(p, Hostile(e.sentinel)))),
     "SMPL_NEUTRAL"),
    # preprocess, calibrate: their input folders
    ("pre-missing-folder", lambda e: preprocess(e, e.root / "no_detections"), "no_detections"),
    ("pre-empty-folder", lambda e: ((e.root / "empty").mkdir(), preprocess(e, e.root / "empty"))[1], "empty"),
    ("cal-no-mapping", lambda e: ((e.anno / "cameras" / "mapping.txt").unlink(), calibrate(e))[1], "mapping.txt"),
    ("cal-init-not-json", lambda e: ((e.root / "init.json").write_text("[{"),
                                     calibrate(e, "--init-cameras", str(e.root / "init.json")))[1], "init.json"),
    ("cal-hostile-keypoints", lambda e: (e.dump(e.kp2d(), Hostile(e.sentinel)), calibrate(e))[1], "keypoints2d"),
    # info: the annotation folder itself
    ("info-missing", lambda e: ["info", "--anno-dir", str(e.root / "nothing")], "nothing"),
    ("info-name-escapes", lambda e: ((e.anno / "cameras" / "mapping.txt").write_text("../../etc/x setting1\n"),
                                     ["info", "--anno-dir", str(e.anno)])[1], "../../etc/x"),
]


# ---- issue 16: medium items, validation and messages ----------------------------------------
def export(e: Env, *extra: str) -> list[str]:
    return ["export", "--anno-dir", str(e.anno), "--smpl-dir", str(e.smpl), "--save-dir", str(e.save),
            "--executor", "serial", "--overwrite", "--quiet", *extra]


def features(e: Env) -> list[str]:
    return ["features", "--anno-dir", str(e.anno), "--smpl-dir", str(e.smpl), "--save-dir", str(e.save),
            "--executor", "serial", "--overwrite", "--quiet"]


def info(e: Env, *extra: str) -> list[str]:
    return ["info", "--anno-dir", str(e.anno), *extra]


def _motion(e: Env, change) -> None:
    data = e.load(e.motion())
    change(data)
    e.dump(e.motion(), data)


def _camera_text(e: Env, text: str) -> None:
    e.cameras().write_text(text)


def _huge_int_camera(e: Env) -> None:
    items = json.loads(e.cameras().read_text())
    items[0]["size"] = [12345, 1080]
    e.cameras().write_text(json.dumps(items).replace("12345", "9" * 5000, 1))


def _toml(e: Env, text: str) -> Path:
    path = e.root / "options.toml"
    path.write_text(text)
    return path


def _link_save(e: Env) -> list[str]:
    link = e.root / "linked_save"
    link.symlink_to(e.save, target_is_directory=True)
    return [a if a != str(e.save) else str(link) for a in triangulate(e)]


def _swap(args: list[str], option: str, value: str) -> list[str]:
    i = args.index(option)
    return args[:i + 1] + [value] + args[i + 2:]


CASES += [
    ("tri-camera-nested-100k", lambda e: (_camera_text(e, "[" * 100_000 + "]" * 100_000), triangulate(e))[1],
     "setting1.json"),
    ("tri-camera-5000-digit-int", lambda e: (_huge_int_camera(e), triangulate(e))[1], "setting1.json"),
    ("exp-scaling-string", lambda e: (_motion(e, lambda d: d.update(smpl_scaling="1.0")), export(e))[1], "smpl_scaling"),
    ("exp-loss-string", lambda e: (_motion(e, lambda d: d.update(smpl_loss="low")), export(e))[1], "smpl_loss"),
    ("exp-betas-string", lambda e: (_motion(e, lambda d: d.update(smpl_betas="0 0 0")), export(e))[1], "smpl_betas"),
    ("exp-zero-frames", lambda e: (_motion(e, lambda d: d.update(smpl_poses=d["smpl_poses"][:0],
                                                                  smpl_trans=d["smpl_trans"][:0])), export(e))[1],
     "no frames"),
    ("feat-zero-frames", lambda e: (_motion(e, lambda d: d.update(smpl_poses=d["smpl_poses"][:0],
                                                                   smpl_trans=d["smpl_trans"][:0])), features(e))[1],
     "no frames"),
    ("vis-camera-0x0", lambda e: (_camera_json(e, lambda c: [x.update(size=[0, 0]) for x in c]), vis(e))[1],
     "image size must be positive"),
    ("tri-name-300-chars", lambda e: triangulate(e, "--sequence-names", "g" * 300), "too long"),
    ("tri-empty-selection", lambda e: triangulate(e, "--sequence-names", ""), "selects nothing"),
    ("tri-empty-split", lambda e: triangulate(e, "--split", ""), "--split is empty"),
    ("tri-blank-names", lambda e: triangulate(e, "--sequence-names", " , "), "selects nothing"),
    ("fit-save-dir-is-a-file", lambda e: ((e.root / "afile").write_text("x"),
                                          _swap(fit_smpl(e), "--save-dir", str(e.root / "afile")))[1], "afile"),
    ("fit-config-is-a-folder", lambda e: fit_smpl(e) + ["--config", str(e.root)], "is a folder"),
    ("fit-toml-iterations-0", lambda e: fit_smpl(e) + ["--config", str(_toml(e, "iterations = 0\n"))],
     "iterations"),
    ("fit-toml-robust-0", lambda e: fit_smpl(e) + ["--config", str(_toml(e, "[fit-smpl]\nweights = {robust_cm = 0}\n"))],
     "robust"),
    ("tri-keypoints-1e30", lambda e: (_kp2d(e, lambda d: d["keypoints2d"].__setitem__(
        (Ellipsis, slice(0, 2)), d["keypoints2d"][..., :2] * 1e30)), triangulate(e))[1], "far outside"),
    ("exp-poses-1e30", lambda e: (_motion(e, lambda d: d.update(smpl_poses=d["smpl_poses"] * 1e30)), export(e))[1],
     "smpl_poses"),
    ("tri-camera-focal-1e300", lambda e: (_camera_json(e, lambda c: c[0]["matrix"][0].__setitem__(0, 1e300)),
                                          triangulate(e))[1], "focal length"),
    ("tri-camera-negative-size", lambda e: (_camera_json(e, lambda c: c[1].update(size=[-1920, 1080])),
                                            triangulate(e))[1], "image size"),
    ("tri-mapping-bad-setting", lambda e: ((e.anno / "cameras" / "mapping.txt").write_text(f"{e.seq} ../x\n"),
                                           triangulate(e))[1], "mapping.txt"),
    ("tri-save-dir-symlink", _link_save, "symbolic link"),
    ("tri-timestamps-1e300", lambda e: (_kp2d(e, lambda d: d.update(timestamps=np.full(len(d["timestamps"]), 1e300))),
                                        triangulate(e))[1], "timestamps"),
    ("tri-workers-5000", lambda e: triangulate(e, "--workers", "5000", "--executor", "processes"), "workers"),
    ("tri-save-dir-is-a-file", lambda e: ((e.root / "afile").write_text("x"),
                                          _swap(triangulate(e), "--save-dir", str(e.root / "afile")))[1], "afile"),
]


def _bad_smpl(e: Env, write) -> Path:
    folder = e.own_smpl()
    (folder / "SMPL_NEUTRAL.pkl").unlink()
    write(folder / "SMPL_NEUTRAL.pkl")
    return folder


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def env(synth_data_videos, tmp_path) -> Env:
    d = synth_data_videos
    anno, videos = tmp_path / "anno", tmp_path / "videos"
    shutil.copytree(d.anno_dir, anno)
    shutil.copytree(d.video_dir, videos)
    seq = d.sequences[0]
    e = Env(tmp_path, anno, videos, d.smpl_dir, d.detections_dir, tmp_path / "save", seq,
            seq.replace("_cAll_", "_c01_"), tmp_path / "HACKED")
    # earlier results in the save folder, which a failed run must leave exactly as they were
    e.save.mkdir()
    (e.save / "notes.txt").write_text("mine")
    for name in (f"{seq}.pkl", f"{e.video}.mp4", "setting1.json"):
        (e.save / name).write_bytes(b"an earlier result")
    return e


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, env):
    _, build, expected = case
    args = build(env)
    before = _snapshot(env.save)
    res = CliRunner().invoke(app, args)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.exit_code == 2, (res.exit_code, res.stdout, res.stderr, repr(res.exception))
    assert len(lines) == 1, res.stderr
    assert expected in lines[0], lines[0]
    assert "Traceback" not in res.stdout + res.stderr
    assert _snapshot(env.save) == before
    assert not env.sentinel.exists(), "a hostile pickle ran code"


def test_info_reports_broken_cameras_and_motions_per_sequence(env):
    """info --quality lists a sequence's problem (naming the file) instead of a traceback."""
    _motion(env, lambda d: d.update(smpl_scaling="abc"))
    res = CliRunner().invoke(app, info(env, "--quality", "--smpl-dir", str(env.smpl)))
    out = " ".join(res.stdout.replace("│", " ").split())
    assert res.exit_code == 0 and "Traceback" not in res.stdout + res.stderr, res.stdout
    assert "is not a number" in out, out
    good = env.cameras().read_text()
    _camera_text(env, "[" * 100_000 + "]" * 100_000)
    res = CliRunner().invoke(app, info(env, "--quality"))
    out = " ".join(res.stdout.replace("│", " ").split())
    assert res.exit_code == 0 and "nested more than" in out, out
    _camera_text(env, good)
    _huge_int_camera(env)
    res = CliRunner().invoke(app, info(env, "--quality"))
    assert res.exit_code == 0 and "digits" in " ".join(res.stdout.replace("│", " ").split()), res.stdout


def test_names_refuse_line_breaks_and_empty_selections(env):
    """Item 11: ``$`` let 'name\\n' through; an explicitly empty selection is an error."""
    from aistpp.core.dataset import AISTDataset
    from aistpp.core.names import check_name
    from aistpp.errors import AistppError

    for bad in (env.seq + "\n", "", " ", "a\nb"):
        with pytest.raises(AistppError):
            check_name(bad)
    with pytest.raises(AistppError, match="selects nothing"):
        AISTDataset(env.anno).select(names=[])
    assert AISTDataset(env.anno).select(names=[env.seq]) == [env.seq]


def test_a_badly_named_file_does_not_stop_the_batch(env):
    """Item 15: a stray file in keypoints2d/ is skipped with a warning naming the folder."""
    shutil.copy(env.kp2d(), env.anno / "keypoints2d" / "copy of it (1).pkl")
    res = CliRunner().invoke(app, triangulate(env))
    assert res.exit_code == 0, res.output
    assert "keypoints2d" in res.stderr and "copy of it (1)" in res.stderr, res.stderr
    assert (env.save / f"{env.seq}.pkl").read_bytes() != b"an earlier result"


def test_a_long_name_says_so(env):
    """Item 15: a 241-character name is refused as too long, not 'is its folder read-only?'."""
    res = CliRunner().invoke(app, triangulate(env, "--sequence-names", "gBR_sBM_cAll_d04_mBR0_" + "c" * 219))
    assert res.exit_code == 2 and "too long" in res.stderr and "read-only" not in res.stderr, res.stderr


def test_a_diverged_fit_is_not_written(env, monkeypatch):
    """Item 9: a fit that comes out NaN never replaces an earlier motion."""
    import aistpp.pipeline.fit_smpl as fs

    real = fs.fit_smpl

    def nan_fit(fast, targets, weights, fit_betas, iterations, **kwargs):
        res = real(fast, targets, weights, fit_betas, 2, **kwargs)
        res["smpl_poses"] = res["smpl_poses"] * np.nan
        return res

    monkeypatch.setattr(fs, "fit_smpl", nan_fit)
    before = _snapshot(env.save)
    res = CliRunner().invoke(app, fit_smpl(env))
    assert res.exit_code == 2 and "diverged" in res.stderr, res.output
    assert _snapshot(env.save) == before


def test_the_range_checks_accept_every_released_camera_setting():
    """Item 9's bounds are not tuned on synthetic rigs: all 13 released settings pass them
    (and a released rig with one camera's focal scaled by 1e3 does not)."""
    from aistpp.core import formats
    from aistpp.errors import AistppError

    files = sorted((Path(__file__).parent / "data" / "aist_real" / "cameras").glob("setting*.json"))
    assert len(files) == 13
    for path in files:
        rig = formats.load_cameras(path)
        assert len(rig) == 9 and (rig.sizes == [1920, 1080]).all()
    items = json.loads(files[0].read_text())
    items[3]["matrix"][0][0] *= 1e3
    with pytest.raises(AistppError, match="focal length"):
        formats.check_camera_ranges(formats.CameraRig.from_json_list(items), files[0])


def _cli_bounds():
    """(command, option, CLI min, CLI max, config model) for every bounded option of every command."""
    import importlib
    import inspect
    import re
    import typing

    out = []
    for f in sorted((Path(__file__).parents[1] / "src" / "aistpp" / "commands").glob("*.py")):
        src = f.read_text()
        found = re.findall(r"build_config\((\w+),", src)
        mod = importlib.import_module(f"aistpp.commands.{f.stem}")
        if f.stem.startswith("_") or not found or not hasattr(mod, "command"):
            continue
        model = None
        for modname, names in re.findall(r"from (aistpp\.[\w.]+) import ([^\n]+)", src):
            if found[0] in re.split(r"[ ,()]+", names):
                model = getattr(importlib.import_module(modname), found[0])
        assert model is not None, (f.stem, found)
        for name, p in inspect.signature(mod.command).parameters.items():
            if typing.get_origin(p.annotation) is typing.Annotated:
                for meta in typing.get_args(p.annotation)[1:]:
                    lo, hi = getattr(meta, "min", None), getattr(meta, "max", None)
                    if lo is not None or hi is not None:
                        out.append((f.stem, name, lo, hi, model))
    return out


def test_toml_values_meet_the_command_lines_bounds():
    """Item 10, for every command: each bound a CLI option declares (min/max) is also enforced
    on the same value coming from a --config TOML file (one validation for both paths)."""
    from pydantic import ValidationError

    bounds = _cli_bounds()
    assert len(bounds) >= 10
    for command, name, lo, hi, model in bounds:
        field = model.model_fields.get(name)
        assert field is not None, f"{command}: --{name} is not a field of {model.__name__}"
        for bad in ([lo - 1 if isinstance(lo, int) else lo - 1e-3] if lo is not None else []) + (
                [hi + 1] if hi is not None else []):
            with pytest.raises(ValidationError):
                model.__pydantic_validator__.validate_assignment(model.model_construct(), name, bad)


@pytest.mark.parametrize("key, value, expected", [
    ("view_names", ["c01"] * 3, "view_names"), ("view_names", [f"../c{i}" for i in range(9)], "view name"),
    ("image_sizes", np.zeros((9, 2)), "image_sizes"), ("image_sizes", "1920x1080", "image_sizes"),
    ("joint_set", 17, "joint_set"), ("keypoints2d_full", np.zeros((9, 2, 25, 3)), "keypoints2d_full"),
])
def test_the_keypoints2d_extra_keys_are_checked(env, key, value, expected):
    """The shared convention's optional keys (view_names, image_sizes, joint_set,
    keypoints2d_full), when a file has them, are validated like the released keys."""
    from aistpp.core import formats
    from aistpp.errors import AistppError

    _kp2d(env, lambda d: d.update({key: value}))
    with pytest.raises(AistppError, match=expected):
        formats.load_keypoints2d(env.kp2d())
    good = {"view_names": [f"cam{i}" for i in range(9)], "image_sizes": np.full((9, 2), 480),
            "joint_set": "coco17"}
    _kp2d(env, lambda d: (d.pop(key, None), d.update(good)))
    data = formats.load_keypoints2d(env.kp2d())
    assert data["view_names"][3] == "cam3" and data["image_sizes"].dtype == np.int64
