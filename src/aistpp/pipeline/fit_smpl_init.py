"""Closed-form initialisation of a body-model fit (SMPL to COCO-17 by default; numpy, all frames at once).

The fit's layout (``fit_layout``) comes from the body model and the joint set: the joints whose
rotation moves a keypoint (optimised), the torso keypoints, the limb chains.

1. scale: least squares over limb bone lengths (pose-invariant, medians over frames);
2. global orientation: Kabsch of the rest torso (shoulders, hips) onto each frame's torso;
3. translation: from the torso centroids, in the dataset convention
   world = scaling x body + trans (the root rotates about the pelvis joint);
4. limbs: hips/shoulders from a weighted Kabsch of the thigh/upper-arm and the shin/forearm
   (knees and elbows bent as hinges), with a weak pull toward the pelvis' forward axis so a
   straight limb gets no twist.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from aistpp.core.body_models import SMPL, BodyModel


@dataclass(frozen=True)
class FitLayout:
    """What a fit of ``model`` to ``joint_set`` keypoints optimises and how it starts.

    ``opt_joints``: joints whose rotation moves a keypoint (the rest, e.g. SMPL's ankles, feet,
    wrists and hands for COCO-17, move none and stay at zero); ``rots`` = (root,) + opt_joints;
    ``P`` unknowns per frame (root rotation update, translation, 3 per optimised joint) and
    ``cols`` the first column of each rotation of ``rots``; ``observed`` (K,) index of each
    keypoint into the poser's output; ``torso`` keypoint indices; ``limbs``: (root joint, hinge
    joint, end joint, root keypoint, hinge keypoint, end keypoint, hinge axis, sign);
    ``limb_bones`` (B, 2) keypoint pairs both observed by skeleton joints (scale, outliers).
    """

    model: BodyModel
    joint_set: str
    num_keypoints: int
    opt_joints: tuple[int, ...]
    torso: tuple[int, ...]
    limbs: tuple[tuple, ...]
    limb_bones: np.ndarray

    @property
    def rots(self) -> tuple[int, ...]:
        return (0,) + self.opt_joints

    @property
    def P(self) -> int:
        return 6 + 3 * len(self.opt_joints)

    @property
    def cols(self) -> list[int]:
        return [0] + [6 + 3 * k for k in range(len(self.opt_joints))]


@functools.lru_cache(maxsize=16)
def fit_layout(model: BodyModel = SMPL, joint_set: str = "coco17") -> FitLayout:
    """The ``FitLayout`` of ``model`` fitted to ``joint_set`` keypoints."""
    from aistpp.core.joint_sets import REGISTRY

    obs = model.observation(joint_set)
    kp = {name: k for k, name in enumerate(obs) if name}
    joints = set(model.joint_names)
    limbs = tuple((model.index(lb.root), model.index(lb.hinge), model.index(lb.end), kp[lb.root], kp[lb.hinge],
                   kp[lb.end], lb.axis, lb.sign) for lb in model.limbs if {lb.root, lb.hinge, lb.end} <= set(kp))
    bones = np.array([(a, b) for a, b in REGISTRY[joint_set].bones if obs[a] in joints and obs[b] in joints],
                     int).reshape(-1, 2)
    return FitLayout(model, joint_set, len(obs), model.moved_joints(joint_set),
                     tuple(kp[n] for n in model.torso if n in kp), limbs, bones)


def fill_gaps(targets: np.ndarray, times: np.ndarray | None = None) -> np.ndarray:
    """(N, J, 3) cm with NaN -> the same with NaNs filled by linear interpolation in time.

    ``times`` (N,) s, increasing (default: the frame index). A joint missing in every frame
    takes the mean of the other joints of its frame.
    """
    y = np.array(targets, np.float64)
    n = len(y)
    flat = y.reshape(n, -1)
    t = np.arange(n, dtype=np.float64) if times is None else np.asarray(times, np.float64)
    for c in range(flat.shape[1]):  # one 1-D interpolation per coordinate series (51), not per frame
        ok = np.isfinite(flat[:, c])
        if ok.any() and not ok.all():
            flat[:, c] = np.interp(t, t[ok], flat[ok, c])
    y = flat.reshape(y.shape)
    bad = ~np.isfinite(y)
    if bad.any():
        mean = np.nanmean(np.where(bad, np.nan, y), axis=1, keepdims=True)
        y = np.where(bad, np.broadcast_to(mean, y.shape), y)
    return y


def drop_outliers(targets: np.ndarray, bones: np.ndarray, lengths: np.ndarray, median: np.ndarray) -> np.ndarray:
    """NaN out the points whose every bone (of ``bones`` (B, 2)) has a length (N, B) cm more than
    30 % + 3 cm off its median (B,): a glitch would otherwise pull a frame's initial pose (and cost a
    huge acceleration in the fit); the fit itself still sees them, through its robust loss."""
    bad = np.abs(lengths - median) > 0.3 * median + 3.0  # NaN compares False
    ok = np.isfinite(lengths)
    nj = targets.shape[1]
    count_bad, count = np.zeros((len(targets), nj)), np.zeros((len(targets), nj))
    for k, (a, b) in enumerate(bones):
        for j in (a, b):
            count_bad[:, j] += bad[:, k]
            count[:, j] += ok[:, k]
    y = np.array(targets, np.float64)
    y[(count > 0) & (count_bad == count)] = np.nan
    return y


def kabsch(a: np.ndarray, b: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Rotations R (N, 3, 3) minimising sum_k w_k |R a_k - b_k|^2 for a, b (N, K, 3) (not centred)."""
    w = np.ones(a.shape[1]) if w is None else np.asarray(w, np.float64)
    H = np.einsum("k,nki,nkj->nij", w, a, b)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("nji,nkj->nik", Vt, U)))
    D = np.zeros_like(H)
    D[:, 0, 0] = D[:, 1, 1] = 1.0
    D[:, 2, 2] = np.where(d == 0, 1.0, d)
    return np.einsum("nji,njk,nlk->nil", Vt, D, U)


def rotvec(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R.reshape(-1, 3, 3)).as_rotvec().reshape(*R.shape[:-2], 3)


def axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """(N,) rad about x/y/z -> (N, 3, 3)."""
    r = np.zeros((len(angle), 3))
    r[:, axis] = angle
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(r).as_matrix()


def initial_fit(targets: np.ndarray, rest_coco: np.ndarray, rest_joints: np.ndarray,
                times: np.ndarray | None = None, layout: FitLayout | None = None) -> dict:
    """Initial body-model parameters for keypoint targets (``layout``: default SMPL to COCO-17).

    targets (N, K, 3) cm (NaN allowed); rest_coco (K, 3) the keypoints and rest_joints (J, 3)
    the joints, metres (the model at zero pose); times (N,) s (gaps are bridged in time). Returns
    ``poses`` (N, J, 3) rad, ``trans`` (N, 3) cm, ``scaling`` float and ``root`` (N, 3, 3) the
    global orientation matrices.
    """
    layout = layout or fit_layout()
    limb_bones = layout.limb_bones  # torso, arms, legs (not the face)
    lengths = np.linalg.norm(targets[:, limb_bones[:, 0]] - targets[:, limb_bones[:, 1]], axis=-1)
    with warnings.catch_warnings():  # a bone missing in every frame: NaN, no warning
        warnings.simplefilter("ignore", RuntimeWarning)
        lt = np.nanmedian(lengths, axis=0)
    y = fill_gaps(drop_outliers(targets, limb_bones, lengths, lt), times)
    n = len(y)
    lm = np.linalg.norm(rest_coco[limb_bones[:, 0]] - rest_coco[limb_bones[:, 1]], axis=-1)
    ok = np.isfinite(lt)
    scaling = float((lt[ok] * lm[ok]).sum() / (lm[ok] ** 2).sum()) if ok.any() else 100.0

    TORSO = list(layout.torso)
    P = rest_coco[TORSO] - rest_coco[TORSO].mean(0)
    Q = y[:, TORSO] - y[:, TORSO].mean(1, keepdims=True)
    R0 = kabsch(np.broadcast_to(P, Q.shape), Q)
    j0 = rest_joints[0]
    centroid = y[:, TORSO].mean(1)
    # world = s (R0 (p - j0) + j0) + trans, and s R0 mean(P) + c = centroid
    c = centroid - scaling * np.einsum("nij,j->ni", R0, rest_coco[TORSO].mean(0))
    trans = c - scaling * j0 + scaling * np.einsum("nij,j->ni", R0, j0)

    poses = np.zeros((n, len(rest_joints), 3))
    poses[:, 0] = rotvec(R0)
    front = np.asarray(layout.model.forward_axis, np.float64)
    forward = np.einsum("nij,j->ni", R0, front)
    for root, hinge, end, c_root, c_hinge, c_end, axis, sign in layout.limbs:
        upper_rest = rest_joints[hinge] - rest_joints[root]
        lower_rest = rest_joints[end] - rest_joints[hinge]
        upper = y[:, c_hinge] - y[:, c_root]
        lower = y[:, c_end] - y[:, c_hinge]
        cosang = np.einsum("ni,ni->n", upper, lower) / (
            np.linalg.norm(upper, axis=1) * np.linalg.norm(lower, axis=1) + 1e-9)
        cos_rest = upper_rest @ lower_rest / (np.linalg.norm(upper_rest) * np.linalg.norm(lower_rest))
        flex = np.clip(np.arccos(np.clip(cosang, -1, 1)) - np.arccos(np.clip(cos_rest, -1, 1)), 0, 2.6)
        H = axis_rotation(axis, sign * flex)  # (N, 3, 3) local hinge rotation
        lower_bent = np.einsum("nij,j->ni", H, lower_rest)
        a = np.stack([np.broadcast_to(upper_rest, (n, 3)), lower_bent, np.broadcast_to(front, (n, 3))], 1)
        a = a / np.linalg.norm(a, axis=-1, keepdims=True)
        b = np.stack([upper, lower, forward], 1)
        b = b / (np.linalg.norm(b, axis=-1, keepdims=True) + 1e-9)
        G = kabsch(a, b, np.array([1.0, 0.5, 0.05]))  # global rotation of the limb root
        local = np.einsum("nji,njk->nik", R0, G)  # parents of hips and shoulders: root (spine at rest)
        poses[:, root] = rotvec(local)
        poses[:, hinge, axis] = sign * flex
    return {"poses": poses, "trans": trans, "scaling": scaling, "root": R0}
