"""The one camera model: OpenCV's pinhole with its 5/8/12/14-coefficient lens distortion.

Every solver projects, distorts and undistorts through this package:

- ``rotation.py``: Rodrigues vectors <-> matrices, the SO(3) left Jacobian.
- ``distortion.py``: the distortion models, forward, and Jacobians w.r.t. point and coefficients.
- ``undistortion.py``: OpenCV's iterative undistortion.
- ``pinhole.py``: world -> camera -> pixels with skew, the inverse, Jacobians w.r.t. point,
  rotation, translation, intrinsics and distortion.
- ``compiled.py``: the same scalar code compiled with numba (imported on demand).

``aistpp.core.cameras.CameraRig`` holds a rig's arrays and delegates here.
"""

from aistpp.core.camera.distortion import COEFFICIENT_NAMES, MODELS, coefficients, distort, distort_jacobians
from aistpp.core.camera.pinhole import (INTRINSIC_NAMES, MIN_DEPTH, Jacobians, apply_intrinsics, normalised_projection,
                                        project, project_jacobians, remove_intrinsics, undistort, world_to_camera)
from aistpp.core.camera.rotation import left_jacobian, rodrigues, rotation_to_rodrigues

__all__ = ["COEFFICIENT_NAMES", "INTRINSIC_NAMES", "MIN_DEPTH", "MODELS", "Jacobians", "apply_intrinsics", "coefficients",
           "distort", "distort_jacobians", "left_jacobian", "normalised_projection", "project", "project_jacobians",
           "remove_intrinsics", "rodrigues", "rotation_to_rodrigues", "undistort", "world_to_camera"]
