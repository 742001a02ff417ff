#!/usr/bin/env bash
# From your own rig's 2D detections to drawn videos, with your own names throughout.
#
#   examples/own_rig.sh [WORK_DIR]        (default ./own_rig)
#
# Input, in $WORK/data (a synthetic recording is generated there when it is missing; put your
# own in its place):
#   detections/<sequence>/<view>/...   per-frame JSON of any OpenPose-style tool (any file naming
#                                      with the frame number last: cam01.0000.json,
#                                      <video>_000000000000_keypoints.json), MMPose, COCO
#                                      results, .npy/.npz ... one folder or file per view
#   videos/<sequence>/<view>.mp4       the videos (their sizes are the detections' image sizes)
#   cameras/<setting>.json, mapping.txt   your calibration, cameras named like the view folders,
#                                      mapping.txt listing "<sequence> <setting>"
# The synthetic recording: 4 portrait cameras cam01..cam04 (540 and 480 px wide; the camera file
# says 544 for the 540-wide ones, as some calibration tools round), BODY_25 from two tools with
# different file names, and the true cameras (calibrate could estimate them instead).
# Output, in $WORK/rebuilt: keypoints2d/ and keypoints3d/ in the AIST++ layout, with the view
# names kept; $WORK/vis: the detections drawn on all four videos, and the 3D keypoints on cam03.
set -euo pipefail
WORK=${1:-own_rig}
DATA=$WORK/data
OUT=$WORK/rebuilt

# 0. A recording to work on.
[ -d "$DATA" ] || python -m aistpp.pipeline.synth.own_rig --out "$DATA" --frames 90 > /dev/null

# 1. Detections -> keypoints2d/<sequence>.pkl. The layout (<sequence>/<view>/), the file formats
#    and the joint set (BODY_25 here, told from BODY_25B by the geometry) are read off the files;
#    the image size of each view comes from its video. Say --joint-set if the summary is wrong.
aistpp preprocess --keypoints-dir "$DATA/detections" --video-dir "$DATA/videos" \
    --save-dir "$OUT/keypoints2d" --quiet

# 2. Cameras: your calibration, its camera names those of the view folders.
mkdir -p "$OUT/cameras"
cp "$DATA/cameras/"*.json "$DATA/cameras/mapping.txt" "$OUT/cameras/"

# 3. 3D keypoints. The table goes to a log here (not a terminal): it is printed whole.
aistpp triangulate --anno-dir "$OUT" --save-dir "$OUT/keypoints3d" > "$WORK/triangulate.log"
cat "$WORK/triangulate.log"

# 4. Look: the detections (all 25 BODY_25 points, feet included) on all four videos in one grid,
#    and the 3D keypoints over cam03.
SEQ=$(awk 'NR==1{print $1}' "$OUT/cameras/mapping.txt")
aistpp vis --anno-dir "$OUT" --video-dir "$DATA/videos" --save-dir "$WORK/vis" \
    --video-name "$SEQ" --views all --mode 2d --joints full --quiet
aistpp vis --anno-dir "$OUT" --video-dir "$DATA/videos" --save-dir "$WORK/vis" \
    --video-name "$SEQ" --views cam03 --mode 3d --quiet
