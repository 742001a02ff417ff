"""Geometric ("manual") features of the AIST++ API (``extract_manual_features``), vectorised.

Input: the 24 SMPL joints (N, 24, 3) in metres at SMPL scale, +y up. Each of the 32 features
is a boolean relation evaluated at frames t = 1 .. N-1 (velocities from frame t-1 to t); the
feature is the fraction of those frames in which it holds. Thresholds are multiples of
three lengths of the SMPL template: the humerus (left shoulder to elbow) ``HL``, the
shoulder width ``SW`` and the hip width ``HW``. Velocities use the reference's frame time
of 1/120 s (not the data's 1/60: a fact of the reference, kept so numbers compare).

The relations, with p the joint tested (positions at frame t unless "prev"):
  plane(a, b, c, p, h):  (p - a) . n / |n| > h, n = (c - a) x (b - a)
  nplane(n1, n2, a, p, h): (p - a) . (n2 - n1) / |n2 - n1| > h
  angle(a, b, c, d, (lo, hi)): lo < angle between b - a and d - c (degrees) < hi
  move(a, b, p, q, h):  the velocity of p relative to a, along (b - a) / |b - a|, > h
  nmove(a, b, c, p, h): the velocity of p relative to a, along the unit normal
                        (c - a) x (b - a), > h
(move's 4th joint q is unused by the reference; it stays in the name, which spells the definition)
  fast(p, h): |p_t - p_(t-1)| / frame time > h
Pseudo joints: ``zero`` (0, 0, 0), ``y_unit`` (0, 1, 0), ``minus_y_unit`` (0, -1, 0),
``y_min`` (0, the lowest joint's y at frame t, 0). A relation whose angle or normal is
undefined (zero length, arccos outside [-1, 1]) is false, as in the reference.
"""

from __future__ import annotations

import numpy as np

# the reference's short names for the 24 SMPL joints, in SMPL order
SHORT = ("root", "lhip", "rhip", "belly", "lknee", "rknee", "spine", "lankle", "rankle", "chest", "ltoes",
         "rtoes", "neck", "linshoulder", "rinshoulder", "head", "lshoulder", "rshoulder", "lelbow", "relbow",
         "lwrist", "rwrist", "lhand", "rhand")
_IDX = {n: i for i, n in enumerate(SHORT)}

# SMPL template joints the reference measures its thresholds on (m)
_L_SHOULDER = np.array([1.99113488e-01, 2.36807942e-01, -1.80702247e-02])
_L_ELBOW = np.array([4.54445392e-01, 2.21158922e-01, -4.10167128e-02])
_R_SHOULDER = np.array([-1.91692337e-01, 2.36928746e-01, -1.23055102e-02])
_L_HIP = np.array([5.64076714e-02, -3.23069185e-01, 1.09197125e-02])
_R_HIP = np.array([-6.24834076e-02, -3.31302464e-01, 1.50412619e-02])
HL = float(np.linalg.norm(_L_SHOULDER - _L_ELBOW))
SW = float(np.linalg.norm(_L_SHOULDER - _R_SHOULDER))
HW = float(np.linalg.norm(_L_HIP - _R_HIP))
FRAME_TIME = 1 / 120

# (relation, joints, threshold in m/s or m, or an angle range in degrees), in the reference's order;
# a feature's name is its definition, e.g. "nplane(lhip,rhip,lankle,rankle)"
GEOMETRIC_SPEC = (
    ("nmove", ("neck", "rhip", "lhip", "rwrist"), 1.8 * HL),
    ("nmove", ("neck", "lhip", "rhip", "lwrist"), 1.8 * HL),
    ("nplane", ("chest", "neck", "neck", "rwrist"), 0.2 * HL),
    ("nplane", ("chest", "neck", "neck", "lwrist"), 0.2 * HL),
    ("move", ("belly", "chest", "chest", "rwrist"), 1.8 * HL),
    ("move", ("belly", "chest", "chest", "lwrist"), 1.8 * HL),
    ("angle", ("relbow", "rshoulder", "relbow", "rwrist"), (0, 110)),
    ("angle", ("lelbow", "lshoulder", "lelbow", "lwrist"), (0, 110)),
    ("nplane", ("lshoulder", "rshoulder", "lwrist", "rwrist"), 2.5 * SW),
    ("move", ("lwrist", "rwrist", "rwrist", "lwrist"), 1.4 * HL),
    ("move", ("rwrist", "root", "lwrist", "root"), 1.4 * HL),
    ("move", ("lwrist", "root", "rwrist", "root"), 1.4 * HL),
    ("fast", ("rwrist",), 2.5 * HL),
    ("fast", ("lwrist",), 2.5 * HL),
    ("plane", ("root", "lhip", "ltoes", "rankle"), 0.38 * HL),
    ("plane", ("root", "rhip", "rtoes", "lankle"), 0.38 * HL),
    ("nplane", ("zero", "y_unit", "y_min", "rankle"), 1.2 * HL),
    ("nplane", ("zero", "y_unit", "y_min", "lankle"), 1.2 * HL),
    ("nplane", ("lhip", "rhip", "lankle", "rankle"), 2.1 * HW),
    ("angle", ("rknee", "rhip", "rknee", "rankle"), (0, 110)),
    ("angle", ("lknee", "lhip", "lknee", "lankle"), (0, 110)),
    ("fast", ("rankle",), 2.5 * HL),
    ("fast", ("lankle",), 2.5 * HL),
    ("angle", ("neck", "root", "rshoulder", "relbow"), (25, 180)),
    ("angle", ("neck", "root", "lshoulder", "lelbow"), (25, 180)),
    ("angle", ("neck", "root", "rhip", "rknee"), (50, 180)),
    ("angle", ("neck", "root", "lhip", "lknee"), (50, 180)),
    ("plane", ("rankle", "neck", "lankle", "root"), 0.5 * HL),
    ("angle", ("neck", "root", "zero", "y_unit"), (70, 110)),
    ("nplane", ("zero", "minus_y_unit", "y_min", "rwrist"), -1.2 * HL),
    ("nplane", ("zero", "minus_y_unit", "y_min", "lwrist"), -1.2 * HL),
    ("fast", ("root",), 2.3 * HL),
)
GEOMETRIC = tuple(f"{kind}({','.join(names)})" for kind, names, _ in GEOMETRIC_SPEC)


def _unit_dot(v: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(..., 3) . direction / |direction|, NaN where the direction is zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (v * direction).sum(-1) / np.linalg.norm(direction, axis=-1)


def geometric_terms(joints: np.ndarray) -> np.ndarray:
    """(N, 24, 3) metres -> (N-1, 32) bool: each relation at frames 1 .. N-1."""
    P = np.asarray(joints, np.float64)
    if P.ndim != 3 or P.shape[1:] != (24, 3) or len(P) < 2:
        raise ValueError(f"joints must be (N >= 2, 24, 3), got {P.shape}")
    cur, prev = P[1:], P[:-1]
    m = len(cur)
    const = {"zero": (0.0, 0.0, 0.0), "y_unit": (0.0, 1.0, 0.0), "minus_y_unit": (0.0, -1.0, 0.0)}

    def now(name: str) -> np.ndarray:  # (m, 3)
        if name in const:
            return np.broadcast_to(np.array(const[name]), (m, 3))
        if name == "y_min":
            out = np.zeros((m, 3))
            out[:, 1] = cur[:, :, 1].min(1)
            return out
        return cur[:, _IDX[name]]

    def before(name: str) -> np.ndarray:
        return prev[:, _IDX[name]]

    out = np.zeros((m, len(GEOMETRIC_SPEC)), bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for col, (kind, names, th) in enumerate(GEOMETRIC_SPEC):
            if kind == "plane":
                a, b, c, p = map(now, names)
                value = _unit_dot(p - a, np.cross(c - a, b - a))
            elif kind == "nplane":
                n1, n2, a, p = map(now, names)
                value = _unit_dot(p - a, n2 - n1)
            elif kind == "angle":
                a, b, c, d = map(now, names)
                u, w = b - a, d - c
                cos = (u * w).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1))
                angle = np.degrees(np.arccos(cos))
                out[:, col] = (angle > th[0]) & (angle < th[1])
                continue
            elif kind == "move":
                a, b, p, _ = names  # the reference ignores the 4th joint of move
                rel = (now(p) - now(a)) - (before(p) - before(a))
                value = _unit_dot(rel, now(b) - now(a)) / FRAME_TIME
            elif kind == "nmove":
                a, b, c, p = names
                rel = (now(p) - now(a)) - (before(p) - before(a))
                value = _unit_dot(rel, np.cross(now(c) - now(a), now(b) - now(a))) / FRAME_TIME
            else:  # fast
                (p,) = names
                value = np.linalg.norm(now(p) - before(p), axis=-1) / FRAME_TIME
            out[:, col] = value > th
    return out


def geometric_features(joints: np.ndarray) -> np.ndarray:
    """(N, 24, 3) metres -> (32,) float64: the fraction of frames 1 .. N-1 each relation holds."""
    return geometric_terms(joints).mean(0, dtype=np.float64)
