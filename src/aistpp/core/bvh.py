"""BVH (Biovision Hierarchy) of the SMPL skeleton.

The skeleton is SMPL's 24 joints with their parents; a joint's OFFSET is its rest position
relative to its parent's (from the body model, betas = 0, times the motion's scale), in the
world axes of the rest pose. The root has 6 channels (position, then rotation), every other
joint 3 rotation channels; no scale channels. Rotations are Euler angles in degrees with the
channel order stated in the file: ``ZXY`` writes ``Zrotation Xrotation Yrotation`` and means
``R = Rz @ Rx @ Ry`` (the BVH convention: the order listed is the order of multiplication,
applied to column vectors in the child's frame). Forward kinematics of the file (world rotation
= parent's world rotation x local rotation; position = parent's position + parent's world
rotation x OFFSET) reproduces SMPL's joints exactly, which ``tests/test_export.py`` checks with
an independent BVH reader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aistpp.core.body_models import SMPL

ORDERS = ("ZXY", "XYZ")


def _children(parents: np.ndarray) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {i: [] for i in range(len(parents))}
    for j, p in enumerate(parents):
        if p >= 0:
            out[int(p)].append(j)
    return out


def bvh_text(rest_joints: np.ndarray, root_positions: np.ndarray, local_rotations: np.ndarray, fps: float,
             order: str = "ZXY", names: tuple[str, ...] = SMPL.joint_names,
             parents: np.ndarray = SMPL.parent_array) -> str:
    """The BVH file for a skeleton and its motion.

    rest_joints (J, 3): rest positions (only differences parent -> child are used);
    root_positions (N, 3): the root joint's world position per frame; local_rotations
    (N, J, 3, 3): each joint's rotation relative to its parent (the root's: in the world);
    all lengths in the file's unit. ``order``: ``ZXY`` or ``XYZ``.
    """
    from scipy.spatial.transform import Rotation

    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    N, J = local_rotations.shape[:2]
    children = _children(parents)
    rot_channels = " ".join(f"{axis}rotation" for axis in order)
    lines = ["HIERARCHY"]

    def write(j: int, depth: int) -> None:
        pad = "  " * depth
        offset = np.zeros(3) if parents[j] < 0 else rest_joints[j] - rest_joints[parents[j]]
        if parents[j] < 0:
            lines.append(f"ROOT {names[j]}")
            channels = f"CHANNELS 6 Xposition Yposition Zposition {rot_channels}"
        else:
            lines.append(f"{pad}JOINT {names[j]}")
            channels = f"CHANNELS 3 {rot_channels}"
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        lines.append(f"{pad}  {channels}")
        if children[j]:
            for c in children[j]:
                write(c, depth + 1)
        else:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0.000000 0.000000 0.000000",
                          f"{pad}  }}"])
        lines.append(f"{pad}}}")

    order_of_writing: list[int] = []

    def walk(j: int) -> None:
        order_of_writing.append(j)
        for c in children[j]:
            walk(c)

    root = int(np.flatnonzero(parents < 0)[0])
    write(root, 0)
    walk(root)
    # intrinsic rotations, in the listed order: R = R_first @ R_second @ R_third
    euler = Rotation.from_matrix(local_rotations.reshape(-1, 3, 3)).as_euler(order.upper(), degrees=True)
    euler = euler.reshape(N, J, 3)[:, order_of_writing]
    values = np.concatenate([root_positions[:, None], euler], axis=1).reshape(N, -1)
    lines += ["MOTION", f"Frames: {N}", f"Frame Time: {1.0 / fps:.8f}"]
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    return "\n".join(lines) + "\n"


def write_bvh(path: str | Path, text: str, overwrite: bool = True) -> None:
    from aistpp.core.formats import write_bytes_atomic

    write_bytes_atomic(path, text.encode(), overwrite)
