import numpy as np

from toppose.synth.body import Body, place, sample_pose
from toppose.synth.furniture import Spot, bed_under, furnish, shelf_over, table_at
from toppose.synth.render import Camera
from toppose.synth.scenes import SceneOptions, random_scene, render
from toppose.synth.writers import frame_people


def _spot(family: str, seed: int = 0, xy=(0.0, 0.0), heading: float = 0.3) -> Spot:
    rng = np.random.default_rng(seed)
    return Spot(place(Body.random(rng), sample_pose(rng, family), xy, heading, family, rng), np.array(xy), heading,
                family)


def test_clutter_puts_furniture_in_the_frame():
    rng = np.random.default_rng(5)
    frames = [random_scene(rng, "top", (2, 3), options=SceneOptions(sensor="none", clutter=3)) for _ in range(6)]
    with_furniture = [f for f in frames if f.furniture.sum() > 200]
    assert len(with_furniture) >= 4
    for f in with_furniture:  # furniture stands above the floor: nearer than the farthest floor reading
        assert np.median(f.clean[f.furniture]) < f.clean[f.person < 0].max() - 0.3


def test_a_shelf_over_a_person_hides_keypoints_that_keep_their_labels():
    spot = _spot("standing")
    shelf = shelf_over(np.random.default_rng(1), spot)
    assert shelf[0, 2] > spot.person.joints[:, 2].max()
    frame = render(Camera.top(3.0), [spot.person], [shelf], None)
    hidden = frame.in_frame[0] & ~frame.visible[0]
    assert hidden.any()
    kp = frame_people(frame)[0]["keypoints"]
    v = np.asarray(kp, np.float32).reshape(-1, 3)[:, 2]
    assert (v == 1).any() and (v > 0).sum() >= hidden.sum()


def test_a_table_stands_in_front_of_a_standing_person():
    spot = _spot("standing", heading=0.0)  # facing +X
    table = table_at(np.random.default_rng(2), spot)
    assert 0.2 <= table[0, 0] - spot.xy[0] <= 0.35 and 0.7 <= table[1, 2] <= 0.76
    assert table[0, 1] < spot.xy[1] < table[1, 1]


def test_a_lying_person_is_lifted_onto_a_bed_and_a_sitting_one_sits_on_its_edge():
    lying = _spot("lying")
    bed, lifted = bed_under(np.random.default_rng(3), lying)
    h = bed[1, 2]
    assert 0.4 <= h <= 0.6
    assert np.allclose(lifted.joints[:, 2] - lying.person.joints[:, 2], h)
    assert (lifted.ends[..., :2] >= bed[0, :2]).all() and (lifted.ends[..., :2] <= bed[1, :2]).all()
    sitting = _spot("sitting")
    bed, person = bed_under(np.random.default_rng(3), sitting)
    assert person.seat is None and bed[1, 2] == sitting.person.seat[1, 2]
    assert (bed[1, :2] - bed[0, :2]).max() > 1.7


def test_furnish_keeps_pieces_off_other_people():
    spots = [_spot("standing", i, xy=(x, 0.0)) for i, x in enumerate((-1.0, 1.0))]
    boxes, people = furnish(np.random.default_rng(7), spots, 6, np.array([-2.0, -2.0]), np.array([2.0, 2.0]))
    assert len(people) == 2 and boxes
    for b in boxes:
        if b[0, 2] < 1.0:  # floor-standing pieces
            for s in spots:
                inside = np.all(s.xy > b[0, :2]) and np.all(s.xy < b[1, :2])
                assert not inside
