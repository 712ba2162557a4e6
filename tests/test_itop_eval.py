"""ITOP's 10 cm metric: exact on files whose depth holds the joints, per joint, from real-format files;
``toppose-eval --itop-labels/--itop-depth`` with the bundled model on rendered ITOP files."""

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from corpus import check
from toppose.camera import ITOP
from toppose.itop_eval import CAUSED, CAUSES, _frames, causes, evaluate_itop, match_person, precision
from toppose.lift import GLOBAL, LIFTED, FEATURES, TORSO_FRACTION, LiftModel
from toppose.skeleton import ITOP_JOINTS, ITOP_TORSO, NUM_ITOP, OPENPOSE_FROM_ITOP
from toppose.runtime.stream import bundled_model
from toppose.synth.writers import write_itop
from toppose.train.eval_cli import app as eval_app

runner = CliRunner()
ZERO = LiftModel([], np.zeros(len(LIFTED) * FEATURES + GLOBAL), np.ones(len(LIFTED) * FEATURES + GLOBAL),
                 np.zeros(len(LIFTED)), {})


def _itop_pair(path, frames=6, seed=0):
    """ITOP files (as distributed: float16, int16 pixels) whose depth around each joint is the joint's own
    depth, so lifting with zero offsets gives the truth back; frame 1 is marked invalid."""
    rng = np.random.default_rng(seed)
    uv = np.zeros((frames, NUM_ITOP, 2), np.int16)
    world = np.zeros((frames, NUM_ITOP, 3), np.float32)
    depth = np.zeros((frames, *ITOP.hw), np.float16)
    for n in range(frames):
        uv[n] = np.stack([rng.integers(10, 310, NUM_ITOP), rng.integers(10, 230, NUM_ITOP)], -1)
        uv[n, 1], uv[n, 9], uv[n, 10] = (100, 60), (100, 160), (140, 160)  # neck, hips apart from the rest
        z = rng.uniform(1.0, 3.0, NUM_ITOP).astype(np.float16).astype(np.float32)
        world[n] = np.stack([(uv[n, :, 0] - ITOP.cx) * z / ITOP.fx, -(uv[n, :, 1] - ITOP.cy) * z / ITOP.fy, z], -1)
        pelvis = (world[n, 9] + world[n, 10]) / 2
        world[n, ITOP_TORSO] = pelvis + TORSO_FRACTION * (world[n, 1] - pelvis)
        for j in range(NUM_ITOP):
            if j != ITOP_TORSO:
                depth[n, uv[n, j, 1] - 2:uv[n, j, 1] + 3, uv[n, j, 0] - 2:uv[n, j, 0] + 3] = z[j]
    ids = np.array([f"00_{i:05d}".encode() for i in range(frames)])
    with h5py.File(path / "labels.h5", "w") as f:
        f["id"], f["is_valid"] = ids, np.array([1, 0] + [1] * (frames - 2), np.uint8)
        f["visible_joints"], f["image_coordinates"] = np.ones((frames, NUM_ITOP), np.int16), uv
        f["real_world_coordinates"] = world.astype(np.float16)
    with h5py.File(path / "depth.h5", "w") as f:
        f["id"], f["data"] = ids, depth
    return path / "labels.h5", path / "depth.h5"


def test_the_truth_scores_100_percent_and_a_joint_11_cm_off_scores_0(tmp_path):
    labels, depth = _itop_pair(tmp_path)
    result = evaluate_itop(labels, depth, ZERO)
    assert result["frames"] == 5 and "model" not in result  # the invalid frame is left out
    assert result["gt2d"]["constant"] == [1.0] * NUM_ITOP and result["gt2d"]["constant_mean"] == 1.0
    with h5py.File(depth, "a") as f:
        d = f["data"][:]
        u, v = h5py.File(labels)["image_coordinates"][:, 13].T  # the right foot, every frame
        for n in range(len(d)):
            d[n, v[n] - 2:v[n] + 3, u[n] - 2:u[n] + 3] += np.float16(0.11)
        f["data"][...] = d
    per = evaluate_itop(labels, depth, ZERO)["gt2d"]["constant"]
    assert per[13] == 0.0 and per[:13] == [1.0] * 13 and per[14] == 1.0


class _Recorded(np.ndarray):
    """An array that records the length of every slice read from it (an HDF5 dataset's reads)."""

    def __getitem__(self, item):
        if isinstance(item, slice):
            self.reads.append(item.stop - item.start)
        return np.asarray(self)[item]


def test_frames_are_read_in_bounded_blocks_across_gaps_of_invalid_frames():
    data = np.arange(10_000).view(_Recorded)
    data.reads = []
    wanted = np.array([0, 1, 2, 5000, 5001, 9999])
    assert [int(v) for v in _frames(data, wanted, block=2)] == wanted.tolist()
    assert max(data.reads) <= 4 * 2  # never the 5000 invalid frames in between


def test_precision_counts_missing_joints_as_misses():
    truth = np.zeros((2, 3, 3))
    pred = truth + [[[0.05, 0, 0], [np.nan, 0, 0], [0.2, 0, 0]], [[0, 0.0999, 0], [0, 0, 0], [0, 0, 0]]]
    np.testing.assert_allclose(precision(pred, truth), [1.0, 0.5, 0.5])


def test_the_nearest_predicted_person_is_matched():
    truth = np.zeros((18, 3), np.float32)
    truth[:3] = [[10, 10, 2], [20, 20, 2], [0, 0, 0]]
    people = np.zeros((2, 18, 3), np.float32)
    people[0, :2] = [[100, 100, 1], [90, 90, 1]]
    people[1, 1:3] = [[21, 19, 1], [300, 300, 1]]
    assert match_person(people, truth) == 1 and match_person(people[:0], truth) == -1


def test_each_missed_joint_gets_its_cause():
    """Head ok; neck missing; right shoulder held by a second piece 5 px from the truth; right elbow
    decoded 30 px off (its ray passes ~26 cm from the joint); left shoulder on its ray, 30 cm too deep."""
    z = 2.5
    uv = np.stack([np.arange(15) * 15 + 40.0, np.full(15, 120.0)], -1)
    truth = np.stack([(uv[:, 0] - ITOP.cx) * z / ITOP.fx, -(uv[:, 1] - ITOP.cy) * z / ITOP.fy, np.full(15, z)], -1)
    truth_kp = np.zeros((18, 3), np.float32)
    for k, j in enumerate(OPENPOSE_FROM_ITOP):
        if j >= 0:
            truth_kp[k] = (*uv[j], 2)
    people = np.zeros((2, 18, 3), np.float32)
    people[0] = truth_kp
    people[0, 1] = 0                                            # neck not decoded
    people[0, 2] = 0                                            # right shoulder not in this person ...
    people[1, 2] = (truth_kp[2, 0] + 3, truth_kp[2, 1] + 4, 1)  # ... but in another piece, 5 px away
    people[0, 3, 0] += 30                                       # right elbow 30 px off
    lifted = truth.copy()
    lifted[[1, 2]] = np.nan
    lifted[4] = (truth[4, 0] + 30 * z / ITOP.fx, truth[4, 1], z)
    lifted[3, 2] += 0.3                                         # left shoulder: right ray, wrong depth
    got = dict(zip([ITOP_JOINTS[j] for j in CAUSED], [CAUSES[c] for c in causes(people, 0, truth_kp, lifted, truth)]))
    assert got == {**{ITOP_JOINTS[j]: "ok" for j in CAUSED}, "neck": "missing", "right_shoulder": "other_piece",
                   "right_elbow": "off_ray", "left_shoulder": "depth"}
    people[1, 2, 0] += 5                                        # 8.6 px away: no longer the same keypoint
    assert CAUSES[causes(people, 0, truth_kp, lifted, truth)[CAUSED.index(2)]] == "missing"
    nobody = causes(people[:0], -1, truth_kp, np.full_like(truth, np.nan), truth)
    assert [CAUSES[c] for c in nobody] == ["missing"] * len(CAUSED) and ITOP_TORSO not in CAUSED


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return write_itop(tmp_path_factory.mktemp("itop"), "top", 12, seed=77, split="test")


def test_eval_cli_scores_rendered_itop_files_with_the_bundled_model(rendered, tmp_path):
    labels, depth = rendered
    res = runner.invoke(eval_app, ["--model", str(bundled_model()), "--itop-labels", str(labels),
                                   "--itop-depth", str(depth), "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "right_knee" in res.output and "torso" in res.output
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["gt2d"]["learned_mean"] > 0.85 and result["model"]["learned_mean"] > 0.5
    assert result["gt2d"]["learned_mean"] > result["gt2d"]["constant_mean"]
    assert result["lift"]["recipe"]["seed"] == 1
    for j, name in enumerate(ITOP_JOINTS):  # every joint but the torso has one cause per frame; "ok" is its precision
        if j != ITOP_TORSO:
            share = result["model"]["causes"][name]
            assert sum(share.values()) == pytest.approx(1.0, abs=1e-3)
            assert share["ok"] == pytest.approx(result["model"]["learned"][j], abs=1e-4)
    assert "by cause" in res.output and "off_ray" in res.output


def test_eval_cli_itop_tta_runs_the_model_at_several_scales_flipped(rendered, tmp_path, monkeypatch):
    from toppose.runtime.session import PoseSession

    calls = []
    real = PoseSession.infer_maps
    monkeypatch.setattr(PoseSession, "infer_maps", lambda self, x: (calls.append(len(x)), real(self, x))[1])
    labels, depth = rendered
    res = runner.invoke(eval_app, ["--model", str(bundled_model()), "--itop-labels", str(labels), "--itop-depth",
                                   str(depth), "--tta", "--limit", "2", "--out", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["tta"] is True and result["frames"] == 2 and result["model"]["learned_mean"] > 0.5
    assert len(calls) == 2 * 4  # per frame: scales 0.75 and 1 (1.25 overflows the fixed input), each also flipped


def test_eval_cli_itop_bad_input(rendered, tmp_path):
    labels, depth = rendered
    check(eval_app, ["--itop-labels", labels, "--itop-depth", depth, "--tta"], "--tta needs a model", tmp_path)
    check(eval_app, ["--itop-labels", labels], "--itop-labels and --itop-depth go together", tmp_path)
    check(eval_app, ["--itop-labels", labels, "--itop-depth", tmp_path / "none.h5"], "none.h5: no such file", tmp_path)
    (tmp_path / "bad.npz").write_text("x")
    check(eval_app, ["--itop-labels", labels, "--itop-depth", depth, "--lift", tmp_path / "bad.npz"],
          "bad.npz: not a toppose lifting model", tmp_path)
    check(eval_app, ["--itop-labels", depth, "--itop-depth", depth], "missing dataset(s)", tmp_path)


def test_eval_cli_itop_with_weights_but_no_train_extra_says_so_in_one_line(rendered, tmp_path, monkeypatch):
    import toppose.extras

    monkeypatch.setattr(toppose.extras, "missing_modules", lambda extra, modules=(): ["torch"])
    labels, depth = rendered
    check(eval_app, ["--itop-labels", labels, "--itop-depth", depth, "--weights", tmp_path / "w.pth"],
          "toppose-eval --weights needs the 'train' extra", tmp_path)
