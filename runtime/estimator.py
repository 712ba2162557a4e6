"""An exported model as a ``PosePredictor``: the whole single-image API of the runtime.

``poses, timings = PoseEstimator(PoseSession(path))(frame)``; the session supplies the network
call, the model's description, the decoder settings stored in the file and its input size.
"""

from __future__ import annotations

from toppose.codec.config import DecoderConfig
from toppose.inference import PosePredictor, Timings
from toppose.runtime.session import PoseSession

__all__ = ["PoseEstimator", "Timings"]


class PoseEstimator(PosePredictor):
    """A ``PosePredictor`` over an onnxruntime session; ``method``: the decoder; ``config``: decoder
    settings (default: those stored in the model file)."""

    def __init__(self, session: PoseSession, method: str = "sparse", config: DecoderConfig | None = None) -> None:
        super().__init__(session.infer_maps, session.spec, config or session.decoder_config, method, session.input_hw)
        self.session = session
