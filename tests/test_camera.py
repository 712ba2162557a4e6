import json

import numpy as np

from toppose.camera import ITOP, Intrinsics
from toppose.synth.render import Camera, project
from toppose.synth.writers import write_training


def test_itop_intrinsics_are_what_the_renderer_projects_with():
    assert ITOP.hw == (240, 320) and ITOP.fx == ITOP.fy
    p = np.array([[0.0, 0.0, 3.0], [0.5, -0.25, 2.0]])  # camera metres
    uv = project(p)
    assert tuple(uv[0]) == (ITOP.cx, ITOP.cy)  # the optical axis lands on the principal point
    np.testing.assert_allclose(uv[1], [ITOP.cx + 0.5 * ITOP.fx / 2.0, ITOP.cy + 0.25 * ITOP.fy / 2.0])
    hx, hy = Camera.top(3.0).footprint(3.0)  # the view's half extents reach the frame edges
    np.testing.assert_allclose(project(np.array([hx, -hy, 3.0])), [ITOP.width, ITOP.height])


def test_rendered_datasets_record_the_intrinsics(tmp_path):
    write_training(tmp_path, "top", 1, seed=0)
    info = json.loads((tmp_path / "annotations.json").read_text())["info"]
    assert Intrinsics(**info["camera"]) == ITOP
