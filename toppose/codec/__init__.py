"""Training targets and pose decoders that share one stride, sigma and skeleton.

- ``encoder``: people -> heatmap and PAF targets (and the loss mask);
- ``reference``: the textbook's ``decode_pose`` in NumPy, the readable ground truth;
- ``peaks`` and ``grouping``: Numba kernels for the same algorithm (full-resolution and
  sparse modes);
- ``decoder``: ``PoseDecoder``, the one object train, export and runtime call.
"""

from toppose.codec.config import DecoderConfig
from toppose.codec.poses import Poses

__all__ = ["DecoderConfig", "Poses"]
