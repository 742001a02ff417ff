#!/usr/bin/env bash
# Rebuild AIST++-style annotations from multi-view 2D detections, one command per step, the
# way a user scripts it.
#
#   examples/rebuild.sh [WORK_DIR]        (default ./rebuild)
#
# Input, in $WORK/data (a synthetic dataset is generated there when it is missing; put your own
# in its place): detections/ (per-frame 2D detection JSON, one folder per video),
# annotations/cameras/mapping.txt (which sequence was recorded in which setting), videos/, smpl/.
# Output, in $WORK/rebuilt: an annotation folder in the AIST++ layout (keypoints2d/, cameras/,
# keypoints3d/, motions/), and $WORK/vis: one video with the fitted SMPL joints drawn on it.
# Every step is resumable: run the script again and finished sequences are skipped.
set -euo pipefail
WORK=${1:-rebuild}
DATA=$WORK/data
OUT=$WORK/rebuilt

# 0. A dataset to rebuild.
[ -d "$DATA" ] || aistpp synth --out "$DATA" --sequences 2 --frames 120 --quiet

# 1. Detections -> keypoints2d/<sequence>.pkl (views in camera order, union of timestamps).
aistpp preprocess --keypoints-dir "$DATA/detections" --anno-dir "$DATA/annotations" \
    --save-dir "$OUT/keypoints2d" --quiet

# 2. Cameras of every setting from the dancers' own keypoints alone (no starting rig; focal
#    lengths unknown; per-view time offsets searched), at the videos' size (synth writes
#    960x540; AIST++ is 1920x1080). mapping.txt says which sequences share a setting.
#    The report goes to $OUT/reports/calibrate/<setting>.json.
mkdir -p "$OUT/cameras"
cp "$DATA/annotations/cameras/mapping.txt" "$OUT/cameras/mapping.txt"
aistpp calibrate --anno-dir "$OUT" --save-dir "$OUT/cameras" --image-size 960x540 --quiet

# 3. 3D keypoints (per frame, and temporally optimised) with the new cameras.
aistpp triangulate --anno-dir "$OUT" --save-dir "$OUT/keypoints3d" --quiet

# 4. SMPL motion from the optimised 3D keypoints.
aistpp fit-smpl --anno-dir "$OUT" --smpl-dir "$DATA/smpl" --save-dir "$OUT/motions" --device cpu --quiet

# 5. Look at one result: the fitted SMPL joints over the first sequence's first view.
SEQ=$(awk 'NR==1{print $1}' "$OUT/cameras/mapping.txt")
aistpp vis --anno-dir "$OUT" --video-dir "$DATA/videos" --smpl-dir "$DATA/smpl" \
    --save-dir "$WORK/vis" --video-name "$SEQ" --views c01 --mode smpl --quiet

# 6. How close is the rebuild to the original annotations?
aistpp compare --anno-dir "$OUT" --reference-dir "$DATA/annotations" --smpl-dir "$DATA/smpl" \
    --json > "$WORK/compare.json"
