"""Dance metrics as the published papers compute them, vectorised (arrays in, numbers out).

  kinetic.py    the AIST++ API's kinetic features (3 per SMPL joint)
  geometric.py  the AIST++ API's geometric ("manual") features (32)
  fid.py        Bailando's protocol: first 1,200 frames minus the first root, GT-set
                normalisation, FID and diversity
  beats.py      motion beats, Beat Alignment Score, music beats (beat files, librosa)
  physical.py   EDGE's Physical Foot Contact score

Joints are the 24 SMPL joints (N, 24, 3) in metres at SMPL's own scale (AIST++ motions:
``smpl_poses`` with translation ``smpl_trans / smpl_scaling``, no scaling), +y up unless a
function takes an ``up`` axis.
"""

from aistpp.pipeline.metrics.beats import beat_alignment, motion_beats
from aistpp.pipeline.metrics.fid import bailando_joints, bailando_metrics, diversity, frechet_distance, normalise
from aistpp.pipeline.metrics.geometric import GEOMETRIC, geometric_features
from aistpp.pipeline.metrics.kinetic import KINETIC, kinetic_features
from aistpp.pipeline.metrics.physical import physical_foot_contact

__all__ = ["GEOMETRIC", "KINETIC", "bailando_joints", "bailando_metrics", "beat_alignment", "diversity",
           "frechet_distance", "geometric_features", "kinetic_features", "motion_beats", "normalise",
           "physical_foot_contact"]
