import numpy as np

from toppose.codec.encoder import encode
from toppose.skeleton import OPENPOSE18
from toppose.synth.flat import random_people
from toppose.tta import flip_maps, tta_maps


def _mirror(people, width):
    m = people.copy()
    m[..., 0] = width - 1 - m[..., 0]
    return m[:, list(OPENPOSE18.flip)]


def test_flip_maps_undoes_a_mirrored_image():
    hw = (96, 128)
    people = random_people(np.random.default_rng(0), 2, hw, (40.0, 60.0))
    paf, heat, _ = encode(people, hw)
    paf_m, heat_m, _ = encode(_mirror(people, hw[1]), hw)
    paf_back, heat_back = flip_maps(paf_m, heat_m, OPENPOSE18)
    np.testing.assert_allclose(heat_back, heat, atol=1e-5)
    both = (paf != 0) & (paf_back != 0)
    np.testing.assert_allclose(paf_back[both], paf[both], atol=1e-5)  # channel order and signs are right
    assert both.sum() > 0.5 * (paf != 0).sum()  # the textbook's box rounding shifts the limbs' end cells


def test_tta_of_a_perfect_model_returns_its_maps():
    hw = (96, 128)
    people = random_people(np.random.default_rng(1), 1, hw, (40.0, 60.0))
    paf, heat, _ = encode(people, hw)

    def infer(x):  # a "model" that returns the ground-truth maps of whatever it is shown at scale 1
        assert x.shape[2:] == hw
        return paf[None], heat[None]

    image = np.zeros((*hw, 3), np.uint8)
    p, h, scale = tta_maps(image, infer, OPENPOSE18, 8, "vgg", scales=(1.0,), flip=False)
    assert scale == 1.0 and np.allclose(h, heat, atol=1e-5) and np.allclose(p, paf, atol=1e-5)
