"""Cameras in other tools' formats, to and from the dataset's JSON.

Every format here stores the same model (``aistpp.core.camera``): OpenCV pinhole intrinsics ``K``,
distortion with 5, 8, 12 or 14 coefficients (``k1 k2 p1 p2 k3 [k4 k5 k6 [s1 s2 s3 s4 [tx ty]]]``;
other counts are refused), and the world -> camera transform ``X_cam = R X_world + t`` (``R`` as a
Rodrigues vector or a matrix). Only the length unit of ``t`` differs; it is stated per format
and converted explicitly (``units``):

| format | file(s) | t unit (default) | notes |
|---|---|---|---|
| ``aistpp`` | ``<setting>.json`` | cm (fixed) | AIST++: list of {name, size, matrix, distortions, rotation, translation} |
| ``anipose`` | ``*.toml`` | mm | read and written by aniposelib's ``CameraGroup.load``/``dump``: [cam_N] tables + [metadata] |
| ``easymocap`` | folder with ``intri.yml`` + ``extri.yml`` | m | OpenCV FileStorage: names, K_/dist_ (intri), R_/Rot_/T_ (extri) |
| ``opencv`` | ``*.yml`` / ``*.yaml`` / ``*.xml`` | cm | OpenCV FileStorage: ``camera_names``, ``units``, and per camera ``<name>_camera_matrix``, ``_distortion_coefficients``, ``_rotation_vector``, ``_translation_vector``, ``_image_size`` |

The ``opencv`` file records its unit (``units``) and reading honours it. Image sizes are kept
where the format has them; EasyMocap's files have none (``sizes`` must then be given, or the
principal point doubled is used).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from aistpp.core.cameras import CameraRig, rotation_to_rodrigues
from aistpp.errors import AistppError

CameraFormat = Literal["aistpp", "anipose", "easymocap", "opencv"]
UNIT_CM = {"mm": 0.1, "cm": 1.0, "m": 100.0}
DEFAULT_UNITS = {"aistpp": "cm", "anipose": "mm", "easymocap": "m", "opencv": "cm"}


def detect_format(path: Path) -> CameraFormat:
    path = Path(path)
    if path.is_dir() or path.name in ("intri.yml", "extri.yml") or path.suffix == "":
        return "easymocap"
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "aistpp"
    if suffix == ".toml":
        return "anipose"
    if suffix in (".yml", ".yaml", ".xml"):
        return "opencv"
    raise AistppError("cannot tell the camera format from the name (.json, .toml, .yml, or an EasyMocap folder); "
                      "pass --from/--to", path)


def _rig(path: Path, names, sizes, K, dist, rvec, tvec) -> CameraRig:
    """A rig from per-view values; ``dist``: one sequence of 5, 8, 12 or 14 coefficients per view
    (fewer than 5 are padded), any other count is refused naming ``path``."""
    try:
        dist = [np.asarray(d, np.float64).reshape(-1) for d in dist]
        return CameraRig(tuple(names), np.asarray(sizes), np.asarray(K, np.float64).reshape(-1, 3, 3), dist,
                         np.asarray(rvec, np.float64).reshape(-1, 3), np.asarray(tvec, np.float64).reshape(-1, 3))
    except AistppError as exc:
        raise AistppError(str(exc), path) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise AistppError(f"camera values are not numbers of the right shape ({exc})", path) from None


# ---- anipose TOML, read and written by aniposelib itself -----------------------------------------
MAX_TOML_BYTES = 16 << 20  # a camera file is a few KB; refuse anything this large before parsing


def _anipose_order(count: int) -> list[int]:
    """Positions to dump cameras at so that ``CameraGroup.load`` (which sorts the ``cam_<i>`` keys
    as strings: cam_10 before cam_2) returns them in the rig's order: ``dumped[order[j]] = camera j``."""
    return sorted(range(count), key=lambda i: f"cam_{i}")


def write_anipose(path: Path, rig: CameraRig, units: str) -> None:
    """``CameraGroup.dump`` of the rig, translation in ``units``, ``[metadata] units`` recorded."""
    from aniposelib.cameras import Camera, CameraGroup

    from aistpp.core.formats import atomic_path

    k = 1.0 / UNIT_CM[units]
    cams = [Camera(name=str(n), size=[int(s) for s in rig.sizes[v]], matrix=rig.K[v].tolist(), dist=rig.dist[v].tolist(),
                   rvec=rig.rvec[v].tolist(), tvec=(rig.tvec[v] * k).tolist()) for v, n in enumerate(rig.names)]
    dumped = [None] * len(cams)
    for j, i in enumerate(_anipose_order(len(cams))):
        dumped[i] = cams[j]
    with atomic_path(path) as tmp:
        CameraGroup(dumped, metadata={"units": units}).dump(str(tmp))


def read_anipose(path: Path, units: str) -> CameraRig:
    """``CameraGroup.load`` (the cameras in the order aniposelib gives them), translation to cm."""
    import toml
    from aniposelib.cameras import CameraGroup, FisheyeCamera

    if not path.is_file():
        raise AistppError("not a regular file", path)
    if path.stat().st_size > MAX_TOML_BYTES:
        raise AistppError(f"larger than {MAX_TOML_BYTES >> 20} MB: not a camera file", path)
    try:
        group = CameraGroup.load(str(path))
    except (toml.TomlDecodeError, UnicodeDecodeError, IndexError, RecursionError) as exc:
        raise AistppError(f"not valid TOML ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
                          path) from None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AistppError(f"not an anipose camera file ({type(exc).__name__}: {exc})", path) from None
    if not group.cameras:
        raise AistppError("holds no [cam_*] tables", path)
    if any(isinstance(c, FisheyeCamera) for c in group.cameras):
        raise AistppError("fisheye cameras are not supported (OpenCV's pinhole model only)", path)
    meta = group.metadata if isinstance(group.metadata, dict) else {}
    units = str(meta.get("units", units))
    if units not in UNIT_CM:
        raise AistppError(f"unknown length unit {units!r} (mm, cm or m)", path)
    cams = group.cameras
    try:
        tvec = np.asarray([c.get_translation() for c in cams], np.float64) * UNIT_CM[units]
    except ValueError as exc:
        raise AistppError(f"camera translations are not 3 numbers each ({exc})", path) from None
    return _rig(path, [str(c.get_name()) for c in cams], [c.get_size() for c in cams],
                [c.get_camera_matrix() for c in cams], [c.get_distortions() for c in cams],
                [c.get_rotation() for c in cams], tvec)


# ---- OpenCV FileStorage (EasyMocap and plain OpenCV YAML) --------------------------------------
def _storage(path: Path, write: bool):
    import cv2

    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE if write else cv2.FILE_STORAGE_READ)
    if not fs.isOpened():
        raise AistppError("cannot open as an OpenCV FileStorage file", path)
    return fs


def _read_fs(path: Path):
    import cv2

    if not path.is_file():
        raise AistppError("camera file not found", path)
    try:
        return _storage(path, False)
    except cv2.error as exc:
        raise AistppError(f"not a valid OpenCV YAML/XML file ({exc.msg.strip()})", path) from None


def _mat(fs, key: str, path: Path) -> np.ndarray:
    node = fs.getNode(key)
    mat = None if node.empty() else node.mat()
    if mat is None:
        raise AistppError(f"missing or non-matrix entry {key!r}", path)
    return np.asarray(mat, np.float64)


def _names(fs, key: str, path: Path) -> list[str]:
    node = fs.getNode(key)
    if node.empty() or not node.isSeq():
        raise AistppError(f"missing list {key!r} of camera names", path)
    return [node.at(i).string() for i in range(node.size())]


def write_easymocap(folder: Path, rig: CameraRig, units: str) -> None:
    k = 1.0 / UNIT_CM[units]
    folder.mkdir(parents=True, exist_ok=True)
    def intri(fs):
        fs.write("names", list(rig.names))
        for v, n in enumerate(rig.names):
            fs.write(f"K_{n}", rig.K[v])
            fs.write(f"dist_{n}", rig.dist[v][None])

    def extri(fs):
        fs.write("names", list(rig.names))
        for v, n in enumerate(rig.names):
            fs.write(f"R_{n}", rig.rvec[v][:, None])
            fs.write(f"Rot_{n}", rig.R[v])
            fs.write(f"T_{n}", (rig.tvec[v] * k)[:, None])

    _write_fs(folder / "intri.yml", intri)
    _write_fs(folder / "extri.yml", extri)


def _write_fs(path: Path, fill) -> None:
    """Write an OpenCV FileStorage file atomically (its format follows the suffix)."""
    from aistpp.core.formats import atomic_path

    with atomic_path(path) as tmp:
        real = tmp.with_suffix(path.suffix)
        try:
            fs = _storage(real, True)
            fill(fs)
            fs.release()
            real.replace(tmp)
        finally:
            real.unlink(missing_ok=True)


def read_easymocap(folder: Path, units: str, sizes: np.ndarray | None = None) -> CameraRig:
    folder = folder.parent if folder.suffix else folder
    intri, extri = _read_fs(folder / "intri.yml"), _read_fs(folder / "extri.yml")
    names = _names(intri, "names", folder / "intri.yml")
    K = np.stack([_mat(intri, f"K_{n}", folder / "intri.yml") for n in names])
    dist = [_mat(intri, f"dist_{n}", folder / "intri.yml").reshape(-1) for n in names]
    rvec = []
    for n in names:
        node = extri.getNode(f"Rot_{n}")
        rvec.append(rotation_to_rodrigues(_mat(extri, f"Rot_{n}", folder / "extri.yml")) if not node.empty()
                    else _mat(extri, f"R_{n}", folder / "extri.yml").reshape(3))
    tvec = np.stack([_mat(extri, f"T_{n}", folder / "extri.yml").reshape(3) for n in names]) * UNIT_CM[units]
    if sizes is None:
        sizes = np.round(2 * K[:, :2, 2]).astype(int)
    return _rig(folder, names, sizes, K, dist, np.stack(rvec), tvec)


def write_opencv(path: Path, rig: CameraRig, units: str) -> None:
    k = 1.0 / UNIT_CM[units]

    def fill(fs):
        fs.write("camera_names", list(rig.names))
        fs.write("units", units)
        fs.write("convention", "X_cam = R X_world + t; pixels with OpenCV distortion k1 k2 p1 p2 k3 [k4 k5 k6 "
                               "[s1 s2 s3 s4 [tx ty]]]; K[0, 1] is the skew")
        for v, n in enumerate(rig.names):
            fs.write(f"{n}_image_size", np.asarray(rig.sizes[v], np.float64)[None])
            fs.write(f"{n}_camera_matrix", rig.K[v])
            fs.write(f"{n}_distortion_coefficients", rig.dist[v][None])
            fs.write(f"{n}_rotation_vector", rig.rvec[v][:, None])
            fs.write(f"{n}_translation_vector", (rig.tvec[v] * k)[:, None])

    _write_fs(path, fill)


def read_opencv(path: Path, units: str) -> CameraRig:
    fs = _read_fs(path)
    names = _names(fs, "camera_names", path)
    node = fs.getNode("units")
    if not node.empty():
        units = node.string()
    if units not in UNIT_CM:
        raise AistppError(f"unknown length unit {units!r} (mm, cm or m)", path)
    get = lambda n, key: _mat(fs, f"{n}_{key}", path)  # noqa: E731
    return _rig(path, names, np.stack([get(n, "image_size").reshape(2) for n in names]).round().astype(int),
                np.stack([get(n, "camera_matrix") for n in names]),
                [get(n, "distortion_coefficients").reshape(-1) for n in names],
                np.stack([get(n, "rotation_vector").reshape(3) for n in names]),
                np.stack([get(n, "translation_vector").reshape(3) for n in names]) * UNIT_CM[units])


# ---- entry points ---------------------------------------------------------------------------
def read_cameras(path: str | Path, fmt: CameraFormat | None = None, units: str | None = None) -> CameraRig:
    """Cameras from ``path`` in ``fmt`` (detected from the name when None), translation in cm."""
    from aistpp.core.formats import load_cameras

    path = Path(path)
    fmt = fmt or detect_format(path)
    units = units or DEFAULT_UNITS[fmt]
    if fmt == "aistpp":
        return load_cameras(path)
    if not path.exists():
        raise AistppError("camera file not found", path)
    if fmt == "anipose":
        return read_anipose(path, units)
    if fmt == "easymocap":
        return read_easymocap(path, units)
    return read_opencv(path, units)


def write_cameras(path: str | Path, rig: CameraRig, fmt: CameraFormat | None = None, units: str | None = None,
                  overwrite: bool = False) -> None:
    """Write ``rig`` to ``path`` in ``fmt`` (an EasyMocap folder gets intri.yml and extri.yml)."""
    from aistpp.core.formats import save_cameras

    path = Path(path)
    fmt = fmt or detect_format(path)
    units = units or DEFAULT_UNITS[fmt]
    targets = [path / "intri.yml", path / "extri.yml"] if fmt == "easymocap" else [path]
    if not overwrite:
        for t in targets:
            if t.exists():
                raise AistppError("exists (pass --overwrite to replace it)", t)
    if fmt == "aistpp":
        save_cameras(path, rig)
    elif fmt == "anipose":
        write_anipose(path, rig, units)
    elif fmt == "easymocap":
        write_easymocap(path, rig, units)
    else:
        write_opencv(path, rig, units)


__all__ = ["CameraFormat", "DEFAULT_UNITS", "detect_format", "read_cameras", "write_cameras"]
