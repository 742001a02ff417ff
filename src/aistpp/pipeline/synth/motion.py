"""Plausible, varied dance-like SMPL motion: smooth, within joint limits, near the origin.

A sequence is a chain of "moves" (about 1.5-3 s each) blended with smooth weights. A move
gives every joint axis a rest offset and a beat-synchronous swing whose range stays inside
that axis' limits, so every blend of moves stays inside them too. The root turns (including
occasional spins), sways and wanders around the origin; with a body model the feet are put
on the floor (y = 0) in every frame, plus the occasional hop.

Axes follow SMPL's rest frame: the body faces +z, +y is up, the body's left is +x.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from aistpp.core.body_models import SMPL, BodyModel

FPS = 60


def _dof_table(bm: BodyModel = SMPL) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Joint (D,), axis (D,), low (D,), high (D,), partner (D,) (on the left side, the index of
    the mirrored DOF, else -1): the body model's ``motion_range``."""
    rows = [(bm.index(name), a, lo, hi) for (name, a), (lo, hi) in bm.motion_range.items()]
    table = np.array(rows)
    joint, axis = table[:, 0].astype(int), table[:, 1].astype(int)
    partner = np.full(len(rows), -1)
    for i, (j, a) in enumerate(zip(joint, axis)):
        if bm.sides[j] == 1:
            partner[i] = np.flatnonzero((joint == bm.mirror[j]) & (axis == a))[0]
    return joint, axis, table[:, 2], table[:, 3], partner


def joint_limits(bm: BodyModel = SMPL) -> np.ndarray:
    """Per-axis limits of body-pose rotations: (J, 3, 2) radians (low, high); 0 where fixed.

    Row 0 (the global orientation) is unbounded (+-inf).
    """
    joint, axis, lo, hi, _ = _dof_table(bm)
    lim = np.zeros((bm.num_joints, 3, 2))
    lim[joint, axis, 0] = lo
    lim[joint, axis, 1] = hi
    lim[0] = [-np.inf, np.inf]
    return lim


def _blend_weights(t: np.ndarray, centers: np.ndarray, width: float) -> np.ndarray:
    """Smooth partition of unity: (N, K) normalised Gaussian bumps around ``centers`` (s)."""
    w = np.exp(-0.5 * ((t[:, None] - centers[None, :]) / width) ** 2) + 1e-12
    return w / w.sum(axis=1, keepdims=True)


def _body_pose(t: np.ndarray, beat_hz: float, centers: np.ndarray, width: float, rng,
               bm: BodyModel = SMPL) -> np.ndarray:
    """Body joint rotations (N, J, 3) axis-angle (row 0 left zero)."""
    joint, axis, lo, hi, partner = _dof_table(bm)
    K, D = len(centers), len(joint)
    # Each move: offset inside [lo, hi]; swing amplitude fits between offset and both limits.
    offset = lo + (hi - lo) * rng.uniform(0.2, 0.8, (K, D))
    room = np.minimum(offset - lo, hi - offset)
    # Swings on half notes, whole beats (smaller) or bars; a few axes hold still per move.
    mult = rng.choice([0.25, 0.5, 0.5, 1.0], (K, D))
    amp = room * rng.uniform(0.3, 1.0, (K, D)) * (rng.random((K, D)) < 0.85) * np.where(mult > 0.5, 0.5, 1.0)
    phase = rng.uniform(0, 2 * np.pi, (K, D))
    # Limbs move as pairs: mostly in anti-phase (stepping, arm swings), sometimes in unison.
    left = np.flatnonzero(partner > np.arange(D))
    right = partner[left]
    anti = rng.random((K, len(left))) < 0.65
    mult[:, right] = mult[:, left]
    phase[:, right] = phase[:, left] + np.pi * anti + rng.normal(0, 0.2, (K, len(left)))
    t_ = t[:, None, None]
    values = offset + amp * np.sin(2 * np.pi * beat_hz * mult * t_ + phase)  # (N, K, D)
    w = _blend_weights(t, centers, width)
    dof = np.einsum("nk,nkd->nd", w, values)
    pose = np.zeros((len(t), bm.num_joints, 3))
    pose[:, joint, axis] = dof
    return pose


def _root(t: np.ndarray, beat_hz: float, centers: np.ndarray, width: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Global orientation (N, 3) axis-angle and horizontal root path (N, 2) cm (x, z)."""
    K = len(centers)
    dt = np.diff(t, prepend=t[0])
    w = _blend_weights(t, centers, width)
    # Turning rate per move (rad/s): mostly slow turns, sometimes a spin.
    rate = rng.uniform(-0.8, 0.8, K)
    spins = rng.random(K) < 0.2
    rate[spins] = rng.choice([-1, 1], spins.sum()) * rng.uniform(2.5, 4.5, spins.sum())
    yaw = rng.uniform(-np.pi, np.pi) + np.cumsum((w @ rate) * dt)
    yaw += (w @ rng.uniform(0, 0.35, K)) * np.sin(2 * np.pi * beat_hz * t / 2 + rng.uniform(0, 2 * np.pi))
    pitch = (w @ rng.uniform(-0.12, 0.2, K)) + 0.06 * np.sin(2 * np.pi * beat_hz * t + rng.uniform(0, 2 * np.pi))
    roll = (w @ rng.uniform(0, 0.1, K)) * np.sin(np.pi * beat_hz * t + rng.uniform(0, 2 * np.pi))
    rot = Rotation.from_euler("YXZ", np.stack([yaw, pitch, roll], axis=1))
    # Wander: a few slow sinusoids per axis, then a beat-synchronous sway.
    freqs = rng.uniform(0.04, 0.25, (2, 3))
    amps = rng.uniform(10, 40, (2, 3))
    phases = rng.uniform(0, 2 * np.pi, (2, 3))
    path = np.einsum("ak,nak->na", amps, np.sin(2 * np.pi * freqs * t[:, None, None] + phases))
    sway = (w @ rng.uniform(0, 8, K))[:, None] * np.stack(
        [np.sin(np.pi * beat_hz * t), np.sin(2 * np.pi * beat_hz * t + 1.0)], axis=1)
    path = path + sway
    path -= path.mean(axis=0)
    return rot.as_rotvec(), path


def make_motion(num_frames: int, rng: np.random.Generator, model=None, fps: float = FPS) -> dict:
    """A dance-like motion in the AIST++ convention, for ``model``'s body model (default SMPL).

    Returns ``smpl_poses`` (N, pose_size) float32 axis-angle (global orientation first),
    ``smpl_trans`` (N, 3) float32 cm and ``smpl_scaling`` (1,) float32 (about 90-100: the
    model is in metres, the world in cm), ``smpl_loss`` 0.0.
    With ``model`` (a ``smplx.SMPL``, see ``aistpp.core.body.load_smpl``) the lowest foot point touches the floor y = 0 in every
    frame except during hops; without it the root height is a nominal 0.93 x scaling.
    """
    if num_frames < 1:
        raise ValueError("num_frames must be >= 1")
    t = np.arange(num_frames) / fps
    duration = num_frames / fps
    beat_hz = rng.uniform(85, 135) / 60.0
    # Move centres every 1.5-3 s, covering the clip and a margin around it.
    steps = rng.uniform(1.5, 3.0, int(duration / 1.5) + 4)
    centers = np.cumsum(steps) - steps[0] - rng.uniform(0, 1.5)
    width = 0.6
    from aistpp.core.body import module_body_model

    bm = SMPL if model is None else module_body_model(model)
    pose = _body_pose(t, beat_hz, centers, width, rng, bm)
    orient, path = _root(t, beat_hz, centers, width, rng)
    pose[:, 0] = orient
    poses = pose.reshape(num_frames, bm.pose_size)
    scaling = rng.uniform(90.0, 100.0)
    trans = np.zeros((num_frames, 3))
    trans[:, [0, 2]] = path
    # Hops: a few moves bounce off the floor on the beat.
    hop = _blend_weights(t, centers, width) @ (rng.uniform(4, 12, len(centers)) * (rng.random(len(centers)) < 0.3))
    lift = hop * np.maximum(0.0, np.sin(2 * np.pi * beat_hz * t)) ** 4
    if model is None:
        trans[:, 1] = 0.93 * scaling + lift
    else:
        from aistpp.core.body import smpl_forward

        joints = smpl_forward(model, poses, np.zeros_like(trans), scaling)  # (N, outputs, 3) cm
        feet = joints[:, [bm.output_names.index(n) for n in bm.floor_points], 1]
        trans[:, 1] = -feet.min(axis=1) + lift
    return {
        "smpl_poses": poses.astype(np.float32),
        "smpl_trans": trans.astype(np.float32),
        "smpl_scaling": np.array([scaling], np.float32),
        "smpl_loss": 0.0,
    }
