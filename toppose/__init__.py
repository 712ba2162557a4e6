"""toppose: OpenPose-style pose estimation for ceiling (top-view) cameras.

The core package holds what every stage shares: the skeleton, the model
description, preprocessing, the codec (targets and decoders), the synthetic
scene renderer and the data formats. Nothing here imports torch at import
time, so the edge runtime stays light.
"""

__version__ = "0.1.0"
