"""Training format: a folder with ``annotations.json`` (COCO keypoints, 18 OpenPose
keypoints per person), ``images/`` (16-bit depth PNGs in millimetres, or colour images)
and optional ``masks/`` (8-bit, nonzero = ignore)."""
