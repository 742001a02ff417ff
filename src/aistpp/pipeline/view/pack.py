"""Arrays packed for the page: quantised, deflated, base64 (decoded by ``static/viewer.js``).

A packed array is ``{"dtype": "i2", "shape": [...], "b64": ...}``: little-endian values,
zlib-deflated (the page inflates them with the browser's ``DecompressionStream``), base64.
Quantised arrays carry how to read them back: ``value = origin + step * q``.

Meshes are packed by ``aistpp.pipeline.view.mesh``.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

MISSING_I2 = -32768  # int16 code of NaN (missing joint)
NO_VALUE_U1 = 255  # uint8 code of "no value" in joint colours


def pack(array: np.ndarray) -> dict:
    """Any int8/uint8/int16/uint16/uint32/float32 array -> ``{"dtype", "shape", "b64"}``."""
    a = np.ascontiguousarray(array)
    kinds = {np.dtype("int8"): "i1", np.dtype("uint8"): "u1", np.dtype("int16"): "i2", np.dtype("uint16"): "u2",
             np.dtype("uint32"): "u4", np.dtype("float32"): "f4"}
    if a.dtype not in kinds:
        raise TypeError(f"cannot pack {a.dtype}")
    raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    return {"dtype": kinds[a.dtype], "shape": list(a.shape), "b64": base64.b64encode(zlib.compress(raw, 9)).decode()}


def unpack(packed: dict) -> np.ndarray:
    """Inverse of ``pack`` (what the page does), for tests and the benchmark."""
    dtype = np.dtype("<" + packed["dtype"])
    raw = zlib.decompress(base64.b64decode(packed["b64"]))
    return np.frombuffer(raw, dtype).reshape(packed["shape"])


def quantise(values: np.ndarray, step: float | None = None, axis_origin: bool = True) -> dict:
    """Float array (..., C) -> int16 codes with ``origin`` (C,) and one ``step``; NaN -> MISSING_I2.

    The default step spans the finite values' range in 65,000 codes (AIST++ positions of a few
    metres: ~0.01 cm); ``read_quantised`` inverts it to within step / 2.
    """
    v = np.asarray(values, np.float64)
    ok = np.isfinite(v)
    flat = v.reshape(-1, v.shape[-1])
    fin = np.isfinite(flat).all(1)
    if axis_origin and fin.any():
        lo, hi = flat[fin].min(0), flat[fin].max(0)
        origin = (lo + hi) / 2
        half = float(np.max(hi - lo)) / 2
    else:
        origin, half = np.zeros(v.shape[-1]), float(np.nanmax(np.abs(v))) if ok.any() else 1.0
    if step is None:
        step = max(half / 32500.0, 1e-6)
    q = np.round((v - origin) / step)
    if np.any(np.abs(q[ok]) > 32767):
        raise ValueError("values out of range for this step")
    codes = np.where(ok, q, MISSING_I2).astype(np.int16)
    return {"origin": [float(o) for o in origin], "step": float(step), "codes": pack(codes)}


def read_quantised(q: dict) -> np.ndarray:
    """Inverse of ``quantise``: float64 array with NaN where the code is MISSING_I2."""
    codes = unpack(q["codes"])
    out = np.asarray(q["origin"]) + q["step"] * codes.astype(np.float64)
    return np.where(codes == MISSING_I2, np.nan, out)


def quantise_unit(values: np.ndarray, vmax: float) -> dict:
    """Values (...) in [0, vmax] -> uint8 codes 0..254 (255 = NaN / no value)."""
    v = np.asarray(values, np.float64)
    codes = np.where(np.isfinite(v), np.round(np.clip(v / vmax, 0, 1) * 254), NO_VALUE_U1).astype(np.uint8)
    return {"max": float(vmax), "codes": pack(codes)}




def rotation_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) as (x, y, z, w), w >= 0 (three.js order)."""
    from scipy.spatial.transform import Rotation

    R = np.asarray(R, np.float64)
    q = Rotation.from_matrix(R.reshape(-1, 3, 3)).as_quat()
    q *= np.where(q[:, 3:] < 0, -1, 1)
    return q.reshape(*R.shape[:-2], 4)


def quaternion_to_rotation(q: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) (x, y, z, w), any norm -> rotation matrices (..., 3, 3)."""
    from scipy.spatial.transform import Rotation

    q = np.asarray(q, np.float64)
    return Rotation.from_quat(q.reshape(-1, 4)).as_matrix().reshape(*q.shape[:-1], 3, 3)
