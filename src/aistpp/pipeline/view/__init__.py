"""``aistpp view``: one self-contained HTML file showing motions, keypoints and cameras in 3D."""
