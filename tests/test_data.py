import json

import cv2
import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from toppose.data.cli import app
from toppose.data.coco import openpose_from_coco17
from toppose.data.format import load_dataset
from toppose.data.itop import convert_itop
from toppose.synth.writers import write_itop

runner = CliRunner()


@pytest.fixture(scope="module")
def itop_files(tmp_path_factory):
    return write_itop(tmp_path_factory.mktemp("itop"), "top", 30, seed=5)


def test_itop_conversion_report_and_depth_round_trip(itop_files, tmp_path):
    labels, depth = itop_files
    report = convert_itop(labels, depth, tmp_path / "out")
    with h5py.File(labels) as h:
        valid = h["is_valid"][:]
    assert report.frames_read == 30 and report.frames_kept + sum(report.dropped.values()) == 30
    assert report.dropped.get("is_valid = 0", 0) == int((valid == 0).sum())
    ds = load_dataset(tmp_path / "out")
    assert len(ds["images"]) == report.frames_kept
    first = ds["images"][0]
    png = cv2.imread(str(tmp_path / "out" / first["file_name"]), cv2.IMREAD_UNCHANGED)
    with h5py.File(depth) as h:
        original = h["data"][first["source"]["index"]].astype(np.float32)
    assert png.dtype == np.uint16 and np.abs(png / 1000.0 - original).max() <= 0.0011
    ann = ds["annotations"][0]
    assert ann["area"] > 0 and ann["bbox"][2] > 0 and len(ann["keypoints"]) == 54


def test_itop_cli_range_every_persons(itop_files, tmp_path):
    labels, depth = itop_files
    res = runner.invoke(app, ["itop", "--labels", str(labels), "--depth", str(depth), "--out", str(tmp_path / "o"),
                              "--range", "0:20", "--every", "2", "--persons", "00"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "report.json").read_text())["frames_read"] == 10


def test_itop_bad_inputs(itop_files, tmp_path):
    labels, depth = itop_files
    (tmp_path / "x.h5").write_text("not hdf5")
    cases = [(tmp_path / "x.h5", depth, "not an HDF5 file")]
    short = tmp_path / "short_labels.h5"
    with h5py.File(labels) as src, h5py.File(short, "w") as dst:
        for k in src:
            dst[k] = src[k][:10]
    cases.append((short, depth, "depth frames but"))
    nolab = tmp_path / "nolab.h5"
    with h5py.File(labels) as src, h5py.File(nolab, "w") as dst:
        for k in src:
            if k != "visible_joints":
                dst[k] = src[k][:]
    cases.append((nolab, depth, "missing dataset"))
    for lab, dep, message in cases:
        out = tmp_path / f"out_{lab.stem}"
        res = runner.invoke(app, ["itop", "--labels", str(lab), "--depth", str(dep), "--out", str(out)])
        assert res.exit_code == 1 and message in res.output and str(lab.name) in res.output
        assert not (out / "annotations.json").exists()


def _coco_files(tmp_path):
    img = np.zeros((40, 50, 3), np.uint8)
    for i in (1, 2, 3):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), img)
    kp = np.zeros((17, 3))
    kp[5] = (10, 10, 2)
    kp[6] = (20, 12, 1)
    kp[0] = (15, 5, 2)
    anns = [{"id": i, "image_id": i, "category_id": 1, "keypoints": kp.ravel().tolist(), "num_keypoints": 3,
             "bbox": [5, 5, 20, 20], "area": 300.0, "iscrowd": 0, "segmentation": [[5, 5, 25, 5, 25, 25, 5, 25]]}
            for i in (1, 2, 3)]
    anns.append({"id": 9, "image_id": 1, "category_id": 1, "keypoints": [0] * 51, "num_keypoints": 0,
                 "bbox": [30, 20, 10, 10], "area": 100.0, "iscrowd": 0, "segmentation": [[30, 20, 40, 20, 40, 30, 30, 30]]})
    data = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 50, "height": 40} for i in (1, 2, 3)],
            "annotations": anns, "categories": [{"id": 1, "name": "person", "keypoints": ["k"] * 17, "skeleton": []}]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    return tmp_path / "ann.json"


def test_coco_import_neck_mask_and_sampling(tmp_path):
    ann = _coco_files(tmp_path)
    res = runner.invoke(app, ["coco", "--annotations", str(ann), "--images", str(tmp_path), "--out", str(tmp_path / "o"),
                              "--sample", "3", "--val-fraction", "0.34"])
    assert res.exit_code == 0, res.output
    train, val = load_dataset(tmp_path / "o" / "train"), load_dataset(tmp_path / "o" / "val")
    assert len(train["images"]) == 2 and len(val["images"]) == 1
    kp = np.asarray(train["annotations"][0]["keypoints"]).reshape(18, 3)
    assert tuple(kp[1]) == (15, 11, 1)  # neck = shoulder midpoint, lower visibility
    with_mask = [im for im in train["images"] + val["images"] if "ignore_mask" in im]
    assert len(with_mask) == 1 and with_mask[0]["source"]["coco_id"] == 1


def test_coco_neck_needs_both_shoulders():
    kp = np.zeros((17, 3))
    kp[5] = (1, 1, 2)
    assert openpose_from_coco17(kp)[1, 2] == 0


def test_coco_bad_json(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"images": [], "annotations": [], "categories": [{"id": 1}]}))
    res = runner.invoke(app, ["coco", "--annotations", str(tmp_path / "a.json"), "--images", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "a.json: no category with 17 COCO keypoints" in res.output


def test_synth_training_format(tmp_path):
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "s"), "--people", "2:3", "--frames", "4", "--seed", "1"])
    assert res.exit_code == 0, res.output
    ds = load_dataset(tmp_path / "s")
    assert len(ds["images"]) == 4 and ds["images"][0]["view"] == "top"
    assert runner.invoke(app, ["synth", "--out", str(tmp_path / "t"), "--view", "front"]).exit_code == 1


def test_textbook_coco_json_with_masks(tmp_path):
    (tmp_path / "val2014").mkdir()
    (tmp_path / "mask" / "val2014").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "val2014" / "COCO_val2014_000000000488.jpg"), np.zeros((40, 50, 3), np.uint8))
    mask = np.full((40, 50), 255, np.uint8)
    mask[:10, :10] = 0  # an unannotated person: ignore
    cv2.imwrite(str(tmp_path / "mask" / "val2014" / "mask_COCO_val2014_000000000488.jpg"), mask)
    joints = [[0, 0, 2]] * 17
    joints[5], joints[6] = [10, 10, 1], [20, 12, 0]  # textbook codes: 1 visible, 0 occluded, 2 unlabelled
    entry = {"dataset": "COCO", "isValidation": 1, "img_paths": "val2014/COCO_val2014_000000000488.jpg",
             "img_width": 50, "img_height": 40, "joint_self": joints, "segment_area": 120.0,
             "joint_others": [[[30, 30, 1]] * 17], "numOtherPeople": 1}
    (tmp_path / "COCO.json").write_text(json.dumps({"root": [entry]}))
    res = runner.invoke(app, ["coco", "--annotations", str(tmp_path / "COCO.json"), "--images", str(tmp_path),
                              "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    ds = load_dataset(tmp_path / "o" / "val")
    assert ds["images"][0]["height"] == 40 and ds["images"][0]["width"] == 50
    kp = np.asarray(ds["annotations"][0]["keypoints"]).reshape(18, 3)
    assert kp[5, 2] == 2 and kp[2, 2] == 1 and kp[0, 2] == 0  # L-sho visible, R-sho occluded, nose unlabelled
    assert len(ds["annotations"]) == 2  # joint_others become people too
    ignore = cv2.imread(str(tmp_path / "o" / "val" / ds["images"][0]["ignore_mask"]), cv2.IMREAD_GRAYSCALE)
    assert ignore[2, 2] == 255 and ignore[30, 30] == 0


def test_synth_sensor_clutter_and_mounting_options(tmp_path):
    args = ["synth", "--out", str(tmp_path / "s"), "--people", "1:3", "--frames", "3", "--sensor", "d435",
            "--clutter", "2", "--camera-height", "2.4:3.5", "--tilt", "0:20", "--fov", "58:90"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    ds = load_dataset(tmp_path / "s")
    assert ds["info"]["scene"]["sensor"] == "d435" and ds["info"]["camera"] == "per image"
    fxs = {round(im["camera"]["fx"], 2) for im in ds["images"]}
    assert len(fxs) == 3 and all(160 / np.tan(np.radians(45)) <= fx <= 160 / np.tan(np.radians(29)) for fx in fxs)
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "i"), "--frames", "2", "--sensor", "xtion", "--clutter", "1"])
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "i" / "ITOP_top_train_depth_map.h5") as h:
        assert (h["data"][:] == 0).any()


@pytest.mark.parametrize("option, value, message", [("--sensor", "kinect9", "unknown sensor 'kinect9'"),
                                                     ("--tilt", "30:10", "tilt range"),
                                                     ("--camera-height", "high", "--camera-height must look like A:B"),
                                                     ("--clutter", "-1", "clutter must be at least 0")])
def test_synth_bad_scene_options(tmp_path, option, value, message):
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "s"), "--people", "1:2", option, value])
    assert res.exit_code == 1 and message in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_sheet_shows_every_sensor_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "sheet.png"
    assert runner.invoke(app, ["sheet", "--out", str(out), "--frames", "2"]).exit_code == 0
    image = cv2.imread(str(out))
    assert image.shape == (4 * (22 + 240), 2 * 320, 3)
    rows = [image[r * 262 + 22:(r + 1) * 262] for r in range(4)]
    assert not np.array_equal(rows[0], rows[3])  # d435 differs from the clean render
    res = runner.invoke(app, ["sheet", "--out", str(out)])
    assert res.exit_code == 1 and "--force" in res.output


def test_the_data_package_does_not_import_the_renderer(fresh_python):
    fresh_python("import toppose.data.itop, toppose.data.coco, toppose.data.format", absent=("toppose.synth",))
