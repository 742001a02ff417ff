"""aistpp: load, visualise and rebuild the AIST++ dance-motion dataset.

The Python API works on arrays and on the dataset's own files::

    from aistpp import AISTDataset, CameraRig
    ds = AISTDataset("annotations")
    rig = ds.load_cameras("gWA_sFM_cAll_d27_mWA2_ch21")
    pixels = rig.project(ds.load_keypoints3d("gWA_sFM_cAll_d27_mWA2_ch21"))   # (V, N, 17, 2)
"""

__version__ = "0.1.0"

from aistpp.core.body import load_smpl, load_smpl_data, smpl_forward
from aistpp.core.body_models import SMPL, BodyModel, get_body_model
from aistpp.core.cameras import CameraRig
from aistpp.core.dataset import AISTDataset, AnnotationLayout
from aistpp.core.formats import (
    load_cameras, load_keypoints2d, load_keypoints3d, load_motion,
    save_cameras, save_keypoints2d, save_keypoints3d, save_motion,
)  # fmt: skip
from aistpp.core.joints import COCO17, COCO_BONES, COCO_TO_SMPL, SMPL24
from aistpp.core.names import parse_name, split_video_name, video_name
from aistpp.core.safe_pickle import safe_load
from aistpp.errors import AistppError

__all__ = [
    "AISTDataset", "AnnotationLayout", "AistppError", "BodyModel", "CameraRig", "COCO17", "COCO_BONES",
    "COCO_TO_SMPL",
    "SMPL", "SMPL24", "get_body_model", "load_cameras", "load_keypoints2d", "load_keypoints3d", "load_motion", "load_smpl",
    "load_smpl_data", "parse_name", "safe_load", "save_cameras", "save_keypoints2d", "save_keypoints3d",
    "save_motion", "smpl_forward", "split_video_name", "video_name",
]  # fmt: skip
