"""Training targets and pose decoders that share one stride, sigma and skeleton.

- ``encoder``: people -> heatmap and PAF targets (and the loss mask);
- ``reference`` (+ ``reference_parts``): the textbook's ``decode_pose`` in NumPy and the
  NumPy references of the kernels it lacks, the readable ground truth;
- Numba kernels: ``bicubic`` (OpenCV's resize, one pixel at a time), ``peaks`` (the ``fine``
  decoder's peaks at input resolution; the dimension glossary), ``sparse`` (grid peaks,
  sub-pixel fit, bilinear samples), ``grouping`` (limb scoring) and ``assembly`` (people:
  tree or graph);
- ``decoder``: ``PoseDecoder``, the one object train, export and runtime call.
"""

from toppose.codec.config import DecoderConfig
from toppose.codec.poses import Poses

__all__ = ["DecoderConfig", "Poses"]
