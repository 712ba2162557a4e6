import cv2
import numpy as np
import pytest

from toppose.model_spec import InputEncoding, ModelSpec
from toppose.preprocess import (encode_depth, letterbox_image, normalize, plan_letterbox, prepare, read_frame,
                                to_input_image)


def test_vgg_and_rtpose_conventions():
    img = np.zeros((2, 2, 3), np.uint8)
    img[..., 2] = 255  # red in BGR
    vgg = normalize(img, "vgg")
    assert vgg.shape == (3, 2, 2)
    assert vgg[0, 0, 0] == pytest.approx((1 - 0.485) / 0.229)  # channel 0 is R after BGR->RGB
    rt = normalize(img, "rtpose")
    assert rt[2, 0, 0] == pytest.approx(255 / 256 - 0.5) and rt[0, 0, 0] == pytest.approx(-0.5)


def test_pad_to_stride_and_undo():
    box = plan_letterbox((100, 131), 8)
    assert box.input_hw == (104, 136) and box.scale == 1.0
    out = letterbox_image(np.zeros((100, 131, 3), np.uint8), box)
    assert out.shape == (104, 136, 3) and out[103, 135, 0] == 128 and out[0, 0, 0] == 0
    scaled = plan_letterbox((480, 640), 8, (240, 320))
    assert scaled.scale == 0.5 and scaled.input_hw == (240, 320)
    np.testing.assert_allclose(scaled.to_original(np.array([10.0, 20.0])), [20.0, 40.0])


def test_depth_encoding_is_near_bright_and_missing_black():
    enc = InputEncoding(kind="depth", near_m=1.0, far_m=3.0)
    d = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]], np.float32)
    grey = encode_depth(d, enc)[0, :, 0]
    assert list(grey) == [0, 255, 128, 0, 0]
    jet = encode_depth(d, InputEncoding(kind="depth", near_m=1.0, far_m=3.0, colormap="jet"))
    assert jet.shape == (1, 5, 3) and (jet[0, 0] == 0).all()


def test_prepare_depth_mm_frame():
    spec = ModelSpec(arch="lite", encoding=InputEncoding(kind="depth"))
    x, box = prepare(np.full((30, 41), 2000, np.uint16), spec)
    assert x.shape == (3, 32, 48) and x.dtype == np.float32 and box.content_hw == (30, 41)


@pytest.mark.parametrize("convention", ["vgg", "rtpose"])
@pytest.mark.parametrize("encoding", [InputEncoding(kind="depth", near_m=0.8, far_m=4.0),
                                      InputEncoding(kind="depth", colormap="jet"), InputEncoding(kind="rgb")])
def test_depth_mm_frames_take_the_table_path_with_exactly_the_general_paths_values(convention, encoding):
    rng = np.random.default_rng(3)
    depth = rng.integers(0, 65536, (30, 41), dtype=np.uint16)
    depth[:4] = 0                                         # no reading
    depth[4:8] = rng.integers(300, 5000, (4, 41))         # the range the encodings resolve
    spec = ModelSpec(arch="lite", encoding=encoding, preprocess=convention)
    x, box = prepare(depth, spec)                         # padded to (32, 48): no resize, table path
    general = normalize(letterbox_image(to_input_image(depth, encoding), box), convention)
    assert x.shape == general.shape == (3, 32, 48)
    np.testing.assert_array_equal(x, general)             # the padding too
    resized, _ = prepare(depth, spec, (60, 82))           # a resize takes the general path
    assert resized.shape == (3, 64, 88)


def test_read_frame_drops_alpha_keeps_depth_and_says_none_for_what_is_not_an_image(tmp_path):
    cv2.imwrite(str(tmp_path / "bgra.png"), np.full((4, 6, 4), 7, np.uint8))
    cv2.imwrite(str(tmp_path / "depth.png"), np.full((4, 6), 1234, np.uint16))
    (tmp_path / "text.png").write_text("not an image")
    assert read_frame(tmp_path / "bgra.png").shape == (4, 6, 3)
    depth = read_frame(tmp_path / "depth.png")
    assert depth.dtype == np.uint16 and depth.shape == (4, 6) and (depth == 1234).all()
    assert read_frame(tmp_path / "text.png") is None and read_frame(tmp_path / "gone.png") is None
