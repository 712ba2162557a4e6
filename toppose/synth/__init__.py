"""Synthetic people: 2-D keypoint scenes (``flat``) and the articulated depth renderer."""
