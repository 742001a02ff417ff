"""Synthetic AIST++ data: body model, dance motion, camera rigs, noisy detections, videos.

Pure array functions other steps use in tests and benchmarks::

    from aistpp.pipeline.synth import make_motion, make_rig, keypoints3d_from_motion, make_detections
    rng = np.random.default_rng(0)
    motion = make_motion(240, rng, model=smpl)            # smpl_poses (N, 3 J), smpl_trans (N, 3) cm
    kp3d = keypoints3d_from_motion(smpl, motion)          # (N, 17, 3) cm
    det = make_detections(make_rig(0, rng), kp3d, rng)    # keypoints2d (V, N, 17, 3), det_scores, masks

``generate(out_dir, SynthConfig(...))`` writes a whole dataset (``aistpp synth``).
"""

from aistpp.pipeline.synth.detections import detection_score, keypoints3d_from_motion, make_detections
from aistpp.pipeline.synth.generate import SynthConfig, generate
from aistpp.pipeline.synth.motion import make_motion
from aistpp.pipeline.synth.rig import make_rig, scale_rig

__all__ = ["SynthConfig", "detection_score", "generate", "keypoints3d_from_motion", "make_detections",
           "make_motion", "make_rig", "scale_rig"]
