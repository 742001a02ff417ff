"""The original AIST++ SMPL-fitting recipe, for comparison (benchmarks only; not part of the package).

All frames at once, the full ``smplx.SMPL`` forward (6,890 vertices), plain SGD (no
momentum) on the mean squared joint error, staged: translation and scale first, then the
global orientation joins, then the body pose; betas fixed at zero. Our choices where the
description is silent: start from zero pose, scale 100 (cm per model metre), translation =
the targets' hip midpoint; per-group learning rates scaled with the frame count so each
frame moves at the same pace whatever the clip length (SGD on a mean loss otherwise slows
down linearly with N).
"""

from __future__ import annotations

import numpy as np

from aistpp.core.joints import COCO17, COCO_TO_SMPL


def fit_recipe(model, targets: np.ndarray, steps: int = 10000, stages: tuple[float, float] = (0.1, 0.2),
               lr_trans: float = 0.5, lr_scale: float = 1.0, lr_rot: float = 3e-4) -> dict:
    """SGD fit of ``model`` (a ``smplx.SMPL``) to COCO-17 targets (N, 17, 3) cm.

    Returns ``smpl_poses`` (N, 72), ``smpl_trans`` (N, 3) cm, ``smpl_scaling`` (1,),
    ``smpl_loss`` (final mean squared coordinate error, cm^2), ``seconds_per_step``.
    """
    import time

    import torch

    device = next(model.buffers()).device
    y_np = np.asarray(targets, np.float32)
    mask_np = np.isfinite(y_np).all(-1)
    n = len(y_np)
    y = torch.as_tensor(np.where(mask_np[..., None], y_np, 0.0), device=device)
    mask = torch.as_tensor(mask_np, dtype=torch.float32, device=device)[..., None]
    hips = np.nanmean(y_np[:, [COCO17.index("left_hip"), COCO17.index("right_hip")]], axis=1)
    trans = torch.tensor(np.nan_to_num(hips), device=device, requires_grad=True)
    scaling = torch.tensor([100.0], device=device, requires_grad=True)
    orient = torch.zeros(n, 3, device=device, requires_grad=True)
    body = torch.zeros(n, 69, device=device, requires_grad=True)
    betas = torch.zeros(n, model.num_betas, device=device)
    zeros = torch.zeros(n, 3, device=device)
    idx = torch.as_tensor(COCO_TO_SMPL, device=device)
    count = mask.sum() * 3

    def loss_fn():
        out = model(global_orient=orient, body_pose=body, betas=betas, transl=zeros)
        pred = out.joints[:, idx] * scaling + trans[:, None]
        return (((pred - y) ** 2) * mask).sum() / count

    groups = [
        {"params": [trans], "lr": lr_trans * n},
        {"params": [scaling], "lr": lr_scale},
        {"params": [orient], "lr": lr_rot * n},
        {"params": [body], "lr": lr_rot * n},
    ]
    opt = torch.optim.SGD(groups, momentum=0.0)
    s1, s2 = int(stages[0] * steps), int(stages[1] * steps)
    start = time.perf_counter()
    for step in range(steps):
        active = 2 if step < s1 else 3 if step < s2 else 4
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        for g in groups[active:]:
            for p in g["params"]:
                p.grad = None  # frozen in this stage
        opt.step()
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        final = float(loss_fn())
    return {
        "smpl_poses": torch.cat([orient, body], 1).detach().cpu().numpy(),
        "smpl_trans": trans.detach().cpu().numpy(),
        "smpl_scaling": scaling.detach().cpu().numpy(),
        "smpl_loss": final,
        "seconds_per_step": elapsed / max(steps, 1),
    }
