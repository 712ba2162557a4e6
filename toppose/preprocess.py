"""Frame -> network input, one implementation for training, evaluation, export and runtime.

Images are OpenCV's BGR uint8 (H, W, 3). Depth frames are float32 metres (H, W) with 0 for
no reading; ``encode_depth`` turns them into such an image with the model's encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from toppose.model_spec import InputEncoding, ModelSpec

PAD_VALUE = 128
_VGG_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # RGB
_VGG_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def encode_depth(depth_m: np.ndarray, encoding: InputEncoding) -> np.ndarray:
    """(H, W) float metres, 0 = no reading -> (H, W, 3) uint8 BGR image.

    Nearer is brighter: near_m -> 255, far_m -> 0 (clipped); missing readings stay 0.
    """
    d = np.asarray(depth_m, dtype=np.float32)
    if d.ndim != 2:
        raise ValueError(f"a depth frame must be 2-D, got shape {d.shape}")
    scale = 255.0 / (encoding.far_m - encoding.near_m)
    grey = np.clip((encoding.far_m - d) * scale, 0.0, 255.0)
    grey[~(d > 0)] = 0.0
    grey = (grey + 0.5).astype(np.uint8)
    if encoding.colormap == "jet":
        out = cv2.applyColorMap(grey, cv2.COLORMAP_JET)
        out[grey == 0] = 0
        return out
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def depth_from_png(depth_mm: np.ndarray) -> np.ndarray:
    """uint16 millimetres -> float32 metres."""
    return depth_mm.astype(np.float32) * 0.001


def depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """float metres -> uint16 millimetres (rounded, clipped to 0..65535), as 16-bit depth PNGs store them."""
    return np.clip(np.rint(depth_m * 1000.0), 0, 65535).astype(np.uint16)


def read_frame(path) -> np.ndarray | None:
    """An image file as a frame: (H, W) uint16 depth mm or uint8 grey, or (H, W, 3) uint8 BGR (an
    alpha channel dropped); None when the file is missing or not an image (callers say which)."""
    frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if frame is not None and frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[:, :, :3]
    return frame


def to_input_image(frame: np.ndarray, encoding: InputEncoding) -> np.ndarray:
    """Any supported frame -> (H, W, 3) uint8 BGR, applying the depth encoding when needed.

    Accepts uint8 BGR (used as it is), 2-D uint16 millimetres or 2-D float metres (encoded
    with ``encoding``'s range even for rgb models, so depth can always be shown), or 2-D
    uint8 grey.
    """
    if frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8:
        return frame
    if frame.ndim == 2 and frame.dtype == np.uint8:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 2 and frame.dtype == np.uint16:
        return encode_depth(depth_from_png(frame), _depth_or_default(encoding))
    if frame.ndim == 2 and np.issubdtype(frame.dtype, np.floating):
        return encode_depth(frame, _depth_or_default(encoding))
    raise ValueError(f"unsupported frame: shape {frame.shape}, dtype {frame.dtype}")


def _depth_or_default(encoding: InputEncoding) -> InputEncoding:
    return encoding if encoding.kind == "depth" else InputEncoding(kind="depth")


def _lookup_tables() -> dict[str, tuple[np.ndarray, tuple[int, int, int]]]:
    """Per convention: (3, 256) float32 value tables and the BGR source channel of each output."""
    v = np.arange(256, dtype=np.float32)
    vgg = np.stack([(v / 255.0 - _VGG_MEAN[c]) / _VGG_STD[c] for c in range(3)])  # R, G, B outputs
    rtpose = np.stack([v / 256.0 - 0.5] * 3)
    return {"vgg": (vgg.astype(np.float32), (2, 1, 0)), "rtpose": (rtpose.astype(np.float32), (0, 1, 2))}


_TABLES = _lookup_tables()


def value_table(convention: str) -> np.ndarray:
    """(3, 256) float32: output channel k of ``normalize`` for a grey value v is ``table[k, v]``
    (a grey image has the same value in every source channel)."""
    try:
        return _TABLES[convention][0]
    except KeyError:
        raise ValueError(f"unknown preprocessing convention {convention!r}") from None


@lru_cache(maxsize=8)
def depth_mm_table(encoding: InputEncoding, convention: str) -> np.ndarray:
    """(3, 65536) float32: every uint16 millimetre value through ``to_input_image`` and ``normalize``.

    Built by running those two functions over all 65536 values, so a frame looked up in it
    equals the two-step result exactly, in one pass instead of six."""
    every_mm = np.arange(65536, dtype=np.uint16)[None]
    table = normalize(to_input_image(every_mm, encoding), convention)[:, 0]
    table.flags.writeable = False
    return table


def normalize(image_bgr: np.ndarray, convention: str, out: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 BGR -> (3, H, W) float32 in the model's convention.

    ``vgg``: RGB, /255, ImageNet mean/std. ``rtpose``: BGR, x/256 - 0.5.
    """
    try:
        table, source = _TABLES[convention]
    except KeyError:
        raise ValueError(f"unknown preprocessing convention {convention!r}") from None
    if image_bgr.dtype != np.uint8 or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image_bgr.shape} {image_bgr.dtype}")
    if out is None:
        out = np.empty((3, *image_bgr.shape[:2]), np.float32)
    for k in range(3):
        np.take(table[k], image_bgr[:, :, source[k]], out=out[k], mode="clip")  # uint8: always in range
    return out


@dataclass(frozen=True)
class Letterbox:
    """How an original frame maps into the network input: scale, then pad bottom/right.

    input = original * scale; padding adds pad_h rows and pad_w columns at the end.
    """

    scale: float
    input_hw: tuple[int, int]   # padded network input size
    content_hw: tuple[int, int]  # resized frame inside it
    original_hw: tuple[int, int]

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) input pixels -> original-frame pixels."""
        return xy / self.scale


def plan_letterbox(original_hw: tuple[int, int], stride: int,
                   target_hw: tuple[int, int] | None = None) -> Letterbox:
    """Scale to fit ``target_hw`` (keeping aspect; no scaling when None), pad to the stride."""
    h, w = original_hw
    scale = 1.0 if target_hw is None else min(target_hw[0] / h, target_hw[1] / w)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    if target_hw is None:
        ih, iw = -(-ch // stride) * stride, -(-cw // stride) * stride
    else:
        ih, iw = -(-target_hw[0] // stride) * stride, -(-target_hw[1] // stride) * stride
    return Letterbox(scale=scale, input_hw=(ih, iw), content_hw=(ch, cw), original_hw=(h, w))


def letterbox_image(image: np.ndarray, box: Letterbox) -> np.ndarray:
    """(H, W, 3) uint8 -> (input_h, input_w, 3) uint8, resized then padded with 128."""
    ch, cw = box.content_hw
    if (ch, cw) != image.shape[:2]:
        image = cv2.resize(image, (cw, ch), interpolation=cv2.INTER_AREA if box.scale < 1 else cv2.INTER_CUBIC)
    ih, iw = box.input_hw
    if (ih, iw) == (ch, cw):
        return image
    return cv2.copyMakeBorder(image, 0, ih - ch, 0, iw - cw, cv2.BORDER_CONSTANT,
                              value=(PAD_VALUE, PAD_VALUE, PAD_VALUE))


def prepare(frame: np.ndarray, spec: ModelSpec, target_hw: tuple[int, int] | None = None
            ) -> tuple[np.ndarray, Letterbox]:
    """A frame -> ((3, H', W') float32 network input, Letterbox) for ``spec``."""
    box = plan_letterbox(frame.shape[:2], spec.stride, target_hw)
    if frame.ndim == 2 and frame.dtype == np.uint16 and box.content_hw == frame.shape:
        return _prepare_depth_mm(frame, box, spec), box
    image = to_input_image(frame, spec.encoding)
    return normalize(letterbox_image(image, box), spec.preprocess), box


def _prepare_depth_mm(depth_mm: np.ndarray, box: Letterbox, spec: ModelSpec) -> np.ndarray:
    """(H, W) uint16 mm needing no resize -> (3, H', W') float32, the same values as the general path
    (table lookups; the padding holds what PAD_VALUE normalises to)."""
    table, pad = depth_mm_table(_depth_or_default(spec.encoding), spec.preprocess), value_table(spec.preprocess)
    h, w = depth_mm.shape
    x = np.empty((3, *box.input_hw), np.float32)
    for k in range(3):
        np.take(table[k], depth_mm, out=x[k, :h, :w], mode="clip")  # "raise" would buffer the copy
        x[k, h:, :] = pad[k, PAD_VALUE]
        x[k, :h, w:] = pad[k, PAD_VALUE]
    return x
