"""Body models by name: ``get_body_model("smpl")``; SMPL is the first (``SMPL``).

A new model is one file here defining a ``BodyModel`` and one ``register`` line below
(docs/contributing.md, "A new body model").
"""

from __future__ import annotations

from aistpp.core.body_models.base import BodyModel, Landmark, Limb, mirrored_range
from aistpp.core.body_models.smpl import SMPL
from aistpp.core.body_models.smplx_family import SMPLH, SMPLX
from aistpp.errors import AistppError

__all__ = ["BodyModel", "Landmark", "Limb", "SMPL", "SMPLH", "SMPLX", "BODY_MODELS", "get_body_model", "mirrored_range", "register"]

BODY_MODELS: dict[str, BodyModel] = {}


def register(model: BodyModel) -> BodyModel:
    """Add ``model`` to the registry under its name (replacing one of the same name), and its
    skeleton to the joint sets (``joint_sets.skeleton_set``: for drawing fitted motions)."""
    from aistpp.core.joint_sets import register_joint_set, skeleton_set  # here: joint_sets' names are needed above

    BODY_MODELS[model.name] = model
    register_joint_set(skeleton_set(model), detector=False)
    return model


def get_body_model(name: str | BodyModel = "smpl") -> BodyModel:
    """The registered body model called ``name`` (a ``BodyModel`` is returned as it is)."""
    if isinstance(name, BodyModel):
        return name
    key = str(name).lower()
    if key not in BODY_MODELS:
        raise AistppError(f"unknown body model {name!r} (known: {', '.join(BODY_MODELS)})")
    return BODY_MODELS[key]


register(SMPL)
register(SMPLH)
register(SMPLX)
